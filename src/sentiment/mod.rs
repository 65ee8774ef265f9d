//! Sentiment scoring and language detection.
//!
//! [`Scorer`] is what the pipeline calls: given a text and its language it runs the configured
//! [`Engine`] for that language and returns the scores, or `None` when no engine covers the
//! language (the mention is stored as "unscored", never silently neutral).
//!
//! Two engines:
//! - [`Engine::CustomerVoice`] (the default, [`cx`]): reads brand mentions as a customer-care
//!   team does; complaints told as facts count as negative.
//! - [`Engine::Vader`]: VADER's rules ([`engine`]) with the English lexicon at vaderSentiment
//!   3.3.2 parity and the Italian pack; general-purpose, explainable word by word.

pub mod cx;
pub mod emoji;
pub mod engine;
pub mod english;
pub mod eval;
pub mod italian;
pub mod lang;

use std::cell::RefCell;
use std::ops::Range;

use crate::mention::Sentiment;

pub use lang::{Detection, LanguageDetector};

use engine::{Feat, Pack};

/// Which engine scores the mentions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// Customer voice: the default.
    #[default]
    CustomerVoice,
    /// VADER (English, vaderSentiment 3.3.2 parity) and the Italian pack on VADER's rules.
    Vader,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::CustomerVoice => "customer-voice",
            Engine::Vader => "vader",
        }
    }

    pub fn parse(s: &str) -> Option<Engine> {
        match s {
            "customer-voice" | "cx" => Some(Engine::CustomerVoice),
            "vader" => Some(Engine::Vader),
            _ => None,
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Identifies an engine and its data; stored with every score so `mentiond rescore` knows
/// what to recompute after a change or an engine switch.
pub fn scorer_version(engine: Engine) -> String {
    match engine {
        Engine::Vader => format!("mentiond-vader/1 {} {}", english::VERSION, italian::VERSION),
        Engine::CustomerVoice => format!(
            "mentiond-cx/1 {} {} {}",
            cx::VERSION,
            english::VERSION,
            italian::VERSION
        ),
    }
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

/// English VADER with `pack`'s lexicon.
pub(crate) fn vader_english(pack: &Pack, emoji: &emoji::EmojiTable, text: &str) -> Sentiment {
    let described = emoji.describe(text);
    let text = described.as_ref();
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        english::tokenize(text, &mut s.low, &mut s.spans);
        let surfaces: Vec<&str> = s.spans.iter().map(|(r, _)| &text[r.clone()]).collect();
        let lows: Vec<&str> = s.spans.iter().map(|(_, r)| &s.low[r.clone()]).collect();
        english::features(pack, &surfaces, &lows, &mut s.feats);
        let (bangs, questions) = count_marks(text);
        engine::score(pack, &s.feats, &lows, bangs, questions, &mut s.sentiments)
    })
}

/// Scores texts in the languages it has packs for. Build one and share it.
pub struct Scorer {
    engine: Engine,
    english: Pack,
    italian: italian::ItalianPack,
    emoji: emoji::EmojiTable,
    cx: Option<cx::CustomerVoice>,
    version: String,
}

impl Default for Scorer {
    fn default() -> Self {
        Scorer::new()
    }
}

impl Scorer {
    /// The default engine (customer voice).
    pub fn new() -> Scorer {
        Scorer::with_engine(Engine::default())
    }

    pub fn with_engine(engine: Engine) -> Scorer {
        let emoji = emoji::EmojiTable::new();
        let english = english::pack();
        let italian = italian::ItalianPack::new(&english, &emoji);
        let cx = match engine {
            Engine::CustomerVoice => Some(cx::CustomerVoice::new(&english, &italian)),
            Engine::Vader => None,
        };
        Scorer {
            engine,
            english,
            italian,
            emoji,
            cx,
            version: scorer_version(engine),
        }
    }

    /// The customer-voice engine with other weights (training and evaluation).
    pub fn with_cx_model(model: cx::model::Model) -> Scorer {
        let mut s = Scorer::with_engine(Engine::Vader);
        s.cx = Some(cx::CustomerVoice::with_model(&s.english, &s.italian, model));
        s.engine = Engine::CustomerVoice;
        s.version = scorer_version(Engine::CustomerVoice);
        s
    }

    pub fn engine(&self) -> Engine {
        self.engine
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
    /// scored as English, whose emoji and emoticons are universal; a language without a pack
    /// gives `None`.
    pub fn score(&self, text: &str, lang: Option<&str>) -> Option<Sentiment> {
        let lang = match lang {
            None | Some("en") => cx::Lang::En,
            Some("it") => cx::Lang::It,
            Some(_) => return None,
        };
        Some(match (&self.cx, lang) {
            (Some(cx), _) => cx.score(text, lang, &self.emoji),
            (None, cx::Lang::En) => self.vader_english(text),
            (None, cx::Lang::It) => self.vader_italian(text),
        })
    }

    /// The score of `text` with the reasons for it (customer voice); `None` for a language
    /// without a pack or with the VADER engine.
    pub fn explain(&self, text: &str, lang: Option<&str>) -> Option<cx::Explanation> {
        let lang = match lang {
            None | Some("en") => cx::Lang::En,
            Some("it") => cx::Lang::It,
            Some(_) => return None,
        };
        self.cx
            .as_ref()
            .map(|cx| cx.explain(text, lang, &self.emoji))
    }

    /// The customer-voice engine, when it is the one configured.
    pub fn customer_voice(&self) -> Option<&cx::CustomerVoice> {
        self.cx.as_ref()
    }

    pub fn emoji(&self) -> &emoji::EmojiTable {
        &self.emoji
    }

    /// English VADER (vaderSentiment 3.3.2 parity), whatever the configured engine.
    pub fn vader_english(&self, text: &str) -> Sentiment {
        vader_english(&self.english, &self.emoji, text)
    }

    /// The Italian pack on VADER's rules, whatever the configured engine.
    pub fn vader_italian(&self, text: &str) -> Sentiment {
        self.italian.score(text)
    }

    pub fn english_pack(&self) -> &Pack {
        &self.english
    }

    pub fn italian_pack(&self) -> &italian::ItalianPack {
        &self.italian
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
        Scorer::with_engine(Engine::Vader)
            .vader_english(text)
            .compound
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
