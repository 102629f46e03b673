//! Rspamd's `neural` module: a small network over the symbols a message
//! got, trained on the site's own mail, that adds `NEURAL_SPAM` or
//! `NEURAL_HAM`.
//!
//! This folder is the pure part, with no I/O: [`profile`] turns a scan
//! result into an input vector in a fixed, versioned symbol order;
//! [`train`] fits a [`Net`] to labelled vectors; [`net`] applies it and
//! reads and writes it as bytes.
pub mod error;
pub mod net;
pub mod profile;
pub mod train;

pub use error::NeuralError;
pub use net::Net;
pub use profile::Profile;
pub use train::{train, train_from, Sample, TrainParams};

#[cfg(test)]
mod tests;
