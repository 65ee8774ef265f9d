//! The long-running daemon: wiring of sources, pipeline and store into tasks, and a clean
//! shutdown. Each source runs in its own task, so a failing platform never stalls the others.
//! On shutdown every task finishes the page it is storing, commits, and returns.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::sentiment::Scorer;
use crate::sources::runner::RunnerSettings;
use crate::sources::{self, RetryPolicy, SourceRunner};
use crate::store::Store;

/// How long shutdown waits for tasks to finish their current page.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Everything the daemon's tasks share.
pub struct Daemon {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub pipeline: Arc<Pipeline>,
    pub clock: Arc<dyn Clock>,
    /// Woken whenever a source stored new mentions.
    pub stored: Arc<Notify>,
}

impl Daemon {
    /// Opens the database (applying migrations) and builds the pipeline.
    pub async fn start(config: Config) -> Result<Daemon> {
        let store = Store::open(&config.storage.database)
            .await
            .with_context(|| format!("opening storage {}", config.storage.database))?;
        let pipeline = Pipeline::new(&config.brands, Arc::new(Scorer::new()));
        Ok(Daemon {
            config: Arc::new(config),
            store: Arc::new(store),
            pipeline: Arc::new(pipeline),
            clock: Arc::new(SystemClock),
            stored: Arc::new(Notify::new()),
        })
    }

    /// Runs until `shutdown` is cancelled, then stops every task and closes the database.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let mut tasks = JoinSet::new();
        let built = sources::build(&self.config.sources, &self.config.brands)
            .context("setting up the sources")?;
        if built.is_empty() {
            warn!("no source configured: nothing will be polled (add a [sources.*] section)");
        }
        let settings = RunnerSettings {
            backfill: self.config.sources.backfill,
            max_pages_per_poll: self.config.sources.max_pages_per_poll,
            policy: RetryPolicy::default(),
        };
        for source in built {
            let id = source.id().to_string();
            let queries = source.queries();
            if queries.is_empty() {
                warn!(source = %id, "no query for this source: the brands have no keyword, hashtag or handle it can search");
                continue;
            }
            info!(source = %id, queries = queries.len(), interval = ?source.interval(), "starting source");
            let runner = SourceRunner::new(
                source,
                self.pipeline.clone(),
                self.store.clone(),
                self.clock.clone(),
                settings,
            )
            .await
            .with_context(|| format!("loading the state of source {id}"))?
            .with_stored_signal(self.stored.clone());
            tasks.spawn(run_source(
                runner,
                self.clock.clone(),
                shutdown.child_token(),
            ));
        }
        // Alerts: evaluated after new mentions are stored (and every minute), delivered by the
        // sender as soon as they are in the outbox.
        let outbox = Arc::new(Notify::new());
        let evaluator = crate::alerts::Evaluator::new(
            self.store.clone(),
            self.config.clone(),
            self.clock.clone(),
        );
        tasks.spawn(run_evaluator(
            evaluator,
            self.stored.clone(),
            outbox.clone(),
            shutdown.child_token(),
        ));
        // Claims left by a sender that died are void (see `Store::claim_message`).
        if let Ok(n @ 1..) = self.store.release_claims().await {
            info!(
                messages = n,
                "released e-mails a previous run was delivering"
            );
        }
        let mailer = crate::notify::Mailer::from_config(&self.config.email)
            .context("setting up e-mail delivery")?;
        if !self.config.digests.is_empty() {
            let runner = crate::digest::DigestRunner::new(
                self.store.clone(),
                self.config.clone(),
                self.clock.clone(),
            );
            for d in &self.config.digests {
                if let Some(next) = d.schedule.next_after(self.clock.now()) {
                    info!(digest = %d.name, next = %next.with_timezone(&d.timezone()).format("%Y-%m-%d %H:%M %Z"), "digest scheduled");
                }
            }
            tasks.spawn(run_digests(
                runner,
                self.clock.clone(),
                outbox.clone(),
                shutdown.child_token(),
            ));
        }
        let sender = crate::notify::Sender::new(self.store.clone(), mailer, self.clock.clone());
        tasks.spawn(run_sender(sender, outbox.clone(), shutdown.child_token()));
        info!(
            brands = self.config.brands.len(),
            alerts = self.config.alerts.enabled,
            "mentiond running"
        );
        shutdown.cancelled().await;
        info!("shutting down: finishing the current pages");
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
        }
        self.store.close().await;
        info!("stopped");
        Ok(())
    }
}

/// The forever-loop of one source: poll what is due, sleep until the next due time.
async fn run_source(mut runner: SourceRunner, clock: Arc<dyn Clock>, shutdown: CancellationToken) {
    use futures_util::FutureExt;
    loop {
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
}

/// Fewest seconds between two evaluations: sources store pages in bursts.
const EVALUATE_DEBOUNCE: Duration = Duration::from_secs(2);
/// Evaluations happen at least this often (time passing ends episodes too).
const EVALUATE_EVERY: Duration = Duration::from_secs(60);

async fn run_evaluator(
    evaluator: crate::alerts::Evaluator,
    stored: Arc<Notify>,
    outbox: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        match evaluator.evaluate_once().await {
            Ok(e) if !e.fired.is_empty() || !e.resolved.is_empty() => outbox.notify_one(),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "alert evaluation failed"),
        }
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
}

/// The digests are checked at least this often, so a wall-clock change (NTP, suspend) is
/// noticed within a minute.
const DIGEST_CHECK_EVERY: Duration = Duration::from_secs(60);

async fn run_digests(
    runner: crate::digest::DigestRunner,
    clock: Arc<dyn Clock>,
    outbox: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
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
}

async fn run_sender(
    sender: crate::notify::Sender,
    outbox: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        // The pass in progress finishes (an SMTP transaction is not cut in the middle).
        if let Err(e) = sender.send_due_once().await {
            warn!(error = %e, "cannot read the outbox");
        }
        let wait = sender.idle_for(Duration::from_secs(30)).await;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = outbox.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
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
    });
    Ok(())
}
