//! The one loop every task of the daemon runs: a step, then a sleep on the daemon's clock until
//! the step says the next one is due (or a signal wakes it earlier), until shutdown.
//!
//! A step that panics is a bug in mentiond, not a reason for alerts or e-mail to stop: the panic
//! is logged and counted, and the loop carries on after a back-off (a minute, doubling while it
//! keeps panicking, at most half an hour). Every step is reported to [`Progress`], which the
//! systemd watchdog reads.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::error;

use super::health::Beat;
use crate::clock::Clock;

/// One unit of a loop's work.
pub trait Step: Send {
    /// Does the work and returns when the next step is due. It should return soon after
    /// `shutdown` is cancelled, having committed or dropped the work in hand.
    fn step<'a>(&'a mut self, shutdown: &'a CancellationToken) -> BoxFuture<'a, DateTime<Utc>>;
}

/// A signal that starts the next step before it is due (new mentions stored, e-mail queued).
pub struct Wake {
    pub signal: Arc<Notify>,
    /// How long to wait after the signal before stepping, so a burst of signals (a source
    /// storing many pages) makes one step.
    pub settle: Duration,
}

/// First back-off after a panic; it doubles while the step keeps panicking.
const PANIC_BACKOFF: Duration = Duration::from_secs(60);
const PANIC_BACKOFF_MAX: Duration = Duration::from_secs(1800);

/// Runs `step` until `shutdown`; returns the loop's name (so a generation can say which task
/// ended).
pub async fn supervise(
    name: String,
    mut step: impl Step,
    clock: Arc<dyn Clock>,
    beat: Beat,
    wake: Option<Wake>,
    shutdown: CancellationToken,
) -> String {
    let mut backoff = PANIC_BACKOFF;
    loop {
        beat.busy();
        let next = match AssertUnwindSafe(step.step(&shutdown)).catch_unwind().await {
            Ok(next) => {
                beat.done();
                backoff = PANIC_BACKOFF;
                next
            }
            Err(panic) => {
                beat.failed();
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                error!(task = %name, panic = %what, retry_in_s = backoff.as_secs(), "a step panicked (a bug in mentiond, please report it); the task goes on");
                let next = clock.now() + chrono::Duration::from_std(backoff).unwrap_or_default();
                backoff = (backoff * 2).min(PANIC_BACKOFF_MAX);
                next
            }
        };
        if shutdown.is_cancelled() {
            break;
        }
        let woken = match &wake {
            Some(w) => tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = clock.sleep_until(next) => false,
                _ = w.signal.notified() => true,
            },
            None => tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = clock.sleep_until(next) => false,
            },
        };
        if let (true, Some(w)) = (woken, &wake) {
            if !w.settle.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = crate::clock::sleep(clock.as_ref(), w.settle) => {}
                }
            }
        }
    }
    beat.retire();
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::daemon::health::Progress;

    /// Panics on its second step, then counts.
    struct Flaky {
        calls: u32,
        clock: Arc<dyn Clock>,
    }

    impl Step for Flaky {
        fn step<'a>(&'a mut self, _: &'a CancellationToken) -> BoxFuture<'a, DateTime<Utc>> {
            Box::pin(async move {
                self.calls += 1;
                if self.calls == 2 {
                    panic!("boom");
                }
                self.clock.now() + chrono::Duration::seconds(10)
            })
        }
    }

    #[tokio::test]
    async fn a_panicking_step_is_counted_and_the_loop_goes_on() {
        let start = DateTime::parse_from_rfc3339("2026-03-02T08:00:00Z")
            .unwrap()
            .to_utc();
        let clock = Arc::new(ManualClock::new(start));
        let progress = Progress::new();
        let beat = progress.register("flaky", Duration::from_secs(5), None);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(supervise(
            "flaky".into(),
            Flaky {
                calls: 0,
                clock: clock.clone(),
            },
            clock.clone(),
            beat,
            None,
            shutdown.clone(),
        ));
        let wait_steps = |n: u64| {
            let progress = progress.clone();
            let clock = clock.clone();
            async move {
                while progress.counts("flaky").done < n || clock.sleepers() == 0 {
                    tokio::task::yield_now().await;
                }
            }
        };
        wait_steps(1).await;
        clock.advance(chrono::Duration::seconds(10));
        wait_steps(2).await;
        assert_eq!(progress.counts("flaky").failed, 1);
        // The back-off after the panic is a minute, not the step's ten seconds.
        clock.advance(chrono::Duration::seconds(30));
        tokio::task::yield_now().await;
        assert_eq!(progress.counts("flaky").done, 2);
        clock.advance(chrono::Duration::seconds(30));
        wait_steps(3).await;
        assert_eq!(progress.counts("flaky").failed, 1);
        shutdown.cancel();
        assert_eq!(task.await.unwrap(), "flaky");
    }
}
