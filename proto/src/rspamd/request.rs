//! The request side of Rspamd's scan protocol: header names, the `Flags`
//! list, and the value syntaxes of `Rcpt` and `From`.
//!
//! Transport-neutral on purpose: the server reads requests with these and a
//! client forwarding to Rspamd writes them with the same names.

/// Largest message body a scanner takes when it is not told otherwise
/// (Rspamd's `max_message` default). A sluice scan listener holds to it, and
/// a client forwarding to scanners judges what they will refuse by it.
pub const DEFAULT_MAX_MESSAGE: usize = 50 << 20;
/// Largest request head (request line and header lines) a sluice scan
/// listener takes by default. It holds Postfix's default recipient limit
/// (1000) of the longest addresses several times over.
pub const DEFAULT_MAX_HEAD: usize = 1 << 20;
/// Most header lines of one request head a sluice listener takes: twice
/// Postfix's default recipient limit, one `Rcpt` line each (Rspamd itself
/// refuses a head over 80 KiB). Bounded apart from the bytes because the
/// HTTP parser makes room for every allowed line on every request it
/// parses: a table sized from the whole byte budget was most of a request's
/// handling cost.
pub const MAX_HEAD_LINES: usize = 2048;

/// Request header names (matched case-insensitively on the wire).
pub mod header {
    pub const FROM: &str = "From";
    pub const RCPT: &str = "Rcpt";
    pub const IP: &str = "IP";
    pub const HELO: &str = "Helo";
    pub const HOSTNAME: &str = "Hostname";
    pub const USER: &str = "User";
    pub const DELIVER_TO: &str = "Deliver-To";
    pub const QUEUE_ID: &str = "Queue-Id";
    pub const MTA_NAME: &str = "MTA-Name";
    pub const MTA_TAG: &str = "MTA-Tag";
    pub const TLS_CIPHER: &str = "TLS-Cipher";
    pub const TLS_VERSION: &str = "TLS-Version";
    pub const SETTINGS: &str = "Settings";
    pub const SETTINGS_ID: &str = "Settings-ID";
    pub const PASS: &str = "Pass";
    pub const FLAGS: &str = "Flags";
    pub const RAW: &str = "Raw";
    pub const LOG: &str = "Log";
    pub const LOG_TAG: &str = "Log-Tag";
    pub const MILTER: &str = "Milter";
    pub const PROFILE: &str = "Profile";
    pub const URL_FORMAT: &str = "URL-Format";
    pub const FILENAME: &str = "Filename";
    pub const COMPRESSION: &str = "Compression";
    pub const DICTIONARY: &str = "Dictionary";
    pub const FILE: &str = "File";
    pub const PATH: &str = "Path";
    pub const SHM: &str = "Shm";
    pub const PASSWORD: &str = "Password";
}

/// One entry of the `Flags` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    PassAll,
    NoLog,
    Skip,
    SkipProcess,
    NoStat,
    Ssl,
    Profile,
    Milter,
    Zstd,
    ExtUrls,
    BodyBlock,
    Groups,
}

impl Flag {
    /// Rspamd's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::PassAll => "pass_all",
            Flag::NoLog => "no_log",
            Flag::Skip => "skip",
            Flag::SkipProcess => "skip_process",
            Flag::NoStat => "no_stat",
            Flag::Ssl => "ssl",
            Flag::Profile => "profile",
            Flag::Milter => "milter",
            Flag::Zstd => "zstd",
            Flag::ExtUrls => "ext_urls",
            Flag::BodyBlock => "body_block",
            Flag::Groups => "groups",
        }
    }

    pub fn parse(s: &str) -> Option<Flag> {
        const ALL: [Flag; 12] = [
            Flag::PassAll,
            Flag::NoLog,
            Flag::Skip,
            Flag::SkipProcess,
            Flag::NoStat,
            Flag::Ssl,
            Flag::Profile,
            Flag::Milter,
            Flag::Zstd,
            Flag::ExtUrls,
            Flag::BodyBlock,
            Flag::Groups,
        ];
        let s = s.trim();
        ALL.into_iter().find(|f| f.as_str().eq_ignore_ascii_case(s))
    }
}

/// A parsed `Flags` header: the known flags and, for the log, the unknown
/// words (Rspamd logs and ignores them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    pub known: Vec<Flag>,
    pub unknown: Vec<String>,
}

impl Flags {
    /// Adds the words of one `Flags` header value (comma separated).
    pub fn add_list(&mut self, value: &str) {
        for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match Flag::parse(word) {
                Some(f) => self.insert(f),
                None => self.unknown.push(word.to_string()),
            }
        }
    }

    pub fn insert(&mut self, f: Flag) {
        if !self.known.contains(&f) {
            self.known.push(f);
        }
    }

    pub fn has(&self, f: Flag) -> bool {
        self.known.contains(&f)
    }
}

/// An address header value without the angle brackets; `<>` and the empty
/// string are the null sender (`""`).
pub fn bare_address(value: &str) -> String {
    let v = value.trim();
    let v = v.strip_prefix('<').unwrap_or(v);
    let v = v.strip_suffix('>').unwrap_or(v);
    v.trim().to_string()
}

/// Splits one `Rcpt` header value on commas outside double quotes, so that
/// `"a,b"@x, c@y` is two recipients. Empty items are dropped.
pub fn split_rcpts(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                push_rcpt(&mut out, &cur);
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    push_rcpt(&mut out, &cur);
    out
}

fn push_rcpt(out: &mut Vec<String>, item: &str) {
    let a = bare_address(item);
    if !a.is_empty() {
        out.push(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_known_and_keep_unknown() {
        let mut f = Flags::default();
        f.add_list("milter, body_block,ZSTD");
        f.add_list("groups,frobnicate,,milter");
        assert_eq!(
            f.known,
            vec![Flag::Milter, Flag::BodyBlock, Flag::Zstd, Flag::Groups]
        );
        assert_eq!(f.unknown, vec!["frobnicate"]);
        assert!(f.has(Flag::Zstd));
        assert!(!f.has(Flag::Skip));
    }

    #[test]
    fn rcpt_lists_honour_quotes() {
        assert_eq!(
            split_rcpts(r#"<a@x>, "b,c"@y ,d@z,"#),
            vec!["a@x", r#""b,c"@y"#, "d@z"]
        );
        assert_eq!(split_rcpts(r#""q\",r"@x"#), vec![r#""q\",r"@x"#]);
        assert!(split_rcpts(" , ").is_empty());
    }

    #[test]
    fn null_sender_is_empty() {
        assert_eq!(bare_address("<>"), "");
        assert_eq!(bare_address(""), "");
        assert_eq!(bare_address(" <a@b> "), "a@b");
    }
}
