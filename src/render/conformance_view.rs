//! `dwlink conformance`: one line per difference (request, JSON path, both sides), the requests
//! not replayed, and a summary; or all of it as one JSON document.

use serde_json::json;

use super::shell::Shell;
use dwlink_core::plan::describe::plural;
use dwlink_http::replay::Replayed;

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
    format!("{} {path}", r.method)
}

/// Prints the report; whether anything differs.
pub(crate) fn show(ui: &Shell, results: &[Replayed], as_json: bool) -> bool {
    let differences: usize = results.iter().map(|r| r.differences.len()).sum();
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
                    json!({"entry": i, "method": r.method, "url": r.url, "path": d.path,
                           "recorded": d.recorded, "emulator": d.emulator})
                })
            })
            .collect();
        let notes: Vec<_> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.emulator_status.is_none())
            .map(|(i, r)| json!({"entry": i, "method": r.method, "url": r.url, "reason": r.note}))
            .collect();
        let doc = json!({
            "differences": diffs,
            "skipped": notes,
            "summary": {"entries": results.len(), "replayed": replayed,
                        "skipped": skipped.len(), "differences": differences},
        });
        ui.out(&doc.to_string());
        return differences > 0;
    }
    for r in results {
        for d in &r.differences {
            ui.out(&format!(
                "{}  {}: recorded {}, emulator {}",
                request(r),
                d.path,
                d.recorded,
                d.emulator
            ));
        }
    }
    for r in &skipped {
        ui.verbose(&format!(
            "{}  {}",
            request(r),
            r.note.as_deref().unwrap_or("not replayed")
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
