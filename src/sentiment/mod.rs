//! Sentiment scoring and language detection.
//!
//! [`Scorer`] is what the pipeline calls: given a text and its language it returns the scores,
//! or `None` when no engine covers the language.

pub mod lang;

use crate::mention::{Label, Sentiment};

pub use lang::{Detection, LanguageDetector};

/// Identifies the engine and its data; stored with every score.
pub const SCORER_VERSION: &str = "vader_sentiment-0.1.1";

/// Scores texts. Cheap to share: build one and pass references around.
pub struct Scorer {
    analyzer: vader_sentiment::SentimentIntensityAnalyzer<'static>,
}

impl Default for Scorer {
    fn default() -> Self {
        Scorer::new()
    }
}

impl Scorer {
    pub fn new() -> Scorer {
        Scorer {
            analyzer: vader_sentiment::SentimentIntensityAnalyzer::new(),
        }
    }

    pub fn version(&self) -> &'static str {
        SCORER_VERSION
    }

    /// Languages this scorer has a dedicated pack for (used as the fallback set of the
    /// language detector).
    pub fn languages(&self) -> &'static [&'static str] {
        &["en"]
    }

    /// Scores `text`. The interim engine applies English VADER to every text.
    pub fn score(&self, text: &str, _lang: Option<&str>) -> Option<Sentiment> {
        let scores = self.analyzer.polarity_scores(text);
        let get = |k: &str| scores.get(k).copied().unwrap_or(0.0);
        let compound = get("compound");
        Some(Sentiment {
            compound,
            pos: get("pos"),
            neu: get("neu"),
            neg: get("neg"),
            label: Label::from_compound(compound),
        })
    }
}
