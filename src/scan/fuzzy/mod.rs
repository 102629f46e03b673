//! Fuzzy hashes, as Rspamd computes them so that both share a storage:
//! [`keys`] from the rule's key strings, [`words`] the normalised words of a
//! text (broken as ICU breaks it, Chinese and Japanese by [`cjk`], and
//! stemmed in the language [`lang`] detects), [`shingles`] over them
//! ([`mum`] is one of the word hashes), and [`hashes`] which parts of a
//! message yield which hash under a rule ([`sniff`] tells the plain parts
//! Rspamd reads as HTML, [`charset`] which text Rspamd reads from a part's
//! bytes, [`raw`] the words of a part it leaves unconverted, `urls` the
//! URLs it leaves out of the words).
pub mod charset;
pub mod check;
pub mod cjk;
pub mod client;
pub mod hashes;
pub mod html;
pub mod keys;
pub mod lang;
pub mod mum;
pub mod raw;
mod runs;
pub mod settings;
pub mod shingles;
pub mod sniff;
pub mod stopwords;
pub mod thai;
mod urls;
pub mod words;

pub use hashes::{message_hashes, FuzzyHash, HashKind, HashPolicy};
pub use keys::{Digest64, RuleKeys};
pub use shingles::Algorithm;
