//! Scheduled digests: what a period's e-mail says ([`DigestReport`], built from stored
//! mentions, alerts and the sources' poll log), and when it is sent ([`DigestRunner`]).
//!
//! The report is plain data; [`crate::notify::digest`] turns it into an e-mail. Figures are
//! computed in one pass over the period's mentions (and the same length of time before it, for
//! the changes), so a config change (a new touchpoint) applies to the next digest at once.

pub mod touchpoints;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::config::{Config, DigestConfig, Lang};
use crate::mention::format_time;
use crate::notify::{self, message_id};
use crate::store::{
    AlertRecord, MentionQuery, MentionRow, NewDigestRun, NewMessage, RunState, Store, StoreError,
};
pub use touchpoints::TouchpointMatcher;

/// A time range [start, end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    /// The same length of time just before: what the changes compare with. (Not the previous
    /// scheduled period: Monday's digest of a Mon-Fri schedule covers three days and is
    /// compared with the three days before, not with Friday's single day.)
    pub fn before(&self) -> Period {
        Period {
            start: self.start - (self.end - self.start),
            end: self.start,
        }
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        t >= self.start && t < self.end
    }
}

/// Mentions by sentiment label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Split {
    pub positive: u64,
    pub neutral: u64,
    pub negative: u64,
    /// In a language no engine scores.
    pub unscored: u64,
}

impl Split {
    pub fn add(&mut self, label: Option<&str>) {
        match label {
            Some("positive") => self.positive += 1,
            Some("neutral") => self.neutral += 1,
            Some("negative") => self.negative += 1,
            _ => self.unscored += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.positive + self.neutral + self.negative + self.unscored
    }

    pub fn scored(&self) -> u64 {
        self.positive + self.neutral + self.negative
    }

    /// Share of the scored mentions, 0..1.
    pub fn share(&self, n: u64) -> f64 {
        if self.scored() == 0 {
            0.0
        } else {
            n as f64 / self.scored() as f64
        }
    }

    /// Net sentiment: % positive minus % negative of the scored mentions, -100..100; `None`
    /// without any scored mention.
    pub fn net(&self) -> Option<f64> {
        (self.scored() > 0)
            .then(|| 100.0 * (self.positive as f64 - self.negative as f64) / self.scored() as f64)
    }
}

/// A post worth reading, with what made it stand out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopMention {
    pub mention: MentionRow,
    /// Likes, reposts, replies... summed (impressions and views are not engagement).
    pub engagement: u64,
    pub followers: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceLine {
    pub source: String,
    pub now: Split,
    pub before: Split,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TouchpointLine {
    /// Index in the configured touchpoints.
    pub index: usize,
    pub now: Split,
    pub before: Split,
}

/// One bar of the trend chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrendPoint {
    pub start: DateTime<Utc>,
    pub split: Split,
}

/// The width of the trend chart's bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrendUnit {
    FiveMinutes,
    Hour,
    Day,
    Week,
}

/// A change worth a line at the top of a brand's section.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Highlight {
    Volume { before: u64, now: u64 },
    Net { before: f64, now: f64 },
    TouchpointNegative { index: usize, before: u64, now: u64 },
}

/// Everything a digest says about one brand.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrandReport {
    pub brand: String,
    pub now: Split,
    pub before: Split,
    /// Most mentions first.
    pub sources: Vec<SourceLine>,
    /// Touchpoints mentioned in either period, most negative mentions first.
    pub touchpoints: Vec<TouchpointLine>,
    pub top_positive: Vec<TopMention>,
    pub top_negative: Vec<TopMention>,
    pub trend: Vec<TrendPoint>,
    pub highlights: Vec<Highlight>,
    /// How the brand answered complaints, when it has accounts (`handles`).
    pub responses: Option<ResponsesBlock>,
}

/// The digest's "Responses" block of a brand (issue 17).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponsesBlock {
    /// Negative mentions of the period, and those the brand's accounts answered.
    pub complaints: u64,
    pub answered: u64,
    pub median_first_response_s: Option<f64>,
    /// The same median over the period before, for the change.
    pub median_before_s: Option<f64>,
    /// The oldest complaints of the period still unanswered (at most three).
    pub unanswered: Vec<UnansweredComplaint>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnansweredComplaint {
    pub source: String,
    pub text: String,
    pub url: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What went wrong with a source during the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthProblem {
    /// Every poll failed.
    Failed,
    /// Some polls failed.
    PartlyFailed,
    /// Polled, but the platform returned no post at all.
    ReturnedNothing,
    /// Not polled during the period (mentiond was not running, or the source is new).
    NotPolled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthLine {
    pub source_id: String,
    pub query: String,
    pub problem: HealthProblem,
    pub polls: i64,
    pub errors: i64,
    pub last_error: Option<String>,
}

/// An alert fired during the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertLine {
    pub alert: AlertRecord,
    /// The state of its e-mail: `sent`, `pending`, `failed`, `silenced`, or none.
    pub email: Option<String>,
}

/// A digest's content, ready to render.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestReport {
    pub name: String,
    #[serde(skip)]
    pub language: Lang,
    #[serde(skip)]
    pub timezone: Tz,
    pub period: Period,
    pub compared_with: Period,
    pub trend_unit: TrendUnit,
    /// The touchpoints' names in the digest's language, by index.
    pub touchpoint_names: Vec<String>,
    pub brands: Vec<BrandReport>,
    pub alerts: Vec<AlertLine>,
    /// Sources configured when the digest was made that had a problem.
    pub health: Vec<HealthLine>,
    /// Sources configured that were looked at (with or without a problem).
    pub sources_checked: usize,
    /// The next run, for the footer.
    pub next_run: Option<DateTime<Utc>>,
}

impl DigestReport {
    pub fn mentions(&self) -> u64 {
        self.brands.iter().map(|b| b.now.total()).sum()
    }

    /// Nothing to say: no mention, no alert, no source problem.
    pub fn is_empty(&self) -> bool {
        self.mentions() == 0 && self.alerts.is_empty() && self.health.is_empty()
    }
}

/// A configured (source, query) and how often it is polled: what the health section expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedSource {
    pub source_id: String,
    pub queries: Vec<String>,
    pub interval: Duration,
}

/// The sources the configuration polls for `brands` (a digest's): the queries of other
/// brands are not its business.
pub fn expected_sources(config: &Config, brands: &[String]) -> Vec<ExpectedSource> {
    let subset: Vec<crate::config::BrandConfig> = config
        .brands
        .iter()
        .filter(|b| brands.contains(&b.name))
        .cloned()
        .collect();
    match crate::sources::build(&config.sources, &subset) {
        Ok(built) => built
            .iter()
            .map(|s| ExpectedSource {
                source_id: s.id().to_string(),
                queries: s.queries(),
                interval: s.interval(),
            })
            .filter(|s| !s.queries.is_empty())
            .collect(),
        Err(e) => {
            warn!(error = %e, "cannot list the sources for the digests' health section");
            Vec::new()
        }
    }
}

/// How many highlights a brand gets at most.
const MAX_HIGHLIGHTS: usize = 4;
/// Fewest mentions for a change to be worth a highlight.
const MIN_FOR_HIGHLIGHT: u64 = 5;

/// The changes worth a line, strongest first.
pub fn highlights(now: &Split, before: &Split, touchpoints: &[TouchpointLine]) -> Vec<Highlight> {
    let mut out: Vec<(f64, Highlight)> = Vec::new();
    let ratio = |now: u64, before: u64| (now as f64 + 1.0) / (before as f64 + 1.0);
    let (n, b) = (now.total(), before.total());
    if n.max(b) >= 2 * MIN_FOR_HIGHLIGHT {
        let r = ratio(n, b);
        if !(1.0 / 1.5..1.5).contains(&r) {
            out.push((r.ln().abs(), Highlight::Volume { before: b, now: n }));
        }
    }
    if let (Some(nn), Some(nb)) = (now.net(), before.net()) {
        if now.scored() >= 2 * MIN_FOR_HIGHLIGHT
            && before.scored() >= 2 * MIN_FOR_HIGHLIGHT
            && (nn - nb).abs() >= 10.0
        {
            out.push((
                (nn - nb).abs() / 25.0,
                Highlight::Net {
                    before: nb,
                    now: nn,
                },
            ));
        }
    }
    for t in touchpoints {
        let (n, b) = (t.now.negative, t.before.negative);
        if n.max(b) < MIN_FOR_HIGHLIGHT {
            continue;
        }
        let r = ratio(n, b);
        if !(1.0 / 1.5..1.5).contains(&r) {
            out.push((
                r.ln().abs(),
                Highlight::TouchpointNegative {
                    index: t.index,
                    before: b,
                    now: n,
                },
            ));
        }
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    out.into_iter()
        .take(MAX_HIGHLIGHTS)
        .map(|(_, h)| h)
        .collect()
}

/// The bars of the trend chart: 5 minutes for a period up to three hours, hours up to two
/// days, days (local, DST-aware) up to three months, weeks beyond.
pub fn trend_bins(period: Period, tz: Tz) -> (TrendUnit, Vec<DateTime<Utc>>) {
    let length = period.end - period.start;
    let (unit, step_days) = if length <= chrono::Duration::hours(3) {
        (TrendUnit::FiveMinutes, 0)
    } else if length <= chrono::Duration::hours(48) {
        (TrendUnit::Hour, 0)
    } else if length <= chrono::Duration::days(92) {
        (TrendUnit::Day, 1)
    } else {
        (TrendUnit::Week, 7)
    };
    let mut starts = vec![period.start];
    if matches!(unit, TrendUnit::Hour | TrendUnit::FiveMinutes) {
        let step = if unit == TrendUnit::Hour {
            chrono::Duration::hours(1)
        } else {
            chrono::Duration::minutes(5)
        };
        let mut t = period.start + step;
        while t < period.end {
            starts.push(t);
            t += step;
        }
    } else {
        // The same wall-clock time each day: a 08:00 digest has bars from 08:00 to 08:00.
        let local = period.start.with_timezone(&tz).naive_local();
        for k in 1.. {
            let naive = local + chrono::Duration::days(step_days * k);
            let t = match naive.and_local_timezone(tz) {
                chrono::LocalResult::Single(t) => t,
                chrono::LocalResult::Ambiguous(a, _) => a,
                chrono::LocalResult::None => {
                    match (naive + chrono::Duration::hours(1)).and_local_timezone(tz) {
                        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t,
                        chrono::LocalResult::None => break,
                    }
                }
            }
            .with_timezone(&Utc);
            if t >= period.end {
                break;
            }
            starts.push(t);
        }
    }
    (unit, starts)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Keeps the `n` best posts by (engagement, followers), ties to the most recent.
fn keep_top(list: &mut Vec<TopMention>, candidate: TopMention, n: usize) {
    let key = |m: &TopMention| (m.engagement, m.followers);
    if list.len() == n && list.last().is_some_and(|last| key(last) >= key(&candidate)) {
        return;
    }
    let at = list
        .iter()
        .position(|m| key(m) < key(&candidate))
        .unwrap_or(list.len());
    list.insert(at, candidate);
    list.truncate(n);
}

/// Tallies one brand's mentions of the period and of the period before, in any order.
pub struct BrandTally<'a> {
    brand: String,
    period: Period,
    touchpoints: &'a TouchpointMatcher,
    top: usize,
    now: Split,
    before: Split,
    sources: BTreeMap<String, (Split, Split)>,
    touch_now: Vec<Split>,
    touch_before: Vec<Split>,
    top_positive: Vec<TopMention>,
    top_negative: Vec<TopMention>,
    bin_starts: Vec<DateTime<Utc>>,
    bins: Vec<Split>,
}

impl<'a> BrandTally<'a> {
    pub fn new(
        brand: &str,
        period: Period,
        bin_starts: Vec<DateTime<Utc>>,
        touchpoints: &'a TouchpointMatcher,
        top: usize,
    ) -> BrandTally<'a> {
        BrandTally {
            brand: brand.to_string(),
            period,
            touchpoints,
            top,
            now: Split::default(),
            before: Split::default(),
            sources: BTreeMap::new(),
            touch_now: vec![Split::default(); touchpoints.len()],
            touch_before: vec![Split::default(); touchpoints.len()],
            top_positive: Vec::new(),
            top_negative: Vec::new(),
            bins: vec![Split::default(); bin_starts.len()],
            bin_starts,
        }
    }

    /// Counts one mention; mentions outside both periods are ignored.
    pub fn add(&mut self, m: MentionRow) {
        let Some(t) = parse_time(&m.created_at) else {
            return;
        };
        let current = self.period.contains(t);
        if !current && !self.period.before().contains(t) {
            return;
        }
        let label_owned = m.label.clone();
        let label = label_owned.as_deref();
        let mask = self.touchpoints.classify(&m.text);
        let (split, touch) = if current {
            (&mut self.now, &mut self.touch_now)
        } else {
            (&mut self.before, &mut self.touch_before)
        };
        split.add(label);
        for (i, s) in touch.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                s.add(label);
            }
        }
        let per_source = self.sources.entry(m.source.clone()).or_default();
        if current {
            per_source.0.add(label);
        } else {
            per_source.1.add(label);
        }
        if !current {
            return;
        }
        let bin = self.bin_starts.partition_point(|s| *s <= t);
        if bin > 0 {
            self.bins[bin - 1].add(label);
        }
        let top = TopMention {
            engagement: m.engagement_total(),
            followers: m.author_followers.unwrap_or(0).max(0) as u64,
            mention: m,
        };
        match label {
            Some("positive") => keep_top(&mut self.top_positive, top, self.top),
            Some("negative") => keep_top(&mut self.top_negative, top, self.top),
            _ => {}
        }
    }

    pub fn finish(self) -> BrandReport {
        let mut sources: Vec<SourceLine> = self
            .sources
            .into_iter()
            .map(|(source, (now, before))| SourceLine {
                source,
                now,
                before,
            })
            .collect();
        sources.sort_by(|a, b| {
            b.now
                .total()
                .cmp(&a.now.total())
                .then(b.before.total().cmp(&a.before.total()))
                .then(a.source.cmp(&b.source))
        });
        let mut touchpoints: Vec<TouchpointLine> = self
            .touch_now
            .into_iter()
            .zip(self.touch_before)
            .enumerate()
            .filter(|(_, (now, before))| now.total() > 0 || before.total() > 0)
            .map(|(index, (now, before))| TouchpointLine { index, now, before })
            .collect();
        touchpoints.sort_by(|a, b| {
            b.now
                .negative
                .cmp(&a.now.negative)
                .then(b.now.total().cmp(&a.now.total()))
                .then(a.index.cmp(&b.index))
        });
        let highlights = highlights(&self.now, &self.before, &touchpoints);
        BrandReport {
            brand: self.brand,
            now: self.now,
            before: self.before,
            sources,
            touchpoints,
            top_positive: self.top_positive,
            top_negative: self.top_negative,
            trend: self
                .bin_starts
                .into_iter()
                .zip(self.bins)
                .map(|(start, split)| TrendPoint { start, split })
                .collect(),
            highlights,
            responses: None,
        }
    }
}

/// The health section: configured sources that failed, returned nothing or were not polled.
pub fn health_lines(
    expected: &[ExpectedSource],
    polled: &[crate::store::SourceHealth],
    period: Period,
) -> Vec<HealthLine> {
    let mut out = Vec::new();
    for source in expected {
        for query in &source.queries {
            let h = polled
                .iter()
                .find(|h| h.source_id == source.source_id && &h.query == query);
            let (problem, polls, errors, last_error) = match h {
                None => {
                    // A source polled less often than the period is long may rightly have
                    // no poll in it.
                    let length = (period.end - period.start).to_std().unwrap_or_default();
                    if length < source.interval * 2 {
                        continue;
                    }
                    (HealthProblem::NotPolled, 0, 0, None)
                }
                Some(h) if h.errors >= h.polls => (
                    HealthProblem::Failed,
                    h.polls,
                    h.errors,
                    h.last_error.clone(),
                ),
                Some(h) if h.errors > 0 => (
                    HealthProblem::PartlyFailed,
                    h.polls,
                    h.errors,
                    h.last_error.clone(),
                ),
                Some(h) if h.fetched == 0 => (HealthProblem::ReturnedNothing, h.polls, 0, None),
                Some(_) => continue,
            };
            out.push(HealthLine {
                source_id: source.source_id.clone(),
                query: query.clone(),
                problem,
                polls,
                errors,
                last_error,
            });
        }
    }
    let rank = |p: &HealthProblem| match p {
        HealthProblem::Failed => 0,
        HealthProblem::NotPolled => 1,
        HealthProblem::PartlyFailed => 2,
        HealthProblem::ReturnedNothing => 3,
    };
    out.sort_by(|a, b| {
        rank(&a.problem)
            .cmp(&rank(&b.problem))
            .then(a.source_id.cmp(&b.source_id))
            .then(a.query.cmp(&b.query))
    });
    out
}

/// Builds the report of `digest` for `period` from the store.
pub async fn build_report(
    store: &Store,
    config: &Config,
    digest: &DigestConfig,
    period: Period,
    expected: &[ExpectedSource],
    touchpoints: &TouchpointMatcher,
) -> Result<DigestReport, StoreError> {
    let tz = digest.timezone();
    let before = period.before();
    let (trend_unit, bin_starts) = trend_bins(period, tz);
    let mut brands = Vec::with_capacity(digest.brands.len());
    for brand in &digest.brands {
        let mut tally = BrandTally::new(brand, period, bin_starts.clone(), touchpoints, digest.top);
        let query = MentionQuery {
            brand: Some(brand.clone()),
            since: Some(before.start),
            until: Some(period.end),
            ..MentionQuery::default()
        };
        store
            .query_each(&query, |row| {
                tally.add(row);
                Ok(())
            })
            .await?;
        let mut report = tally.finish();
        let has_accounts = config
            .brands
            .iter()
            .any(|b| &b.name == brand && !b.handles.is_empty());
        if has_accounts {
            report.responses =
                Some(responses_block(store, brand, period, config.responses.hours(brand)).await?);
        }
        brands.push(report);
    }
    let mut alerts = Vec::new();
    let emails = store.alert_email_states(period.start, period.end).await?;
    for alert in store.alerts_between(period.start, period.end).await? {
        if digest.brands.iter().any(|b| b == &alert.brand) {
            let email = emails.get(&alert.id).cloned();
            alerts.push(AlertLine { alert, email });
        }
    }
    let polled = store.source_health(period.start, period.end).await?;
    let health = health_lines(expected, &polled, period);
    Ok(DigestReport {
        name: digest.name.clone(),
        language: digest.language,
        timezone: tz,
        period,
        compared_with: before,
        trend_unit,
        touchpoint_names: config
            .touchpoints
            .iter()
            .map(|t| t.label(digest.language).to_string())
            .collect(),
        brands,
        alerts,
        health,
        sources_checked: expected.len(),
        next_run: digest.schedule.next_after(period.end),
    })
}

/// The complaints of `period` and how they were answered, against the period before.
async fn responses_block(
    store: &Store,
    brand: &str,
    period: Period,
    hours: Option<&crate::config::responses::BusinessHours>,
) -> Result<ResponsesBlock, StoreError> {
    let before = period.before();
    let now_rows = store.response_rows(brand, period.start, period.end).await?;
    let before_rows = store.response_rows(brand, before.start, before.end).await?;
    let now = crate::responses::report(brand, period.start, period.end, &now_rows, hours);
    let was = crate::responses::report(brand, before.start, before.end, &before_rows, hours);
    let negative = &now.by_label["negative"];
    let mut unanswered: Vec<&crate::store::ResponseRow> = now_rows
        .iter()
        .filter(|r| r.label.as_deref() == Some("negative") && r.first_reply_at.is_none())
        .collect();
    unanswered.sort_by_key(|r| r.created_at);
    Ok(ResponsesBlock {
        complaints: negative.mentions,
        answered: negative.answered,
        median_first_response_s: negative.median_first_response_s,
        median_before_s: was.by_label["negative"].median_first_response_s,
        unanswered: unanswered
            .into_iter()
            .take(3)
            .map(|r| UnansweredComplaint {
                source: r.source.clone(),
                text: r.text.clone(),
                url: r.url.clone(),
                created_at: r.created_at,
            })
            .collect(),
    })
}

/// A due digest waits at most this long for healthy sources to poll past its time, so that
/// posts published just before it are in it; and never more than a quarter of its period, so
/// a digest sent about as often as a source polls is not kept waiting until its next run.
pub const SETTLE_MAX: chrono::Duration = chrono::Duration::minutes(10);
/// Missed runs counted (for the log) at most.
const MISSED_COUNTED: usize = 1000;

/// What the runner did with one digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Recorded and its e-mail queued: (run id, outbox id).
    Queued {
        name: String,
        run: i64,
        /// The first message (the e-mail when the digest has recipients).
        message: i64,
        /// Every message: the e-mail and one per chat channel.
        messages: Vec<i64>,
    },
    /// Nothing to report (`skip_empty`).
    Empty { name: String, run: i64 },
    /// Too late: the daemon was down for more than a period.
    Skipped { name: String, run: i64 },
}

/// Decides and queues digests: [`DigestRunner::run_due_once`] is the daemon's one step.
pub struct DigestRunner {
    store: Arc<Store>,
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    /// Per digest name, the sources its health section looks at.
    expected: std::collections::HashMap<String, Vec<ExpectedSource>>,
    touchpoints: TouchpointMatcher,
    /// A due digest waits for sources still to poll past its time (see `SETTLE_MAX`), at most
    /// until this time, when it goes whatever the sources did.
    waiting: std::sync::Mutex<Option<DateTime<Utc>>>,
    /// When each digest was first scheduled (see [`Store::arm_digest`]), once read.
    armed: std::sync::Mutex<std::collections::HashMap<String, DateTime<Utc>>>,
}

impl DigestRunner {
    pub fn new(store: Arc<Store>, config: Arc<Config>, clock: Arc<dyn Clock>) -> DigestRunner {
        let expected = config
            .digests
            .iter()
            .map(|d| (d.name.clone(), expected_sources(&config, &d.brands)))
            .collect();
        let touchpoints = TouchpointMatcher::new(&config.touchpoints);
        DigestRunner {
            store,
            config,
            clock,
            expected,
            touchpoints,
            waiting: Default::default(),
            armed: Default::default(),
        }
    }

    /// The report of `digest` for `period`, with this runner's sources and touchpoints.
    async fn build(
        &self,
        digest: &DigestConfig,
        period: Period,
    ) -> Result<DigestReport, StoreError> {
        build_report(
            &self.store,
            &self.config,
            digest,
            period,
            self.expected_for(digest),
            &self.touchpoints,
        )
        .await
    }

    fn expected_for(&self, digest: &DigestConfig) -> &[ExpectedSource] {
        self.expected
            .get(&digest.name)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The digest's sources that are healthy but have not polled since `due`: posts published
    /// just before `due` may still be on their way.
    async fn sources_behind(
        &self,
        digest: &DigestConfig,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let expected = self.expected_for(digest);
        if expected.is_empty() {
            return Ok(Vec::new());
        }
        let statuses = self.store.source_statuses(now).await?;
        let mut behind = Vec::new();
        for source in expected {
            for query in &source.queries {
                let Some(s) = statuses
                    .iter()
                    .find(|s| s.source_id == source.source_id && &s.query == query)
                else {
                    continue;
                };
                let polled_since = s
                    .last_success_at
                    .as_deref()
                    .and_then(parse_time)
                    .is_some_and(|t| t >= due);
                if s.state == "ok" && !polled_since {
                    behind.push(format!("{} {}", s.source_id, s.query));
                }
            }
        }
        Ok(behind)
    }

    pub fn digest(&self, name: &str) -> Option<&DigestConfig> {
        self.config
            .digests
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }

    /// The report of `digest` for the period ending at `end` (from the run before it).
    pub async fn report(
        &self,
        digest: &DigestConfig,
        end: DateTime<Utc>,
    ) -> Result<DigestReport, StoreError> {
        let (start, end) = digest.schedule.period_ending(end);
        self.build(digest, Period { start, end }).await
    }

    /// Decides every digest whose run time has come: sends it (once: the run is recorded with
    /// its e-mail), or skips it when more than a period late.
    pub async fn run_due_once(&self) -> Result<Vec<RunOutcome>, StoreError> {
        let mut out = Vec::new();
        for digest in &self.config.digests {
            match self.run_digest(digest).await {
                Ok(Some(outcome)) => out.push(outcome),
                Ok(None) => {}
                // One digest's trouble (a locked database, a bug) never holds back the others.
                Err(e) => {
                    warn!(digest = %digest.name, error = %e, "cannot prepare the digest now; will retry");
                }
            }
        }
        Ok(out)
    }

    async fn run_digest(&self, digest: &DigestConfig) -> Result<Option<RunOutcome>, StoreError> {
        let now = self.clock.now();
        let Some(due) = digest.schedule.last_at_or_before(now) else {
            return Ok(None);
        };
        // A run time before the digest was first scheduled is not "missed": a new digest
        // starts with its next run.
        let cached = self
            .armed
            .lock()
            .expect("armed lock")
            .get(&digest.name)
            .copied();
        let armed = match cached {
            Some(t) => t,
            None => {
                let t = self.store.arm_digest(&digest.name, now).await?;
                self.armed
                    .lock()
                    .expect("armed lock")
                    .insert(digest.name.clone(), t);
                t
            }
        };
        if due < armed {
            return Ok(None);
        }
        let last = self.store.last_scheduled_run(&digest.name).await?;
        let last_at = last.as_ref().and_then(|r| parse_time(&r.scheduled_at));
        if last_at.is_some_and(|l| l >= due) {
            return Ok(None);
        }
        let (start, end) = digest.schedule.period_ending(due);
        let period = Period { start, end };
        let late = now - due;
        if let Some(l) = last_at {
            // Counted lazily and bounded: a dense schedule after a long outage stays cheap.
            let mut missed = 0;
            let mut t = l;
            while let Some(next) = digest.schedule.next_after(t) {
                if next >= due || missed == MISSED_COUNTED {
                    break;
                }
                missed += 1;
                t = next;
            }
            if missed > 0 {
                warn!(digest = %digest.name, missed, "digest runs were missed while mentiond was not running; they are not sent");
            }
        }
        if late >= end - start {
            let note = format!(
                "not sent: due at {}, mentiond was not running until {} (more than one period late)",
                format_time(&due),
                format_time(&now)
            );
            let run = NewDigestRun {
                name: digest.name.clone(),
                scheduled_at: due,
                period_start: start,
                period_end: end,
                manual: false,
                state: RunState::Skipped,
                note: Some(note.clone()),
                mentions: 0,
                created_at: now,
            };
            return Ok(self
                .store
                .record_digest_run(&run, Vec::new())
                .await?
                .map(|(id, _)| {
                    warn!(digest = %digest.name, due = %format_time(&due), "digest skipped: {note}");
                    RunOutcome::Skipped {
                        name: digest.name.clone(),
                        run: id,
                    }
                }));
        }
        let settle = SETTLE_MAX.min((end - start) / 4);
        if late < settle {
            let behind = self.sources_behind(digest, due, now).await?;
            if !behind.is_empty() {
                let give_up = due + settle;
                let mut waiting = self.waiting.lock().expect("waiting lock");
                *waiting = Some(waiting.map_or(give_up, |w| w.min(give_up)));
                tracing::debug!(digest = %digest.name, behind = %behind.join(", "), "digest waits for sources to poll past its time");
                return Ok(None);
            }
        }
        let report = self.build(digest, period).await?;
        let outcome = self.record(digest, &report, due, false).await?;
        if late > chrono::Duration::minutes(1) {
            if let Some(RunOutcome::Queued { .. }) = outcome {
                info!(digest = %digest.name, due = %format_time(&due), "digest sent late: mentiond was not running when it was due");
            }
        }
        Ok(outcome)
    }

    /// `mentiond digest --send`: the period from the last run time before now until now,
    /// queued at once (not counted as a scheduled run).
    /// `None` when the e-mail could not be composed (logged).
    pub async fn queue_now(&self, digest: &DigestConfig) -> Result<Option<RunOutcome>, StoreError> {
        let now = self.clock.now();
        let report = self.report(digest, now).await?;
        self.record(digest, &report, now, true).await
    }

    /// A manual digest of `digest` for an explicit period (the demo's story).
    pub async fn queue_period(
        &self,
        digest: &DigestConfig,
        period: Period,
    ) -> Result<(Option<RunOutcome>, DigestReport), StoreError> {
        let report = self.build(digest, period).await?;
        let outcome = self.record(digest, &report, self.clock.now(), true).await?;
        Ok((outcome, report))
    }

    async fn record(
        &self,
        digest: &DigestConfig,
        report: &DigestReport,
        scheduled_at: DateTime<Utc>,
        manual: bool,
    ) -> Result<Option<RunOutcome>, StoreError> {
        let now = self.clock.now();
        let empty = digest.skip_empty && report.is_empty();
        let run = NewDigestRun {
            name: digest.name.clone(),
            scheduled_at,
            period_start: report.period.start,
            period_end: report.period.end,
            manual,
            state: if empty {
                RunState::Empty
            } else {
                RunState::Queued
            },
            note: empty.then(|| "nothing to report (skip_empty)".to_string()),
            mentions: report.mentions() as i64,
            created_at: now,
        };
        // Composed before the transaction (the writer is never held while charts are drawn);
        // a digest that cannot be composed is not recorded, so it is tried again.
        let mut messages = Vec::new();
        if !empty {
            // Stable for a scheduled run (its time), unique for a manual one.
            let what = if manual {
                format!("digest-{}-manual", slug(&digest.name))
            } else {
                format!(
                    "digest-{}-{}",
                    slug(&digest.name),
                    scheduled_at.format("%Y%m%dT%H%M%SZ")
                )
            };
            if !digest.to.is_empty() {
                match self.compose(digest, report, &what, now) {
                    Ok(m) => messages.push(m),
                    Err(e) => {
                        warn!(digest = %digest.name, error = %e, "cannot compose the digest e-mail; will try again");
                        return Ok(None);
                    }
                }
            }
            let summary = notify::digest::summary_lines(report);
            let subject = notify::digest::subject(report);
            for name in &digest.channels {
                if let Some(channel) = self.config.channels.iter().find(|c| &c.name == name) {
                    let notice = notify::channels::digest(
                        &digest.name,
                        &subject,
                        &summary,
                        report.period.start,
                        report.period.end,
                    );
                    messages.push(notify::channels::message(
                        channel,
                        "digest",
                        "",
                        &what,
                        &notice,
                        digest.language,
                        now,
                        now,
                    ));
                }
            }
        }
        let recorded = self.store.record_digest_run(&run, messages).await?;
        Ok(recorded.map(|(run, messages)| match messages.first() {
            Some(&message) => {
                info!(digest = %digest.name, run, mentions = report.mentions(), "digest queued");
                RunOutcome::Queued {
                    name: digest.name.clone(),
                    run,
                    message,
                    messages,
                }
            }
            None => RunOutcome::Empty {
                name: digest.name.clone(),
                run,
            },
        }))
    }

    fn compose(
        &self,
        digest: &DigestConfig,
        report: &DigestReport,
        what: &str,
        now: DateTime<Utc>,
    ) -> Result<NewMessage, notify::NotifyError> {
        let from = &self.config.email.from;
        let rendered = notify::digest::render(report);
        let mid = message_id(what, now, from);
        let bytes = notify::compose(
            from,
            &digest.to,
            &rendered,
            &mid,
            now,
            digest.language.code(),
        )?;
        Ok(NewMessage {
            kind: "digest",
            brand: None,
            message_id: mid,
            sender: from.clone(),
            recipients: digest.to.clone(),
            subject: rendered.subject.clone(),
            message: bytes,
            html: Some(rendered.html_with_data_images()),
            created_at: now,
            not_before: now,
            channel: None,
        })
    }

    /// The next run time of any digest after now.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        let now = self.clock.now();
        if let Some(give_up) = self.waiting.lock().expect("waiting lock").take() {
            // Checked again soon, and never after the end of the wait: a check a whole number
            // of periods later would find the next run waiting at the same point, for ever.
            return Some((now + chrono::Duration::seconds(15)).min(give_up.max(now)));
        }
        self.config
            .digests
            .iter()
            .filter_map(|d| d.schedule.next_after(now))
            .min()
    }
}

/// A digest name as it may appear in a Message-ID.
fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "digest".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(p: u64, n: u64, neg: u64) -> Split {
        Split {
            positive: p,
            neutral: n,
            negative: neg,
            unscored: 0,
        }
    }

    #[test]
    fn net_score() {
        assert_eq!(split(6, 2, 2).net(), Some(40.0));
        assert_eq!(split(0, 0, 3).net(), Some(-100.0));
        assert_eq!(Split::default().net(), None);
        let mut s = split(1, 0, 0);
        s.add(None);
        assert_eq!((s.total(), s.scored(), s.net()), (2, 1, Some(100.0)));
    }

    #[test]
    fn highlights_need_enough_mentions() {
        let t = |index, before, now| TouchpointLine {
            index,
            now: split(0, 0, now),
            before: split(0, 0, before),
        };
        let h = highlights(
            &split(14, 10, 12),
            &split(10, 10, 6),
            &[t(0, 6, 12), t(1, 1, 3), t(2, 5, 6)],
        );
        assert_eq!(
            h,
            vec![Highlight::TouchpointNegative {
                index: 0,
                before: 6,
                now: 12
            }],
            "3 vs 1 is noise; 6 vs 5 is no change; the totals barely moved"
        );
        let h = highlights(&split(5, 5, 30), &split(20, 5, 5), &[]);
        assert!(h.contains(&Highlight::Net {
            before: 50.0,
            now: -62.5
        }));
    }

    #[test]
    fn trend_bins_follow_local_days() {
        let tz = chrono_tz::Europe::Rome;
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let (unit, bins) = trend_bins(
            Period {
                start: at("2026-11-23T07:00:00Z"),
                end: at("2026-11-24T07:00:00Z"),
            },
            tz,
        );
        assert_eq!((unit, bins.len()), (TrendUnit::Hour, 24));
        // A week across the October change: bars start at 08:00 local every day.
        let (unit, bins) = trend_bins(
            Period {
                start: at("2026-10-22T06:00:00Z"),
                end: at("2026-10-29T07:00:00Z"),
            },
            tz,
        );
        assert_eq!(unit, TrendUnit::Day);
        assert_eq!(bins.len(), 7);
        assert_eq!(bins[3], at("2026-10-25T07:00:00Z"), "08:00 CET");
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Daily IT"), "daily-it");
        assert_eq!(slug("<>"), "digest");
    }
}
