//! The two views of dwlink's results, behind one trait: human (text for a terminal) and JSON (one
//! document on stdout, formats documented in the README). A command chooses one, once, from its
//! `--json` flag, and hands it values; it never formats results itself.

use std::path::Path;

use serde_json::json;

use dwlink_core::model::live::LiveState;
use dwlink_core::plan::Plan;

use super::apply_view::EventPrinter;
use super::shell::Shell;
use super::{markdown_view, plan_view, status_view};

pub(crate) trait View {
    /// One environment's plan.
    fn plan(&self, shell: &Shell, plan: &Plan);
    /// A plan read back from its file (`dwlink show`): the plan, and which plan it is.
    fn saved_plan(&self, shell: &Shell, plan: &Plan) {
        self.plan(shell, plan);
    }
    /// A fleet's plans, `(config file, plan)` in input order.
    fn plans(&self, shell: &Shell, plans: &[(&Path, &Plan)]);
    /// A plan was saved to `path` (for `dwlink apply PATH`).
    /// `apply` is the command that applies it, as it runs.
    fn saved(&self, shell: &Shell, path: &Path, apply: &str);
    /// `dwlink status`: the live state and what a plan of it finds.
    fn status(&self, shell: &Shell, live: &LiveState, plan: &Plan);
    /// What an apply prints as its steps run.
    fn events(&self, shell: &Shell) -> EventPrinter;
}

/// `--format`: who reads the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Text for a terminal.
    #[default]
    Human,
    /// The JSON documents of `--json`.
    Json,
    /// A report for a change ticket, a pull request or `$GITHUB_STEP_SUMMARY`.
    Markdown,
}

impl Format {
    /// `--json` is `--format json`.
    pub fn with_json(format: Option<Format>, json: bool) -> Format {
        if json {
            Format::Json
        } else {
            format.unwrap_or_default()
        }
    }
}

pub(crate) fn choose(json: bool) -> Box<dyn View> {
    choose_format(Format::with_json(None, json))
}

pub(crate) fn choose_format(format: Format) -> Box<dyn View> {
    match format {
        Format::Human => Box::new(Human),
        Format::Json => Box::new(Json),
        Format::Markdown => Box::new(Markdown),
    }
}

struct Human;

impl View for Human {
    fn plan(&self, shell: &Shell, plan: &Plan) {
        let emulator = shell.emulator();
        shell.out(&plan_view::render(
            plan,
            shell.color_out(),
            emulator.as_deref(),
            &shell.state_dir(),
        ));
    }

    fn saved_plan(&self, shell: &Shell, plan: &Plan) {
        let text = plan_view::render(plan, shell.color_out(), None, &shell.state_dir());
        let (head, rest) = text.split_once('\n').unwrap_or((&text, ""));
        shell.out(&format!("{head}\n{}\n{rest}", plan_view::provenance(plan)));
    }

    fn plans(&self, shell: &Shell, plans: &[(&Path, &Plan)]) {
        for (file, plan) in plans {
            shell.out(&format!(
                "── {} ({}) ──",
                plan.environment.name,
                file.display()
            ));
            self.plan(shell, plan);
        }
    }

    fn saved(&self, shell: &Shell, path: &Path, apply: &str) {
        shell.status(&format!(
            "Saved the plan to {}. Apply exactly this plan with `{apply}`.",
            path.display()
        ));
    }

    fn status(&self, shell: &Shell, live: &LiveState, plan: &Plan) {
        shell.out(&status_view::render(live, plan, shell.color_out()));
    }

    fn events(&self, shell: &Shell) -> EventPrinter {
        EventPrinter::new(false, shell)
    }
}

/// Pretty-printed documents: `Plan` (format_version "1"), an array of them for a fleet, and the
/// status document `{live, live_fingerprint, scenario, findings}`.
struct Json;

fn pretty(shell: &Shell, value: &impl serde::Serialize) {
    shell.out(&serde_json::to_string_pretty(value).unwrap_or_default());
}

impl View for Json {
    fn plan(&self, shell: &Shell, plan: &Plan) {
        pretty(shell, plan);
    }

    fn plans(&self, shell: &Shell, plans: &[(&Path, &Plan)]) {
        let plans: Vec<&Plan> = plans.iter().map(|(_, p)| *p).collect();
        pretty(shell, &plans);
    }

    /// The document on stdout is the plan; where it was also saved is the caller's to know.
    fn saved(&self, _shell: &Shell, _path: &Path, _apply: &str) {}

    fn status(&self, shell: &Shell, live: &LiveState, plan: &Plan) {
        pretty(
            shell,
            &json!({
                "live": live,
                "maps": dwlink_core::model::map_status::maps(live, &plan.desired),
                "live_fingerprint": plan.live_fingerprint,
                "scenario": plan.scenario,
                "findings": plan.findings,
            }),
        );
    }

    fn events(&self, shell: &Shell) -> EventPrinter {
        EventPrinter::new(true, shell)
    }
}

/// `--format markdown`: one report per plan; an apply's results are appended by its printer.
struct Markdown;

impl View for Markdown {
    fn plan(&self, shell: &Shell, plan: &Plan) {
        let emulator = shell.emulator();
        shell.out(&markdown_view::plan(
            plan,
            emulator.as_deref(),
            &shell.state_dir(),
        ));
    }

    fn plans(&self, shell: &Shell, plans: &[(&Path, &Plan)]) {
        for (file, plan) in plans {
            self.plan(shell, plan);
            shell.out(&format!("Config: `{}`\n", file.display()));
        }
    }

    fn saved(&self, shell: &Shell, path: &Path, apply: &str) {
        Human.saved(shell, path, apply);
    }

    fn status(&self, shell: &Shell, live: &LiveState, plan: &Plan) {
        Human.status(shell, live, plan);
    }

    fn events(&self, shell: &Shell) -> EventPrinter {
        EventPrinter::markdown(shell)
    }
}
