//! `[[channels]]`: chat and webhook destinations for alerts and digests (Slack, Mattermost,
//! Microsoft Teams Workflows, ntfy, signed webhooks). A channel's URL is a secret (whoever holds
//! a Slack or Teams webhook URL can post to the channel): it is read from `url_file`/`url_env`
//! or systemd credentials, or written as `url` for a public ntfy server.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::alerts::Lang;
use super::{ConfigError, Seg, Validator};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Slack,
    Mattermost,
    Teams,
    Ntfy,
    Webhook,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Slack => "slack",
            ChannelKind::Mattermost => "mattermost",
            ChannelKind::Teams => "teams",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Webhook => "webhook",
        }
    }
}

#[derive(Clone)]
pub struct ChannelConfig {
    pub name: String,
    pub kind: ChannelKind,
    /// Where to POST: the incoming-webhook URL (Slack, Mattermost, Teams, webhook) or the ntfy
    /// server (`https://ntfy.sh`).
    pub url: SecretString,
    /// ntfy's topic.
    pub topic: Option<String>,
    /// Webhook: the signing secrets (`whsec_...`, several during a rotation); ntfy: an access
    /// token sent as a bearer token.
    pub secrets: Vec<SecretString>,
    pub language: Option<Lang>,
    /// Only alerts at least this severe (`critical` skips warnings).
    pub critical_only: bool,
}

impl PartialEq for ChannelConfig {
    fn eq(&self, other: &Self) -> bool {
        let secrets = |c: &ChannelConfig| -> Vec<String> {
            c.secrets
                .iter()
                .map(|s| s.expose_secret().to_string())
                .collect()
        };
        self.name == other.name
            && self.kind == other.kind
            && self.url.expose_secret() == other.url.expose_secret()
            && self.topic == other.topic
            && secrets(self) == secrets(other)
            && self.language == other.language
            && self.critical_only == other.critical_only
    }
}

impl std::fmt::Debug for ChannelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &"[redacted]")
            .field("topic", &self.topic)
            .field("secrets", &self.secrets.len())
            .field("language", &self.language)
            .field("critical_only", &self.critical_only)
            .finish()
    }
}

impl ChannelConfig {
    /// The URL's scheme, host and port, for `channels list` and logs (never the path, which
    /// holds the secret of Slack, Teams and Mattermost URLs).
    pub fn endpoint(&self) -> String {
        match url::Url::parse(self.url.expose_secret()) {
            Ok(u) => {
                let mut s = format!("{}://{}", u.scheme(), u.host_str().unwrap_or("?"));
                if let Some(p) = u.port() {
                    s.push_str(&format!(":{p}"));
                }
                s
            }
            Err(_) => "?".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChannel {
    name: Option<String>,
    kind: Option<String>,
    url: Option<String>,
    url_file: Option<String>,
    url_env: Option<String>,
    topic: Option<String>,
    secret: Option<toml::Value>,
    secret_file: Option<String>,
    secret_env: Option<String>,
    language: Option<String>,
    min_severity: Option<String>,
}

impl Validator<'_> {
    pub(super) fn channels(&self, raw: Vec<RawChannel>) -> Result<Vec<ChannelConfig>, ConfigError> {
        let mut out: Vec<ChannelConfig> = Vec::new();
        for (i, c) in raw.into_iter().enumerate() {
            let path = |key: &str| -> Vec<Seg> {
                vec![Seg::from("channels"), Seg::Index(i), Seg::from(key)]
            };
            let at = |key: &str| -> Vec<Seg> {
                if key.is_empty() {
                    vec![Seg::from("channels"), Seg::Index(i)]
                } else {
                    path(key)
                }
            };
            let Some(name) = c.name.filter(|n| !n.trim().is_empty()) else {
                return Err(self.err(at(""), "a channel needs a name"));
            };
            if out.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
                return Err(self.err(path("name"), format!("{name:?} is used twice")));
            }
            if name.chars().any(|c| c.is_control()) || name.len() > 64 {
                return Err(self.err(path("name"), "at most 64 printable characters"));
            }
            let kind = match c.kind.as_deref() {
                Some("slack") => ChannelKind::Slack,
                Some("mattermost") => ChannelKind::Mattermost,
                Some("teams") => ChannelKind::Teams,
                Some("ntfy") => ChannelKind::Ntfy,
                Some("webhook") => ChannelKind::Webhook,
                Some(other) => {
                    return Err(self.err(
                        path("kind"),
                        format!("{other:?}: expected slack, mattermost, teams, ntfy or webhook"),
                    ));
                }
                None => {
                    return Err(self.err(
                        at(""),
                        "a channel needs a kind: slack, mattermost, teams, ntfy or webhook",
                    ));
                }
            };
            let table: Vec<Seg> = vec![Seg::from("channels"), Seg::Index(i)];
            // A URL written in the file is accepted for ntfy (a server) and webhooks (signed);
            // Slack, Teams and Mattermost URLs are the credential itself, and come from a file,
            // the environment or systemd's credentials, as every secret does.
            if c.url.is_some()
                && matches!(
                    kind,
                    ChannelKind::Slack | ChannelKind::Teams | ChannelKind::Mattermost
                )
            {
                return Err(self.err(
                    path("url"),
                    format!(
                        "a {} webhook URL is a secret (whoever has it can post): use url_file = \"/run/credentials/mentiond.service/...\" or url_env = \"VARIABLE\"",
                        kind.as_str()
                    ),
                ));
            }
            let inline_url = c.url.map(SecretString::from);
            let secret_url = if inline_url.is_none() {
                self.secret_at(
                    table.clone(),
                    &format!("channel-{name}-url"),
                    "url",
                    None,
                    c.url_file.as_deref(),
                    c.url_env.as_deref(),
                )?
            } else {
                None
            };
            let Some(url) = inline_url.or(secret_url) else {
                return Err(self.err(
                    at(""),
                    format!(
                        "channel {name:?} needs its URL: url_file = \"/run/credentials/mentiond.service/...\" or url_env = \"VARIABLE\""
                    ),
                ));
            };
            match url::Url::parse(url.expose_secret().trim()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                _ => {
                    return Err(self.err(
                        path("url"),
                        "not an http:// or https:// URL (the value is not shown: it may be a secret)",
                    ));
                }
            }
            let url = SecretString::from(url.expose_secret().trim().to_string());
            let topic = match (kind, c.topic) {
                (ChannelKind::Ntfy, Some(t))
                    if !t.is_empty()
                        && t.len() <= 64
                        && t.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
                {
                    Some(t)
                }
                (ChannelKind::Ntfy, Some(_)) => {
                    return Err(self.err(
                        path("topic"),
                        "an ntfy topic is 1 to 64 letters, digits, '-' or '_'",
                    ));
                }
                (ChannelKind::Ntfy, None) => {
                    return Err(self.err(at(""), "an ntfy channel needs a topic"));
                }
                (_, Some(_)) => {
                    return Err(self.err(path("topic"), "only ntfy channels have a topic"));
                }
                (_, None) => None,
            };
            let secret = self.secret_at(
                table.clone(),
                &format!("channel-{name}-secret"),
                "secret",
                c.secret.as_ref(),
                c.secret_file.as_deref(),
                c.secret_env.as_deref(),
            )?;
            let secrets: Vec<SecretString> = match (&secret, kind) {
                (Some(s), ChannelKind::Webhook) => {
                    let mut list = Vec::new();
                    for part in s.expose_secret().split_whitespace() {
                        if crate::notify::channels::signing_key(part).is_none() {
                            return Err(self.err(
                                path(if c.secret_env.is_some() {
                                    "secret_env"
                                } else {
                                    "secret_file"
                                }),
                                "a signing secret is whsec_ followed by base64 (several: separated by spaces)",
                            ));
                        }
                        list.push(SecretString::from(part.to_string()));
                    }
                    list
                }
                (Some(s), ChannelKind::Ntfy) => vec![s.clone()],
                (Some(_), _) => {
                    return Err(self.err(
                        path("secret_env"),
                        "only webhook (signing) and ntfy (access token) channels take a secret",
                    ));
                }
                (None, _) => Vec::new(),
            };
            let language = match c.language.as_deref() {
                None => None,
                Some("en") => Some(Lang::En),
                Some("it") => Some(Lang::It),
                Some(other) => {
                    return Err(self.err(
                        path("language"),
                        format!("{other:?}: messages exist in \"en\" and \"it\""),
                    ));
                }
            };
            let critical_only = match c.min_severity.as_deref() {
                None | Some("warning") => false,
                Some("critical") => true,
                Some(other) => {
                    return Err(self.err(
                        path("min_severity"),
                        format!("{other:?}: expected \"warning\" or \"critical\""),
                    ));
                }
            };
            out.push(ChannelConfig {
                name,
                kind,
                url,
                topic,
                secrets,
                language,
                critical_only,
            });
        }
        Ok(out)
    }

    /// Checks channel names in a routing list (`[alerts] channels`, a digest's `channels`).
    pub(super) fn channel_names(
        &self,
        path: Vec<Seg>,
        names: &[String],
        channels: &[ChannelConfig],
    ) -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        for (j, n) in names.iter().enumerate() {
            match channels.iter().find(|c| c.name.eq_ignore_ascii_case(n)) {
                Some(c) => {
                    if !out.contains(&c.name) {
                        out.push(c.name.clone());
                    }
                }
                None => {
                    let mut p = path.clone();
                    p.push(Seg::Index(j));
                    let known: Vec<&str> = channels.iter().map(|c| c.name.as_str()).collect();
                    return Err(self.err(
                        p,
                        format!(
                            "no channel named {n:?} (configured: {})",
                            if known.is_empty() {
                                "none; add a [[channels]] section".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
            }
        }
        Ok(out)
    }
}
