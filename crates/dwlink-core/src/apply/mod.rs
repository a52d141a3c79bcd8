//! Applying a plan: confirm → backup → for each action: journal → provider call → journal →
//! verify.

pub mod backup;
pub mod backup_check;
pub mod confirm;
pub mod crash;
pub mod event;
pub mod executor;
pub mod guard;
pub mod journal;
pub mod journal_admin;
pub mod lock;
mod map_steps;
pub mod resume;
pub mod steps;
pub mod verify;
