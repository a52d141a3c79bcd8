//! `dwlink conformance`: one line per difference (request, JSON path, both sides), the requests
//! not replayed, and a summary; or all of it as one JSON document.

use serde_json::json;

use super::shell::Shell;
use dwlink_core::diag::{clip, MAX_RUN};
use dwlink_core::plan::describe::{plural, thousands};
use dwlink_http::replay::Replayed;

/// Differences (and skipped requests) listed in one report; the rest are counted. With at most
/// 20 per entry ([`dwlink_http::replay::MAX_DIFFERENCES_PER_ENTRY`]) and every field clipped,
/// a report stays a few hundred KB whatever the recording.
pub const MAX_LISTED: usize = 200;

fn short(s: &str) -> String {
    clip(s, MAX_RUN).into_owned()
}

/// The method and the logical path (with its query), as the request line names it.
fn request(r: &Replayed) -> String {
    let path = url::Url::parse(&r.url).map_or_else(
        |_| r.url.clone(),
        |u| {
            let host = u.host_str().unwrap_or_default().to_string();
            match u.query() {
                Some(q) => format!("{host}{}?{q}", u.path()),
                None => format!("{host}{}", u.path()),
            }
        },
    );
    short(&format!("{} {path}", r.method))
}

/// Prints the report; whether anything differs.
pub(crate) fn show(ui: &Shell, results: &[Replayed], as_json: bool) -> bool {
    let differences: usize = results.iter().map(|r| r.total_differences).sum();
    let skipped: Vec<&Replayed> = results
        .iter()
        .filter(|r| r.emulator_status.is_none())
        .collect();
    let replayed = results.len() - skipped.len();
    if as_json {
        let diffs: Vec<_> = results
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                r.differences.iter().map(move |d| {
                    json!({"entry": i, "method": r.method, "url": short(&r.url),
                           "path": short(&d.path), "recorded": short(&d.recorded),
                           "emulator": short(&d.emulator)})
                })
            })
            .take(MAX_LISTED)
            .collect();
        let notes: Vec<_> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.emulator_status.is_none())
            .map(|(i, r)| {
                json!({"entry": i, "method": r.method, "url": short(&r.url), "reason": r.note})
            })
            .take(MAX_LISTED)
            .collect();
        let doc = json!({
            "summary": {"entries": results.len(), "replayed": replayed,
                        "skipped": skipped.len(), "differences": differences,
                        "differences_listed": diffs.len(), "skipped_listed": notes.len()},
            "differences": diffs,
            "skipped": notes,
        });
        ui.out(&doc.to_string());
        return differences > 0;
    }
    let mut listed = 0;
    for r in results {
        for d in &r.differences {
            if listed == MAX_LISTED {
                break;
            }
            listed += 1;
            ui.out(&format!(
                "{}  {}: recorded {}, emulator {}",
                request(r),
                short(&d.path),
                short(&d.recorded),
                short(&d.emulator)
            ));
        }
        let unlisted = r.total_differences - r.differences.len();
        if unlisted > 0 && listed < MAX_LISTED {
            ui.out(&format!(
                "{}  … and {} more difference{} in this reply",
                request(r),
                thousands(unlisted),
                plural(unlisted)
            ));
        }
    }
    let listed_total: usize = results.iter().map(|r| r.total_differences).sum();
    if listed == MAX_LISTED && listed_total > listed {
        ui.out(&format!(
            "… {} difference{} in all; the first {MAX_LISTED} are listed",
            thousands(listed_total),
            plural(listed_total)
        ));
    }
    for r in skipped.iter().take(MAX_LISTED) {
        ui.verbose(&format!(
            "{}  {}",
            request(r),
            r.note.as_deref().unwrap_or("not replayed")
        ));
    }
    if skipped.len() > MAX_LISTED {
        ui.verbose(&format!(
            "… and {} more skipped",
            skipped.len() - MAX_LISTED
        ));
    }
    ui.status(&format!(
        "{replayed} request{} replayed, {} skipped (-v lists them): {}.",
        plural(replayed),
        skipped.len(),
        if differences == 0 {
            "no difference".to_string()
        } else {
            format!("{differences} difference{}", plural(differences))
        }
    ));
    differences > 0
}
