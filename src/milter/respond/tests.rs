use bytes::Bytes;
use sluice_proto::milter::optneg::{action, protocol};
use sluice_proto::milter::Reply;

use super::respond;
use crate::milter::envelope::Transaction;
use crate::milter::negotiate::Negotiated;
use crate::milter::settings::SessionSettings;
use crate::verdict::{Action, AddHeader, RemoveHeader, Verdict};

fn all_granted() -> Negotiated {
    Negotiated {
        version: 6,
        actions: 0x1ff,
        protocol: 0,
    }
}

fn tx_with(headers: &[&str]) -> Transaction {
    let mut tx = Transaction::new(1 << 20);
    for h in headers {
        tx.header_names.push(h.as_bytes());
    }
    tx
}

fn verdict(action: Action) -> Verdict {
    let mut v = Verdict::empty(15.0);
    v.action = action;
    v
}

fn text(reply: &Reply) -> String {
    match reply {
        Reply::ReplyCode(t) => String::from_utf8_lossy(t).into_owned(),
        other => format!("{other:?}"),
    }
}

fn change(index: u32, name: &str, value: &str) -> Reply {
    Reply::ChangeHeader {
        index,
        name: Bytes::from(name.to_string()),
        value: Bytes::from(value.to_string()),
    }
}

#[test]
fn remove_all_deletes_from_the_highest_index_down() {
    let mut v = verdict(Action::NoAction);
    v.milter.remove_headers.push(RemoveHeader {
        name: "X-Spam".into(),
        index: 0,
    });
    let tx = tx_with(&["Subject", "x-spam", "X-Spam", "To", "X-SPAM"]);
    let out = respond(&v, &tx, &all_granted(), &SessionSettings::default());
    assert_eq!(
        out.packets,
        vec![
            change(3, "X-Spam", ""),
            change(2, "X-Spam", ""),
            change(1, "X-Spam", ""),
            Reply::Accept
        ]
    );
}

#[test]
fn negative_and_out_of_range_indices() {
    let mut v = verdict(Action::NoAction);
    for index in [-1, 5, -9] {
        v.milter.remove_headers.push(RemoveHeader {
            name: "Received".into(),
            index,
        });
    }
    let tx = tx_with(&["Received", "Received"]);
    let out = respond(&v, &tx, &all_granted(), &SessionSettings::default());
    assert_eq!(out.packets, vec![change(2, "Received", ""), Reply::Accept]);
}

#[test]
fn add_header_action_replaces_the_spam_header() {
    let mut v = verdict(Action::AddHeader);
    v.milter.add_headers.push(AddHeader {
        name: "X-Spamd-Result".into(),
        value: "default: False [7.00 / 15.00]".into(),
        order: -1,
    });
    let tx = tx_with(&["X-Spam"]);
    let out = respond(&v, &tx, &all_granted(), &SessionSettings::default());
    assert_eq!(
        out.packets,
        vec![
            Reply::AddHeader {
                name: Bytes::from_static(b"X-Spamd-Result"),
                value: Bytes::from_static(b"default: False [7.00 / 15.00]"),
            },
            change(1, "X-Spam", ""),
            Reply::AddHeader {
                name: Bytes::from_static(b"X-Spam"),
                value: Bytes::from_static(b"Yes"),
            },
            Reply::Accept
        ]
    );
}

#[test]
fn inserted_headers_use_their_order_as_index() {
    let mut v = verdict(Action::NoAction);
    v.milter.add_headers.push(AddHeader {
        name: "Authentication-Results".into(),
        value: "mx; none".into(),
        order: 1,
    });
    let out = respond(
        &v,
        &tx_with(&[]),
        &all_granted(),
        &SessionSettings::default(),
    );
    assert!(matches!(
        out.packets[0],
        Reply::InsertHeader { index: 1, .. }
    ));
}

#[test]
fn reject_uses_the_smtp_message_or_the_configured_text() {
    let mut v = verdict(Action::Reject);
    let s = SessionSettings::default();
    let out = respond(&v, &tx_with(&[]), &all_granted(), &s);
    assert_eq!(
        text(out.packets.last().unwrap()),
        "554 5.7.1 Spam message rejected"
    );
    v.smtp_message = Some("Gtube pattern".into());
    let out = respond(&v, &tx_with(&[]), &all_granted(), &s);
    assert_eq!(text(out.packets.last().unwrap()), "554 5.7.1 Gtube pattern");
}

#[test]
fn soft_reject_is_a_451_and_percent_signs_survive() {
    let mut v = verdict(Action::SoftReject);
    v.smtp_message = Some("100% busy".into());
    let out = respond(
        &v,
        &tx_with(&[]),
        &all_granted(),
        &SessionSettings::default(),
    );
    assert_eq!(text(&out.packets[0]), "451 4.7.1 100%% busy");
}

#[test]
fn reject_becomes_discard_or_quarantine_when_configured() {
    let v = verdict(Action::Reject);
    let s = SessionSettings {
        discard_on_reject: true,
        ..SessionSettings::default()
    };
    assert_eq!(
        respond(&v, &tx_with(&[]), &all_granted(), &s).packets,
        vec![Reply::Discard]
    );
    let s = SessionSettings {
        quarantine_on_reject: true,
        ..SessionSettings::default()
    };
    let out = respond(&v, &tx_with(&[]), &all_granted(), &s);
    assert_eq!(
        out.packets,
        vec![
            Reply::Quarantine(Bytes::from_static(b"Spam message quarantined")),
            Reply::Accept
        ]
    );
}

#[test]
fn quarantine_without_the_grant_holds_the_message_with_a_tempfail() {
    let v = verdict(Action::Quarantine);
    let agreed = Negotiated {
        actions: action::ADD_HEADERS,
        ..all_granted()
    };
    let out = respond(&v, &tx_with(&[]), &agreed, &SessionSettings::default());
    assert_eq!(out.dropped, 1);
    assert!(text(&out.packets[0]).starts_with("451 4.7.1"));
}

#[test]
fn dkim_signatures_go_on_top_only_with_header_changes_granted() {
    let mut v = verdict(Action::NoAction);
    v.dkim_signatures = vec![
        "v=1; d=a.example;\n\tb=A".into(),
        "v=1; d=b.example; b=B".into(),
    ];
    let out = respond(
        &v,
        &tx_with(&["From"]),
        &all_granted(),
        &SessionSettings::default(),
    );
    let insert = |index: u32, value: &str| Reply::InsertHeader {
        index,
        name: Bytes::from_static(b"DKIM-Signature"),
        value: Bytes::from(value.to_string()),
    };
    assert_eq!(
        out.packets,
        vec![
            insert(0, "v=1; d=a.example;\n\tb=A"),
            insert(1, "v=1; d=b.example; b=B"),
            Reply::Accept
        ]
    );
    let none = Negotiated {
        actions: action::CHANGE_FROM,
        ..all_granted()
    };
    let out = respond(&v, &tx_with(&["From"]), &none, &SessionSettings::default());
    assert_eq!((out.packets, out.dropped), (vec![Reply::Accept], 2));
}

#[test]
fn modifications_not_granted_are_dropped_and_counted() {
    let mut v = verdict(Action::RewriteSubject);
    v.subject = Some("*** SPAM *** hi".into());
    v.milter.add_rcpt.push("archive@example.org".into());
    let agreed = Negotiated {
        actions: action::ADD_HEADERS,
        ..all_granted()
    };
    let out = respond(
        &v,
        &tx_with(&["Subject"]),
        &agreed,
        &SessionSettings::default(),
    );
    assert_eq!(out.dropped, 2);
    assert_eq!(out.packets, vec![Reply::Accept]);
}

#[test]
fn rewrite_subject_and_envelope_edits() {
    let mut v = verdict(Action::RewriteSubject);
    v.subject = Some("*** SPAM *** hi".into());
    v.milter.change_from = Some("bounce@example.org".into());
    v.milter.del_rcpt.push("<bob@example.net>".into());
    let out = respond(
        &v,
        &tx_with(&["Subject"]),
        &all_granted(),
        &SessionSettings::default(),
    );
    assert_eq!(
        out.packets,
        vec![
            Reply::ChangeFrom {
                sender: Bytes::from_static(b"<bounce@example.org>"),
                args: None
            },
            Reply::DelRcpt(Bytes::from_static(b"<bob@example.net>")),
            change(1, "Subject", "*** SPAM *** hi"),
            Reply::Accept
        ]
    );
}

#[test]
fn with_leading_space_negotiated_values_carry_their_own_space() {
    let mut v = verdict(Action::AddHeader);
    v.milter.spam_header = Some("yes, really".into());
    let agreed = Negotiated {
        protocol: protocol::HDR_LEADSPC,
        ..all_granted()
    };
    let out = respond(&v, &tx_with(&[]), &agreed, &SessionSettings::default());
    assert_eq!(
        out.packets[0],
        Reply::AddHeader {
            name: Bytes::from_static(b"X-Spam"),
            value: Bytes::from_static(b" yes, really"),
        }
    );
}

#[test]
fn no_action_flag_reports_instead_of_enforcing() {
    let mut v = verdict(Action::Reject);
    v.milter.no_action = true;
    let out = respond(
        &v,
        &tx_with(&[]),
        &all_granted(),
        &SessionSettings::default(),
    );
    assert_eq!(
        out.packets,
        vec![
            Reply::AddHeader {
                name: Bytes::from_static(b"X-Rspamd-Action"),
                value: Bytes::from_static(b"reject"),
            },
            Reply::Accept
        ]
    );
}

#[test]
fn a_huge_header_is_cut_at_a_fold_and_the_reject_still_follows() {
    let mut v = verdict(Action::Reject);
    let option = "a".repeat(1_100_000);
    v.milter.add_headers.push(AddHeader {
        name: "X-Spamd-Result".into(),
        value: format!("default: True [20.00 / 15.00];\n\tBIG(1.00)[x];\n\tNAME(1.00)[{option}]"),
        order: -1,
    });
    let out = respond(
        &v,
        &tx_with(&[]),
        &all_granted(),
        &SessionSettings::default(),
    );
    let Reply::AddHeader { value, .. } = &out.packets[0] else {
        panic!("{:?}", out.packets[0]);
    };
    assert!(value.len() <= super::MAX_HEADER_VALUE, "{}", value.len());
    assert_eq!(
        &value[..],
        b"default: True [20.00 / 15.00];\n\tBIG(1.00)[x];\n\t..."
    );
    assert!(text(out.packets.last().unwrap()).starts_with("554 5.7.1"));
}

#[test]
fn an_unfolded_huge_header_is_cut_at_a_char_boundary() {
    let long = "é".repeat(super::MAX_HEADER_VALUE);
    let cut = super::bounded_header(&long);
    assert!(cut.len() <= super::MAX_HEADER_VALUE);
    assert!(cut.ends_with("..."));
    assert_eq!(super::bounded_header("short"), "short");
}
