//! Rspamd's `neural` module: a small network over the symbols a message
//! got, trained on the site's own mail, that adds `NEURAL_SPAM` or
//! `NEURAL_HAM`.
//!
//! The pure part, with no I/O: [`profile`] turns a scan result into an
//! input vector in a fixed, versioned symbol order; [`train`] fits a
//! [`Net`] to labelled vectors; [`net`] applies it and reads and writes it
//! as bytes.
//!
//! The module around it: [`config`] reads the `neural` section; [`module`]
//! applies the networks in the scan and picks autolearn's vectors;
//! [`worker`] stores them, trains off the scan path and swaps the new
//! network in, [`pace`] keeping its runs out of the scans' way; [`store`] keeps vectors and networks in the embedded store
//! or Redis.
pub mod config;
pub mod error;
pub mod module;
pub mod net;
pub mod pace;
pub mod profile;
pub mod store;
pub mod train;
pub mod worker;

pub use error::{NeuralError, NeuralStoreError};
pub use module::{Learn, Neural, NeuralRules};
pub use net::Net;
pub use profile::Profile;
pub use store::AnnStore;
pub use train::{train, train_from, train_paced, Sample, TrainParams};

use crate::config::rules::ScanConfig;
use crate::scan::symbols::{Registry, RuleDefaults};

/// Defines each rule's symbols with Rspamd's weights (zero: the admin
/// gives them weight in `local.d/neural_group.conf`, as with Rspamd);
/// returns their registry indices, spam then ham, per rule.
pub fn define_symbols(
    cfg: &ScanConfig,
    registry: &mut Registry,
    rules: &[config::RuleConfig],
) -> Vec<[usize; 2]> {
    rules
        .iter()
        .map(|r| {
            let spam = RuleDefaults {
                score: Some(0.0),
                description: Some("Neural network SPAM"),
                group: Some("neural"),
                ..Default::default()
            };
            let ham = RuleDefaults {
                description: Some("Neural network HAM"),
                ..spam.clone()
            };
            [
                registry.define(cfg, &r.symbol_spam, spam),
                registry.define(cfg, &r.symbol_ham, ham),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_module;
