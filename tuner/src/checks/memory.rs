//! GOMEMLIMIT (`resources.memory_limit`) against the memory the host has.

use super::{Category, Check, Context, Spec};
use crate::facts::meminfo;

const CAT: Category = Category::Memory;

const GOMEMLIMIT: Spec = Spec::one(
    "memory.gomemlimit",
    CAT,
    "GOMEMLIMIT below the host's memory",
);
pub const SPECS: &[Spec] = &[GOMEMLIMIT];

/// Left to the kernel, page cache for the store and everything else: a tenth, at least 1 GiB.
pub fn margin(total: u64) -> u64 {
    (total / 10).max(1 << 30)
}

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    let draft = GOMEMLIMIT.draft();
    let total = match meminfo::mem_total(ctx.host) {
        Ok(total) => total,
        Err(e) => {
            out.push(draft.error(&e));
            return;
        }
    };
    let bytes = pier_config::units::Bytes;
    let ceiling = total.saturating_sub(margin(total));
    let draft = draft.expected(format!(
        "set, ≤ {} (MemTotal {} minus {})",
        bytes(ceiling),
        bytes(total),
        bytes(margin(total))
    ));
    out.push(match ctx.config.resources.memory_limit {
        None => draft
            .observed("unset")
            .warn("set resources.memory_limit so the Go runtime collects before the kernel's OOM killer acts"),
        Some(limit) if limit.get() > total => draft
            .observed(format!("{limit}, more than MemTotal"))
            .fail(format!("lower resources.memory_limit to at most {}", bytes(ceiling))),
        Some(limit) if limit.get() > ceiling => draft
            .observed(format!("{limit}"))
            .warn(format!("leave room for page cache and the OS: at most {}", bytes(ceiling))),
        Some(limit) => draft.observed(format!("{limit}")).pass(),
    });
}
