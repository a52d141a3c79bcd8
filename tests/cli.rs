//! The one integration test binary: drives the real `dwlink` executable as a user runs it.

#[path = "cli/support.rs"]
mod support;

#[path = "cli/apply.rs"]
mod apply;
#[path = "cli/backup_proof.rs"]
mod backup_proof;
#[path = "cli/busy.rs"]
mod busy;
#[path = "cli/byte_limits.rs"]
mod byte_limits;
#[path = "cli/conformance.rs"]
mod conformance;
#[path = "cli/converge.rs"]
mod converge;
#[path = "cli/dead_ends.rs"]
mod dead_ends;
#[path = "cli/doctor.rs"]
mod doctor;
#[path = "cli/echo_files.rs"]
mod echo_files;
#[path = "cli/examples.rs"]
mod examples;
#[path = "cli/fake_services.rs"]
mod fake_services;
#[path = "cli/first_contact.rs"]
mod first_contact;
#[path = "cli/fleet.rs"]
mod fleet;
#[path = "cli/forged.rs"]
mod forged;
#[path = "cli/harness.rs"]
mod harness;
#[path = "cli/help.rs"]
mod help;
#[path = "cli/hostile.rs"]
mod hostile;
#[path = "cli/import.rs"]
mod import;
#[path = "cli/invalid.rs"]
mod invalid;
#[path = "cli/login.rs"]
mod login;
#[path = "cli/maps.rs"]
mod maps;
#[path = "cli/maps_resume.rs"]
mod maps_resume;
#[path = "cli/markdown.rs"]
mod markdown;
#[path = "cli/plan.rs"]
mod plan;
#[path = "cli/record.rs"]
mod record;
#[path = "cli/refusals.rs"]
mod refusals;
#[path = "cli/reset_evidence.rs"]
mod reset_evidence;
#[path = "cli/restore.rs"]
mod restore;
#[path = "cli/resume.rs"]
mod resume;
#[path = "cli/rewrite_proxy.rs"]
mod rewrite_proxy;
#[path = "cli/schema.rs"]
mod schema;
#[path = "cli/snapshot.rs"]
mod snapshot;
#[path = "cli/thirdparty.rs"]
mod thirdparty;
