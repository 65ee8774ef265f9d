//! The sender: delivers due outbox messages, applies silences at send time, and records each
//! attempt in the message's row (back-off, give-up, success).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{error, info, warn};

use super::{DeliveryError, Mailer};
use crate::clock::Clock;
use crate::store::{Store, StoreError};

/// Attempts before a transiently failing message is given up (about a day and a half).
pub const MAX_ATTEMPTS: i64 = 40;

/// How long a sender holds a message it is delivering: longer than an SMTP transaction can
/// take with the transport's timeouts.
const CLAIM_LEASE: chrono::Duration = chrono::Duration::minutes(10);

/// The wait after the `attempts`-th failed attempt: 30 s doubling up to an hour.
pub fn backoff(attempts: i64) -> chrono::Duration {
    let exp = (attempts.max(1) - 1).min(10) as u32;
    let secs = (30u64 << exp).min(3600);
    chrono::Duration::seconds(secs as i64)
}

/// What one pass of the sender did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendReport {
    pub sent: u32,
    pub retrying: u32,
    pub failed: u32,
    pub silenced: u32,
}

pub struct Sender {
    store: Arc<Store>,
    mailer: Mailer,
    clock: Arc<dyn Clock>,
    /// Who claims messages: `daemon` (the default) or `cli`.
    owner: &'static str,
    /// Chat and webhook channels, and the HTTP client that posts to them.
    channels: Vec<crate::config::channels::ChannelConfig>,
    http: Option<reqwest::Client>,
}

/// How one delivery attempt ended.
enum Attempt {
    Sent,
    /// Retrying would fail again.
    Refused(String),
    /// Try again after the back-off (or after the time the service asked for).
    Failed(String, Option<DateTime<Utc>>),
}

impl Sender {
    pub fn new(store: Arc<Store>, mailer: Mailer, clock: Arc<dyn Clock>) -> Sender {
        Sender {
            store,
            mailer,
            clock,
            owner: "daemon",
            channels: Vec::new(),
            http: None,
        }
    }

    /// Delivers chat and webhook messages to these channels too.
    pub fn with_channels(mut self, channels: &[crate::config::channels::ChannelConfig]) -> Sender {
        self.channels = channels.to_vec();
        if !channels.is_empty() {
            match crate::sources::http::Http::new(
                concat!("mentiond/", env!("CARGO_PKG_VERSION")),
                Duration::from_secs(15),
                1 << 20,
            ) {
                Ok(h) => self.http = Some(h.client().clone()),
                Err(e) => error!(error = %e, "cannot set up HTTP for the channels"),
            }
        }
        self
    }

    /// One attempt at a chat or webhook message.
    async fn deliver_to_channel(&self, name: &str, msg: &crate::store::OutboxMessage) -> Attempt {
        let Some(channel) = self.channels.iter().find(|c| c.name == name) else {
            return Attempt::Refused(format!(
                "channel {name:?} is no longer configured ([[channels]])"
            ));
        };
        let Some(http) = &self.http else {
            return Attempt::Failed("no HTTP client".into(), None);
        };
        use super::channels::Outcome;
        match super::channels::post(
            http,
            channel,
            &msg.message_id,
            &msg.message,
            self.clock.now(),
        )
        .await
        {
            Outcome::Delivered(_) => Attempt::Sent,
            Outcome::Refused(e) => Attempt::Refused(e),
            Outcome::Retry { error, not_before } => Attempt::Failed(error, not_before),
        }
    }

    /// Claims messages as `owner` instead of `daemon` (see [`Store::claim_message`]).
    pub fn owned_by(mut self, owner: &'static str) -> Sender {
        self.owner = owner;
        self
    }

    /// Delivers every message due now: the e-mails one after the other, the chat and webhook
    /// messages side by side, so that a channel that does not answer (up to its 15 s timeout)
    /// holds back neither the e-mails nor the other channels.
    pub async fn send_due_once(&self) -> Result<SendReport, StoreError> {
        let mut report = SendReport::default();
        let now = self.clock.now();
        let (posts, emails): (Vec<_>, Vec<_>) = self
            .store
            .due_messages(now, 50)
            .await?
            .into_iter()
            .partition(|m| m.channel.is_some());
        let channels = futures_util::future::join_all(posts.into_iter().map(|msg| async {
            let mut one = SendReport::default();
            self.send(msg, &mut one).await.map(|()| one)
        }));
        let emails = async {
            let mut r = SendReport::default();
            for msg in emails {
                self.send(msg, &mut r).await?;
            }
            Ok::<_, StoreError>(r)
        };
        let (channels, emails) = tokio::join!(channels, emails);
        for r in channels.into_iter().chain(std::iter::once(emails)) {
            let r = r?;
            report.sent += r.sent;
            report.retrying += r.retrying;
            report.failed += r.failed;
            report.silenced += r.silenced;
        }
        Ok(report)
    }

    /// Delivers one message now if it is due and no other sender has it (`digest --send`).
    pub async fn send_one(&self, id: i64) -> Result<SendReport, StoreError> {
        let mut report = SendReport::default();
        if let Some(msg) = self.store.message(id).await? {
            self.send(msg, &mut report).await?;
        }
        Ok(report)
    }

    async fn send(
        &self,
        msg: crate::store::OutboxMessage,
        report: &mut SendReport,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        if !self
            .store
            .claim_message(msg.id, now, CLAIM_LEASE, self.owner)
            .await?
        {
            return Ok(());
        }
        if matches!(msg.kind.as_str(), "alert" | "recovery") {
            if let Some(brand) = &msg.brand {
                if let Some(silence) = self.store.active_silence(brand, now).await? {
                    info!(brand = %brand, reason = %silence.reason, message = msg.id, "alert silenced");
                    self.store.mark_silenced(&msg, &silence.reason).await?;
                    report.silenced += 1;
                    return Ok(());
                }
            }
        }
        let attempt = match &msg.channel {
            Some(name) => self.deliver_to_channel(name, &msg).await,
            None => match self.mailer.deliver(&msg).await {
                Ok(()) => Attempt::Sent,
                Err(DeliveryError::Permanent(e)) => Attempt::Refused(e),
                Err(DeliveryError::Transient(e)) => Attempt::Failed(e, None),
            },
        };
        let what = match &msg.channel {
            Some(_) => "channel message",
            None => "e-mail",
        };
        let channel = msg.channel.as_deref().unwrap_or("");
        match attempt {
            Attempt::Sent => {
                self.store.mark_sent(msg.id, self.clock.now()).await?;
                info!(message = msg.id, kind = %msg.kind, channel, subject = %msg.subject, "{what} sent");
                report.sent += 1;
            }
            Attempt::Refused(e) => {
                error!(message = msg.id, channel, error = %e, "{what} refused for good; see mentiond status");
                self.store.mark_attempt_failed(msg.id, &e, None).await?;
                report.failed += 1;
            }
            Attempt::Failed(e, asked) => {
                let attempts = msg.attempts + 1;
                if attempts >= MAX_ATTEMPTS {
                    error!(message = msg.id, channel, attempts, error = %e, "giving up on a {what}; see mentiond status");
                    self.store.mark_attempt_failed(msg.id, &e, None).await?;
                    report.failed += 1;
                } else {
                    // A service's own "come back at" (429 Retry-After) wins over our back-off
                    // when it is later, within a day.
                    let now = self.clock.now();
                    let mut next = now + backoff(attempts);
                    if let Some(t) = asked.filter(|t| *t > next) {
                        next = t.min(now + chrono::Duration::days(1));
                    }
                    warn!(message = msg.id, channel, attempts, error = %e, retry_at = %next, "{what} not delivered; will retry");
                    self.store
                        .mark_attempt_failed(msg.id, &e, Some(next))
                        .await?;
                    report.retrying += 1;
                }
            }
        }
        Ok(())
    }

    /// How long to sleep: until the next due message, at most `max`.
    pub async fn idle_for(&self, max: Duration) -> Duration {
        let now = self.clock.now();
        match self.store.next_message_due().await {
            Ok(Some(t)) if t > now => (t - now).to_std().unwrap_or(max).min(max),
            Ok(Some(_)) => Duration::from_millis(500),
            _ => max,
        }
    }
}

/// The time a message may go out: `now`, or the end of the quiet hours it falls in.
pub fn not_before(
    now: DateTime<Utc>,
    rule: &crate::config::AlertRule,
    severe: bool,
) -> DateTime<Utc> {
    let Some(q) = rule.quiet_hours.filter(|_| !severe) else {
        return now;
    };
    let local = now.with_timezone(&rule.timezone);
    if !q.contains(local.time()) {
        return now;
    }
    // The next local `end` after now (today, else tomorrow); the earliest instant of an
    // ambiguous local time, the first valid one after a skipped one.
    for days in 0..=2 {
        let date = local.date_naive() + chrono::Duration::days(days);
        let candidate = date.and_time(q.end);
        let resolved = match candidate.and_local_timezone(rule.timezone) {
            chrono::LocalResult::Single(t) => Some(t),
            chrono::LocalResult::Ambiguous(a, _) => Some(a),
            chrono::LocalResult::None => (candidate + chrono::Duration::hours(1))
                .and_local_timezone(rule.timezone)
                .earliest(),
        };
        if let Some(t) = resolved {
            let t = t.with_timezone(&Utc);
            if t > now {
                return t;
            }
        }
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1).num_seconds(), 30);
        assert_eq!(backoff(2).num_seconds(), 60);
        assert_eq!(backoff(8).num_seconds(), 3600);
        assert_eq!(backoff(30).num_seconds(), 3600);
    }

    #[test]
    fn quiet_hours_hold_until_their_end_in_local_time() {
        let cfg = crate::config::Config::parse(
            std::path::Path::new("/tmp/c.toml"),
            "[[brands]]\nname = \"A\"\nkeywords = [\"a\"]\n[alerts]\ntimezone = \"Europe/Rome\"\nquiet_hours = \"22:00-07:00\"\n",
        )
        .unwrap();
        let rule = cfg.alerts.rule("A");
        // 23:30 in Rome (CET, UTC+1) -> held until 07:00 Rome = 06:00 UTC.
        let now: DateTime<Utc> = "2026-01-15T22:30:00Z".parse().unwrap();
        assert_eq!(
            not_before(now, rule, false),
            "2026-01-16T06:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            not_before(now, rule, true),
            now,
            "a severe spike is not held"
        );
        let day: DateTime<Utc> = "2026-01-15T11:00:00Z".parse().unwrap();
        assert_eq!(not_before(day, rule, false), day);
        // Across the DST change of 2026-03-29 (clocks jump at 02:00): 01:30 CET -> 07:00 CEST.
        let night: DateTime<Utc> = "2026-03-29T00:30:00Z".parse().unwrap();
        assert_eq!(
            not_before(night, rule, false),
            "2026-03-29T05:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
