//! The sections the scan pipeline is built from, read once into
//! [`ScanConfig`]: actions and thresholds, symbol and group weights, the
//! rule tables (`regexp`, `composites`, `force_actions`, `multimap`), the
//! content modules' switches, and the engine options. Only what the
//! pipeline uses is typed; Rspamd's other keys are reported by
//! [`super::unknown_keys`]. What the rule compilers read as written (a
//! module's own options, the Lua sources, the `settings` rules) is kept
//! as parsed values. Nothing here imports the scan.
pub mod composites;
pub mod error;
pub mod force_actions;
pub mod modules;
pub mod multimap;
pub mod rbl;
pub mod whitelist;

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::verdict::Action;
use composites::CompositeConfig;
pub use error::RulesConfigError;
use force_actions::ForceRuleConfig;
pub use modules::ModuleSections;
use multimap::MultimapRuleConfig;

/// One configured action.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionDef {
    /// As written in the config (`add header`, `my_action`).
    pub name: String,
    pub effect: Action,
    /// `None`: no threshold (unset, `null`, or the `no_threshold` flag).
    pub threshold: Option<f64>,
}

/// Parses a `milter = "…"` effect; `tempfail` is accepted for soft reject.
pub fn parse_effect(name: &str) -> Option<Action> {
    match name.trim().to_ascii_lowercase().as_str() {
        "tempfail" => Some(Action::SoftReject),
        _ => Action::parse(name),
    }
}

/// Rspamd's built-in thresholds when `actions` does not set them.
pub const DEFAULT_THRESHOLDS: [(Action, f64); 3] = [
    (Action::Reject, 15.0),
    (Action::AddHeader, 6.0),
    (Action::Greylist, 4.0),
];

/// The `actions` section, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionsConfig {
    /// Built-in actions (always present) then custom ones, config order.
    pub defs: Vec<ActionDef>,
    /// Template for rewrite subject (`%s` old subject, `%d` score).
    pub subject: Option<String>,
    /// Weight of symbols that no config gives a weight.
    pub unknown_weight: f64,
    /// Each further positive symbol weighs this much more (Rspamd's
    /// `grow_factor`; 1 or unset = off).
    pub grow_factor: Option<f64>,
}

impl ActionsConfig {
    /// Thresholds of the actions that have one (order unspecified).
    pub fn thresholds(&self) -> Vec<(Action, f64)> {
        self.defs
            .iter()
            .filter_map(|d| Some((d.effect.clone(), d.threshold?)))
            .collect()
    }
}

impl Default for ActionsConfig {
    fn default() -> Self {
        let defs = Action::ALL
            .into_iter()
            .map(|a| ActionDef {
                name: a.as_str().to_string(),
                threshold: DEFAULT_THRESHOLDS
                    .iter()
                    .find(|(d, _)| *d == a)
                    .map(|t| t.1),
                effect: a,
            })
            .collect();
        ActionsConfig {
            defs,
            subject: None,
            unknown_weight: 0.0,
            grow_factor: None,
        }
    }
}

/// Which GTUBE patterns are honoured (Rspamd's `options.gtube_patterns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GtubePolicy {
    /// Only the standard pattern, which rejects.
    #[default]
    Reject,
    /// Also the add header / rewrite subject / no action variants.
    All,
    Disabled,
}

/// One regexp rule, as written inside `regexp { SYM { ... } }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RegexpRuleConfig {
    pub re: String,
    #[serde(default, alias = "weight")]
    pub score: Option<f64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default = "crate::config::value::yes")]
    pub enabled: bool,
    #[serde(default)]
    pub one_shot: bool,
    #[serde(default)]
    pub nshots: Option<u32>,
}

/// A `symbols { SYM { ... } }` entry, also the shape inside a group.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct SymbolConfig {
    #[serde(default, alias = "score")]
    pub weight: Option<f64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub one_shot: Option<bool>,
    #[serde(default)]
    pub one_param: Option<bool>,
    #[serde(default)]
    pub nshots: Option<u32>,
    /// Rspamd's symbol flags; `one_shot` and `one_param` are honoured.
    #[serde(default)]
    pub flags: Vec<String>,
}

/// A `group { NAME { ... } }` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct GroupConfig {
    #[serde(default)]
    pub max_score: Option<f64>,
    #[serde(default)]
    pub min_score: Option<f64>,
    #[serde(default)]
    pub one_shot: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub symbols: BTreeMap<String, SymbolConfig>,
}

/// Everything the pipeline reads from the tree.
#[derive(Debug, Clone, Default)]
pub struct ScanConfig {
    pub actions: ActionsConfig,
    pub gtube: GtubePolicy,
    pub regexp: BTreeMap<String, RegexpRuleConfig>,
    pub symbols: BTreeMap<String, SymbolConfig>,
    pub groups: BTreeMap<String, GroupConfig>,
    pub composites: Vec<(String, CompositeConfig)>,
    pub force_actions: Vec<(String, ForceRuleConfig)>,
    pub multimap: Vec<(String, MultimapRuleConfig)>,
    pub engine: EngineOptions,
    /// The content modules: on/off, and each one's own options.
    pub modules: ModuleSections,
    /// The sections naming Lua scripts and their limits (`lua`,
    /// `lua_local`, `lua_rules`, `lua_limits`), as written.
    pub lua: Value,
    /// The `settings` section (profiles by ID), as written.
    pub settings: Option<Value>,
    /// The `milter_headers` section (its `authentication-results` routine), as written.
    pub milter_headers: Option<Value>,
    /// The `whitelist` section (rules on the auth checks' results).
    pub whitelist: Option<whitelist::WhitelistConfig>,
    /// The `rbl` section (DNS lists), as written: the pipeline registers its symbols.
    pub rbl: Option<Value>,
    /// The `replies` section, as written: the pipeline registers its symbol and weight.
    pub replies: Option<Value>,
    /// The `neural` section, as written: the pipeline registers its rules' symbols.
    pub neural: Option<Value>,
    /// The `fuzzy_check` section, as written: the pipeline registers its rules' symbols.
    pub fuzzy_check: Option<Value>,
}

/// The top-level sections [`ScanConfig::lua`] holds.
const LUA_SECTIONS: [&str; 4] = ["lua", "lua_local", "lua_rules", "lua_limits"];

/// Scheduling switches from `options`.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOptions {
    /// Rspamd's `pass_all`: evaluate every rule, never stop early.
    pub pass_all: bool,
    /// How often a map file's mtime is checked (`map_watch_interval`).
    pub map_watch_interval: std::time::Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            pass_all: false,
            map_watch_interval: std::time::Duration::from_secs(5),
        }
    }
}

impl ScanConfig {
    /// Reads the sections from the merged tree; missing sections default.
    pub fn from_tree(tree: &Value) -> Result<ScanConfig, RulesConfigError> {
        let lua = LUA_SECTIONS
            .iter()
            .filter_map(|&k| Some((k.to_string(), tree.get(k)?.clone())))
            .collect();
        Ok(ScanConfig {
            actions: parse_actions(section(tree, "actions")?)?,
            gtube: parse_gtube(section(tree, "options")?)?,
            regexp: parse_regexp(section(tree, "regexp")?)?,
            symbols: typed_map(section(tree, "symbols")?, "symbols")?,
            groups: typed_map(section(tree, "group")?, "group")?,
            composites: composites::parse_section(tree.get("composites"))?,
            force_actions: force_actions::parse_section(tree.get("force_actions"))?,
            multimap: multimap::parse_section(tree.get("multimap"))?,
            engine: parse_engine(section(tree, "options")?),
            modules: ModuleSections::from_tree(tree)?,
            lua: Value::Object(lua),
            settings: tree.get("settings").cloned(),
            milter_headers: tree.get("milter_headers").cloned(),
            whitelist: whitelist::parse_section(tree.get("whitelist"))?,
            rbl: tree.get("rbl").cloned(),
            replies: tree.get("replies").cloned(),
            neural: tree.get("neural").cloned(),
            fuzzy_check: tree.get("fuzzy_check").cloned(),
        })
    }
}

fn section<'t>(
    tree: &'t Value,
    name: &str,
) -> Result<Option<&'t serde_json::Map<String, Value>>, RulesConfigError> {
    match tree.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(RulesConfigError::NotAnObject {
            section: name.to_string(),
            found: type_name(other),
        }),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn typed_map<T: DeserializeOwned>(
    m: Option<&serde_json::Map<String, Value>>,
    name: &str,
) -> Result<BTreeMap<String, T>, RulesConfigError> {
    let mut out = BTreeMap::new();
    for (k, v) in m.into_iter().flatten() {
        let t = T::deserialize(v).map_err(|source| RulesConfigError::Shape {
            section: format!("{name}.{k}"),
            source,
        })?;
        out.insert(k.clone(), t);
    }
    Ok(out)
}

/// UCL numbers may arrive as strings (`"15"`) depending on the writer.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_actions(
    m: Option<&serde_json::Map<String, Value>>,
) -> Result<ActionsConfig, RulesConfigError> {
    let mut cfg = ActionsConfig::default();
    for (key, v) in m.into_iter().flatten() {
        match key.as_str() {
            "subject" => cfg.subject = v.as_str().map(str::to_string),
            "unknown_weight" => cfg.unknown_weight = need_number(key, v)?,
            "grow_factor" => cfg.grow_factor = Some(need_number(key, v)?),
            _ => set_threshold(&mut cfg, key, v)?,
        }
    }
    Ok(cfg)
}

fn need_number(key: &str, v: &Value) -> Result<f64, RulesConfigError> {
    number(v).ok_or_else(|| RulesConfigError::BadThreshold {
        name: key.to_string(),
        found: v.to_string(),
    })
}

/// A threshold is a number, `null` (explicitly none) or Rspamd's object form
/// `{ score = N; flags = ["no_threshold"]; milter = "discard"; }`, which is
/// also how custom actions are written.
fn set_threshold(cfg: &mut ActionsConfig, key: &str, v: &Value) -> Result<(), RulesConfigError> {
    let builtin = Action::parse(key);
    if builtin.is_none() && !v.is_object() {
        // Custom actions take the object form; a bare unknown name is a typo.
        return Err(RulesConfigError::UnknownAction {
            name: key.to_string(),
        });
    }
    let (threshold, effect) = match v {
        Value::Null => (None, None),
        Value::Object(o) => {
            let no_threshold = o.get("flags").is_some_and(|f| flag_set(f, "no_threshold"));
            let score = match o.get("score").or(o.get("threshold")) {
                Some(s) if !no_threshold => Some(need_number(key, s)?),
                _ => None,
            };
            let effect = match o.get("milter").and_then(Value::as_str) {
                Some(m) => {
                    Some(
                        parse_effect(m).ok_or_else(|| RulesConfigError::UnknownAction {
                            name: format!("{key}.milter = {m}"),
                        })?,
                    )
                }
                None => None,
            };
            (score, effect)
        }
        other => (Some(need_number(key, other)?), None),
    };
    let effect = match (effect, builtin) {
        (Some(e), _) | (None, Some(e)) => e,
        // A custom action without a milter effect only reports its name.
        (None, None) => Action::NoAction,
    };
    let name = match Action::parse(key) {
        Some(a) => a.as_str().to_string(),
        None => key.to_string(),
    };
    match cfg.defs.iter_mut().find(|d| d.name == name) {
        Some(d) => {
            d.threshold = threshold;
            d.effect = effect;
        }
        None => cfg.defs.push(ActionDef {
            name,
            effect,
            threshold,
        }),
    }
    Ok(())
}

fn flag_set(v: &Value, flag: &str) -> bool {
    match v {
        Value::String(s) => s == flag,
        Value::Array(a) => a.iter().any(|x| x.as_str() == Some(flag)),
        _ => false,
    }
}

fn parse_engine(m: Option<&serde_json::Map<String, Value>>) -> EngineOptions {
    let mut e = EngineOptions::default();
    let Some(m) = m else { return e };
    if let Some(b) = m.get("pass_all").and_then(Value::as_bool) {
        e.pass_all = b;
    }
    if let Some(secs) = m.get("map_watch_interval").and_then(number) {
        e.map_watch_interval = std::time::Duration::from_secs_f64(secs.max(0.0));
    }
    e
}

fn parse_gtube(
    m: Option<&serde_json::Map<String, Value>>,
) -> Result<GtubePolicy, RulesConfigError> {
    let Some(m) = m else {
        return Ok(GtubePolicy::default());
    };
    if let Some(v) = m.get("gtube_patterns") {
        let s = v.as_str().unwrap_or_default().to_ascii_lowercase();
        return match s.as_str() {
            "all" => Ok(GtubePolicy::All),
            "reject" => Ok(GtubePolicy::Reject),
            "disabled" | "disable" => Ok(GtubePolicy::Disabled),
            _ => Err(RulesConfigError::GtubePolicy(v.to_string())),
        };
    }
    // Rspamd's older spelling of the same switch.
    if m.get("enable_test_patterns").and_then(Value::as_bool) == Some(true) {
        return Ok(GtubePolicy::All);
    }
    Ok(GtubePolicy::default())
}

/// Rules may be objects or, in Rspamd's short form, just the expression.
fn parse_regexp(
    m: Option<&serde_json::Map<String, Value>>,
) -> Result<BTreeMap<String, RegexpRuleConfig>, RulesConfigError> {
    let mut out = BTreeMap::new();
    for (k, v) in m.into_iter().flatten() {
        let rule = match v {
            Value::String(re) => RegexpRuleConfig {
                re: re.clone(),
                score: None,
                description: None,
                group: None,
                enabled: true,
                one_shot: false,
                nshots: None,
            },
            other => {
                RegexpRuleConfig::deserialize(other).map_err(|source| RulesConfigError::Shape {
                    section: format!("regexp.{k}"),
                    source,
                })?
            }
        };
        out.insert(k.clone(), rule);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_tree_gives_rspamd_defaults() {
        let c = ScanConfig::from_tree(&json!({})).unwrap();
        assert_eq!(c.actions.thresholds(), {
            let mut d = DEFAULT_THRESHOLDS.to_vec();
            d.reverse();
            d
        });
        assert_eq!(c.gtube, GtubePolicy::Reject);
    }

    #[test]
    fn actions_accept_spaces_underscores_and_null() {
        let c = ScanConfig::from_tree(&json!({"actions": {
            "reject": 20, "add header": "7", "rewrite_subject": 9, "greylist": null,
            "subject": "[SPAM] %s", "unknown_weight": 0.5
        }}))
        .unwrap();
        let mut t = c.actions.thresholds();
        t.sort_by(|a, b| a.1.total_cmp(&b.1));
        assert_eq!(
            t,
            vec![
                (Action::AddHeader, 7.0),
                (Action::RewriteSubject, 9.0),
                (Action::Reject, 20.0)
            ]
        );
        assert_eq!(c.actions.subject.as_deref(), Some("[SPAM] %s"));
        assert_eq!(c.actions.unknown_weight, 0.5);
    }

    #[test]
    fn bad_sections_are_typed_errors() {
        let e = ScanConfig::from_tree(&json!({"actions": {"explode": 3}})).unwrap_err();
        assert!(matches!(e, RulesConfigError::UnknownAction { ref name } if name == "explode"));
        let e = ScanConfig::from_tree(&json!({"actions": {"reject": "lots"}})).unwrap_err();
        assert!(matches!(e, RulesConfigError::BadThreshold { .. }));
        let e = ScanConfig::from_tree(&json!({"options": {"gtube_patterns": "some"}})).unwrap_err();
        assert!(matches!(e, RulesConfigError::GtubePolicy(_)));
        let e = ScanConfig::from_tree(&json!({"regexp": []})).unwrap_err();
        assert!(matches!(e, RulesConfigError::NotAnObject { .. }));
        let e = ScanConfig::from_tree(&json!({"regexp": {"X": {"score": 1}}})).unwrap_err();
        assert!(e.to_string().contains("regexp.X"), "{e}");
    }

    #[test]
    fn a_custom_action_takes_its_milter_effect() {
        assert_eq!(parse_effect(" TempFail "), Some(Action::SoftReject));
        let c = ScanConfig::from_tree(&json!({"actions": {
            "my_action": {"score": 9, "milter": "tempfail"}
        }}))
        .unwrap();
        let d = c
            .actions
            .defs
            .iter()
            .find(|d| d.name == "my_action")
            .unwrap();
        assert_eq!(
            (d.effect.clone(), d.threshold),
            (Action::SoftReject, Some(9.0))
        );
    }

    #[test]
    fn gtube_policy_and_legacy_switch() {
        let all = json!({"options": {"gtube_patterns": "ALL"}});
        assert_eq!(ScanConfig::from_tree(&all).unwrap().gtube, GtubePolicy::All);
        let legacy = json!({"options": {"enable_test_patterns": true}});
        assert_eq!(
            ScanConfig::from_tree(&legacy).unwrap().gtube,
            GtubePolicy::All
        );
        let off = json!({"options": {"gtube_patterns": "disabled"}});
        assert_eq!(
            ScanConfig::from_tree(&off).unwrap().gtube,
            GtubePolicy::Disabled
        );
    }

    #[test]
    fn regexp_short_and_long_forms() {
        let c = ScanConfig::from_tree(&json!({"regexp": {
            "A": "Subject=/x/",
            "B": {"re": "/y/P", "score": 1.5, "group": "body", "one_shot": true}
        }}))
        .unwrap();
        assert_eq!(c.regexp["A"].re, "Subject=/x/");
        assert_eq!(c.regexp["B"].score, Some(1.5));
        assert_eq!(c.regexp["B"].group.as_deref(), Some("body"));
    }
}
