//! `[sources]`: which platforms to poll, how often, and with which credentials.
//!
//! Secrets (tokens, passwords, client secrets) never come from the config text: a key such as
//! `token_file` names a file (for example a systemd credential) and `token_env` an environment
//! variable. Without either, `$CREDENTIALS_DIRECTORY/<source>-<name>` is used when it exists.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::{BrandConfig, ConfigError, Seg, Validator};

/// Settings shared by every source, and each platform's own section.
#[derive(Debug, Clone)]
pub struct SourcesConfig {
    /// How far back the first poll of a query reaches.
    pub backfill: Duration,
    /// Per-request timeout (connect + response).
    pub timeout: Duration,
    /// Responses larger than this are refused (a broken or hostile server cannot exhaust memory).
    pub max_response_bytes: u64,
    /// Sent with every request; names mentiond and, if configured, a contact.
    pub user_agent: String,
    /// Pages fetched per query and poll; a longer catch-up continues at the next poll.
    pub max_pages_per_poll: u32,
    pub mastodon: Option<MastodonConfig>,
    pub bluesky: Option<BlueskyConfig>,
    pub reddit: Option<RedditConfig>,
    pub hackernews: Option<HackerNewsConfig>,
    pub rss: Vec<FeedConfig>,
    pub x: Option<XConfig>,
}

impl SourcesConfig {
    pub fn is_empty(&self) -> bool {
        self.mastodon.is_none()
            && self.bluesky.is_none()
            && self.reddit.is_none()
            && self.hackernews.is_none()
            && self.rss.is_empty()
            && self.x.is_none()
    }

    /// Names of the configured platforms, for summaries.
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(m) = &self.mastodon {
            out.push(format!("mastodon ({} instance(s))", m.instances.len()));
        }
        if self.bluesky.is_some() {
            out.push("bluesky".into());
        }
        if let Some(r) = &self.reddit {
            out.push(if r.credentials.is_some() {
                "reddit".into()
            } else {
                "reddit (public RSS)".into()
            });
        }
        if self.hackernews.is_some() {
            out.push("hackernews".into());
        }
        if !self.rss.is_empty() {
            out.push(format!("rss ({} feed(s))", self.rss.len()));
        }
        if self.x.is_some() {
            out.push("x".into());
        }
        out
    }
}

impl Default for SourcesConfig {
    fn default() -> Self {
        SourcesConfig {
            backfill: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(30),
            max_response_bytes: 8 * 1024 * 1024,
            user_agent: default_user_agent(None),
            max_pages_per_poll: 10,
            mastodon: None,
            bluesky: None,
            reddit: None,
            hackernews: None,
            rss: Vec::new(),
            x: None,
        }
    }
}

fn default_user_agent(contact: Option<&str>) -> String {
    let base = format!(
        "mentiond/{} (+https://github.com/mentiond/mentiond)",
        env!("CARGO_PKG_VERSION")
    );
    match contact {
        Some(c) => format!("{base} contact: {c}"),
        None => base,
    }
}

#[derive(Debug, Clone)]
pub struct MastodonConfig {
    /// `base_url` first, then `instances`. Hashtag timelines are polled on each.
    pub instances: Vec<Url>,
    pub interval: Duration,
    /// Access token for `base_url` only: enables notifications and full-text search there.
    pub token: Option<SecretString>,
    /// Also poll the hashtag timeline of every one-word keyword (`acme` -> `#acme`).
    pub keywords_as_hashtags: bool,
    /// With a token: full-text status search for each keyword.
    pub search: bool,
    /// With a token: mentions of the token's own account.
    pub notifications: bool,
}

#[derive(Debug, Clone)]
pub struct BlueskyConfig {
    /// Where the account lives (its PDS, or the entryway `https://bsky.social`).
    pub service: Url,
    pub identifier: String,
    pub app_password: SecretString,
    pub interval: Duration,
}

#[derive(Debug, Clone)]
pub struct RedditCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

#[derive(Debug, Clone)]
pub struct RedditConfig {
    /// OAuth API, `https://oauth.reddit.com`.
    pub api_url: Url,
    /// `https://www.reddit.com`: token endpoint and the public search RSS feed.
    pub www_url: Url,
    pub credentials: Option<RedditCredentials>,
    /// Reddit asks for `<platform>:<app id>:<version> (by /u/<username>)`.
    pub user_agent: Option<String>,
    pub interval: Duration,
    /// Interval of the credential-less RSS fallback (Reddit throttles anonymous clients hard).
    pub public_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct HackerNewsConfig {
    pub base_url: Url,
    pub interval: Duration,
}

#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// Short name used in status output and cursors; defaults to the URL's host and path.
    pub name: String,
    pub url: Url,
    pub interval: Duration,
    /// Every entry is a mention of these brands (a review site's page for the brand, a Google
    /// Alert for its name); empty means entries are matched like any post.
    pub brands: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct XConfig {
    pub base_url: Url,
    pub bearer_token: SecretString,
    pub interval: Duration,
    /// Posts read per calendar month (UTC) at most: X bills per post read.
    pub monthly_budget: u64,
}

// ---- raw shape ----

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSources {
    backfill: Option<String>,
    timeout: Option<String>,
    max_response_bytes: Option<u64>,
    contact: Option<String>,
    max_pages_per_poll: Option<u32>,
    mastodon: Option<RawMastodon>,
    bluesky: Option<RawBluesky>,
    reddit: Option<RawReddit>,
    hackernews: Option<RawHackerNews>,
    #[serde(default)]
    rss: Vec<RawFeed>,
    x: Option<RawX>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMastodon {
    #[serde(default = "yes")]
    enabled: bool,
    base_url: String,
    #[serde(default)]
    instances: Vec<String>,
    interval: Option<String>,
    token: Option<toml::Value>,
    token_file: Option<String>,
    token_env: Option<String>,
    #[serde(default = "yes")]
    keywords_as_hashtags: bool,
    #[serde(default = "yes")]
    search: bool,
    #[serde(default = "yes")]
    notifications: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBluesky {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "default_bsky_service")]
    service: String,
    identifier: String,
    app_password: Option<toml::Value>,
    app_password_file: Option<String>,
    app_password_env: Option<String>,
    interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReddit {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "default_reddit_api")]
    api_url: String,
    #[serde(default = "default_reddit_www")]
    www_url: String,
    client_id: Option<String>,
    client_secret: Option<toml::Value>,
    client_secret_file: Option<String>,
    client_secret_env: Option<String>,
    user_agent: Option<String>,
    interval: Option<String>,
    public_interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHackerNews {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "default_hn")]
    base_url: String,
    interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    #[serde(default = "yes")]
    enabled: bool,
    url: String,
    name: Option<String>,
    interval: Option<String>,
    #[serde(default)]
    brands: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawX {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "default_x")]
    base_url: String,
    bearer_token: Option<toml::Value>,
    bearer_token_file: Option<String>,
    bearer_token_env: Option<String>,
    interval: Option<String>,
    monthly_budget: Option<u64>,
}

fn yes() -> bool {
    true
}
fn default_bsky_service() -> String {
    "https://bsky.social".into()
}
fn default_reddit_api() -> String {
    "https://oauth.reddit.com".into()
}
fn default_reddit_www() -> String {
    "https://www.reddit.com".into()
}
fn default_hn() -> String {
    "https://hn.algolia.com".into()
}
fn default_x() -> String {
    "https://api.x.com".into()
}

/// Parses `30s`, `2m`, `1h`, `1d`, `1h30m`, `400d`. A bare number is refused: the unit is
/// always explicit so `interval = 5` cannot mean five seconds to one reader and five minutes
/// to another.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut saw_unit = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{s:?}: a number must come before {unit:?}"))?;
        if n > 1_000_000_000 {
            return Err(format!("{s:?} is too long"));
        }
        digits.clear();
        let ms = match unit.as_str() {
            "ms" => n,
            "s" => n * 1000,
            "m" => n * 60_000,
            "h" => n * 3_600_000,
            "d" => n * 86_400_000,
            "w" => n * 7 * 86_400_000,
            other => {
                return Err(format!(
                    "{s:?}: unknown unit {other:?} (use ms, s, m, h, d or w, e.g. \"30s\", \"2m\", \"1h\")"
                ));
            }
        };
        total = total.saturating_add(ms);
        if total > 10 * 365 * 86_400_000 {
            return Err(format!("{s:?} is longer than 10 years"));
        }
        saw_unit = true;
    }
    if !digits.is_empty() || !saw_unit {
        return Err(format!(
            "{s:?} has no unit: write e.g. \"30s\", \"2m\", \"1h\" or \"7d\""
        ));
    }
    Ok(Duration::from_millis(total))
}

/// Renders a duration the way the config writes it (`2m`, `1h30m`, `45s`).
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Printable ASCII: what an HTTP header value may hold.
fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Where a secret was found, for messages (never the value).
fn read_secret_file(path: &Path) -> Result<SecretString, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value = text.trim_end_matches(['\n', '\r']).to_string();
    if value.trim().is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(SecretString::from(value))
}

impl Validator<'_> {
    pub(super) fn duration(
        &self,
        path: Vec<Seg>,
        raw: Option<&str>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let Some(raw) = raw else { return Ok(default) };
        let d = parse_duration(raw).map_err(|e| self.err(path.clone(), e))?;
        if d < Duration::from_secs(1) {
            return Err(self.err(path, format!("{raw:?} is too short: at least 1s")));
        }
        Ok(d)
    }

    pub(super) fn url(&self, path: Vec<Seg>, raw: &str) -> Result<Url, ConfigError> {
        let url = Url::parse(raw.trim())
            .map_err(|e| self.err(path.clone(), format!("{raw:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(self.err(path, format!("{raw:?} must be an http:// or https:// URL")));
        }
        Ok(url)
    }

    /// Reads the secret `name` of `section` from `<name>_file`, `<name>_env` or the systemd
    /// credentials folder. A value written in the config itself is refused.
    pub(super) fn secret(
        &self,
        section: &[&str],
        name: &str,
        inline: Option<&toml::Value>,
        file: Option<&str>,
        env: Option<&str>,
    ) -> Result<Option<SecretString>, ConfigError> {
        let at: Vec<Seg> = section.iter().map(|s| Seg::from(*s)).collect();
        let credential = format!(
            "{}-{}",
            section.last().unwrap_or(&""),
            name.replace('_', "-")
        );
        self.secret_at(at, &credential, name, inline, file, env)
    }

    /// As [`Validator::secret`], for a table at `at` (an array element: `channels[2]`) whose
    /// systemd credential is named `credential`.
    pub(super) fn secret_at(
        &self,
        at: Vec<Seg>,
        credential: &str,
        name: &str,
        inline: Option<&toml::Value>,
        file: Option<&str>,
        env: Option<&str>,
    ) -> Result<Option<SecretString>, ConfigError> {
        let path = |key: String| -> Vec<Seg> {
            let mut p = at.clone();
            p.push(Seg::Key(key));
            p
        };
        if inline.is_some() {
            return Err(self.err(
                path(name.to_string()),
                format!(
                    "secrets are not read from the config file (it is often world-readable and ends up in backups): \
                     use {name}_file = \"/run/credentials/mentiond.service/...\" or {name}_env = \"VARIABLE\""
                ),
            ));
        }
        if let Some(file) = file {
            let p = super::resolve(self.doc.file, file);
            return read_secret_file(&p)
                .map(Some)
                .map_err(|e| self.err(path(format!("{name}_file")), e));
        }
        if let Some(var) = env {
            return match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(SecretString::from(v))),
                Ok(_) => Err(self.err(
                    path(format!("{name}_env")),
                    format!("environment variable {var} is empty"),
                )),
                Err(_) => Err(self.err(
                    path(format!("{name}_env")),
                    format!("environment variable {var} is not set"),
                )),
            };
        }
        // systemd's LoadCredential= puts credentials here; the name is `<source>-<secret>`.
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let cred = PathBuf::from(dir).join(credential);
            if cred.exists() {
                return read_secret_file(&cred)
                    .map(Some)
                    .map_err(|e| self.err(path(name.to_string()), e));
            }
        }
        Ok(None)
    }

    pub(super) fn sources(
        &self,
        raw: RawSources,
        brands: &[BrandConfig],
    ) -> Result<SourcesConfig, ConfigError> {
        let defaults = SourcesConfig::default();
        let backfill = self.duration(
            p!["sources", "backfill"],
            raw.backfill.as_deref(),
            defaults.backfill,
        )?;
        let timeout = self.duration(
            p!["sources", "timeout"],
            raw.timeout.as_deref(),
            defaults.timeout,
        )?;
        let max_response_bytes = raw
            .max_response_bytes
            .unwrap_or(defaults.max_response_bytes);
        if max_response_bytes < 4096 {
            return Err(self.err(p!["sources", "max_response_bytes"], "must be at least 4096"));
        }
        let max_pages_per_poll = raw
            .max_pages_per_poll
            .unwrap_or(defaults.max_pages_per_poll);
        if max_pages_per_poll == 0 {
            return Err(self.err(p!["sources", "max_pages_per_poll"], "must be at least 1"));
        }
        if let Some(c) = &raw.contact {
            if !is_header_value(c) {
                return Err(self.err(
                    p!["sources", "contact"],
                    "must be plain ASCII (it goes into the User-Agent header)",
                ));
            }
        }
        let mut out = SourcesConfig {
            backfill,
            timeout,
            max_response_bytes,
            user_agent: default_user_agent(raw.contact.as_deref()),
            max_pages_per_poll,
            ..defaults
        };

        if let Some(m) = raw.mastodon.filter(|m| m.enabled) {
            let mut instances = vec![self.url(p!["sources", "mastodon", "base_url"], &m.base_url)?];
            for (i, u) in m.instances.iter().enumerate() {
                let url = self.url(p!["sources", "mastodon", "instances", i], u)?;
                if instances
                    .iter()
                    .any(|x| x.host_str() == url.host_str() && x.port() == url.port())
                {
                    return Err(self.err(
                        p!["sources", "mastodon", "instances", i],
                        format!("{u:?} is listed twice"),
                    ));
                }
                instances.push(url);
            }
            let token = self.secret(
                &["sources", "mastodon"],
                "token",
                m.token.as_ref(),
                m.token_file.as_deref(),
                m.token_env.as_deref(),
            )?;
            out.mastodon = Some(MastodonConfig {
                instances,
                interval: self.duration(
                    p!["sources", "mastodon", "interval"],
                    m.interval.as_deref(),
                    Duration::from_secs(120),
                )?,
                token,
                keywords_as_hashtags: m.keywords_as_hashtags,
                search: m.search,
                notifications: m.notifications,
            });
        }

        if let Some(b) = raw.bluesky.filter(|b| b.enabled) {
            let service = self.url(p!["sources", "bluesky", "service"], &b.service)?;
            if b.identifier.trim().is_empty() {
                return Err(self.err(
                    p!["sources", "bluesky", "identifier"],
                    "must not be empty (the account's handle or DID)",
                ));
            }
            let password = self
                .secret(
                    &["sources", "bluesky"],
                    "app_password",
                    b.app_password.as_ref(),
                    b.app_password_file.as_deref(),
                    b.app_password_env.as_deref(),
                )?
                .ok_or_else(|| {
                    self.err(
                        p!["sources", "bluesky", "identifier"],
                        "Bluesky search needs a login since 2025: set app_password_file or app_password_env \
                         (an app password from Settings > Privacy and security > App passwords)",
                    )
                })?;
            out.bluesky = Some(BlueskyConfig {
                service,
                identifier: b.identifier.trim().trim_start_matches('@').to_string(),
                app_password: password,
                interval: self.duration(
                    p!["sources", "bluesky", "interval"],
                    b.interval.as_deref(),
                    Duration::from_secs(300),
                )?,
            });
        }

        if let Some(r) = raw.reddit.filter(|r| r.enabled) {
            let secret = self.secret(
                &["sources", "reddit"],
                "client_secret",
                r.client_secret.as_ref(),
                r.client_secret_file.as_deref(),
                r.client_secret_env.as_deref(),
            )?;
            let credentials = match (r.client_id.as_deref().map(str::trim), secret) {
                (Some(id), Some(secret)) if !id.is_empty() => Some(RedditCredentials {
                    client_id: id.to_string(),
                    client_secret: secret,
                }),
                (Some(id), None) if !id.is_empty() => {
                    return Err(self.err(
                        p!["sources", "reddit", "client_id"],
                        "client_id is set but no client secret was found: set client_secret_file or client_secret_env",
                    ));
                }
                (None, Some(_)) => {
                    return Err(self.err(
                        p!["sources", "reddit", "client_secret_file"],
                        "a client secret needs client_id too",
                    ));
                }
                _ => None,
            };
            if let Some(ua) = &r.user_agent {
                if !is_header_value(ua) {
                    return Err(self.err(
                        p!["sources", "reddit", "user_agent"],
                        "must be plain ASCII (it is the User-Agent header)",
                    ));
                }
            }
            out.reddit = Some(RedditConfig {
                api_url: self.url(p!["sources", "reddit", "api_url"], &r.api_url)?,
                www_url: self.url(p!["sources", "reddit", "www_url"], &r.www_url)?,
                credentials,
                user_agent: r.user_agent.filter(|u| !u.trim().is_empty()),
                interval: self.duration(
                    p!["sources", "reddit", "interval"],
                    r.interval.as_deref(),
                    Duration::from_secs(300),
                )?,
                public_interval: self.duration(
                    p!["sources", "reddit", "public_interval"],
                    r.public_interval.as_deref(),
                    Duration::from_secs(1800),
                )?,
            });
        }

        if let Some(h) = raw.hackernews.filter(|h| h.enabled) {
            out.hackernews = Some(HackerNewsConfig {
                base_url: self.url(p!["sources", "hackernews", "base_url"], &h.base_url)?,
                interval: self.duration(
                    p!["sources", "hackernews", "interval"],
                    h.interval.as_deref(),
                    Duration::from_secs(300),
                )?,
            });
        }

        for (i, f) in raw.rss.into_iter().enumerate() {
            if !f.enabled {
                continue;
            }
            let url = self.url(p!["sources", "rss", i, "url"], &f.url)?;
            let name = match f.name.map(|n| n.trim().to_string()) {
                Some(n) if n.is_empty() => {
                    return Err(self.err(p!["sources", "rss", i, "name"], "must not be empty"));
                }
                Some(n) => n,
                None => format!(
                    "{}{}",
                    url.host_str().unwrap_or_default(),
                    url.path().trim_end_matches('/')
                ),
            };
            if out.rss.iter().any(|o| o.name == name) {
                return Err(self.err(
                    p!["sources", "rss", i, "name"],
                    format!("two feeds are named {name:?}: give one a different `name`"),
                ));
            }
            let mut feed_brands = Vec::new();
            for (j, b) in f.brands.iter().enumerate() {
                match brands
                    .iter()
                    .find(|x| x.name.eq_ignore_ascii_case(b.trim()))
                {
                    Some(found) => feed_brands.push(found.name.clone()),
                    None => {
                        return Err(self.err(
                            p!["sources", "rss", i, "brands", j],
                            format!("no brand named {b:?} is configured"),
                        ));
                    }
                }
            }
            out.rss.push(FeedConfig {
                name,
                url,
                interval: self.duration(
                    p!["sources", "rss", i, "interval"],
                    f.interval.as_deref(),
                    Duration::from_secs(900),
                )?,
                brands: feed_brands,
            });
        }

        if let Some(x) = raw.x.filter(|x| x.enabled) {
            let token = self
                .secret(
                    &["sources", "x"],
                    "bearer_token",
                    x.bearer_token.as_ref(),
                    x.bearer_token_file.as_deref(),
                    x.bearer_token_env.as_deref(),
                )?
                .ok_or_else(|| {
                    self.err(
                        p!["sources", "x", "bearer_token_file"],
                        "X needs a bearer token: set bearer_token_file or bearer_token_env (or remove [sources.x])",
                    )
                })?;
            let monthly_budget = x.monthly_budget.ok_or_else(|| {
                self.err(
                    p!["sources", "x", "monthly_budget"],
                    "X bills per post read: set monthly_budget, the most posts mentiond may read per month",
                )
            })?;
            for (i, b) in brands.iter().enumerate() {
                let q = crate::sources::x::brand_query(b);
                if q.len() > 512 {
                    return Err(self.err(
                        p!["brands", i, "keywords"],
                        format!("brand {:?} makes an X query of {} characters; X accepts 512: fewer keywords, or a shorter list for X", b.name, q.len()),
                    ));
                }
            }
            out.x = Some(XConfig {
                base_url: self.url(p!["sources", "x", "base_url"], &x.base_url)?,
                bearer_token: token,
                interval: self.duration(
                    p!["sources", "x", "interval"],
                    x.interval.as_deref(),
                    Duration::from_secs(900),
                )?,
                monthly_budget,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("400d").unwrap(),
            Duration::from_secs(400 * 86400)
        );
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("5y").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("m").is_err());
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
    }
}
