//! The shell: the one place that writes to the terminal (or, in tests, to any writer). It knows
//! colour, verbosity and whether a human is there to answer prompts; everything else hands it
//! values.

use std::collections::VecDeque;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use miette::{GraphicalReportHandler, GraphicalTheme};

use dwlink_core::diag::{Problem, Problems, Severity};
use dwlink_core::plan::describe::{plural, thousands};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

#[derive(Debug, Clone)]
pub struct UiSettings {
    /// Colour on stderr (diagnostics, progress).
    pub color: bool,
    /// Colour on stdout (rendered plans and status): off when piped into a file or another
    /// program, whatever stderr is.
    pub color_out: bool,
    pub verbosity: Verbosity,
    /// `false` with `--input=false` or when stdin is not a terminal: never prompt.
    pub interactive: bool,
    /// `-vv`: HTTP lines also show the reply's headers (scrubbed).
    pub very_verbose: bool,
}

impl UiSettings {
    /// Resolve flags and the environment once, before any output (so even early errors come
    /// out in the requested style).
    pub fn resolve(no_color: bool, quiet: bool, verbose: u8, input: bool) -> Self {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let wanted = !no_color && !no_color_env;
        let color = wanted && io::stderr().is_terminal();
        let color_out = wanted && io::stdout().is_terminal();
        let verbosity = if quiet {
            Verbosity::Quiet
        } else if verbose > 0 {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        UiSettings {
            color,
            color_out,
            verbosity,
            interactive: input && io::stdin().is_terminal() && io::stderr().is_terminal(),
            very_verbose: !quiet && verbose > 1,
        }
    }
}

/// Diagnostics drawn per [`Shell::problems`] call.
pub const MAX_SHOWN: usize = 50;
/// Bytes of diagnostics [`Shell::problems`] draws in one command (the rest are counted): each
/// is bounded ([`Problem::bounded`]), and together they stay well under 100 KB whatever the input.
pub const MAX_DRAWN: usize = 64 * 1024;

/// Where the shell's two streams go: the process's stdout/stderr, or any writers (tests).
type Stream = Arc<Mutex<Box<dyn Write + Send>>>;

/// The one way output reaches a person: results on `out`, progress and diagnostics on `err`.
/// Cheap to clone (clones share the streams), so the apply's event printer and the device-code
/// prompt write through the same shell from other tasks.
#[derive(Clone)]
pub struct Shell {
    settings: UiSettings,
    out: Stream,
    err: Stream,
    /// Whether `err` is a terminal that progress bars may redraw in place.
    err_is_terminal: bool,
    /// Answers for prompts when the shell is not a terminal's (tests); `None`: ask on the terminal.
    answers: Option<Arc<Mutex<VecDeque<String>>>>,
    /// The global `--record FILE`: carried with the shell because every command is handed one,
    /// and the live plumbing (`cli::live::route`) reaches it from there.
    recording: Option<Arc<crate::record::Recording>>,
    /// `--json`: every error also goes to stdout as one `{"error":{…}}` line, so a program
    /// reading stdout sees why a command refused (the human report stays on stderr).
    json_errors: bool,
    /// The emulator a live command talks to, once its route is known: results say so.
    emulator: Arc<Mutex<Option<String>>>,
    /// `--state-dir` of a command that has one: plans and apply name the backups' folder in it.
    state_dir: Arc<Mutex<Option<String>>>,
    /// Members every JSON line of this run carries (a fleet's `environment` and `file`), so a
    /// reader of a fleet's stream knows whose event each line is.
    json_tag: Arc<Mutex<serde_json::Map<String, serde_json::Value>>>,
    /// Placeholder commands in help lines (`dwlink plan --out PLAN`) and the command that runs
    /// as printed for this invocation, set by the command that knows it.
    hint_fills: Arc<Mutex<Vec<(String, String)>>>,
    /// While live reads run on a terminal: a spinner naming the service that last answered.
    /// Cleared by any other output, so lines never interleave with it.
    spinner: Arc<Mutex<Option<indicatif::ProgressBar>>>,
    /// Bytes [`Shell::problems`] drew so far, shared by clones.
    drawn: Arc<std::sync::atomic::AtomicUsize>,
}

fn stream(w: impl Write + Send + 'static) -> Stream {
    Arc::new(Mutex::new(Box::new(w)))
}

/// Everything the shell writes passes [`dwlink_core::scrub`] first: no secret dwlink holds,
/// and nothing shaped like one, reaches the terminal.
fn write_to(s: &Stream, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let scrubbed = dwlink_core::scrub::text(&text);
    let mut w = s.lock().unwrap_or_else(|p| p.into_inner());
    let _ = w.write_all(scrubbed.as_bytes());
    let _ = w.flush();
}

impl Shell {
    /// The process's stdout and stderr.
    pub fn new(settings: UiSettings) -> Self {
        Shell {
            settings,
            out: stream(io::stdout()),
            err: stream(io::stderr()),
            err_is_terminal: io::stderr().is_terminal(),
            answers: None,
            recording: None,
            json_errors: false,
            emulator: Arc::default(),
            state_dir: Arc::default(),
            hint_fills: Arc::default(),
            json_tag: Arc::default(),
            spinner: Arc::default(),
            drawn: Arc::default(),
        }
    }

    /// A shell over any writers, never a terminal: no colour, no bars, no prompts unless
    /// [`Shell::with_answers`] scripts them.
    pub fn from_write(
        out: impl Write + Send + 'static,
        err: impl Write + Send + 'static,
        verbosity: Verbosity,
    ) -> Self {
        Shell {
            settings: UiSettings {
                color: false,
                color_out: false,
                verbosity,
                interactive: false,
                very_verbose: false,
            },
            out: stream(out),
            err: stream(err),
            err_is_terminal: false,
            answers: None,
            recording: None,
            json_errors: false,
            emulator: Arc::default(),
            state_dir: Arc::default(),
            hint_fills: Arc::default(),
            json_tag: Arc::default(),
            spinner: Arc::default(),
            drawn: Arc::default(),
        }
    }

    /// Answer the next prompts with these lines, in order (makes the shell interactive).
    pub fn with_answers(mut self, answers: impl IntoIterator<Item = String>) -> Self {
        self.answers = Some(Arc::new(Mutex::new(answers.into_iter().collect())));
        self.settings.interactive = true;
        self
    }

    pub fn with_recording(mut self, recording: Option<crate::record::Recording>) -> Self {
        self.recording = recording.map(Arc::new);
        self
    }

    /// `-vv` for a shell over writers (tests).
    pub fn set_very_verbose(&mut self, on: bool) {
        self.settings.very_verbose = on;
    }

    /// Show (or update) the spinner with `message`; only on a terminal, never with --quiet.
    pub fn spin(&self, message: &str) {
        if !self.bars() {
            return;
        }
        let mut spinner = self.spinner.lock().unwrap_or_else(|p| p.into_inner());
        let bar = spinner.get_or_insert_with(|| {
            let b = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            {
                b.set_style(style);
            }
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        bar.set_message(message.to_string());
    }

    /// Take the spinner off the screen (before any other output).
    pub fn stop_spinner(&self) {
        if let Some(b) = self
            .spinner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            b.finish_and_clear();
        }
    }

    /// See the `json_errors` field.
    pub fn set_json_errors(&mut self, on: bool) {
        self.json_errors = on;
    }

    /// Remember that live reads go to the emulator at `url` (shared by every clone).
    pub fn set_emulator(&self, url: Option<String>) {
        *self.emulator.lock().unwrap_or_else(|p| p.into_inner()) = url;
    }

    /// Tag every JSON line from now on with `members` (empty: no tag).
    pub fn set_json_tag(&self, members: serde_json::Map<String, serde_json::Value>) {
        *self.json_tag.lock().unwrap_or_else(|p| p.into_inner()) = members;
    }

    /// One JSON object as a line on stdout, with the run's tag, flushed at once.
    pub fn json_line(&self, value: &impl serde::Serialize) {
        let mut value = serde_json::to_value(value).unwrap_or_default();
        if let serde_json::Value::Object(m) = &mut value {
            let tag = self.json_tag.lock().unwrap_or_else(|p| p.into_inner());
            for (k, v) in tag.iter() {
                m.insert(k.clone(), v.clone());
            }
        }
        let mut line = serde_json::to_vec(&value).unwrap_or_default();
        line.push(b'\n');
        write_to(&self.out, &line);
    }

    /// From now on, help lines that name `placeholder` name `command` instead (shared by every
    /// clone): every hint runs as printed.
    pub fn fill_hint(&self, placeholder: &str, command: &str) {
        self.hint_fills
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((placeholder.into(), command.into()));
    }

    fn filled(&self, problem: &Problem) -> Problem {
        let fills = self.hint_fills.lock().unwrap_or_else(|p| p.into_inner());
        let mut p = problem.clone();
        if let Some(help) = &mut p.help {
            for (from, to) in fills.iter() {
                *help = help.replace(from.as_str(), to);
            }
        }
        p
    }

    /// Remember the command's `--state-dir` (shared by every clone).
    pub fn set_state_dir(&self, dir: &std::path::Path) {
        *self.state_dir.lock().unwrap_or_else(|p| p.into_inner()) = Some(dir.display().to_string());
    }

    /// The state directory backups go to, as plans name it.
    pub fn state_dir(&self) -> String {
        self.state_dir
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| dwlink_core::plan::describe::DEFAULT_STATE_DIR.into())
    }

    /// The emulator's address when live reads go to one.
    pub fn emulator(&self) -> Option<String> {
        self.emulator
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn recording(&self) -> Option<&crate::record::Recording> {
        self.recording.as_deref()
    }

    pub fn settings(&self) -> &UiSettings {
        &self.settings
    }

    pub fn color(&self) -> bool {
        self.settings.color
    }

    /// Whether what goes through [`Shell::out`] may carry colour.
    pub fn color_out(&self) -> bool {
        self.settings.color_out
    }

    pub fn quiet(&self) -> bool {
        self.settings.verbosity == Verbosity::Quiet
    }

    /// Whether progress bars may be drawn on `err`.
    pub fn bars(&self) -> bool {
        self.err_is_terminal && !self.quiet()
    }

    /// Results: what the command was asked to produce. Always printed, even with `--quiet`.
    pub fn out(&self, text: &str) {
        self.stop_spinner();
        if text.ends_with('\n') {
            write_to(&self.out, text.as_bytes());
        } else {
            write_to(&self.out, format!("{text}\n").as_bytes());
        }
    }

    /// Machine-readable output exactly as given (one JSON object per line, say).
    pub fn out_raw(&self, bytes: &[u8]) {
        write_to(&self.out, bytes);
    }

    /// Progress and summaries for a human, on stderr; silenced by `--quiet`.
    pub fn status(&self, text: &str) {
        if !self.quiet() {
            self.err_line(text);
        }
    }

    /// A line on stderr whatever the verbosity: what the user must act on (a sign-in code).
    pub fn err_line(&self, text: &str) {
        self.stop_spinner();
        write_to(&self.err, format!("{text}\n").as_bytes());
    }

    pub fn verbose(&self, text: &str) {
        if self.settings.verbosity == Verbosity::Verbose {
            self.err_line(text);
        }
    }

    /// At most [`MAX_SHOWN`] of them, then one line that counts the rest: a generated file can
    /// hold 150,000 problems, and the first few are what a person fixes first.
    pub fn problems(&self, problems: &Problems) {
        let quiet = self.quiet();
        use std::sync::atomic::Ordering;
        let (mut errors, mut warnings, mut shown) = (0usize, 0usize, 0usize);
        for p in problems
            .iter()
            .filter(|p| !quiet || p.severity == Severity::Error)
        {
            if shown < MAX_SHOWN && self.drawn.load(Ordering::Relaxed) < MAX_DRAWN {
                let p = &self.filled(p);
                self.json_error(p);
                let text = render_problem(p, self.settings.color);
                self.drawn.fetch_add(text.len(), Ordering::Relaxed);
                write_to(&self.err, text.as_bytes());
                shown += 1;
            } else if p.is_error() {
                errors += 1;
            } else {
                warnings += 1;
            }
        }
        if errors + warnings > 0 {
            let line = format!(
                "… and {} more problem{} ({} error{}, {} warning{}), not shown",
                thousands(errors + warnings),
                plural(errors + warnings),
                thousands(errors),
                plural(errors),
                thousands(warnings),
                plural(warnings)
            );
            self.err_line(&paint(self.settings.color, Style::Dim, &line));
        }
    }

    /// Errors always show; warnings and advice are silenced by `--quiet`.
    pub fn problem(&self, problem: &Problem) {
        let problem = &self.filled(problem);
        self.json_error(problem);
        if problem.severity != Severity::Error && self.quiet() {
            return;
        }
        let text = render_problem(problem, self.settings.color);
        self.stop_spinner();
        write_to(&self.err, text.as_bytes());
    }

    /// Ask a question; `None` when there is no one to answer or input ended.
    pub fn prompt(&self, question: &str) -> Option<String> {
        self.stop_spinner();
        if !self.settings.interactive {
            return None;
        }
        if let Some(answers) = &self.answers {
            self.err_line(&format!("{question}: "));
            return answers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
        }
        dialoguer::Input::<String>::new()
            .with_prompt(question)
            .allow_empty(true)
            .interact_text()
            .ok()
    }

    /// Paint `text` with a semantic style when colour is on.
    pub fn paint(&self, style: Style, text: &str) -> String {
        paint(self.settings.color, style, text)
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Style {
    Good,
    Bad,
    Warn,
    Dim,
    Bold,
}

pub(crate) fn paint(color: bool, style: Style, text: &str) -> String {
    if !color {
        return text.to_string();
    }
    let code = match style {
        Style::Good => "32",
        Style::Bad => "31",
        Style::Warn => "33",
        Style::Dim => "2",
        Style::Bold => "1",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// `{"error":{"code","severity","message","help"}}`: a refusal or failure for a program.
impl Shell {
    /// Under `--json`, an error as one `{"error":{…}}` line on stdout, clipped as the drawn
    /// diagnostic is.
    fn json_error(&self, problem: &Problem) {
        if self.json_errors && problem.is_error() {
            self.json_line(&error_json(&problem.bounded()));
        }
    }
}

pub(crate) fn error_json(problem: &Problem) -> serde_json::Value {
    serde_json::json!({"error": {
        "code": problem.code,
        "severity": problem.severity.to_string(),
        "message": problem.message,
        "help": problem.help,
    }})
}

/// A problem as miette draws it. The width is fixed so output does not depend on the terminal
/// that ran the tests.
pub(crate) fn render_problem(problem: &Problem, color: bool) -> String {
    let problem = &problem.bounded();
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_context_lines(1)
        .with_wrap_lines(false);
    let mut text = String::new();
    let rendered = match super::clip::clipped(problem) {
        Some(clipped) => handler.render_report(&mut text, &clipped),
        None => handler.render_report(&mut text, problem),
    };
    if rendered.is_err() {
        text = format!("{}: {}\n", problem.code, problem.message);
    }
    text
}
