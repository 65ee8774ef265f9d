//! Delivery of a composed message: SMTP (implicit TLS, required STARTTLS, or plain to a relay
//! on this machine) or `.eml` files in a folder.

use std::path::PathBuf;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use super::NotifyError;
use crate::config::{EmailConfig, EmailTransport, SmtpConfig, SmtpTls};
use crate::store::OutboxMessage;

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    /// 4xx replies, timeouts, refused connections, TLS hiccups: retried with back-off.
    #[error("{0}")]
    Transient(String),
    /// 5xx replies, invalid addresses: retrying would fail again.
    #[error("{0}")]
    Permanent(String),
}

#[derive(Clone)]
pub enum Mailer {
    File { dir: PathBuf },
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
}

impl Mailer {
    pub fn from_config(email: &EmailConfig) -> Result<Mailer, NotifyError> {
        match &email.transport {
            EmailTransport::File { dir } => Ok(Mailer::File { dir: dir.clone() }),
            EmailTransport::Smtp(smtp) => Ok(Mailer::Smtp(Box::new(smtp_transport(smtp)?))),
        }
    }

    pub async fn deliver(&self, msg: &OutboxMessage) -> Result<(), DeliveryError> {
        match self {
            Mailer::File { dir } => write_files(dir, msg).map_err(|e| {
                DeliveryError::Transient(format!("cannot write to {}: {e}", dir.display()))
            }),
            Mailer::Smtp(t) => {
                let from: Address =
                    sender_address(&msg.sender).map_err(DeliveryError::Permanent)?;
                let to = msg
                    .recipients
                    .iter()
                    .map(|r| sender_address(r))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(DeliveryError::Permanent)?;
                let envelope = Envelope::new(Some(from), to)
                    .map_err(|e| DeliveryError::Permanent(e.to_string()))?;
                match t.send_raw(&envelope, &msg.message).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_permanent() => Err(DeliveryError::Permanent(smtp_error(&e))),
                    Err(e) => Err(DeliveryError::Transient(smtp_error(&e))),
                }
            }
        }
    }
}

/// The bare address of `Name <address>`.
fn sender_address(mailbox: &str) -> Result<Address, String> {
    mailbox
        .parse::<lettre::message::Mailbox>()
        .map(|m| m.email)
        .map_err(|e| format!("invalid address {mailbox:?}: {e}"))
}

fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    let mut out = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let m = s.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        src = s.source();
    }
    out
}

fn smtp_transport(cfg: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
    crate::tls::install_crypto_provider();
    let tls_params = || -> Result<TlsParameters, NotifyError> {
        let mut b = TlsParameters::builder(cfg.host.clone());
        // Without a system bundle, the Mozilla roots built into mentiond (see `crate::tls`).
        let roots = crate::tls::origin();
        if roots == crate::tls::RootsOrigin::Bundled {
            crate::tls::warn_if_bundled(roots);
            b = b.certificate_store(lettre::transport::smtp::client::CertificateStore::WebpkiRoots);
        }
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                NotifyError::Transport(format!("cannot read {}: {e}", ca.display()))
            })?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| NotifyError::Transport(format!("{}: {e}", ca.display())))?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls()
            .map_err(|e| NotifyError::Transport(e.to_string()))
    };
    let tls = match cfg.tls {
        SmtpTls::Implicit => Tls::Wrapper(tls_params()?),
        SmtpTls::StartTls => Tls::Required(tls_params()?),
        SmtpTls::None => Tls::None,
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
        .port(cfg.port)
        .tls(tls)
        .timeout(Some(cfg.timeout));
    if let Some(name) = &cfg.hello_name {
        b = b.hello_name(lettre::transport::smtp::extension::ClientId::Domain(
            name.clone(),
        ));
    }
    if let (Some(user), Some(pass)) = (&cfg.username, &cfg.password) {
        b = b.credentials(Credentials::new(
            user.clone(),
            pass.expose_secret().to_string(),
        ));
    }
    Ok(b.build())
}

/// `<created>-<kind>-<id>.eml`, and the HTML part next to it, written atomically.
fn write_files(dir: &std::path::Path, msg: &OutboxMessage) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let stamp: String = msg
        .created_at
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let base = format!("{stamp}-{}-{}", msg.kind, msg.id);
    let put = |name: String, bytes: &[u8]| -> std::io::Result<()> {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, dir.join(name))
    };
    if let Some(html) = &msg.html {
        put(format!("{base}.html"), html.as_bytes())?;
    }
    put(format!("{base}.eml"), &msg.message)
}
