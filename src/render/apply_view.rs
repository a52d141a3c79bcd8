//! Live progress of an apply: one line per step and a bar for long ones (human), or one JSON
//! object per event (`--json`).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::apply::executor::StepEvent;

use super::ui::{paint, Style};

pub struct EventPrinter {
    json: bool,
    color: bool,
    bars: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl EventPrinter {
    pub fn new(json: bool, color: bool, quiet: bool) -> Self {
        EventPrinter {
            json,
            color,
            bars: !json && !quiet && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }

    pub fn event(&self, e: StepEvent) {
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = serde_json::to_writer(&mut out, &e);
            let _ = out.write_all(b"\n");
            let _ = out.flush();
            return;
        }
        let mut bar = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            StepEvent::Start {
                step,
                total,
                kind,
                description,
            } => {
                eprintln!("[{}/{}] {} {}", step + 1, total, kind.name(), description);
            }
            StepEvent::Progress { done, of, .. } => {
                if !self.bars {
                    return;
                }
                let b = bar.get_or_insert_with(|| {
                    let b = ProgressBar::with_draw_target(
                        Some(of as u64),
                        ProgressDrawTarget::stderr(),
                    );
                    b.set_style(
                        ProgressStyle::with_template(
                            "      {bar:40} {pos}/{len} rows {per_sec} eta {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b
                });
                b.set_length(of as u64);
                b.set_position(done as u64);
            }
            StepEvent::Done { detail, .. } => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
                eprintln!(
                    "      {}",
                    paint(self.color, Style::Good, &format!("✓ {detail}"))
                );
            }
            StepEvent::Failed { message, .. } => {
                if let Some(b) = bar.take() {
                    b.abandon();
                }
                eprintln!(
                    "      {}",
                    paint(self.color, Style::Bad, &format!("✗ {message}"))
                );
            }
        }
    }
}
