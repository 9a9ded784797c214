//! Whether JetStream's file store is on disk before a write is acknowledged.

use pier_config::model::{Storage, Stream, SyncPolicy};
use pier_config::version::Feature;
use pier_config::ServerVersion;

use super::{Category, Check, Context, Spec};

const CAT: Category = Category::Durability;

const FSYNC: Spec = Spec::one(
    "durability.fsync",
    CAT,
    "JetStream fsyncs every write before acknowledging it",
);
// Whether the nats-server understands a written `jetstream.sync` is not a check: the loader both
// binaries share refuses such a pier.toml before any check runs, as `pier-broker validate` does.
pub const SPECS: &[Spec] = &[FSYNC];

/// From 2.15.0 nats-server fsyncs a replicated stream's store only when the stream snapshots, even
/// with sync_interval always, and relies on the raft log in between ("NRG: Relax SyncAlways for
/// replicated streams"). In pier's lab, power cuts of every node then left LOGS wound back and
/// without a leader; 2.14.6 came through the same cuts whole (docs/reliability.md, Power cuts).
const RELAXED_REPLICATED_SYNC: ServerVersion = ServerVersion::new(2, 15, 0);

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    let js = &ctx.config.jetstream;
    let draft = FSYNC.draft().expected("sync \"always\" (pier's default)");
    if !js.enabled {
        out.push(draft.skip("JetStream disabled"));
        return;
    }
    let policy = js.sync_in_force(ctx.server_version);
    let file_streams: Vec<_> = ctx
        .config
        .streams
        .iter()
        .filter(|s| s.storage == Storage::File)
        .collect();
    let names = |streams: &[&Stream]| {
        streams
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let streams = if file_streams.is_empty() {
        "no file streams declared".to_owned()
    } else {
        format!("file streams {}", names(&file_streams))
    };
    let draft = draft.observed(format!("sync {policy}; {streams}"));
    let replicated: Vec<_> = file_streams
        .iter()
        .copied()
        .filter(|s| s.replicas > 1)
        .collect();
    let relaxed = ctx
        .server_version
        .filter(|v| *v >= RELAXED_REPLICATED_SYNC && !replicated.is_empty());
    out.push(
        if let (false, Some(version)) = (policy.is_lazy(), relaxed) {
            draft.warn(format!(
                "nats-server {version} fsyncs the store of a replicated stream ({}) only when the \
             stream snapshots, relying on its raft log in between: in pier's lab a power cut of \
             every node then left LOGS without a leader, its replicas wound back and their \
             unconsumed messages gone (docs/reliability.md, \"Power cuts\"; the way back: \
             docs/operations.md, \"A stream without a leader\"); where that matters run \
             nats-server 2.14 (node.nats_server), which fsyncs every write",
                names(&replicated)
            ))
        } else if !policy.is_lazy() {
            draft.pass()
        } else if js.sync.is_none() {
            // Only an old server leaves an unset policy lazy (sync_in_force).
            draft.warn(format!(
                "this nats-server cannot fsync before acknowledging ({} needs {}): {}; upgrade \
             nats-server",
                Feature::SyncInterval.describe(),
                Feature::SyncInterval.since(),
                SyncPolicy::LAZY_RISK
            ))
        } else {
            draft.warn(format!(
                "{}: set jetstream.sync = \"always\", or keep this choice knowing the risk",
                SyncPolicy::LAZY_RISK
            ))
        },
    );
}
