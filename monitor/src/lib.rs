//! pier-monitor: the client of nats-server's HTTP monitoring endpoints on its loopback port
//! (`/healthz`, `/varz`, `/routez`, `/jsz`), the parts of their answers pier reads, and the views
//! drawn from them. One client for every reader: the supervisor (health checks, watchdog,
//! STATUS=), `pier-broker status` (the operator's view of the cluster), pier-bench's demo, and
//! whatever exports metrics. A crate of its own so that none of them links the supervisor or
//! provisioning to read a monitoring port.
//!
//! Nothing read from the port is trusted ([`Monitor`] says how); every string a view carries is
//! made [`printable`].

mod client;
mod model;
mod printable;
mod summary;

pub use client::{Monitor, MonitorError, MAX_BODY};
pub use model::{
    AccountDetail, Answer, ConsumerDetail, Health, Jsz, MetaCluster, MetaPeer, RouteInfo, Routez,
    SequenceInfo, StreamCluster, StreamDetail, StreamState, Varz,
};
pub use printable::{printable, printable_capped};
pub use summary::{
    summarize, ConsumerView, JetStreamView, NodeView, RoutesView, Snapshot, StreamView,
};
