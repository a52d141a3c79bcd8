//! The transport: the one client every request goes through, requests and replies, retries,
//! 429 pauses, routing to the real or emulated hosts, `$batch`, and what `--record` writes.

pub(crate) mod batch;
pub mod client;
pub mod log;
pub(crate) mod reply;
pub mod request;
pub(crate) mod retry;
pub(crate) mod route;
pub(crate) mod tape;
pub(crate) mod task;
pub(crate) mod throttle;
