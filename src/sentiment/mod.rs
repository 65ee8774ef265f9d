//! Sentiment scoring and language detection.
//!
//! [`Scorer`] is what the pipeline calls: given a text and its language it picks the language
//! pack (English, Italian), runs the VADER rule [`engine`] and returns the scores, or `None`
//! when no pack covers the language (the mention is stored as "unscored", never silently
//! neutral).

pub mod emoji;
pub mod engine;
pub mod english;
pub mod italian;
pub mod lang;

use std::cell::RefCell;
use std::ops::Range;

use crate::mention::Sentiment;

pub use lang::{Detection, LanguageDetector};

use engine::{Feat, Pack};

/// Identifies the engine and its data; stored with every score so `mentiond rescore` knows
/// what to recompute after a change.
pub fn scorer_version() -> String {
    format!("mentiond-vader/1 {} {}", english::VERSION, italian::VERSION)
}

/// Per-thread buffers, so scoring allocates nothing per character (and little per text).
#[derive(Default)]
struct Scratch {
    low: String,
    spans: Vec<(Range<usize>, Range<usize>)>,
    feats: Vec<Feat>,
    sentiments: Vec<f64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Scores texts in the languages it has packs for. Build one and share it.
pub struct Scorer {
    english: Pack,
    italian: italian::ItalianPack,
    emoji: emoji::EmojiTable,
    version: String,
}

impl Default for Scorer {
    fn default() -> Self {
        Scorer::new()
    }
}

impl Scorer {
    pub fn new() -> Scorer {
        let emoji = emoji::EmojiTable::new();
        let english = english::pack();
        let italian = italian::ItalianPack::new(&english, &emoji);
        Scorer {
            english,
            italian,
            emoji,
            version: scorer_version(),
        }
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Languages with a pack (the fallback set of the language detector).
    pub fn languages(&self) -> &'static [&'static str] {
        &["en", "it"]
    }

    pub fn supports(&self, lang: &str) -> bool {
        self.languages().contains(&lang)
    }

    /// Scores `text` in `lang`. An unknown language (`None`: too little text to tell) is
    /// scored with the English pack, whose emoji and emoticons are universal; a language
    /// without a pack gives `None`.
    pub fn score(&self, text: &str, lang: Option<&str>) -> Option<Sentiment> {
        match lang {
            None | Some("en") => Some(self.english(text)),
            Some("it") => Some(self.italian(text)),
            Some(_) => None,
        }
    }

    /// English VADER.
    pub fn english(&self, text: &str) -> Sentiment {
        let described = self.emoji.describe(text);
        let text = described.as_ref();
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            english::tokenize(text, &mut s.low, &mut s.spans);
            let surfaces: Vec<&str> = s.spans.iter().map(|(r, _)| &text[r.clone()]).collect();
            let lows: Vec<&str> = s.spans.iter().map(|(_, r)| &s.low[r.clone()]).collect();
            english::features(&self.english, &surfaces, &lows, &mut s.feats);
            let (bangs, questions) = count_marks(text);
            engine::score(
                &self.english,
                &s.feats,
                &lows,
                bangs,
                questions,
                &mut s.sentiments,
            )
        })
    }

    /// The Italian pack.
    pub fn italian(&self, text: &str) -> Sentiment {
        self.italian.score(text)
    }
}

/// `!` and `?` in the whole text: VADER's punctuation emphasis.
fn count_marks(text: &str) -> (usize, usize) {
    let (mut bangs, mut questions) = (0, 0);
    for b in text.bytes() {
        match b {
            b'!' => bangs += 1,
            b'?' => questions += 1,
            _ => {}
        }
    }
    (bangs, questions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn en(text: &str) -> f64 {
        Scorer::new().english(text).compound
    }

    #[test]
    fn the_crate_bugs_are_gone() {
        assert_eq!(en("Hello!"), 0.0, "a neutral text with ! stays neutral");
        assert_eq!(en("Is it?"), 0.0, "one ? adds nothing");
        assert!(en("at least good") > 0.4, "at least is not a negation");
        assert_eq!(
            en("the reason is good"),
            en("the cause is good"),
            "`so` inside `reason` is no booster"
        );
        assert!(en("I ❤ it") > 0.5);
        assert_eq!(
            en("I ❤️ it"),
            en("I ❤ it"),
            "the variation selector does not hide the heart"
        );
        // "È" is a capital: with every token in capitals there is no emphasis (an ASCII-only
        // test would see "È" as not capitalised and boost GOOD).
        assert_eq!(en("GOOD È"), en("good"));
    }

    #[test]
    fn vader_examples() {
        // Values from Python vaderSentiment 3.3.2.
        assert_eq!(en("VADER is smart, handsome, and funny."), 0.8316);
        assert_eq!(en("VADER is not smart, handsome, nor funny."), -0.7424);
        assert_eq!(en("The book was good."), 0.4404);
        assert_eq!(en("The book was kind of good."), 0.3832);
        assert_eq!(en("A really bad, horrible book."), -0.8211);
        assert_eq!(en("At least it isn't a horrible book."), 0.431);
        assert_eq!(en("Today sux!"), -0.4199);
        assert_eq!(en("Make sure you :) or :D today!"), 0.8633);
        assert_eq!(en(""), 0.0);
    }
}
