//! The long-running daemon: wiring of sources, pipeline and store into tasks, systemd
//! integration, reload and a clean shutdown.
//!
//! The tasks of one configuration form a *generation*: every source in its own task (a failing
//! platform never stalls the others), the alert evaluator, the digest scheduler, the e-mail
//! sender and retention. SIGHUP loads the config again: a valid one replaces the generation
//! (each task finishes the page or message in hand and commits first; cursors make the new
//! tasks resume where the old ones stopped); an invalid one is logged with its file, line and
//! key, and the running generation carries on. SIGTERM/SIGINT stop the generation the same
//! way and close the database.
//!
//! Under systemd (`Type=notify`): `READY=1` once the config is valid, the database open,
//! migrated and checked, and the tasks started; `WATCHDOG=1` only while every loop makes
//! progress ([`health::Progress`]); `STATUS=` a one-line summary every minute; `RELOADING=1`
//! and `STOPPING=1` around reloads and shutdown. Without `NOTIFY_SOCKET` all of it is a no-op.

pub mod health;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sd_notify::NotifyState;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, EmailTransport};
use crate::pipeline::Pipeline;
use crate::sentiment::Scorer;
use crate::sources::runner::RunnerSettings;
use crate::sources::{self, RetryPolicy, SourceRunner};
use crate::store::Store;
use health::{Beat, Progress};

/// How long shutdown waits for tasks to finish their current page.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How often `STATUS=` is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(60);

/// Everything the daemon's tasks share.
pub struct Daemon {
    /// Where the config was read from (read again on SIGHUP).
    pub config_path: PathBuf,
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    pub progress: Arc<Progress>,
}

/// Tells systemd (a no-op without `NOTIFY_SOCKET`); a failure is logged, never fatal.
fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        warn!(error = %e, "cannot notify systemd");
    }
}

impl Daemon {
    /// Opens the database (applying migrations) and checks its integrity.
    pub async fn start(config: Config, config_path: PathBuf) -> Result<Daemon> {
        // Migrations and the integrity check of a large database on slow disks can outlast
        // TimeoutStartSec: while they run, systemd is asked for more time, a minute at a time.
        let starting = CancellationToken::new();
        let extend = starting.clone();
        tokio::spawn(async move {
            loop {
                notify(&[NotifyState::ExtendTimeoutUsec(90_000_000)]);
                tokio::select! {
                    _ = extend.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                }
            }
        });
        let _done = starting.drop_guard();
        let store = Store::open(&config.storage.database)
            .await
            .with_context(|| format!("opening storage {}", config.storage.database))?;
        info!(database = %config.storage.database, "checking the database (PRAGMA quick_check)");
        let problems = store
            .quick_check()
            .await
            .context("checking the database's integrity")?;
        if !problems.is_empty() {
            store.close().await;
            bail!(
                "the database {} failed its integrity check ({}); restore the latest backup (mentiond backup) or recover it with sqlite3's .recover",
                config.storage.database,
                problems
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        Ok(Daemon {
            config_path,
            config: Arc::new(config),
            store: Arc::new(store),
            clock: Arc::new(SystemClock),
            progress: Progress::new(),
        })
    }

    /// Runs until `shutdown` is cancelled, reloading the config each time `reload` is
    /// notified; then stops every task and closes the database.
    pub async fn run(self, shutdown: CancellationToken, reload: Arc<Notify>) -> Result<()> {
        let mut background = JoinSet::new();
        background.spawn(watchdog(self.progress.clone(), shutdown.child_token()));
        background.spawn(report_status(
            self.store.clone(),
            self.clock.clone(),
            shutdown.child_token(),
        ));
        // Claims left by a sender that died are void (see `Store::claim_message`).
        if let Ok(n @ 1..) = self.store.release_claims("daemon").await {
            info!(
                messages = n,
                "released e-mails a previous run was delivering"
            );
        }
        let mut prepared = prepare(self.config.clone())?;
        let mut first = true;
        loop {
            let config = prepared.config.clone();
            let generation = shutdown.child_token();
            let mut tasks = self
                .spawn_generation(prepared, &generation, first)
                .await
                .context("starting the tasks")?;
            notify(&[NotifyState::Ready]);
            if first {
                info!(
                    brands = config.brands.len(),
                    alerts = config.alerts.enabled,
                    digests = config.digests.len(),
                    "mentiond running"
                );
                first = false;
            }
            // Wait for shutdown, or for a reload with a config that is valid and can be set up
            // (sources, e-mail transport): only then are the running tasks replaced.
            let next = loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break None,
                    _ = reload.notified() => {
                        info!(config = %self.config_path.display(), "SIGHUP: reloading the configuration");
                        let loaded = Config::load(&self.config_path)
                            .map_err(anyhow::Error::from)
                            .and_then(|mut new| {
                                if new.storage.database != config.storage.database {
                                    warn!(
                                        running = %config.storage.database,
                                        configured = %new.storage.database,
                                        "[storage] url changed: the database stays the same until mentiond restarts"
                                    );
                                    new.storage.database = config.storage.database.clone();
                                }
                                prepare(Arc::new(new))
                            });
                        match loaded {
                            Ok(p) => break Some(p),
                            Err(e) => {
                                error!("configuration rejected, the running one stays in force: {e:#}");
                            }
                        }
                    }
                }
            };
            let Some(new) = next else {
                notify(&[NotifyState::Stopping]);
                info!("shutting down: finishing the current pages");
                drain(&mut tasks).await;
                break;
            };
            match NotifyState::monotonic_usec_now() {
                Ok(now) => notify(&[NotifyState::Reloading, now]),
                Err(_) => notify(&[NotifyState::Reloading]),
            }
            generation.cancel();
            drain(&mut tasks).await;
            self.progress.clear();
            if shutdown.is_cancelled() {
                notify(&[NotifyState::Stopping]);
                break;
            }
            info!(
                brands = new.config.brands.len(),
                sources = %new.config.sources.names().join(", "),
                digests = new.config.digests.len(),
                "configuration reloaded"
            );
            prepared = new;
        }
        background.abort_all();
        while background.join_next().await.is_some() {}
        self.store.close().await;
        info!("stopped");
        Ok(())
    }

    /// Starts the tasks of one configuration.
    /// With `strict` (the first start), a source whose state cannot be loaded stops the
    /// start; after a reload it is logged and left out, so the daemon keeps running.
    async fn spawn_generation(
        &self,
        prepared: Prepared,
        cancel: &CancellationToken,
        strict: bool,
    ) -> Result<JoinSet<()>> {
        let Prepared {
            config,
            sources: built,
            mailer,
        } = prepared;
        let config = &config;
        let mut tasks = JoinSet::new();
        let pipeline = Arc::new(Pipeline::new(
            &config.brands,
            Arc::new(Scorer::with_engine(config.sentiment.engine)),
        ));
        let stored = Arc::new(Notify::new());
        if built.is_empty() {
            warn!("no source configured: nothing will be polled (add a [sources.*] section)");
        }
        let settings = RunnerSettings {
            backfill: config.sources.backfill,
            max_pages_per_poll: config.sources.max_pages_per_poll,
            policy: RetryPolicy::default(),
        };
        // A poll may fetch every page of its queries, each within the request timeout.
        let poll_limit = config.sources.timeout * (config.sources.max_pages_per_poll + 2)
            + Duration::from_secs(120);
        for source in built {
            let id = source.id().to_string();
            let queries = source.queries();
            if queries.is_empty() {
                warn!(source = %id, "no query for this source: the brands have no keyword, hashtag or handle it can search");
                continue;
            }
            info!(source = %id, queries = queries.len(), interval = ?source.interval(), "starting source");
            let limit = poll_limit * queries.len().max(1) as u32;
            let runner = match SourceRunner::new(
                source,
                pipeline.clone(),
                self.store.clone(),
                self.clock.clone(),
                settings,
            )
            .await
            {
                Ok(r) => r.with_stored_signal(stored.clone()),
                Err(e) if !strict => {
                    error!(source = %id, error = %e, "cannot load the state of this source: it is not polled until the next reload or restart");
                    continue;
                }
                Err(e) => {
                    return Err(
                        anyhow::Error::from(e).context(format!("loading the state of source {id}"))
                    );
                }
            };
            let beat = self.progress.register(&format!("source {id}"), limit, None);
            tasks.spawn(run_source(
                runner,
                self.clock.clone(),
                beat,
                cancel.child_token(),
            ));
        }
        // Alerts: evaluated after new mentions are stored (and every minute), delivered by the
        // sender as soon as they are in the outbox.
        let outbox = Arc::new(Notify::new());
        let evaluator =
            crate::alerts::Evaluator::new(self.store.clone(), config.clone(), self.clock.clone());
        let beat = self.progress.register(
            "alert evaluator",
            Duration::from_secs(600),
            Some(EVALUATE_EVERY * 5),
        );
        tasks.spawn(run_evaluator(
            evaluator,
            stored.clone(),
            outbox.clone(),
            beat,
            cancel.child_token(),
        ));
        if !config.digests.is_empty() {
            let runner = crate::digest::DigestRunner::new(
                self.store.clone(),
                config.clone(),
                self.clock.clone(),
            );
            for d in &config.digests {
                if let Some(next) = d.schedule.next_after(self.clock.now()) {
                    info!(digest = %d.name, next = %next.with_timezone(&d.timezone()).format("%Y-%m-%d %H:%M %Z"), "digest scheduled");
                }
            }
            let beat = self.progress.register(
                "digest scheduler",
                Duration::from_secs(1800),
                Some(DIGEST_CHECK_EVERY * 5),
            );
            tasks.spawn(run_digests(
                runner,
                self.clock.clone(),
                outbox.clone(),
                beat,
                cancel.child_token(),
            ));
        }
        let smtp_timeout = match &config.email.transport {
            EmailTransport::Smtp(s) => s.timeout,
            EmailTransport::File { .. } => Duration::from_secs(30),
        };
        // A pass delivers up to 50 messages, each a few commands within the SMTP timeout.
        let send_limit = smtp_timeout * 50 * 4 + Duration::from_secs(60);
        let sender = crate::notify::Sender::new(self.store.clone(), mailer, self.clock.clone());
        let beat =
            self.progress
                .register("e-mail sender", send_limit, Some(Duration::from_secs(300)));
        tasks.spawn(run_sender(
            sender,
            outbox.clone(),
            beat,
            cancel.child_token(),
        ));
        if let Some(retention) = config.storage.retention {
            let beat = self.progress.register(
                "retention",
                Duration::from_secs(600),
                Some(RETENTION_EVERY * 3),
            );
            tasks.spawn(run_retention(
                self.store.clone(),
                self.clock.clone(),
                retention,
                beat,
                cancel.child_token(),
            ));
        }
        Ok(tasks)
    }
}

/// What a configuration needs that can fail before anything runs: the platforms' clients and
/// the e-mail transport. A reload prepares the new configuration first, so a config that
/// cannot be set up (an unreadable CA file, say) never replaces a working one.
struct Prepared {
    config: Arc<Config>,
    sources: Vec<Arc<dyn crate::sources::Source>>,
    mailer: crate::notify::Mailer,
}

fn prepare(config: Arc<Config>) -> Result<Prepared> {
    let sources =
        sources::build(&config.sources, &config.brands).context("setting up the sources")?;
    let mailer =
        crate::notify::Mailer::from_config(&config.email).context("setting up e-mail delivery")?;
    Ok(Prepared {
        config,
        sources,
        mailer,
    })
}

/// Waits for the tasks of a generation to finish their unit of work, aborting stragglers.
async fn drain(tasks: &mut JoinSet<()>) {
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                warn!(error = %e, "a task ended abnormally");
            }
        }
    })
    .await;
    if drained.is_err() {
        warn!(
            "some tasks did not stop in time; aborting them (their last page is not committed and will be fetched again)"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// Pings systemd's watchdog at half its interval while every loop makes progress.
async fn watchdog(progress: Arc<Progress>, shutdown: CancellationToken) {
    let Some(usec) = watchdog_usec() else {
        return;
    };
    let every = Duration::from_micros(usec / 2).max(Duration::from_millis(50));
    let mut reported = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let stalled = progress.stalled(Instant::now());
        if stalled.is_empty() {
            notify(&[NotifyState::Watchdog]);
            if reported {
                info!("every loop makes progress again; watchdog pings resumed");
                reported = false;
            }
        } else if !reported {
            error!(stalled = %stalled.join("; "), "no progress: watchdog pings stopped, systemd will restart mentiond");
            reported = true;
        }
    }
}

/// The watchdog interval systemd asks for: `WATCHDOG_USEC`, for this process when
/// `WATCHDOG_PID` names one (as `sd_watchdog_enabled(3)` reads them).
fn watchdog_usec() -> Option<u64> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    match std::env::var("WATCHDOG_PID") {
        Ok(pid) if pid.parse::<u32>().ok() != Some(std::process::id()) => None,
        _ => (usec > 0).then_some(usec),
    }
}

/// Keeps `STATUS=` (what `systemctl status` shows) up to date.
async fn report_status(store: Arc<Store>, clock: Arc<dyn Clock>, shutdown: CancellationToken) {
    loop {
        let now = clock.now();
        if let (Ok(sources), Ok(alerts)) = (
            store.source_statuses(now).await,
            store
                .alerts_between(
                    now - chrono::Duration::days(7),
                    now + chrono::Duration::seconds(1),
                )
                .await,
        ) {
            let ok = sources.iter().filter(|s| s.state == "ok").count();
            let stored: i64 = sources.iter().map(|s| s.stored_last_hour).sum();
            let last = alerts.last().map(|a| {
                (
                    a.brand.as_str(),
                    a.fired_at.get(..16).unwrap_or(&a.fired_at).to_string(),
                )
            });
            let line = health::status_line(
                ok,
                sources.len() - ok,
                stored,
                last.as_ref().map(|(b, t)| (*b, t.as_str())),
            );
            notify(&[NotifyState::Status(&line.replace('T', " "))]);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(STATUS_EVERY) => {}
        }
    }
}

/// Retention runs this often.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// Rows per pruning transaction: small, so pollers never wait long for the writer.
const RETENTION_BATCH: i64 = 500;

async fn run_retention(
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    retention: Duration,
    beat: Beat,
    shutdown: CancellationToken,
) {
    // Not at the very start: let the sources catch up first.
    tokio::select! {
        _ = shutdown.cancelled() => { beat.retire(); return; }
        _ = tokio::time::sleep(Duration::from_secs(60)) => {}
    }
    loop {
        beat.busy();
        let before = clock.now() - crate::sources::retry::chrono_dur(retention);
        let mut total = crate::store::Pruned::default();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            match store.prune_before(before, RETENTION_BATCH).await {
                Ok(p) if p.total() == 0 => break,
                Ok(p) => {
                    total.mentions += p.mentions;
                    total.polls += p.polls;
                    total.messages += p.messages;
                    // Each batch is progress: a first pass over years of history may take
                    // hours without the loop being stuck.
                    beat.done();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    beat.busy();
                }
                Err(e) => {
                    warn!(error = %e, "retention: cannot prune now; will retry");
                    break;
                }
            }
        }
        if total.total() > 0 {
            info!(
                mentions = total.mentions,
                poll_log = total.polls,
                emails = total.messages,
                older_than = %crate::mention::format_time(&before),
                "retention: old rows pruned"
            );
        }
        beat.done();
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(RETENTION_EVERY) => {}
        }
    }
    beat.retire();
}

/// The forever-loop of one source: poll what is due, sleep until the next due time.
async fn run_source(
    mut runner: SourceRunner,
    clock: Arc<dyn Clock>,
    beat: Beat,
    shutdown: CancellationToken,
) {
    use futures_util::FutureExt;
    loop {
        beat.busy();
        // A bug triggered by one platform's data must not silence that platform for good.
        let polled = std::panic::AssertUnwindSafe(runner.poll_once(&shutdown))
            .catch_unwind()
            .await;
        let next = match polled {
            Ok(next) => next,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(source = runner.source().id(), panic = %what, "a poll panicked (a bug); retrying in 5 minutes");
                clock.now() + chrono::Duration::minutes(5)
            }
        };
        beat.done();
        if shutdown.is_cancelled() {
            break;
        }
        let wait = (next - clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(200));
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    beat.retire();
}

/// Fewest seconds between two evaluations: sources store pages in bursts.
const EVALUATE_DEBOUNCE: Duration = Duration::from_secs(2);
/// Evaluations happen at least this often (time passing ends episodes too).
const EVALUATE_EVERY: Duration = Duration::from_secs(60);

async fn run_evaluator(
    evaluator: crate::alerts::Evaluator,
    stored: Arc<Notify>,
    outbox: Arc<Notify>,
    beat: Beat,
    shutdown: CancellationToken,
) {
    loop {
        beat.busy();
        match evaluator.evaluate_once().await {
            Ok(e) if !e.fired.is_empty() || !e.resolved.is_empty() => outbox.notify_one(),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "alert evaluation failed"),
        }
        beat.done();
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = stored.notified() => {}
            _ = tokio::time::sleep(EVALUATE_EVERY) => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(EVALUATE_DEBOUNCE) => {}
        }
    }
    beat.retire();
}

/// The digests are checked at least this often, so a wall-clock change (NTP, suspend) is
/// noticed within a minute.
const DIGEST_CHECK_EVERY: Duration = Duration::from_secs(60);

async fn run_digests(
    runner: crate::digest::DigestRunner,
    clock: Arc<dyn Clock>,
    outbox: Arc<Notify>,
    beat: Beat,
    shutdown: CancellationToken,
) {
    loop {
        beat.busy();
        match runner.run_due_once().await {
            Ok(outcomes) => {
                if outcomes
                    .iter()
                    .any(|o| matches!(o, crate::digest::RunOutcome::Queued { .. }))
                {
                    outbox.notify_one();
                }
            }
            Err(e) => warn!(error = %e, "cannot run the digests; will retry"),
        }
        beat.done();
        let wait = runner
            .next_due()
            .and_then(|t| (t - clock.now()).to_std().ok())
            .unwrap_or(DIGEST_CHECK_EVERY)
            .clamp(Duration::from_millis(200), DIGEST_CHECK_EVERY);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    beat.retire();
}

async fn run_sender(
    sender: crate::notify::Sender,
    outbox: Arc<Notify>,
    beat: Beat,
    shutdown: CancellationToken,
) {
    loop {
        // The pass in progress finishes (an SMTP transaction is not cut in the middle).
        beat.busy();
        if let Err(e) = sender.send_due_once().await {
            warn!(error = %e, "cannot read the outbox");
        }
        beat.done();
        let wait = sender.idle_for(Duration::from_secs(30)).await;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = outbox.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    beat.retire();
}

/// Notifies `reload` on each SIGHUP.
pub fn reload_on_sighup(reload: Arc<Notify>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            reload.notify_one();
        }
    });
    Ok(())
}

/// Cancels `token` on SIGTERM or SIGINT.
pub fn cancel_on_signals(token: CancellationToken) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM received"),
            _ = int.recv() => info!("SIGINT received"),
        }
        token.cancel();
        // A second signal means "now": the pages in hand are not committed (their cursors
        // were not advanced either, so they are fetched again at the next start).
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        warn!("second signal: exiting without waiting for the current pages");
        std::process::exit(130);
    });
    Ok(())
}
