//! Which brand(s) a post mentions.
//!
//! Matching works on the folded text (case and accents removed, see [`crate::text::fold`]):
//! - a keyword matches whole words or a phrase of consecutive words (`acme coffee` matches
//!   "Acme-Coffee" and "#acmecoffee" but not "acmecoffee shop" or "Acme. Coffee");
//! - a hashtag matches the same hashtag;
//! - a handle matches the same handle written with `@` (`@acme@mastodon.social`,
//!   `@acme.bsky.social`, `@AcmeSupport`);
//! - an exclusion (a phrase, or a `#hashtag`) anywhere in the post removes the brand;
//! - the language filter is applied separately ([`Matcher::accepts_language`]) because the
//!   language is detected only for posts that match a brand.

use std::collections::HashSet;

use crate::config::BrandConfig;
use crate::mention::LangOrigin;
use crate::text::fold;

/// The words, hashtags and handles of one post, folded.
#[derive(Debug, Default)]
pub struct Tokens {
    words: Vec<String>,
    /// `joined[i]` is true when word `i` follows word `i - 1` with nothing but spaces, hyphens
    /// or other joiners in between (no sentence punctuation), so a phrase may span them.
    joined: Vec<bool>,
    hashtags: HashSet<String>,
    handles: HashSet<String>,
}

/// The folded words of a keyword, as [`Tokens`] splits a post: `"Non è arrivato"` ->
/// `["non", "e", "arrivato"]`.
pub fn keyword_words(keyword: &str) -> Vec<String> {
    fold(keyword)
        .split(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_handle_char(c: char) -> bool {
    is_word_char(c) || matches!(c, '.' | '@' | '-')
}

fn breaks_phrase(c: char) -> bool {
    matches!(
        c,
        '.' | ','
            | ';'
            | ':'
            | '!'
            | '?'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '"'
            | '|'
            | '/'
            | '\n'
            | '…'
    )
}

impl Tokens {
    pub fn of(text: &str) -> Tokens {
        let folded = fold(text);
        let chars: Vec<char> = folded.chars().collect();
        let mut t = Tokens::default();
        let mut i = 0;
        let mut gap_breaks = true;
        while i < chars.len() {
            let c = chars[i];
            let prev_is_word = i > 0 && is_word_char(chars[i - 1]);
            if (c == '#' || c == '@')
                && !prev_is_word
                && chars.get(i + 1).is_some_and(|&n| is_word_char(n))
            {
                let start = i + 1;
                let mut end = start;
                let accept = if c == '#' {
                    is_word_char
                } else {
                    is_handle_char
                };
                while end < chars.len() && accept(chars[end]) {
                    end += 1;
                }
                // A handle never ends with punctuation: "@acme." ends a sentence.
                while end > start && matches!(chars[end - 1], '.' | '-' | '@') {
                    end -= 1;
                }
                let token: String = chars[start..end].iter().collect();
                if c == '#' {
                    t.hashtags.insert(token.clone());
                } else {
                    t.handles.insert(token.clone());
                }
                // The words inside a hashtag or handle still count as words ("@acme" and
                // "#acme" are mentions of acme).
                for (k, part) in token
                    .split(|ch: char| !is_word_char(ch))
                    .filter(|p| !p.is_empty())
                    .enumerate()
                {
                    t.push_word(part.to_string(), k > 0 || !gap_breaks);
                }
                gap_breaks = false;
                i = end;
                continue;
            }
            if is_word_char(c) {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                }
                t.push_word(chars[start..i].iter().collect(), !gap_breaks);
                gap_breaks = false;
                continue;
            }
            if breaks_phrase(c) {
                gap_breaks = true;
            }
            i += 1;
        }
        t
    }

    /// Whether the post has this (folded) hashtag.
    pub fn has_hashtag(&self, tag: &str) -> bool {
        self.hashtags.contains(tag)
    }

    fn push_word(&mut self, word: String, joined: bool) {
        self.joined.push(joined && !self.words.is_empty());
        self.words.push(word);
    }

    fn contains_phrase(&self, phrase: &[String]) -> bool {
        self.contains_words(phrase, false)
    }

    /// Whether the folded `phrase` appears as consecutive words; with `last_is_prefix`, its
    /// last word only has to start the post's word (`deliver` + prefix matches "delivered").
    pub fn contains_words(&self, phrase: &[String], last_is_prefix: bool) -> bool {
        if phrase.is_empty() || phrase.len() > self.words.len() {
            return false;
        }
        let last = phrase.len() - 1;
        let word_matches = |k: usize, word: &str, wanted: &str| {
            if k == last && last_is_prefix {
                word.starts_with(wanted)
            } else {
                word == wanted
            }
        };
        'outer: for start in 0..=self.words.len() - phrase.len() {
            for (k, w) in phrase.iter().enumerate() {
                if !word_matches(k, &self.words[start + k], w) || (k > 0 && !self.joined[start + k])
                {
                    continue 'outer;
                }
            }
            return true;
        }
        false
    }
}

/// A term of a brand, folded once at start-up.
#[derive(Debug, Clone)]
enum Term {
    /// One or more words that must appear consecutively; `joined` is the same words without
    /// spaces, matched against hashtags (`acme coffee` ~ `#acmecoffee`).
    Phrase {
        words: Vec<String>,
        joined: String,
    },
    Hashtag(String),
    Handle(String),
}

impl Term {
    fn phrase(text: &str) -> Option<Term> {
        let words = keyword_words(text);
        if words.is_empty() {
            return None;
        }
        let joined = words.concat();
        Some(Term::Phrase { words, joined })
    }

    fn matches(&self, tokens: &Tokens) -> bool {
        match self {
            Term::Phrase { words, joined } => {
                tokens.contains_phrase(words)
                    || (words.len() > 1 && tokens.hashtags.contains(joined))
            }
            Term::Hashtag(tag) => tokens.hashtags.contains(tag),
            Term::Handle(handle) => tokens.handles.contains(handle),
        }
    }
}

#[derive(Debug, Clone)]
struct CompiledBrand {
    name: String,
    include: Vec<Term>,
    exclude: Vec<Term>,
    languages: Option<Vec<String>>,
}

/// All configured brands, compiled for matching.
#[derive(Debug, Clone)]
pub struct Matcher {
    brands: Vec<CompiledBrand>,
    /// A brand's account (handle without `@`, lowercase) -> the brand's index.
    accounts: std::collections::HashMap<String, usize>,
}

/// An account name as compared: trimmed, without a leading `@`, lowercase.
fn account_key(s: &str) -> String {
    s.trim().trim_start_matches('@').to_lowercase()
}

impl Matcher {
    pub fn new(brands: &[BrandConfig]) -> Matcher {
        let compiled: Vec<CompiledBrand> = brands
            .iter()
            .map(|b| {
                let mut include: Vec<Term> =
                    b.keywords.iter().filter_map(|k| Term::phrase(k)).collect();
                include.extend(b.hashtags.iter().map(|h| Term::Hashtag(fold(h))));
                include.extend(b.handles.iter().map(|h| Term::Handle(fold(h))));
                let exclude = b
                    .exclude
                    .iter()
                    .filter_map(|e| match e.strip_prefix('#') {
                        Some(tag) => Some(Term::Hashtag(fold(tag))),
                        None => Term::phrase(e),
                    })
                    .collect();
                CompiledBrand {
                    name: b.name.clone(),
                    include,
                    exclude,
                    languages: b.languages.clone(),
                }
            })
            .collect();
        let mut accounts = std::collections::HashMap::new();
        for (i, b) in brands.iter().enumerate() {
            for h in &b.handles {
                accounts.entry(account_key(h)).or_insert(i);
            }
        }
        Matcher {
            brands: compiled,
            accounts,
        }
    }

    /// The brand whose account wrote a post by `author`, as each platform names accounts
    /// (`acme@mastodon.social`, `acme.bsky.social`, `AcmeSupport`; a leading `@` and case
    /// aside). Handles are compared on every platform.
    pub fn owner_of(&self, author: Option<&str>) -> Option<&str> {
        let key = account_key(author?);
        self.accounts
            .get(&key)
            .map(|&i| self.brands[i].name.as_str())
    }

    /// Indexes of the brands whose terms the text contains and whose exclusions it does not.
    pub fn candidates(&self, text: &str) -> Vec<usize> {
        let tokens = Tokens::of(text);
        self.brands
            .iter()
            .enumerate()
            .filter(|(_, b)| b.include.iter().any(|t| t.matches(&tokens)))
            .filter(|(_, b)| !b.exclude.iter().any(|t| t.matches(&tokens)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Indexes of the named brands (case-insensitive) whose exclusions the text does not
    /// contain: for sources whose every post is about a known brand (a brand's review feed).
    pub fn assigned(&self, names: &[String], text: &str) -> Vec<usize> {
        let tokens = Tokens::of(text);
        self.brands
            .iter()
            .enumerate()
            .filter(|(_, b)| names.iter().any(|n| n.eq_ignore_ascii_case(&b.name)))
            .filter(|(_, b)| !b.exclude.iter().any(|t| t.matches(&tokens)))
            .map(|(i, _)| i)
            .collect()
    }

    pub fn brand_name(&self, index: usize) -> &str {
        &self.brands[index].name
    }

    pub fn brand_names(&self) -> impl Iterator<Item = &str> {
        self.brands.iter().map(|b| b.name.as_str())
    }

    /// Whether the brand's language filter keeps a post in `lang`. A post whose language is
    /// unknown, or only guessed from too little text, is kept: dropping it on a guess would
    /// lose real mentions.
    pub fn accepts_language(
        &self,
        index: usize,
        lang: Option<&str>,
        origin: Option<LangOrigin>,
    ) -> bool {
        let Some(allowed) = &self.brands[index].languages else {
            return true;
        };
        match (lang, origin) {
            (Some(lang), Some(LangOrigin::Post | LangOrigin::Detected)) => {
                allowed.iter().any(|a| a == lang)
            }
            _ => true,
        }
    }

    /// Whether any brand restricts languages (saves language detection when none does and
    /// the scorer does not need it).
    pub fn has_language_filters(&self) -> bool {
        self.brands.iter().any(|b| b.languages.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brand(name: &str, keywords: &[&str]) -> BrandConfig {
        BrandConfig {
            name: name.into(),
            keywords: keywords.iter().map(|s| s.to_string()).collect(),
            hashtags: vec![],
            handles: vec![],
            exclude: vec![],
            languages: None,
        }
    }

    fn names(m: &Matcher, text: &str) -> Vec<String> {
        m.candidates(text)
            .into_iter()
            .map(|i| m.brand_name(i).to_string())
            .collect()
    }

    #[test]
    fn keywords_match_whole_words_and_phrases() {
        let m = Matcher::new(&[
            brand("Acme", &["acme", "acme coffee"]),
            brand("Bean", &["green bean"]),
        ]);
        assert_eq!(names(&m, "I love ACME!"), ["Acme"]);
        assert!(names(&m, "acmes and acmeville").is_empty());
        assert_eq!(names(&m, "the acme's shop"), ["Acme"]);
        assert_eq!(names(&m, "Green-Bean rocks"), ["Bean"]);
        assert_eq!(names(&m, "#GreenBean rocks"), ["Bean"]);
        assert!(names(&m, "it was green. Bean counters agree").is_empty());
        assert!(names(&m, "greenbean").is_empty());
    }

    #[test]
    fn accents_and_case_do_not_matter() {
        let m = Matcher::new(&[
            brand("Caffè Rossi", &["caffè rossi"]),
            brand("Cafe", &["CAFE"]),
        ]);
        assert_eq!(names(&m, "Il CAFFE ROSSI è buono"), ["Caffè Rossi"]);
        assert_eq!(names(&m, "un café"), ["Cafe"]);
    }

    #[test]
    fn hashtags_handles_and_exclusions() {
        let b = BrandConfig {
            name: "Acme".into(),
            keywords: vec!["acme".into()],
            hashtags: vec!["AcmeLove".into()],
            handles: vec![
                "acme@mastodon.social".into(),
                "AcmeSupport".into(),
                "acme.bsky.social".into(),
            ],
            exclude: vec!["acme anvil".into(), "#wile".into()],
            languages: None,
        };
        let m = Matcher::new(&[b]);
        assert_eq!(names(&m, "so much #acmelove today"), ["Acme"]);
        assert_eq!(names(&m, "hey @AcmeSupport: help"), ["Acme"]);
        assert_eq!(names(&m, "cc @acme.bsky.social."), ["Acme"]);
        assert_eq!(names(&m, "cc @acme@mastodon.social"), ["Acme"]);
        assert!(names(&m, "the Acme Anvil fell").is_empty());
        assert!(names(&m, "acme strikes again #Wile").is_empty());
        assert!(names(&m, "write to help@acmesupport.example").is_empty());
    }

    #[test]
    fn language_filter_only_trusts_declared_or_detected() {
        let mut b = brand("Acme", &["acme"]);
        b.languages = Some(vec!["it".into()]);
        let m = Matcher::new(&[b]);
        assert!(m.accepts_language(0, Some("it"), Some(LangOrigin::Post)));
        assert!(!m.accepts_language(0, Some("en"), Some(LangOrigin::Detected)));
        assert!(m.accepts_language(0, Some("en"), Some(LangOrigin::Guessed)));
        assert!(m.accepts_language(0, None, None));
    }
}
