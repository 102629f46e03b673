//! Attachments: dangerous file extensions (also inside zip archives),
//! double extensions, names that hide their extension with Unicode controls,
//! and declared types that contradict the name or the content.
use serde::Deserialize;
use serde_json::Value;

use super::{sym, Hit, Module, SymbolDef};
use crate::message::Envelope;
use crate::message::MessageView;
use crate::message::PartInfo;
use crate::scan::error::ScanConfigError;

/// Executables and scripts Windows runs on a double click.
const DEFAULT_BAD: &[&str] = &[
    "exe",
    "scr",
    "pif",
    "bat",
    "cmd",
    "com",
    "cpl",
    "vbs",
    "vbe",
    "js",
    "jse",
    "wsf",
    "wsh",
    "hta",
    "msi",
    "msp",
    "jar",
    "lnk",
    "ps1",
    "reg",
    "scf",
    "inf",
    "dll",
    "sys",
    "gadget",
    "iso",
    "img",
    "vhd",
    "application",
    "msc",
    "chm",
];

/// Archive formats; an archive inside an archive is a known evasion trick.
const ARCHIVES: &[&str] = &[
    "zip", "rar", "7z", "gz", "tgz", "bz2", "xz", "ace", "arj", "cab", "lzh", "tar",
];

/// Types that only executable content declares.
const BAD_TYPES: &[&str] = &[
    "application/x-msdownload",
    "application/x-ms-installer",
    "application/x-msdos-program",
    "application/hta",
    "application/x-javascript",
    "application/javascript",
    "application/x-dosexec",
    "application/vnd.microsoft.portable-executable",
];

/// Names of archive entries read per attachment, and bytes scanned.
const MAX_ENTRIES: usize = 256;

static SYMBOLS: &[SymbolDef] = &[
    sym(
        "MIME_BAD_EXTENSION",
        "Attachment with an executable extension",
    ),
    sym(
        "MIME_DOUBLE_BAD_EXTENSION",
        "Attachment name with a harmless extension before a bad one",
    ),
    sym(
        "MIME_ARCHIVE_IN_ARCHIVE",
        "Archive containing another archive",
    ),
    sym("MIME_ENCRYPTED_ARCHIVE", "Encrypted archive attached"),
    sym(
        "MIME_BAD_UNICODE",
        "Attachment name with bidirectional or invisible Unicode controls",
    ),
    sym(
        "MIME_BAD_ATTACHMENT",
        "Declared type of an attachment contradicts its name or content",
    ),
    sym("MIME_BAD", "Attachment of a type reserved for executables"),
    sym(
        "MIME_EXE_CONTENT",
        "Attachment content is a Windows executable",
    ),
];

/// `bad_extensions`: sluice's list, or Rspamd's table of extension to
/// weight multiplier (`bad_extensions { exe = 1; scr = 4; }`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum BadExtensions {
    List(Vec<String>),
    Scored(serde_json::Map<String, Value>),
}

#[derive(Debug, Deserialize, Default)]
struct Settings {
    #[serde(default)]
    bad_extensions: Option<BadExtensions>,
}

/// The `mime_types` module.
#[derive(Debug)]
pub struct MimeTypes {
    /// Extension (lower case, no dot) and its multiplier (`None`: 1).
    bad: Vec<(String, Option<f64>)>,
}

fn shape(key: &str, message: String) -> ScanConfigError {
    ScanConfigError::Shape {
        section: format!("mime_types.{key}"),
        source: serde::de::Error::custom(message),
    }
}

impl MimeTypes {
    /// `mime_types { bad_extensions = ...; }` replaces the default list, as
    /// Rspamd's setting replaces its built-in table.
    pub fn from_config(section: Option<&Value>) -> Result<MimeTypes, ScanConfigError> {
        let s: Settings = match section {
            Some(v) => Settings::deserialize(v).map_err(|source| ScanConfigError::Shape {
                section: "mime_types".into(),
                source,
            })?,
            None => Settings::default(),
        };
        let norm = |e: &str| e.trim_start_matches('.').to_ascii_lowercase();
        let bad = match s.bad_extensions {
            None => DEFAULT_BAD.iter().map(|e| (e.to_string(), None)).collect(),
            Some(BadExtensions::List(v)) => v.iter().map(|e| (norm(e), None)).collect(),
            Some(BadExtensions::Scored(m)) => m
                .iter()
                .map(|(e, w)| match w.as_f64() {
                    Some(w) => Ok((norm(e), Some(w))),
                    None => Err(shape(
                        &format!("bad_extensions.{e}"),
                        format!("expected a number, got {w}"),
                    )),
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(MimeTypes { bad })
    }

    fn is_bad(&self, ext: &str) -> bool {
        self.bad.iter().any(|(b, _)| b == ext)
    }

    /// `MIME_BAD_EXTENSION` for `ext`, weighted by its multiplier.
    fn bad_hit(&self, ext: &str, option: String) -> Hit {
        let hit = Hit::new("MIME_BAD_EXTENSION").opt(option);
        match self
            .bad
            .iter()
            .find(|(b, _)| b == ext)
            .and_then(|(_, m)| *m)
        {
            Some(m) => hit.times(m),
            None => hit,
        }
    }

    fn check_name(&self, name: &str, out: &mut Vec<Hit>) {
        if name.chars().any(is_bidi_control) {
            out.push(
                Hit::new("MIME_BAD_UNICODE").opt(
                    name.chars()
                        .filter(|c| !is_bidi_control(*c))
                        .collect::<String>(),
                ),
            );
        }
        let lower = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let mut exts = lower.rsplit('.');
        let Some(last) = exts.next().filter(|_| lower.contains('.')) else {
            return;
        };
        if !self.is_bad(last) {
            return;
        }
        out.push(self.bad_hit(last, last.to_string()));
        if let Some(prev) = exts.next().filter(|p| is_decoy(p)) {
            if lower.matches('.').count() >= 2 {
                out.push(Hit::new("MIME_DOUBLE_BAD_EXTENSION").opt(format!("{prev}.{last}")));
            }
        }
    }

    fn check_part(&self, part: &PartInfo<'_>, out: &mut Vec<Hit>) {
        if BAD_TYPES.contains(&part.content_type.as_str()) {
            out.push(Hit::new("MIME_BAD").opt(part.content_type.clone()));
        }
        let is_exe = part.body.starts_with(b"MZ") && part.body.len() > 64;
        if is_exe {
            out.push(Hit::new("MIME_EXE_CONTENT").opt(part.filename.unwrap_or("(unnamed)")));
        }
        let Some(name) = part.filename else {
            return;
        };
        self.check_name(name, out);
        let ext = part.extension();
        if let Some(ext) = ext.as_deref() {
            if type_contradicts(ext, &part.content_type) || (is_exe && !self.is_bad(ext)) {
                out.push(
                    Hit::new("MIME_BAD_ATTACHMENT").opt(format!("{ext}:{}", part.content_type)),
                );
            }
            if ext == "zip" || part.body.starts_with(b"PK\x03\x04") {
                self.check_zip(&part.body, out);
            }
        }
    }

    fn check_zip(&self, body: &[u8], out: &mut Vec<Hit>) {
        for entry in zip_entries(body).take(MAX_ENTRIES) {
            if entry.encrypted {
                out.push(Hit::new("MIME_ENCRYPTED_ARCHIVE"));
            }
            let lower = entry.name.to_ascii_lowercase();
            if let Some((_, ext)) = lower.rsplit_once('.') {
                if self.is_bad(ext) {
                    out.push(self.bad_hit(ext, format!("archive:{ext}")));
                }
                if ARCHIVES.contains(&ext) {
                    out.push(Hit::new("MIME_ARCHIVE_IN_ARCHIVE").opt(ext.to_string()));
                }
            }
        }
    }
}

impl Module for MimeTypes {
    fn name(&self) -> &str {
        "mime_types"
    }

    fn symbols(&self) -> &'static [SymbolDef] {
        SYMBOLS
    }

    fn check(&self, view: &MessageView, _env: &Envelope, out: &mut Vec<Hit>) {
        for part in &view.parts {
            self.check_part(part, out);
        }
    }
}

/// Right-to-left override and friends, used to show `exe.pdf` as `fdp.exe`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Extensions a user trusts, so that `invoice.pdf.exe` reads as a PDF.
fn is_decoy(ext: &str) -> bool {
    matches!(
        ext,
        "pdf"
            | "doc"
            | "docx"
            | "xls"
            | "xlsx"
            | "jpg"
            | "jpeg"
            | "png"
            | "gif"
            | "txt"
            | "rtf"
            | "zip"
            | "htm"
            | "html"
            | "mp3"
            | "mp4"
            | "avi"
    )
}

/// A name and a declared type that cannot both be true: an executable or
/// script declared as a document or image, or a document declared as an
/// executable.
fn type_contradicts(ext: &str, ctype: &str) -> bool {
    let (major, _) = ctype.split_once('/').unwrap_or((ctype, ""));
    let exe_ext = matches!(ext, "exe" | "scr" | "pif" | "com" | "dll" | "cpl");
    let doc_ext = matches!(
        ext,
        "pdf" | "doc" | "docx" | "xls" | "xlsx" | "jpg" | "jpeg" | "png" | "gif"
    );
    let media_type = matches!(major, "image" | "audio" | "video" | "text");
    (exe_ext && (media_type || ctype == "application/pdf" || ctype == "application/msword"))
        || (doc_ext && BAD_TYPES.contains(&ctype))
        || (ext == "pdf" && media_type)
}

struct ZipEntry<'a> {
    name: &'a str,
    encrypted: bool,
}

/// Entry names from a zip's local file headers (signature `PK\3\4`), read
/// with bounds checks only: a truncated or hostile archive ends the walk.
fn zip_entries(data: &[u8]) -> impl Iterator<Item = ZipEntry<'_>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || loop {
        let rest = data.get(pos..)?;
        let at = rest.windows(4).position(|w| w == b"PK\x03\x04")?;
        let h = pos + at;
        pos = h + 4;
        let flags = u16_at(data, h + 6)?;
        let csize = u32_at(data, h + 18)? as usize;
        let nlen = u16_at(data, h + 26)? as usize;
        let xlen = u16_at(data, h + 28)? as usize;
        let name = data.get(h + 30..h + 30 + nlen)?;
        // Skip the entry's data when its size is known (bit 3 unset).
        if flags & 0x8 == 0 {
            pos = (h + 30 + nlen + xlen).saturating_add(csize).max(pos);
        }
        if let Ok(name) = std::str::from_utf8(name) {
            return Some(ZipEntry {
                name,
                encrypted: flags & 1 == 1,
            });
        }
    })
}

fn u16_at(d: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(i..i + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(i..i + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_header(name: &str, flags: u16) -> Vec<u8> {
        let mut v = b"PK\x03\x04".to_vec();
        v.extend([20, 0]);
        v.extend(flags.to_le_bytes());
        v.extend([0u8; 10]);
        v.extend(3u32.to_le_bytes()); // compressed size
        v.extend(3u32.to_le_bytes());
        v.extend((name.len() as u16).to_le_bytes());
        v.extend(0u16.to_le_bytes());
        v.extend(name.as_bytes());
        v.extend(b"abc");
        v
    }

    #[test]
    fn zip_walk_reads_names_and_flags() {
        let mut z = local_header("a.txt", 0);
        z.extend(local_header("run.exe", 1));
        z.extend(b"PK\x03\x04\x01"); // truncated tail
        let names: Vec<(String, bool)> = zip_entries(&z)
            .map(|e| (e.name.to_string(), e.encrypted))
            .collect();
        assert_eq!(
            names,
            vec![("a.txt".into(), false), ("run.exe".into(), true)]
        );
    }

    #[test]
    fn names_and_types() {
        let m = MimeTypes::from_config(None).unwrap();
        let mut out = Vec::new();
        m.check_name("invoice.pdf.exe", &mut out);
        let syms: Vec<_> = out.iter().map(|h| h.symbol).collect();
        assert_eq!(syms, ["MIME_BAD_EXTENSION", "MIME_DOUBLE_BAD_EXTENSION"]);
        out.clear();
        m.check_name("report.pdf", &mut out);
        assert!(out.is_empty());
        assert!(type_contradicts("exe", "image/jpeg"));
        assert!(!type_contradicts("pdf", "application/pdf"));
    }
}
