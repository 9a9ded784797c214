//! Check and tune a host for a low-latency pier NATS node.
//!
//! Every host fact is read through [`host::Host`] under a root directory, so the checks run
//! against captured `/proc` and `/sys` trees in tests. Parsing is pure ([`facts`]); checks are
//! data ([`checks::Check`]); [`apply`] and [`boot_args`] derive changes from the same facts.

pub mod apply;
pub mod boot_args;
pub mod checks;
pub mod cli;
pub mod facts;
pub mod host;
pub mod pin;
pub mod report;
pub mod targets;
