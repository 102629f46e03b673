//! What a rate limit may be keyed by besides the envelope: Rspamd's `digest`,
//! `attachments` and `files` keywords (read from the message's MIME parts), and the values
//! of the limits' selectors (evaluated by the scan, which owns the selectors, and handed in).
use std::collections::HashMap;

use blake2::{Blake2b512, Digest};
use mail_parser::{MessageParser, MimeHeaders, PartType};

/// Hex digits of a part's digest, as long as Rspamd's (16 bytes).
const DIGEST_HEX: usize = 32;

/// A message's values for the keywords that read it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// The message's digest: a hash of its parts' digests.
    pub digest: Option<String>,
    /// The digests of the parts with a file name, joined; none without such parts.
    pub attachments: Option<String>,
    /// The file names of the parts, joined with `:`; none without such parts.
    pub files: Option<String>,
    /// Each selector expression's values (each value is a bucket of its own).
    pub selected: HashMap<String, Vec<String>>,
}

impl Facts {
    /// Reads the MIME parts of `raw` (only called when a limit uses them).
    pub fn from_message(raw: &[u8], selected: HashMap<String, Vec<String>>) -> Facts {
        let mut facts = Facts {
            selected,
            ..Facts::default()
        };
        let Some(msg) = MessageParser::default().parse(raw) else {
            return facts;
        };
        let mut all = Blake2b512::new();
        let mut attachments = String::new();
        let mut files = Vec::new();
        for part in &msg.parts {
            if matches!(part.body, PartType::Multipart(_)) {
                continue;
            }
            let digest = part_digest(part.contents());
            all.update(digest.as_bytes());
            if let Some(name) = part.attachment_name() {
                attachments.push_str(&digest);
                files.push(name.to_string());
            }
        }
        let hex = data_encoding::HEXLOWER.encode(&all.finalize());
        facts.digest = Some(hex[..DIGEST_HEX].to_string());
        facts.attachments = (!attachments.is_empty()).then_some(attachments);
        facts.files = (!files.is_empty()).then(|| files.join(":"));
        facts
    }
}

fn part_digest(content: &[u8]) -> String {
    let hex = data_encoding::HEXLOWER.encode(&Blake2b512::digest(content));
    hex[..DIGEST_HEX].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITH_FILES: &[u8] = b"From: a@example.org\r\nSubject: files\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\r\nPDF\r\n\
--b\r\nContent-Type: application/zip; name=\"b.zip\"\r\n\r\nZIP\r\n--b--\r\n";

    #[test]
    fn files_attachments_and_digest() {
        let f = Facts::from_message(WITH_FILES, HashMap::new());
        assert_eq!(f.files.as_deref(), Some("a.pdf:b.zip"));
        assert_eq!(
            f.attachments.as_ref().map(String::len),
            Some(2 * DIGEST_HEX)
        );
        assert_eq!(f.digest.as_ref().map(String::len), Some(DIGEST_HEX));
        // The same parts give the same digest; other parts another one.
        assert_eq!(Facts::from_message(WITH_FILES, HashMap::new()), f);
        let other = Facts::from_message(&WITH_FILES[..WITH_FILES.len() - 12], HashMap::new());
        assert_ne!(other.digest, f.digest);
        let plain = Facts::from_message(b"Subject: x\r\n\r\nbody\r\n", HashMap::new());
        assert_eq!((plain.files, plain.attachments), (None, None));
        assert!(plain.digest.is_some());
    }
}
