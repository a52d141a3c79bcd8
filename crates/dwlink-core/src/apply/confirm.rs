//! Confirmation: nothing destructive runs unless the user typed the environment's name, passed
//! it with `--confirm`, or explicitly chose `--auto-approve`.

use crate::diag::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    AutoApproved,
    ConfirmedByFlag,
    ConfirmedInteractively,
}

#[derive(Debug, Clone)]
pub struct ConfirmSettings<'a> {
    pub environment: &'a str,
    pub auto_approve: bool,
    pub confirm: Option<&'a str>,
    /// A human can answer a prompt (terminal on stdin and stderr, not `--input=false`).
    pub interactive: bool,
}

/// Decide without prompting when flags settle it; `Ok(None)` means "ask".
pub fn decide(s: &ConfirmSettings<'_>) -> Result<Option<Approval>, Problem> {
    if s.auto_approve {
        return Ok(Some(Approval::AutoApproved));
    }
    if let Some(name) = s.confirm {
        return if name == s.environment {
            Ok(Some(Approval::ConfirmedByFlag))
        } else {
            Err(Problem::error(
                "dwlink::apply::confirm_mismatch",
                format!(
                    "--confirm {name} does not name this environment ({})",
                    s.environment
                ),
            )
            .help(format!(
                "pass `--confirm {}` to apply to this environment",
                s.environment
            )))
        };
    }
    if !s.interactive {
        return Err(Problem::error(
            "dwlink::apply::not_confirmed",
            "apply needs a confirmation, and there is no terminal to ask",
        )
        .help(format!(
            "review the plan, then pass `--confirm {}` (or `--auto-approve` in CI)",
            s.environment
        )));
    }
    Ok(None)
}

/// Check a typed answer.
pub fn check_answer(s: &ConfirmSettings<'_>, answer: Option<&str>) -> Result<Approval, Problem> {
    match answer.map(str::trim) {
        Some(a) if a == s.environment => Ok(Approval::ConfirmedInteractively),
        _ => Err(Problem::error(
            "dwlink::apply::not_confirmed",
            "apply cancelled: the answer was not the environment's name",
        )
        .help("nothing was changed; run apply again when ready")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(auto: bool, confirm: Option<&'static str>, interactive: bool) -> ConfirmSettings<'static> {
        ConfirmSettings {
            environment: "uat",
            auto_approve: auto,
            confirm,
            interactive,
        }
    }

    #[test]
    fn flags_and_terminals_decide() {
        assert_eq!(
            decide(&s(true, None, false)).unwrap(),
            Some(Approval::AutoApproved)
        );
        assert_eq!(
            decide(&s(false, Some("uat"), false)).unwrap(),
            Some(Approval::ConfirmedByFlag)
        );
        assert!(decide(&s(false, Some("prod"), true)).is_err());
        assert!(decide(&s(false, None, false)).is_err());
        assert_eq!(decide(&s(false, None, true)).unwrap(), None);
        assert!(check_answer(&s(false, None, true), Some("uat\n")).is_ok());
        assert!(check_answer(&s(false, None, true), Some("yes")).is_err());
        assert!(check_answer(&s(false, None, true), None).is_err());
    }
}
