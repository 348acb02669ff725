//! The pure decision core: what is kept, what goes, and why.
//!
//! Owns the value types ([`units`]), the validated policy ([`policy`],
//! with [`timepattern`] and the recording units and recorder presets of
//! [`layout`]), the picture of the recordings ([`inventory`]),
//! legal holds ([`holds`]), cases with deadlines ([`cases`]), the planner ([`plan`]) and the mass-deletion
//! guard ([`guard`]), and what the alarms watch besides: recording sources
//! that stopped ([`stall`]) and how long floors can still be kept
//! ([`forecast`]).
//!
//! May not: perform I/O (the one exception is [`policy::Policy::load`],
//! which reads the policy file and checks its roots' paths), read a clock
//! (`now` is always an argument), or import any other room of the crate.

pub mod alarm;
pub mod cases;
pub mod forecast;
pub mod guard;
pub mod holds;
pub mod inventory;
pub mod layout;
pub mod plan;
pub mod policy;
pub mod roles;
pub mod stall;
pub mod timepattern;
pub mod units;
