//! Emulator throughput and memory: `cargo bench --bench bench_emulator`.
//!
//! - simple GETs per second: many keep-alive reqwest connections, in this process, for a few
//!   seconds against GET-by-key on F&O (no injected latency);
//! - resident memory with 1,000,000 generated rows, and the time to count them through $filter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dwlink_core::fixture;
use dwlink_emulator::{self as emulator, Options};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

const BIG: &str = r#"
finance_operations:
  - url: https://big.sandbox.operations.dynamics.com
    environment_type: sandbox
    power_platform_link: https://big.crm.dynamics.com
    dual_write: {connected_to: https://big.crm.dynamics.com, legal_entities: [USMF]}
    key_tables:
      DualWriteProjectConfiguration: {generate: 50000}
      DualWriteProjectFieldConfiguration: {generate: 1000000}
      BusinessEventsDefinition: {generate: 1000, dual_write: 800}
dataverse:
  - url: https://big.crm.dynamics.com
    organization_id: 4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10
    runtime_configurations: {generate: 50000}
clients:
  - {tenant_id: t, client_id: c, secret: s}
"#;

#[tokio::main]
async fn main() {
    let before = rss_mib();
    let f = fixture::parse_str("big.yaml", BIG).unwrap_or_else(|p| panic!("{:?}", p.0[0].message));
    let emu = emulator::spawn(f, Options::default()).await.expect("spawn");
    let url = emu.url();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let tok: serde_json::Value = http
        .post(format!("{url}/t/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "c"),
            ("client_secret", "s"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = tok["access_token"].as_str().unwrap_or("").to_string();

    let t0 = Instant::now();
    let v: serde_json::Value = http
        .get(format!("{url}/data/DualWriteProjectFieldConfigurations?$count=true&$top=0&$filter=SyncDirection ne 7"))
        .bearer_auth(&token).send().await.expect("count").json().await.expect("json");
    let scan = t0.elapsed();
    // Edit and delete some rows so the bookkeeping is not empty.
    for i in 0..1000 {
        let _ = http.delete(format!("{url}/data/DualWriteProjectFieldConfigurations(ProjectName='DWP-{:07}',InternalFieldName='Field{:07}')", i * 7 / 20, i * 7))
            .bearer_auth(&token).send().await;
    }
    let after = rss_mib();
    println!("rows: {} field rows (+50,000 projects, 50,000 runtime rows); $count with $filter over them: {:.0} ms", v["@odata.count"], scan.as_secs_f64() * 1000.0);
    println!("memory: RSS {before:.1} MiB before, {after:.1} MiB with the world loaded and served (generated rows are computed on demand)");

    let n = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let concurrency = 64;
    let duration = Duration::from_secs(5);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (http, url, token, n, errors) = (
            http.clone(),
            url.clone(),
            token.clone(),
            n.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i: u64 = w;
            while start.elapsed() < duration {
                i = (i * 7919 + 13) % 50_000;
                let r = http
                    .get(format!(
                        "{url}/data/DualWriteProjectConfigurations('DWP-{i:07}')"
                    ))
                    .bearer_auth(&token)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let done = n.load(Ordering::Relaxed);
    println!(
        "throughput: {:.0} GET-by-key/s ({done} in {secs:.1} s, {concurrency} keep-alive connections, client in-process, {} cores, {} errors)",
        done as f64 / secs,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        errors.load(Ordering::Relaxed)
    );
    println!("memory after the run: RSS {:.1} MiB", rss_mib());
    emu.shutdown().await;
}
