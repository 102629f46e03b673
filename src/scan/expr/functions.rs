//! Evaluation of the built-in rule functions against one scan.
//!
//! Cheap by design: each looks at the parsed MIME tree or the envelope,
//! never at every byte of the message.
use std::collections::HashSet;

use mail_parser::{MimeHeaders, PartType};

use super::ast::Function;
use crate::scan::context::{addresses_in, ScanCtx};

/// Recipients below this count are never "sorted" or "alike".
const MIN_RECIPIENTS: usize = 5;

pub fn eval(f: &Function, ctx: &ScanCtx<'_>) -> bool {
    let view = ctx.view;
    match f {
        Function::HeaderExists(name) => view.header(name).is_some(),
        Function::HasOnlyHtmlPart => {
            view.text_parts.len() == 1 && view.text_parts[0].html.is_some()
        }
        Function::IsHtmlOnly => {
            !view.text_parts.is_empty() && view.text_parts.iter().all(|p| p.html.is_some())
        }
        Function::IsEmptyBody => view.text_parts.iter().all(|p| p.text.trim().is_empty()),
        Function::HasFakeHtml => ctx.html_parts().any(|h| !has_any_tag(h)),
        Function::ComparePartsDistance(pct) => parts_distance(ctx).is_some_and(|d| d >= *pct),
        Function::IsRecipientsSorted => {
            let r = recipients(ctx);
            r.len() >= MIN_RECIPIENTS && r.windows(2).all(|w| w[0] <= w[1])
        }
        Function::CompareRecipientsDistance(share) => recipients_alike(ctx) >= *share,
        Function::HasContentPart(t, sub) => ctx.content_types().any(|ct| {
            let (ty, st) = ct.split_once('/').unwrap_or((ct.as_str(), ""));
            ty == t && sub.as_ref().is_none_or(|s| s == st)
        }),
        Function::HasContentPartLen(t, min, max) => ctx.parts().iter().any(|p| {
            let Some(ct) = p.content_type() else {
                return false;
            };
            let len = p.contents().len();
            ct.ctype().eq_ignore_ascii_case(t) && len >= *min && max.is_none_or(|m| len <= m)
        }),
        Function::ContentTypeIsType(t) => ctx
            .content_types()
            .any(|ct| ct.split('/').next() == Some(t.as_str())),
        Function::ContentTypeIsSubtype(s) => ctx
            .content_types()
            .any(|ct| ct.split_once('/').is_some_and(|(_, st)| st == s)),
        Function::HasHtmlTag(tag) => ctx.html_parts().any(|h| has_tag(h, tag)),
        Function::CheckSmtpData(item, value) => smtp_items(ctx, item)
            .iter()
            .any(|v| value.as_ref().is_none_or(|m| m.matches(v))),
        Function::CompareTransferEncoding(enc) => ctx.parts().iter().any(|p| {
            p.content_transfer_encoding()
                .is_some_and(|e| e.eq_ignore_ascii_case(enc))
        }),
    }
}

/// `<` followed by a letter, `/` or `!`: markup of some kind.
fn has_any_tag(html: &str) -> bool {
    let b = html.as_bytes();
    b.windows(2)
        .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || w[1] == b'/' || w[1] == b'!'))
}

fn has_tag(html: &str, tag: &str) -> bool {
    let lower = html.to_ascii_lowercase();
    let needle = format!("<{tag}");
    lower.match_indices(&needle).any(|(i, _)| {
        matches!(
            lower.as_bytes().get(i + needle.len()),
            None | Some(b' ' | b'>' | b'/' | b'\t' | b'\r' | b'\n')
        )
    })
}

/// Percentage of words not shared by the plain and the HTML alternative.
fn parts_distance(ctx: &ScanCtx<'_>) -> Option<f64> {
    let mut plain = None;
    let mut html = None;
    for p in ctx.parts() {
        match &p.body {
            PartType::Text(t) if plain.is_none() => plain = Some(t.as_ref()),
            PartType::Html(h) if html.is_none() => {
                html = Some(crate::message::html_text::html_to_text(h))
            }
            _ => {}
        }
    }
    let (plain, html) = (plain?, html?);
    let a: HashSet<String> = words(plain);
    let b: HashSet<String> = words(&html);
    let union = a.union(&b).count();
    if union == 0 {
        return Some(0.0);
    }
    let common = a.intersection(&b).count();
    Some(100.0 * (1.0 - common as f64 / union as f64))
}

fn words(t: &str) -> HashSet<String> {
    t.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 2)
        .map(str::to_lowercase)
        .collect()
}

/// To and Cc addresses, in header order.
fn recipients(ctx: &ScanCtx<'_>) -> Vec<String> {
    ["To", "Cc"]
        .iter()
        .flat_map(|h| ctx.view.headers_named(h))
        .flat_map(|h| addresses_in(&h.value))
        .collect()
}

/// Share of recipients (sorted) sharing domain and 3-char local prefix with
/// their neighbour: harvested lists look like this.
fn recipients_alike(ctx: &ScanCtx<'_>) -> f64 {
    let mut r = recipients(ctx);
    if r.len() < MIN_RECIPIENTS {
        return 0.0;
    }
    r.sort();
    let key = |a: &str| {
        let (user, dom) = a.rsplit_once('@').unwrap_or((a, ""));
        (user.chars().take(3).collect::<String>(), dom.to_string())
    };
    let alike = r.windows(2).filter(|w| key(&w[0]) == key(&w[1])).count();
    alike as f64 / (r.len() - 1) as f64
}

fn smtp_items(ctx: &ScanCtx<'_>, item: &str) -> Vec<String> {
    let env = ctx.env;
    match item {
        "from" => env.from.iter().cloned().collect(),
        "rcpt" => env.rcpts.clone(),
        "helo" => env.helo.iter().cloned().collect(),
        "user" => env.user.iter().cloned().collect(),
        "hostname" => env.client_name.iter().cloned().collect(),
        "ip" => env.client_ip.iter().map(|i| i.to_string()).collect(),
        "subject" => ctx.view.subject().map(str::to_string).into_iter().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert!(has_any_tag("x <p>y"));
        assert!(!has_any_tag("just 1 < 2 text"));
        assert!(has_tag("<HTML><IMG src=x>", "img"));
        assert!(!has_tag("<imgx>", "img"));
        assert!(has_tag("<img>", "img"));
    }
}
