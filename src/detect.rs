//! Spike detection on counts per time bucket: pure functions and a small state machine, no I/O.
//!
//! One [`CountSpikeDetector`] per series (a brand's negative mentions per 5-minute bucket). It
//! is online and causal: the decision for a bucket uses only that bucket and earlier ones, and
//! the state learns from a bucket only after deciding on it.
//!
//! - **Expected count**: a level (a slow average of the deseasonalised count, half-life 3 days)
//!   times an hour-of-day profile (a week of memory). Both learn from winsorised counts, so a
//!   spike barely moves them while lasting drift (slow growth) is absorbed.
//! - **Test**: the sums of the last 30 minutes and 2 hours against their expectations, with a
//!   negative binomial upper tail (counts of 0-3 are common; a Gaussian z-score would be
//!   meaningless there) whose dispersion is estimated online per window length; the two
//!   p-values are Bonferroni-combined.
//! - **Negative share**: when the total volume of mentions is given, the expectation of a
//!   window is at least the learned negative share times the window's actual total, so a
//!   launch that doubles the volume at a stable share is not an incident, while a complaint
//!   wave during a launch still is.
//! - **Alert** when the p-value is below `alpha`, the surprise (-ln p) is at least half the
//!   largest surprise of the last weeks (a self-calibrating bar: a series used to bot bursts
//!   needs more to alert), the window exceeds its expectation by `min_excess` mentions, and the
//!   first day of warm-up is over. **One alert per episode**; the episode ends after an hour
//!   without significance ("back to normal") or after two days.
//!
//! Every decision carries its explanation: observed and expected counts, the window, the
//! p-value and the threshold in force. Defaults and their reasons: `BENCHMARKS.md` ("Spike
//! detection") and [`DetectorParams`].

use serde::Serialize;

/// Parameters of the detector; the defaults are what `mentiond detect` and the daemon use.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorParams {
    pub bucket_seconds: i64,
    /// Slots of the hour-of-day profile.
    pub season_slots: usize,
    /// Memory of the profile, in days.
    pub season_days: f64,
    /// Pseudo-count pulling each slot towards the average until it has seen about this many
    /// mentions (protects sparse series from 0/0 profiles).
    pub season_prior: f64,
    /// Half-life of the level, in hours: slow enough not to absorb an event in its first
    /// hours, fast enough to absorb drift in a few days.
    pub level_halflife_hours: f64,
    /// The baseline learns from counts capped at expected + this many standard deviations.
    pub clip_sd: f64,
    /// Memory of the dispersion estimates, in days.
    pub dispersion_days: f64,
    /// Prior dispersion, weighted as this many buckets: conservative during warm-up.
    pub phi_prior: f64,
    pub phi_prior_buckets: f64,
    pub dispersion_clip_sd: f64,
    /// Window lengths tested, in buckets.
    pub scales: Vec<usize>,
    /// Alert when the combined p-value is below this...
    pub alpha: f64,
    /// ...and the surprise is at least `peak_gamma` times the decaying peak of past surprise
    /// (half-life in days)...
    pub peak_halflife_days: f64,
    pub peak_gamma: f64,
    /// ...and the window exceeds its expectation by at least this many mentions.
    pub min_excess: f64,
    /// No alert (and no learning of the peak) during the first buckets.
    pub warmup_buckets: u64,
    /// Back to normal after `end_buckets` buckets with p above `end_alpha`, or after
    /// `max_episode_buckets`.
    pub end_alpha: f64,
    pub end_buckets: u64,
    pub max_episode_buckets: u64,
    /// Prior negative share and its weight in mentions, for the share gate.
    pub share_prior: f64,
    pub share_prior_mentions: f64,
}

impl Default for DetectorParams {
    fn default() -> Self {
        DetectorParams {
            bucket_seconds: 300,
            season_slots: 24,
            season_days: 7.0,
            season_prior: 10.0,
            level_halflife_hours: 72.0,
            clip_sd: 3.0,
            dispersion_days: 7.0,
            phi_prior: 0.5,
            phi_prior_buckets: 288.0,
            dispersion_clip_sd: 3.0,
            scales: vec![6, 24],
            alpha: 1e-4,
            peak_halflife_days: 21.0,
            peak_gamma: 0.5,
            min_excess: 5.0,
            warmup_buckets: 288,
            end_alpha: 0.01,
            end_buckets: 12,
            max_episode_buckets: 576,
            share_prior: 0.15,
            share_prior_mentions: 50.0,
        }
    }
}

impl DetectorParams {
    /// Parameters for another bucket size: every duration keeps its length in time.
    pub fn with_bucket(mut self, seconds: i64) -> Self {
        let ratio = 300.0 / seconds.max(1) as f64;
        let scale = |b: f64| ((b * ratio).round() as u64).max(1);
        self.bucket_seconds = seconds.max(1);
        self.scales = self
            .scales
            .iter()
            .map(|k| scale(*k as f64) as usize)
            .collect();
        self.scales.dedup();
        self.warmup_buckets = scale(self.warmup_buckets as f64);
        self.end_buckets = scale(self.end_buckets as f64);
        self.max_episode_buckets = scale(self.max_episode_buckets as f64);
        self.phi_prior_buckets = scale(self.phi_prior_buckets).max(1) as f64;
        self
    }
}

/// What set the threshold of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdRule {
    /// The fixed floor: p < alpha.
    Alpha,
    /// The series' own recent peak of surprise.
    RecentPeak,
}

/// The detector's verdict on one bucket, with everything needed to explain it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Start of the bucket, seconds since the epoch.
    pub t: i64,
    /// The bucket's count (`None`: unknown, e.g. the collector was down).
    pub observed: Option<u64>,
    /// Expected count of this bucket.
    pub expected: f64,
    /// Bonferroni-adjusted tail probability of the most surprising window.
    pub p_value: f64,
    /// Length of that window in buckets, its observed sum and expected sum.
    pub window_buckets: usize,
    pub window_observed: f64,
    pub window_expected: f64,
    /// Total mentions in that window and the learned negative share, when totals are known.
    pub window_total: Option<f64>,
    pub negative_share: Option<f64>,
    /// Dispersion of the negative binomial used.
    pub phi: f64,
    /// The alert threshold in force, as a surprise in nats (-ln p), and what set it.
    pub z_threshold: f64,
    pub threshold_rule: ThresholdRule,
    /// 0..1: 0.5 exactly at the alert threshold.
    pub score: f64,
    pub alert: bool,
    pub normal_again: bool,
    pub in_episode: bool,
}

impl Decision {
    /// The threshold as a p-value.
    pub fn p_threshold(&self) -> f64 {
        (-self.z_threshold).exp()
    }

    /// Start of the tested window (seconds since the epoch).
    pub fn window_start(&self, bucket_seconds: i64) -> i64 {
        self.t - (self.window_buckets.max(1) as i64 - 1) * bucket_seconds
    }
}

/// An online detector for one series.
#[derive(Debug, Clone)]
pub struct CountSpikeDetector {
    p: DetectorParams,
    buckets_per_day: f64,
    n: u64,
    last_t: Option<i64>,
    level: Option<f64>,
    season_num: Vec<f64>,
    season_den: Vec<f64>,
    season_decay: f64,
    a_level: f64,
    a_disp_min: f64,
    kmax: usize,
    ring_x: Vec<f64>,
    ring_m: Vec<f64>,
    ring_total: Vec<f64>,
    ring_ok: Vec<bool>,
    pos: usize,
    phi1: f64,
    nphi1: f64,
    phi: Vec<f64>,
    nphi: Vec<f64>,
    peak: f64,
    peak_decay: f64,
    in_episode: bool,
    episode_len: u64,
    calm: u64,
    share_num: f64,
    share_den: f64,
}

/// Per-bucket rate of an exponential average with this half-life (in buckets).
fn halflife_rate(buckets: f64) -> f64 {
    1.0 - 0.5f64.powf(1.0 / buckets.max(1e-9))
}

impl CountSpikeDetector {
    pub fn new(p: DetectorParams) -> CountSpikeDetector {
        let bpd = 86_400.0 / p.bucket_seconds as f64;
        let kmax = p.scales.iter().copied().max().unwrap_or(1).max(1);
        let slots = p.season_slots.max(1);
        CountSpikeDetector {
            buckets_per_day: bpd,
            n: 0,
            last_t: None,
            level: None,
            season_num: vec![0.0; slots],
            season_den: vec![0.0; slots],
            season_decay: 1.0 - 1.0 / (bpd / slots as f64 * p.season_days),
            a_level: halflife_rate(p.level_halflife_hours * 3600.0 / p.bucket_seconds as f64),
            a_disp_min: 1.0 / (p.dispersion_days * bpd),
            kmax,
            ring_x: vec![0.0; kmax],
            ring_m: vec![0.0; kmax],
            ring_total: vec![0.0; kmax],
            ring_ok: vec![false; kmax],
            pos: 0,
            phi1: p.phi_prior,
            nphi1: 0.0,
            phi: vec![p.phi_prior; p.scales.len()],
            nphi: vec![0.0; p.scales.len()],
            peak: 0.0,
            peak_decay: if p.peak_halflife_days > 0.0 {
                0.5f64.powf(1.0 / (p.peak_halflife_days * bpd))
            } else {
                0.0
            },
            in_episode: false,
            episode_len: 0,
            calm: 0,
            share_num: 0.0,
            share_den: 0.0,
            p,
        }
    }

    pub fn params(&self) -> &DetectorParams {
        &self.p
    }

    pub fn in_episode(&self) -> bool {
        self.in_episode
    }

    /// Feeds bucket `t` (seconds since the epoch, a multiple of the bucket size) with its
    /// count `x` (`None`: unknown) and optionally the total volume of the same bucket.
    /// Buckets skipped since the last call count as zero mentions. Returns one decision per
    /// bucket processed; a bucket earlier than or equal to the last one is ignored.
    pub fn update(&mut self, t: i64, x: Option<u64>, total: Option<u64>) -> Vec<Decision> {
        let step = self.p.bucket_seconds;
        let mut out = Vec::new();
        if let Some(last) = self.last_t {
            if t <= last {
                return out;
            }
            // No rows means no mentions: the buckets in between are zeros.
            let gap = (t - last) / step - 1;
            for j in 1..=gap {
                out.extend(self.step(last + j * step, Some(0), total.map(|_| 0)));
            }
        }
        self.last_t = Some(t);
        out.extend(self.step(t, x, total));
        out
    }

    fn slot(&self, t: i64) -> usize {
        let slots = self.p.season_slots.max(1) as i64;
        ((t.rem_euclid(86_400) * slots) / 86_400) as usize
    }

    fn season(&self, h: usize) -> f64 {
        let k = self.p.season_prior;
        (self.season_num[h] + k) / (self.season_den[h] + k)
    }

    fn dispersion_step(&self, phi: f64, n: f64, s: f64, m: f64) -> f64 {
        let sd = (m + phi.max(0.0) * m * m).sqrt();
        let sc = s.min(m + self.p.dispersion_clip_sd * sd);
        let u = ((sc - m).powi(2) - m) / (m * m);
        let a = self.a_disp_min.max(1.0 / (n + self.p.phi_prior_buckets));
        phi + a * (u - phi)
    }

    fn share(&self) -> f64 {
        let prior = self.p.share_prior_mentions;
        (self.share_num + self.p.share_prior * prior) / (self.share_den + prior)
    }

    fn step(&mut self, t: i64, x: Option<u64>, total: Option<u64>) -> Option<Decision> {
        let h = self.slot(t);
        let s = self.season(h);
        let level = match self.level {
            Some(l) => l,
            None => {
                let x0 = x? as f64;
                self.level = Some(x0.max(0.5));
                x0.max(0.5)
            }
        };
        let mu = (level * s).max(1e-6);
        let sd1 = (mu + self.phi1.max(0.0) * mu * mu).sqrt();
        let xv = x.unwrap_or(0) as f64;
        let tv = total.map(|t| t as f64);
        let i = self.pos;
        self.ring_x[i] = xv;
        self.ring_m[i] = mu;
        self.ring_total[i] = tv.unwrap_or(0.0);
        self.ring_ok[i] = x.is_some();
        self.pos = (i + 1) % self.kmax;
        self.n += 1;
        let floor_z = (1.0 / self.p.alpha).ln();
        let mut d = Decision {
            t,
            observed: x,
            expected: mu,
            p_value: 1.0,
            window_buckets: 0,
            window_observed: 0.0,
            window_expected: 0.0,
            window_total: None,
            negative_share: None,
            phi: 0.0,
            z_threshold: floor_z,
            threshold_rule: ThresholdRule::Alpha,
            score: 0.0,
            alert: false,
            normal_again: false,
            in_episode: self.in_episode,
        };
        if x.is_none() {
            return Some(d);
        }
        let share = tv.map(|_| self.share());

        let mut best_p = 1.0;
        let mut best: Option<(usize, f64, f64, f64, Option<f64>)> = None;
        for (si, &k) in self.p.scales.iter().enumerate() {
            if (self.n as usize) < k {
                continue;
            }
            let (mut sum, mut exp, mut tot) = (0.0, 0.0, 0.0);
            for j in 1..=k {
                let idx = (self.pos + self.kmax - j) % self.kmax;
                if self.ring_ok[idx] {
                    sum += self.ring_x[idx];
                    exp += self.ring_m[idx];
                    tot += self.ring_total[idx];
                }
            }
            if exp <= 0.0 {
                continue;
            }
            // Given the volume actually seen, at least the usual share of it is negative.
            let tested = match share {
                Some(pi) => exp.max(pi * tot),
                None => exp,
            };
            let phi = self.phi[si].max(0.0);
            let sd = (tested + phi * tested * tested).sqrt();
            // The exact tail only where it can matter (p roughly below 0.2).
            let pk = if sum > tested + sd {
                nbinom_sf((sum - 1e-9).ceil() as u64, tested, phi)
            } else {
                1.0
            };
            if pk < best_p || best.is_none() {
                if pk < best_p {
                    best_p = pk;
                }
                best = Some((k, sum, tested, phi, share.map(|_| tot)));
            }
            self.nphi[si] += 1.0;
            // Learned against the expectation actually tested.
            self.phi[si] = self.dispersion_step(self.phi[si], self.nphi[si], sum, tested);
        }
        // The first day's errors (a baseline still learning the daily cycle) inflate the
        // dispersion: the detector starts conservative and sharpens over the first week.
        self.nphi1 += 1.0;
        self.phi1 = self.dispersion_step(self.phi1, self.nphi1, xv, mu);

        let p_adj = (best_p * self.p.scales.len() as f64).min(1.0);
        let z = -(p_adj.max(1e-300)).ln();
        let peak_z = self.p.peak_gamma * self.peak;
        let z_thr = floor_z.max(peak_z);
        d.p_value = p_adj;
        d.z_threshold = z_thr;
        d.threshold_rule = if peak_z > floor_z {
            ThresholdRule::RecentPeak
        } else {
            ThresholdRule::Alpha
        };
        d.score = (0.5 * z / z_thr).min(1.0);
        d.negative_share = share;
        if let Some((k, sum, exp, phi, tot)) = best {
            d.window_buckets = k;
            d.window_observed = sum;
            d.window_expected = exp;
            d.phi = phi;
            d.window_total = tot;
        }

        if self.in_episode {
            self.episode_len += 1;
            self.calm = if p_adj > self.p.end_alpha {
                self.calm + 1
            } else {
                0
            };
            if self.calm >= self.p.end_buckets || self.episode_len >= self.p.max_episode_buckets {
                self.in_episode = false;
                d.normal_again = true;
            }
        } else if self.n > self.p.warmup_buckets
            && best.is_some()
            && z > z_thr
            && d.window_observed - d.window_expected >= self.p.min_excess
        {
            d.alert = true;
            self.in_episode = true;
            self.episode_len = 0;
            self.calm = 0;
        }
        d.in_episode = self.in_episode;

        // Learning, after the decision.
        if self.n > self.p.warmup_buckets && self.peak_decay > 0.0 {
            self.peak = (self.peak * self.peak_decay).max(z);
        }
        let xc = xv.min(mu + self.p.clip_sd * sd1);
        let mut level = level + self.a_level * (xc / s - level);
        level = level.max(1e-3);
        self.level = Some(level);
        self.season_num[h] = self.season_num[h] * self.season_decay + xc;
        self.season_den[h] = self.season_den[h] * self.season_decay + level;
        if let Some(tv) = tv {
            // The share learns from ordinary buckets only, and from capped counts.
            if !self.in_episode {
                let keep = 1.0 - self.a_level;
                self.share_num = self.share_num * keep + xc.min(tv);
                self.share_den = self.share_den * keep + tv;
            }
        }
        Some(d)
    }

    pub fn buckets_per_day(&self) -> f64 {
        self.buckets_per_day
    }
}

// ---------------------------------------------------------------- tail probabilities

const EPS: f64 = 1e-15;
const FPMIN: f64 = 1e-300;
const MAXIT: usize = 500;

fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// Regularised lower incomplete gamma P(a, x).
fn gamma_p(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let gln = ln_gamma(a);
    if x < a + 1.0 {
        let mut ap = a;
        let mut sum = 1.0 / a;
        let mut del = sum;
        for _ in 0..MAXIT {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * EPS {
                break;
            }
        }
        return sum * (-x + a * x.ln() - gln).exp();
    }
    // Continued fraction for Q(a, x) (modified Lentz).
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / FPMIN;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..MAXIT {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < FPMIN {
            d = FPMIN;
        }
        c = b + an / c;
        if c.abs() < FPMIN {
            c = FPMIN;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    1.0 - (-x + a * x.ln() - gln).exp() * h
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < FPMIN {
        d = FPMIN;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..MAXIT {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < FPMIN {
            d = FPMIN;
        }
        c = 1.0 + aa / c;
        if c.abs() < FPMIN {
            c = FPMIN;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < FPMIN {
            d = FPMIN;
        }
        c = 1.0 + aa / c;
        if c.abs() < FPMIN {
            c = FPMIN;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// Regularised incomplete beta I_x(a, b).
fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let lbt = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (-x).ln_1p();
    if x < (a + 1.0) / (a + b + 2.0) {
        lbt.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - lbt.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

/// P(X >= x) for X ~ Poisson(m).
pub fn poisson_sf(x: u64, m: f64) -> f64 {
    if x == 0 {
        return 1.0;
    }
    if m <= 0.0 {
        return 0.0;
    }
    gamma_p(x as f64, m)
}

/// P(X >= x) for a negative binomial with mean `m` and variance `m + phi m²` (Poisson as
/// phi goes to 0).
pub fn nbinom_sf(x: u64, m: f64, phi: f64) -> f64 {
    if x == 0 {
        return 1.0;
    }
    if m <= 0.0 {
        return 0.0;
    }
    if phi <= 1e-8 {
        return poisson_sf(x, m);
    }
    let r = 1.0 / phi;
    let q = m / (r + m);
    beta_inc(x as f64, r, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        ((a - b) / b).abs() < rel
    }

    #[test]
    fn tails_match_known_values() {
        // P(Poisson(2) >= 5) = 1 - sum_{k<5} e^-2 2^k/k!
        let exact: f64 = 1.0
            - (0..5)
                .map(|k| (-2f64).exp() * 2f64.powi(k) / (1..=k).map(f64::from).product::<f64>())
                .sum::<f64>();
        assert!(
            close(poisson_sf(5, 2.0), exact, 1e-9),
            "{} vs {exact}",
            poisson_sf(5, 2.0)
        );
        assert_eq!(poisson_sf(0, 3.0), 1.0);
        // NB(r=2, mean 2): P(X=k) = C(k+1, k) (1/2)^2 (1/2)^k = (k+1)/2^(k+2)
        let exact: f64 = 1.0
            - (0..3)
                .map(|k| (k as f64 + 1.0) / 2f64.powi(k + 2))
                .sum::<f64>();
        assert!(
            close(nbinom_sf(3, 2.0, 0.5), exact, 1e-9),
            "{} vs {exact}",
            nbinom_sf(3, 2.0, 0.5)
        );
        // Far tails keep their precision (no 1 - cdf cancellation).
        let far = nbinom_sf(200, 5.0, 0.1);
        assert!(far > 0.0 && far < 1e-20, "{far}");
        assert!(close(
            nbinom_sf(30, 10.0, 1e-12),
            poisson_sf(30, 10.0),
            1e-12
        ));
    }

    /// A daily cycle (busier at noon UTC) of `base` mentions per bucket on average.
    fn daily(t: i64, base: f64) -> f64 {
        let hour = (t.rem_euclid(86_400)) as f64 / 3600.0;
        base * (1.0 + 0.8 * ((hour - 6.0) / 24.0 * std::f64::consts::TAU).sin())
    }

    /// Deterministic pseudo-Poisson counts (a tiny LCG, so the test needs no RNG crate).
    struct Counts(u64);
    impl Counts {
        fn next(&mut self, mean: f64) -> u64 {
            // Knuth's algorithm with a fixed-seed LCG.
            let l = (-mean).exp();
            let mut k = 0;
            let mut p = 1.0;
            loop {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                p *= (self.0 >> 11) as f64 / (1u64 << 53) as f64;
                if p <= l {
                    return k;
                }
                k += 1;
            }
        }
    }

    fn run(days: i64, mut count: impl FnMut(i64) -> (u64, Option<u64>)) -> Vec<Decision> {
        let mut d = CountSpikeDetector::new(DetectorParams::default());
        let mut out = Vec::new();
        for b in 0..days * 288 {
            let t = 1_772_323_200 + b * 300;
            let (x, total) = count(t);
            out.extend(d.update(t, Some(x), total));
        }
        out
    }

    #[test]
    fn seasonal_noise_does_not_alert() {
        for base in [0.3, 2.0, 20.0] {
            let mut rng = Counts(7);
            let alerts = run(21, |t| (rng.next(daily(t, base)), None))
                .iter()
                .filter(|d| d.alert)
                .count();
            assert!(
                alerts <= 1,
                "{alerts} alerts on pure noise at {base}/bucket"
            );
        }
    }

    #[test]
    fn a_spike_alerts_once_early_with_its_explanation() {
        let mut rng = Counts(11);
        let start = 1_772_323_200 + 10 * 86_400 + 14 * 3600;
        let out = run(14, |t| {
            let mean = daily(t, 2.0)
                + if (start..start + 3 * 3600).contains(&t) {
                    8.0
                } else {
                    0.0
                };
            (rng.next(mean), None)
        });
        let alerts: Vec<&Decision> = out.iter().filter(|d| d.alert).collect();
        assert_eq!(
            alerts.len(),
            1,
            "{:?}",
            alerts.iter().map(|d| d.t).collect::<Vec<_>>()
        );
        let a = alerts[0];
        assert!(
            a.t >= start && a.t <= start + 30 * 60,
            "alerted {} s after the start",
            a.t - start
        );
        assert!(a.window_observed > a.window_expected + 5.0);
        assert!(a.p_value < 1e-4 && a.p_value < a.p_threshold());
        let back = out
            .iter()
            .find(|d| d.normal_again && d.t > a.t)
            .expect("back to normal");
        assert!(
            back.t > start + 3 * 3600 && back.t < start + 8 * 3600,
            "{}",
            back.t - start
        );
    }

    #[test]
    fn low_counts_use_the_count_model() {
        // 0-3 mentions a bucket; a burst of 12 in half an hour is news, 3 in a bucket is not.
        let mut rng = Counts(3);
        let burst = 1_772_323_200 + 6 * 86_400 + 10 * 3600;
        let out = run(8, |t| {
            let x = rng.next(0.2);
            (
                if (burst..burst + 1800).contains(&t) {
                    x + 2
                } else {
                    x
                },
                None,
            )
        });
        let alerts: Vec<i64> = out.iter().filter(|d| d.alert).map(|d| d.t).collect();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(alerts[0] >= burst && alerts[0] < burst + 1800);
    }

    #[test]
    fn warm_up_and_slow_growth_stay_quiet() {
        let mut rng = Counts(5);
        // Doubling over 30 days.
        let out = run(30, |t| {
            let days = (t - 1_772_323_200) as f64 / 86_400.0;
            (rng.next(daily(t, 3.0) * (1.0 + days / 30.0)), None)
        });
        assert!(
            out.iter().take(288).all(|d| !d.alert),
            "no alert in the first day"
        );
        assert!(out.iter().filter(|d| d.alert).count() <= 1);
    }

    #[test]
    fn a_launch_that_doubles_volume_is_not_an_incident_but_a_complaint_wave_is() {
        let launch = 1_772_323_200 + 15 * 86_400 + 9 * 3600;
        let mut rng = Counts(9);
        let mut rng_total = Counts(10);
        // Volume triples at the launch; the share of negatives stays at 10%.
        let out = run(20, |t| {
            let boost = if t >= launch { 3.0 } else { 1.0 };
            let total = rng_total.next(daily(t, 20.0) * boost);
            let neg = rng.next(daily(t, 2.0) * boost);
            (neg, Some(total + neg))
        });
        assert_eq!(
            out.iter().filter(|d| d.alert && d.t >= launch).count(),
            0,
            "launch is not an incident"
        );
        // Without the totals the same negatives alert: the share gate is what keeps it quiet.
        let mut rng = Counts(9);
        let ungated = run(20, |t| {
            let boost = if t >= launch { 3.0 } else { 1.0 };
            (rng.next(daily(t, 2.0) * boost), None)
        });
        assert!(ungated.iter().any(|d| d.alert && d.t >= launch));
        // During the launch, a real complaint wave (negatives x4 at the same volume) alerts.
        let wave = launch + 2 * 86_400;
        let mut rng = Counts(9);
        let mut rng_total = Counts(10);
        let out = run(20, |t| {
            let boost = if t >= launch { 3.0 } else { 1.0 };
            let extra = if (wave..wave + 2 * 3600).contains(&t) {
                4.0
            } else {
                1.0
            };
            let total = rng_total.next(daily(t, 20.0) * boost);
            let neg = rng.next(daily(t, 2.0) * boost * extra);
            (neg, Some(total + neg))
        });
        let alerts: Vec<&Decision> = out.iter().filter(|d| d.alert && d.t >= launch).collect();
        assert_eq!(
            alerts.len(),
            1,
            "{:?}",
            alerts.iter().map(|d| d.t - launch).collect::<Vec<_>>()
        );
        assert!(alerts[0].t >= wave && alerts[0].negative_share.is_some());
    }

    #[test]
    fn gaps_are_zeros_and_late_buckets_are_ignored() {
        let mut d = CountSpikeDetector::new(DetectorParams::default());
        assert_eq!(d.update(0, Some(3), None).len(), 1);
        assert_eq!(
            d.update(900, Some(2), None).len(),
            3,
            "two empty buckets in between"
        );
        assert!(d.update(600, Some(9), None).is_empty());
    }

    #[test]
    fn bucket_size_scales_the_windows() {
        let p = DetectorParams::default().with_bucket(60);
        assert_eq!(p.scales, vec![30, 120]);
        assert_eq!(p.warmup_buckets, 1440);
        let p = DetectorParams::default().with_bucket(900);
        assert_eq!(p.scales, vec![2, 8]);
    }
}

/// `mentiond detect`: runs the detector with its defaults over a `timestamp,value` CSV (the
/// NAB format: `YYYY-MM-DD HH:MM:SS` or RFC 3339 timestamps, counts) and writes
/// `timestamp,value,anomaly_score,is_alert`, one row per input row.
pub fn detect_csv<R: std::io::Read, W: std::io::Write>(
    input: R,
    output: W,
    params: DetectorParams,
) -> Result<u64, DetectCsvError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut writer = csv::Writer::from_writer(output);
    writer.write_record(["timestamp", "value", "anomaly_score", "is_alert"])?;
    let mut detector = CountSpikeDetector::new(params.clone());
    let step = params.bucket_seconds;
    let mut rows = 0u64;
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = record?;
        let (ts, value) = match (record.get(0), record.get(1)) {
            (Some(t), Some(v)) => (t, v),
            _ => {
                return Err(DetectCsvError::Row {
                    line,
                    reason: "expected two columns: timestamp,value".into(),
                });
            }
        };
        let t = parse_timestamp(ts).ok_or_else(|| DetectCsvError::Row {
            line,
            reason: format!("unreadable timestamp {ts:?}"),
        })?;
        let x: f64 = value.parse().map_err(|_| DetectCsvError::Row {
            line,
            reason: format!("unreadable value {value:?}"),
        })?;
        if x.is_nan() || x < 0.0 {
            return Err(DetectCsvError::Row {
                line,
                reason: format!("counts cannot be negative: {value}"),
            });
        }
        let bucket = t.div_euclid(step) * step;
        let decisions = detector.update(bucket, Some(x.round() as u64), None);
        let (score, alert) = decisions
            .last()
            .map_or((0.0, false), |d| (d.score, d.alert));
        // A row that repeats a bucket scores what the bucket scored.
        writer.write_record([
            ts,
            value,
            &format!("{score:.6}"),
            if alert { "1" } else { "0" },
        ])?;
        rows += 1;
    }
    writer.flush().map_err(csv::Error::from)?;
    Ok(rows)
}

fn parse_timestamp(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp());
        }
    }
    None
}

#[derive(Debug, thiserror::Error)]
pub enum DetectCsvError {
    #[error("line {line}: {reason}")]
    Row { line: u64, reason: String },
    #[error(transparent)]
    Csv(#[from] csv::Error),
}
