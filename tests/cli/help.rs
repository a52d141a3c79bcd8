//! Help, man page and completions: generated from the same clap definitions, and every command
//! shows an example.

use crate::support::{code, dwlink, root, stdout};

const COMMANDS: &[&str] = &[
    "validate",
    "plan",
    "apply",
    "show",
    "status",
    "doctor",
    "import",
    "restore",
    "login",
    "schema",
    "snapshot",
    "completions",
    "man",
    "emulator",
    "conformance",
];

#[test]
fn every_command_help_has_an_example() {
    for c in COMMANDS {
        let o = dwlink(&root(), &[c, "--help"]);
        assert_eq!(code(&o), 0, "{c}");
        assert!(
            stdout(&o).contains("Example"),
            "`dwlink {c} --help` shows no example:\n{}",
            stdout(&o)
        );
    }
    let o = dwlink(&root(), &["--help"]);
    for c in COMMANDS {
        let example = format!("  dwlink {c} ");
        assert!(
            stdout(&o).contains(&example),
            "`dwlink --help` has no example of {c}"
        );
    }
}

#[test]
fn completions_cover_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let o = dwlink(&root(), &["completions", shell]);
        assert_eq!(code(&o), 0, "{shell}");
        let text = stdout(&o);
        assert!(
            !text.trim().is_empty() && text.contains("plan"),
            "{shell}: {text}"
        );
    }
}

#[test]
fn man_page_is_roff_listing_the_commands() {
    let o = dwlink(&root(), &["man"]);
    assert_eq!(code(&o), 0);
    let text = stdout(&o);
    assert!(
        text.starts_with(".ie") || text.contains(".TH dwlink"),
        "{text}"
    );
    for c in ["import", "snapshot", "plan", "apply"] {
        assert!(text.contains(c), "the man page lacks {c}");
    }
    let dir = crate::support::scratch("man");
    let o = dwlink(&root(), &["man", "--out-dir", &dir.display().to_string()]);
    assert_eq!(code(&o), 0);
    for page in ["dwlink.1", "dwlink-import.1", "dwlink-snapshot.1"] {
        assert!(dir.join(page).is_file(), "{page} missing");
    }
}
