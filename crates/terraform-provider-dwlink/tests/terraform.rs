//! The provider driven by the real `terraform` binary against the emulator.

#[path = "terraform/harness.rs"]
mod harness;
#[path = "terraform/interrupt.rs"]
mod interrupt;
#[path = "terraform/lifecycle.rs"]
mod lifecycle;
#[path = "terraform/more.rs"]
mod more;
