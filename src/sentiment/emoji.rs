//! Emoji to words, before tokenisation: VADER scores an emoji by the words of its description
//! (`😂` -> "face with tears of joy"). The table is vaderSentiment's, through the
//! `vader_sentiment` crate.
//!
//! Unlike vaderSentiment 3.3.2, variation selectors (U+FE0F, U+FE0E), zero-width joiners and
//! skin-tone modifiers are dropped before the lookup, and a description is always followed by a
//! space: so `❤️` scores like `❤` (the reference glues U+FE0F to "heart" and scores it 0),
//! `👍🏽` like `👍`, and "I❤it" reads "I red heart it".

use std::borrow::Cow;

use rustc_hash::FxHashMap;

/// Single-code-point emoji -> description.
pub struct EmojiTable {
    map: FxHashMap<char, &'static str>,
}

/// Presentation selectors, joiners and skin tones: modifiers with no meaning of their own.
fn is_modifier(c: char) -> bool {
    matches!(
        c,
        '\u{FE0E}' | '\u{FE0F}' | '\u{200D}' | '\u{1F3FB}'..='\u{1F3FF}'
    )
}

impl EmojiTable {
    pub fn new() -> EmojiTable {
        let mut map = FxHashMap::default();
        for (k, v) in vader_sentiment::EMOJI_LEXICON.iter() {
            let mut chars = k.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                if !is_modifier(c) {
                    map.insert(c, *v);
                }
            }
        }
        EmojiTable { map }
    }

    /// Every emoji and its description.
    pub fn entries(&self) -> impl Iterator<Item = (char, &'static str)> + '_ {
        self.map.iter().map(|(c, d)| (*c, *d))
    }

    pub fn get(&self, c: char) -> Option<&'static str> {
        if (c as u32) < 0xA9 {
            return None;
        }
        self.map.get(&c).copied()
    }

    /// The text with every emoji replaced by its description; borrowed when there is none.
    pub fn describe<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if text.is_ascii()
            || !text
                .chars()
                .any(|c| is_modifier(c) || self.get(c).is_some())
        {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 32);
        let mut after_description = false;
        for c in text.chars() {
            if is_modifier(c) {
                continue;
            }
            if let Some(desc) = self.get(c) {
                if !out.is_empty() && !out.ends_with(char::is_whitespace) {
                    out.push(' ');
                }
                out.push_str(desc);
                after_description = true;
                continue;
            }
            if after_description && !c.is_whitespace() {
                out.push(' ');
            }
            after_description = false;
            out.push(c);
        }
        Cow::Owned(out)
    }
}

impl Default for EmojiTable {
    fn default() -> Self {
        EmojiTable::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_become_words_with_modifiers_dropped() {
        let t = EmojiTable::new();
        assert_eq!(t.describe("plain text"), "plain text");
        assert_eq!(t.describe("I❤it"), "I red heart it");
        assert_eq!(t.describe("❤️"), "red heart");
        assert_eq!(t.describe("👍🏽 ok"), "thumbs up ok");
        assert_eq!(
            t.describe("😂😂"),
            "face with tears of joy face with tears of joy"
        );
    }
}
