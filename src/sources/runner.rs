//! Drives one source: decides which queries are due, pages through them, runs each page
//! through the pipeline and commits it with the advanced cursor, and schedules the next attempt
//! (regular interval, back-off, or a rate-limit wait). Health is written for `mentiond status`.
//!
//! [`SourceRunner::poll_once`] is one step; the daemon's forever-loop sleeps until the time it
//! returns. Tests call it directly with a [`ManualClock`](crate::clock::ManualClock).

use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::retry::{RetryClass, RetryPolicy, next_attempt, next_poll};
use super::{Cursor, Page, PageRequest, Position, Round, Source, SourceError};
use crate::clock::Clock;
use crate::mention::format_time;
use crate::pipeline::{Pipeline, Processed};
use crate::store::{LeaseClaim, PageCommit, SourceStatus, Store, StoreError};

/// Settings of a runner that do not come from the source itself.
#[derive(Debug, Clone, Copy)]
pub struct RunnerSettings {
    pub backfill: Duration,
    pub max_pages_per_poll: u32,
    pub policy: RetryPolicy,
}

#[derive(Debug)]
struct QueryState {
    key: String,
    next_at: DateTime<Utc>,
    failures: u32,
}

/// What one poll of one query did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollOutcome {
    pub pages: u32,
    pub fetched: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub unmatched: u64,
    pub skipped: u64,
    /// The catch-up is not finished (page cap reached or interrupted).
    pub more: bool,
}

#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Several instances on one database: each query is polled only by the instance holding its
/// lease (`poll:<source id>:<query>`), renewed with every page it commits.
#[derive(Debug, Clone)]
pub struct RunnerLease {
    /// This instance (`host:pid:random`).
    pub holder: Arc<str>,
    pub period: Duration,
}

/// The lease that guards the polling of one query.
pub fn poll_lease_name(source_id: &str, query: &str) -> String {
    format!("poll:{source_id}:{query}")
}

pub struct SourceRunner {
    lease: Option<RunnerLease>,
    source: Arc<dyn Source>,
    pipeline: Arc<Pipeline>,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    settings: RunnerSettings,
    queries: Vec<QueryState>,
    /// Platform-wide: no request before this (rate limit, bad credentials, budget).
    gate: Option<DateTime<Utc>>,
    /// Woken after every committed page that stored something (the alert evaluator listens).
    stored_signal: Option<Arc<Notify>>,
}

impl SourceRunner {
    /// Builds a runner and restores each query's back-off from the stored health, so a
    /// restart does not hammer a platform that asked to be left alone.
    pub async fn new(
        source: Arc<dyn Source>,
        pipeline: Arc<Pipeline>,
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        settings: RunnerSettings,
    ) -> Result<SourceRunner, StoreError> {
        let now = clock.now();
        let mut queries = Vec::new();
        let mut gate = None;
        for key in source.queries() {
            let mut q = QueryState {
                key,
                next_at: now,
                failures: 0,
            };
            if let Some(status) = store.load_source_status(source.id(), &q.key).await? {
                q.failures = status.consecutive_failures.max(0) as u32;
                // Only a platform's own "come back later" outlives a restart: after an auth or
                // budget failure the operator has likely just fixed the config, so try now (the
                // budget is checked again before every request anyway).
                let next = status
                    .next_poll_at
                    .as_deref()
                    .and_then(parse_time)
                    .filter(|t| *t > now);
                if let (Some(next), "rate_limited") = (next, status.state.as_str()) {
                    q.next_at = next;
                    gate = Some(gate.map_or(next, |g: DateTime<Utc>| g.max(next)));
                }
            }
            queries.push(q);
        }
        Ok(SourceRunner {
            lease: None,
            source,
            pipeline,
            store,
            clock,
            settings,
            queries,
            gate,
            stored_signal: None,
        })
    }

    /// Polls a query only while holding its lease (see [`RunnerLease`]).
    pub fn with_lease(mut self, lease: RunnerLease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// When to ask again for a query another instance polls: within half a lease, so that a
    /// dead instance's queries are taken over within one lease period.
    fn retry_lease_at(&self, now: DateTime<Utc>, period: Duration) -> DateTime<Utc> {
        let wait = self.source.interval().min(period / 2);
        now + super::retry::chrono_dur(wait.mul_f64(0.8 + 0.4 * fastrand::f64()))
    }

    pub fn with_stored_signal(mut self, signal: Arc<Notify>) -> Self {
        self.stored_signal = Some(signal);
        self
    }

    pub fn source(&self) -> &Arc<dyn Source> {
        &self.source
    }

    /// The earliest time something is due.
    pub fn next_due(&self) -> DateTime<Utc> {
        let q = self
            .queries
            .iter()
            .map(|q| q.next_at)
            .min()
            .unwrap_or_else(|| self.clock.now() + chrono::Duration::hours(1));
        match self.gate {
            Some(g) => q.max(g),
            None => q,
        }
    }

    /// Polls every due query once (each up to the page cap) and returns when the next one is
    /// due. Stops between pages when `shutdown` is cancelled; what was fetched is committed.
    pub async fn poll_once(&mut self, shutdown: &CancellationToken) -> DateTime<Utc> {
        let now = self.clock.now();
        if self.gate.is_some_and(|g| g > now) {
            return self.next_due();
        }
        self.gate = None;
        for i in 0..self.queries.len() {
            if shutdown.is_cancelled() {
                break;
            }
            let now = self.clock.now();
            if self.queries[i].next_at > now || self.gate.is_some_and(|g| g > now) {
                continue;
            }
            let key = self.queries[i].key.clone();
            if let Some(lease) = self.lease.clone() {
                let name = poll_lease_name(self.source.id(), &key);
                let period = super::retry::chrono_dur(lease.period);
                match self
                    .store
                    .acquire_lease(&name, &lease.holder, now, period)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        debug!(source = self.source.id(), query = %key, "polled by another instance");
                        self.queries[i].next_at = self.retry_lease_at(now, lease.period);
                        continue;
                    }
                    Err(e) => {
                        error!(source = self.source.id(), query = %key, error = %e, "cannot take this query's lease; trying again soon");
                        self.queries[i].next_at = now + chrono::Duration::seconds(30);
                        continue;
                    }
                }
            }
            let result = self.poll_query(&key, shutdown).await;
            let now = self.clock.now();
            match result {
                Ok((outcome, page_info)) => {
                    let q = &mut self.queries[i];
                    q.failures = 0;
                    q.next_at = if outcome.more && !shutdown.is_cancelled() {
                        // A long catch-up continues soon, not after a whole interval.
                        now + chrono::Duration::seconds(1)
                    } else {
                        next_poll(now, self.source.interval(), fastrand::f64())
                    };
                    if let Some(until) = page_info.rate.and_then(|r| r.exhausted_until()) {
                        info!(source = self.source.id(), until = %until, "rate-limit window used up, pausing this source");
                        self.gate = Some(until + chrono::Duration::seconds(1));
                    }
                    if outcome.stored > 0 || outcome.fetched > 0 {
                        debug!(source = self.source.id(), query = %key, pages = outcome.pages, fetched = outcome.fetched,
                            stored = outcome.stored, duplicates = outcome.duplicates, unmatched = outcome.unmatched, "polled");
                    }
                    let next_at = self.queries[i].next_at.max(self.gate.unwrap_or(now));
                    self.record_success(&key, now, next_at, &page_info).await;
                }
                Err(PollError::Source(e)) => {
                    let q = &mut self.queries[i];
                    q.failures += 1;
                    let next =
                        next_attempt(&self.settings.policy, &e, q.failures, now, fastrand::f64());
                    q.next_at = next;
                    let failures = q.failures;
                    let class = e.retry_class();
                    if matches!(class, RetryClass::RateLimited | RetryClass::Slow)
                        && !matches!(e, SourceError::Permanent(_))
                    {
                        // Rate limits and credentials are per account, not per query.
                        self.gate = Some(next);
                        for other in &mut self.queries {
                            other.next_at = other.next_at.max(next);
                        }
                    }
                    match &e {
                        SourceError::Auth(_) => {
                            error!(source = self.source.id(), query = %key, error = %e, failures, retry_at = %next, "source failing")
                        }
                        SourceError::RateLimited { .. } | SourceError::Budget { .. } => {
                            info!(source = self.source.id(), query = %key, error = %e, retry_at = %next, "source paused")
                        }
                        _ => {
                            warn!(source = self.source.id(), query = %key, error = %e, failures, retry_at = %next, "poll failed")
                        }
                    }
                    self.record_failure(&key, now, next, failures, &e).await;
                }
                Err(PollError::Store(StoreError::LeaseLost { .. })) => {
                    // This instance stalled past its lease and another one polls the query now:
                    // the page was not committed, that instance fetches it.
                    info!(source = self.source.id(), query = %key, "another instance took over this query");
                    let period = self
                        .lease
                        .as_ref()
                        .map_or(Duration::from_secs(60), |l| l.period);
                    self.queries[i].next_at = self.retry_lease_at(now, period);
                }
                Err(PollError::Store(e)) => {
                    // The page is not committed: the cursor did not move, nothing is lost.
                    let q = &mut self.queries[i];
                    q.failures += 1;
                    q.next_at = now + chrono::Duration::seconds(30);
                    error!(source = self.source.id(), query = %key, error = %e, "cannot store a page; will fetch it again");
                }
            }
        }
        self.next_due()
    }

    async fn poll_query(
        &mut self,
        key: &str,
        shutdown: &CancellationToken,
    ) -> Result<(PollOutcome, PageInfo), PollError> {
        let source = Arc::clone(&self.source);
        let lease_name = poll_lease_name(source.id(), key);
        let lease = self.lease.clone();
        let claim = |now: DateTime<Utc>| {
            lease.as_ref().map(|l| LeaseClaim {
                name: &lease_name,
                holder: &l.holder,
                until: now + super::retry::chrono_dur(l.period),
            })
        };
        let mut cursor = self
            .store
            .load_cursor(source.id(), key)
            .await?
            .unwrap_or_default();
        let mut outcome = PollOutcome::default();
        let mut info = PageInfo::default();
        loop {
            if shutdown.is_cancelled() {
                outcome.more = true;
                break;
            }
            let now = self.clock.now();
            source.budget(&self.store, now).await?;
            let floor = cursor.floor.clone().unwrap_or_else(|| {
                Position::at(now - super::retry::chrono_dur(self.settings.backfill))
            });
            let resume = cursor.round.as_ref().map(|r| r.resume.clone());
            let request = PageRequest {
                query: key,
                floor: &floor,
                resume: resume.as_ref(),
                state: &cursor.state,
                now,
            };
            let fetched = tokio::select! {
                biased;
                _ = shutdown.cancelled() => { outcome.more = true; break; }
                r = source.fetch(request) => r,
            };
            let page = match fetched {
                Ok(page) => page,
                Err(e) => {
                    if cursor.round.is_some() && matches!(e, SourceError::Permanent(_)) {
                        // A page token the platform no longer accepts: start the round afresh
                        // from the newest posts next time (stored posts are not stored twice).
                        warn!(source = source.id(), query = key, error = %e, "resume point refused, restarting this catch-up");
                        cursor.round = None;
                        self.store
                            .commit_page(&PageCommit {
                                source_id: source.id(),
                                query: key,
                                cursor: &cursor,
                                mentions: &[],
                                fetched: 0,
                                unmatched: 0,
                                skipped: 0,
                                billed: 0,
                                at: now,
                                lease: claim(now),
                            })
                            .await?;
                    }
                    return Err(e.into());
                }
            };
            for reason in &page.skipped {
                warn!(source = source.id(), query = key, reason = %reason, "skipped a broken item");
            }
            let next_cursor = advance(&cursor, &floor, &page);
            let mut page = page;
            // A post cannot come from the future (a wrong client clock, a bot): it would sit at
            // the top of every query and hide staleness.
            let latest = now + chrono::Duration::minutes(5);
            for item in &mut page.items {
                if item.mention.created_at > latest {
                    item.mention.created_at = now;
                }
                // A leap second (`:60`) is kept as the second before it: the post is real.
                if chrono::Timelike::nanosecond(&item.mention.created_at) >= 1_000_000_000 {
                    item.mention.created_at = item
                        .mention
                        .created_at
                        .with_nanosecond(999_000_000)
                        .unwrap_or(item.mention.created_at);
                }
            }
            // A post dated before 2000 is a broken item (year 0 or 1970 from a bad export):
            // skipped like any other broken item, the rest of the page kept.
            page.items.retain(|item| {
                match crate::mention::check_created_at(&item.mention.created_at, now) {
                    Ok(()) => true,
                    Err(reason) => {
                        warn!(source = source.id(), query = key, external_id = %item.mention.external_id, reason = %reason, "skipped a broken item");
                        false
                    }
                }
            });
            let newest_post = page
                .items
                .iter()
                .filter(|i| i.dated)
                .map(|i| i.mention.created_at)
                .max();
            let fetched_n = page.items.len() as u64;
            let mut scored = Vec::with_capacity(page.items.len());
            let mut unmatched = 0u64;
            for item in page.items {
                match self.pipeline.process_item(item) {
                    Processed::Matched(sm) => scored.push(*sm),
                    Processed::Unmatched => unmatched += 1,
                }
            }
            let stored = self
                .store
                .commit_page(&PageCommit {
                    source_id: source.id(),
                    query: key,
                    cursor: &next_cursor,
                    mentions: &scored,
                    fetched: fetched_n,
                    unmatched,
                    skipped: page.skipped.len() as u64,
                    billed: page.billed,
                    at: now,
                    lease: claim(now),
                })
                .await?;
            cursor = next_cursor;
            outcome.pages += 1;
            outcome.fetched += fetched_n;
            outcome.stored += stored.stored;
            outcome.duplicates += stored.duplicates;
            outcome.unmatched += unmatched;
            outcome.skipped += page.skipped.len() as u64;
            // The latest response that said anything about the rate limit.
            if page.rate.remaining.is_some() || page.rate.reset_at.is_some() || info.rate.is_none()
            {
                info.rate = Some(page.rate);
            }
            info.newest_post = info.newest_post.max(newest_post);
            if page.note.is_some() {
                info.note = page.note.clone();
            }
            if stored.stored > 0 {
                if let Some(signal) = &self.stored_signal {
                    signal.notify_one();
                }
            }
            if cursor.round.is_none() {
                break;
            }
            if outcome.pages >= self.settings.max_pages_per_poll {
                outcome.more = true;
                break;
            }
            if page.rate.exhausted_until().is_some() {
                outcome.more = true;
                break;
            }
        }
        Ok((outcome, info))
    }

    async fn status(&self, key: &str) -> SourceStatus {
        match self.store.load_source_status(self.source.id(), key).await {
            Ok(Some(s)) => s,
            _ => SourceStatus::new(self.source.id(), key, self.source.platform()),
        }
    }

    async fn record_success(
        &self,
        key: &str,
        now: DateTime<Utc>,
        next_at: DateTime<Utc>,
        info: &PageInfo,
    ) {
        let mut s = self.status(key).await;
        s.state = "ok".into();
        s.last_poll_at = Some(format_time(&now));
        s.last_success_at = Some(format_time(&now));
        s.consecutive_failures = 0;
        s.next_poll_at = Some(format_time(&next_at));
        if let Some(rate) = info.rate {
            s.rate_remaining = rate.remaining;
            s.rate_reset_at = rate.reset_at.map(|t| format_time(&t));
        }
        if let Some(newest) = info.newest_post {
            let newest = format_time(&newest);
            if s.newest_post_at.as_ref().is_none_or(|old| *old < newest) {
                s.newest_post_at = Some(newest);
            }
        }
        s.note = info.note.clone();
        if let Err(e) = self.store.save_source_status(&s).await {
            warn!(source = self.source.id(), error = %e, "cannot save source status");
        }
    }

    async fn record_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        next: DateTime<Utc>,
        failures: u32,
        e: &SourceError,
    ) {
        let mut s = self.status(key).await;
        s.state = match e {
            SourceError::RateLimited { .. } => "rate_limited",
            SourceError::Auth(_) => "auth_failed",
            SourceError::Budget { .. } => "budget",
            _ => "failing",
        }
        .into();
        s.last_poll_at = Some(format_time(&now));
        s.last_error = Some(e.to_string());
        s.last_error_at = Some(format_time(&now));
        s.consecutive_failures = failures as i64;
        s.next_poll_at = Some(format_time(&next));
        if let SourceError::RateLimited { retry_at, .. } = e {
            s.rate_remaining = Some(0.0);
            s.rate_reset_at = retry_at.map(|t| format_time(&t));
        }
        if let Err(err) = self.store.save_source_status(&s).await {
            warn!(source = self.source.id(), error = %err, "cannot save source status");
        }
        if !matches!(e, SourceError::Budget { .. }) {
            if let Err(err) = self
                .store
                .log_poll_error(self.source.id(), key, now, &e.to_string())
                .await
            {
                warn!(source = self.source.id(), error = %err, "cannot log a poll error");
            }
        }
    }
}

#[derive(Debug, Default, Clone)]
struct PageInfo {
    rate: Option<super::RateLimit>,
    newest_post: Option<DateTime<Utc>>,
    note: Option<String>,
}

/// The cursor after a page: a first page opens a round at its newest post; a page without a
/// next one closes the round and raises the floor to the round's top.
pub fn advance(cursor: &Cursor, floor: &Position, page: &Page) -> Cursor {
    let top = match &cursor.round {
        Some(round) => round.top.clone(),
        None => page.newest.clone(),
    };
    let state = page.state.clone().unwrap_or_else(|| cursor.state.clone());
    match &page.next {
        Some(resume) => Cursor {
            floor: Some(floor.clone()),
            round: Some(Round {
                top,
                resume: resume.clone(),
            }),
            state,
        },
        None => Cursor {
            floor: Some(top.unwrap_or_else(|| floor.clone())),
            round: None,
            state,
        },
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::Resume;

    fn pos(t: &str, id: &str) -> Position {
        Position {
            time: t.parse().unwrap(),
            id: Some(id.into()),
        }
    }

    #[test]
    fn a_first_page_with_more_opens_a_round_at_its_newest_post() {
        let floor = pos("2026-03-01T00:00:00Z", "10");
        let page = Page {
            newest: Some(pos("2026-03-02T00:00:00Z", "50")),
            next: Some(Resume {
                token: None,
                before: Some(pos("2026-03-01T12:00:00Z", "30")),
            }),
            ..Default::default()
        };
        let c = advance(&Cursor::default(), &floor, &page);
        assert_eq!(c.floor, Some(floor.clone()));
        let round = c.round.clone().unwrap();
        assert_eq!(round.top, Some(pos("2026-03-02T00:00:00Z", "50")));
        // The next page keeps the round's top, whatever its own newest post.
        let page2 = Page {
            newest: Some(pos("2026-03-01T11:00:00Z", "29")),
            next: None,
            ..Default::default()
        };
        let done = advance(&c, &floor, &page2);
        assert_eq!(done.round, None);
        assert_eq!(done.floor, Some(pos("2026-03-02T00:00:00Z", "50")));
    }

    #[test]
    fn an_empty_page_keeps_the_floor() {
        let floor = pos("2026-03-01T00:00:00Z", "10");
        let c = advance(&Cursor::default(), &floor, &Page::default());
        assert_eq!(c.floor, Some(floor));
        assert_eq!(c.round, None);
    }
}
