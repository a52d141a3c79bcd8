//! `dwlink plan` of a large environment (the release binary, a separate emulator process with
//! injected latency), against the critical-path lower bound.

use std::path::Path;

use super::{measure, Measured};

pub(crate) const MAPS: usize = 500;
/// The F&O table plans read (the field configurations have no OData set).
pub(crate) const PROJECTS: usize = 20_000;
pub(crate) const FIELDS: usize = 0;
pub(crate) const RUNTIME: usize = 2_000;
const RUNS: usize = 7;
/// Page sizes the client asks for (and the services grant): F&O 10,000, Dataverse 5,000.
const FO_PAGE: usize = 10_000;
const DV_PAGE: usize = 5_000;

pub(crate) struct PlanResult {
    pub latency_ms: u64,
    pub chain: usize,
    /// The chain's latency alone.
    pub chain_ms: f64,
    /// The larger of two lower bounds: the chain's latency, and the emulator's own time for the
    /// F&O chain (the floor), which no client can beat either.
    pub bound_ms: f64,
    /// The same critical path fetched by a client that does no work at all: the emulator's
    /// own time (latency + generating and sending the pages), which no client can beat.
    pub floor_ms: f64,
    pub run: Measured,
}

/// The longest chain of dependent requests: a token, then each table's pages one after another
/// (a nextLink is only known once its page arrives). Independent chains overlap.
pub(crate) fn critical_path() -> (usize, [usize; 3]) {
    // F&O: token, then the project table's pages (`$metadata` is read beside the first page).
    let fo_chain = 1 + PROJECTS.div_ceil(FO_PAGE);
    // Token, the table's definition and its Attributes (asked at once), then the pages.
    let dv_chain = 1 + 1 + RUNTIME.div_ceil(DV_PAGE);
    // Token, the environment lookup, then the connection set and its maps (asked at once); the
    // admin API's token and list run beside it.
    let dws_chain = 1 + 1 + 1;
    (
        fo_chain.max(dv_chain).max(dws_chain),
        [fo_chain, dv_chain, dws_chain],
    )
}

pub(crate) fn run(bin: &Path, dir: &Path, latency_ms: u64) -> PlanResult {
    let fixture = dir.join("plan-world.yaml");
    let config = dir.join("dwlink.yaml");
    std::fs::write(
        &fixture,
        super::fixture_yaml(MAPS, PROJECTS, FIELDS, RUNTIME),
    )
    .expect("write fixture");
    std::fs::write(&config, super::CONFIG).expect("write config");
    let (mut emu, url) = super::emulator_process(bin, &fixture, latency_ms);
    let floor_ms = median_f(
        (0..RUNS)
            .map(|_| server_floor(&url).as_secs_f64() * 1000.0)
            .collect(),
    );
    let run = measure(RUNS, dir, bin, |cmd| {
        cmd.args(["plan", "--quiet", "--json", "-f"])
            .arg(&config)
            .args(["--emulator-url", &url])
            .env("DWLINK_CLIENT_SECRET", super::SECRET);
    });
    let _ = emu.kill();
    let _ = emu.wait();
    let (chain, _) = critical_path();
    let chain_ms = (chain as u64 * latency_ms) as f64;
    PlanResult {
        latency_ms,
        chain,
        chain_ms,
        bound_ms: chain_ms.max(floor_ms),
        floor_ms,
        run,
    }
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Token, then the project table's pages one after another (asked for as dwlink asks), each
/// timed from request to last byte; finding the nextLink is not timed.
fn server_floor(url: &str) -> std::time::Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        let base = url.trim_end_matches('/');
        let mut spent = std::time::Duration::ZERO;
        let start = std::time::Instant::now();
        let token = http
            .post(format!("{base}/{}/oauth2/v2.0/token", super::TENANT))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", super::CLIENT_ID),
                ("client_secret", super::SECRET),
                ("scope", &format!("https://{}/.default", super::FO_HOST)),
            ])
            .send()
            .await
            .expect("token")
            .bytes()
            .await
            .expect("token body");
        spent += start.elapsed();
        let token: serde_json::Value = serde_json::from_slice(&token).expect("token json");
        let bearer = format!("Bearer {}", token["access_token"].as_str().expect("token"));
        let mut next = Some(format!(
            "{base}/data/DualWriteProjectConfigurations?cross-company=true&$select=ProjectName,ExternalEnvironmentUrl"
        ));
        while let Some(page) = next.take() {
            let start = std::time::Instant::now();
            let body = http
                .get(&page)
                .header("Host", super::FO_HOST)
                .header("Authorization", &bearer)
                .header("Prefer", format!("odata.maxpagesize={FO_PAGE}"))
                .header("Accept", "application/json;odata.metadata=none")
                .send()
                .await
                .expect("page")
                .bytes()
                .await
                .expect("page body");
            spent += start.elapsed();
            let body: serde_json::Value = serde_json::from_slice(&body).expect("page json");
            // The link names the logical host; the request goes to the emulator's address.
            next = body["@odata.nextLink"].as_str().map(|l| {
                let link = url::Url::parse(l).expect("nextLink");
                format!("{base}{}?{}", link.path(), link.query().unwrap_or(""))
            });
        }
        spent
    })
}
