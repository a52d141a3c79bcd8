//! `terraform-provider-dwlink`: dwlink's engine behind Terraform's plugin protocol 6
//! (source address `dwlink/dwlink`).

mod document;
mod engine;
mod import;
mod link;
mod nodelay;
mod provider;
mod schema;
mod state;
mod status;
mod stop;

use std::sync::atomic::Ordering;

fn main() -> std::process::ExitCode {
    // The protocol library appends a captured backtrace to every diagnostic when these are set;
    // a user's diagnostics carry dwlink's words only. Removed before any thread exists.
    std::env::remove_var("RUST_BACKTRACE");
    std::env::remove_var("RUST_LIB_BACKTRACE");
    dwlink_core::panic_report::install("terraform-provider-dwlink");
    stop::watch();
    let relay = nodelay::relay_stdout();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("terraform-provider-dwlink: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        // Ctrl-C reaches Terraform's whole process group. Dying then could cut a step in half;
        // instead the apply in progress finishes its step and stops with its journal. Terraform
        // interrupted alone sends only StopProvider, which `stop::watch` turns into the same flag.
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
            Ok(mut sigint) => {
                tokio::spawn(async move {
                    while sigint.recv().await.is_some() {
                        engine::STOP.store(true, Ordering::SeqCst);
                    }
                });
            }
            Err(e) => {
                eprintln!("terraform-provider-dwlink: cannot watch for interrupts: {e}");
                return Err(anyhow::anyhow!("signal handler"));
            }
        }
        tf_provider::serve("dwlink", provider::DwlinkProvider::default()).await
    });
    if let Some(relay) = relay {
        relay.finish();
    }
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terraform-provider-dwlink: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
