//! Notifications: rendering alerts and digests as e-mails, the outbox, and delivery.
//!
//! An e-mail is composed once, when the decision that causes it is made, and stored in the
//! outbox in the same transaction as that decision. A sender task delivers due messages over
//! SMTP (or as `.eml` files), retries transient failures with back-off stored in the row, gives
//! up on permanent ones (reported by `mentiond status`), and never deletes a message it could
//! not send. Each message has a stable Message-ID, so a resend after a crash (the unavoidable
//! window between the server's 250 and our commit) is recognisable.

pub mod channels;
pub mod chart;
pub mod digest;
pub mod render;
pub mod sender;
pub mod transport;

use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

pub use render::{AlertView, InlineImage, Rendered};
pub use sender::{SendReport, Sender};
pub use transport::{DeliveryError, Mailer};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("invalid address {0:?}: {1}")]
    Address(String, String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("cannot set up the mail transport: {0}")]
    Transport(String),
}

/// A short stable hash of a name (FNV-1a, 32 bits): keeps apart ids built from names whose
/// slugs collide ("Ops Team" and "ops-team").
pub fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A Message-ID for an e-mail about `what` (e.g. `alert-12`), on the sender's domain.
pub fn message_id(what: &str, created: DateTime<Utc>, from: &str) -> String {
    let domain = from
        .parse::<Mailbox>()
        .ok()
        .map(|m| m.email.domain().to_string())
        .unwrap_or_else(|| "mentiond.local".into());
    format!("<{what}.{}@{domain}>", created.timestamp_millis())
}

/// The complete RFC 5322 message: a plain-text part and an HTML part (with the chart inline).
pub fn compose(
    from: &str,
    to: &[String],
    rendered: &Rendered,
    message_id: &str,
    date: DateTime<Utc>,
    language: &str,
) -> Result<Vec<u8>, NotifyError> {
    let from_box: Mailbox = from.parse().map_err(|e: lettre::address::AddressError| {
        NotifyError::Address(from.into(), e.to_string())
    })?;
    let mut builder = lettre::Message::builder()
        .from(from_box)
        .subject(rendered.subject.clone())
        .message_id(Some(message_id.to_string()))
        .date(date.into());
    if to.is_empty() {
        return Err(NotifyError::Build("no recipient".into()));
    }
    for t in to {
        let b: Mailbox = t.parse().map_err(|e: lettre::address::AddressError| {
            NotifyError::Address(t.clone(), e.to_string())
        })?;
        builder = builder.to(b);
    }
    // Automatic mail: no vacation replies, no loops.
    builder = builder.raw_header(lettre::message::header::HeaderValue::new(
        lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted"),
        "auto-generated".into(),
    ));
    builder = builder.raw_header(lettre::message::header::HeaderValue::new(
        lettre::message::header::HeaderName::new_from_ascii_str("Content-Language"),
        language.into(),
    ));
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(rendered.text.clone());
    let html = SinglePart::builder()
        .header(ContentType::TEXT_HTML)
        .body(rendered.html.clone());
    let alternative = if rendered.images.is_empty() {
        MultiPart::alternative().singlepart(text).singlepart(html)
    } else {
        let mut related = MultiPart::related().singlepart(html);
        for image in &rendered.images {
            related = related.singlepart(Attachment::new_inline(image.cid.clone()).body(
                image.png.clone(),
                ContentType::parse("image/png").expect("a valid content type"),
            ));
        }
        MultiPart::alternative().singlepart(text).multipart(related)
    };
    let message = builder
        .multipart(alternative)
        .map_err(|e| NotifyError::Build(e.to_string()))?;
    Ok(message.formatted())
}
