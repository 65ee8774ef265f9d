//! Liveness for systemd: each long-running loop reports when it starts and finishes an
//! iteration, and the watchdog is pinged only while every loop makes progress. A poll stuck on a
//! dead connection, an SMTP transaction that never ends, or an evaluator that stopped ticking
//! stops the pings, and systemd restarts the service (`WatchdogSec=`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
struct Slot {
    name: String,
    /// Longest an iteration may take.
    max_busy: Duration,
    /// Longest a loop may go without finishing an iteration (for loops that tick on a timer);
    /// `None` for loops that may legitimately sleep for hours (a source polled hourly).
    max_quiet: Option<Duration>,
    busy_since: Option<Instant>,
    last_done: Instant,
    retired: bool,
}

/// The progress of every loop of the daemon.
#[derive(Debug, Default)]
pub struct Progress {
    slots: Mutex<Vec<Slot>>,
    /// Per loop name, steps completed and steps that failed (panicked), since the daemon
    /// started: kept across reloads, for tests and `STATUS=`.
    counts: Mutex<BTreeMap<String, Counts>>,
}

/// Steps of one loop since the daemon started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub done: u64,
    pub failed: u64,
}

/// A loop's handle on its slot.
#[derive(Debug, Clone)]
pub struct Beat {
    progress: Arc<Progress>,
    index: usize,
}

impl Beat {
    /// An iteration starts.
    pub fn busy(&self) {
        self.progress
            .update(self.index, |s| s.busy_since = Some(Instant::now()));
    }

    /// An iteration is over.
    pub fn done(&self) {
        let mut name = None;
        self.progress.update(self.index, |s| {
            s.busy_since = None;
            s.last_done = Instant::now();
            name = Some(s.name.clone());
        });
        if let Some(name) = name {
            self.progress.count(name, |c| c.done += 1);
        }
    }

    /// An iteration failed (a panic, caught): counted, then [`Beat::done`] as any other.
    pub fn failed(&self) {
        let mut name = None;
        self.progress
            .update(self.index, |s| name = Some(s.name.clone()));
        if let Some(name) = name {
            self.progress.count(name, |c| c.failed += 1);
        }
        self.done();
    }

    /// The loop ended (shutdown or reload): it is no longer watched.
    pub fn retire(&self) {
        self.progress.update(self.index, |s| s.retired = true);
    }
}

impl Progress {
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress::default())
    }

    /// Watches a new loop.
    pub fn register(
        self: &Arc<Self>,
        name: &str,
        max_busy: Duration,
        max_quiet: Option<Duration>,
    ) -> Beat {
        let mut slots = self.slots.lock().expect("progress lock");
        slots.push(Slot {
            name: name.to_string(),
            max_busy,
            max_quiet,
            busy_since: None,
            last_done: Instant::now(),
            retired: false,
        });
        Beat {
            progress: self.clone(),
            index: slots.len() - 1,
        }
    }

    fn count(&self, name: String, f: impl FnOnce(&mut Counts)) {
        f(self
            .counts
            .lock()
            .expect("progress lock")
            .entry(name)
            .or_default());
    }

    /// How many loops are running (registered and not retired).
    pub fn active(&self) -> usize {
        self.slots
            .lock()
            .expect("progress lock")
            .iter()
            .filter(|s| !s.retired)
            .count()
    }

    /// Steps of the loops whose name starts with `prefix` ("source", "alert evaluator"...),
    /// summed, since the daemon started.
    pub fn counts(&self, prefix: &str) -> Counts {
        self.counts
            .lock()
            .expect("progress lock")
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .fold(Counts::default(), |a, (_, c)| Counts {
                done: a.done + c.done,
                failed: a.failed + c.failed,
            })
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut Slot)) {
        if let Some(s) = self.slots.lock().expect("progress lock").get_mut(index) {
            f(s);
        }
    }

    /// Forgets every loop: called between two generations of tasks (a reload), once the old
    /// ones have all ended, so no handle of theirs is used again.
    pub fn clear(&self) {
        self.slots.lock().expect("progress lock").clear();
    }

    /// The loops that are not making progress at `now`, with what is wrong.
    pub fn stalled(&self, now: Instant) -> Vec<String> {
        let slots = self.slots.lock().expect("progress lock");
        slots
            .iter()
            .filter(|s| !s.retired)
            .filter_map(|s| {
                if let Some(since) = s.busy_since {
                    let busy = now.saturating_duration_since(since);
                    if busy > s.max_busy {
                        return Some(format!(
                            "{} has been busy for {}s (limit {}s)",
                            s.name,
                            busy.as_secs(),
                            s.max_busy.as_secs()
                        ));
                    }
                    return None;
                }
                let quiet = now.saturating_duration_since(s.last_done);
                match s.max_quiet {
                    Some(max) if quiet > max => Some(format!(
                        "{} has not run for {}s (limit {}s)",
                        s.name,
                        quiet.as_secs(),
                        max.as_secs()
                    )),
                    _ => None,
                }
            })
            .collect()
    }
}

/// The one-line summary for `STATUS=` (shown by `systemctl status`).
pub fn status_line(
    sources_ok: usize,
    sources_failing: usize,
    stored_last_hour: i64,
    last_alert: Option<(&str, &str)>,
) -> String {
    let mut s = format!(
        "{sources_ok} source queries ok, {sources_failing} failing; {stored_last_hour} mentions stored in the last hour"
    );
    match last_alert {
        Some((brand, at)) => s.push_str(&format!("; last alert: {brand} at {at}")),
        None => s.push_str("; no alert in the last 7 days"),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalled_loops_are_named() {
        let p = Progress::new();
        let source = p.register("source mastodon", Duration::from_secs(10), None);
        let evaluator = p.register(
            "alert evaluator",
            Duration::from_secs(10),
            Some(Duration::from_secs(30)),
        );
        let t0 = Instant::now();
        assert!(p.stalled(t0).is_empty());
        // A source asleep for an hour is fine; the evaluator quiet for a minute is not.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(p.stalled(later).len(), 1);
        assert!(p.stalled(later)[0].starts_with("alert evaluator has not run"));
        evaluator.retire();
        assert!(p.stalled(later).is_empty());
        // A source stuck in a poll.
        source.busy();
        assert!(p.stalled(Instant::now()).is_empty());
        let stuck = p.stalled(Instant::now() + Duration::from_secs(11));
        assert!(
            stuck[0].starts_with("source mastodon has been busy"),
            "{stuck:?}"
        );
        source.done();
        assert!(
            p.stalled(Instant::now() + Duration::from_secs(11))
                .is_empty()
        );
    }

    #[test]
    fn status_line_reads_well() {
        assert_eq!(
            status_line(5, 1, 42, Some(("Acme", "2026-11-24 14:05"))),
            "5 source queries ok, 1 failing; 42 mentions stored in the last hour; last alert: Acme at 2026-11-24 14:05"
        );
    }
}
