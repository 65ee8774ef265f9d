//! `[[digests]]`: scheduled summaries by e-mail, each in its own time zone and language; and
//! `[[touchpoints]]`: the topics a digest breaks mentions down by.

use serde::Deserialize;

use super::{BrandConfig, ConfigError, EmailConfig, Lang, Seg, Validator};
use crate::schedule::Schedule;

/// One scheduled digest.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestConfig {
    pub name: String,
    pub schedule: Schedule,
    pub to: Vec<String>,
    pub language: Lang,
    /// Configured brand names, in config order; all brands when the key is absent.
    pub brands: Vec<String>,
    /// Most-engaged positive and negative posts shown per brand.
    pub top: usize,
    /// Send nothing for a period without any mention, alert or source problem.
    pub skip_empty: bool,
    /// Chat and webhook channels that get a short summary.
    pub channels: Vec<String>,
}

impl DigestConfig {
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.schedule.timezone()
    }
}

/// A topic of the customer experience, with its keywords (`stem*` matches a prefix).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TouchpointConfig {
    pub name: String,
    #[serde(default)]
    pub name_it: Option<String>,
    pub keywords: Vec<String>,
}

impl TouchpointConfig {
    pub fn label(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.name,
            Lang::It => self.name_it.as_deref().unwrap_or(&self.name),
        }
    }
}

/// The shipped taxonomy (`data/touchpoints/default.toml`).
pub const DEFAULT_TOUCHPOINTS_TOML: &str = include_str!("../../data/touchpoints/default.toml");

#[derive(Deserialize)]
struct TouchpointFile {
    touchpoints: Vec<TouchpointConfig>,
}

/// The touchpoints used when the config names none.
pub fn default_touchpoints() -> Vec<TouchpointConfig> {
    toml::from_str::<TouchpointFile>(DEFAULT_TOUCHPOINTS_TOML)
        .expect("the shipped touchpoints file is valid (tested)")
        .touchpoints
}

/// At most this many touchpoints (a mention's set of them is a 64-bit mask).
pub const MAX_TOUCHPOINTS: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDigest {
    name: String,
    schedule: String,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    to: Option<Vec<String>>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    brands: Option<Vec<String>>,
    #[serde(default)]
    top: Option<usize>,
    #[serde(default)]
    skip_empty: Option<bool>,
    #[serde(default)]
    channels: Option<Vec<String>>,
}

impl Validator<'_> {
    pub(super) fn digests(
        &self,
        raw: Vec<RawDigest>,
        brands: &[BrandConfig],
        email: &EmailConfig,
        channels: &[super::channels::ChannelConfig],
    ) -> Result<Vec<DigestConfig>, ConfigError> {
        let mut out: Vec<DigestConfig> = Vec::with_capacity(raw.len());
        for (i, d) in raw.into_iter().enumerate() {
            let at = |key: &str| -> Vec<Seg> { p!["digests", i, key] };
            let name = d.name.trim().to_string();
            if name.is_empty() {
                return Err(self.err(at("name"), "a digest needs a name"));
            }
            if out.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
                return Err(self.err(at("name"), format!("digest {name:?} is defined twice")));
            }
            let timezone = match &d.timezone {
                None => chrono_tz::UTC,
                Some(tz) => tz.parse::<chrono_tz::Tz>().map_err(|_| {
                    self.err(
                        at("timezone"),
                        format!("{tz:?} is not an IANA time zone (e.g. \"Europe/Rome\")"),
                    )
                })?,
            };
            let schedule =
                Schedule::parse(&d.schedule, timezone).map_err(|e| self.err(at("schedule"), e))?;
            let to = match d.to {
                None => email.to.clone(),
                Some(list) => {
                    for (j, addr) in list.iter().enumerate() {
                        if let Err(e) = addr.parse::<lettre::message::Mailbox>() {
                            return Err(self.err(
                                p!["digests", i, "to", j],
                                format!("{addr:?} is not an e-mail address: {e}"),
                            ));
                        }
                    }
                    list
                }
            };
            let digest_channels = match &d.channels {
                Some(names) => self.channel_names(at("channels"), names, channels)?,
                None => Vec::new(),
            };
            if to.is_empty() && digest_channels.is_empty() {
                return Err(self.err(
                    at("name"),
                    format!("digest {name:?} has no recipient: set `to` here or in [email], or `channels`"),
                ));
            }
            let language = match d.language.as_deref() {
                None | Some("en") => Lang::En,
                Some("it") => Lang::It,
                Some(other) => {
                    return Err(self.err(
                        at("language"),
                        format!("{other:?}: digests exist in \"en\" and \"it\""),
                    ));
                }
            };
            let brand_names = match d.brands {
                None => brands.iter().map(|b| b.name.clone()).collect(),
                Some(list) => {
                    if list.is_empty() {
                        return Err(self.err(
                            at("brands"),
                            "`brands` is empty: remove it to include every brand",
                        ));
                    }
                    let mut names = Vec::with_capacity(list.len());
                    for (j, wanted) in list.iter().enumerate() {
                        let Some(b) = brands
                            .iter()
                            .find(|b| b.name.eq_ignore_ascii_case(wanted.trim()))
                        else {
                            return Err(self.err(
                                p!["digests", i, "brands", j],
                                format!("no brand named {wanted:?} is configured"),
                            ));
                        };
                        if !names.contains(&b.name) {
                            names.push(b.name.clone());
                        }
                    }
                    names
                }
            };
            let top = d.top.unwrap_or(3);
            if !(1..=20).contains(&top) {
                return Err(self.err(at("top"), "must be between 1 and 20"));
            }
            out.push(DigestConfig {
                name,
                schedule,
                to,
                language,
                brands: brand_names,
                top,
                skip_empty: d.skip_empty.unwrap_or(false),
                channels: digest_channels,
            });
        }
        Ok(out)
    }

    pub(super) fn touchpoints(
        &self,
        raw: Option<Vec<TouchpointConfig>>,
    ) -> Result<Vec<TouchpointConfig>, ConfigError> {
        let Some(list) = raw else {
            return Ok(default_touchpoints());
        };
        if list.len() > MAX_TOUCHPOINTS {
            return Err(self.err(
                p!["touchpoints"],
                format!("at most {MAX_TOUCHPOINTS} touchpoints"),
            ));
        }
        let mut out: Vec<TouchpointConfig> = Vec::with_capacity(list.len());
        for (i, t) in list.into_iter().enumerate() {
            let name = t.name.trim().to_string();
            if name.is_empty() {
                return Err(self.err(p!["touchpoints", i, "name"], "a touchpoint needs a name"));
            }
            if out.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
                return Err(self.err(
                    p!["touchpoints", i, "name"],
                    format!("touchpoint {name:?} is defined twice"),
                ));
            }
            if t.keywords.is_empty() {
                return Err(self.err(
                    p!["touchpoints", i, "keywords"],
                    format!("touchpoint {name:?} has no keyword"),
                ));
            }
            for (j, k) in t.keywords.iter().enumerate() {
                let body = k.trim().strip_suffix('*').unwrap_or(k.trim());
                if !body.chars().any(char::is_alphanumeric) || body.contains('*') {
                    return Err(self.err(
                        p!["touchpoints", i, "keywords", j],
                        format!("{k:?}: a keyword is words, with at most a `*` at the end"),
                    ));
                }
            }
            out.push(TouchpointConfig {
                name,
                name_it: t
                    .name_it
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty()),
                keywords: t.keywords,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_touchpoints_parse() {
        let t = default_touchpoints();
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "delivery",
                "billing",
                "customer support",
                "product quality",
                "price",
                "website and app",
                "store"
            ]
        );
        let it: Vec<&str> = t.iter().map(|t| t.label(Lang::It)).collect();
        assert_eq!(
            it,
            [
                "consegna",
                "fatturazione",
                "assistenza",
                "prodotto",
                "prezzo",
                "sito e app",
                "negozio"
            ]
        );
    }
}
