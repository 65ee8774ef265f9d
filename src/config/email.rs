//! `[email]`: how alerts and digests leave the machine.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::{ConfigError, Seg, Validator, resolve};

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub transport: EmailTransport,
    /// The sender, `Name <address>`.
    pub from: String,
    /// Default recipients of alerts and digests.
    pub to: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum EmailTransport {
    /// Writes each message as an `.eml` file into this folder.
    File {
        dir: PathBuf,
    },
    Smtp(SmtpConfig),
}

impl fmt::Display for EmailTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmailTransport::File { dir } => write!(f, "to files in {}", dir.display()),
            EmailTransport::Smtp(s) => write!(f, "by SMTP via {}:{} ({})", s.host, s.port, s.tls),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    StartTls,
    /// No encryption: allowed only to a relay on this machine.
    None,
}

impl fmt::Display for SmtpTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SmtpTls::Implicit => "implicit TLS",
            SmtpTls::StartTls => "STARTTLS",
            SmtpTls::None => "no TLS",
        })
    }
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// An extra CA certificate (PEM) to trust, for a relay with a private CA.
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    /// Name announced in EHLO (default: this machine's host name).
    pub hello_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmail {
    #[serde(default = "default_transport")]
    transport: String,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    smtp: Option<RawSmtp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: Option<u16>,
    #[serde(default = "default_tls")]
    tls: String,
    username: Option<String>,
    password: Option<toml::Value>,
    password_file: Option<String>,
    password_env: Option<String>,
    ca_file: Option<String>,
    timeout: Option<String>,
    hello_name: Option<String>,
}

fn default_transport() -> String {
    "file".into()
}

fn default_tls() -> String {
    "starttls".into()
}

const DEFAULT_OUTBOX_DIR: &str = "outbox";
const DEFAULT_FROM: &str = "mentiond <mentiond@localhost>";

fn is_local(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]") || host.starts_with("127.")
}

impl Validator<'_> {
    pub(super) fn email(&self, raw: Option<RawEmail>) -> Result<EmailConfig, ConfigError> {
        let raw = raw.unwrap_or(RawEmail {
            transport: default_transport(),
            dir: None,
            from: None,
            to: Vec::new(),
            smtp: None,
        });
        let transport = match raw.transport.as_str() {
            "file" => EmailTransport::File {
                dir: resolve(
                    self.doc.file,
                    raw.dir.as_deref().unwrap_or(DEFAULT_OUTBOX_DIR),
                ),
            },
            "smtp" => {
                let Some(smtp) = raw.smtp else {
                    return Err(self.err(
                        p!["email", "transport"],
                        "transport = \"smtp\" needs an [email.smtp] table with at least `host`",
                    ));
                };
                EmailTransport::Smtp(self.smtp(smtp)?)
            }
            other => {
                return Err(self.err(
                    p!["email", "transport"],
                    format!("unknown transport {other:?}: expected \"file\" or \"smtp\""),
                ));
            }
        };
        let from = raw.from.unwrap_or_else(|| DEFAULT_FROM.into());
        if let Err(e) = from.parse::<lettre::message::Mailbox>() {
            return Err(self.err(
                p!["email", "from"],
                format!("{from:?} is not an e-mail address: {e}"),
            ));
        }
        for (j, to) in raw.to.iter().enumerate() {
            if let Err(e) = to.parse::<lettre::message::Mailbox>() {
                return Err(self.err(
                    p!["email", "to", j],
                    format!("{to:?} is not an e-mail address: {e}"),
                ));
            }
        }
        Ok(EmailConfig {
            transport,
            from,
            to: raw.to,
        })
    }

    fn smtp(&self, raw: RawSmtp) -> Result<SmtpConfig, ConfigError> {
        let host = raw.host.trim().to_string();
        if host.is_empty() {
            return Err(self.err(p!["email", "smtp", "host"], "must not be empty"));
        }
        let tls = match raw.tls.as_str() {
            "implicit" | "tls" | "smtps" => SmtpTls::Implicit,
            "starttls" => SmtpTls::StartTls,
            "none" => SmtpTls::None,
            other => {
                return Err(self.err(
                    p!["email", "smtp", "tls"],
                    format!(
                        "unknown value {other:?}: expected \"starttls\", \"implicit\" or \"none\""
                    ),
                ));
            }
        };
        if tls == SmtpTls::None && !is_local(&host) {
            return Err(self.err(
                p!["email", "smtp", "tls"],
                format!("tls = \"none\" is only allowed for a relay on this machine, not {host:?}: use \"starttls\" or \"implicit\""),
            ));
        }
        let port = raw.port.unwrap_or(match tls {
            SmtpTls::Implicit => 465,
            SmtpTls::StartTls => 587,
            SmtpTls::None => 25,
        });
        let password = self.secret(
            &["email", "smtp"],
            "password",
            raw.password.as_ref(),
            raw.password_file.as_deref(),
            raw.password_env.as_deref(),
        )?;
        if password.is_some() && raw.username.is_none() {
            return Err(self.err(
                p!["email", "smtp", "username"],
                "a password needs a username",
            ));
        }
        let ca_file = raw.ca_file.map(|f| resolve(self.doc.file, &f));
        if let Some(f) = &ca_file {
            if let Err(e) = std::fs::read(f) {
                return Err(self.err(
                    p!["email", "smtp", "ca_file"],
                    format!("cannot read {}: {e}", f.display()),
                ));
            }
        }
        let timeout = self.duration(
            p!["email", "smtp", "timeout"],
            raw.timeout.as_deref(),
            Duration::from_secs(30),
        )?;
        Ok(SmtpConfig {
            host,
            port,
            tls,
            username: raw.username,
            password,
            ca_file,
            timeout,
            hello_name: raw.hello_name,
        })
    }
}
