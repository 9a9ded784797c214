//! nats-server's HTTP monitoring endpoints on its loopback port: one client shared by `run`
//! (health checks, watchdog, STATUS=) and `status` (the operator's view of the cluster).

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
