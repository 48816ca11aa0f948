//! Keywords sent as prompt context: the configured vocabulary's words that occur in the
//! content (the tutorial sent the same three words whatever the content said).

use std::collections::HashSet;

#[derive(Debug, Clone)]
pub struct KeywordVocabulary {
    /// Lower-cased, in configured order so the output order is stable.
    words: Vec<String>,
}

impl KeywordVocabulary {
    pub fn new(words: &[String]) -> Self {
        let mut seen = HashSet::new();
        let words = words
            .iter()
            .map(|w| w.trim().to_lowercase())
            .filter(|w| !w.is_empty() && seen.insert(w.clone()))
            .collect();
        Self { words }
    }

    /// Whole-word, case-insensitive matches: "returned" does not match "return".
    pub fn find_in(&self, content: &str) -> Vec<String> {
        // A few words against a short text: a scan beats building a set of the text's words.
        let mut found = vec![false; self.words.len()];
        for token in content.split(|c: char| !c.is_alphanumeric()) {
            if token.is_empty() {
                continue;
            }
            let position = if token.is_ascii() {
                self.words
                    .iter()
                    .position(|w| w.eq_ignore_ascii_case(token))
            } else {
                let lower = token.to_lowercase();
                self.words.iter().position(|w| *w == lower)
            };
            if let Some(i) = position {
                found[i] = true;
            }
        }
        self.words
            .iter()
            .zip(found)
            .filter(|(_, found)| *found)
            .map(|(word, _)| word.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(words: &[&str]) -> KeywordVocabulary {
        KeywordVocabulary::new(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn finds_whole_words_in_vocabulary_order() {
        let v = vocab(&["refund", "return", "loyalty", "credit", "delay"]);
        let found =
            v.find_in("Customer has exceeded return window. Suggest LOYALTY credit instead.");
        assert_eq!(found, ["return", "loyalty", "credit"]);
        assert!(v.find_in("The item was returned").is_empty());
        assert_eq!(vocab(&["Rückgabe"]).find_in("RÜCKGABE bitte"), ["rückgabe"]);
    }
}
