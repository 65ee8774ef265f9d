//! The customer-voice model: a multinomial logistic regression over hashed features, its
//! weights stored in `data/sentiment/cx/model.bin` (made by `cargo run --release --example
//! train-sentiment`, see `tools/README.md`).
//!
//! File layout, little-endian: `MCXW`, version (u32), hash bits (u32), scale (f32), the three
//! class biases and the three decision offsets (f32 each), the number of stored rows (u32), then
//! per row its index (u32) and three weights as i16 multiples of `scale`. Rows not stored are 0.

use super::features::Sink;

/// Classes in the order of every weight row.
pub const CLASSES: [crate::mention::Label; 3] = [
    crate::mention::Label::Negative,
    crate::mention::Label::Neutral,
    crate::mention::Label::Positive,
];

const MAGIC: &[u8; 4] = b"MCXW";
const VERSION: u32 = 1;

/// Weights of one model, expanded to a dense table for lookups.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    bits: u32,
    table: Vec<[f32; 3]>,
    pub bias: [f32; 3],
    /// Added to the logits before the label is chosen (not to the probabilities).
    pub offsets: [f32; 3],
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not a mentiond customer-voice model (bad magic or version)")]
    Format,
    #[error("the model file is truncated")]
    Truncated,
    #[error("row index {0} is outside the table")]
    Index(u32),
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], ModelError> {
        if self.0.len() < N {
            return Err(ModelError::Truncated);
        }
        let (a, b) = self.0.split_at(N);
        self.0 = b;
        Ok(a.try_into().expect("length checked"))
    }
    fn u32(&mut self) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn f32(&mut self) -> Result<f32, ModelError> {
        Ok(f32::from_le_bytes(self.take()?))
    }
    fn i16(&mut self) -> Result<i16, ModelError> {
        Ok(i16::from_le_bytes(self.take()?))
    }
}

impl Model {
    /// A model with every weight 0.
    pub fn zeros(bits: u32) -> Model {
        Model {
            bits,
            table: vec![[0.0; 3]; 1 << bits],
            bias: [0.0; 3],
            offsets: [0.0; 3],
        }
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    pub fn index(&self, hash: u64) -> usize {
        (hash & ((1u64 << self.bits) - 1)) as usize
    }

    pub fn row(&self, index: usize) -> [f32; 3] {
        self.table[index]
    }

    pub fn set_row(&mut self, index: usize, w: [f32; 3]) {
        self.table[index] = w;
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        let mut r = Reader(bytes);
        if &r.take::<4>()? != MAGIC || r.u32()? != VERSION {
            return Err(ModelError::Format);
        }
        let bits = r.u32()?;
        if !(8..=24).contains(&bits) {
            return Err(ModelError::Format);
        }
        let scale = r.f32()?;
        let mut m = Model::zeros(bits);
        for k in 0..3 {
            m.bias[k] = r.f32()?;
        }
        for k in 0..3 {
            m.offsets[k] = r.f32()?;
        }
        let rows = r.u32()?;
        for _ in 0..rows {
            let i = r.u32()?;
            if i as usize >= m.table.len() {
                return Err(ModelError::Index(i));
            }
            let mut w = [0f32; 3];
            for x in &mut w {
                *x = f32::from(r.i16()?) * scale;
            }
            m.table[i as usize] = w;
        }
        if !r.0.is_empty() {
            return Err(ModelError::Format);
        }
        Ok(m)
    }

    /// The stored form; weights are rounded to multiples of max|w| / 32767.
    pub fn to_bytes(&self) -> Vec<u8> {
        let max = self
            .table
            .iter()
            .flatten()
            .fold(0f32, |m, w| m.max(w.abs()))
            .max(f32::MIN_POSITIVE);
        let scale = max / 32767.0;
        let quantise = |w: f32| (w / scale).round().clamp(-32767.0, 32767.0) as i16;
        let rows: Vec<(u32, [i16; 3])> = self
            .table
            .iter()
            .enumerate()
            .map(|(i, w)| (i as u32, w.map(quantise)))
            .filter(|(_, q)| q.iter().any(|x| *x != 0))
            .collect();
        let mut out = Vec::with_capacity(40 + rows.len() * 10);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.bits.to_le_bytes());
        out.extend_from_slice(&scale.to_le_bytes());
        for x in self.bias.iter().chain(&self.offsets) {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
        for (i, q) in rows {
            out.extend_from_slice(&i.to_le_bytes());
            for x in q {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out
    }

    /// Softmax probabilities of logits `z`.
    pub fn probabilities(z: [f32; 3]) -> [f32; 3] {
        let m = z[0].max(z[1]).max(z[2]);
        let e = z.map(|x| (x - m).exp());
        let s = e[0] + e[1] + e[2];
        e.map(|x| x / s)
    }

    /// The class chosen for logits `z`: the largest after the decision offsets.
    pub fn decide(&self, z: [f32; 3]) -> usize {
        let a = [
            z[0] + self.offsets[0],
            z[1] + self.offsets[1],
            z[2] + self.offsets[2],
        ];
        let mut best = 0;
        for k in 1..3 {
            if a[k] > a[best] {
                best = k;
            }
        }
        best
    }
}

/// Sums the weights of the features it receives into logits.
pub struct Logits<'m> {
    pub model: &'m Model,
    pub z: [f32; 3],
}

impl<'m> Logits<'m> {
    pub fn new(model: &'m Model) -> Logits<'m> {
        Logits {
            model,
            z: model.bias,
        }
    }
}

impl Sink for Logits<'_> {
    #[inline]
    fn feature(&mut self, hash: u64, value: f32, _: &dyn Fn() -> String) {
        let w = self.model.table[self.model.index(hash)];
        self.z[0] += value * w[0];
        self.z[1] += value * w[1];
        self.z[2] += value * w[2];
    }
}

/// Records each feature with its weights, for explanations.
pub struct Recorder<'m> {
    pub model: &'m Model,
    pub features: Vec<(String, f32, [f32; 3])>,
}

impl Sink for Recorder<'_> {
    fn feature(&mut self, hash: u64, value: f32, name: &dyn Fn() -> String) {
        let w = self.model.table[self.model.index(hash)];
        if w != [0.0; 3] {
            self.features.push((name(), value, w));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_bytes_within_the_quantisation_step() {
        let mut m = Model::zeros(8);
        m.set_row(3, [1.5, -0.25, 0.0]);
        m.set_row(200, [-3.0, 0.001, 2.0]);
        m.bias = [0.1, 0.2, -0.3];
        m.offsets = [0.4, 0.0, 0.0];
        let back = Model::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(back.bias, m.bias);
        assert_eq!(back.offsets, m.offsets);
        for i in [3usize, 200, 7] {
            for k in 0..3 {
                assert!((back.row(i)[k] - m.row(i)[k]).abs() <= 3.0 / 32767.0);
            }
        }
        assert!(matches!(
            Model::from_bytes(&m.to_bytes()[..30]),
            Err(ModelError::Truncated)
        ));
        assert!(matches!(
            Model::from_bytes(b"nope"),
            Err(ModelError::Format)
        ));
        assert!(matches!(
            Model::from_bytes(b"MC"),
            Err(ModelError::Truncated)
        ));
    }

    #[test]
    fn offsets_move_the_decision_not_the_probabilities() {
        let mut m = Model::zeros(8);
        assert_eq!(m.decide([0.0, 0.1, 0.0]), 1);
        m.offsets = [0.2, 0.0, 0.0];
        assert_eq!(m.decide([0.0, 0.1, 0.0]), 0);
        let p = Model::probabilities([0.0, 0.1, 0.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
