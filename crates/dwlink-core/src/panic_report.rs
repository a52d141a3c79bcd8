//! What a panic prints: a short message whose payload, location and (only when `RUST_BACKTRACE`
//! asks for it) backtrace pass the one scrubber, never Rust's default report. A panic's payload
//! is whatever text the failing code formatted, which may quote a reply, a header or a token;
//! the default hook would print it raw to the terminal.

use std::io::Write;

/// At most this much of a payload is printed: a panic formatted around a whole reply body must
/// not flood the terminal.
pub const MAX_PAYLOAD_CHARS: usize = 2000;

/// Replace the default panic hook with [`report`] written to stderr. `program` names the binary
/// in the message.
pub fn install(program: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        let backtrace =
            wants_backtrace().then(|| std::backtrace::Backtrace::force_capture().to_string());
        let text = report(program, &payload, location.as_deref(), backtrace.as_deref());
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }));
}

/// `RUST_BACKTRACE` set to anything but `0`, as the default hook reads it.
fn wants_backtrace() -> bool {
    std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0")
}

/// The panic message as printed: every part scrubbed (held secrets by value, tokens by shape),
/// the payload clipped to [`MAX_PAYLOAD_CHARS`].
pub fn report(
    program: &str,
    payload: &str,
    location: Option<&str>,
    backtrace: Option<&str>,
) -> String {
    let scrubbed = crate::scrub::text(payload);
    let total = scrubbed.chars().count();
    let mut shown: String = scrubbed.chars().take(MAX_PAYLOAD_CHARS).collect();
    if total > MAX_PAYLOAD_CHARS {
        shown.push_str(&format!("… ({} more)", total - MAX_PAYLOAD_CHARS));
    }
    let mut out = format!(
        "{program} crashed: this is a bug in {program}, please report it.\n  panic: {shown}\n"
    );
    if let Some(at) = location {
        out.push_str(&format!("  at: {}\n", crate::scrub::text(at)));
    }
    match backtrace {
        Some(bt) => {
            out.push_str("  backtrace:\n");
            out.push_str(&crate::scrub::text(bt));
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        None => out.push_str("  (set RUST_BACKTRACE=1 for a backtrace)\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_scrubs_the_payload_location_and_backtrace() {
        let secret = "panic-held-Secret~value.1234";
        crate::scrub::hold(secret);
        let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        let payload = format!("called unwrap on {secret} with access_token={jwt}");
        let out = report(
            "dwlink",
            &payload,
            Some("src/x.rs:1"),
            Some(&format!("0: frame holding {secret}\n")),
        );
        assert!(!out.contains(secret), "{out}");
        assert!(!out.contains(jwt), "{out}");
        assert!(out.starts_with("dwlink crashed: this is a bug"), "{out}");
        assert!(out.contains("at: src/x.rs:1"), "{out}");
        assert!(
            out.contains("backtrace:\n0: frame holding [redacted]\n"),
            "{out}"
        );
        let no_bt = report("dwlink", "boom", None, None);
        assert!(no_bt.contains("set RUST_BACKTRACE=1"), "{no_bt}");
    }

    #[test]
    fn a_long_payload_is_clipped() {
        let out = report("dwlink", &"x ".repeat(5000), None, None);
        assert!(out.len() < MAX_PAYLOAD_CHARS + 300, "{}", out.len());
        assert!(out.contains("… (8000 more)"), "{out}");
    }
}
