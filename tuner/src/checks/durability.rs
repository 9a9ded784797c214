//! The fsync policy against the replica counts and the nats-server version.

use pier_config::model::{Storage, SyncPolicy};

use super::{Category, Check, Context, Spec};

const CAT: Category = Category::Durability;

const SYNC_REPLICAS: Spec = Spec::one(
    "durability.sync_replicas",
    CAT,
    "single-replica file streams fsync every write",
);
// Whether the nats-server understands `jetstream.sync` is not a check: the loader both binaries
// share refuses such a pier.toml before any check runs, as `pier-broker validate` does.
pub const SPECS: &[Spec] = &[SYNC_REPLICAS];

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    let js = &ctx.config.jetstream;
    let sync = js.sync;
    let describe = |s: Option<SyncPolicy>| match s {
        None => "unset (nats-server fsyncs every 2 minutes)".to_owned(),
        Some(SyncPolicy::Always) => "always".to_owned(),
        Some(SyncPolicy::Every(span)) => format!("every {}", span.to_go()),
    };

    let draft = SYNC_REPLICAS
        .draft()
        .expected("sync = \"always\" when a file stream has one replica");
    if !js.enabled {
        out.push(draft.skip("JetStream disabled"));
        return;
    }
    let single: Vec<&str> = ctx
        .config
        .streams
        .iter()
        .filter(|s| s.replicas <= 1 && s.storage == Storage::File)
        .map(|s| s.name.as_str())
        .collect();
    out.push(if single.is_empty() {
        draft
            .observed(format!("no R1 file streams; sync {}", describe(sync)))
            .pass()
    } else if sync == Some(SyncPolicy::Always) {
        draft.observed(format!("R1 streams {} with sync always", single.join(", "))).pass()
    } else {
        draft
            .observed(format!("R1 streams {} with sync {}", single.join(", "), describe(sync)))
            .warn("a crash loses acknowledged messages of a single-replica stream: set jetstream.sync = \"always\" or give the streams 3 replicas")
    });
}
