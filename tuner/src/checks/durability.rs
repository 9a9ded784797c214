//! Whether JetStream's file store is on disk before a write is acknowledged.

use pier_config::model::{Storage, SyncPolicy};
use pier_config::version::Feature;

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

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    let js = &ctx.config.jetstream;
    let draft = FSYNC.draft().expected("sync \"always\" (pier's default)");
    if !js.enabled {
        out.push(draft.skip("JetStream disabled"));
        return;
    }
    let policy = js.sync_in_force(ctx.server_version);
    let file_streams: Vec<&str> = ctx
        .config
        .streams
        .iter()
        .filter(|s| s.storage == Storage::File)
        .map(|s| s.name.as_str())
        .collect();
    let streams = if file_streams.is_empty() {
        "no file streams declared".to_owned()
    } else {
        format!("file streams {}", file_streams.join(", "))
    };
    let draft = draft.observed(format!("sync {policy}; {streams}"));
    out.push(if !policy.is_lazy() {
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
    });
}
