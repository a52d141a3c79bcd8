//! Live progress of an apply: one line per step and a bar for long ones (human), or one JSON
//! object per event (`--json`), each on its own line of stdout:
//!
//! - `{"event":"start","step":0,"total":11,"kind":"stop-maps","description":"…"}`
//! - `{"event":"progress","step":2,"done":250,"of":2400,"unit":"rows"}` (`unit`: `rows` or
//!   `requests`: asynchronous requests that reached their final state). At most one per tenth
//!   of the step and per quarter second, and always the last: a few lines per step, however
//!   many rows
//! - `{"event":"done","step":0,"kind":"stop-maps","detail":"1 stopped","elapsed_ms":2100}`
//!   (clear-table steps add `"deleted"` and `"already_gone"`: rows removed by this apply, and
//!   rows that were gone already; the backup step adds `"rows"` and `"path"`)
//! - `{"event":"failed","step":6,"kind":"reset-link","message":"…"}`
//! - `{"event":"interrupted","next":3,"total":11}` (Ctrl-C; run the same command again)
//! - `{"event":"summary",…}` last, after every step succeeded (see [`summary_json`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use dwlink_core::apply::executor::{ApplyError, Outcome, StepEvent, StepResult, Unit};
use dwlink_core::plan::describe::{describe, describe_in};

use super::plan_view::thousands;
use super::shell::{paint, Shell, Style};

pub(crate) struct EventPrinter {
    json: bool,
    /// `--format markdown`: progress as for a human, the result as a Markdown report.
    markdown: bool,
    color: bool,
    quiet: bool,
    bars: bool,
    bar: Mutex<Option<ProgressBar>>,
    shell: Shell,
    /// The command that finishes this apply after a failure or an interruption, as the user
    /// typed it (see `cli::rerun`); `None`: "the same `dwlink apply`".
    rerun: Option<String>,
    /// When the running step started, and how long each finished step took (in order).
    timing: Mutex<Timing>,
}

#[derive(Default)]
struct Timing {
    /// Steps that are running (clear-table steps run side by side), by step number.
    started: std::collections::HashMap<usize, Instant>,
    /// In the order steps finished, which is the order of `Outcome::changes`.
    steps: Vec<Duration>,
    /// The last progress event written as JSON per step: its tenth of the step, and time.
    last_progress: std::collections::HashMap<usize, (usize, Instant)>,
}

/// How far apart JSON progress events are at least.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// `2.1 s`, `48 s`, `3 min 5 s`: a step's duration as the summary and the step lines show it.
pub(crate) fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 60.0 {
        format!("{} s", s.round() as u64)
    } else {
        let whole = s.round() as u64;
        format!("{} min {} s", whole / 60, whole % 60)
    }
}

impl EventPrinter {
    pub(crate) fn new(json: bool, shell: &Shell) -> Self {
        EventPrinter {
            json,
            markdown: false,
            color: shell.color(),
            quiet: shell.quiet(),
            // Bars redraw in place: only for a human watching a terminal.
            bars: !json && shell.bars(),
            bar: Mutex::new(None),
            shell: shell.clone(),
            timing: Mutex::new(Timing::default()),
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

    pub(crate) fn markdown(shell: &Shell) -> Self {
        EventPrinter {
            markdown: true,
            ..EventPrinter::new(false, shell)
        }
    }

    fn timing(&self) -> std::sync::MutexGuard<'_, Timing> {
        self.timing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A step ended: how long it took, remembered for the summary.
    fn step_took(&self, step: usize) -> Duration {
        let mut t = self.timing();
        let took = t
            .started
            .remove(&step)
            .map(|s| s.elapsed())
            .unwrap_or_default();
        t.steps.push(took);
        took
    }

    /// Whether a JSON progress event is worth a line: the last one of a step always is, others
    /// only in a new tenth of the step and a quarter second after the previous line.
    fn progress_due(&self, step: usize, done: usize, of: usize) -> bool {
        let tenth = (done * 10).checked_div(of).unwrap_or(10);
        let mut t = self.timing();
        let due = match t.last_progress.get(&step) {
            _ if done >= of => true,
            Some((last_tenth, at)) => tenth > *last_tenth && at.elapsed() >= PROGRESS_EVERY,
            None => true,
        };
        if due {
            t.last_progress.insert(step, (tenth, Instant::now()));
        }
        due
    }

    /// One JSON object on its own line, flushed at once so a reader sees each step as it happens.
    fn json_line(&self, value: &impl serde::Serialize) {
        self.shell.json_line(value);
    }

    pub(crate) fn event(&self, e: StepEvent) {
        let took = match &e {
            StepEvent::Start { step, .. } => {
                self.timing().started.insert(*step, Instant::now());
                None
            }
            StepEvent::Done { step, .. } | StepEvent::Failed { step, .. } => {
                Some(self.step_took(*step))
            }
            _ => None,
        };
        if self.json {
            if let StepEvent::Progress { step, done, of, .. } = &e {
                if !self.progress_due(*step, *done, *of) {
                    return;
                }
            }
            let mut line = event_json(&e);
            if let Some(took) = took {
                line["elapsed_ms"] = json!(took.as_millis() as u64);
            }
            self.json_line(&line);
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
                    describe_in(&action, &self.shell.state_dir())
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
                let took = seconds(took.unwrap_or_default());
                self.shell.err_line(&format!(
                    "      {}",
                    paint(
                        self.color,
                        Style::Good,
                        &format!("✓ {result}, after {took}")
                    )
                ));
            }
            StepEvent::Failed { message, .. } => {
                if let Some(b) = bar.take() {
                    b.abandon();
                }
                let took = seconds(took.unwrap_or_default());
                self.shell.err_line(&format!(
                    "      {}",
                    paint(
                        self.color,
                        Style::Bad,
                        &format!("✗ {message}, after {took}")
                    )
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
        if self.markdown {
            return super::markdown_view::applied(outcome, &self.timing().steps);
        }
        let color = self.shell.color_out();
        let mut text = paint(
            color,
            Style::Good,
            &format!(
                "Apply complete: {} steps in {}.",
                outcome.steps,
                seconds(outcome.elapsed)
            ),
        );
        let took = self.timing().steps.clone();
        for (i, c) in outcome.changes.iter().enumerate() {
            let after = took
                .get(i)
                .map(|d| format!(", after {}", seconds(*d)))
                .unwrap_or_default();
            text.push_str(&format!("\n  {:<20} {}{after}", c.kind.name(), c.result));
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
            // Results, on stdout: `apply | tee apply.log` keeps them and the backup's path.
            Ok(outcome) => {
                let text = self.summary(outcome);
                if !text.is_empty() {
                    self.shell.out(&text);
                }
            }
            Err(ApplyError::Failed {
                step,
                problem,
                journal,
                backup,
            }) => {
                self.shell.problem(problem);
                self.result_line(&format!(
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
            }) => self.result_line(&format!(
                "Interrupted after {completed} step(s). Journal: {}{}. Run {} again to finish.",
                journal.display(),
                also(backup),
                self.rerun()
            )),
            Err(ApplyError::Io(p)) => self.shell.problem(p),
            Err(ApplyError::Refused(r)) => self.shell.problem(&r.to_problem()),
        }
    }

    /// How an unfinished apply ended, on stdout (a JSON object under `--json`).
    fn result_line(&self, text: &str) {
        if self.json {
            self.json_line(&json!({"event": "stopped", "message": text}));
        } else {
            self.shell.out(text);
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
            match result {
                StepResult::Cleared {
                    deleted,
                    already_gone,
                    ..
                } => {
                    v["deleted"] = json!(deleted);
                    v["already_gone"] = json!(already_gone);
                }
                StepResult::BackedUp { rows, path } => {
                    v["rows"] = json!(rows);
                    v["path"] = json!(path.display().to_string());
                }
                _ => {}
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
        Unit::Rows => "      {bar:40} {human_pos}/{human_len} rows {rate} eta {eta}",
        Unit::Requests => "      {spinner} {pos}/{len} requests completed, {elapsed} waited",
    };
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        // A whole number with separators: "17,969/s", not indicatif's "17969.0507/s".
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", thousands(state.per_sec().round() as usize));
            },
        );
    b.set_style(style);
    if unit == Unit::Requests {
        b.enable_steady_tick(std::time::Duration::from_millis(120));
    }
    b
}
