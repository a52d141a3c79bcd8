//! The two views of dwlink's results, behind one trait: human (text for a terminal) and JSON (one
//! document on stdout, formats documented in the README). A command chooses one, once, from its
//! `--json` flag, and hands it values; it never formats results itself.

use std::path::Path;

use serde_json::json;

use dwlink_core::model::live::LiveState;
use dwlink_core::plan::Plan;

use super::apply_view::EventPrinter;
use super::shell::Shell;
use super::{plan_view, status_view};

pub(crate) trait View {
    /// One environment's plan.
    fn plan(&self, shell: &Shell, plan: &Plan);
    /// A fleet's plans, `(config file, plan)` in input order.
    fn plans(&self, shell: &Shell, plans: &[(&Path, &Plan)]);
    /// A plan was saved to `path` (for `dwlink apply PATH`).
    fn saved(&self, shell: &Shell, path: &Path);
    /// `dwlink status`: the live state and what a plan of it finds.
    fn status(&self, shell: &Shell, live: &LiveState, plan: &Plan);
    /// What an apply prints as its steps run.
    fn events(&self, shell: &Shell) -> EventPrinter;
}

pub(crate) fn choose(json: bool) -> Box<dyn View> {
    if json {
        Box::new(Json)
    } else {
        Box::new(Human)
    }
}

struct Human;

impl View for Human {
    fn plan(&self, shell: &Shell, plan: &Plan) {
        shell.out(&plan_view::render(plan, shell.color_out()));
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

    fn saved(&self, shell: &Shell, path: &Path) {
        shell.status(&format!(
            "Saved the plan to {}. Apply exactly this plan with `dwlink apply {}`.",
            path.display(),
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
    fn saved(&self, _shell: &Shell, _path: &Path) {}

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
