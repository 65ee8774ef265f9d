//! Typed configuration, validated once at load.
//!
//! Every error names the file, the line and column, and the key (`brands[0].keywords`), so an
//! operator can fix the file without guessing. Parsing happens in two steps: serde turns the
//! TOML into raw structs (unknown keys and wrong types are caught there), then [`Config::load`]
//! checks what serde cannot (empty brand names, bad e-mail addresses, ...). Both steps locate
//! their errors in the same spanned parse tree of the document.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::DeTable;

/// Builds a path from a literal list: `p!["brands", 0, "name"]`.
macro_rules! p {
    ($($seg:expr),* $(,)?) => { vec![$(Seg::from($seg)),*] };
}

mod alerts;
pub mod channels;
mod digests;
mod email;
mod locate;
pub mod responses;
mod sources;

pub use alerts::*;
pub use digests::*;
pub use email::*;
use locate::{Document, Seg, join_path, span_of};
pub use sources::*;

/// The default location of the configuration file (overridable with `--config` or the
/// `MENTIOND_CONFIG` environment variable).
pub const DEFAULT_CONFIG_PATH: &str = "/etc/mentiond/config.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {key}: {message}", file.display())]
    Invalid {
        file: PathBuf,
        line: usize,
        column: usize,
        /// Dotted path of the offending key, e.g. `brands[1].name`; empty for syntax errors
        /// outside any key.
        key: String,
        message: String,
    },
}

/// The whole configuration after validation.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from; relative paths inside resolve against its folder.
    pub file: PathBuf,
    pub storage: StorageConfig,
    pub brands: Vec<BrandConfig>,
    pub email: EmailConfig,
    pub sources: SourcesConfig,
    pub alerts: AlertsConfig,
    pub digests: Vec<DigestConfig>,
    pub touchpoints: Vec<TouchpointConfig>,
    pub sentiment: SentimentConfig,
    /// Chat and webhook destinations (`[[channels]]`).
    pub channels: Vec<channels::ChannelConfig>,
    /// Business hours for response times (`[responses]`).
    pub responses: responses::ResponsesConfig,
}

/// `[sentiment]`: which engine scores mentions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SentimentConfig {
    pub engine: crate::sentiment::Engine,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    pub database: DatabaseLocation,
    /// Mentions (and poll logs, sent e-mails) older than this are pruned; `None` keeps all.
    pub retention: Option<std::time::Duration>,
    /// How long an instance's claim on a piece of work (a source query, the alert evaluation)
    /// lasts without renewal: another instance on the same database takes over after it.
    pub lease: std::time::Duration,
}

/// `[storage] lease` when not set.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// Retention cannot be shorter than the history the alert detector replays, plus margin.
pub const MIN_RETENTION_DAYS: u64 = 35;

#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseLocation {
    /// Path to the SQLite database file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database (it must exist; mentiond creates its tables).
    Postgres(PostgresLocation),
}

/// A PostgreSQL server and database. The URL never holds the password: it comes from
/// `password_file`/`password_env`, systemd credentials, or libpq's `PGPASSWORD`/`~/.pgpass`.
#[derive(Clone)]
pub struct PostgresLocation {
    /// `postgres://user@host:port/database[?sslmode=...]`, without a password.
    pub url: String,
    pub password: Option<secrecy::SecretString>,
}

impl PartialEq for PostgresLocation {
    fn eq(&self, other: &Self) -> bool {
        use secrecy::ExposeSecret;
        self.url == other.url
            && self
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_string())
                == other
                    .password
                    .as_ref()
                    .map(|p| p.expose_secret().to_string())
    }
}

impl fmt::Debug for PostgresLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLocation")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// A database URL as `[storage] url` and `migrate-storage` take it: `sqlite://PATH` (relative
/// to the folder of `relative_to`) or `postgres://user@host[:port]/database` without a password
/// (the location comes back without one; the caller adds it).
pub fn database_location(url: &str, relative_to: &Path) -> Result<DatabaseLocation, String> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"));
    match path {
        Some(p) if !p.trim().is_empty() && !p.contains('?') => {
            Ok(DatabaseLocation::Sqlite(resolve(relative_to, p.trim())))
        }
        Some(_) => Err(format!(
            "{url:?} names no database file: write sqlite://mentiond.db or sqlite:///var/lib/mentiond/mentiond.db (no query parameters)"
        )),
        None if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let parsed = url::Url::parse(url).map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
            if parsed.password().is_some() {
                return Err("the URL holds a password: secrets are not read from the config file or the command line; \
                     remove it and use password_file = \"/run/credentials/mentiond.service/storage-password\" \
                     or password_env = \"VARIABLE\" (or PGPASSWORD, ~/.pgpass)"
                    .into());
            }
            if parsed.host_str().is_none_or(str::is_empty)
                || parsed.path().trim_matches('/').is_empty()
            {
                return Err(format!(
                    "{url:?} must name a host and a database: postgres://user@host:5432/mentiond"
                ));
            }
            Ok(DatabaseLocation::Postgres(PostgresLocation {
                url: url.to_string(),
                password: None,
            }))
        }
        None => Err(format!(
            "unsupported database URL {url:?}: expected sqlite://PATH or postgres://user@host/database"
        )),
    }
}

impl fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseLocation::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            DatabaseLocation::Postgres(pg) => f.write_str(&pg.url),
        }
    }
}

/// One brand to listen for. Terms are kept as written; the matcher folds case and accents.
#[derive(Debug, Clone, PartialEq)]
pub struct BrandConfig {
    pub name: String,
    pub keywords: Vec<String>,
    /// Without the leading `#`.
    pub hashtags: Vec<String>,
    /// Without the leading `@`: `acme@mastodon.social`, `acme.bsky.social`, `AcmeSupport`.
    pub handles: Vec<String>,
    pub exclude: Vec<String>,
    /// ISO 639-1 codes; `None` keeps posts in every language.
    pub languages: Option<Vec<String>>,
}

// ---- raw shape, as serde reads it ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    storage: Option<RawStorage>,
    #[serde(default)]
    brands: Vec<RawBrand>,
    #[serde(default)]
    email: Option<email::RawEmail>,
    #[serde(default)]
    alerts: Option<alerts::RawAlerts>,
    #[serde(default)]
    sources: Option<sources::RawSources>,
    #[serde(default)]
    digests: Vec<digests::RawDigest>,
    #[serde(default)]
    touchpoints: Option<Vec<TouchpointConfig>>,
    #[serde(default)]
    sentiment: Option<RawSentiment>,
    #[serde(default)]
    channels: Vec<channels::RawChannel>,
    #[serde(default)]
    responses: Option<responses::RawResponses>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSentiment {
    #[serde(default)]
    engine: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    retention: Option<String>,
    /// PostgreSQL only: refused (secrets are not read from the config file).
    #[serde(default)]
    password: Option<toml::Value>,
    #[serde(default)]
    password_file: Option<String>,
    #[serde(default)]
    password_env: Option<String>,
    #[serde(default)]
    lease: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBrand {
    name: String,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    hashtags: Vec<String>,
    #[serde(default)]
    handles: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    languages: Option<Vec<String>>,
}

const DEFAULT_DATABASE_URL: &str = "sqlite://mentiond.db";

impl Config {
    /// Reads, parses and validates a configuration file.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Config::parse(file, &text)
    }

    /// Parses and validates configuration text; `file` names it in errors and anchors
    /// relative paths.
    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        let doc = Document { file, text };
        let tree = DeTable::parse(text).map_err(|e| doc.toml_error(&e, None))?;
        let raw = RawConfig::deserialize(toml::de::Deserializer::from(tree.clone()))
            .map_err(|e| doc.toml_error(&e, Some(tree.get_ref())))?;
        let v = Validator {
            doc: &doc,
            tree: tree.get_ref(),
        };
        v.validate(raw)
    }

    /// Folder against which relative paths resolve.
    pub fn base_dir(&self) -> PathBuf {
        base_dir(&self.file)
    }

    /// One line for `mentiond check-config`.
    pub fn summary(&self) -> String {
        format!(
            "config OK: {} brand(s) [{}], storage {}, sources [{}], alerts {}, digests [{}], e-mail {} ({} recipient(s))",
            self.brands.len(),
            self.brands
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.storage.database,
            if self.sources.is_empty() {
                "none".to_string()
            } else {
                self.sources.names().join(", ")
            },
            if self.alerts.enabled { "on" } else { "off" },
            if self.digests.is_empty() {
                "none".to_string()
            } else {
                self.digests
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            self.email.transport,
            self.email.to.len(),
        )
    }
}

fn base_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Resolves `path` against the config file's folder unless it is absolute.
fn resolve(file: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir(file).join(p)
    }
}

struct Validator<'a> {
    doc: &'a Document<'a>,
    tree: &'a DeTable<'a>,
}

impl From<&str> for Seg {
    fn from(s: &str) -> Seg {
        Seg::Key(s.to_string())
    }
}
impl From<usize> for Seg {
    fn from(i: usize) -> Seg {
        Seg::Index(i)
    }
}

impl Validator<'_> {
    fn err(&self, path: Vec<Seg>, message: impl Into<String>) -> ConfigError {
        let span = span_of(self.tree, &path);
        self.doc.error(span, &join_path(&path), message)
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let file = self.doc.file;
        let storage = self.storage(raw.storage)?;
        if raw.brands.is_empty() {
            return Err(self.err(
                p!["brands"],
                "no brand configured: add at least one [[brands]] table with a name and keywords, hashtags or handles",
            ));
        }
        let mut seen = HashSet::new();
        let mut brands = Vec::with_capacity(raw.brands.len());
        for (i, b) in raw.brands.into_iter().enumerate() {
            let brand = self.brand(i, b)?;
            // "Caffè" typed with a combining accent, or in capitals, is the same brand: two
            // entries would count each post twice.
            let key: String = unicode_normalization::UnicodeNormalization::nfc(brand.name.as_str())
                .collect::<String>()
                .to_lowercase();
            if !seen.insert(key) {
                return Err(self.err(
                    p!["brands", i, "name"],
                    format!("brand {:?} is defined twice", brand.name),
                ));
            }
            // An account belongs to one brand: its posts are that brand's own replies.
            for (j, h) in brand.handles.iter().enumerate() {
                let owner = brands
                    .iter()
                    .find(|b: &&BrandConfig| b.handles.iter().any(|o| o.eq_ignore_ascii_case(h)));
                if let Some(other) = owner {
                    return Err(self.err(
                        p!["brands", i, "handles", j],
                        format!(
                            "@{h} is already a handle of brand {:?}: an account belongs to one brand",
                            other.name
                        ),
                    ));
                }
            }
            brands.push(brand);
        }
        let email = self.email(raw.email)?;
        let sources = self.sources(raw.sources.unwrap_or_default(), &brands)?;
        let channels = self.channels(raw.channels)?;
        let alerts = self.alerts(raw.alerts.unwrap_or_default(), &brands, &email, &channels)?;
        let digests = self.digests(raw.digests, &brands, &email, &channels)?;
        let touchpoints = self.touchpoints(raw.touchpoints)?;
        let responses = self.responses(raw.responses.unwrap_or_default(), &brands)?;
        let sentiment = self.sentiment(raw.sentiment)?;
        if let Some(retention) = storage.retention {
            // A digest compares its period with the same length of time before it: both must
            // still be stored.
            for d in &digests {
                let longest = d.schedule.longest_period();
                let needed = longest * 2 + std::time::Duration::from_secs(86_400);
                if retention < needed {
                    return Err(self.err(
                        p!["storage", "retention"],
                        format!(
                            "{} is too short for digest {:?}: its periods last up to {}, and it compares each with the time before; keep at least {}",
                            format_duration(retention),
                            d.name,
                            format_duration(longest),
                            format_duration(needed)
                        ),
                    ));
                }
            }
        }
        Ok(Config {
            file: file.to_path_buf(),
            storage,
            brands,
            email,
            sources,
            alerts,
            digests,
            touchpoints,
            sentiment,
            channels,
            responses,
        })
    }

    fn sentiment(&self, raw: Option<RawSentiment>) -> Result<SentimentConfig, ConfigError> {
        let Some(name) = raw.and_then(|r| r.engine) else {
            return Ok(SentimentConfig::default());
        };
        match crate::sentiment::Engine::parse(&name) {
            Some(engine) => Ok(SentimentConfig { engine }),
            None => Err(self.err(
                p!["sentiment", "engine"],
                format!(
                    "unknown engine {name:?}: use \"customer-voice\" (the default) or \"vader\""
                ),
            )),
        }
    }

    fn storage(&self, raw: Option<RawStorage>) -> Result<StorageConfig, ConfigError> {
        let (url, retention, password, lease) = match raw {
            Some(r) => (
                r.url,
                r.retention,
                (r.password, r.password_file, r.password_env),
                r.lease,
            ),
            None => (None, None, (None, None, None), None),
        };
        let lease = self.duration(p!["storage", "lease"], lease.as_deref(), DEFAULT_LEASE)?;
        if lease < std::time::Duration::from_secs(2) || lease > std::time::Duration::from_secs(3600)
        {
            return Err(self.err(
                p!["storage", "lease"],
                "a lease lasts between 2s and 1h (another instance takes over a dead one's work after it)",
            ));
        }
        let url = url.unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        let retention = match retention.as_deref() {
            None | Some("forever") => None,
            Some(r) => {
                let d = crate::config::parse_duration(r)
                    .map_err(|e| self.err(p!["storage", "retention"], e))?;
                if d.as_secs() < MIN_RETENTION_DAYS * 86_400 {
                    return Err(self.err(
                        p!["storage", "retention"],
                        format!("{r:?} is too short: alerts replay 28 days of history; keep at least {MIN_RETENTION_DAYS}d (or \"forever\")"),
                    ));
                }
                Some(d)
            }
        };
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"));
        if path.is_some() && (password.0.is_some() || password.1.is_some() || password.2.is_some())
        {
            return Err(self.err(
                p!["storage", "url"],
                "a password applies to PostgreSQL only: a sqlite:// database is a file (remove password_file/password_env)",
            ));
        }
        let mut database = database_location(&url, self.doc.file)
            .map_err(|e| self.err(p!["storage", "url"], e))?;
        if let DatabaseLocation::Postgres(pg) = &mut database {
            pg.password = self.secret(
                &["storage"],
                "password",
                password.0.as_ref(),
                password.1.as_deref(),
                password.2.as_deref(),
            )?;
        }
        Ok(StorageConfig {
            database,
            retention,
            lease,
        })
    }

    fn terms(
        &self,
        i: usize,
        key: &str,
        values: Vec<String>,
        prefix: Option<char>,
    ) -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::with_capacity(values.len());
        for (j, v) in values.into_iter().enumerate() {
            let mut t = v.trim();
            if let Some(prefix) = prefix {
                t = t.strip_prefix(prefix).unwrap_or(t).trim();
            }
            if t.is_empty() {
                return Err(self.err(p!["brands", i, key, j], format!("empty entry in `{key}`")));
            }
            if prefix.is_some() && t.chars().any(char::is_whitespace) {
                return Err(self.err(
                    p!["brands", i, key, j],
                    format!("{v:?} contains a space; put phrases in `keywords`"),
                ));
            }
            if !t.chars().any(char::is_alphanumeric) {
                return Err(self.err(
                    p!["brands", i, key, j],
                    format!("{v:?} has no letter or digit to match"),
                ));
            }
            out.push(t.to_string());
        }
        Ok(out)
    }

    fn brand(&self, i: usize, raw: RawBrand) -> Result<BrandConfig, ConfigError> {
        let name = raw.name.trim().to_string();
        if name.is_empty() {
            return Err(self.err(p!["brands", i, "name"], "brand name must not be empty"));
        }
        let keywords = self.terms(i, "keywords", raw.keywords, None)?;
        let hashtags = self.terms(i, "hashtags", raw.hashtags, Some('#'))?;
        let handles = self.terms(i, "handles", raw.handles, Some('@'))?;
        let exclude = self.terms(i, "exclude", raw.exclude, None)?;
        if keywords.is_empty() && hashtags.is_empty() && handles.is_empty() {
            return Err(self.err(
                p!["brands", i, "name"],
                format!("brand {name:?} has nothing to listen for: give it keywords, hashtags or handles"),
            ));
        }
        let languages = match raw.languages {
            None => None,
            Some(list) => {
                let mut out = Vec::new();
                for (j, l) in list.iter().enumerate() {
                    let code = crate::mention::normalise_lang_tag(l.trim())
                        .filter(|c| c.len() == 2)
                        .ok_or_else(|| {
                            self.err(
                                p!["brands", i, "languages", j],
                                format!(
                                    "{l:?} is not an ISO 639-1 language code (e.g. \"en\", \"it\")"
                                ),
                            )
                        })?;
                    out.push(code);
                }
                if out.is_empty() {
                    return Err(self.err(
                        p!["brands", i, "languages"],
                        "`languages` is empty: remove it to keep every language",
                    ));
                }
                Some(out)
            }
        };
        Ok(BrandConfig {
            name,
            keywords,
            hashtags,
            handles,
            exclude,
            languages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/mentiond/test.toml"), text)
    }

    fn invalid(text: &str) -> (usize, usize, String, String) {
        match parse(text) {
            Err(ConfigError::Invalid {
                line,
                column,
                key,
                message,
                ..
            }) => (line, column, key, message),
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    const MINIMAL: &str = "[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(
            c.storage.database,
            DatabaseLocation::Sqlite(PathBuf::from("/etc/mentiond/mentiond.db"))
        );
        assert!(
            matches!(&c.email.transport, EmailTransport::File { dir } if dir == &PathBuf::from("/etc/mentiond/outbox"))
        );
        assert!(c.alerts.enabled);
        assert_eq!(c.alerts.rule("Acme").min_negative, 5);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let (line, col, key, msg) =
            invalid("[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\nkewords = [\"x\"]\n");
        assert_eq!((line, col), (4, 1));
        assert_eq!(key, "brands[0].kewords");
        assert!(msg.contains("unknown field"), "{msg}");
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let (line, _, key, msg) = invalid(
            "[storage]\nurl = \"sqlite://x.db\"\n\n[[brands]]\nname = \"Acme\"\nkeywords = \"acme\"\n",
        );
        assert_eq!(line, 6);
        assert_eq!(key, "brands[0].keywords");
        assert!(msg.contains("invalid type"), "{msg}");
    }

    #[test]
    fn empty_brand_name_names_line_and_key() {
        let (line, _, key, _) = invalid(
            "[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n\n[[brands]]\nname = \"  \"\nkeywords = [\"x\"]\n",
        );
        assert_eq!(line, 6);
        assert_eq!(key, "brands[1].name");
    }

    #[test]
    fn missing_name_is_reported() {
        let (line, _, key, msg) = invalid("[[brands]]\nkeywords = [\"acme\"]\n");
        assert_eq!(key, "brands[0].name");
        assert!(msg.contains("missing field"), "{msg}");
        assert_eq!(line, 1);
    }

    #[test]
    fn brand_without_terms_is_rejected() {
        let (line, _, key, _) = invalid("[[brands]]\nname = \"Acme\"\n");
        assert_eq!((line, key.as_str()), (2, "brands[0].name"));
    }

    #[test]
    fn bad_language_and_address_are_rejected() {
        let (line, _, key, _) = invalid(&format!("{MINIMAL}languages = [\"en\", \"italian\"]\n"));
        assert_eq!((line, key.as_str()), (4, "brands[0].languages[1]"));
        let (line, _, key, _) = invalid(&format!(
            "{MINIMAL}\n[email]\nto = [\"ok@example.org\", \"not an address\"]\n"
        ));
        assert_eq!((line, key.as_str()), (6, "email.to[1]"));
    }

    #[test]
    fn syntax_error_has_position() {
        let (line, _, _, _) = invalid("[[brands]]\nname = \"Acme\nkeywords = []\n");
        assert_eq!(line, 2);
    }

    #[test]
    fn duplicate_brand_is_rejected() {
        let (line, _, key, _) = invalid(&format!(
            "{MINIMAL}[[brands]]\nname = \"ACME\"\nkeywords = [\"a\"]\n"
        ));
        assert_eq!((line, key.as_str()), (5, "brands[1].name"));
    }

    #[test]
    fn brand_names_differing_only_in_accent_encoding_are_one_brand() {
        // TOML escapes: a precomposed è, then E followed by a combining grave accent.
        let config = r#"[[brands]]
name = "Caff\u00e8 Aurora"
keywords = ["a"]

[[brands]]
name = "CAFFE\u0300 AURORA"
keywords = ["b"]
"#;
        let (line, _, key, message) = invalid(config);
        assert_eq!((line, key.as_str()), (6, "brands[1].name"), "{message}");
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("token");
        std::fs::write(&secret, "very-secret-token-123\n").unwrap();
        let text = format!(
            "{MINIMAL}\n[sources.mastodon]\nbase_url = \"https://mastodon.social\"\ntoken_file = \"{}\"\n",
            secret.display()
        );
        let c = parse(&text).unwrap();
        let m = c.sources.mastodon.as_ref().unwrap();
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(m.token.as_ref().unwrap()),
            "very-secret-token-123"
        );
        let debug = format!("{c:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
    }

    #[test]
    fn responses_settings_inherit_key_by_key_and_accounts_belong_to_one_brand() {
        let c = parse(&format!(
            "{MINIMAL}\n[responses]\ntimezone = \"Europe/Rome\"\nalert_min_reach = 50\n\n[responses.brands.Acme]\nbusiness_hours = \"Mon-Fri 09:00-18:00\"\nalert_unanswered_after = \"2h\"\n"
        ))
        .unwrap();
        let hours = c.responses.hours("Acme").expect("Acme's hours");
        assert_eq!(
            hours.timezone,
            chrono_tz::Europe::Rome,
            "the zone set above applies"
        );
        let rule = c.responses.unanswered("Acme").expect("Acme's rule");
        assert_eq!((rule.after.as_secs(), rule.min_reach), (7200, 50));
        let (_, _, key, msg) = invalid(
            "[[brands]]\nname = \"A\"\nhandles = [\"@Help\"]\n\n[[brands]]\nname = \"B\"\nhandles = [\"help\"]\n",
        );
        assert_eq!(key, "brands[1].handles[0]", "{msg}");
    }

    #[test]
    fn channels_are_validated_and_routed_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("slack-url");
        std::fs::write(&url, "https://hooks.slack.com/services/T0/B0/s3cretpath\n").unwrap();
        let ok = format!(
            "{MINIMAL}\n[[channels]]\nname = \"Team\"\nkind = \"slack\"\nurl_file = \"{}\"\n\n[alerts]\nchannels = [\"team\"]\n",
            url.display()
        );
        let c = parse(&ok).unwrap();
        assert_eq!(c.channels.len(), 1);
        assert_eq!(
            c.alerts.defaults.channels,
            ["Team"],
            "routing by name, case aside"
        );
        assert_eq!(c.channels[0].endpoint(), "https://hooks.slack.com");
        assert!(
            !format!("{c:?}").contains("s3cretpath"),
            "the URL never in debug output"
        );
        let bad = [
            (
                "kind = \"irc\"\nurl = \"https://x.example\"",
                "channels[0].kind",
            ),
            (
                "kind = \"slack\"\nurl = \"ftp://x.example\"",
                "channels[0].url",
            ),
            (
                "kind = \"ntfy\"\nurl = \"https://ntfy.sh\"\ntopic = \"a b\"",
                "channels[0].topic",
            ),
            (
                "kind = \"webhook\"\nurl = \"https://x.example\"\nsecret = \"whsec_abc\"",
                "channels[0].secret",
            ),
            (
                "kind = \"webhook\"\nurl = \"https://x.example\"\nmin_severity = \"urgent\"",
                "channels[0].min_severity",
            ),
        ];
        for (body, key) in bad {
            let (_, _, k, msg) =
                invalid(&format!("{MINIMAL}\n[[channels]]\nname = \"a\"\n{body}\n"));
            assert_eq!(k, key, "{msg}");
        }
        let (_, _, k, msg) = invalid(&format!(
            "{MINIMAL}\n[[channels]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"https://x.example\"\n\n[alerts]\nchannels = [\"b\"]\n"
        ));
        assert_eq!(k, "alerts.channels[0]");
        assert!(msg.contains("no channel named \"b\""), "{msg}");
        let (_, _, k, _) = invalid(&format!(
            "{MINIMAL}\n[[channels]]\nname = \"a\"\nkind = \"ntfy\"\nurl = \"https://ntfy.sh\"\n"
        ));
        assert_eq!(k, "channels[0]", "ntfy needs a topic");
    }

    #[test]
    fn postgres_urls_take_no_password_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("pw");
        std::fs::write(&secret, "s3cret-db-pass\n").unwrap();
        let c = parse(&format!(
            "[storage]\nurl = \"postgres://mentiond@db.example.com:5432/mentiond\"\npassword_file = \"{}\"\n{MINIMAL}",
            secret.display()
        ))
        .unwrap();
        let DatabaseLocation::Postgres(pg) = &c.storage.database else {
            panic!("a PostgreSQL location");
        };
        assert_eq!(pg.url, "postgres://mentiond@db.example.com:5432/mentiond");
        let password = pg.password.as_ref().expect("the password");
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(password),
            "s3cret-db-pass"
        );
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "never in debug output"
        );
        assert!(!c.storage.database.to_string().contains("s3cret"));
        for (url, why) in [
            ("postgres://u:pw@db/mentiond", "holds a password"),
            (
                "postgres://db.example.com",
                "must name a host and a database",
            ),
        ] {
            let (line, _, key, msg) = invalid(&format!("[storage]\nurl = \"{url}\"\n{MINIMAL}"));
            assert_eq!((line, key.as_str()), (2, "storage.url"), "{url}");
            assert!(msg.contains(why), "{msg}");
            assert!(!msg.contains(":pw@"), "{msg}");
        }
        let (_, _, key, msg) = invalid(&format!(
            "[storage]\nurl = \"sqlite://m.db\"\npassword_env = \"X\"\n{MINIMAL}"
        ));
        assert_eq!(key, "storage.url");
        assert!(msg.contains("PostgreSQL only"), "{msg}");
        let (line, _, key, _) = invalid(&format!(
            "[storage]\nurl = \"postgres://u@db/m\"\npassword = \"inline\"\n{MINIMAL}"
        ));
        assert_eq!((line, key.as_str()), (3, "storage.password"));
    }

    #[test]
    fn storage_url_forms() {
        let c = parse(&format!(
            "[storage]\nurl = \"sqlite:///var/lib/m.db\"\n{MINIMAL}"
        ))
        .unwrap();
        assert_eq!(
            c.storage.database,
            DatabaseLocation::Sqlite("/var/lib/m.db".into())
        );
        let (line, _, key, _) = invalid(&format!("[storage]\nurl = \"mysql://x\"\n{MINIMAL}"));
        assert_eq!((line, key.as_str()), (2, "storage.url"));
        let c = parse(&format!("[storage]\nretention = \"400d\"\n{MINIMAL}")).unwrap();
        assert_eq!(
            c.storage.retention,
            Some(std::time::Duration::from_secs(400 * 86_400))
        );
        let (line, _, key, msg) = invalid(&format!("[storage]\nretention = \"7d\"\n{MINIMAL}"));
        assert_eq!((line, key.as_str()), (2, "storage.retention"));
        assert!(msg.contains("too short"), "{msg}");
        // A monthly digest compares a month with the month before: 40 days are not enough.
        let monthly = "[email]\nto = [\"a@example.org\"]\n[[digests]]\nname = \"monthly\"\nschedule = \"0 0 9 1 * *\"\n";
        let (line, _, key, msg) = invalid(&format!(
            "[storage]\nretention = \"40d\"\n{MINIMAL}{monthly}"
        ));
        assert_eq!((line, key.as_str()), (2, "storage.retention"));
        assert!(msg.contains("\"monthly\"") && msg.contains("63d"), "{msg}");
        assert!(
            parse(&format!(
                "[storage]\nretention = \"63d\"\n{MINIMAL}{monthly}"
            ))
            .is_ok()
        );
    }

    #[test]
    fn digests_and_touchpoints() {
        let c = parse(&format!(
            "{MINIMAL}[email]\nto = [\"team@example.org\"]\n\n[[digests]]\nname = \"daily\"\nschedule = \"0 0 8 * * Mon-Fri\"\ntimezone = \"Europe/Rome\"\nlanguage = \"it\"\nbrands = [\"acme\"]\n"
        ))
        .unwrap();
        let d = &c.digests[0];
        assert_eq!(
            d.brands,
            vec!["Acme"],
            "names resolve to the configured spelling"
        );
        assert_eq!(
            d.to,
            vec!["team@example.org"],
            "recipients default to [email] to"
        );
        assert_eq!(d.language, Lang::It);
        assert_eq!(d.timezone(), chrono_tz::Europe::Rome);
        assert_eq!(c.touchpoints, default_touchpoints());

        // The shipped file, pasted into a config, passes the same validation.
        let c = parse(&format!("{MINIMAL}{DEFAULT_TOUCHPOINTS_TOML}")).unwrap();
        assert_eq!(c.touchpoints, default_touchpoints());
        let c = parse(&format!("touchpoints = []\n{MINIMAL}")).unwrap();
        assert!(c.touchpoints.is_empty());

        let base = "[email]\nto = [\"a@example.org\"]\n[[digests]]\nname = \"d\"\n";
        let (line, _, key, msg) = invalid(&format!("{MINIMAL}{base}schedule = \"0 8 * * 1-5\"\n"));
        assert_eq!((line, key.as_str()), (8, "digests[0].schedule"));
        assert!(msg.contains("seconds first"), "{msg}");
        let (line, _, key, _) = invalid(&format!(
            "{MINIMAL}{base}schedule = \"@daily\"\ntimezone = \"Europe/Roma\"\n"
        ));
        assert_eq!((line, key.as_str()), (9, "digests[0].timezone"));
        let (line, _, key, _) = invalid(&format!(
            "{MINIMAL}{base}schedule = \"@daily\"\nbrands = [\"Acme\", \"Nope\"]\n"
        ));
        assert_eq!((line, key.as_str()), (9, "digests[0].brands[1]"));
        let (_, _, key, msg) = invalid(&format!(
            "{MINIMAL}[[digests]]\nname = \"d\"\nschedule = \"@daily\"\n"
        ));
        assert_eq!(key, "digests[0].name");
        assert!(msg.contains("no recipient"), "{msg}");
        let (line, _, key, _) = invalid(&format!(
            "{MINIMAL}[[touchpoints]]\nname = \"x\"\nkeywords = [\"ok\", \"a*b\"]\n"
        ));
        assert_eq!((line, key.as_str()), (6, "touchpoints[0].keywords[1]"));
    }

    #[test]
    fn hashtags_and_handles_lose_their_prefix() {
        let c = parse("[[brands]]\nname = \"Acme\"\nhashtags = [\"#Acme\", \"acmecoffee\"]\nhandles = [\"@acme@mastodon.social\"]\n").unwrap();
        assert_eq!(c.brands[0].hashtags, vec!["Acme", "acmecoffee"]);
        assert_eq!(c.brands[0].handles, vec!["acme@mastodon.social"]);
        let (_, _, key, _) =
            invalid("[[brands]]\nname = \"Acme\"\nhashtags = [\"#acme coffee\"]\n");
        assert_eq!(key, "brands[0].hashtags[0]");
    }
}
