//! Map files with hot reload, and the matchers they compile to.
//!
//! A map is re-read when its file's mtime changes; the mtime is looked at
//! on use, at most once per `map_watch_interval`, so there is no watcher
//! thread and no restart. A file that cannot be read keeps the last good
//! contents (an absent file at start is an empty map that fills when the
//! file appears).
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use regex::{Regex, RegexSet, RegexSetBuilder};

/// How the lines of a map are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// Exact keys, case-insensitive.
    Plain,
    /// IPs and networks (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.1`).
    Cidr,
    /// One regex per line, `/re/flags` or bare.
    Regexp,
    /// Shell globs (`*.example.com`, `user?@*`).
    Glob,
}

/// The compiled contents of one or more map sources.
#[derive(Debug)]
pub struct Matcher {
    kind: MapKind,
    plain: std::collections::HashMap<String, Option<String>>,
    nets: NetTable,
    set: Option<RegexSet>,
    values: Vec<Option<String>>,
    /// Every glob of the map compiled into one matcher.
    globs: Option<GlobSet>,
}

/// The networks of an IP map in two prefix tries (IPv4, IPv6): a lookup
/// walks at most the address's bits and answers with the most specific
/// network that holds it, as Rspamd's radix maps do, whatever the order
/// of the lines.
#[derive(Default)]
struct NetTable {
    v4: PrefixMap<Ipv4Net, Option<String>>,
    v6: PrefixMap<Ipv6Net, Option<String>>,
}

impl std::fmt::Debug for NetTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetTable")
            .field("v4", &self.v4.len())
            .field("v6", &self.v6.len())
            .finish()
    }
}

impl NetTable {
    /// Adds a network; a network listed twice keeps its first value.
    fn insert(&mut self, net: IpNet, value: Option<String>) {
        match canonical_net(net) {
            IpNet::V4(n) if !self.v4.contains_key(&n) => {
                self.v4.insert(n, value);
            }
            IpNet::V6(n) if !self.v6.contains_key(&n) => {
                self.v6.insert(n, value);
            }
            _ => {}
        }
    }

    /// The value of the longest prefix holding `ip`.
    fn longest_match(&self, ip: IpAddr) -> Option<&Option<String>> {
        match canonical_ip(ip) {
            IpAddr::V4(a) => self.v4.get_lpm(&Ipv4Net::from(a)).map(|(_, v)| v),
            IpAddr::V6(a) => self.v6.get_lpm(&Ipv6Net::from(a)).map(|(_, v)| v),
        }
    }

    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

impl Matcher {
    /// Builds from `key [value]` lines; `#` starts a comment. Lines that do
    /// not parse for the kind are skipped and counted in the error list.
    pub fn build(kind: MapKind, lines: &[String]) -> (Matcher, Vec<String>) {
        let mut m = Matcher {
            kind,
            plain: Default::default(),
            nets: NetTable::default(),
            set: None,
            values: Vec::new(),
            globs: None,
        };
        let mut bad = Vec::new();
        let mut patterns = Vec::new();
        let mut globs = GlobSetBuilder::new();
        for line in lines {
            let Some((key, value)) = split_line(line) else {
                continue;
            };
            match kind {
                MapKind::Plain => {
                    m.plain.insert(key.to_lowercase(), value);
                }
                MapKind::Cidr => match parse_net(key) {
                    Some(net) => m.nets.insert(net, value),
                    None => bad.push(format!("not an IP or network: `{key}`")),
                },
                MapKind::Regexp => {
                    let pat = regex_line(key);
                    match Regex::new(&pat) {
                        Ok(_) => {
                            patterns.push(pat);
                            m.values.push(value);
                        }
                        Err(e) => bad.push(format!("bad regex `{key}`: {e}")),
                    }
                }
                MapKind::Glob => match glob(key) {
                    Ok(g) => {
                        globs.add(g);
                        m.values.push(value);
                    }
                    Err(e) => bad.push(format!("bad glob `{key}`: {e}")),
                },
            }
        }
        if !patterns.is_empty() {
            match RegexSetBuilder::new(&patterns).size_limit(32 << 20).build() {
                Ok(s) => m.set = Some(s),
                Err(e) => bad.push(format!("regex set: {e}")),
            }
        }
        if kind == MapKind::Glob && !m.values.is_empty() {
            match globs.build() {
                Ok(set) => m.globs = Some(set),
                Err(e) => bad.push(format!("glob set: {e}")),
            }
        }
        (m, bad)
    }

    /// The entry matching `key`: `Some(value)` (the value may be empty).
    /// For an IP map, the most specific network holding the address.
    pub fn lookup(&self, key: &str) -> Option<Option<String>> {
        match self.kind {
            MapKind::Plain => self.plain.get(&key.to_lowercase()).cloned(),
            MapKind::Cidr => {
                let ip: IpAddr = key.trim_matches(['[', ']']).parse().ok()?;
                self.nets.longest_match(ip).cloned()
            }
            MapKind::Regexp => {
                let set = self.set.as_ref()?;
                let i = set.matches(key).iter().next()?;
                Some(self.values[i].clone())
            }
            MapKind::Glob => {
                let set = self.globs.as_ref()?;
                // Indices come sorted: the first is the earliest line.
                let i = *set.matches(key).first()?;
                Some(self.values[i].clone())
            }
        }
    }

    pub fn len(&self) -> usize {
        self.plain.len() + self.nets.len() + self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn split_line(line: &str) -> Option<(&str, Option<String>)> {
    let line = match line
        .find(" #")
        .or_else(|| line.starts_with('#').then_some(0))
    {
        Some(i) => &line[..i],
        None => line,
    };
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    // A regexp key may contain spaces: it runs to its closing slash.
    if let Some(rest) = line.strip_prefix('/') {
        if let Some(end) = rest.rfind('/') {
            let after = &rest[end + 1..];
            let flags_len = after.find(char::is_whitespace).unwrap_or(after.len());
            let key = &line[..end + 2 + flags_len];
            let value = after[flags_len..].trim();
            return Some((key, (!value.is_empty()).then(|| value.to_string())));
        }
    }
    match line.split_once(char::is_whitespace) {
        Some((k, v)) => Some((k, Some(v.trim().to_string()).filter(|v| !v.is_empty()))),
        None => Some((line, None)),
    }
}

/// `/re/flags` -> inline-flagged pattern; a bare line is the pattern itself.
fn regex_line(key: &str) -> String {
    if let Some(rest) = key.strip_prefix('/') {
        if let Some((re, flags)) = rest.rsplit_once('/') {
            let f: String = flags.chars().filter(|c| "imsx".contains(*c)).collect();
            return if f.is_empty() {
                re.to_string()
            } else {
                format!("(?{f}){re}")
            };
        }
    }
    key.to_string()
}

/// A map glob as Rspamd reads it: `*` is any run of characters (`/`
/// included), `?` one character, case-insensitive; every other character,
/// brackets and braces too, stands for itself.
fn glob(key: &str) -> Result<Glob, globset::Error> {
    let mut escaped = String::with_capacity(key.len());
    for c in key.chars() {
        if matches!(c, '[' | ']' | '{' | '}' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    GlobBuilder::new(&escaped)
        .case_insensitive(true)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
}

/// `::ffff:192.0.2.1` is the IPv4 address a dual-stack socket saw.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A network with its host bits cleared; an IPv4-mapped IPv6 network of
/// `/96` or longer is the IPv4 network it maps.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(n) if n.prefix_len() >= 96 => match n.addr().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, n.prefix_len() - 96)
                .map_or(net, IpNet::V4)
                .trunc(),
            None => net.trunc(),
        },
        _ => net.trunc(),
    }
}

/// `10.0.0.0/8`, `2001:db8::/32`, or a single address.
fn parse_net(s: &str) -> Option<IpNet> {
    match s.split_once('/') {
        Some(_) => s.parse().ok(),
        None => s.parse::<IpAddr>().ok().map(IpNet::from),
    }
}

/// Where a map's lines come from.
#[derive(Debug, Clone, PartialEq)]
pub enum MapSource {
    File(PathBuf),
    Inline(String),
}

impl MapSource {
    /// `/path`, `./path`, `file:///path` are files; anything else is an
    /// inline entry. Network maps are refused (sluice never fetches maps).
    pub fn parse(s: &str) -> Result<MapSource, String> {
        if let Some(p) = s.strip_prefix("file://") {
            return Ok(MapSource::File(PathBuf::from(p)));
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            return Err(format!("network maps are not supported: `{s}`"));
        }
        // `/re/flags` written inline is a regexp entry unless such a file exists.
        let inline_re = s.len() > 1
            && s.rsplit_once('/')
                .is_some_and(|(_, f)| f.chars().all(|c| "imsxu".contains(c)))
            && !std::path::Path::new(s).exists();
        if (s.starts_with('/') && !inline_re) || s.starts_with("./") || s.starts_with("../") {
            return Ok(MapSource::File(PathBuf::from(s)));
        }
        Ok(MapSource::Inline(s.to_string()))
    }
}

struct Loaded {
    mtimes: Vec<Option<SystemTime>>,
    checked: Instant,
    matcher: Arc<Matcher>,
}

/// A map (one rule's sources), reloaded when a file changes.
pub struct Map {
    kind: MapKind,
    sources: Vec<MapSource>,
    interval: Duration,
    state: Mutex<Loaded>,
}

impl Map {
    /// Where its lines come from.
    pub fn sources(&self) -> &[MapSource] {
        &self.sources
    }
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map")
            .field("kind", &self.kind)
            .field("sources", &self.sources)
            .finish()
    }
}

impl Map {
    /// Loads every source now. Returns the map and remarks about bad lines.
    pub fn load(kind: MapKind, sources: Vec<MapSource>, interval: Duration) -> (Map, Vec<String>) {
        let mtimes = mtimes(&sources);
        let (matcher, bad, _) = read(kind, &sources);
        let map = Map {
            kind,
            sources,
            interval,
            state: Mutex::new(Loaded {
                mtimes,
                checked: Instant::now(),
                matcher: Arc::new(matcher),
            }),
        };
        (map, bad)
    }

    /// The current contents, re-read first if a file changed.
    pub fn current(&self) -> Arc<Matcher> {
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if st.checked.elapsed() >= self.interval {
            st.checked = Instant::now();
            let now = mtimes(&self.sources);
            if now != st.mtimes {
                let (matcher, bad, unreadable) = read(self.kind, &self.sources);
                for b in &bad {
                    tracing::warn!(map = ?self.sources, "map reload: {b}");
                }
                if !unreadable {
                    tracing::info!(map = ?self.sources, entries = matcher.len(), "map reloaded");
                    st.matcher = Arc::new(matcher);
                    st.mtimes = now;
                }
            }
        }
        Arc::clone(&st.matcher)
    }
}

fn mtimes(sources: &[MapSource]) -> Vec<Option<SystemTime>> {
    sources
        .iter()
        .map(|s| match s {
            MapSource::File(p) => std::fs::metadata(p).and_then(|m| m.modified()).ok(),
            MapSource::Inline(_) => None,
        })
        .collect()
}

/// The matcher, remarks, and whether a file could not be read.
fn read(kind: MapKind, sources: &[MapSource]) -> (Matcher, Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    let mut unreadable = false;
    for s in sources {
        match s {
            MapSource::Inline(l) => lines.push(l.clone()),
            MapSource::File(p) => match std::fs::read_to_string(p) {
                Ok(text) => lines.extend(text.lines().map(str::to_string)),
                Err(e) => {
                    unreadable = true;
                    bad.push(format!("cannot read {}: {e}", p.display()));
                }
            },
        }
    }
    let (m, mut more) = Matcher::build(kind, &lines);
    bad.append(&mut more);
    (m, bad, unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_cidr_regexp_glob() {
        let (m, bad) = Matcher::build(MapKind::Plain, &lines(&["# c", "Example.COM opt", "b.org"]));
        assert!(bad.is_empty());
        assert_eq!(m.lookup("example.com"), Some(Some("opt".into())));
        assert_eq!(m.lookup("B.ORG"), Some(None));
        assert_eq!(m.lookup("c.org"), None);
        let (m, bad) = Matcher::build(
            MapKind::Cidr,
            &lines(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "nonsense"]),
        );
        assert_eq!(bad.len(), 1);
        assert!(m.lookup("10.200.1.1").is_some());
        assert!(m.lookup("11.0.0.1").is_none());
        assert!(m.lookup("192.0.2.7").is_some());
        assert!(m.lookup("192.0.2.8").is_none());
        assert!(m.lookup("2001:db8:1::5").is_some());
        assert!(m.lookup("::ffff:10.1.2.3").is_some());
        assert!(m.lookup("[2001:db8::9]").is_some());
        let (m, _) = Matcher::build(
            MapKind::Regexp,
            &lines(&["/^win .*prize$/i PRIZE", "casino"]),
        );
        assert_eq!(m.lookup("WIN a Prize"), Some(Some("PRIZE".into())));
        assert!(m.lookup("online casino").is_some());
        assert!(m.lookup("lunch").is_none());
        let (m, _) = Matcher::build(MapKind::Glob, &lines(&["*.example.com", "a?c"]));
        assert!(m.lookup("mail.Example.com").is_some());
        assert!(m.lookup("example.com").is_none());
        assert!(m.lookup("abc").is_some());
    }

    #[test]
    fn ip_maps_answer_with_the_longest_prefix() {
        // Listed from the least to the most specific and back: the order of
        // the lines does not matter, the most specific network answers.
        let (m, bad) = Matcher::build(
            MapKind::Cidr,
            &lines(&[
                "10.0.0.0/8 wide",
                "10.1.0.0/16 narrow",
                "10.1.2.3 host",
                "2001:db8::/32 v6wide",
                "2001:db8:1::/48 v6narrow",
                "192.168.0.0/24 first",
                "192.168.0.0/24 second",
                "::ffff:172.16.0.0/108 mapped",
            ]),
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(m.len(), 7);
        let val = |k: &str| m.lookup(k).flatten();
        assert_eq!(val("10.9.9.9").as_deref(), Some("wide"));
        assert_eq!(val("10.1.9.9").as_deref(), Some("narrow"));
        assert_eq!(val("10.1.2.3").as_deref(), Some("host"));
        assert_eq!(val("10.1.2.4").as_deref(), Some("narrow"));
        assert_eq!(val("::ffff:10.1.2.3").as_deref(), Some("host"));
        assert_eq!(val("2001:db8:2::1").as_deref(), Some("v6wide"));
        assert_eq!(val("2001:db8:1:ffff::1").as_deref(), Some("v6narrow"));
        // A network listed twice keeps its first line.
        assert_eq!(val("192.168.0.77").as_deref(), Some("first"));
        // An IPv4-mapped network holds the IPv4 addresses it maps.
        assert_eq!(val("172.16.5.5").as_deref(), Some("mapped"));
        assert_eq!(m.lookup("11.0.0.1"), None);
        assert_eq!(m.lookup("2001:db9::1"), None);
        let (reversed, _) = Matcher::build(
            MapKind::Cidr,
            &lines(&["10.1.2.3 host", "10.1.0.0/16 narrow", "10.0.0.0/8 wide"]),
        );
        assert_eq!(
            reversed.lookup("10.1.2.3").flatten().as_deref(),
            Some("host")
        );
        assert_eq!(
            reversed.lookup("10.1.3.3").flatten().as_deref(),
            Some("narrow")
        );
        let (m, bad) = Matcher::build(
            MapKind::Cidr,
            &lines(&["10.0.0.0/33", "::/129", "0.0.0.0/0 all"]),
        );
        assert_eq!(bad.len(), 2);
        assert_eq!(m.lookup("203.0.113.9").flatten().as_deref(), Some("all"));
        assert_eq!(m.lookup("2001:db8::1"), None);
    }

    #[test]
    fn glob_maps_are_one_set_matched_in_line_order() {
        let (m, bad) = Matcher::build(
            MapKind::Glob,
            &lines(&[
                "*.example.com any",
                "mail.*.com mail",
                "user?@*.org user",
                "[x]{y}*.net literal",
                "a/*/c path",
            ]),
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(m.len(), 5);
        let val = |k: &str| m.lookup(k).flatten();
        // Both of the first two match: the earlier line answers.
        assert_eq!(val("mail.example.com").as_deref(), Some("any"));
        assert_eq!(val("MAIL.other.COM").as_deref(), Some("mail"));
        assert_eq!(val("user1@x.org").as_deref(), Some("user"));
        assert_eq!(m.lookup("user12@x.org"), None);
        // Brackets and braces are no classes or alternatives, as in Rspamd.
        assert_eq!(val("[x]{y}shop.net").as_deref(), Some("literal"));
        assert_eq!(m.lookup("xyshop.net"), None);
        // `*` crosses `/`.
        assert_eq!(val("a/b/x/c").as_deref(), Some("path"));
        assert_eq!(m.lookup("example.com"), None);
        let (empty, _) = Matcher::build(MapKind::Glob, &lines(&["# nothing"]));
        assert!(empty.is_empty() && empty.lookup("x").is_none());
    }

    #[test]
    fn sources_refuse_network() {
        assert!(MapSource::parse("https://x/y").is_err());
        assert_eq!(
            MapSource::parse("file:///etc/x").unwrap(),
            MapSource::File("/etc/x".into())
        );
        assert_eq!(
            MapSource::parse("/^re$/i").unwrap(),
            MapSource::Inline("/^re$/i".into())
        );
        assert_eq!(
            MapSource::parse("/etc/hosts").unwrap(),
            MapSource::File("/etc/hosts".into())
        );
        assert_eq!(
            MapSource::parse("spam.example").unwrap(),
            MapSource::Inline("spam.example".into())
        );
    }
}
