//! The long-running daemon: wiring of sources, pipeline and store into tasks, systemd
//! integration, reload and a clean shutdown.
//!
//! The daemon is a value: [`Daemon::builder`] takes the configuration and, optionally, the
//! clock, store and mailer (tests run it in process on a [`crate::clock::ManualClock`]), and
//! [`DaemonBuilder::spawn`] returns a [`DaemonHandle`] to reload, shut down and join it.
//!
//! The tasks of one configuration form a *generation*: every source in its own task (a failing
//! platform never stalls the others), the alert evaluator, the digest scheduler, the e-mail
//! sender and retention. Each runs through [`supervise::supervise`]: a panic is a logged,
//! counted failed step and the task goes on; every step is reported for the watchdog; every
//! sleep is on the daemon's clock. A task that ends on its own is a bug the generation notices:
//! the daemon stops with an error, so the service manager restarts it.
//!
//! A reload loads the config again: a valid one replaces the generation (each task finishes
//! the page or message in hand and commits first; cursors make the new tasks resume where the
//! old ones stopped); an invalid one is logged with its file, line and key, and the running
//! generation carries on. Shutdown stops the generation the same way and closes the database.
//!
//! Under systemd (`Type=notify`): `READY=1` once the config is valid, the database open,
//! migrated and checked, and the tasks started; `WATCHDOG=1` only while every loop makes
//! progress ([`health::Progress`]); `STATUS=` a one-line summary every minute; `RELOADING=1`
//! as soon as SIGHUP arrives and `READY=1` once the new config is applied or rejected, with a
//! `STATUS=` saying which; `STOPPING=1` at shutdown. Without `NOTIFY_SOCKET` all of it is a
//! no-op.

pub mod health;
pub mod supervise;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sd_notify::NotifyState;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, EmailTransport};
use crate::notify::Mailer;
use crate::pipeline::Pipeline;
use crate::sentiment::Scorer;
use crate::sources::runner::RunnerSettings;
use crate::sources::{self, RetryPolicy, SourceRunner};
use crate::store::Store;
use health::Progress;
use supervise::{Step, Wake, supervise};

/// How long shutdown waits for tasks to finish their current page.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How often `STATUS=` is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(60);

/// Everything the daemon's tasks share.
pub struct Daemon {
    /// Where the config was read from (read again on reload).
    pub config_path: PathBuf,
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    pub progress: Arc<Progress>,
    /// Used instead of the configured e-mail transport when set (tests).
    mailer: Option<Mailer>,
    /// Whether the daemon opened the store (and so closes it when it stops).
    owns_store: bool,
    /// The outcome of the last reload, for `STATUS=`.
    last_reload: Arc<Mutex<Option<String>>>,
    /// How many generations have started (bumped when `READY=1` is sent).
    generations: watch::Sender<u64>,
    /// This instance among those sharing the database: the holder of its leases.
    pub instance: Arc<str>,
}

/// `host:pid:random`: unique among the instances sharing a database, and a restarted
/// process is a new instance (its predecessor's leases expire, or were released).
fn instance_id() -> Arc<str> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}:{:04x}", std::process::id(), fastrand::u16(..)).into()
}

/// Builds a [`Daemon`]: the system clock, the configured database and e-mail transport unless
/// told otherwise.
pub struct DaemonBuilder {
    config: Config,
    config_path: PathBuf,
    clock: Arc<dyn Clock>,
    store: Option<Arc<Store>>,
    mailer: Option<Mailer>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new configuration runs.
    Applied,
    /// The running configuration stays; why the new one was refused.
    Rejected(String),
}

/// A reload request; SIGHUP sends one without a reply.
struct ReloadRequest {
    reply: Option<oneshot::Sender<ReloadOutcome>>,
}

/// A running daemon.
pub struct DaemonHandle {
    shutdown: CancellationToken,
    reloads: mpsc::UnboundedSender<ReloadRequest>,
    task: tokio::task::JoinHandle<Result<()>>,
    progress: Arc<Progress>,
    generations: watch::Receiver<u64>,
}

impl DaemonHandle {
    /// Asks the daemon to stop (as SIGTERM does); [`DaemonHandle::join`] waits for it.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// The token that stops the daemon (for signal handlers).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Reloads the configuration (as SIGHUP does) and says whether it was applied.
    pub async fn reload(&self) -> ReloadOutcome {
        let (reply, outcome) = oneshot::channel();
        if self
            .reloads
            .send(ReloadRequest { reply: Some(reply) })
            .is_err()
        {
            return ReloadOutcome::Rejected("the daemon has stopped".into());
        }
        outcome
            .await
            .unwrap_or_else(|_| ReloadOutcome::Rejected("the daemon has stopped".into()))
    }

    /// Reloads each time `signal` is notified (see [`notify_on_sighup`]), without waiting for
    /// the outcome (the journal and `STATUS=` tell it).
    pub fn reload_on(&self, signal: Arc<Notify>) {
        let reloads = self.reloads.clone();
        tokio::spawn(async move {
            loop {
                signal.notified().await;
                if reloads.send(ReloadRequest { reply: None }).is_err() {
                    return;
                }
            }
        });
    }

    /// Waits until the daemon's tasks run (`READY=1`): the first start, or the generation
    /// after the `n`-th one. `false` if the daemon stopped first.
    pub async fn ready(&self) -> bool {
        self.ready_after(0).await
    }

    /// Waits until more than `n` generations have started (a reload applied makes one).
    pub async fn ready_after(&self, n: u64) -> bool {
        let mut rx = self.generations.clone();
        rx.wait_for(|g| *g > n).await.is_ok()
    }

    /// How many generations have started so far.
    pub fn generations(&self) -> u64 {
        *self.generations.borrow()
    }

    /// The progress of the daemon's loops (steps done and failed, per loop).
    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    /// Waits for the daemon to stop; its error if it stopped on one.
    pub async fn join(self) -> Result<()> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(anyhow!("the daemon task failed: {e}")),
        }
    }
}

/// Tells systemd (a no-op without `NOTIFY_SOCKET`); a failure is logged, never fatal.
fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        warn!(error = %e, "cannot notify systemd");
    }
}

impl DaemonBuilder {
    /// The clock every loop reads and sleeps on.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> DaemonBuilder {
        self.clock = clock;
        self
    }

    /// A store already open (the daemon then leaves it open when it stops).
    pub fn store(mut self, store: Arc<Store>) -> DaemonBuilder {
        self.store = Some(store);
        self
    }

    /// The transport for every e-mail, instead of the configured one (kept across reloads).
    pub fn mailer(mut self, mailer: Mailer) -> DaemonBuilder {
        self.mailer = Some(mailer);
        self
    }

    /// Opens the database (applying migrations) and checks its integrity.
    pub async fn open(self) -> Result<Daemon> {
        let DaemonBuilder {
            config,
            config_path,
            clock,
            store,
            mailer,
        } = self;
        let owns_store = store.is_none();
        let store = match store {
            Some(s) => s,
            None => Arc::new(open_checked(&config).await?),
        };
        Ok(Daemon {
            config_path,
            config: Arc::new(config),
            store,
            clock,
            progress: Progress::new(),
            mailer,
            owns_store,
            last_reload: Arc::new(Mutex::new(None)),
            generations: watch::Sender::new(0),
            instance: instance_id(),
        })
    }

    /// Opens the daemon and runs it in a task of its own.
    pub async fn spawn(self) -> Result<DaemonHandle> {
        let daemon = self.open().await?;
        Ok(daemon.spawn())
    }
}

/// Opens the configured database, applying migrations, and checks its integrity.
async fn open_checked(config: &Config) -> Result<Store> {
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
    info!(database = %config.storage.database, "checking the database");
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
    Ok(store)
}

impl Daemon {
    pub fn builder(config: Config, config_path: PathBuf) -> DaemonBuilder {
        DaemonBuilder {
            config,
            config_path,
            clock: Arc::new(SystemClock),
            store: None,
            mailer: None,
        }
    }

    /// Opens the configured database on the system clock (see [`Daemon::builder`]).
    pub async fn start(config: Config, config_path: PathBuf) -> Result<Daemon> {
        Daemon::builder(config, config_path).open().await
    }

    /// Runs the daemon in a task of its own.
    pub fn spawn(self) -> DaemonHandle {
        self.spawn_with_shutdown(CancellationToken::new())
    }

    /// As [`Daemon::spawn`], stopping when `shutdown` is cancelled (by signal handlers
    /// installed before the database was opened).
    pub fn spawn_with_shutdown(self, shutdown: CancellationToken) -> DaemonHandle {
        let (reloads, requests) = mpsc::unbounded_channel();
        let progress = self.progress.clone();
        let generations = self.generations.subscribe();
        let task = tokio::spawn(self.run(shutdown.clone(), requests));
        DaemonHandle {
            shutdown,
            reloads,
            task,
            progress,
            generations,
        }
    }

    /// Loads and prepares the configuration again; `Err` with the reason it is refused.
    fn load_again(&self, running: &Config) -> Result<Prepared> {
        let mut new = Config::load(&self.config_path)?;
        if new.storage.database != running.storage.database {
            warn!(
                running = %running.storage.database,
                configured = %new.storage.database,
                "[storage] url changed: the database stays the same until mentiond restarts"
            );
            new.storage.database = running.storage.database.clone();
        }
        self.prepare(Arc::new(new))
    }

    fn prepare(&self, config: Arc<Config>) -> Result<Prepared> {
        let mut prepared = prepare(config)?;
        if let Some(m) = &self.mailer {
            prepared.mailer = m.clone();
        }
        Ok(prepared)
    }

    /// Runs until `shutdown` is cancelled, reloading the config on each request; then stops
    /// every task and closes the database (if it opened it).
    async fn run(
        self,
        shutdown: CancellationToken,
        mut reloads: mpsc::UnboundedReceiver<ReloadRequest>,
    ) -> Result<()> {
        let result = self.run_generations(&shutdown, &mut reloads).await;
        if let Err(e) = &result {
            error!("{e:#}");
        }
        // Other instances take over this one's queries and alerts at once, not after a lease.
        if let Err(e) = self.store.release_leases(Some(&self.instance)).await {
            warn!(error = %e, "cannot release this instance's leases; they expire on their own");
        }
        if self.owns_store {
            self.store.close().await;
        }
        info!("stopped");
        result
    }

    async fn run_generations(
        &self,
        shutdown: &CancellationToken,
        reloads: &mut mpsc::UnboundedReceiver<ReloadRequest>,
    ) -> Result<()> {
        let background = CancellationToken::new();
        let _stop_background = background.clone().drop_guard();
        tokio::spawn(watchdog(self.progress.clone(), background.clone()));
        tokio::spawn(report_status(
            self.store.clone(),
            self.clock.clone(),
            self.last_reload.clone(),
            background.clone(),
        ));
        // Claims left by a sender that died are void (see `Store::claim_message`): on SQLite only
        // one daemon runs on a database. On PostgreSQL another instance may be delivering them
        // right now; claims there end with their lease.
        if self.store.backend_name() == "sqlite" {
            if let Ok(n @ 1..) = self.store.release_claims("daemon").await {
                info!(
                    messages = n,
                    "released e-mails a previous run was delivering"
                );
            }
            // Likewise a dead run's leases: waiting for them to expire would only delay polling.
            if let Err(e) = self.store.release_leases(None).await {
                warn!(error = %e, "cannot clear a previous run's leases; they expire on their own");
            }
        }
        info!(instance = %self.instance, backend = self.store.backend_name(), "starting");
        let mut prepared = self.prepare(self.config.clone())?;
        let mut first = true;
        let mut answer: Option<oneshot::Sender<ReloadOutcome>> = None;
        loop {
            let config = prepared.config.clone();
            let generation = shutdown.child_token();
            let mut tasks = self
                .spawn_generation(prepared, &generation, first)
                .await
                .context("starting the tasks")?;
            notify(&[NotifyState::Ready]);
            self.generations.send_modify(|g| *g += 1);
            if let Some(reply) = answer.take() {
                let _ = reply.send(ReloadOutcome::Applied);
            }
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
                    biased;
                    _ = shutdown.cancelled() => break None,
                    ended = tasks.join_next() => {
                        // Tasks end when shutdown cancels them: that is no failure.
                        if shutdown.is_cancelled() {
                            break None;
                        }
                        let what = match ended {
                            Some(Ok(name)) => format!("the task {name:?} ended on its own"),
                            Some(Err(e)) => format!("a task failed: {e}"),
                            None => "every task ended".to_string(),
                        };
                        generation.cancel();
                        drain(&mut tasks).await;
                        notify(&[NotifyState::Stopping]);
                        bail!("{what} (a bug in mentiond); stopping so that the service manager starts it again");
                    }
                    request = reloads.recv() => {
                        let Some(request) = request else { continue };
                        // systemd learns at once that a reload is under way (and waits for
                        // READY=1 before `systemctl reload` returns).
                        match NotifyState::monotonic_usec_now() {
                            Ok(now) => notify(&[NotifyState::Reloading, now]),
                            Err(_) => notify(&[NotifyState::Reloading]),
                        }
                        info!(config = %self.config_path.display(), "reloading the configuration");
                        match self.load_again(&config) {
                            Ok(p) => {
                                answer = request.reply;
                                break Some(p);
                            }
                            Err(e) => {
                                let reason = format!("{e:#}");
                                error!("configuration rejected, the running one stays in force: {reason}");
                                let note = format!(
                                    "reload at {} rejected, previous configuration running: {}",
                                    self.clock.now().format("%Y-%m-%d %H:%M"),
                                    first_line(&reason)
                                );
                                notify(&[NotifyState::Ready, NotifyState::Status(&note)]);
                                *self.last_reload.lock().expect("reload note") = Some(note);
                                if let Some(reply) = request.reply {
                                    let _ = reply.send(ReloadOutcome::Rejected(reason));
                                }
                            }
                        }
                    }
                }
            };
            let Some(new) = next else {
                notify(&[NotifyState::Stopping]);
                info!("shutting down: finishing the current pages");
                drain(&mut tasks).await;
                return Ok(());
            };
            generation.cancel();
            drain(&mut tasks).await;
            self.progress.clear();
            if shutdown.is_cancelled() {
                notify(&[NotifyState::Stopping]);
                return Ok(());
            }
            info!(
                brands = new.config.brands.len(),
                sources = %new.config.sources.names().join(", "),
                digests = new.config.digests.len(),
                "configuration reloaded"
            );
            let note = format!(
                "configuration reloaded at {}",
                self.clock.now().format("%Y-%m-%d %H:%M")
            );
            notify(&[NotifyState::Status(&note)]);
            *self.last_reload.lock().expect("reload note") = None;
            prepared = new;
        }
    }

    /// Starts the tasks of one configuration.
    /// With `strict` (the first start), a source whose state cannot be loaded stops the
    /// start; after a reload it is logged and left out, so the daemon keeps running.
    async fn spawn_generation(
        &self,
        prepared: Prepared,
        cancel: &CancellationToken,
        strict: bool,
    ) -> Result<JoinSet<String>> {
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
        let clock = &self.clock;
        let lease = crate::sources::runner::RunnerLease {
            holder: self.instance.clone(),
            period: config.storage.lease,
        };
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
                clock.clone(),
                settings,
            )
            .await
            {
                Ok(r) => r
                    .with_stored_signal(stored.clone())
                    .with_lease(lease.clone()),
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
            let name = format!("source {id}");
            let beat = self.progress.register(&name, limit, None);
            let step = SourceStep {
                runner,
                clock: clock.clone(),
            };
            tasks.spawn(supervise(
                name,
                step,
                clock.clone(),
                beat,
                None,
                cancel.child_token(),
            ));
        }
        // Alerts: evaluated after new mentions are stored (and every minute), delivered by the
        // sender as soon as they are in the outbox.
        let outbox = Arc::new(Notify::new());
        let evaluator =
            crate::alerts::Evaluator::new(self.store.clone(), config.clone(), clock.clone())
                .with_lease(lease.clone());
        let name = "alert evaluator".to_string();
        let beat =
            self.progress
                .register(&name, Duration::from_secs(600), Some(EVALUATE_EVERY * 5));
        tasks.spawn(supervise(
            name,
            EvaluatorStep {
                evaluator,
                outbox: outbox.clone(),
                clock: clock.clone(),
                // The lease is renewed well within its period, so that it never lapses
                // between two evaluations of a live instance.
                every: EVALUATE_EVERY.min(config.storage.lease / 3),
            },
            clock.clone(),
            beat,
            Some(Wake {
                signal: stored.clone(),
                settle: EVALUATE_DEBOUNCE,
            }),
            cancel.child_token(),
        ));
        if !config.digests.is_empty() {
            let runner =
                crate::digest::DigestRunner::new(self.store.clone(), config.clone(), clock.clone());
            for d in &config.digests {
                if let Some(next) = d.schedule.next_after(clock.now()) {
                    info!(digest = %d.name, next = %next.with_timezone(&d.timezone()).format("%Y-%m-%d %H:%M %Z"), "digest scheduled");
                }
            }
            let name = "digest scheduler".to_string();
            let beat = self.progress.register(
                &name,
                Duration::from_secs(1800),
                Some(DIGEST_CHECK_EVERY * 5),
            );
            tasks.spawn(supervise(
                name,
                DigestStep {
                    runner,
                    outbox: outbox.clone(),
                    clock: clock.clone(),
                },
                clock.clone(),
                beat,
                None,
                cancel.child_token(),
            ));
        }
        let smtp_timeout = match &config.email.transport {
            EmailTransport::Smtp(s) => s.timeout,
            EmailTransport::File { .. } => Duration::from_secs(30),
        };
        // A pass delivers up to 50 messages, each a few commands within the SMTP timeout.
        let send_limit = smtp_timeout * 50 * 4 + Duration::from_secs(60);
        let sender = crate::notify::Sender::new(self.store.clone(), mailer, clock.clone())
            .with_channels(&config.channels);
        let name = "e-mail sender".to_string();
        let beat = self
            .progress
            .register(&name, send_limit, Some(Duration::from_secs(300)));
        tasks.spawn(supervise(
            name,
            SenderStep {
                sender,
                clock: clock.clone(),
            },
            clock.clone(),
            beat,
            Some(Wake {
                signal: outbox.clone(),
                settle: Duration::ZERO,
            }),
            cancel.child_token(),
        ));
        if let Some(retention) = config.storage.retention {
            let name = "retention".to_string();
            let beat =
                self.progress
                    .register(&name, Duration::from_secs(600), Some(RETENTION_EVERY * 3));
            tasks.spawn(supervise(
                name,
                RetentionStep {
                    store: self.store.clone(),
                    clock: clock.clone(),
                    retention,
                    started: false,
                    pass: Default::default(),
                },
                clock.clone(),
                beat,
                None,
                cancel.child_token(),
            ));
        }
        Ok(tasks)
    }
}

/// The first line of a multi-line error (the rest is in the journal).
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// What a configuration needs that can fail before anything runs: the platforms' clients and
/// the e-mail transport. A reload prepares the new configuration first, so a config that
/// cannot be set up (an unreadable CA file, say) never replaces a working one.
struct Prepared {
    config: Arc<Config>,
    sources: Vec<Arc<dyn crate::sources::Source>>,
    mailer: Mailer,
}

fn prepare(config: Arc<Config>) -> Result<Prepared> {
    let sources =
        sources::build(&config.sources, &config.brands).context("setting up the sources")?;
    let mailer = Mailer::from_config(&config.email).context("setting up e-mail delivery")?;
    Ok(Prepared {
        config,
        sources,
        mailer,
    })
}

/// Waits for the tasks of a generation to finish their unit of work, aborting stragglers.
async fn drain(tasks: &mut JoinSet<String>) {
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
async fn report_status(
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    last_reload: Arc<Mutex<Option<String>>>,
    shutdown: CancellationToken,
) {
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
            let mut line = health::status_line(
                ok,
                sources.len() - ok,
                stored,
                last.as_ref().map(|(b, t)| (*b, t.as_str())),
            )
            .replace('T', " ");
            // A rejected reload stays in view until a reload succeeds.
            if let Some(note) = last_reload.lock().expect("reload note").as_deref() {
                line = format!("{note}; {line}");
            }
            notify(&[NotifyState::Status(&line)]);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = crate::clock::sleep(clock.as_ref(), STATUS_EVERY) => {}
        }
    }
}

/// Retention runs this often.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// Rows per pruning transaction: small, so pollers never wait long for the writer.
const RETENTION_BATCH: i64 = 500;

fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or_default()
}

/// Prunes rows older than the retention, a batch per step (each batch is progress: a first
/// pass over years of history may take hours without the loop being stuck).
struct RetentionStep {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    retention: Duration,
    started: bool,
    pass: crate::store::Pruned,
}

impl Step for RetentionStep {
    fn step<'a>(&'a mut self, _: &'a CancellationToken) -> BoxFuture<'a, DateTime<Utc>> {
        Box::pin(async move {
            let now = self.clock.now();
            // Not at the very start: let the sources catch up first.
            if !self.started {
                self.started = true;
                return after(now, Duration::from_secs(60));
            }
            let before = now - crate::sources::retry::chrono_dur(self.retention);
            match self.store.prune_before(before, RETENTION_BATCH).await {
                Ok(p) if p.total() > 0 => {
                    self.pass.mentions += p.mentions;
                    self.pass.polls += p.polls;
                    self.pass.messages += p.messages;
                    return after(now, Duration::from_millis(50));
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "retention: cannot prune now; will retry"),
            }
            let pass = std::mem::take(&mut self.pass);
            if pass.total() > 0 {
                info!(
                    mentions = pass.mentions,
                    poll_log = pass.polls,
                    emails = pass.messages,
                    older_than = %crate::mention::format_time(&before),
                    "retention: old rows pruned"
                );
            }
            after(now, RETENTION_EVERY)
        })
    }
}

/// One source: poll what is due.
struct SourceStep {
    runner: SourceRunner,
    clock: Arc<dyn Clock>,
}

impl Step for SourceStep {
    fn step<'a>(&'a mut self, shutdown: &'a CancellationToken) -> BoxFuture<'a, DateTime<Utc>> {
        Box::pin(async move {
            let next = self.runner.poll_once(shutdown).await;
            next.max(after(self.clock.now(), Duration::from_millis(200)))
        })
    }
}

/// Fewest seconds between two evaluations: sources store pages in bursts.
const EVALUATE_DEBOUNCE: Duration = Duration::from_secs(2);
/// Evaluations happen at least this often (time passing ends episodes too).
const EVALUATE_EVERY: Duration = Duration::from_secs(60);

struct EvaluatorStep {
    evaluator: crate::alerts::Evaluator,
    outbox: Arc<Notify>,
    clock: Arc<dyn Clock>,
    every: Duration,
}

impl Step for EvaluatorStep {
    fn step<'a>(&'a mut self, _: &'a CancellationToken) -> BoxFuture<'a, DateTime<Utc>> {
        Box::pin(async move {
            match self.evaluator.evaluate_once().await {
                Ok(e) if !e.fired.is_empty() || !e.resolved.is_empty() => self.outbox.notify_one(),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "alert evaluation failed"),
            }
            after(self.clock.now(), self.every)
        })
    }
}

/// The digests are checked at least this often.
const DIGEST_CHECK_EVERY: Duration = Duration::from_secs(60);

struct DigestStep {
    runner: crate::digest::DigestRunner,
    outbox: Arc<Notify>,
    clock: Arc<dyn Clock>,
}

impl Step for DigestStep {
    fn step<'a>(&'a mut self, _: &'a CancellationToken) -> BoxFuture<'a, DateTime<Utc>> {
        Box::pin(async move {
            match self.runner.run_due_once().await {
                Ok(outcomes) => {
                    if outcomes
                        .iter()
                        .any(|o| matches!(o, crate::digest::RunOutcome::Queued { .. }))
                    {
                        self.outbox.notify_one();
                    }
                }
                Err(e) => warn!(error = %e, "cannot run the digests; will retry"),
            }
            let now = self.clock.now();
            let soonest = after(now, Duration::from_millis(200));
            let latest = after(now, DIGEST_CHECK_EVERY);
            self.runner
                .next_due()
                .unwrap_or(latest)
                .clamp(soonest, latest)
        })
    }
}

struct SenderStep {
    sender: crate::notify::Sender,
    clock: Arc<dyn Clock>,
}

impl Step for SenderStep {
    fn step<'a>(&'a mut self, _: &'a CancellationToken) -> BoxFuture<'a, DateTime<Utc>> {
        Box::pin(async move {
            // The pass in progress finishes (an SMTP transaction is not cut in the middle).
            if let Err(e) = self.sender.send_due_once().await {
                warn!(error = %e, "cannot read the outbox");
            }
            let wait = self.sender.idle_for(Duration::from_secs(30)).await;
            after(self.clock.now(), wait)
        })
    }
}

/// Notifies `signal` on each SIGHUP.
pub fn notify_on_sighup(signal: Arc<Notify>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal as unix_signal};
    let mut hup = unix_signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            signal.notify_one();
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
