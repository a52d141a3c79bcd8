//! Live progress of an apply: one line per step and a bar for long ones (human), or one JSON
//! object per event (`--json`), each on its own line of stdout:
//!
//! - `{"event":"start","step":0,"total":11,"kind":"stop-maps","description":"…"}`
//! - `{"event":"progress","step":2,"done":250,"of":2400,"unit":"rows"}` (`unit`: `rows` or
//!   `requests`: asynchronous requests that reached their final state)
//! - `{"event":"done","step":0,"kind":"stop-maps","detail":"1 stopped"}` (clear-table steps add
//!   `"deleted"` and `"already_gone"`: rows removed by this apply, and rows that were gone already)
//! - `{"event":"failed","step":6,"kind":"reset-link","message":"…"}`
//! - `{"event":"interrupted","next":3,"total":11}` (Ctrl-C; run the same command again)
//! - `{"event":"summary",…}` last, after every step succeeded (see [`summary_json`]).

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use dwlink_core::apply::executor::{ApplyError, Outcome, StepEvent, StepResult, Unit};
use dwlink_core::plan::describe::describe;

use super::plan_view::thousands;
use super::shell::{paint, Shell, Style};

pub(crate) struct EventPrinter {
    json: bool,
    color: bool,
    quiet: bool,
    bars: bool,
    bar: Mutex<Option<ProgressBar>>,
    shell: Shell,
    /// The command that finishes this apply after a failure or an interruption, as the user
    /// typed it (see `cli::rerun`); `None`: "the same `dwlink apply`".
    rerun: Option<String>,
}

impl EventPrinter {
    pub(crate) fn new(json: bool, shell: &Shell) -> Self {
        EventPrinter {
            json,
            color: shell.color(),
            quiet: shell.quiet(),
            // Bars redraw in place: only for a human watching a terminal.
            bars: !json && shell.bars(),
            bar: Mutex::new(None),
            shell: shell.clone(),
            rerun: None,
        }
    }

    /// Name the command that finishes this apply in every hint.
    pub(crate) fn with_rerun(mut self, command: String) -> Self {
        self.rerun = Some(command);
        self
    }

    fn rerun(&self) -> String {
        match &self.rerun {
            Some(c) => format!("`{c}`"),
            None => "the same `dwlink apply`".into(),
        }
    }

    /// One JSON object on its own line, flushed at once so a reader sees each step as it happens.
    fn json_line(&self, value: &impl serde::Serialize) {
        let mut line = serde_json::to_vec(value).unwrap_or_default();
        line.push(b'\n');
        self.shell.out_raw(&line);
    }

    pub(crate) fn event(&self, e: StepEvent) {
        if self.json {
            self.json_line(&event_json(&e));
            return;
        }
        if self.quiet {
            return;
        }
        let mut bar = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            StepEvent::Start {
                step,
                total,
                action,
            } => {
                self.shell.err_line(&format!(
                    "[{}/{}] {} {}",
                    step + 1,
                    total,
                    action.kind().name(),
                    describe(&action)
                ));
            }
            StepEvent::Progress { done, of, unit, .. } => {
                if !self.bars {
                    return;
                }
                let b = bar.get_or_insert_with(|| new_bar(unit));
                b.set_length(of as u64);
                b.set_position(done as u64);
            }
            StepEvent::Done { result, .. } => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
                self.shell.err_line(&format!(
                    "      {}",
                    paint(self.color, Style::Good, &format!("✓ {result}"))
                ));
            }
            StepEvent::Failed { message, .. } => {
                if let Some(b) = bar.take() {
                    b.abandon();
                }
                self.shell.err_line(&format!(
                    "      {}",
                    paint(self.color, Style::Bad, &format!("✗ {message}"))
                ));
            }
            // The command says how to resume; nothing is in progress here.
            StepEvent::Interrupted { .. } => {}
        }
    }

    /// The last word of a successful apply.
    pub(crate) fn summary(&self, outcome: &Outcome) -> String {
        if self.json {
            self.json_line(&summary_json(outcome));
            return String::new();
        }
        let mut text = paint(
            self.color,
            Style::Good,
            &format!(
                "Apply complete: {} steps in {:.1}s.",
                outcome.steps,
                outcome.elapsed.as_secs_f64()
            ),
        );
        for c in &outcome.changes {
            text.push_str(&format!("\n  {:<20} {}", c.kind.name(), c.result));
        }
        if let Some(b) = &outcome.backup {
            let gone = match outcome.rows_already_gone {
                0 => String::new(),
                n => format!(", {} already gone", thousands(n)),
            };
            text.push_str(&format!(
                "\nBackup: {} ({} rows; {} deleted{gone}). Put them back with `dwlink restore {}`.",
                b.display(),
                thousands(outcome.rows_backed_up),
                thousands(outcome.rows_deleted),
                b.display()
            ));
        }
        text
    }

    /// The end of an apply: its summary, or what failed and how to finish.
    pub(crate) fn finished(&self, result: &Result<Outcome, ApplyError>) {
        let also = |backup: &Option<std::path::PathBuf>| {
            backup
                .as_ref()
                .map(|b| format!("; backup: {}", b.display()))
                .unwrap_or_default()
        };
        match result {
            Ok(outcome) => {
                let text = self.summary(outcome);
                if !text.is_empty() {
                    self.shell.status(&text);
                }
            }
            Err(ApplyError::Failed {
                step,
                problem,
                journal,
                backup,
            }) => {
                self.shell.problem(problem);
                self.shell.status(&format!(
                    "Step {} failed. Journal: {}{}. Run {} again to finish from live state.",
                    step + 1,
                    journal.display(),
                    also(backup),
                    self.rerun()
                ));
            }
            Err(ApplyError::Interrupted {
                completed,
                journal,
                backup,
            }) => self.shell.status(&format!(
                "Interrupted after {completed} step(s). Journal: {}{}. Run {} again to finish.",
                journal.display(),
                also(backup),
                self.rerun()
            )),
            Err(ApplyError::Io(p)) => self.shell.problem(p),
            Err(ApplyError::Refused(r)) => self.shell.problem(&r.to_problem()),
        }
    }

    /// Announce, once, that Ctrl-C was heard.
    pub(crate) fn interrupt_notice(&self, second: bool) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            b.suspend(|| {});
        }
        let text = if second {
            format!(
                "Interrupted again: stopping now. Run {} to finish from the journal and live state.",
                self.rerun()
            )
        } else {
            "Interrupt received: stopping after the current step (press Ctrl-C again to stop at once).".into()
        };
        self.shell.err_line(&paint(self.color, Style::Warn, &text));
    }
}

/// The JSON line of one event (the shapes in this module's documentation).
pub(crate) fn event_json(e: &StepEvent) -> serde_json::Value {
    match e {
        StepEvent::Start {
            step,
            total,
            action,
        } => json!({
            "event": "start", "step": step, "total": total,
            "kind": action.kind(), "description": describe(action),
        }),
        StepEvent::Progress {
            step,
            done,
            of,
            unit,
        } => json!({"event": "progress", "step": step, "done": done, "of": of, "unit": unit}),
        StepEvent::Done { step, kind, result } => {
            let mut v =
                json!({"event": "done", "step": step, "kind": kind, "detail": result.to_string()});
            if let StepResult::Cleared {
                deleted,
                already_gone,
                ..
            } = result
            {
                v["deleted"] = json!(deleted);
                v["already_gone"] = json!(already_gone);
            }
            v
        }
        StepEvent::Failed {
            step,
            kind,
            message,
        } => json!({"event": "failed", "step": step, "kind": kind, "message": message}),
        StepEvent::Interrupted { next, total } => {
            json!({"event": "interrupted", "next": next, "total": total})
        }
    }
}

/// `{"event":"summary","steps":…,"elapsed_ms":…,"changes":[{"kind","detail"}],"backup":…,
/// "rows_backed_up":…,"rows_deleted":…,"journal":…}`
pub(crate) fn summary_json(o: &Outcome) -> serde_json::Value {
    json!({
        "event": "summary",
        "steps": o.steps,
        "elapsed_ms": o.elapsed.as_millis() as u64,
        "changes": o
            .changes
            .iter()
            .map(|c| json!({"kind": c.kind, "detail": c.result.to_string()}))
            .collect::<Vec<_>>(),
        "backup": o.backup.as_ref().map(|b| b.display().to_string()),
        "rows_backed_up": o.rows_backed_up,
        "rows_deleted": o.rows_deleted,
        "rows_already_gone": o.rows_already_gone,
        "journal": o.journal.display().to_string(),
    })
}

fn new_bar(unit: Unit) -> ProgressBar {
    let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let template = match unit {
        Unit::Rows => "      {bar:40} {pos}/{len} rows {per_sec} eta {eta}",
        Unit::Requests => "      {spinner} {pos}/{len} requests completed, {elapsed} waited",
    };
    b.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if unit == Unit::Requests {
        b.enable_steady_tick(std::time::Duration::from_millis(120));
    }
    b
}
