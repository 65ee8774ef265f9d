//! `[responses]`: business hours for first-response times, globally and per brand
//! (`[responses.brands."Name"]`). Time outside them does not count, as response-time reports
//! of social-care tools count it: a complaint posted on Friday evening and answered on Monday
//! at 09:30 waited half an hour of business time.

use std::collections::BTreeMap;

use chrono::{NaiveTime, Weekday};
use serde::Deserialize;

use super::{BrandConfig, ConfigError, Seg, Validator};

/// Opening hours: the same time range on some days of the week, in a time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessHours {
    /// As written, for reports.
    pub text: String,
    pub days: Vec<Weekday>,
    pub start: NaiveTime,
    /// `None`: until midnight.
    pub end: Option<NaiveTime>,
    pub timezone: chrono_tz::Tz,
}

/// `alert_unanswered_after`: notify when a complaint is still unanswered after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnansweredRule {
    pub after: std::time::Duration,
    /// Only complaints whose author reaches at least this many people (followers and
    /// engagement, as alerts count reach).
    pub min_reach: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponsesConfig {
    pub defaults: Option<BusinessHours>,
    /// Brand name (as configured) -> its hours (`None`: around the clock).
    pub brands: BTreeMap<String, Option<BusinessHours>>,
    pub unanswered_defaults: Option<UnansweredRule>,
    pub unanswered_brands: BTreeMap<String, Option<UnansweredRule>>,
}

impl ResponsesConfig {
    /// The brand's unanswered-complaint rule, if it has one.
    pub fn unanswered(&self, brand: &str) -> Option<UnansweredRule> {
        match self.unanswered_brands.get(brand) {
            Some(r) => *r,
            None => self.unanswered_defaults,
        }
    }

    /// A brand's business hours, if first responses are counted in business time.
    pub fn hours(&self, brand: &str) -> Option<&BusinessHours> {
        match self.brands.get(brand) {
            Some(h) => h.as_ref(),
            None => self.defaults.as_ref(),
        }
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHours {
    business_hours: Option<String>,
    timezone: Option<String>,
    alert_unanswered_after: Option<String>,
    alert_min_reach: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResponses {
    #[serde(flatten)]
    defaults: RawHours,
    #[serde(default)]
    brands: BTreeMap<String, RawHours>,
}

/// `Mon-Fri 09:00-18:00`, `Mon,Wed,Fri 08:30-12:30`, `Sat-Sun 10:00-24:00`.
pub fn parse_business_hours(s: &str, timezone: chrono_tz::Tz) -> Result<BusinessHours, String> {
    let bad = || format!("{s:?}: expected days and hours such as \"Mon-Fri 09:00-18:00\"");
    let (days_part, hours_part) = s.trim().split_once(' ').ok_or_else(bad)?;
    let day = |d: &str| -> Result<Weekday, String> {
        d.trim()
            .parse::<Weekday>()
            .map_err(|_| format!("{d:?} is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"))
    };
    let mut days = Vec::new();
    for part in days_part.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (mut d, last) = (day(a)?, day(b)?);
                loop {
                    if !days.contains(&d) {
                        days.push(d);
                    }
                    if d == last {
                        break;
                    }
                    d = d.succ();
                }
            }
            None => {
                let d = day(part)?;
                if !days.contains(&d) {
                    days.push(d);
                }
            }
        }
    }
    let (a, b) = hours_part.trim().split_once('-').ok_or_else(bad)?;
    let time = |t: &str| {
        NaiveTime::parse_from_str(t.trim(), "%H:%M")
            .map_err(|_| format!("{t:?} is not a time of day HH:MM"))
    };
    let start = time(a)?;
    let end = if b.trim() == "24:00" {
        None
    } else {
        Some(time(b)?)
    };
    if end.is_some_and(|e| e <= start) {
        return Err(format!(
            "{s:?}: the hours end before they start (overnight hours are not supported)"
        ));
    }
    Ok(BusinessHours {
        text: s.trim().to_string(),
        days,
        start,
        end,
        timezone,
    })
}

impl Validator<'_> {
    pub(super) fn responses(
        &self,
        raw: RawResponses,
        brands: &[BrandConfig],
    ) -> Result<ResponsesConfig, ConfigError> {
        let key = |at: &[Seg], k: &str| -> Vec<Seg> {
            let mut p = at.to_vec();
            p.push(Seg::from(k));
            p
        };
        let zone = |at: &[Seg], tz: &str| {
            tz.parse::<chrono_tz::Tz>().map_err(|_| {
                self.err(
                    key(at, "timezone"),
                    format!("{tz:?} is not an IANA time zone (e.g. \"Europe/Rome\")"),
                )
            })
        };
        let after = |at: &[Seg], d: &str| -> Result<Option<std::time::Duration>, ConfigError> {
            if d == "off" {
                return Ok(None);
            }
            let p = key(at, "alert_unanswered_after");
            let v = self.duration(p.clone(), Some(d), std::time::Duration::ZERO)?;
            if v < std::time::Duration::from_secs(60) {
                return Err(self.err(p, "at least 1m (or \"off\")"));
            }
            Ok(Some(v))
        };
        // The defaults: each key on its own, so that a brand inherits whatever is set.
        let top = [Seg::from("responses")];
        let d = &raw.defaults;
        let default_tz = match &d.timezone {
            Some(tz) => zone(&top, tz)?,
            None => chrono_tz::UTC,
        };
        let hours_of = |at: &[Seg], text: &str, tz| -> Result<Option<BusinessHours>, ConfigError> {
            if text.trim().eq_ignore_ascii_case("always") {
                return Ok(None);
            }
            parse_business_hours(text, tz)
                .map(Some)
                .map_err(|e| self.err(key(at, "business_hours"), e))
        };
        let defaults = match &d.business_hours {
            Some(text) => hours_of(&top, text, default_tz)?,
            None => None,
        };
        let default_after = match &d.alert_unanswered_after {
            Some(v) => after(&top, v)?,
            None => None,
        };
        let default_reach = d.alert_min_reach.unwrap_or(0);
        let rule_of = |after: Option<std::time::Duration>, reach| {
            after.map(|after| UnansweredRule {
                after,
                min_reach: reach,
            })
        };
        let mut out = BTreeMap::new();
        let mut unanswered_brands = BTreeMap::new();
        for (name, r) in &raw.brands {
            let Some(brand) = brands.iter().find(|b| b.name.eq_ignore_ascii_case(name)) else {
                return Err(self.err(
                    p!["responses", "brands", name.as_str()],
                    format!("no brand named {name:?} is configured"),
                ));
            };
            let at = p!["responses", "brands", name.as_str()];
            let tz = match &r.timezone {
                Some(tz) => zone(&at, tz)?,
                None => default_tz,
            };
            let hours = match (&r.business_hours, &d.business_hours) {
                (Some(text), _) | (None, Some(text)) => hours_of(&at, text, tz)?,
                (None, None) => None,
            };
            out.insert(brand.name.clone(), hours);
            let brand_after = match &r.alert_unanswered_after {
                Some(v) => after(&at, v)?,
                None => default_after,
            };
            unanswered_brands.insert(
                brand.name.clone(),
                rule_of(brand_after, r.alert_min_reach.unwrap_or(default_reach)),
            );
        }
        Ok(ResponsesConfig {
            defaults,
            brands: out,
            unanswered_defaults: rule_of(default_after, default_reach),
            unanswered_brands,
        })
    }
}
