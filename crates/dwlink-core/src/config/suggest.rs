//! "Did you mean …?" for misspelt keys and values.

/// The closest candidate, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lowered = input.to_ascii_lowercase().replace('-', "_");
    candidates
        .into_iter()
        .map(|c| {
            let norm = c.to_ascii_lowercase().replace('-', "_");
            (strsim::jaro_winkler(&lowered, &norm), c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["reset_target", "legal_entities"];
        assert_eq!(did_you_mean("reset_targt", keys), Some("reset_target"));
        assert_eq!(did_you_mean("legal-entities", keys), Some("legal_entities"));
        assert_eq!(did_you_mean("colour", keys), None);
    }
}
