//! From stored mentions to alert e-mails: per brand, the negative-mention series is run through
//! the detector ([`crate::detect`]); an episode that is not yet notified becomes an alert, and
//! its e-mail goes into the outbox in the same transaction; an open alert whose episode is over
//! is resolved (with a "back to normal" notice when the rule asks for one).
//!
//! The detector is replayed over the last four weeks at every evaluation rather than kept in
//! memory: the decision is then the same after a restart, and mentions that arrive late (a
//! platform polled every 15 minutes, a backfill after downtime) land in their true buckets.
//!
//! [`backtest`] runs the same rules over a JSONL history with a simulated clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::config::{AlertRule, Config};
use crate::detect::{CountSpikeDetector, Decision, DetectorParams};
use crate::mention::{Label, ScoredMention, format_time};
use crate::notify::chart::{Bin, spike_chart};
use crate::notify::render::{self, AlertView, reach};
use crate::notify::{compose, message_id};
use crate::store::{BucketCount, MentionRow, NewAlert, NewMessage, Store, StoreError};

/// How much history the detector replays.
pub const HISTORY_DAYS: i64 = 28;
/// Posts shown in an alert.
pub const WORST_SHOWN: usize = 5;
/// Width of the chart's bins, in seconds.
const CHART_BIN: i64 = 1800;

/// The detector parameters of a rule.
pub fn params(rule: &AlertRule) -> DetectorParams {
    let mut p = DetectorParams::default().with_bucket(rule.bucket.as_secs() as i64);
    p.alpha = rule.sensitivity.alpha();
    p.min_excess = rule.min_negative as f64;
    p
}

/// A spike so large that quiet hours do not hold it: far below the threshold and at least
/// three times the expected count.
pub fn is_severe(d: &Decision, alpha: f64) -> bool {
    d.p_value < alpha * alpha && d.window_observed >= 3.0 * d.window_expected.max(1.0)
}

/// Feeds the buckets from `start` to `end` (inclusive, bucket starts) into a new detector;
/// buckets absent from `counts` have no mentions.
pub fn run_series(
    counts: &[BucketCount],
    start: i64,
    end: i64,
    params: &DetectorParams,
) -> (CountSpikeDetector, Vec<Decision>) {
    let step = params.bucket_seconds;
    let mut detector = CountSpikeDetector::new(params.clone());
    let by_t: BTreeMap<i64, &BucketCount> = counts.iter().map(|c| (c.t, c)).collect();
    let mut out = Vec::with_capacity(((end - start) / step + 1).max(0) as usize);
    let mut t = start;
    while t <= end {
        let (neg, total) = by_t.get(&t).map_or((0, 0), |c| (c.negative, c.total));
        out.extend(detector.update(t, Some(neg), Some(total)));
        t += step;
    }
    (detector, out)
}

/// The last 24 hours of decisions, in 30-minute bins, with the alert window highlighted.
pub fn chart_bins(decisions: &[Decision], until: i64, window: (i64, i64), bucket: i64) -> Vec<Bin> {
    let bin = CHART_BIN.max(bucket);
    let first = (until - 86_400).div_euclid(bin) * bin + bin;
    let mut bins: BTreeMap<i64, Bin> = BTreeMap::new();
    let mut t = first;
    while t <= until {
        bins.insert(
            t,
            Bin {
                t,
                observed: 0.0,
                expected: 0.0,
                highlight: false,
            },
        );
        t += bin;
    }
    for d in decisions.iter().filter(|d| d.t >= first && d.t <= until) {
        let k = d.t.div_euclid(bin) * bin;
        if let Some(b) = bins.get_mut(&k) {
            b.observed += d.observed.unwrap_or(0) as f64;
            b.expected += d.expected;
            if d.t + bucket > window.0 && d.t < window.1 {
                b.highlight = true;
            }
        }
    }
    bins.into_values().collect()
}

/// The most telling negative posts: the most negative first, weighted by reach.
pub fn worst(mut rows: Vec<(i64, MentionRow)>, n: usize) -> Vec<(i64, MentionRow)> {
    let weight = |m: &MentionRow| -m.compound.unwrap_or(0.0) * (1.0 + (1.0 + reach(m) as f64).ln());
    rows.sort_by(|a, b| weight(&b.1).total_cmp(&weight(&a.1)).then(a.0.cmp(&b.0)));
    rows.truncate(n);
    rows
}

fn ts(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

/// What one evaluation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Ids of the alerts fired.
    pub fired: Vec<i64>,
    pub resolved: Vec<i64>,
}

pub struct Evaluator {
    store: Arc<Store>,
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
}

impl Evaluator {
    pub fn new(store: Arc<Store>, config: Arc<Config>, clock: Arc<dyn Clock>) -> Evaluator {
        Evaluator {
            store,
            config,
            clock,
        }
    }

    /// Evaluates every brand's rule once.
    pub async fn evaluate_once(&self) -> Result<Evaluation, StoreError> {
        let mut out = Evaluation::default();
        if !self.config.alerts.enabled {
            return Ok(out);
        }
        let now = self.clock.now();
        for brand in &self.config.brands {
            let rule = self.config.alerts.rule(&brand.name);
            if !rule.enabled {
                continue;
            }
            if let Err(e) = self.evaluate_brand(&brand.name, rule, now, &mut out).await {
                warn!(brand = %brand.name, error = %e, "cannot evaluate the alert rule");
            }
        }
        Ok(out)
    }

    async fn evaluate_brand(
        &self,
        brand: &str,
        rule: &AlertRule,
        now: DateTime<Utc>,
        out: &mut Evaluation,
    ) -> Result<(), StoreError> {
        let p = params(rule);
        let step = p.bucket_seconds;
        let end = now.timestamp().div_euclid(step) * step;
        let start = end - HISTORY_DAYS * 86_400;
        let counts = self
            .store
            .bucket_counts(brand, ts(start), ts(end + step), step)
            .await?;
        let (detector, decisions) = run_series(&counts, start, end, &p);
        let last = self.store.last_alert(brand).await?;

        if let Some(open) = last.as_ref().filter(|a| a.state == "open") {
            if !detector.in_episode() {
                let message = if rule.back_to_normal {
                    let view = AlertView {
                        alert_id: open.id,
                        brand: brand.to_string(),
                        fired_at: parse(&open.fired_at),
                        window_start: parse(&open.window_start),
                        window_end: parse(&open.window_end),
                        observed: open.observed,
                        expected: open.expected,
                        p_value: open.p_value,
                        p_threshold: open.p_threshold,
                        threshold_rule: open.threshold_rule.clone(),
                        window_total: open.window_total,
                        usual_share: open.usual_share,
                        severe: open.severe,
                        worst: Vec::new(),
                        series: Vec::new(),
                        language: rule.language,
                        timezone: rule.timezone,
                        held_until: None,
                    };
                    let rendered = render::recovery(&view, now);
                    self.message("recovery", brand, open.id, rule, &rendered, now, now)
                } else {
                    None
                };
                self.store.resolve_alert(open.id, now, message).await?;
                info!(brand, alert = open.id, "back to normal");
                out.resolved.push(open.id);
            }
            return Ok(());
        }
        if !detector.in_episode() {
            return Ok(());
        }
        let Some(ai) = decisions.iter().rposition(|d| d.alert) else {
            return Ok(());
        };
        let crossed = &decisions[ai];
        // When the evaluation comes after the crossing (mentions that arrived late, a restart),
        // the e-mail shows the strongest evidence of the episode so far.
        let d = decisions[ai..]
            .iter()
            .filter(|d| d.observed.is_some())
            .max_by(|a, b| {
                (a.window_observed - a.window_expected)
                    .total_cmp(&(b.window_observed - b.window_expected))
            })
            .unwrap_or(crossed);
        if let Some(prev) = &last {
            if parse(&prev.fired_at) > now - crate::sources::retry::chrono_dur(rule.cooldown) {
                return Ok(());
            }
        }
        let window_start = d.window_start(step);
        let window_end = d.t + step;
        let severe = is_severe(d, p.alpha);
        let negatives = self
            .store
            .negative_mentions(brand, ts(window_start), ts(window_end), 500)
            .await?;
        let worst = worst(negatives, WORST_SHOWN);
        let bins = chart_bins(&decisions, end, (window_start, window_end), step);
        let held = crate::notify::sender::not_before(now, rule, severe);
        let alert = NewAlert {
            brand: brand.to_string(),
            fired_at: now,
            bucket_at: ts(crossed.t),
            window_start: ts(window_start),
            window_end: ts(window_end),
            observed: d.window_observed,
            expected: d.window_expected,
            p_value: d.p_value,
            p_threshold: d.p_threshold(),
            threshold_rule: serde_json::to_value(d.threshold_rule)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            window_total: d.window_total,
            usual_share: d.negative_share,
            severe,
            worst: worst.iter().map(|(id, _)| *id).collect(),
            details: serde_json::json!({ "series": bins }),
        };
        let view = AlertView {
            alert_id: 0,
            brand: brand.to_string(),
            fired_at: now,
            window_start: alert.window_start,
            window_end: alert.window_end,
            observed: alert.observed,
            expected: alert.expected,
            p_value: alert.p_value,
            p_threshold: alert.p_threshold,
            threshold_rule: alert.threshold_rule.clone(),
            window_total: alert.window_total,
            usual_share: alert.usual_share,
            severe,
            worst: worst.into_iter().map(|(_, m)| m).collect(),
            series: bins.clone(),
            language: rule.language,
            timezone: rule.timezone,
            held_until: (held > now).then_some(held),
        };
        let chart = spike_chart(&bins)
            .map_err(|e| warn!(error = %e, "cannot draw the alert chart"))
            .ok();
        let id = self
            .store
            .insert_alert(&alert, |id| {
                let mut view = view;
                view.alert_id = id;
                let rendered = render::alert(&view, chart);
                self.message("alert", brand, id, rule, &rendered, now, held)
            })
            .await?;
        info!(
            brand,
            alert = id,
            observed = alert.observed,
            expected = format!("{:.1}", alert.expected),
            p = format!("{:.1e}", alert.p_value),
            severe,
            "negative spike: alert fired"
        );
        out.fired.push(id);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn message(
        &self,
        kind: &'static str,
        brand: &str,
        id: i64,
        rule: &AlertRule,
        rendered: &render::Rendered,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> Option<NewMessage> {
        let from = &self.config.email.from;
        if rule.recipients.is_empty() {
            warn!(
                brand,
                "no recipient for alerts: set [email] to or [alerts] recipients"
            );
            return None;
        }
        let mid = message_id(&format!("{kind}-{id}"), now, from);
        match compose(
            from,
            &rule.recipients,
            rendered,
            &mid,
            now,
            rule.language.code(),
        ) {
            Ok(bytes) => Some(NewMessage {
                kind,
                brand: Some(brand.to_string()),
                message_id: mid,
                sender: from.clone(),
                recipients: rule.recipients.clone(),
                subject: rendered.subject.clone(),
                message: bytes,
                html: Some(rendered.html_with_data_images()),
                created_at: now,
                not_before,
            }),
            Err(e) => {
                warn!(brand, error = %e, "cannot compose the e-mail");
                None
            }
        }
    }
}

fn parse(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// An alert `mentiond backtest` would have fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestAlert {
    pub brand: String,
    /// When the alert would have been sent: the end of the bucket that crossed the threshold.
    pub fired_at: String,
    pub window_start: String,
    pub window_end: String,
    pub observed: f64,
    pub expected: f64,
    /// The detector's score (0.5 at the threshold, 1 at twice its surprise).
    pub score: f64,
    pub p_value: f64,
    pub severe: bool,
    /// `source:external_id` of the worst negative mentions of the window.
    pub worst: Vec<String>,
    /// When the episode was over, if it ended within the data.
    pub back_to_normal_at: Option<String>,
}

/// Replays scored mentions in time order through each brand's alert rule with a simulated
/// clock: the alerts a live daemon would have fired (cooldown included), oldest first.
pub fn backtest(config: &Config, mentions: &[ScoredMention]) -> Vec<BacktestAlert> {
    let mut out = Vec::new();
    for brand in &config.brands {
        let rule = config.alerts.rule(&brand.name);
        if !rule.enabled {
            continue;
        }
        let p = params(rule);
        let step = p.bucket_seconds;
        let mine: Vec<&ScoredMention> = mentions
            .iter()
            .filter(|m| m.brands.iter().any(|b| b == &brand.name))
            .collect();
        let Some(first) = mine.iter().map(|m| m.mention.created_at.timestamp()).min() else {
            continue;
        };
        let last = mine
            .iter()
            .map(|m| m.mention.created_at.timestamp())
            .max()
            .unwrap_or(first);
        let mut counts: BTreeMap<i64, BucketCount> = BTreeMap::new();
        for m in &mine {
            let t = m.mention.created_at.timestamp().div_euclid(step) * step;
            let c = counts.entry(t).or_insert(BucketCount {
                t,
                negative: 0,
                total: 0,
            });
            c.total += 1;
            if m.sentiment.is_some_and(|s| s.label == Label::Negative) {
                c.negative += 1;
            }
        }
        let counts: Vec<BucketCount> = counts.into_values().collect();
        let start = first.div_euclid(step) * step;
        let end = last.div_euclid(step) * step;
        let (_, decisions) = run_series(&counts, start, end, &p);
        let mut last_fired: Option<i64> = None;
        for (i, d) in decisions.iter().enumerate() {
            if !d.alert {
                continue;
            }
            let fired = d.t + step;
            if last_fired.is_some_and(|f| fired - f < rule.cooldown.as_secs() as i64) {
                continue;
            }
            last_fired = Some(fired);
            let (ws, we) = (d.window_start(step), d.t + step);
            let mut window: Vec<&&ScoredMention> = mine
                .iter()
                .filter(|m| {
                    let t = m.mention.created_at.timestamp();
                    t >= ws && t < we && m.sentiment.is_some_and(|s| s.label == Label::Negative)
                })
                .collect();
            window.sort_by(|a, b| {
                let w = |m: &ScoredMention| {
                    let reach = m.mention.author_followers.unwrap_or(0)
                        + m.mention.engagement.values().sum::<u64>();
                    -m.sentiment.map_or(0.0, |s| s.compound) * (1.0 + (1.0 + reach as f64).ln())
                };
                w(b).total_cmp(&w(a))
            });
            let back = decisions[i + 1..]
                .iter()
                .find(|x| x.normal_again)
                .map(|x| format_time(&ts(x.t + step)));
            out.push(BacktestAlert {
                brand: brand.name.clone(),
                fired_at: format_time(&ts(fired)),
                window_start: format_time(&ts(ws)),
                window_end: format_time(&ts(we)),
                observed: d.window_observed,
                expected: (d.window_expected * 100.0).round() / 100.0,
                score: (d.score * 1000.0).round() / 1000.0,
                p_value: d.p_value,
                severe: is_severe(d, p.alpha),
                worst: window
                    .iter()
                    .take(WORST_SHOWN)
                    .map(|m| format!("{}:{}", m.mention.source, m.mention.external_id))
                    .collect(),
                back_to_normal_at: back,
            });
        }
    }
    out.sort_by(|a, b| a.fired_at.cmp(&b.fired_at).then(a.brand.cmp(&b.brand)));
    out
}
