//! When to try again after a failed request: a pure function of the failure, the number of
//! consecutive failures and the time, so every branch is unit-tested without a network.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::SourceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First back-off after a transient failure; doubles with each further failure.
    pub base: Duration,
    /// Longest back-off after transient failures.
    pub cap: Duration,
    /// Wait after an authentication or other permanent failure: slow, but never giving up, so
    /// a fixed token or a platform back online is picked up without a restart.
    pub slow: Duration,
    /// Wait after a 429 that says nothing about when to come back.
    pub rate_limited: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(15),
            cap: Duration::from_secs(30 * 60),
            slow: Duration::from_secs(60 * 60),
            rate_limited: Duration::from_secs(60),
        }
    }
}

/// How a failure is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// 429: come back exactly when the platform says (never earlier).
    RateLimited,
    /// 5xx, timeouts, connection errors, truncated or malformed responses: exponential back-off.
    Transient,
    /// 401/403 and other 4xx: the source is marked failing and retried slowly.
    Slow,
}

impl SourceError {
    pub fn retry_class(&self) -> RetryClass {
        match self {
            SourceError::RateLimited { .. } => RetryClass::RateLimited,
            SourceError::Transient(_)
            | SourceError::Malformed(_)
            | SourceError::TooLarge { .. } => RetryClass::Transient,
            SourceError::Auth(_) | SourceError::Permanent(_) | SourceError::Budget { .. } => {
                RetryClass::Slow
            }
        }
    }
}

/// The earliest time of the next attempt. `failures` counts consecutive failures including this
/// one (>= 1); `jitter` is a random number in [0, 1) that spreads retries of many instances
/// (full jitter over the upper half of the back-off).
pub fn next_attempt(
    policy: &RetryPolicy,
    error: &SourceError,
    failures: u32,
    now: DateTime<Utc>,
    jitter: f64,
) -> DateTime<Utc> {
    let jitter = jitter.clamp(0.0, 1.0);
    match error.retry_class() {
        RetryClass::RateLimited => {
            let until = match error {
                SourceError::RateLimited {
                    retry_at: Some(t), ..
                } => *t,
                _ => now + chrono_dur(policy.rate_limited),
            };
            // One second of margin: reset times are rounded and clocks drift. A platform (or a
            // broken proxy) asking for more than a day is not taken at its word.
            (until.max(now) + chrono::Duration::seconds(1)).min(now + chrono::Duration::days(1))
        }
        RetryClass::Transient => {
            let exp = failures.saturating_sub(1).min(20);
            let full = policy.base.saturating_mul(1u32 << exp).min(policy.cap);
            let wait = full.mul_f64(0.5 + 0.5 * jitter);
            now + chrono_dur(wait)
        }
        RetryClass::Slow => {
            let until = match error {
                SourceError::Budget { resets_at } => *resets_at,
                _ => now + chrono_dur(policy.slow.mul_f64(0.9 + 0.2 * jitter)),
            };
            until.max(now)
        }
    }
}

/// The next regular poll: the interval give or take 10%, so instances started together drift
/// apart instead of hitting a platform in lockstep.
pub fn next_poll(now: DateTime<Utc>, interval: Duration, jitter: f64) -> DateTime<Utc> {
    now + chrono_dur(interval.mul_f64(0.9 + 0.2 * jitter.clamp(0.0, 1.0)))
}

pub fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn rate_limit_waits_for_the_announced_time() {
        let p = RetryPolicy::default();
        let at: DateTime<Utc> = "2026-03-01T12:04:07Z".parse().unwrap();
        let e = SourceError::RateLimited {
            retry_at: Some(at),
            message: "429".into(),
        };
        assert_eq!(
            next_attempt(&p, &e, 1, t0(), 0.9),
            at + chrono::Duration::seconds(1)
        );
        // A reset time in the past never means "now minus something".
        let past = SourceError::RateLimited {
            retry_at: Some(t0() - chrono::Duration::seconds(30)),
            message: "429".into(),
        };
        assert_eq!(
            next_attempt(&p, &past, 1, t0(), 0.0),
            t0() + chrono::Duration::seconds(1)
        );
        let unknown = SourceError::RateLimited {
            retry_at: None,
            message: "429".into(),
        };
        assert_eq!(
            next_attempt(&p, &unknown, 1, t0(), 0.0),
            t0() + chrono::Duration::seconds(61)
        );
    }

    #[test]
    fn transient_failures_back_off_exponentially_up_to_the_cap() {
        let p = RetryPolicy::default();
        let e = SourceError::Transient("HTTP 503".into());
        let wait = |n, j| (next_attempt(&p, &e, n, t0(), j) - t0()).num_seconds();
        assert_eq!(wait(1, 1.0), 15);
        assert_eq!(wait(1, 0.0), 7); // 7.5s, whole seconds
        assert_eq!(wait(2, 1.0), 30);
        assert_eq!(wait(3, 1.0), 60);
        assert_eq!(wait(8, 1.0), 1800);
        assert_eq!(wait(30, 1.0), 1800);
        assert_eq!(wait(30, 0.0), 900);
        let malformed = SourceError::Malformed("expected value at line 1".into());
        assert_eq!(
            next_attempt(&p, &malformed, 2, t0(), 1.0),
            t0() + chrono::Duration::seconds(30)
        );
    }

    #[test]
    fn auth_failures_retry_slowly() {
        let p = RetryPolicy::default();
        let e = SourceError::Auth("HTTP 401: The access token is invalid".into());
        let wait = (next_attempt(&p, &e, 1, t0(), 0.5) - t0()).num_minutes();
        assert_eq!(wait, 60);
        assert_eq!(e.retry_class(), RetryClass::Slow);
    }

    #[test]
    fn an_exhausted_budget_waits_for_the_next_month() {
        let p = RetryPolicy::default();
        let reset: DateTime<Utc> = "2026-04-01T00:00:00Z".parse().unwrap();
        let e = SourceError::Budget { resets_at: reset };
        assert_eq!(next_attempt(&p, &e, 1, t0(), 0.3), reset);
    }

    #[test]
    fn absurd_waits_are_capped_at_a_day() {
        let p = RetryPolicy::default();
        let e = SourceError::RateLimited {
            retry_at: Some("9999-12-31T00:00:00Z".parse().unwrap()),
            message: "429".into(),
        };
        assert_eq!(
            next_attempt(&p, &e, 1, t0(), 0.5),
            t0() + chrono::Duration::days(1)
        );
    }

    #[test]
    fn regular_polls_are_jittered_around_the_interval() {
        let i = Duration::from_secs(100);
        assert_eq!((next_poll(t0(), i, 0.0) - t0()).num_seconds(), 90);
        assert_eq!((next_poll(t0(), i, 1.0) - t0()).num_seconds(), 110);
    }
}
