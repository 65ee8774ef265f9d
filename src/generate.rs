//! Deterministic bulk mention streams for benchmarks and load tests (`mentiond generate`):
//! short English and Italian posts about a number of brands, spread evenly over a period, one
//! line in twenty a repeat of an earlier post (a re-export, an overlapping query). The same
//! arguments give the same file on every machine.

use std::io::Write;

use chrono::{DateTime, Duration, Utc};

const EN: &[&str] = &[
    "my order from {b} arrived late again and support never answered",
    "{b} charged me twice this month, still waiting for the refund",
    "loving the new {b} blend, best coffee in town",
    "is {b} open on sundays? asking for a friend",
    "the {b} app keeps crashing when I pay",
    "great service at {b} today, thanks to the staff",
    "picked up a bag of {b} beans on the way home",
    "{b} support was quick and friendly, problem solved",
];
const IT: &[&str] = &[
    "ordine {b} arrivato in ritardo, nessuna risposta dal servizio clienti",
    "il nuovo caffè di {b} è buonissimo, lo consiglio",
    "{b} mi ha addebitato due volte, aspetto ancora il rimborso",
    "oggi da {b} servizio gentile e veloce, grazie",
    "l'app di {b} non funziona più dopo l'aggiornamento",
];
const TAILS: &[&str] = &[
    "",
    " #coffee",
    " (third time this week)",
    " really",
    " 🙄",
    " ☕",
    " @friend",
    " https://example.org/p/1",
];

/// The brands of a generated stream: "Acme", "Caffè Aurora", then "Brand 3", "Brand 4"...
pub fn brand_names(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i {
            0 => "Acme".to_string(),
            1 => "Caffè Aurora".to_string(),
            i => format!("Brand {}", i + 1),
        })
        .collect()
}

/// A config's `[[brands]]` tables for [`brand_names`], each matched by its name.
pub fn brands_config(n: usize) -> String {
    brand_names(n)
        .iter()
        .map(|b| {
            format!(
                "[[brands]]\nname = \"{b}\"\nkeywords = [\"{}\"]\n\n",
                b.to_lowercase()
            )
        })
        .collect()
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub mentions: usize,
    pub brands: usize,
    pub start: DateTime<Utc>,
    pub days: u32,
    pub seed: u64,
}

/// Writes `spec.mentions` JSONL lines to `out`.
pub fn write_mentions(spec: &Spec, out: &mut impl Write) -> std::io::Result<()> {
    let names = brand_names(spec.brands.max(1));
    let mut state = spec.seed | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let span_ms = i64::from(spec.days.max(1)) * 86_400_000;
    let step = span_ms / spec.mentions.max(1) as i64;
    for i in 0..spec.mentions {
        let r = next();
        let id = if i > 100 && r % 20 == 0 {
            (r >> 8) as usize % i
        } else {
            i
        };
        let brand = &names[(r >> 40) as usize % names.len()];
        let (texts, lang) = if r % 3 == 0 { (IT, "it") } else { (EN, "en") };
        let text = texts[(r >> 16) as usize % texts.len()].replace("{b}", brand)
            + TAILS[(r >> 24) as usize % TAILS.len()]
            + &format!(" {}", i % 997);
        let at = spec.start + Duration::milliseconds(id as i64 * step);
        let source = ["mastodon", "bluesky", "reddit"][id % 3];
        let line = serde_json::json!({
            "source": source,
            "external_id": format!("post-{id}"),
            "text": text,
            "author": format!("user{}", (r >> 32) % 5000),
            "lang": lang,
            "created_at": crate::mention::format_time(&at),
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}
