//! The one place that writes to the terminal: knows colour, verbosity and whether a human is
//! there to answer prompts. Everything else hands it values.

use std::io::{self, IsTerminal, Write};

use miette::{GraphicalReportHandler, GraphicalTheme};

use dwlink_core::diag::{Problem, Problems, Severity};

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
        }
    }
}

pub struct Ui {
    settings: UiSettings,
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
}

impl Ui {
    pub fn new(settings: UiSettings) -> Self {
        Ui {
            settings,
            out: Box::new(io::stdout()),
            err: Box::new(io::stderr()),
        }
    }

    pub fn settings(&self) -> &UiSettings {
        &self.settings
    }

    pub fn color(&self) -> bool {
        self.settings.color
    }

    /// Whether what goes through [`Ui::out`] may carry colour.
    pub fn color_out(&self) -> bool {
        self.settings.color_out
    }

    /// Results: what the command was asked to produce. Always printed, even with `--quiet`.
    pub fn out(&mut self, text: &str) {
        let _ = self.out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = self.out.write_all(b"\n");
        }
        let _ = self.out.flush();
    }

    /// Progress and summaries for a human, on stderr; silenced by `--quiet`.
    pub fn status(&mut self, text: &str) {
        if self.settings.verbosity != Verbosity::Quiet {
            let _ = writeln!(self.err, "{text}");
        }
    }

    pub fn verbose(&mut self, text: &str) {
        if self.settings.verbosity == Verbosity::Verbose {
            let _ = writeln!(self.err, "{text}");
        }
    }

    pub fn problems(&mut self, problems: &Problems) {
        for p in problems.iter() {
            self.problem(p);
        }
    }

    /// Errors always show; warnings and advice are silenced by `--quiet`.
    pub fn problem(&mut self, problem: &Problem) {
        if problem.severity != Severity::Error && self.settings.verbosity == Verbosity::Quiet {
            return;
        }
        let text = render_problem(problem, self.settings.color);
        let _ = self.err.write_all(text.as_bytes());
        let _ = self.err.flush();
    }

    /// Ask a question on the terminal; `None` when there is no one to answer or input ended.
    pub fn prompt(&mut self, question: &str) -> Option<String> {
        if !self.settings.interactive {
            return None;
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

pub fn paint(color: bool, style: Style, text: &str) -> String {
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

/// A problem as miette draws it. The width is fixed so output does not depend on the terminal
/// that ran the tests.
pub fn render_problem(problem: &Problem, color: bool) -> String {
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
    if handler.render_report(&mut text, problem).is_err() {
        text = format!("{}: {}\n", problem.code, problem.message);
    }
    text
}
