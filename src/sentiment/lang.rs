//! Offline language detection (whatlang), reported as ISO 639-1 codes.

use whatlang::{Detector, Lang};

use crate::mention::LangOrigin;

/// The language of a text and how sure we are of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    pub lang: &'static str,
    pub origin: LangOrigin,
}

/// Detects the language of a post. Handles, hashtags and links are removed first: they are
/// names, not language. When whatlang is not confident (short posts), the best guess among
/// `fallback` languages (the ones we can score) is returned as [`LangOrigin::Guessed`].
pub struct LanguageDetector {
    fallback: Option<Detector>,
}

impl LanguageDetector {
    pub fn new(fallback: &[&str]) -> LanguageDetector {
        let allow: Vec<Lang> = fallback.iter().filter_map(|c| from_iso639_1(c)).collect();
        LanguageDetector {
            fallback: (!allow.is_empty()).then(|| Detector::with_allowlist(allow)),
        }
    }

    pub fn detect(&self, text: &str) -> Option<Detection> {
        let cleaned = strip_names(text);
        if cleaned.chars().filter(|c| c.is_alphabetic()).count() < 3 {
            return None;
        }
        let info = whatlang::detect(&cleaned)?;
        if info.is_reliable() {
            if let Some(code) = to_iso639_1(info.lang()) {
                return Some(Detection {
                    lang: code,
                    origin: LangOrigin::Detected,
                });
            }
        }
        let guess = self.fallback.as_ref()?.detect_lang(&cleaned)?;
        Some(Detection {
            lang: to_iso639_1(guess)?,
            origin: LangOrigin::Guessed,
        })
    }
}

fn strip_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        let lower = word.trim_start_matches(['(', '"', '\'']);
        if lower.starts_with('@')
            || lower.starts_with('#')
            || lower.starts_with("http://")
            || lower.starts_with("https://")
            || lower.starts_with("www.")
        {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// whatlang's languages with their ISO 639-1 codes (Esperanto is `eo`; Persian `fa`).
const CODES: &[(Lang, &str)] = &[
    (Lang::Epo, "eo"),
    (Lang::Eng, "en"),
    (Lang::Rus, "ru"),
    (Lang::Cmn, "zh"),
    (Lang::Spa, "es"),
    (Lang::Por, "pt"),
    (Lang::Ita, "it"),
    (Lang::Ben, "bn"),
    (Lang::Fra, "fr"),
    (Lang::Deu, "de"),
    (Lang::Ukr, "uk"),
    (Lang::Kat, "ka"),
    (Lang::Ara, "ar"),
    (Lang::Hin, "hi"),
    (Lang::Jpn, "ja"),
    (Lang::Heb, "he"),
    (Lang::Yid, "yi"),
    (Lang::Pol, "pl"),
    (Lang::Amh, "am"),
    (Lang::Jav, "jv"),
    (Lang::Kor, "ko"),
    (Lang::Nob, "nb"),
    (Lang::Dan, "da"),
    (Lang::Swe, "sv"),
    (Lang::Fin, "fi"),
    (Lang::Tur, "tr"),
    (Lang::Nld, "nl"),
    (Lang::Hun, "hu"),
    (Lang::Ces, "cs"),
    (Lang::Ell, "el"),
    (Lang::Bul, "bg"),
    (Lang::Bel, "be"),
    (Lang::Mar, "mr"),
    (Lang::Kan, "kn"),
    (Lang::Ron, "ro"),
    (Lang::Slv, "sl"),
    (Lang::Hrv, "hr"),
    (Lang::Srp, "sr"),
    (Lang::Mkd, "mk"),
    (Lang::Lit, "lt"),
    (Lang::Lav, "lv"),
    (Lang::Est, "et"),
    (Lang::Tam, "ta"),
    (Lang::Vie, "vi"),
    (Lang::Urd, "ur"),
    (Lang::Tha, "th"),
    (Lang::Guj, "gu"),
    (Lang::Uzb, "uz"),
    (Lang::Pan, "pa"),
    (Lang::Aze, "az"),
    (Lang::Ind, "id"),
    (Lang::Tel, "te"),
    (Lang::Pes, "fa"),
    (Lang::Mal, "ml"),
    (Lang::Ori, "or"),
    (Lang::Mya, "my"),
    (Lang::Nep, "ne"),
    (Lang::Sin, "si"),
    (Lang::Khm, "km"),
    (Lang::Tuk, "tk"),
    (Lang::Aka, "ak"),
    (Lang::Zul, "zu"),
    (Lang::Sna, "sn"),
    (Lang::Afr, "af"),
    (Lang::Lat, "la"),
    (Lang::Slk, "sk"),
    (Lang::Cat, "ca"),
    (Lang::Tgl, "tl"),
    (Lang::Hye, "hy"),
];

pub fn to_iso639_1(lang: Lang) -> Option<&'static str> {
    CODES.iter().find(|(l, _)| *l == lang).map(|(_, c)| *c)
}

pub fn from_iso639_1(code: &str) -> Option<Lang> {
    CODES.iter().find(|(_, c)| *c == code).map(|(l, _)| *l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_clear_english_and_italian() {
        let d = LanguageDetector::new(&["en", "it"]);
        let en = d
            .detect("The delivery was late again and nobody answered my emails, very disappointing")
            .unwrap();
        assert_eq!((en.lang, en.origin), ("en", LangOrigin::Detected));
        let it = d
            .detect("La consegna è arrivata in ritardo e nessuno ha risposto alle mie email")
            .unwrap();
        assert_eq!(it.lang, "it");
    }

    #[test]
    fn names_and_links_are_ignored_and_tiny_texts_skipped() {
        let d = LanguageDetector::new(&["en", "it"]);
        assert_eq!(d.detect("@acme #acme https://acme.example 👍"), None);
        let g = d.detect("@acme grazie mille").unwrap();
        assert_eq!(g.lang, "it");
    }

    #[test]
    fn every_code_round_trips() {
        for (lang, code) in CODES {
            assert_eq!(from_iso639_1(code), Some(*lang));
        }
    }
}
