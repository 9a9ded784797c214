//! pier's appliance configuration, shared by `pier-broker` and `pier-tuner`.
//!
//! The flow is one way: [`Source::read`] → [`Source::parse`] → [`validate::validate`], all behind
//! [`load::check`], the one loader both binaries use; rendering to
//! nats-server's format lives in the broker. Everything here is pure except reading the file and
//! the files it names ([`limited_read`], [`secret`]) and asking the nats-server binary its version
//! ([`server_binary`]).

pub mod changes;
pub mod cpuset;
pub mod diagnostic;
pub mod limited_read;
pub mod load;
pub mod model;
pub mod secret;
pub mod server_binary;
pub mod source;
pub mod subject;
pub mod units;
pub mod validate;
pub mod version;

pub use cpuset::CpuSet;
pub use diagnostic::{Diagnostic, Severity};
pub use model::Config;
pub use source::{ReadError, Source};
pub use version::{Feature, ServerVersion};
