//! `[alerts]`: when a spike of negative mentions becomes an e-mail, and to whom. Defaults for
//! every brand, overridden per brand in `[alerts.brands."Name"]`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveTime;
use serde::Deserialize;

use super::channels::ChannelConfig;
use super::{BrandConfig, ConfigError, EmailConfig, Seg, Validator};

/// Language of the e-mails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    It,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::It => "it",
        }
    }
}

/// How easily an alert fires: the p-value floor of the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitivity {
    /// p < 4e-5: only unmistakable waves, fewer false alerts.
    Low,
    /// p < 1.5e-4 (the default): under one false alert per brand-month on the generated
    /// streams (BENCHMARKS.md, "Spike detection").
    Normal,
    /// p < 6e-4: earlier and smaller waves, more false alerts.
    High,
}

impl Sensitivity {
    pub fn alpha(self) -> f64 {
        match self {
            Sensitivity::Low => 4e-5,
            Sensitivity::Normal => 1.5e-4,
            Sensitivity::High => 6e-4,
        }
    }
}

/// Quiet hours, in the rule's time zone: alerts wait for the end unless severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    /// Whether local time `t` is inside (the range may wrap past midnight).
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end {
            t >= self.start && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

/// The alert rule of one brand, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub enabled: bool,
    pub bucket: Duration,
    pub sensitivity: Sensitivity,
    /// Fewest negative mentions above the expected that can make an alert.
    pub min_negative: u32,
    /// No second alert for the same brand within this time of the first.
    pub cooldown: Duration,
    pub recipients: Vec<String>,
    pub language: Lang,
    pub timezone: chrono_tz::Tz,
    pub quiet_hours: Option<QuietHours>,
    /// Send a short notice when the episode is over.
    pub back_to_normal: bool,
    /// Chat and webhook channels (names of `[[channels]]`) that get the alert too.
    pub channels: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub enabled: bool,
    pub defaults: AlertRule,
    /// Brand name (as configured) -> its rule.
    pub brands: BTreeMap<String, AlertRule>,
}

impl AlertsConfig {
    /// The rule of a brand (its own, else the defaults).
    pub fn rule(&self, brand: &str) -> &AlertRule {
        self.brands.get(brand).unwrap_or(&self.defaults)
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawRule {
    enabled: Option<bool>,
    bucket: Option<String>,
    sensitivity: Option<String>,
    min_negative: Option<u32>,
    cooldown: Option<String>,
    recipients: Option<Vec<String>>,
    language: Option<String>,
    timezone: Option<String>,
    quiet_hours: Option<String>,
    back_to_normal: Option<bool>,
    channels: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    #[serde(flatten)]
    defaults: RawRule,
    #[serde(default)]
    brands: BTreeMap<String, RawRule>,
}

impl Validator<'_> {
    pub(super) fn alerts(
        &self,
        raw: RawAlerts,
        brands: &[BrandConfig],
        email: &EmailConfig,
        channels: &[ChannelConfig],
    ) -> Result<AlertsConfig, ConfigError> {
        let base = AlertRule {
            enabled: true,
            bucket: Duration::from_secs(300),
            sensitivity: Sensitivity::Normal,
            min_negative: 5,
            cooldown: Duration::from_secs(2 * 3600),
            recipients: email.to.clone(),
            language: Lang::En,
            timezone: chrono_tz::UTC,
            quiet_hours: None,
            back_to_normal: true,
            channels: Vec::new(),
        };
        let defaults = self.rule(&["alerts"], &raw.defaults, &base, channels)?;
        let mut out = BTreeMap::new();
        for (name, rule) in &raw.brands {
            let Some(brand) = brands.iter().find(|b| b.name.eq_ignore_ascii_case(name)) else {
                return Err(self.err(
                    p!["alerts", "brands", name.as_str()],
                    format!("no brand named {name:?} is configured"),
                ));
            };
            out.insert(
                brand.name.clone(),
                self.rule(&["alerts", "brands", name], rule, &defaults, channels)?,
            );
        }
        Ok(AlertsConfig {
            enabled: defaults.enabled,
            defaults,
            brands: out,
        })
    }

    fn rule(
        &self,
        at: &[&str],
        raw: &RawRule,
        base: &AlertRule,
        channels: &[ChannelConfig],
    ) -> Result<AlertRule, ConfigError> {
        let path = |key: &str| -> Vec<Seg> {
            let mut p: Vec<Seg> = at.iter().map(|s| Seg::from(*s)).collect();
            p.push(Seg::from(key));
            p
        };
        let mut r = base.clone();
        if let Some(e) = raw.enabled {
            r.enabled = e;
        }
        if let Some(b) = &raw.bucket {
            r.bucket = self.duration(path("bucket"), Some(b), r.bucket)?;
            let secs = r.bucket.as_secs();
            if !(60..=3600).contains(&secs) || 86_400 % secs != 0 {
                return Err(self.err(path("bucket"), format!("{b:?}: use a size from 1m to 1h that divides a day (1m, 5m, 10m, 15m, 30m, 1h)")));
            }
        }
        if let Some(s) = &raw.sensitivity {
            r.sensitivity = match s.as_str() {
                "low" => Sensitivity::Low,
                "normal" => Sensitivity::Normal,
                "high" => Sensitivity::High,
                other => {
                    return Err(self.err(
                        path("sensitivity"),
                        format!("{other:?}: expected \"low\", \"normal\" or \"high\""),
                    ));
                }
            };
        }
        if let Some(m) = raw.min_negative {
            if m == 0 {
                return Err(self.err(path("min_negative"), "must be at least 1"));
            }
            r.min_negative = m;
        }
        if let Some(c) = &raw.cooldown {
            r.cooldown = self.duration(path("cooldown"), Some(c), r.cooldown)?;
        }
        if let Some(list) = &raw.recipients {
            for (j, to) in list.iter().enumerate() {
                if let Err(e) = to.parse::<lettre::message::Mailbox>() {
                    let mut p = path("recipients");
                    p.push(Seg::Index(j));
                    return Err(self.err(p, format!("{to:?} is not an e-mail address: {e}")));
                }
            }
            r.recipients = list.clone();
        }
        if let Some(l) = &raw.language {
            r.language = match l.as_str() {
                "en" => Lang::En,
                "it" => Lang::It,
                other => {
                    return Err(self.err(
                        path("language"),
                        format!("{other:?}: e-mails exist in \"en\" and \"it\""),
                    ));
                }
            };
        }
        if let Some(tz) = &raw.timezone {
            r.timezone = tz.parse::<chrono_tz::Tz>().map_err(|_| {
                self.err(
                    path("timezone"),
                    format!("{tz:?} is not an IANA time zone (e.g. \"Europe/Rome\")"),
                )
            })?;
        }
        if let Some(q) = &raw.quiet_hours {
            r.quiet_hours =
                Some(parse_quiet_hours(q).map_err(|e| self.err(path("quiet_hours"), e))?);
        }
        if let Some(b) = raw.back_to_normal {
            r.back_to_normal = b;
        }
        if let Some(names) = &raw.channels {
            r.channels = self.channel_names(path("channels"), names, channels)?;
        }
        Ok(r)
    }
}

/// `22:00-07:00` -> a range that wraps past midnight.
pub fn parse_quiet_hours(s: &str) -> Result<QuietHours, String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?}: expected HH:MM-HH:MM, e.g. \"22:00-07:00\""))?;
    let t = |x: &str| {
        NaiveTime::parse_from_str(x.trim(), "%H:%M")
            .map_err(|_| format!("{x:?} is not a time of day HH:MM"))
    };
    let (start, end) = (t(a)?, t(b)?);
    if start == end {
        return Err(format!("{s:?} is an empty range"));
    }
    Ok(QuietHours { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_wrap_midnight() {
        let q = parse_quiet_hours("22:00-07:00").unwrap();
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert!(
            q.contains(at(23, 0))
                && q.contains(at(3, 0))
                && !q.contains(at(7, 0))
                && !q.contains(at(12, 0))
        );
        let q = parse_quiet_hours("12:00-14:00").unwrap();
        assert!(q.contains(at(13, 0)) && !q.contains(at(14, 0)));
        assert!(parse_quiet_hours("22-7").is_err());
    }
}
