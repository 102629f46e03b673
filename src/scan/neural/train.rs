//! Training: mini-batches, the binary cross-entropy of Rspamd's networks
//! (targets +1 spam, -1 ham through a tanh output), and Adam.
//!
//! Inputs are sparse, so a batch only touches the first-layer rows of the
//! inputs its samples set; those rows alone are updated ("lazy" Adam).
//! Everything random (initial weights, the order of samples) comes from one
//! seeded generator: the same samples, parameters and seed give the same
//! network.

use super::error::NeuralError;
use super::net::Net;

/// Samples between two calls of the pacing hook: a slice of work short
/// next to a scan, whatever the batch size.
pub const PACE_EVERY: usize = 8;

/// One labelled input vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub inputs: Vec<f32>,
    pub spam: bool,
}

/// How to train. [`Default`] is Rspamd 3.4's `train` block (learning rate,
/// iterations) and its `hidden_layer_mult`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainParams {
    /// Adam's step size (`train.learning_rate`).
    pub learning_rate: f32,
    /// Passes over the samples (`train.max_iterations`).
    pub max_iterations: u32,
    /// Hidden units per input (`hidden_layer_mult`): `floor(n * mult + 1)`.
    pub hidden_layer_mult: f32,
    /// Samples per update.
    pub batch_size: usize,
    pub seed: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            learning_rate: 0.01,
            max_iterations: 25,
            hidden_layer_mult: 1.5,
            batch_size: 64,
            seed: 0,
        }
    }
}

/// Trains a new network on `samples` (all of the same width, both classes
/// present).
pub fn train(samples: &[Sample], params: &TrainParams) -> Result<Net, NeuralError> {
    train_paced(samples, params, &mut || {})
}

/// [`train`], calling `pace` before every [`PACE_EVERY`] samples of a
/// mini-batch: the daemon's training thread waits there so that it never
/// holds the CPU long while scans need it. Pacing changes when the work is
/// done, never the result.
pub fn train_paced(
    samples: &[Sample],
    params: &TrainParams,
    pace: &mut dyn FnMut(),
) -> Result<Net, NeuralError> {
    let n_in = check(samples, None)?;
    let n_hidden = hidden_units(n_in, params.hidden_layer_mult);
    let mut rng = fastrand::Rng::with_seed(params.seed);
    let net = init(n_in, n_hidden, mean_set_inputs(samples), &mut rng);
    fit(net, samples, params, &mut rng, pace)
}

/// Trains `net` further on `samples` (fine-tuning a network on new mail;
/// the module itself starts a new network each run, as Rspamd does).
pub fn train_from(net: Net, samples: &[Sample], params: &TrainParams) -> Result<Net, NeuralError> {
    check(samples, Some(net.n_in))?;
    let mut rng = fastrand::Rng::with_seed(params.seed);
    fit(net, samples, params, &mut rng, &mut || {})
}

/// The hidden layer's size for `n_in` inputs, as Rspamd sizes it.
pub fn hidden_units(n_in: usize, mult: f32) -> usize {
    #[allow(clippy::cast_precision_loss)]
    let n = n_in as f32 * mult.max(0.0) + 1.0;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let h = n.floor() as usize;
    h.max(1)
}

/// The input width shared by every sample; both classes must be present.
fn check(samples: &[Sample], width: Option<usize>) -> Result<usize, NeuralError> {
    let first = samples.first().ok_or(NeuralError::NoSamples)?;
    let want = width.unwrap_or(first.inputs.len());
    if let Some((index, s)) = samples
        .iter()
        .enumerate()
        .find(|(_, s)| s.inputs.len() != want)
    {
        return Err(NeuralError::InputWidth {
            index,
            got: s.inputs.len(),
            want,
        });
    }
    let spam = samples.iter().filter(|s| s.spam).count();
    let ham = samples.len() - spam;
    if spam == 0 || ham == 0 {
        return Err(NeuralError::OneClass { spam, ham });
    }
    Ok(want)
}

/// How many inputs a sample sets on average: the fan-in the first layer
/// really sees, which scales its initial weights.
fn mean_set_inputs(samples: &[Sample]) -> f32 {
    let set: usize = samples
        .iter()
        .map(|s| s.inputs.iter().filter(|x| **x != 0.0).count())
        .sum();
    #[allow(clippy::cast_precision_loss)]
    let mean = set as f32 / samples.len() as f32;
    mean.max(1.0)
}

/// Glorot-uniform weights, zero biases.
fn init(n_in: usize, n_hidden: usize, fan_in: f32, rng: &mut fastrand::Rng) -> Net {
    let mut net = Net::zeros(n_in, n_hidden);
    #[allow(clippy::cast_precision_loss)]
    let h = n_hidden as f32;
    let a1 = (6.0 / (fan_in + h)).sqrt();
    let a2 = (6.0 / (h + 1.0)).sqrt();
    for w in &mut net.w1 {
        *w = (rng.f32() * 2.0 - 1.0) * a1;
    }
    for w in &mut net.w2 {
        *w = (rng.f32() * 2.0 - 1.0) * a2;
    }
    net
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPSILON: f32 = 1e-8;

/// Adam's state for one parameter array.
struct Moments {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Moments {
    fn new(n: usize) -> Moments {
        Moments {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// One Adam step on `w[range]` from the gradient `g[range]` (a batch's
    /// sum, times `scale` for its mean), which it then clears.
    fn step(
        &mut self,
        w: &mut [f32],
        g: &mut [f32],
        range: std::ops::Range<usize>,
        (lr_t, scale): (f32, f32),
    ) {
        for i in range {
            let gi = g[i] * scale;
            g[i] = 0.0;
            self.m[i] = BETA1 * self.m[i] + (1.0 - BETA1) * gi;
            self.v[i] = BETA2 * self.v[i] + (1.0 - BETA2) * gi * gi;
            w[i] -= lr_t * self.m[i] / (self.v[i].sqrt() + EPSILON);
        }
    }
}

/// Gradients of one batch, and which first-layer rows it touched.
struct Grads {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    touched: Vec<bool>,
    rows: Vec<usize>,
    /// The current sample's gradient at the hidden pre-activations.
    delta: Vec<f32>,
}

fn fit(
    mut net: Net,
    samples: &[Sample],
    params: &TrainParams,
    rng: &mut fastrand::Rng,
    pace: &mut dyn FnMut(),
) -> Result<Net, NeuralError> {
    let (n_in, n_hidden) = (net.n_in, net.n_hidden);
    let mut mw1 = Moments::new(n_in * n_hidden);
    let mut mb1 = Moments::new(n_hidden);
    let mut mw2 = Moments::new(n_hidden);
    let mut mb2 = Moments::new(1);
    let mut g = Grads {
        w1: vec![0.0; n_in * n_hidden],
        b1: vec![0.0; n_hidden],
        w2: vec![0.0; n_hidden],
        b2: vec![0.0; 1],
        touched: vec![false; n_in],
        rows: Vec::new(),
        delta: vec![0.0; n_hidden],
    };
    let mut hidden = vec![0.0; n_hidden];
    let mut order: Vec<usize> = (0..samples.len()).collect();
    let batch = params.batch_size.max(1);
    let mut t: i32 = 0;
    for _ in 0..params.max_iterations {
        rng.shuffle(&mut order);
        let mut cost = 0.0f64;
        for chunk in order.chunks(batch) {
            for (n, &k) in chunk.iter().enumerate() {
                if n % PACE_EVERY == 0 {
                    pace();
                }
                cost += f64::from(backprop(&net, &samples[k], &mut hidden, &mut g));
            }
            t = t.saturating_add(1);
            #[allow(clippy::cast_precision_loss)]
            let scale = 1.0 / chunk.len() as f32;
            let lr_t = params.learning_rate * (1.0 - BETA2.powi(t)).sqrt() / (1.0 - BETA1.powi(t));
            let step = (lr_t, scale);
            for &i in &g.rows {
                mw1.step(
                    &mut net.w1,
                    &mut g.w1,
                    i * n_hidden..(i + 1) * n_hidden,
                    step,
                );
                g.touched[i] = false;
            }
            g.rows.clear();
            mb1.step(&mut net.b1, &mut g.b1, 0..n_hidden, step);
            mw2.step(&mut net.w2, &mut g.w2, 0..n_hidden, step);
            let mut b2 = [net.b2];
            mb2.step(&mut b2, &mut g.b2, 0..1, step);
            net.b2 = b2[0];
        }
        if !cost.is_finite() {
            return Err(NeuralError::Diverged);
        }
    }
    Ok(net)
}

/// Adds one sample's gradient to `g`; returns its cost.
fn backprop(net: &Net, s: &Sample, hidden: &mut [f32], g: &mut Grads) -> f32 {
    hidden.copy_from_slice(&net.b1);
    net.hidden_into(&s.inputs, hidden);
    let y = net.output(hidden);
    let target = if s.spam { 1.0 } else { -1.0 };
    // Cross-entropy of p = (1 + y) / 2 against (1 + target) / 2; its
    // gradient at the output's pre-activation is simply y - target.
    let dz = y - target;
    g.b2[0] += dz;
    for (h, &a) in hidden.iter().enumerate() {
        g.w2[h] += dz * a;
        let d = dz * net.w2[h] * (1.0 - a * a);
        g.delta[h] = d;
        g.b1[h] += d;
    }
    let n_hidden = net.n_hidden;
    for (i, &x) in s.inputs.iter().enumerate() {
        if x == 0.0 {
            continue;
        }
        if !g.touched[i] {
            g.touched[i] = true;
            g.rows.push(i);
        }
        let row = &mut g.w1[i * n_hidden..(i + 1) * n_hidden];
        for (gw, d) in row.iter_mut().zip(&g.delta) {
            *gw += x * d;
        }
    }
    let p = ((1.0 + y) / 2.0).clamp(1e-7, 1.0 - 1e-7);
    if s.spam {
        -p.ln()
    } else {
        -(1.0 - p).ln()
    }
}
