//! Test support for dwlink: a [`FakeLink`] that stands in for the services behind
//! [`dwlink_core::link::Link`], so the engine (plan, apply, resume, verify) runs in-process and
//! in milliseconds.
//!
//! What flows through it: a [`World`] (a declaration, a live state and the rows of each key
//! table) seeds a [`FakeLink`]; the engine reads and changes that state through the `Link` trait
//! the way it would the real services; the test then looks at the [`Call`]s made (in order), the
//! [`Effect`]s they had and the state left behind. Failures are injected with a [`Fault`] at any
//! call, asynchronous requests are told how to end with a [`RequestOutcome`], and
//! [`FakeLink::on_call`] runs a hook at the moment a call arrives.

mod fake;
mod keys;
mod world;

pub use fake::{
    errors, Call, CallKind, Effect, FakeLink, Fault, RequestKind, RequestOutcome, Rows,
};
pub use world::{
    org, rows, World, CORE_SOLUTION, CUSTOMERS, FO_UAT, PROD, PROD_ID, UAT, UAT_ID, VENDORS,
};
