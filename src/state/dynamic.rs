//! Rspamd's dynamic rate limits: after the scan, each bucket the message went through
//! has its leak rate and its burst scaled by the verdict, ham widening them
//! (`ham_factor_rate` 1.01, `ham_factor_burst` 1.02) and spam narrowing them
//! (`spam_factor_rate` 0.99, `spam_factor_burst` 0.98), within `max_rate_mult` (5) and
//! `max_bucket_mult` (10) either way. The multipliers live in the bucket's hash as
//! Rspamd keeps them (`dr`, `db`, times 10000), and the check script applies them.
use std::sync::OnceLock;
use std::time::Duration;

use super::error::StateConfigError;
use super::section::Section;
use super::store::Records;
use crate::redis::client::Script;
use crate::verdict::{Action, Verdict};

/// The multipliers as stored (1.0).
pub const UNIT: f64 = 10_000.0;

/// KEYS: the buckets. ARGV: rate factor, burst factor, max rate mult, max burst mult.
/// A multiplier moves only while it is within its bound, as Rspamd's update script.
const SCRIPT: &str = r"
local function adjust(key, field, mult, limit)
  if limit <= 1 then return end
  local cur = (tonumber(redis.call('HGET', key, field) or '10000') or 10000) / 10000
  if (mult > 1 and cur < limit) or (mult < 1 and cur > 1 / limit) then
    local v = math.floor(cur * mult * 10000)
    if v < 1 then v = 1 end
    redis.call('HSET', key, field, tostring(v))
  end
end
local rm, bm = tonumber(ARGV[1]), tonumber(ARGV[2])
local maxr, maxb = tonumber(ARGV[3]), tonumber(ARGV[4])
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    adjust(key, 'dr', rm, maxr)
    adjust(key, 'db', bm, maxb)
  end
end
return 0
";

pub fn script() -> &'static Script {
    static S: OnceLock<Script> = OnceLock::new();
    S.get_or_init(|| Script::new(SCRIPT))
}

/// The section's factors and bounds, Rspamd 3.4's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Dynamic {
    pub ham_factor_rate: f64,
    pub spam_factor_rate: f64,
    pub ham_factor_burst: f64,
    pub spam_factor_burst: f64,
    pub max_rate_mult: f64,
    pub max_bucket_mult: f64,
}

impl Default for Dynamic {
    fn default() -> Dynamic {
        Dynamic {
            ham_factor_rate: 1.01,
            spam_factor_rate: 0.99,
            ham_factor_burst: 1.02,
            spam_factor_burst: 0.98,
            max_rate_mult: 5.0,
            max_bucket_mult: 10.0,
        }
    }
}

impl Dynamic {
    pub fn from_section(s: &Section<'_>) -> Result<Dynamic, StateConfigError> {
        let d = Dynamic::default();
        Ok(Dynamic {
            ham_factor_rate: s.number("ham_factor_rate", d.ham_factor_rate)?,
            spam_factor_rate: s.number("spam_factor_rate", d.spam_factor_rate)?,
            ham_factor_burst: s.number("ham_factor_burst", d.ham_factor_burst)?,
            spam_factor_burst: s.number("spam_factor_burst", d.spam_factor_burst)?,
            max_rate_mult: s.number("max_rate_mult", d.max_rate_mult)?,
            max_bucket_mult: s.number("max_bucket_mult", d.max_bucket_mult)?,
        })
    }

    /// Whether any multiplier can move (Rspamd: a bound above 1).
    pub fn enabled(&self) -> bool {
        self.max_rate_mult > 1.0 || self.max_bucket_mult > 1.0
    }

    /// The (rate, burst) factors for a verdict; `None`: the buckets stay as they are.
    pub fn factors(&self, v: &Verdict) -> Option<(f64, f64)> {
        match class(v)? {
            Class::Spam => Some((self.spam_factor_rate, self.spam_factor_burst)),
            Class::Ham => Some((self.ham_factor_rate, self.ham_factor_burst)),
        }
    }

    /// The script's arguments for `factors`.
    pub fn args(&self, (rate, burst): (f64, f64)) -> Vec<String> {
        [rate, burst, self.max_rate_mult, self.max_bucket_mult]
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// The script's work on the embedded store.
    pub fn adjust(&self, r: &mut dyn Records, keys: &[String], f: (f64, f64), ttl: Duration) {
        for key in keys {
            let Some(mut b) = r.read(key).as_deref().and_then(Stored::parse) else {
                continue;
            };
            b.dr = step(b.dr, f.0, self.max_rate_mult);
            b.db = step(b.db, f.1, self.max_bucket_mult);
            r.write(key, &b.to_string(), ttl);
        }
    }
}

fn step(cur: f64, mult: f64, limit: f64) -> f64 {
    if limit <= 1.0 {
        return cur;
    }
    let c = cur / UNIT;
    if (mult > 1.0 && c < limit) || (mult < 1.0 && c > 1.0 / limit) {
        (c * mult * UNIT).floor().max(1.0)
    } else {
        cur
    }
}

/// The verdicts that move the buckets (Rspamd's default verdict function).
enum Class {
    Spam,
    Ham,
}

fn class(v: &Verdict) -> Option<Class> {
    if v.passthrough_module.is_some() {
        return None;
    }
    let positive = v.symbols.iter().filter(|s| s.score > 0.0).count();
    let negative = v.symbols.iter().filter(|s| s.score < 0.0).count();
    match v.action {
        Action::Reject if positive > 1 => Some(Class::Spam),
        Action::AddHeader | Action::RewriteSubject if positive > 2 => Some(Class::Spam),
        Action::NoAction if v.score < 0.0 || negative > 3 => Some(Class::Ham),
        _ => None,
    }
}

/// An embedded bucket record: `last:level[:dr:db]` (the multipliers times 10000).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub last: u64,
    pub level: f64,
    pub dr: f64,
    pub db: f64,
}

impl Stored {
    pub fn parse(v: &str) -> Option<Stored> {
        let mut it = v.split(':');
        let last = it.next()?.parse().ok()?;
        let level = it.next()?.parse().ok()?;
        let dr = it.next().and_then(|x| x.parse().ok()).unwrap_or(UNIT);
        let db = it.next().and_then(|x| x.parse().ok()).unwrap_or(UNIT);
        Some(Stored {
            last,
            level,
            dr,
            db,
        })
    }

    /// A multiplier as applied (never zero, as Rspamd's check).
    pub fn mult(stored: f64) -> f64 {
        (stored / UNIT).max(0.0001)
    }
}

impl std::fmt::Display for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}:{}", self.last, self.level, self.dr, self.db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Symbol;

    fn verdict(action: Action, score: f64, scores: &[f64]) -> Verdict {
        let mut v = Verdict::empty(15.0);
        v.action = action;
        v.score = score;
        for (i, s) in scores.iter().enumerate() {
            v.symbols.push(Symbol {
                name: format!("S{i}"),
                score: *s,
                metric_score: *s,
                description: None,
                options: Vec::new(),
            });
        }
        v
    }

    #[test]
    fn verdicts_as_rspamd_classes_them() {
        let d = Dynamic::default();
        assert_eq!(
            d.factors(&verdict(Action::Reject, 20.0, &[10.0, 10.0])),
            Some((0.99, 0.98))
        );
        assert_eq!(d.factors(&verdict(Action::Reject, 20.0, &[20.0])), None);
        assert_eq!(
            d.factors(&verdict(Action::AddHeader, 7.0, &[3.0, 2.0, 2.0])),
            Some((0.99, 0.98))
        );
        assert_eq!(
            d.factors(&verdict(Action::NoAction, -1.0, &[-1.0])),
            Some((1.01, 1.02))
        );
        assert_eq!(d.factors(&verdict(Action::NoAction, 1.0, &[1.0])), None);
        let mut passed = verdict(Action::NoAction, -1.0, &[-1.0]);
        passed.passthrough_module = Some("greylist".into());
        assert_eq!(d.factors(&passed), None);
    }

    #[test]
    fn multipliers_move_within_their_bounds() {
        // Spam narrows down to 1/limit and no further; ham widens up to the limit.
        let mut dr = UNIT;
        for _ in 0..1000 {
            dr = step(dr, 0.99, 5.0);
        }
        assert!((dr / UNIT - 0.2).abs() < 0.01, "{dr}");
        let mut db = UNIT;
        for _ in 0..1000 {
            db = step(db, 1.02, 10.0);
        }
        assert!(db / UNIT >= 10.0 && db / UNIT < 10.3, "{db}");
        assert_eq!(step(UNIT, 1.5, 1.0), UNIT, "a bound of 1 keeps it");
        let s = Stored::parse("5:2.5").unwrap();
        assert_eq!((s.dr, s.db), (UNIT, UNIT));
        assert_eq!(Stored::parse(&s.to_string()), Some(s));
    }
}
