//! The data that flows through every stage of the pipeline.
//!
//! [`Mention`] is the public, normalised shape of a post: one JSON object per line (JSONL) is
//! what `mentiond ingest` reads, what exports write and what every source produces internally.
//! [`ScoredMention`] is a mention after matching, language detection and sentiment scoring,
//! ready to be stored.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A post as every source produces it and as the JSONL format carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    /// The platform, lowercase (`mastodon`, `bluesky`, `reddit`, `hackernews`, `rss`, `x`, ...).
    pub source: String,
    /// The platform's own id of the post; `(source, external_id)` identifies a post.
    #[serde(deserialize_with = "string_or_number")]
    pub external_id: String,
    pub text: String,
    #[serde(
        serialize_with = "serialize_time",
        deserialize_with = "deserialize_rfc3339"
    )]
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_followers: Option<u64>,
    /// ISO 639-1 code as declared by the platform or the producer of the JSONL line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_string_or_number"
    )]
    pub reply_to: Option<String>,
    /// Counts such as `likes`, `reposts`, `replies`, `score`: whatever the platform gives.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub engagement: BTreeMap<String, u64>,
}

/// Why a JSONL line or a source item was not accepted as a [`Mention`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MentionError {
    #[error("not a valid mention object: {0}")]
    Json(String),
    #[error("`{field}` must not be empty")]
    Empty { field: &'static str },
    #[error("`lang` must be an ISO 639-1 code such as \"en\" or \"it\", got {0:?}")]
    Lang(String),
    #[error("{0}")]
    Time(String),
}

impl Mention {
    /// Parses one JSONL line and checks the fields serde cannot check.
    pub fn from_json_line(line: &str) -> Result<Mention, MentionError> {
        let mention: Mention =
            serde_json::from_str(line).map_err(|e| MentionError::Json(e.to_string()))?;
        mention.validated()
    }

    /// Trims identifiers, normalises `lang` and rejects empty identifiers.
    pub fn validated(mut self) -> Result<Mention, MentionError> {
        self.source = self.source.trim().to_ascii_lowercase();
        self.external_id = self.external_id.trim().to_string();
        if self.source.is_empty() {
            return Err(MentionError::Empty { field: "source" });
        }
        if self.external_id.is_empty() {
            return Err(MentionError::Empty {
                field: "external_id",
            });
        }
        if let Some(lang) = self.lang.take() {
            let trimmed = lang.trim();
            if !trimmed.is_empty() {
                self.lang = Some(normalise_lang_tag(trimmed).ok_or(MentionError::Lang(lang))?);
            }
        }
        for field in [&mut self.url, &mut self.author, &mut self.reply_to] {
            if field.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *field = None;
            }
        }
        Ok(self)
    }

    /// One JSONL line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a Mention always serialises")
    }
}

/// `en`, `EN`, `en-US`, `en_GB` -> `en`. Three-letter codes are accepted as they are, since some
/// platforms only know ISO 639-3 for rarer languages.
pub fn normalise_lang_tag(tag: &str) -> Option<String> {
    let primary = tag.split(['-', '_']).next().unwrap_or_default();
    let ok = (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
    ok.then(|| primary.to_ascii_lowercase())
}

/// VADER's standard labels: positive when compound >= 0.05, negative when <= -0.05.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Negative,
    Neutral,
    Positive,
}

impl Label {
    pub const POSITIVE_THRESHOLD: f64 = 0.05;
    pub const NEGATIVE_THRESHOLD: f64 = -0.05;

    pub fn from_compound(compound: f64) -> Label {
        if compound >= Self::POSITIVE_THRESHOLD {
            Label::Positive
        } else if compound <= Self::NEGATIVE_THRESHOLD {
            Label::Negative
        } else {
            Label::Neutral
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Negative => "negative",
            Label::Neutral => "neutral",
            Label::Positive => "positive",
        }
    }

    pub fn parse(s: &str) -> Option<Label> {
        match s.to_ascii_lowercase().as_str() {
            "negative" | "neg" => Some(Label::Negative),
            "neutral" | "neu" => Some(Label::Neutral),
            "positive" | "pos" => Some(Label::Positive),
            _ => None,
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scores of one text. `pos`, `neu` and `neg` are VADER's proportions (they sum to ~1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sentiment {
    pub compound: f64,
    pub pos: f64,
    pub neu: f64,
    pub neg: f64,
    pub label: Label,
}

/// Where the language stored with a mention comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LangOrigin {
    /// Declared by the platform or the JSONL line.
    Post,
    /// Detected from the text with confidence.
    Detected,
    /// Best guess among the languages we can score, when detection was not reliable.
    Guessed,
}

impl LangOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            LangOrigin::Post => "post",
            LangOrigin::Detected => "detected",
            LangOrigin::Guessed => "guessed",
        }
    }
}

/// A mention after matching, language detection and scoring: what the store keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredMention {
    /// The mention with its text normalised.
    pub mention: Mention,
    /// Names of the brands it mentions (at least one).
    pub brands: Vec<String>,
    pub lang: Option<String>,
    pub lang_origin: Option<LangOrigin>,
    /// `None` when no language pack can score the text ("unscored", never silently neutral).
    pub sentiment: Option<Sentiment>,
    /// Identifies the scorer and its data, so scores can be recomputed after a change.
    pub scorer_version: String,
    /// The brand whose own account wrote the post (one of its `handles`): kept to measure
    /// responses, stored apart, never counted as a mention.
    pub own_by: Option<String>,
}

/// Whether a post's `created_at` is plausible: not before 2000 (no platform we read is older,
/// and year 0 or 1 is a broken export), not more than a day ahead of `now` (clock skew, time
/// zones; a post dated 9999 would head every listing for ever), not a leap second (`:60`,
/// which most tools cannot read back).
pub fn check_created_at(t: &DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    use chrono::{Datelike, Timelike};
    if t.year() < 2000 {
        return Err(format!("`created_at` {} is before 2000", format_time(t)));
    }
    if *t > now + chrono::Duration::days(1) {
        return Err(format!(
            "`created_at` {} is more than a day in the future",
            format_time(t)
        ));
    }
    if t.nanosecond() >= 1_000_000_000 {
        return Err("`created_at` is a leap second (:60); write :59".into());
    }
    Ok(())
}

/// Timestamps are written as RFC 3339 UTC with millisecond precision, e.g.
/// `2026-03-01T09:30:00.000Z`: fixed width, so the text order is the time order.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn serialize_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn deserialize_rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let raw = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "`created_at` must be RFC 3339 (e.g. 2026-03-01T09:30:00Z), got {raw:?}: {e}"
            ))
        })
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    String(String),
    Integer(i64),
    Unsigned(u64),
}

impl From<StringOrNumber> for String {
    fn from(v: StringOrNumber) -> String {
        match v {
            StringOrNumber::String(s) => s,
            StringOrNumber::Integer(i) => i.to_string(),
            StringOrNumber::Unsigned(u) => u.to_string(),
        }
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    StringOrNumber::deserialize(d).map(String::from)
}

fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<StringOrNumber>::deserialize(d).map(|v| v.map(String::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minimal_line() {
        let m = Mention::from_json_line(
            r#"{"source":"Mastodon","external_id":" 42 ","text":"hi","created_at":"2026-03-01T10:00:00+01:00"}"#,
        )
        .unwrap();
        assert_eq!(m.source, "mastodon");
        assert_eq!(m.external_id, "42");
        assert_eq!(format_time(&m.created_at), "2026-03-01T09:00:00.000Z");
    }

    #[test]
    fn numeric_ids_are_accepted() {
        let m = Mention::from_json_line(
            r#"{"source":"x","external_id":1234567890123,"text":"t","created_at":"2026-03-01T10:00:00Z","reply_to":7}"#,
        )
        .unwrap();
        assert_eq!(m.external_id, "1234567890123");
        assert_eq!(m.reply_to.as_deref(), Some("7"));
    }

    #[test]
    fn rejects_bad_fields_with_reasons() {
        let missing = Mention::from_json_line(
            r#"{"source":"x","text":"t","created_at":"2026-03-01T10:00:00Z"}"#,
        )
        .unwrap_err();
        assert!(missing.to_string().contains("external_id"), "{missing}");
        let time = Mention::from_json_line(
            r#"{"source":"x","external_id":"1","text":"t","created_at":"yesterday"}"#,
        )
        .unwrap_err();
        assert!(time.to_string().contains("RFC 3339"), "{time}");
        let lang = Mention::from_json_line(
            r#"{"source":"x","external_id":"1","text":"t","created_at":"2026-03-01T10:00:00Z","lang":"english"}"#,
        )
        .unwrap_err();
        assert!(matches!(lang, MentionError::Lang(_)));
        let empty = Mention::from_json_line(
            r#"{"source":" ","external_id":"1","text":"t","created_at":"2026-03-01T10:00:00Z"}"#,
        )
        .unwrap_err();
        assert_eq!(empty, MentionError::Empty { field: "source" });
    }

    #[test]
    fn lang_tags_are_normalised() {
        assert_eq!(normalise_lang_tag("en-US").as_deref(), Some("en"));
        assert_eq!(normalise_lang_tag("IT").as_deref(), Some("it"));
        assert_eq!(normalise_lang_tag("english"), None);
    }

    #[test]
    fn round_trips_through_json() {
        let line = r#"{"source":"reddit","external_id":"t3_abc","text":"Acme rocks","created_at":"2026-03-01T10:00:00Z","url":"https://reddit.com/r/x","author":"bob","author_followers":10,"lang":"en","engagement":{"score":5}}"#;
        let m = Mention::from_json_line(line).unwrap();
        let again = Mention::from_json_line(&m.to_json_line()).unwrap();
        assert_eq!(m, again);
    }

    #[test]
    fn labels_follow_vader_thresholds() {
        assert_eq!(Label::from_compound(0.05), Label::Positive);
        assert_eq!(Label::from_compound(0.0499), Label::Neutral);
        assert_eq!(Label::from_compound(-0.05), Label::Negative);
    }
}
