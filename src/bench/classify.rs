//! Names for what a milter answered, as the report counts them.
use sluice_proto::milter::Reply;

/// The message's fate as the MTA would apply it. A `y` reply is counted by
/// the class of its SMTP code (`4xx`, `5xx`), which is what an admin needs;
/// a quarantine request wins over the accept that follows it.
pub fn final_kind(terminal: &Reply, modifications: &[Reply]) -> &'static str {
    if modifications
        .iter()
        .any(|m| matches!(m, Reply::Quarantine(_)))
    {
        return "quarantine";
    }
    match terminal {
        Reply::Accept => "accept",
        Reply::Continue => "continue",
        Reply::Reject => "reject",
        Reply::Tempfail => "tempfail",
        Reply::Discard => "discard",
        Reply::Shutdown => "shutdown",
        Reply::Skip => "skip",
        Reply::ReplyCode(text) => match text.first() {
            Some(b'4') => "4xx",
            Some(b'5') => "5xx",
            _ => "y (other)",
        },
        _ => "other",
    }
}

/// The kind of one modification packet. A header change with an empty value
/// is a deletion, counted apart because that is how spoofed flags are removed.
pub fn modification_kind(m: &Reply) -> &'static str {
    match m {
        Reply::AddHeader { .. } => "add header",
        Reply::InsertHeader { .. } => "insert header",
        Reply::ChangeHeader { value, .. } if value.is_empty() => "delete header",
        Reply::ChangeHeader { .. } => "change header",
        Reply::AddRcpt(_) | Reply::AddRcptPar { .. } => "add rcpt",
        Reply::DelRcpt(_) => "delete rcpt",
        Reply::ChangeFrom { .. } => "change from",
        Reply::ReplaceBody(_) => "replace body",
        Reply::Quarantine(_) => "quarantine",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn reply_codes_by_first_digit() {
        let y = |t: &'static str| Reply::ReplyCode(Bytes::from_static(t.as_bytes()));
        assert_eq!(final_kind(&y("554 5.7.1 Gtube pattern"), &[]), "5xx");
        assert_eq!(final_kind(&y("451 4.7.1 Try again later"), &[]), "4xx");
        assert_eq!(final_kind(&Reply::Accept, &[]), "accept");
        assert_eq!(final_kind(&Reply::Tempfail, &[]), "tempfail");
    }

    #[test]
    fn quarantine_wins_over_accept() {
        let q = [Reply::Quarantine(Bytes::from_static(b"held"))];
        assert_eq!(final_kind(&Reply::Accept, &q), "quarantine");
    }

    #[test]
    fn empty_change_is_a_delete() {
        let m = |v: &'static [u8]| Reply::ChangeHeader {
            index: 1,
            name: Bytes::from_static(b"X-Spam"),
            value: Bytes::from_static(v),
        };
        assert_eq!(modification_kind(&m(b"")), "delete header");
        assert_eq!(modification_kind(&m(b"Yes")), "change header");
    }
}
