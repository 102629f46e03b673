//! `--neural`: the neural module's network in the cross-validation. A
//! network is trained on the training folds' symbol vectors (every message
//! learned with its label, as `sluice learn` feeds the module) and applied
//! to the test fold. Its output becomes the value of `NEURAL_SPAM` (output
//! above 0) or `NEURAL_HAM` (below 0), as the module inserts them; Rspamd
//! ships both at weight 0, so their weights are fitted like the others
//! (`NEURAL_SPAM >= 0`, `NEURAL_HAM <= 0`), on outputs the network gave
//! messages it was not trained on.
use super::samples::{Sample, SymbolTable};
use crate::scan::neural::{self, Net, NeuralError, Profile, TrainParams};

pub const SPAM_SYMBOL: &str = "NEURAL_SPAM";
pub const HAM_SYMBOL: &str = "NEURAL_HAM";

/// The two symbols' indices in the table (added when the config lacks them).
pub fn symbols(table: &mut SymbolTable) -> [usize; 2] {
    [SPAM_SYMBOL, HAM_SYMBOL].map(|n| {
        table
            .find(n)
            .unwrap_or_else(|| table.add(n, 0.0, Some("neural".into())))
    })
}

/// The profile: every known symbol but the module's own and GTUBE.
pub fn profile(table: &SymbolTable) -> Profile {
    Profile::new(
        table
            .names
            .iter()
            .filter(|n| !matches!(n.as_str(), SPAM_SYMBOL | HAM_SYMBOL | "GTUBE"))
            .cloned(),
    )
}

/// The input vector of a sample, its symbols scored under `weights` (the
/// weights the scan ran with: what the module would have seen).
fn inputs(profile: &Profile, table: &SymbolTable, s: &Sample, weights: &[f64]) -> Vec<f32> {
    profile.inputs(
        s.values
            .iter()
            .map(|&(i, v)| (table.names[i].as_str(), weights[i] * v)),
    )
}

/// Trains a network on `train`.
pub fn train(
    profile: &Profile,
    table: &SymbolTable,
    train: &[&Sample],
    weights: &[f64],
) -> Result<Net, NeuralError> {
    let samples: Vec<neural::Sample> = train
        .iter()
        .map(|s| neural::Sample {
            inputs: inputs(profile, table, s, weights),
            spam: s.spam,
        })
        .collect();
    neural::train(&samples, &TrainParams::default())
}

/// `s` with the network's answer added as `NEURAL_SPAM` or `NEURAL_HAM`.
pub fn with_output(
    net: &Net,
    profile: &Profile,
    table: &SymbolTable,
    s: &Sample,
    weights: &[f64],
    ids: [usize; 2],
) -> Sample {
    let out = f64::from(net.apply(&inputs(profile, table, s, weights)));
    let mut s = s.clone();
    if out > 0.0 {
        s.values.push((ids[0], out));
    } else if out < 0.0 {
        s.values.push((ids[1], -out));
    }
    s
}
