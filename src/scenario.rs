//! Synthetic mention streams for judging the spike detector: brands of every size with daily and
//! weekly cycles, growth, holidays and Poisson noise, into which complaint waves, slow burns,
//! positive launches, volume surges and bot bursts are injected, each recorded as ground truth.
//! Deterministic: a scenario and a seed give the same stream on every machine.
//!
//! `cargo bench --bench detection` runs the scenario families of BENCHMARKS.md. (Bulk streams
//! for load tests, without ground truth: `mentiond generate`, `src/generate.rs`.)

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;

use crate::mention::Label;

/// A small, fast, deterministic generator (PCG-XSH-RR 64/32 constants, splitmix seeding).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng(z ^ (z >> 31))
    }

    /// Uniform in [0, 1).
    pub fn f(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        ((self.f() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// A Poisson draw: Knuth's product method for small means, a normal approximation (rounded,
    /// floored at 0) above 30.
    pub fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean > 30.0 {
            // Box-Muller.
            let (u1, u2) = (self.f().max(1e-12), self.f());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            return (mean + z * mean.sqrt()).round().max(0.0) as u64;
        }
        let l = (-mean).exp();
        let (mut k, mut p) = (0u64, 1.0);
        loop {
            p *= self.f();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
}

/// One brand of a scenario.
#[derive(Debug, Clone, Serialize)]
pub struct BrandSpec {
    pub name: String,
    /// Negative mentions on an ordinary weekday at the start of the stream.
    pub negatives_per_day: f64,
    /// Share of negative mentions among all its mentions.
    pub negative_share: f64,
    /// Share of Italian posts (the rest English).
    pub italian: f64,
}

/// What is injected into a stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The negative rate times `factor` for the duration: a complaint wave.
    Wave {
        brand: usize,
        start: i64,
        minutes: i64,
        factor: f64,
    },
    /// The negative rate rising linearly from x1 to x`factor` over the duration.
    SlowBurn {
        brand: usize,
        start: i64,
        minutes: i64,
        factor: f64,
    },
    /// The volume times `volume`, the extra mentions mostly positive (a product launch, a
    /// campaign): not an incident.
    Launch {
        brand: usize,
        start: i64,
        minutes: i64,
        volume: f64,
    },
    /// The volume times `volume` at the usual shares (a TV spot, a news item): not an
    /// incident either.
    Surge {
        brand: usize,
        start: i64,
        minutes: i64,
        volume: f64,
    },
    /// `posts` copies of one negative text by `accounts` accounts: bots or a copy-paste
    /// campaign, not customers complaining.
    BotBurst {
        brand: usize,
        start: i64,
        minutes: i64,
        posts: u32,
        accounts: u32,
    },
    /// Every brand's volume halved for the day starting at `start`.
    Holiday { start: i64 },
}

impl Event {
    pub fn span(&self) -> (i64, i64) {
        match *self {
            Event::Wave { start, minutes, .. }
            | Event::SlowBurn { start, minutes, .. }
            | Event::Launch { start, minutes, .. }
            | Event::Surge { start, minutes, .. }
            | Event::BotBurst { start, minutes, .. } => (start, start + minutes * 60),
            Event::Holiday { start } => (start, start + 86_400),
        }
    }

    pub fn brand(&self) -> Option<usize> {
        match *self {
            Event::Wave { brand, .. }
            | Event::SlowBurn { brand, .. }
            | Event::Launch { brand, .. }
            | Event::Surge { brand, .. }
            | Event::BotBurst { brand, .. } => Some(brand),
            Event::Holiday { .. } => None,
        }
    }

    /// Whether an alert is wanted for it.
    pub fn is_incident(&self) -> bool {
        matches!(self, Event::Wave { .. } | Event::SlowBurn { .. })
    }
}

/// A scenario: brands, events, how long, how the volume moves.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    /// Midnight UTC of the first day.
    pub start: i64,
    pub days: i64,
    pub brands: Vec<BrandSpec>,
    pub events: Vec<Event>,
    /// Growth of every brand's volume over the whole stream (0.3: 30 % more at the end).
    pub growth: f64,
    /// Share of posts that reach mentiond late (one to three hours after publication); the
    /// rest arrive within a poll interval (up to 15 minutes).
    pub late_share: f64,
    /// Day-to-day variation of the volume (a news day, a quiet day): the standard deviation of
    /// a per-day factor, 0 for plain Poisson.
    pub daily_noise: f64,
}

/// One generated post.
#[derive(Debug, Clone, Serialize)]
pub struct SimMention {
    pub id: u64,
    pub brand: usize,
    pub created_at: i64,
    pub ingested_at: i64,
    /// The label the generator meant (the scorer may see it otherwise).
    pub label: Label,
    pub author: String,
    pub text: String,
    pub lang: &'static str,
}

/// A generated stream with its ground truth.
#[derive(Debug, Clone)]
pub struct Stream {
    pub scenario: Scenario,
    pub mentions: Vec<SimMention>,
    /// Per incident: the expected number of extra negative mentions it brings.
    pub excess: Vec<(Event, f64)>,
}

/// Relative volume by hour of day (UTC is local time here): quiet nights, a midday peak and an
/// evening shoulder; the mean over a day is 1.
const HOURLY: [f64; 24] = [
    0.25, 0.15, 0.1, 0.08, 0.08, 0.15, 0.35, 0.7, 1.1, 1.4, 1.55, 1.6, 1.6, 1.55, 1.5, 1.45, 1.4,
    1.4, 1.45, 1.5, 1.4, 1.1, 0.75, 0.45,
];

fn hourly(h: usize) -> f64 {
    let mean: f64 = HOURLY.iter().sum::<f64>() / 24.0;
    HOURLY[h % 24] / mean
}

/// Weekends are quieter.
fn weekly(weekday: u32) -> f64 {
    match weekday {
        5 => 0.8,
        6 => 0.7,
        _ => 1.08,
    }
}

// Posts are written from templates: `{b}` is the brand, `{n}` a number, `{x|y|z}` one of the
// choices; an opener and a closer vary them further, so that independent posts rarely repeat a
// text (as people rarely do) while bot bursts do.
const EN_NEGATIVE: &[&str] = &[
    "{b} {app|website|checkout|login page} {keeps crashing|won't load|is broken again|logs me out} {when I try to pay|every time|since the update|this morning}",
    "still waiting for my {refund|replacement|order|callback} from {b}, {it's been {n} days|day {n} now|no news at all}",
    "{b} charged me {twice|double|£{n} extra} for {one order|order {n}|a cancelled booking} and {support never answered|nobody replies|chat just loops}",
    "on hold with {b} for {n} {minutes|mins} {now|and counting|so far}, {unbelievable|this is a joke|ridiculous}",
    "my {b} {parcel|package|delivery} {says delivered|was marked delivered|shows delivered} but {it never arrived|nothing is here|it's not here}",
    "{b} cancelled my {booking|flight|order|appointment} without {telling me|any notice|an email}, {no refund yet|still no refund|no explanation}",
    "can't log in to {b} {since the update|all day|since yesterday}, error {n} {every time|again|on every try}",
    "{b} {internet|wifi|signal|service} down {again|since {n}am|all morning}, {no updates|nothing on the status page|no ETA}",
    "{worst|terrible|awful|shocking} {service|experience|support} from {b}, {nobody replies to emails|agents just read scripts|I give up}",
    "why is {b} so slow today? {n} {minutes|seconds} to {load a page|open the app|confirm a payment}",
    "{b} lost my {order|bag|parcel} {n}, customer care {just copy pastes answers|keeps closing the ticket|hung up on me}",
    "great, another {outage|delay|price rise} {at|from} {b} 🙃",
    "{b} {hidden fees|surprise charges|price hike} again, {cancelling my subscription|switching provider|done with them}",
    "the {b} {driver|courier|technician} never showed up, {waited {n} min|took a day off for nothing|no call}",
    "{b} billing error, {£|€}{n} taken from my account, {fix this|give it back|explain please}",
    "{b} {flight|train|bus} {delayed|cancelled} {again|for the {n}th time|with no announcement}, {stuck at the station|missed my connection|no staff around}",
];
const EN_NEUTRAL: &[&str] = &[
    "does {b} {deliver|open|ship} on {Sundays|bank holidays|Saturdays}?",
    "what time does the {b} {store|shop|branch} {open|close} {tomorrow|on Friday}",
    "{b} announces a new {plan|tariff|menu|app} from {n} euros a month",
    "just {ordered from|signed up to|booked with} {b}, let's see",
    "anyone tried the new {b} {app|version {n}|service}?",
    "{b} is hiring in {Leeds|Dublin|Milan|Lyon}, {n} positions",
    "DM sent to {b} with my {order|booking|ticket} number",
    "{b} opening a new {shop|office|store} on {High Street|Market Square|Via Roma}",
];
const EN_POSITIVE: &[&str] = &[
    "thanks {b}, {refund|replacement} arrived in {two days|a day|no time}, {painless|easy|smooth}",
    "{b} support sorted my {issue|problem|account} in {n} minutes, {brilliant|amazing|top}",
    "love the new {b} {update|menu|design}, so {smooth|good|clean}",
    "no {issues|problems|hiccups} at all since I switched to {b}",
    "shoutout to the {b} {team|driver|crew}, {parcel arrived early|super friendly|made my day}",
    "{b} is the best, {highly recommend|10/10|never going back}",
    "the new {b} launch is {amazing|gorgeous|brilliant}, can't wait to {try it|get one}",
    "just got the new {b} {phone|kit|box} and it's {gorgeous|perfect|great} 😍",
];
const IT_NEGATIVE: &[&str] = &[
    "{b} mi ha addebitato {due volte|{n} euro in più} l'ordine {n}, {nessuna risposta|assistenza muta|nessuno risponde}",
    "{pacco|ordine|spedizione} {b} segnato come consegnato ma non è mai arrivato",
    "in attesa del {rimborso|cambio|tecnico} da {b} da {n} giorni",
    "app {b} {bloccata|ferma|in crash} da {stamattina|ieri|ore}, errore {n}",
    "call center {b}: {n} minuti di attesa e poi {cade la linea|riattaccano|niente}",
    "servizio {pessimo|vergognoso|scandaloso} {b}, {disdico tutto|cambio operatore|mai più}",
    "ennesimo disservizio {b}, {fibra|linea|luce} giù da {ieri|stamattina|due giorni}",
    "complimenti {b}, {terzo|quarto} ritardo della settimana 🙃",
];
const IT_NEUTRAL: &[&str] = &[
    "{b} consegna anche {la domenica|nei festivi}?",
    "a che ora apre il negozio {b} di {Bologna|Torino|Bari}",
    "{b} annuncia una nuova offerta da {n} euro",
    "vi ho scritto in DM il numero d'ordine, {b}",
];
const IT_POSITIVE: &[&str] = &[
    "grazie {b}, rimborso arrivato in {due giorni|un giorno|un attimo}",
    "nessun problema con {b} da quando sono passato a loro",
    "{b} assistenza {gentilissima|velocissima|top}, risolto in {n} minuti",
    "il nuovo prodotto {b} è {fantastico|bellissimo|perfetto} 😍",
];
const EN_OPENERS: &[&str] = &[
    "",
    "",
    "",
    "ugh ",
    "so ",
    "honestly ",
    "hey, ",
    "wow. ",
    "psa: ",
    "lol ",
];
const EN_CLOSERS: &[&str] = &[
    "", "", "", " 😡", " #fail", " smh", " pls fix", " thanks", " 🙄", "!!", " ffs",
];
const IT_OPENERS: &[&str] = &["", "", "", "ma ", "raga ", "allora ", "boh ", "uffa "];
const IT_CLOSERS: &[&str] = &[
    "",
    "",
    "",
    " 😡",
    " #disservizio",
    " grazie",
    " 🙄",
    "!!",
    " basta",
];
const BOT_TEXT: &str = "{b} is a SCAM!!! they stole my money, avoid {b} at all costs, share this before they delete it";

fn pick<'a>(rng: &mut Rng, label: Label, italian: bool) -> &'a str {
    let pool = match (label, italian) {
        (Label::Negative, false) => EN_NEGATIVE,
        (Label::Neutral, false) => EN_NEUTRAL,
        (Label::Positive, false) => EN_POSITIVE,
        (Label::Negative, true) => IT_NEGATIVE,
        (Label::Neutral, true) => IT_NEUTRAL,
        (Label::Positive, true) => IT_POSITIVE,
    };
    pool[rng.below(pool.len())]
}

/// Expands a template: `{b}`, `{n}` and `{x|y|z}` (choices may nest).
fn expand(template: &str, brand: &str, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        // The matching brace.
        let mut depth = 0;
        let mut close = open;
        for (i, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let inner = &rest[open + 1..close];
        match inner {
            "b" => out.push_str(brand),
            "n" => out.push_str(&(2 + rng.below(97)).to_string()),
            _ => {
                // Split on top-level bars.
                let mut parts = Vec::new();
                let (mut depth, mut from) = (0, 0);
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        '|' if depth == 0 => {
                            parts.push(&inner[from..i]);
                            from = i + 1;
                        }
                        _ => {}
                    }
                }
                parts.push(&inner[from..]);
                let choice = parts[rng.below(parts.len())];
                out.push_str(&expand(choice, brand, rng));
            }
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

fn fill(template: &str, brand: &str, italian: bool, rng: &mut Rng) -> String {
    let (openers, closers) = if italian {
        (IT_OPENERS, IT_CLOSERS)
    } else {
        (EN_OPENERS, EN_CLOSERS)
    };
    format!(
        "{}{}{}",
        openers[rng.below(openers.len())],
        expand(template, brand, rng),
        closers[rng.below(closers.len())]
    )
}

/// The expected multiplier of the negative rate at `t` from waves and slow burns.
fn negative_factor(events: &[Event], brand: usize, t: i64) -> f64 {
    let mut f = 1.0;
    for e in events {
        match *e {
            Event::Wave {
                brand: b,
                start,
                minutes,
                factor,
            } if b == brand && t >= start && t < start + minutes * 60 => f *= factor,
            Event::SlowBurn {
                brand: b,
                start,
                minutes,
                factor,
            } if b == brand && t >= start && t < start + minutes * 60 => {
                let progress = (t - start) as f64 / (minutes * 60) as f64;
                f *= 1.0 + (factor - 1.0) * progress;
            }
            _ => {}
        }
    }
    f
}

/// Builds the stream of a scenario.
pub fn generate(scenario: &Scenario, seed: u64) -> Stream {
    const STEP: i64 = 300;
    let mut rng = Rng::new(seed);
    let mut mentions = Vec::new();
    let mut excess: Vec<(Event, f64)> = scenario
        .events
        .iter()
        .filter(|e| e.is_incident())
        .map(|e| (*e, 0.0))
        .collect();
    let span = scenario.days * 86_400;
    let day_factors: Vec<f64> = (0..scenario.days)
        .map(|_| {
            if scenario.daily_noise <= 0.0 {
                1.0
            } else {
                // A log-normal factor with mean about 1.
                let (u1, u2) = (rng.f().max(1e-12), rng.f());
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (z * scenario.daily_noise - scenario.daily_noise.powi(2) / 2.0).exp()
            }
        })
        .collect();
    let mut id = 0u64;
    for (bi, brand) in scenario.brands.iter().enumerate() {
        let total_per_day = brand.negatives_per_day / brand.negative_share;
        let mut t = scenario.start;
        while t < scenario.start + span {
            let dt: DateTime<Utc> = DateTime::from_timestamp(t, 0).unwrap_or_default();
            let day = ((t - scenario.start) / 86_400) as usize;
            let growth = 1.0 + scenario.growth * (t - scenario.start) as f64 / span as f64;
            let holiday = scenario.events.iter().any(|e| {
                matches!(e, Event::Holiday { .. }) && {
                    let (a, b) = e.span();
                    t >= a && t < b
                }
            });
            let base = total_per_day / 288.0
                * hourly(dt.hour() as usize)
                * weekly(dt.weekday().num_days_from_monday())
                * growth
                * day_factors.get(day).copied().unwrap_or(1.0)
                * if holiday { 0.5 } else { 1.0 };
            let neg_factor = negative_factor(&scenario.events, bi, t);
            let (mut launch, mut surge) = (1.0f64, 1.0f64);
            for e in &scenario.events {
                let (a, b) = e.span();
                if e.brand() != Some(bi) || t < a || t >= b {
                    continue;
                }
                match *e {
                    Event::Launch { volume, .. } => launch = launch.max(volume),
                    Event::Surge { volume, .. } => surge = surge.max(volume),
                    _ => {}
                }
            }
            let neg_mean = base * brand.negative_share * surge;
            for (incident, ex) in excess.iter_mut() {
                if incident.brand() == Some(bi) {
                    let f = negative_factor(std::slice::from_ref(incident), bi, t);
                    *ex += neg_mean * (f - 1.0);
                }
            }
            let other = base * (1.0 - brand.negative_share) * surge;
            // A launch's extra volume: 85 % positive, 10 % neutral, 5 % negative.
            let extra = base * (launch - 1.0);
            let draws = [
                (Label::Negative, neg_mean * neg_factor + extra * 0.05),
                (Label::Neutral, other * 0.55 + extra * 0.10),
                (Label::Positive, other * 0.45 + extra * 0.85),
            ];
            for (label, mean) in draws {
                for _ in 0..rng.poisson(mean) {
                    id += 1;
                    let italian = rng.f() < brand.italian;
                    let created = t + rng.below(STEP as usize) as i64;
                    let ingested = if rng.f() < scenario.late_share {
                        created + 3600 + rng.below(7200) as i64
                    } else {
                        created + rng.below(900) as i64
                    };
                    let text = fill(
                        pick(&mut rng, label, italian),
                        &brand.name,
                        italian,
                        &mut rng,
                    );
                    mentions.push(SimMention {
                        id,
                        brand: bi,
                        created_at: created,
                        ingested_at: ingested,
                        label,
                        author: format!("user{}", rng.below(200_000)),
                        text,
                        lang: if italian { "it" } else { "en" },
                    });
                }
            }
            t += STEP;
        }
    }
    for e in &scenario.events {
        if let Event::BotBurst {
            brand,
            start,
            minutes,
            posts,
            accounts,
        } = *e
        {
            let name = &scenario.brands[brand].name;
            for k in 0..posts {
                id += 1;
                let created = start + rng.below((minutes * 60).max(1) as usize) as i64;
                mentions.push(SimMention {
                    id,
                    brand,
                    created_at: created,
                    ingested_at: created + rng.below(900) as i64,
                    label: Label::Negative,
                    author: format!("bot{}", k % accounts.max(1)),
                    text: BOT_TEXT.replace("{b}", name),
                    lang: "en",
                });
            }
        }
    }
    mentions.sort_by_key(|m| (m.created_at, m.id));
    Stream {
        scenario: scenario.clone(),
        mentions,
        excess,
    }
}

impl Stream {
    /// The stream as scored mentions with the labels the generator meant (no scorer in the
    /// way), for replaying through `alerts::backtest`.
    pub fn scored(&self) -> Vec<crate::mention::ScoredMention> {
        use crate::mention::{Mention, ScoredMention, Sentiment};
        self.mentions
            .iter()
            .map(|m| {
                let compound = match m.label {
                    Label::Negative => -0.8,
                    Label::Neutral => 0.0,
                    Label::Positive => 0.8,
                };
                ScoredMention {
                    mention: Mention {
                        source: "x".into(),
                        external_id: m.id.to_string(),
                        text: m.text.clone(),
                        created_at: DateTime::from_timestamp(m.created_at, 0).unwrap_or_default(),
                        url: None,
                        author: Some(m.author.clone()),
                        author_followers: None,
                        lang: Some(m.lang.to_string()),
                        reply_to: None,
                        engagement: Default::default(),
                    },
                    brands: vec![self.scenario.brands[m.brand].name.clone()],
                    lang: Some(m.lang.to_string()),
                    lang_origin: None,
                    sentiment: Some(Sentiment {
                        compound,
                        pos: 0.0,
                        neu: 0.0,
                        neg: 0.0,
                        label: m.label,
                    }),
                    scorer_version: "scenario".into(),
                    own_by: None,
                }
            })
            .collect()
    }

    /// The stream as JSONL mentions (the format `mentiond ingest` and `backtest` read), each
    /// post mentioning its brand by name.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for m in &self.mentions {
            let created = DateTime::from_timestamp(m.created_at, 0).unwrap_or_default();
            let line = serde_json::json!({
                "source": "x",
                "external_id": m.id.to_string(),
                "text": m.text,
                "created_at": crate::mention::format_time(&created),
                "author": m.author,
                "lang": m.lang,
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        out
    }
}

/// A daytime start (9:00 to 17:00 UTC) on a random weekday-or-weekend day in `days` (from the
/// stream's start).
pub fn daytime(rng: &mut Rng, start: i64, days: std::ops::Range<i64>) -> i64 {
    let d = days.start + rng.below((days.end - days.start).max(1) as usize) as i64;
    start + d * 86_400 + (9 * 3600) + rng.below(8 * 12) as i64 * 300
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        Scenario {
            name: "test".into(),
            start: 1_767_225_600, // 2026-01-01
            days: 7,
            brands: vec![BrandSpec {
                name: "Acme".into(),
                negatives_per_day: 20.0,
                negative_share: 0.3,
                italian: 0.3,
            }],
            events: vec![Event::Wave {
                brand: 0,
                start: 1_767_225_600 + 4 * 86_400 + 12 * 3600,
                minutes: 120,
                factor: 6.0,
            }],
            growth: 0.0,
            late_share: 0.0,
            daily_noise: 0.0,
        }
    }

    #[test]
    fn templates_expand_nested_choices() {
        let mut rng = Rng::new(1);
        for _ in 0..50 {
            let t = expand("{a|b {x|y}|c} {b} {n}", "Acme", &mut rng);
            assert!(
                !t.contains('{') && !t.contains('|') && t.contains("Acme"),
                "{t}"
            );
        }
    }

    #[test]
    fn same_seed_same_stream() {
        let a = generate(&scenario(), 7);
        let b = generate(&scenario(), 7);
        assert_eq!(a.mentions.len(), b.mentions.len());
        assert!(
            a.mentions
                .iter()
                .zip(&b.mentions)
                .all(|(x, y)| x.text == y.text && x.created_at == y.created_at)
        );
        assert_ne!(generate(&scenario(), 8).mentions.len(), a.mentions.len());
    }

    #[test]
    fn volumes_and_waves_are_as_specified() {
        let s = generate(&scenario(), 1);
        let negatives = s
            .mentions
            .iter()
            .filter(|m| m.label == Label::Negative)
            .count() as f64;
        // About 20 a day for 7 days (weekly cycle averages ~1), plus the wave.
        let excess = s.excess[0].1;
        assert!(
            (excess - 5.0 * 20.0 * 2.0 / 24.0 * 1.5).abs() < 6.0,
            "{excess}"
        );
        assert!((negatives - 140.0 - excess).abs() < 40.0, "{negatives}");
        let (a, b) = s.excess[0].0.span();
        let in_wave = s
            .mentions
            .iter()
            .filter(|m| m.label == Label::Negative && m.created_at >= a && m.created_at < b)
            .count();
        assert!(in_wave as f64 > excess * 0.6, "{in_wave} in the wave");
    }
}
