//! pier-broker: renders, starts, pins, watches and provisions a nats-server node of a pier cluster.
//! The supervisor is never in the message path: clients talk to nats-server directly.

pub mod cli;
pub mod companion;
pub mod provision;
pub mod render;
pub mod supervise;
pub mod tls_files;
