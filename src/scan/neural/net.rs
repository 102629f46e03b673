//! The network: inputs -> one hidden layer (tanh) -> one output (tanh).
//!
//! The output lies in (-1, 1): positive means spam, negative ham, as
//! Rspamd's networks answer (they are trained towards +1 for spam and -1
//! for ham). Inputs are mostly zero (a message gets a few symbols out of
//! all of them), so [`Net::apply`] only visits the weights of the inputs
//! that are set.

use super::error::NeuralError;

/// The version of the byte layout written by [`Net::to_bytes`]; a stored
/// network of another version is refused rather than misread.
pub const FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8; 4] = b"SLNN";

/// A trained network. Weights are plain data: clone it, share it behind an
/// `Arc`, store its [`Net::to_bytes`].
#[derive(Debug, Clone, PartialEq)]
pub struct Net {
    pub(super) n_in: usize,
    pub(super) n_hidden: usize,
    /// Input-major: the weights from input `i` are
    /// `w1[i * n_hidden..(i + 1) * n_hidden]`, so a set input is one slice.
    pub(super) w1: Vec<f32>,
    pub(super) b1: Vec<f32>,
    pub(super) w2: Vec<f32>,
    pub(super) b2: f32,
}

impl Net {
    /// A network of the given shape with every weight zero (training
    /// replaces them; see [`super::train`]).
    pub(super) fn zeros(n_in: usize, n_hidden: usize) -> Net {
        Net {
            n_in,
            n_hidden,
            w1: vec![0.0; n_in * n_hidden],
            b1: vec![0.0; n_hidden],
            w2: vec![0.0; n_hidden],
            b2: 0.0,
        }
    }

    /// How many inputs the network reads (the profile's symbol count).
    pub fn inputs(&self) -> usize {
        self.n_in
    }

    /// How many hidden units it has.
    pub fn hidden(&self) -> usize {
        self.n_hidden
    }

    /// The network's answer for one input vector, in (-1, 1): above zero
    /// spam, below zero ham. Inputs past [`Net::inputs`] are ignored and
    /// missing ones count as zero; the profile builds vectors of the right
    /// width, so neither happens in use.
    pub fn apply(&self, inputs: &[f32]) -> f32 {
        let mut hidden = self.b1.clone();
        self.hidden_into(inputs, &mut hidden);
        self.output(&hidden)
    }

    /// Fills `hidden` (already holding the biases) with the hidden layer's
    /// activations.
    pub(super) fn hidden_into(&self, inputs: &[f32], hidden: &mut [f32]) {
        for (i, &x) in inputs.iter().enumerate().take(self.n_in) {
            if x == 0.0 {
                continue;
            }
            let row = &self.w1[i * self.n_hidden..(i + 1) * self.n_hidden];
            for (h, w) in hidden.iter_mut().zip(row) {
                *h += x * w;
            }
        }
        for h in hidden.iter_mut() {
            *h = h.tanh();
        }
    }

    /// The output unit over the hidden activations.
    pub(super) fn output(&self, hidden: &[f32]) -> f32 {
        let z: f32 = self.b2 + hidden.iter().zip(&self.w2).map(|(h, w)| h * w).sum::<f32>();
        z.tanh()
    }

    /// The network as bytes: a magic tag, [`FORMAT_VERSION`], the shape,
    /// then every weight as little-endian `f32`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let floats = self.w1.len() + self.b1.len() + self.w2.len() + 1;
        let mut out = Vec::with_capacity(16 + 4 * floats);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&len_u32(self.n_in).to_le_bytes());
        out.extend_from_slice(&len_u32(self.n_hidden).to_le_bytes());
        for v in self.w1.iter().chain(&self.b1).chain(&self.w2) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.b2.to_le_bytes());
        out
    }

    /// Reads [`Net::to_bytes`] back; anything else (truncated, another
    /// format version, a weight that is not a finite number) is an error,
    /// never a network that answers nonsense.
    pub fn from_bytes(bytes: &[u8]) -> Result<Net, NeuralError> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err(NeuralError::Corrupt("not a network (bad magic)"));
        }
        let version = r.u32()?;
        if version != FORMAT_VERSION {
            return Err(NeuralError::FormatVersion(version));
        }
        let n_in = r.u32()? as usize;
        let n_hidden = r.u32()? as usize;
        let want = n_in
            .checked_mul(n_hidden)
            .and_then(|w1| w1.checked_add(2 * n_hidden + 1))
            .and_then(|n| n.checked_mul(4))
            .ok_or(NeuralError::Corrupt("shape overflows"))?;
        if r.0.len() != want {
            return Err(NeuralError::Corrupt("length does not match the shape"));
        }
        let mut net = Net::zeros(n_in, n_hidden);
        for v in net
            .w1
            .iter_mut()
            .chain(net.b1.iter_mut())
            .chain(net.w2.iter_mut())
        {
            *v = r.f32()?;
        }
        net.b2 = r.f32()?;
        Ok(net)
    }
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).expect("a network's shape fits in u32")
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], NeuralError> {
        if self.0.len() < n {
            return Err(NeuralError::Corrupt("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, NeuralError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f32(&mut self) -> Result<f32, NeuralError> {
        let v = f32::from_bits(self.u32()?);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(NeuralError::Corrupt("a weight is not a finite number"))
        }
    }
}
