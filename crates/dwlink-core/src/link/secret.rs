//! Secrets as a type: client secrets, bearer tokens and refresh tokens can only be read through
//! [`Secret::expose`], so a stray `{:?}` or error message cannot leak them.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// A credential dwlink holds (the client secret, a token, a device code): registered with
    /// [`crate::scrub`], so its value is replaced wherever it would be written or printed. Form
    /// fields that merely travel as `Secret` (a scope, a grant type) use [`Secret::new`].
    pub fn held(value: impl Into<String>) -> Self {
        let value = value.into();
        crate::scrub::hold(&value);
        Secret(value)
    }

    /// The only way to the value; call it where the value leaves the process (a header, a form).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Query parameters whose values are credentials in some Microsoft API (SAS signatures, OAuth
/// codes); a URL shown to the user has their values replaced.
const SENSITIVE_QUERY_KEYS: [&str; 8] = [
    "access_token",
    "refresh_token",
    "client_secret",
    "code",
    "device_code",
    "sig",
    "token",
    "password",
];

/// A URL as it may appear in a message: no userinfo, no credential-bearing query values.
pub fn redact_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .map(|(k, v)| {
                let sensitive = SENSITIVE_QUERY_KEYS
                    .iter()
                    .any(|s| k.eq_ignore_ascii_case(s));
                let v = if sensitive {
                    "[redacted]".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        if pairs.iter().any(|(_, v)| v == "[redacted]") {
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn urls_lose_credentials() {
        let u = url::Url::parse("https://u:p@x.example/a?sig=abc&$top=5").unwrap();
        let shown = redact_url(&u);
        assert!(!shown.contains("abc") && !shown.contains("u:p"), "{shown}");
        assert!(
            shown.contains("%24top=5") || shown.contains("$top=5"),
            "{shown}"
        );
        let plain = url::Url::parse("https://x.example/data/Set?$top=5").unwrap();
        assert_eq!(redact_url(&plain), "https://x.example/data/Set?$top=5");
    }
}
