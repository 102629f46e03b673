//! Envelope against headers: recipients the To/Cc do not name, and a sender
//! domain the From does not match. Only runs when the MTA gave an envelope.
use super::util::{addr_of, domain_of, registrable};
use super::{sym, Hit, Module, SymbolDef};
use crate::message::Envelope;
use crate::message::MessageView;

static SYMBOLS: &[SymbolDef] = &[
    sym(
        "FORGED_RECIPIENTS",
        "No envelope recipient appears in To or Cc",
    ),
    sym(
        "FORGED_SENDER",
        "Envelope sender domain differs from the From domain",
    ),
    sym(
        "FROM_NEQ_ENVFROM",
        "Envelope sender differs from the From address",
    ),
    sym("RCPT_COUNT_MANY", "Many envelope recipients (ten or more)"),
];

/// The `forged_recipients` module.
#[derive(Debug)]
pub struct ForgedRecipients;

impl Module for ForgedRecipients {
    fn name(&self) -> &str {
        "forged_recipients"
    }

    fn symbols(&self) -> &'static [SymbolDef] {
        SYMBOLS
    }

    fn check(&self, view: &MessageView, env: &Envelope, out: &mut Vec<Hit>) {
        if !env.rcpts.is_empty() {
            check_rcpts(view, env, out);
        }
        if let Some(sender) = env.from.as_deref().filter(|s| !s.is_empty()) {
            check_sender(view, &sender.to_ascii_lowercase(), out);
        }
    }
}

fn check_rcpts(view: &MessageView, env: &Envelope, out: &mut Vec<Hit>) {
    if env.rcpts.len() >= 10 {
        out.push(Hit::new("RCPT_COUNT_MANY").opt(env.rcpts.len().to_string()));
    }
    let listed: String = ["To", "Cc"]
        .iter()
        .flat_map(|n| view.headers_named(n))
        .map(|h| h.value.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",");
    // Lists and Bcc legitimately differ; only flag when To/Cc exist at all.
    if listed.trim().is_empty() || view.header("List-Id").is_some() {
        return;
    }
    let any = env
        .rcpts
        .iter()
        .any(|r| listed.contains(&r.to_ascii_lowercase()));
    if !any {
        out.push(Hit::new("FORGED_RECIPIENTS").opt(env.rcpts[0].clone()));
    }
}

fn check_sender(view: &MessageView, sender: &str, out: &mut Vec<Hit>) {
    let Some(from) = view.header("From").and_then(|f| addr_of(&f.value)) else {
        return;
    };
    if from != sender {
        out.push(Hit::new("FROM_NEQ_ENVFROM").opt(sender.to_string()));
    }
    let (Some(fd), Some(sd)) = (domain_of(&from), domain_of(sender)) else {
        return;
    };
    // Mailing lists and bounce-address schemes rewrite the sender domain.
    let list = view.header("List-Id").is_some() || view.header("List-Unsubscribe").is_some();
    if !list && registrable(fd) != registrable(sd) {
        out.push(Hit::new("FORGED_SENDER").opt(format!("{sd}->{fd}")));
    }
}
