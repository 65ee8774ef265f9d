//! Training the customer-voice model: weighted multinomial logistic regression with an L2
//! penalty, minimised by L-BFGS over the whole training set at once. Single-threaded, no
//! randomness, a fixed number of iterations: the same data gives the same weights, bit for bit,
//! on every machine with IEEE arithmetic.

use super::model::Model;

/// One labelled text as features: `(table index, value)` pairs, its class (index into
/// [`super::model::CLASSES`]) and how much it counts.
#[derive(Debug, Clone)]
pub struct Example {
    pub features: Vec<(u32, f32)>,
    pub class: u8,
    pub weight: f32,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub bits: u32,
    /// Inverse regularisation strength, as scikit-learn's `C`: the penalty is ||w||² / (2C).
    pub c: f64,
    pub iterations: usize,
    /// Features seen in fewer training texts than this get no weight.
    pub min_count: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bits: 18,
            c: 0.5,
            iterations: 300,
            min_count: 2,
        }
    }
}

/// Drops the features of buckets seen in fewer than `min_count` examples (their weight stays 0)
/// and merges repeated indices within an example.
pub fn prune(examples: &mut [Example], bits: u32, min_count: u32) {
    let mut seen = vec![0u32; 1 << bits];
    for e in examples.iter_mut() {
        e.features.sort_by_key(|f| f.0);
        let mut merged: Vec<(u32, f32)> = Vec::with_capacity(e.features.len());
        for &(i, v) in &e.features {
            match merged.last_mut() {
                Some(last) if last.0 == i => last.1 += v,
                _ => merged.push((i, v)),
            }
        }
        e.features = merged;
        for &(i, _) in &e.features {
            seen[i as usize] += 1;
        }
    }
    for e in examples.iter_mut() {
        e.features.retain(|&(i, _)| seen[i as usize] >= min_count);
    }
}

/// Loss and gradient at `w` (table rows then the three biases).
fn loss_and_gradient(examples: &[Example], w: &[f64], c: f64, grad: &mut [f64]) -> f64 {
    let bias_at = w.len() - 3;
    let lambda = 1.0 / c;
    let mut loss = 0.0;
    for (g, x) in grad[..bias_at].iter_mut().zip(&w[..bias_at]) {
        *g = lambda * x;
        loss += 0.5 * lambda * x * x;
    }
    grad[bias_at..].iter_mut().for_each(|g| *g = 0.0);
    for e in examples {
        let mut z = [w[bias_at], w[bias_at + 1], w[bias_at + 2]];
        for &(i, v) in &e.features {
            let r = 3 * i as usize;
            for k in 0..3 {
                z[k] += f64::from(v) * w[r + k];
            }
        }
        let m = z[0].max(z[1]).max(z[2]);
        let s: f64 = z.iter().map(|x| (x - m).exp()).sum();
        let lse = m + s.ln();
        let y = e.class as usize;
        let sw = f64::from(e.weight);
        loss += sw * (lse - z[y]);
        let mut d = [0f64; 3];
        for k in 0..3 {
            d[k] = sw * ((z[k] - lse).exp() - if k == y { 1.0 } else { 0.0 });
        }
        for &(i, v) in &e.features {
            let r = 3 * i as usize;
            for k in 0..3 {
                grad[r + k] += f64::from(v) * d[k];
            }
        }
        for k in 0..3 {
            grad[bias_at + k] += d[k];
        }
    }
    loss
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Trains a model; `progress` hears each iteration's number and loss.
pub fn train(examples: &[Example], opts: &Options, mut progress: impl FnMut(usize, f64)) -> Model {
    let dim = 3 * (1usize << opts.bits) + 3;
    let mut w = vec![0f64; dim];
    let mut g = vec![0f64; dim];
    let mut f = loss_and_gradient(examples, &w, opts.c, &mut g);
    const M: usize = 8;
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho: Vec<f64> = Vec::new();
    let mut w_new = vec![0f64; dim];
    let mut g_new = vec![0f64; dim];
    for it in 0..opts.iterations {
        // Two-loop recursion: d = -H g.
        let mut q = g.clone();
        let mut alpha = vec![0f64; s_hist.len()];
        for j in (0..s_hist.len()).rev() {
            alpha[j] = rho[j] * dot(&s_hist[j], &q);
            for (qi, yi) in q.iter_mut().zip(&y_hist[j]) {
                *qi -= alpha[j] * yi;
            }
        }
        let gamma = match (s_hist.last(), y_hist.last()) {
            (Some(s), Some(y)) => dot(s, y) / dot(y, y),
            _ => 1.0 / dot(&g, &g).sqrt().max(1e-12),
        };
        q.iter_mut().for_each(|x| *x *= gamma);
        for j in 0..s_hist.len() {
            let beta = rho[j] * dot(&y_hist[j], &q);
            for (qi, si) in q.iter_mut().zip(&s_hist[j]) {
                *qi += si * (alpha[j] - beta);
            }
        }
        let d: Vec<f64> = q.iter().map(|x| -x).collect();
        let slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction: start the history afresh.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            continue;
        }
        // Backtracking line search (Armijo).
        let mut step = 1.0;
        let mut f_new;
        loop {
            for k in 0..dim {
                w_new[k] = w[k] + step * d[k];
            }
            f_new = loss_and_gradient(examples, &w_new, opts.c, &mut g_new);
            if f_new <= f + 1e-4 * step * slope || step < 1e-10 {
                break;
            }
            step *= 0.5;
        }
        let s: Vec<f64> = w_new.iter().zip(&w).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        std::mem::swap(&mut w, &mut w_new);
        std::mem::swap(&mut g, &mut g_new);
        let improvement = f - f_new;
        f = f_new;
        progress(it, f);
        if sy > 1e-12 {
            if s_hist.len() == M {
                s_hist.remove(0);
                y_hist.remove(0);
                rho.remove(0);
            }
            rho.push(1.0 / sy);
            s_hist.push(s);
            y_hist.push(y);
        }
        if improvement.abs() <= 1e-9 * f.abs().max(1.0) {
            break;
        }
    }
    let mut model = Model::zeros(opts.bits);
    for i in 0..(1usize << opts.bits) {
        let r = 3 * i;
        model.set_row(i, [w[r] as f32, w[r + 1] as f32, w[r + 2] as f32]);
    }
    let b = dim - 3;
    model.bias = [w[b] as f32, w[b + 1] as f32, w[b + 2] as f32];
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_toy_problem_deterministically() {
        let mk = |i: u32, class: u8| Example {
            features: vec![(i, 1.0), (9, 1.0)],
            class,
            weight: 1.0,
        };
        let data: Vec<Example> = (0..30)
            .map(|k| match k % 3 {
                0 => mk(1, 0),
                1 => mk(2, 1),
                _ => mk(3, 2),
            })
            .collect();
        let opts = Options {
            bits: 8,
            c: 10.0,
            iterations: 100,
            min_count: 1,
        };
        let a = train(&data, &opts, |_, _| {});
        let b = train(&data, &opts, |_, _| {});
        assert_eq!(a, b, "deterministic");
        for (feature, class) in [(1usize, 0usize), (2, 1), (3, 2)] {
            let (f, shared) = (a.row(feature), a.row(9));
            let z: [f32; 3] = std::array::from_fn(|k| a.bias[k] + f[k] + shared[k]);
            assert_eq!(a.decide(z), class);
        }
    }

    #[test]
    fn prune_merges_and_drops_rare_features() {
        let mut data = vec![
            Example {
                features: vec![(5, 1.0), (5, 1.0), (7, 1.0)],
                class: 0,
                weight: 1.0,
            },
            Example {
                features: vec![(5, 1.0)],
                class: 1,
                weight: 1.0,
            },
        ];
        prune(&mut data, 8, 2);
        assert_eq!(data[0].features, vec![(5, 2.0)]);
        assert_eq!(data[1].features, vec![(5, 1.0)]);
    }
}
