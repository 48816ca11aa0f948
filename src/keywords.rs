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
        let lower = content.to_lowercase();
        let tokens: HashSet<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .collect();
        self.words
            .iter()
            .filter(|w| tokens.contains(w.as_str()))
            .cloned()
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
    }
}
