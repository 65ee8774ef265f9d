//! The customer-voice engine, mentiond's default: sentiment as a brand's customers mean it.
//!
//! General-purpose lexicons (VADER, the Italian pack) read "support never answered" as positive
//! (`support` is a good word) and "marked as delivered, it was not" as neutral (no feeling
//! words). This engine reads a post as a customer-care team would: service failures told as
//! facts, waiting, money, leaving the brand, sarcasm after a failure, questions, thanks closing
//! a complaint, negated problems as praise. It combines
//!
//! - a customer-experience lexicon per language (`data/sentiment/cx/{en,it}.tsv`, written for
//!   mentiond), whose phrases become cues after negation and position ([`features::cue`]);
//! - the general lexicon's score of the text with topic words (`support`, `help`, `assistenza`)
//!   left unscored;
//! - the words and word pairs of the text, negation marked;
//!
//! in a multinomial logistic regression ([`model`]) trained by a deterministic command on public
//! labelled tweets and review sentences and on brand mentions written for mentiond (see
//! `tools/README.md` and NOTICE.md). Cue weights are shared by both languages; word weights are
//! per language.
//!
//! `compound` is P(positive) − P(negative); `pos`, `neu`, `neg` are the three probabilities.

pub mod features;
pub mod lexicon;
pub mod model;
pub mod tokens;
pub mod train;

use std::cell::RefCell;

use crate::mention::{Label, Sentiment};

use super::emoji::EmojiTable;
use super::engine::Pack;
use super::italian::ItalianPack;
use features::Sink;
use lexicon::{Category, Lexicon, Match};
use model::{Logits, Model, Recorder};
pub use tokens::Lang;
use tokens::Tokens;

/// Version of the engine's rules and data; changes whenever the weights or lexicons do.
pub const VERSION: &str = "cx-1";

const MODEL: &[u8] = include_bytes!("../../../data/sentiment/cx/model.bin");

#[derive(Default)]
struct Scratch {
    toks: Tokens,
    matches: Vec<Match>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// One phrase or signal behind a score, for `mentiond sentiment --explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// What was read: a word, a word pair, a lexicon phrase with its cue, or a signal.
    pub what: String,
    /// How much it pushed towards the label given (positive) or away from it (negative), in
    /// logit units against the runner-up label.
    pub weight: f32,
}

/// A score with the reasons for it.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub sentiment: Sentiment,
    /// Strongest first, at most eight.
    pub reasons: Vec<Reason>,
    /// Topic words present in the text whose general-lexicon valence was not scored.
    pub topics: Vec<String>,
}

/// The engine: lexicons, the general lexicons without topic words, and the model.
pub struct CustomerVoice {
    en: Lexicon,
    it: Lexicon,
    english: Pack,
    italian: ItalianPack,
    model: Model,
}

impl CustomerVoice {
    /// Builds the engine with the shipped weights.
    pub fn new(english: &Pack, italian: &ItalianPack) -> CustomerVoice {
        let model = Model::from_bytes(MODEL)
            .expect("data/sentiment/cx/model.bin is valid (a unit test checks it)");
        CustomerVoice::with_model(english, italian, model)
    }

    /// Builds the engine with other weights (training and evaluation).
    pub fn with_model(english: &Pack, italian: &ItalianPack, model: Model) -> CustomerVoice {
        let en = Lexicon::parse(lexicon::EN, Lang::En)
            .expect("data/sentiment/cx/en.tsv is valid (a unit test checks it)");
        let it = Lexicon::parse(lexicon::IT, Lang::It)
            .expect("data/sentiment/cx/it.tsv is valid (a unit test checks it)");
        let mut english = english.clone();
        // VADER's idioms ("the bomb", "yeah right") are the customer-voice lexicon's business
        // here, and matching them costs a string join per word.
        english.idioms.clear();
        english.phrase_boosters.clear();
        for w in en.words_of(Category::Topic) {
            if let Some(e) = english.entries.get_mut(w) {
                e.valence = None;
            }
        }
        let italian = italian.without_valence(it.words_of(Category::Topic));
        CustomerVoice {
            en,
            it,
            english,
            italian,
            model,
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    fn lexicon(&self, lang: Lang) -> &Lexicon {
        match lang {
            Lang::En => &self.en,
            Lang::It => &self.it,
        }
    }

    /// The general lexicon's score, topic words unscored.
    fn general(&self, text: &str, lang: Lang, emoji: &EmojiTable) -> Sentiment {
        match lang {
            Lang::En => super::vader_english(&self.english, emoji, text),
            Lang::It => self.italian.score(text),
        }
    }

    /// Feeds every feature of `text` to `sink`.
    pub fn features<S: Sink + ?Sized>(
        &self,
        text: &str,
        lang: Lang,
        emoji: &EmojiTable,
        sink: &mut S,
    ) {
        let general = self.general(text, lang, emoji);
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            tokens::tokenize(text, lang, &mut s.toks);
            self.lexicon(lang).find(&s.toks, &mut s.matches);
            features::extract(self.lexicon(lang), &s.toks, &general, &s.matches, sink);
        })
    }

    /// Scores from logits, with the override rule applied to the label (the probabilities stay
    /// the model's, so `compound` still ranks texts by how positive the model found them).
    fn sentiment(&self, z: [f32; 3], rule: Option<features::Override>) -> Sentiment {
        let p = Model::probabilities(z);
        let round = |x: f32, d: i32| {
            let f = 10f64.powi(d);
            (f64::from(x) * f).round() / f
        };
        Sentiment {
            compound: round(p[2] - p[0], 4),
            pos: round(p[2], 3),
            neu: round(p[1], 3),
            neg: round(p[0], 3),
            label: match (model::CLASSES[self.model.decide(z)], rule) {
                (Label::Positive, Some(_)) => Label::Negative,
                (label, _) => label,
            },
        }
    }

    /// The override rule for the text last tokenised on this thread.
    fn rule(&self, lang: Lang) -> Option<features::Override> {
        SCRATCH.with(|s| {
            let s = &*s.borrow();
            features::Override::find(
                &features::cue_counts(self.lexicon(lang), &s.toks, &s.matches),
                features::says_resolved(&s.toks),
            )
        })
    }

    pub fn score(&self, text: &str, lang: Lang, emoji: &EmojiTable) -> Sentiment {
        let mut logits = Logits::new(&self.model);
        self.features(text, lang, emoji, &mut logits);
        self.sentiment(logits.z, self.rule(lang))
    }

    /// The score and what decided it.
    pub fn explain(&self, text: &str, lang: Lang, emoji: &EmojiTable) -> Explanation {
        let mut rec = Recorder {
            model: &self.model,
            features: Vec::new(),
        };
        self.features(text, lang, emoji, &mut rec);
        let mut z = self.model.bias;
        for (_, v, w) in &rec.features {
            for k in 0..3 {
                z[k] += v * w[k];
            }
        }
        let rule = self.rule(lang);
        let sentiment = self.sentiment(z, rule);
        let chosen = model::CLASSES
            .iter()
            .position(|l| *l == sentiment.label)
            .unwrap_or(1);
        // The runner-up: the label the text came closest to instead.
        let other = (0..3)
            .filter(|k| *k != chosen)
            .max_by(|a, b| z[*a].total_cmp(&z[*b]))
            .unwrap_or(1);
        // One reason per thing read: the general lexicon's several signals are summed, as are
        // repeated words.
        let mut reasons: Vec<Reason> = Vec::new();
        for (name, v, w) in &rec.features {
            let what = describe(name);
            if what.is_empty() {
                continue;
            }
            let weight = v * (w[chosen] - w[other]);
            match reasons.iter_mut().find(|r| r.what == what) {
                Some(r) => r.weight += weight,
                None => reasons.push(Reason { what, weight }),
            }
        }
        reasons.retain(|r| r.weight.abs() >= 0.05);
        reasons.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
        reasons.truncate(8);
        // A rule that changed the label comes first: it decided.
        if let (Some(rule), Label::Negative) = (rule, sentiment.label) {
            if model::CLASSES[self.model.decide(z)] == Label::Positive {
                reasons.insert(
                    0,
                    Reason {
                        what: rule.describe().to_string(),
                        weight: f32::INFINITY,
                    },
                );
            }
        }
        let topics = SCRATCH.with(|s| {
            let s = &*s.borrow();
            let lex = self.lexicon(lang);
            let mut t: Vec<String> = s
                .matches
                .iter()
                .filter(|m| m.category == Category::Topic)
                .map(|m| lex.phrase(m).to_string())
                .collect();
            t.dedup();
            t
        });
        Explanation {
            sentiment,
            reasons,
            topics,
        }
    }

    /// The cues found in a text with the phrases that raised them (for explanations and tests).
    pub fn cues(&self, text: &str, lang: Lang) -> Vec<(features::Cue, String)> {
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            tokens::tokenize(text, lang, &mut s.toks);
            let lex = self.lexicon(lang);
            lex.find(&s.toks, &mut s.matches);
            s.matches
                .iter()
                .filter_map(|m| {
                    features::cue(lex, &s.toks, m).map(|c| (c, lex.phrase(m).to_string()))
                })
                .collect()
        })
    }
}

/// A feature name as an analyst reads it: `"still waiting"`, `failure cue`, `general lexicon`;
/// empty for the language prior, which is not something the text says.
fn describe(name: &str) -> String {
    if let Some(rest) = name.strip_prefix("c:") {
        return format!("{rest} cue");
    }
    if let Some(rest) = name.strip_prefix("x:") {
        return format!("combined: {}", rest.replace('+', " + "));
    }
    if name.starts_with("v:") || name.get(2..5) == Some(":v:") {
        return "general lexicon".to_string();
    }
    let rest = name.get(2..).unwrap_or_default();
    if rest == ":prior" {
        return String::new();
    }
    if let Some(w) = rest.strip_prefix(":w:!") {
        return format!("\"{w}\" (negated)");
    }
    if let Some(w) = rest.strip_prefix(":w:") {
        return format!("\"{w}\"");
    }
    if let Some(w) = rest.strip_prefix(":s:!") {
        return format!("\"{w}…\" (negated)");
    }
    if let Some(w) = rest.strip_prefix(":s:") {
        return format!("\"{w}…\"");
    }
    if let Some(b) = rest.strip_prefix(":b:") {
        let b = b.trim_start_matches("<s> ").trim_end_matches(" </s>");
        return format!("\"{b}\"");
    }
    name.to_string()
}

/// Index of a label in the model's class order.
pub fn class_index(label: Label) -> u8 {
    match label {
        Label::Negative => 0,
        Label::Neutral => 1,
        Label::Positive => 2,
    }
}
