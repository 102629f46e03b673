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
    nets: Vec<(u128, u8, bool, Option<String>)>,
    set: Option<RegexSet>,
    values: Vec<Option<String>>,
    globs: Vec<(Regex, Option<String>)>,
}

impl Matcher {
    /// Builds from `key [value]` lines; `#` starts a comment. Lines that do
    /// not parse for the kind are skipped and counted in the error list.
    pub fn build(kind: MapKind, lines: &[String]) -> (Matcher, Vec<String>) {
        let mut m = Matcher {
            kind,
            plain: Default::default(),
            nets: Vec::new(),
            set: None,
            values: Vec::new(),
            globs: Vec::new(),
        };
        let mut bad = Vec::new();
        let mut patterns = Vec::new();
        for line in lines {
            let Some((key, value)) = split_line(line) else {
                continue;
            };
            match kind {
                MapKind::Plain => {
                    m.plain.insert(key.to_lowercase(), value);
                }
                MapKind::Cidr => match parse_net(key) {
                    Some((addr, len, v6)) => m.nets.push((addr, len, v6, value)),
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
                MapKind::Glob => match Regex::new(&glob_regex(key)) {
                    Ok(r) => m.globs.push((r, value)),
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
        (m, bad)
    }

    /// The first entry matching `key`: `Some(value)` (the value may be empty).
    pub fn lookup(&self, key: &str) -> Option<Option<String>> {
        match self.kind {
            MapKind::Plain => self.plain.get(&key.to_lowercase()).cloned(),
            MapKind::Cidr => {
                let ip: IpAddr = key.trim_matches(['[', ']']).parse().ok()?;
                let (addr, v6) = ip_bits(ip);
                self.nets
                    .iter()
                    .find(|(net, len, is6, _)| *is6 == v6 && masked(addr, *len, v6) == *net)
                    .map(|n| n.3.clone())
            }
            MapKind::Regexp => {
                let set = self.set.as_ref()?;
                let i = set.matches(key).iter().next()?;
                Some(self.values[i].clone())
            }
            MapKind::Glob => self
                .globs
                .iter()
                .find(|(r, _)| r.is_match(key))
                .map(|g| g.1.clone()),
        }
    }

    pub fn len(&self) -> usize {
        self.plain.len() + self.nets.len() + self.values.len() + self.globs.len()
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

fn glob_regex(glob: &str) -> String {
    let mut out = String::from("(?i)^");
    for c in glob.chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

fn ip_bits(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(a) => (u32::from(a) as u128, false),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => (u32::from(v4) as u128, false),
            None => (u128::from(a), true),
        },
    }
}

fn masked(addr: u128, len: u8, v6: bool) -> u128 {
    let width = if v6 { 128 } else { 32 };
    let host_bits = width - u32::from(len.min(width as u8));
    if host_bits >= 128 {
        0
    } else {
        (addr >> host_bits) << host_bits
    }
}

fn parse_net(s: &str) -> Option<(u128, u8, bool)> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip, Some(len.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let (addr, v6) = ip_bits(ip.parse().ok()?);
    let max = if v6 { 128 } else { 32 };
    let len = len.unwrap_or(max);
    (len <= max).then(|| (masked(addr, len, v6), len, v6))
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
