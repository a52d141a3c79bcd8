//! Ctrl-C anywhere says what happened. The apply's steps watch for it themselves (finish the
//! step, then stop: `apply::one`); everywhere else nothing has been changed yet, and the user is
//! told so instead of the process vanishing silently.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::render::shell::Shell;

/// What the command is doing, for the message a Ctrl-C gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    Starting = 0,
    Reading = 1,
    Prompt = 2,
    /// The executor runs: its own watcher answers Ctrl-C.
    Applying = 3,
    /// `restore` puts rows back.
    Restoring = 4,
}

static PHASE: AtomicU8 = AtomicU8::new(Phase::Starting as u8);

pub(crate) fn set(phase: Phase) {
    PHASE.store(phase as u8, Ordering::SeqCst);
}

/// Exit status after an interrupt, as shells report a SIGINT.
const INTERRUPTED: i32 = 130;

/// Watch for Ctrl-C for the whole process (the real binary only: tests run in-process).
pub(crate) fn install(ui: &Shell) {
    let ui = ui.clone();
    let _ = std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                while tokio::signal::ctrl_c().await.is_ok() {
                    let text = match PHASE.load(Ordering::SeqCst) {
                        x if x == Phase::Applying as u8 => continue,
                        x if x == Phase::Reading as u8 => {
                            "Interrupted while reading live state: nothing was changed."
                        }
                        x if x == Phase::Prompt as u8 => {
                            "Interrupted at the confirmation: nothing was applied."
                        }
                        x if x == Phase::Restoring as u8 => {
                            "Interrupted while putting rows back: the rows already restored stay; run the same `dwlink restore` again to finish (rows that exist are skipped)."
                        }
                        _ => "Interrupted: nothing was changed.",
                    };
                    ui.err_line(text);
                    std::process::exit(INTERRUPTED);
                }
            });
        });
}
