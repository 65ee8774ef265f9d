//! Which touchpoints (delivery, billing, ...) a post is about, from their keywords.

use crate::config::TouchpointConfig;
use crate::matcher::{Tokens, keyword_words};

#[derive(Debug, Clone)]
struct Keyword {
    words: Vec<String>,
    /// Written with a trailing `*`: the last word is a stem.
    prefix: bool,
    /// Without spaces, matched against hashtags too ("#customerservice").
    joined: String,
}

/// The configured touchpoints, compiled once.
#[derive(Debug, Clone)]
pub struct TouchpointMatcher {
    keywords: Vec<Vec<Keyword>>,
}

impl TouchpointMatcher {
    pub fn new(touchpoints: &[TouchpointConfig]) -> TouchpointMatcher {
        let keywords = touchpoints
            .iter()
            .map(|t| {
                t.keywords
                    .iter()
                    .filter_map(|k| {
                        let k = k.trim();
                        let (body, prefix) = match k.strip_suffix('*') {
                            Some(b) => (b, true),
                            None => (k, false),
                        };
                        let words = keyword_words(body);
                        (!words.is_empty()).then(|| Keyword {
                            joined: words.concat(),
                            words,
                            prefix,
                        })
                    })
                    .collect()
            })
            .collect();
        TouchpointMatcher { keywords }
    }

    pub fn len(&self) -> usize {
        self.keywords.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keywords.is_empty()
    }

    /// The touchpoints `text` is about, as a bit mask (bit `i` for touchpoint `i`).
    pub fn classify(&self, text: &str) -> u64 {
        if self.keywords.is_empty() {
            return 0;
        }
        let tokens = Tokens::of(text);
        let mut mask = 0u64;
        for (i, keywords) in self.keywords.iter().enumerate() {
            let hit = keywords.iter().any(|k| {
                tokens.contains_words(&k.words, k.prefix)
                    || (k.words.len() > 1 && !k.prefix && tokens.has_hashtag(&k.joined))
            });
            if hit {
                mask |= 1 << i;
            }
        }
        mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_touchpoints;

    fn about(m: &TouchpointMatcher, text: &str) -> Vec<String> {
        let names: Vec<String> = default_touchpoints().into_iter().map(|t| t.name).collect();
        let mask = m.classify(text);
        (0..m.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| names[i].clone())
            .collect()
    }

    #[test]
    fn shipped_touchpoints_in_english_and_italian() {
        let m = TouchpointMatcher::new(&default_touchpoints());
        assert_eq!(
            about(&m, "My Acme order was never DELIVERED, third week"),
            ["delivery"]
        );
        assert_eq!(
            about(
                &m,
                "Il pacco non è arrivato e il servizio clienti non risponde"
            ),
            ["delivery", "customer support"]
        );
        assert_eq!(
            about(&m, "Consegnato in ritardo, e mi hanno addebitato due volte"),
            ["delivery", "billing"]
        );
        assert_eq!(about(&m, "Prezzi troppo alti da Acme"), ["price"]);
        assert_eq!(
            about(&m, "the app keeps crashing at checkout"),
            ["website and app"]
        );
        assert_eq!(about(&m, "Love the new Acme blend!"), Vec::<String>::new());
        // A stem only matches at the start of a word; a phrase needs its words together.
        assert_eq!(
            about(&m, "undelivered? no: redelivery"),
            Vec::<String>::new()
        );
        assert_eq!(about(&m, "customer. service"), Vec::<String>::new());
        assert_eq!(
            about(&m, "#customerservice was great"),
            ["customer support"]
        );
    }
}
