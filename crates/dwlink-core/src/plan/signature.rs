//! Signed plans: with `DWLINK_PLAN_KEY` set (a CI secret shared by the job that plans and the job
//! that applies), `plan --out` appends an HMAC-SHA256 of the whole file as its last member, and
//! `apply` refuses a plan that is unsigned or whose bytes changed in any way. Re-deriving the
//! plan already refuses edits that change what it does; the signature also proves who made it.
//!
//! The MAC covers the file's exact bytes with the signature member left out, so checking it needs
//! no re-serialization: the signed file is the plan's JSON with
//! `,\n  "signature": "hmac-sha256:HEX"` inserted before its closing brace.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::diag::Problem;

pub const KEY_ENV: &str = "DWLINK_PLAN_KEY";
/// A shorter secret is guessable; `openssl rand -hex 32` gives 64 characters.
pub const MIN_KEY_BYTES: usize = 32;
const MEMBER: &str = ",\n  \"signature\": \"hmac-sha256:";
const END: &str = "\"\n}\n";
/// Binds the MAC to this use, so a key shared with another tool cannot sign plans by accident.
const DOMAIN: &[u8] = b"dwlink plan signature v1\n";

const HELP_KEY: &str = "set DWLINK_PLAN_KEY to the same secret in the job that plans and the job that applies (at least 32 bytes, e.g. `openssl rand -hex 32`), then plan again";

/// The signing key, when `DWLINK_PLAN_KEY` is set.
pub struct Key(Vec<u8>);

impl Key {
    pub fn from_env() -> Result<Option<Key>, Problem> {
        match std::env::var_os(KEY_ENV) {
            None => Ok(None),
            Some(v) => Key::new(v.as_encoded_bytes().to_vec()).map(Some),
        }
    }

    pub fn new(bytes: Vec<u8>) -> Result<Key, Problem> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(Problem::error(
                "dwlink::plan::weak_key",
                format!(
                    "{KEY_ENV} holds {} bytes; plan signatures need at least {MIN_KEY_BYTES}",
                    bytes.len()
                ),
            )
            .help(HELP_KEY));
        }
        Ok(Key(bytes))
    }

    fn mac(&self, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        m.update(DOMAIN);
        m.update(body);
        m
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(redacted)")
    }
}

/// The file to write for the pretty JSON `body` of a plan (which ends with `\n}`).
pub fn sign(body: &str, key: &Key) -> String {
    let open = body.strip_suffix("\n}").unwrap_or(body);
    let tag = hex(&key
        .mac(format!("{open}\n}}").as_bytes())
        .finalize()
        .into_bytes());
    format!("{open}{MEMBER}{tag}{END}")
}

/// How a plan file's signature stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// A key was set and the file's MAC is right.
    Valid,
    /// No key was set: nothing was checked (a signature, if any, was ignored).
    NoKey,
}

/// Check `bytes` (a whole plan file) against `key`.
pub fn verify(shown: &str, bytes: &[u8], key: Option<&Key>) -> Result<Checked, Problem> {
    let Some(key) = key else {
        return Ok(Checked::NoKey);
    };
    let text = std::str::from_utf8(bytes).unwrap_or("");
    let at = text.rfind(MEMBER);
    let tag = at.and_then(|i| text[i + MEMBER.len()..].strip_suffix(END));
    let (Some(at), Some(tag)) = (at, tag) else {
        return Err(Problem::error(
            "dwlink::plan::unsigned",
            format!("{shown} is not signed, and {KEY_ENV} is set: only plans signed with that key are applied"),
        )
        .help("make the plan with the same DWLINK_PLAN_KEY set (`dwlink plan --out PLAN`), or unset it to apply an unsigned plan you have reviewed"));
    };
    let body = format!("{}\n}}", &text[..at]);
    let ok = unhex(tag).is_some_and(|t| key.mac(body.as_bytes()).verify_slice(&t).is_ok());
    if !ok {
        return Err(Problem::error(
            "dwlink::plan::signature",
            format!("{shown} was altered since it was signed, or signed with another key: its signature does not match; nothing was changed"),
        )
        .help("apply the file exactly as `dwlink plan --out` wrote it, with the same DWLINK_PLAN_KEY as the job that planned; or plan again"));
    }
    Ok(Checked::Valid)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: u8) -> Key {
        Key::new(vec![c; 32]).unwrap()
    }

    const BODY: &str = "{\n  \"format_version\": \"1\",\n  \"actions\": []\n}";

    #[test]
    fn a_signed_file_is_json_that_verifies_and_any_change_fails() {
        let signed = sign(BODY, &key(1));
        let v: serde_json::Value = serde_json::from_str(&signed).unwrap();
        assert_eq!(v["format_version"], "1");
        assert!(v["signature"].as_str().unwrap().starts_with("hmac-sha256:"));
        assert_eq!(
            verify("p", signed.as_bytes(), Some(&key(1))).unwrap(),
            Checked::Valid
        );
        assert_eq!(
            verify("p", signed.as_bytes(), None).unwrap(),
            Checked::NoKey
        );
        let wrong = verify("p", signed.as_bytes(), Some(&key(2))).unwrap_err();
        assert_eq!(wrong.code, "dwlink::plan::signature");
        let edited = signed.replace("[]", "[ ]");
        let p = verify("p", edited.as_bytes(), Some(&key(1))).unwrap_err();
        assert_eq!(p.code, "dwlink::plan::signature");
        let unsigned = verify("p", BODY.as_bytes(), Some(&key(1))).unwrap_err();
        assert_eq!(unsigned.code, "dwlink::plan::unsigned");
        let truncated = &signed[..signed.len() - 3];
        assert!(verify("p", truncated.as_bytes(), Some(&key(1))).is_err());
    }

    #[test]
    fn short_keys_are_refused_and_never_printed() {
        let p = Key::new(b"hunter2".to_vec()).unwrap_err();
        assert_eq!(p.code, "dwlink::plan::weak_key");
        assert!(!p.message.contains("hunter2"));
        assert_eq!(format!("{:?}", key(7)), "Key(redacted)");
    }
}
