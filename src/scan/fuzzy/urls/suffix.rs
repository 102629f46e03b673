//! The public suffixes as Rspamd's URL finder matches them. Each suffix
//! rule of the list (a wildcard rule as the name under its `*`, exception
//! rules not at all) is a pattern that follows a full stop and ends at an
//! ASCII word boundary, case-insensitively; the full stops inside a
//! multi-label rule match any one character, so `edu.do` also reads
//! `Eduado`. The rules are the `psl` crate's list.
use psl::Psl;

/// Longest text, in bytes, a suffix pattern is tried against.
const MAX_SUFFIX: usize = 64;

/// Most labels a suffix pattern is split into.
const MAX_LABELS: usize = 5;

/// Rule lookups one text may make: a text crafted to make every split
/// worth trying costs this much at most; past it no more names are found.
pub const LOOKUP_BUDGET: usize = 200_000;

/// Whether `labels` (rightmost first) join to a pattern: a rule, or the
/// name under a wildcard rule. Each call spends one of `budget`.
fn is_pattern(labels: &[&[u8]], budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    let joined: usize = labels.iter().map(|l| l.len() + 1).sum::<usize>() - 1;
    let exact = psl::List.find(labels.iter().copied());
    if exact.typ.is_some() && exact.len == joined {
        return true;
    }
    let under = psl::List.find(labels.iter().copied().chain([&b"x"[..]]));
    under.typ.is_some() && under.len == joined + 2
}

/// A character a rule's label may hold.
fn label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii()
}

/// Whether `text` (the characters after a full stop) reads as a whole
/// pattern: split into labels at full stops, at characters no label holds,
/// and at any other characters that make the labels a rule.
pub fn is_suffix(text: &str, budget: &mut usize) -> bool {
    if text.is_empty() || text.len() > MAX_SUFFIX || text.contains('\n') {
        return false;
    }
    let lower = text.to_lowercase();
    let chars: Vec<(usize, char)> = lower.char_indices().collect();
    let mut labels: Vec<&[u8]> = Vec::with_capacity(MAX_LABELS);
    split(lower.as_bytes(), &chars, chars.len(), &mut labels, budget)
}

/// Tries the labels that end at character `end` (exclusive), after the
/// `labels` already chosen to its right.
fn split<'a>(
    bytes: &'a [u8],
    chars: &[(usize, char)],
    end: usize,
    labels: &mut Vec<&'a [u8]>,
    budget: &mut usize,
) -> bool {
    let byte = |i: usize| chars.get(i).map_or(bytes.len(), |c| c.0);
    let end_byte = byte(end);
    let mut k = end;
    while k > 0 {
        k -= 1;
        let c = chars[k].1;
        let forced = !label_char(c);
        // The characters after `k` as one label, `k` separating it.
        if k + 1 < end && k > 0 && labels.len() + 1 < MAX_LABELS {
            labels.push(&bytes[byte(k + 1)..end_byte]);
            let found = is_pattern(labels, budget) && split(bytes, chars, k, labels, budget);
            labels.pop();
            if found {
                return true;
            }
        }
        if forced {
            return false;
        }
    }
    labels.push(&bytes[..end_byte]);
    let found = is_pattern(labels, budget);
    labels.pop();
    found
}

/// Whether `host` has a suffix pattern at its end (after a full stop in
/// it; a final full stop aside).
pub fn host_has_suffix(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let mut budget = LOOKUP_BUDGET;
    host.match_indices('.')
        .any(|(i, _)| is_suffix(&host[i + 1..], &mut budget))
}
