//! Desired and live models of a dual-write link, and the domain rules both sides share: which
//! key tables exist ([`key_tables`]), when two hosts are the same environment and when two
//! organizations are the same ([`identity`]).

pub mod desired;
pub mod identity;
pub mod key_tables;
pub mod live;
pub mod map_status;
