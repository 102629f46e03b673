//! The one thing every section's error shares, in a file of its own: the
//! sections' readers implement it and `error.rs` holds their errors, so
//! neither imports the other back.

/// An error of a section's reader that knows which setting it is about, so the caller holding
/// the [`Config`](super::Config) can put the file and line of that setting in front of it.
pub trait SettingError: std::error::Error {
    /// The dotted key path of the bad setting (`logging.type`), when there is one.
    fn key(&self) -> Option<String>;
}
