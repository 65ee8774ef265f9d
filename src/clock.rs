//! Wall-clock time as a dependency, so time-based logic (retry-after, backfill windows, digest
//! periods, alert cooldowns) and the daemon's loops can be run on a clock a test moves by hand.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::watch;

/// A future a clock returns; boxed so `Clock` stays usable as `dyn Clock`.
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// Completes once [`Clock::now`] has reached `deadline` (at once if it has).
    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_>;
}

/// Sleeps `for_` on `clock`'s time.
pub fn sleep(clock: &dyn Clock, for_: std::time::Duration) -> Sleep<'_> {
    let by = Duration::from_std(for_).unwrap_or(Duration::MAX);
    let deadline = clock
        .now()
        .checked_add_signed(by)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    clock.sleep_until(deadline)
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

/// A sleep on the system clock looks at the wall clock again at least this often, so that a
/// change of the wall clock (NTP stepping it, a suspended host resuming) is noticed.
const WALL_CLOCK_RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_> {
        Box::pin(async move {
            loop {
                let Ok(left) = (deadline - Utc::now()).to_std() else {
                    return;
                };
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left.min(WALL_CLOCK_RECHECK)).await;
            }
        })
    }
}

/// A clock that only moves when told to; its sleepers wake when it passes their deadline.
#[derive(Debug)]
pub struct ManualClock {
    now: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: watch::Sender::new(start),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|now| *now += by);
    }

    pub fn set(&self, to: DateTime<Utc>) {
        self.now.send_replace(to);
    }

    /// How many sleeps are waiting on this clock (tests use it to know that the loops they
    /// drive have gone to sleep).
    pub fn sleepers(&self) -> usize {
        self.now.receiver_count()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_> {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as `self`, which this future borrows: never closed.
            let _ = rx.wait_for(|now| *now >= deadline).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_its_sleepers_when_it_passes_their_time() {
        let start = DateTime::parse_from_rfc3339("2026-03-02T08:00:00Z")
            .unwrap()
            .to_utc();
        let clock = std::sync::Arc::new(ManualClock::new(start));
        let c = clock.clone();
        let sleeper = tokio::spawn(async move {
            sleep(c.as_ref(), std::time::Duration::from_secs(60)).await;
            c.now()
        });
        while clock.sleepers() == 0 {
            tokio::task::yield_now().await;
        }
        clock.advance(Duration::seconds(59));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::seconds(2));
        assert_eq!(sleeper.await.unwrap(), start + Duration::seconds(61));
        assert_eq!(clock.sleepers(), 0);
        // A deadline already passed completes at once.
        clock.sleep_until(start).await;
    }
}
