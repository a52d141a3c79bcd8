//! The one integration test binary: drives the real `dwlink` executable as a user runs it.

#[path = "cli/support.rs"]
mod support;

#[path = "cli/apply.rs"]
mod apply;
#[path = "cli/busy.rs"]
mod busy;
#[path = "cli/conformance.rs"]
mod conformance;
#[path = "cli/converge.rs"]
mod converge;
#[path = "cli/doctor.rs"]
mod doctor;
#[path = "cli/examples.rs"]
mod examples;
#[path = "cli/fake_services.rs"]
mod fake_services;
#[path = "cli/fleet.rs"]
mod fleet;
#[path = "cli/harness.rs"]
mod harness;
#[path = "cli/help.rs"]
mod help;
#[path = "cli/import.rs"]
mod import;
#[path = "cli/invalid.rs"]
mod invalid;
#[path = "cli/login.rs"]
mod login;
#[path = "cli/maps.rs"]
mod maps;
#[path = "cli/plan.rs"]
mod plan;
#[path = "cli/record.rs"]
mod record;
#[path = "cli/resume.rs"]
mod resume;
#[path = "cli/schema.rs"]
mod schema;
#[path = "cli/snapshot.rs"]
mod snapshot;
#[path = "cli/thirdparty.rs"]
mod thirdparty;
