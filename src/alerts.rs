//! From stored mentions to alert e-mails: per brand, the negative-mention series goes through
//! the model and the one decision function of [`crate::detect`]; a fired decision becomes an
//! alert whose e-mail goes into the outbox in the same transaction; an open alert whose episode
//! is over is resolved (with a "back to normal" notice when the rule asks for one).
//!
//! **Incremental evaluation.** The evaluator keeps, per brand, the model's state after the
//! last bucket older than two hours (a checkpoint). An evaluation moves the checkpoint forward
//! over the buckets that left the last two hours, then replays those two hours from a copy:
//! mentions that arrive late within two hours (a platform polled every 15 minutes) land in
//! their true buckets, and the cost is the new buckets, not four weeks. A mention stored later
//! than that with an older timestamp (a backfill after downtime), a changed rule or six hours
//! passing rebuild the checkpoint from the last four weeks.
//!
//! [`backtest`] runs the same model and decision over a JSONL history with a simulated clock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::config::{AlertRule, Config};
use crate::detect::{
    AlertState, Burst, DetectorParams, Evidence, Held, OpenEpisode, Policy, SeriesModel, Severity,
    Tracker, Verdict, burst_profile, decide,
};
use crate::mention::{Label, ScoredMention, format_time};
use crate::notify::chart::{Bin, spike_chart};
use crate::notify::render::{self, AlertView, reach};
use crate::notify::{compose, message_id};
use crate::store::{BucketCount, MentionRow, NewAlert, NewMessage, Store, StoreError};

/// How much history the detector learns from when it (re)builds its state.
pub const HISTORY_DAYS: i64 = 28;
/// The span re-read at every evaluation, where late posts still land.
pub const LIVE_SECONDS: i64 = 2 * 3600;
/// A brand's checkpoint is rebuilt from the history at least this often (it also catches
/// scores changed by `mentiond rescore`).
pub const REBUILD_SECONDS: i64 = 6 * 3600;
/// Posts shown in an alert.
pub const WORST_SHOWN: usize = 5;
/// Width of the chart's bins, in seconds.
const CHART_BIN: i64 = 1800;

/// The model parameters and the decision policy of a rule.
pub fn params(rule: &AlertRule) -> (DetectorParams, Policy) {
    let step = rule.bucket.as_secs().max(1) as i64;
    let model = DetectorParams::default().with_bucket(step);
    let mut policy = Policy::default().with_bucket(step);
    policy.alpha = rule.sensitivity.alpha();
    policy.min_excess = f64::from(rule.min_negative);
    policy.cooldown_buckets = (rule.cooldown.as_secs() as i64 / step).max(0) as u64;
    (model, policy)
}

/// The last 24 hours of (bucket, observed, expected), in 30-minute bins, with the alert window
/// highlighted.
pub fn chart_bins(
    series: &[(i64, u64, f64)],
    until: i64,
    window: (i64, i64),
    bucket: i64,
) -> Vec<Bin> {
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
    for &(t, observed, expected) in series.iter().filter(|s| s.0 >= first && s.0 <= until) {
        let k = t.div_euclid(bin) * bin;
        if let Some(b) = bins.get_mut(&k) {
            b.observed += observed as f64;
            b.expected += expected;
            if t + bucket > window.0 && t < window.1 {
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
    /// Brands whose state was rebuilt from the history (start, late posts, a changed rule).
    pub rebuilt: Vec<String>,
    /// Another instance holds the alerts lease: nothing was evaluated here.
    pub standby: bool,
    /// Mentions notified as complaints left unanswered.
    pub unanswered: Vec<i64>,
}

/// A brand's model state after its last final bucket.
#[derive(Debug, Clone)]
struct Checkpoint {
    params: DetectorParams,
    model: SeriesModel,
    /// The last bucket fed.
    until: i64,
    /// Counts up to `until` were read after everything stored before this time.
    read_at: DateTime<Utc>,
    built_at: DateTime<Utc>,
    /// The last day of (bucket, observed, expected), for the alert chart.
    history: VecDeque<(i64, u64, f64)>,
    /// The last bucket reported as held back (a bot burst), so it is logged once.
    held_logged: Option<i64>,
}

/// Feeds `counts` (buckets from `from` to `to`, inclusive) into `model`; buckets absent from
/// `counts` had no mention. Returns each bucket's evidence.
fn feed(model: &mut SeriesModel, counts: &[BucketCount], from: i64, to: i64) -> Vec<Evidence> {
    let step = model.params().bucket_seconds;
    let by_t: BTreeMap<i64, &BucketCount> = counts.iter().map(|c| (c.t, c)).collect();
    let mut out = Vec::with_capacity(((to - from) / step + 1).max(0) as usize);
    let mut t = from;
    while t <= to {
        let (neg, total) = by_t.get(&t).map_or((0, 0), |c| (c.negative, c.total));
        out.extend(model.update(t, Some(neg), Some(total)));
        t += step;
    }
    out
}

fn push_history(history: &mut VecDeque<(i64, u64, f64)>, evidence: &[Evidence], step: i64) {
    for e in evidence {
        history.push_back((e.t, e.observed.unwrap_or(0), e.expected));
    }
    let keep = (86_400 / step.max(1)) as usize + 1;
    while history.len() > keep {
        history.pop_front();
    }
}

/// Runs the decision over `evidence` (oldest first) from `state`. Returns each bucket's
/// verdict.
fn decide_all(
    policy: &Policy,
    state: &mut AlertState,
    evidence: &[Evidence],
    seen_before: u64,
    burst: &mut dyn FnMut(i64, i64) -> Option<Burst>,
) -> Vec<Verdict> {
    let mut window: Vec<Evidence> = Vec::new();
    let mut out = Vec::with_capacity(evidence.len());
    for (i, e) in evidence.iter().enumerate() {
        window.push(e.clone());
        let keep = policy.end_buckets as usize + 1;
        if window.len() > keep {
            window.drain(..window.len() - keep);
        }
        out.push(decide(
            policy,
            state,
            &window,
            seen_before + i as u64 + 1,
            burst,
        ));
    }
    out
}

/// The e-mail about a complaint left unanswered, in the rule's language.
fn unanswered_email(
    brand: &str,
    row: &MentionRow,
    waited_s: f64,
    rule: &AlertRule,
) -> render::Rendered {
    let it = rule.language == crate::config::Lang::It;
    let waited = crate::responses::human_in(Some(waited_s), rule.language);
    let author = render::clean(row.author.as_deref().unwrap_or("?"));
    let when = parse(&row.created_at)
        .with_timezone(&rule.timezone)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let body = render::excerpt(&row.text, 500);
    let url = row.url.as_deref().and_then(render::safe_url);
    let subject = render::clean(&if it {
        format!("[mentiond] Reclamo senza risposta: {brand}, da {waited}")
    } else {
        format!("[mentiond] Unanswered complaint: {brand}, {waited} without a reply")
    });
    let head = if it {
        format!(
            "{author} ({}, pubblico {}) si è lamentato il {when} ({}) e nessun account di {brand} ha risposto da {waited}:",
            render::clean(&row.source),
            reach(row),
            rule.timezone.name()
        )
    } else {
        format!(
            "{author} ({}, reach {}) complained on {when} ({}) and no account of {brand} has replied for {waited}:",
            render::clean(&row.source),
            reach(row),
            rule.timezone.name()
        )
    };
    let mut text = format!("{}\n\n“{body}”\n", render::clean(&head));
    if let Some(u) = &url {
        text.push_str(&format!("{u}\n"));
    }
    text.push_str("\n-- \nmentiond\n");
    let link = url
        .as_deref()
        .map(|u| {
            format!(
                "<p><a href=\"{}\">{}</a></p>",
                render::esc(u),
                if it { "Apri il post" } else { "Open the post" }
            )
        })
        .unwrap_or_default();
    let html = format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif\"><p>{}</p><blockquote style=\"border-left:3px solid #cd3737;padding-left:12px\">{}</blockquote>{link}</body></html>",
        render::esc(&head),
        render::esc(&body)
    );
    render::Rendered {
        subject,
        text,
        html,
        images: Vec::new(),
    }
}

/// The lease of the alert evaluation: with several instances on one database, one evaluates.
pub const ALERTS_LEASE: &str = "alerts";

pub struct Evaluator {
    store: Arc<Store>,
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    checkpoints: Mutex<HashMap<String, Checkpoint>>,
    lease: Option<crate::sources::runner::RunnerLease>,
}

impl Evaluator {
    pub fn new(store: Arc<Store>, config: Arc<Config>, clock: Arc<dyn Clock>) -> Evaluator {
        Evaluator {
            store,
            config,
            clock,
            checkpoints: Mutex::new(HashMap::new()),
            lease: None,
        }
    }

    /// Evaluates only while holding the `alerts` lease: of several instances on one database,
    /// one decides (and mails) each alert.
    pub fn with_lease(mut self, lease: crate::sources::runner::RunnerLease) -> Evaluator {
        self.lease = Some(lease);
        self
    }

    /// Evaluates every brand's rule once.
    pub async fn evaluate_once(&self) -> Result<Evaluation, StoreError> {
        let mut out = Evaluation::default();
        // Unanswered-complaint notices are their own rule: they run with alerts off too.
        let notices =
            self.config.brands.iter().any(|b| {
                !b.handles.is_empty() && self.config.responses.unanswered(&b.name).is_some()
            });
        if !self.config.alerts.enabled && !notices {
            return Ok(out);
        }
        let now = self.clock.now();
        if let Some(lease) = &self.lease {
            let period = crate::sources::retry::chrono_dur(lease.period);
            if !self
                .store
                .acquire_lease(ALERTS_LEASE, &lease.holder, now, period)
                .await?
            {
                // Another instance evaluates. Should this one take over later, its models
                // are rebuilt from the stored history, not resumed from a stale state.
                self.checkpoints.lock().expect("checkpoints").clear();
                out.standby = true;
                return Ok(out);
            }
        }
        for brand in &self.config.brands {
            let rule = self.config.alerts.rule(&brand.name);
            if !self.config.alerts.enabled || !rule.enabled {
                continue;
            }
            if let Err(e) = self.evaluate_brand(&brand.name, rule, now, &mut out).await {
                warn!(brand = %brand.name, error = %e, "cannot evaluate the alert rule");
            }
        }
        // A brand without accounts (`handles`) never answers: every complaint would look
        // unanswered.
        for brand in self.config.brands.iter().filter(|b| !b.handles.is_empty()) {
            if let Some(unanswered) = self.config.responses.unanswered(&brand.name) {
                if let Err(e) = self
                    .notify_unanswered(&brand.name, unanswered, now, &mut out)
                    .await
                {
                    warn!(brand = %brand.name, error = %e, "cannot check for unanswered complaints");
                }
            }
        }
        Ok(out)
    }

    /// Complaints still unanswered after the rule's time: one notice each (e-mail and the alert
    /// rule's channels), once. Only complaints that crossed the time in the last day are looked
    /// at, so that turning the rule on does not mail the whole history.
    async fn notify_unanswered(
        &self,
        brand: &str,
        unanswered: crate::config::responses::UnansweredRule,
        now: DateTime<Utc>,
        out: &mut Evaluation,
    ) -> Result<(), StoreError> {
        let after = chrono::Duration::from_std(unanswered.after).unwrap_or_default();
        let to = now - after;
        let from = to - chrono::Duration::days(1);
        let rule = self.config.alerts.rule(brand);
        for (id, row) in self.store.unanswered_complaints(brand, from, to).await? {
            if reach(&row) < unanswered.min_reach {
                continue;
            }
            let created = parse(&row.created_at);
            let waited = (now - created).num_seconds().max(0) as f64;
            let mut messages: Vec<NewMessage> = Vec::new();
            let rendered = unanswered_email(brand, &row, waited, rule);
            let from = &self.config.email.from;
            // One post may be a complaint about two brands: one notice each, ids apart.
            let what = format!("unanswered-{id}-{:08x}", crate::notify::name_hash(brand));
            if !rule.recipients.is_empty() {
                let mid = message_id(&what, now, from);
                match compose(
                    from,
                    &rule.recipients,
                    &rendered,
                    &mid,
                    now,
                    rule.language.code(),
                ) {
                    Ok(bytes) => messages.push(NewMessage {
                        kind: "alert",
                        brand: Some(brand.to_string()),
                        message_id: mid,
                        sender: from.clone(),
                        recipients: rule.recipients.clone(),
                        subject: rendered.subject.clone(),
                        message: bytes,
                        html: Some(rendered.html.clone()),
                        created_at: now,
                        not_before: crate::notify::sender::not_before(now, rule, false),
                        channel: None,
                    }),
                    Err(e) => warn!(brand, error = %e, "cannot compose the e-mail"),
                }
            }
            for name in &rule.channels {
                let Some(channel) = self.config.channels.iter().find(|c| &c.name == name) else {
                    continue;
                };
                let lang = channel.language.unwrap_or(rule.language);
                let notice =
                    crate::notify::channels::unanswered(brand, &row, waited, lang, rule.timezone);
                messages.push(crate::notify::channels::message(
                    channel, "alert", brand, &what, &notice, lang, now, now,
                ));
            }
            if self
                .store
                .notify_unanswered(id, brand, now, messages)
                .await?
            {
                info!(
                    brand,
                    mention = id,
                    waited_s = waited,
                    "complaint unanswered: notified"
                );
                out.unanswered.push(id);
            }
        }
        Ok(())
    }

    /// The brand's checkpoint, moved forward to `until` (or rebuilt when it cannot be).
    async fn checkpoint(
        &self,
        brand: &str,
        params: &DetectorParams,
        until: i64,
        now: DateTime<Utc>,
        out: &mut Evaluation,
    ) -> Result<Checkpoint, StoreError> {
        let step = params.bucket_seconds;
        // Transactions commit within a minute of their timestamp.
        let read_at = now - chrono::Duration::seconds(60);
        let kept = self
            .checkpoints
            .lock()
            .expect("checkpoint map")
            .remove(brand);
        let kept = match kept {
            Some(c)
                if c.params == *params
                    && (now - c.built_at).num_seconds() < REBUILD_SECONDS
                    && c.until <= until
                    && !self
                        .store
                        .late_arrival(brand, c.read_at, ts(c.until + step))
                        .await? =>
            {
                Some(c)
            }
            _ => None,
        };
        let mut ck = match kept {
            Some(c) => c,
            None => {
                out.rebuilt.push(brand.to_string());
                let from = until - HISTORY_DAYS * 86_400;
                Checkpoint {
                    params: params.clone(),
                    model: SeriesModel::new(params.clone()),
                    until: from - step,
                    read_at,
                    built_at: now,
                    history: VecDeque::new(),
                    held_logged: None,
                }
            }
        };
        if ck.until < until {
            let counts = self
                .store
                .bucket_counts(brand, ts(ck.until + step), ts(until + step), step)
                .await?;
            // A series begins with its first mention: weeks of zeros before a brand was added
            // are not its history.
            let from = if ck.model.buckets_seen() == 0 {
                counts.first().map_or(until + step, |c| c.t)
            } else {
                ck.until + step
            };
            let evidence = feed(&mut ck.model, &counts, from, until);
            push_history(&mut ck.history, &evidence, step);
            ck.until = until;
            ck.read_at = read_at;
        }
        Ok(ck)
    }

    async fn evaluate_brand(
        &self,
        brand: &str,
        rule: &AlertRule,
        now: DateTime<Utc>,
        out: &mut Evaluation,
    ) -> Result<(), StoreError> {
        let (p, policy) = params(rule);
        let step = p.bucket_seconds;
        let end = now.timestamp().div_euclid(step) * step;
        let live_from = (end - LIVE_SECONDS).div_euclid(step) * step;
        let mut ck = self
            .checkpoint(brand, &p, live_from - step, now, out)
            .await?;
        let mut live = ck.model.clone();
        let seen_before = live.buckets_seen();
        let counts = self
            .store
            .bucket_counts(brand, ts(live_from), ts(end + step), step)
            .await?;
        let evidence = feed(&mut live, &counts, live_from, end);
        let last = self.store.last_alert(brand).await?;
        let state = AlertState {
            open: last
                .as_ref()
                .filter(|a| a.state == "open")
                .map(|a| OpenEpisode {
                    fired_bucket: parse(&a.bucket_at).timestamp(),
                }),
            last_fired_bucket: last.as_ref().map(|a| parse(&a.bucket_at).timestamp()),
            last_resolved_bucket: last
                .as_ref()
                .and_then(|a| a.resolved_at.as_deref())
                .map(|r| parse(r).timestamp().div_euclid(step) * step),
            peak: 0.0,
        };
        let was_open = state.open.is_some();
        // The decision asks who wrote a window's negatives only when a bucket is significant:
        // run it, fetch what it asked for, run it again.
        let mut bursts: HashMap<(i64, i64), Burst> = HashMap::new();
        let verdicts = loop {
            let mut missing: Option<(i64, i64)> = None;
            let mut s = state;
            let verdicts =
                decide_all(
                    &policy,
                    &mut s,
                    &evidence,
                    seen_before,
                    &mut |a, b| match bursts.get(&(a, b)) {
                        Some(x) => Some(*x),
                        None => {
                            missing.get_or_insert((a, b));
                            None
                        }
                    },
                );
            match missing {
                Some((a, b)) => {
                    let profile = self.store.burst_profile(brand, ts(a), ts(b)).await?;
                    bursts.insert((a, b), profile);
                }
                None => break verdicts,
            }
        };
        let mut history = ck.history.clone();
        push_history(&mut history, &evidence, step);
        let series: Vec<(i64, u64, f64)> = history.into_iter().collect();
        for (i, v) in verdicts.iter().enumerate() {
            let e = &evidence[i];
            match v {
                Verdict::Resolved if was_open => {
                    if let Some(open) = last.as_ref().filter(|a| a.state == "open") {
                        self.resolve(brand, rule, open, now).await?;
                        out.resolved.push(open.id);
                    }
                }
                Verdict::Fire { severity } => {
                    // When the evaluation comes after the crossing (late posts, a restart),
                    // the e-mail shows the strongest evidence of the episode so far.
                    let best = evidence[i..]
                        .iter()
                        .filter(|x| x.observed.is_some() && x.window_buckets > 0)
                        .max_by(|a, b| {
                            (a.window_observed - a.window_expected)
                                .total_cmp(&(b.window_observed - b.window_expected))
                        })
                        .unwrap_or(e);
                    let id = self
                        .fire(
                            brand, rule, &policy, e.t, best, *severity, &series, end, now,
                        )
                        .await?;
                    out.fired.push(id);
                    break;
                }
                Verdict::Held(Held::BotBurst {
                    negatives,
                    effective,
                }) if ck.held_logged.is_none_or(|t| e.t > t + LIVE_SECONDS) => {
                    info!(
                        brand,
                        negatives,
                        effective,
                        "a burst of negative mentions from few authors or one repeated text: not alerted"
                    );
                    ck.held_logged = Some(e.t);
                }
                _ => {}
            }
        }
        self.checkpoints
            .lock()
            .expect("checkpoint map")
            .insert(brand.to_string(), ck);
        Ok(())
    }

    async fn resolve(
        &self,
        brand: &str,
        rule: &AlertRule,
        open: &crate::store::AlertRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
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
            let mut all: Vec<NewMessage> = self
                .message("recovery", brand, open.id, rule, &rendered, now, now)
                .into_iter()
                .collect();
            all.extend(self.channel_messages("recovery", open.id, rule, &view, now, now));
            all
        } else {
            Vec::new()
        };
        self.store.resolve_alert(open.id, now, message).await?;
        info!(brand, alert = open.id, "back to normal");
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn fire(
        &self,
        brand: &str,
        rule: &AlertRule,
        policy: &Policy,
        crossed: i64,
        d: &Evidence,
        severity: Severity,
        series: &[(i64, u64, f64)],
        end: i64,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let step = policy.bucket_seconds;
        let window_start = d.window_start(step);
        let window_end = d.t + step;
        let severe = severity == Severity::Critical;
        let negatives = self
            .store
            .negative_mentions(brand, ts(window_start), ts(window_end), 500)
            .await?;
        let worst = worst(negatives, WORST_SHOWN);
        let bins = chart_bins(series, end, (window_start, window_end), step);
        let held = crate::notify::sender::not_before(now, rule, severe);
        let alert = NewAlert {
            brand: brand.to_string(),
            fired_at: now,
            bucket_at: ts(crossed),
            window_start: ts(window_start),
            window_end: ts(window_end),
            observed: d.window_observed,
            expected: d.window_expected,
            p_value: d.p_value,
            p_threshold: policy.alpha,
            threshold_rule: "alpha".to_string(),
            window_total: d.window_total,
            usual_share: d.negative_share,
            severe,
            worst: worst.iter().map(|(id, _)| *id).collect(),
            details: serde_json::json!({ "series": bins, "severity": severity.as_str() }),
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
                let mut all: Vec<NewMessage> = self
                    .message("alert", brand, id, rule, &rendered, now, held)
                    .into_iter()
                    .collect();
                all.extend(self.channel_messages("alert", id, rule, &view, now, held));
                all
            })
            .await?;
        info!(
            brand,
            alert = id,
            severity = severity.as_str(),
            observed = alert.observed,
            expected = format!("{:.1}", alert.expected),
            p = format!("{:.1e}", alert.p_value),
            "negative spike: alert fired"
        );
        Ok(id)
    }

    /// One message per chat or webhook channel the rule routes to (a channel that wants only
    /// critical alerts skips warnings, and their "back to normal"), in its language.
    fn channel_messages(
        &self,
        kind: &'static str,
        id: i64,
        rule: &AlertRule,
        view: &AlertView,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> Vec<NewMessage> {
        let mut out = Vec::new();
        for name in &rule.channels {
            let Some(channel) = self.config.channels.iter().find(|c| &c.name == name) else {
                continue;
            };
            if channel.critical_only && !view.severe {
                continue;
            }
            let mut view = view.clone();
            view.alert_id = id;
            view.language = channel.language.unwrap_or(rule.language);
            let notice = if kind == "alert" {
                crate::notify::channels::fired(&view)
            } else {
                crate::notify::channels::resolved(&view, now)
            };
            out.push(crate::notify::channels::message(
                channel,
                kind,
                &view.brand,
                &format!("{kind}-{id}"),
                &notice,
                view.language,
                now,
                not_before,
            ));
        }
        out
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
                channel: None,
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
    /// The evidence's score (0.5 at the threshold, 1 at twice its surprise).
    pub score: f64,
    pub p_value: f64,
    /// `warning` or `critical`.
    pub severity: Severity,
    /// `source:external_id` of the worst negative mentions of the window.
    pub worst: Vec<String>,
    /// When the episode was over, if it ended within the data.
    pub back_to_normal_at: Option<String>,
}

/// Who wrote the negative mentions among `mentions` published in [from, to).
fn burst_of(mentions: &[&ScoredMention], from: i64, to: i64) -> Burst {
    burst_profile(
        mentions
            .iter()
            .filter(|m| {
                let t = m.mention.created_at.timestamp();
                t >= from && t < to && m.sentiment.is_some_and(|s| s.label == Label::Negative)
            })
            .map(|m| (m.mention.author.as_deref(), m.mention.text.as_str())),
    )
}

/// Replays scored mentions in time order through each brand's model and the same decision as
/// the live evaluator, with a simulated clock: the alerts a live daemon would have fired
/// (cooldown, burst filter and episodes included), oldest first.
pub fn backtest(config: &Config, mentions: &[ScoredMention]) -> Vec<BacktestAlert> {
    let mut out = Vec::new();
    for brand in &config.brands {
        let rule = config.alerts.rule(&brand.name);
        if !rule.enabled {
            continue;
        }
        let (p, policy) = params(rule);
        let step = p.bucket_seconds;
        let mut mine: Vec<&ScoredMention> = mentions
            .iter()
            .filter(|m| m.brands.iter().any(|b| b == &brand.name))
            .collect();
        mine.sort_by_key(|m| m.mention.created_at);
        let Some(first) = mine.first().map(|m| m.mention.created_at.timestamp()) else {
            continue;
        };
        let last = mine
            .last()
            .map(|m| m.mention.created_at.timestamp())
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
        let mut tracker = Tracker::new(p, policy.clone());
        let mut burst = |a: i64, b: i64| Some(burst_of(&mine, a, b));
        let mut steps = Vec::new();
        let mut t = first.div_euclid(step) * step;
        let end = last.div_euclid(step) * step;
        while t <= end {
            let (neg, total) = counts.get(&t).map_or((0, 0), |c| (c.negative, c.total));
            steps.extend(tracker.update(t, Some(neg), Some(total), &mut burst));
            t += step;
        }
        for (i, s) in steps.iter().enumerate() {
            let Verdict::Fire { severity } = s.verdict else {
                continue;
            };
            let d = &s.evidence;
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
            let back = steps[i + 1..]
                .iter()
                .find(|x| x.verdict == Verdict::Resolved)
                .map(|x| format_time(&ts(x.evidence.t + step)));
            out.push(BacktestAlert {
                brand: brand.name.clone(),
                fired_at: format_time(&ts(d.t + step)),
                window_start: format_time(&ts(ws)),
                window_end: format_time(&ts(we)),
                observed: d.window_observed,
                expected: (d.window_expected * 100.0).round() / 100.0,
                score: (d.score(policy.alpha) * 1000.0).round() / 1000.0,
                p_value: d.p_value,
                severity,
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
