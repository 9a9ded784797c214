//! The plan: what provisioning will do to each stream and consumer, and why; printed as text for
//! operators and as JSON for tools.

use std::io::{self, Write};

use serde::Serialize;

use super::diff::{Effect, FieldChange};
use super::record::Loss;

/// What happens to one stream or consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Declared, absent from the server: created.
    Create,
    /// Differs; every difference is applied in place.
    Update,
    /// Differs in a way the server cannot change in place; allowed, so deleted and created again.
    Recreate,
    /// Matches the declaration.
    Unchanged,
    /// Differs in a way that would lose data or cannot be made in place, and the configuration
    /// does not allow it: refused, nothing is changed anywhere.
    Drift,
    /// On the server, not declared, and `[provision] prune = true`: deleted.
    Delete,
    /// On the server, not declared; left alone because pruning is off.
    Unmanaged,
    /// Declared, seen on the cluster before (the node's record), and gone: reported, not created
    /// again until the operator accepts the loss.
    Lost,
}

impl Action {
    /// Decides from the differences alone: in place when every change is safe, else only when
    /// `allow_destructive`.
    pub fn for_changes(changes: &[FieldChange], allow_destructive: bool) -> Action {
        if changes.is_empty() {
            Action::Unchanged
        } else if changes.iter().all(|c| c.effect.is_safe()) {
            Action::Update
        } else if !allow_destructive {
            Action::Drift
        } else if changes
            .iter()
            .any(|c| matches!(c.effect, Effect::Recreate(_)))
        {
            Action::Recreate
        } else {
            Action::Update
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Recreate => "recreate",
            Action::Unchanged => "unchanged",
            Action::Drift => "drift",
            Action::Delete => "delete",
            Action::Unmanaged => "unmanaged",
            Action::Lost => "lost",
        }
    }

    /// Whether applying the plan changes the server for this object.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Action::Create | Action::Update | Action::Recreate | Action::Delete
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerPlan {
    pub name: String,
    pub action: Action,
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamPlan {
    pub name: String,
    pub action: Action,
    pub changes: Vec<FieldChange>,
    pub consumers: Vec<ConsumerPlan>,
    /// What the stream lost since this node's record last saw it (gone, or wound back).
    pub loss: Option<Loss>,
}

/// Counts of actions over every stream and consumer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub recreate: usize,
    pub unchanged: usize,
    pub drift: usize,
    pub delete: usize,
    pub unmanaged: usize,
    /// Streams that are gone or whose last sequence went backwards.
    pub lost: usize,
}

impl Summary {
    fn count(&mut self, action: Action) {
        let slot = match action {
            Action::Create => &mut self.create,
            Action::Update => &mut self.update,
            Action::Recreate => &mut self.recreate,
            Action::Unchanged => &mut self.unchanged,
            Action::Drift => &mut self.drift,
            Action::Delete => &mut self.delete,
            Action::Unmanaged => &mut self.unmanaged,
            Action::Lost => &mut self.lost,
        };
        *slot += 1;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The `server_name` of the node provisioning talked to.
    pub server_name: String,
    /// The version that server reported.
    pub server_version: String,
    pub streams: Vec<StreamPlan>,
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for stream in &self.streams {
            summary.count(stream.action);
            // A wound-back stream keeps its own action; the loss is counted beside it.
            if stream.loss.is_some() && stream.action != Action::Lost {
                summary.lost += 1;
            }
            for consumer in &stream.consumers {
                summary.count(consumer.action);
            }
        }
        summary
    }

    /// Whether anything was refused; then nothing is applied.
    pub fn has_drift(&self) -> bool {
        self.summary().drift > 0
    }

    /// Whether applying would change the server.
    pub fn writes(&self) -> bool {
        self.streams
            .iter()
            .any(|s| s.action.writes() || s.consumers.iter().any(|c| c.action.writes()))
    }
}

/// How a provisioning run (`reconcile`) ended: its plan, and whether it was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciled {
    pub plan: Plan,
    pub summary: Summary,
    pub dry_run: bool,
    /// Whether the plan's changes were made (false for a dry run, a refused plan, or no changes).
    pub applied: bool,
}

impl Reconciled {
    pub fn new(plan: Plan, dry_run: bool, applied: bool) -> Self {
        let summary = plan.summary();
        Reconciled {
            plan,
            summary,
            dry_run,
            applied,
        }
    }

    /// Whether changes were refused (drift): then nothing was applied.
    pub fn refused(&self) -> bool {
        self.summary.drift > 0
    }

    /// Whether a declared stream lost what it held.
    pub fn lost(&self) -> bool {
        self.summary.lost > 0
    }

    /// `NAME (what it lost)` for every lost stream, for logs and STATUS=.
    pub fn losses(&self) -> Vec<String> {
        self.plan
            .streams
            .iter()
            .filter_map(|s| {
                s.loss
                    .map(|loss| format!("{} ({})", s.name, loss.describe()))
            })
            .collect()
    }

    pub fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        let plan = &self.plan;
        writeln!(
            out,
            "JetStream via {} (nats-server {})",
            plan.server_name, plan.server_version
        )?;
        if plan.streams.is_empty() {
            writeln!(out, "no streams declared or found")?;
        }
        for stream in &plan.streams {
            write_object(
                out,
                "",
                "stream",
                &stream.name,
                stream.action,
                &stream.changes,
            )?;
            for consumer in &stream.consumers {
                write_object(
                    out,
                    "  ",
                    "consumer",
                    &consumer.name,
                    consumer.action,
                    &consumer.changes,
                )?;
            }
            if let Some(loss) = stream.loss {
                writeln!(out, "  LOST: {}", loss.describe())?;
                writeln!(
                    out,
                    "  hint: restore it from a backup or its peers, or accept the loss with `pier-broker provision --accept-loss {}`{}",
                    stream.name,
                    if stream.action == Action::Lost { " (which creates it again, empty)" } else { "" }
                )?;
            }
            if stream.action == Action::Drift
                || stream.consumers.iter().any(|c| c.action == Action::Drift)
            {
                writeln!(
                    out,
                    "  hint: set allow_destructive = true on the [[streams]] entry named {:?} to allow it, or change the configuration back",
                    stream.name
                )?;
            }
        }
        let s = self.summary;
        writeln!(
            out,
            "plan: {} to create, {} to update, {} to recreate, {} to delete, {} unchanged, {} drift, {} unmanaged, {} lost",
            s.create, s.update, s.recreate, s.delete, s.unchanged, s.drift, s.unmanaged, s.lost
        )?;
        let verdict = if self.lost() {
            "LOST: a declared stream lost messages this node saw in it; nothing was created in place of a lost stream"
        } else if self.refused() {
            "refused: the configuration asks for changes that lose data or cannot be made in place; nothing was changed"
        } else if self.dry_run {
            "dry run: nothing was changed"
        } else if self.applied {
            "applied: the cluster matches the configuration"
        } else {
            "nothing to do: the cluster matches the configuration"
        };
        writeln!(out, "{verdict}")
    }
}

fn write_object(
    out: &mut impl Write,
    indent: &str,
    kind: &str,
    name: &str,
    action: Action,
    changes: &[FieldChange],
) -> io::Result<()> {
    let note = match action {
        Action::Unmanaged => " (not in the configuration; prune is off, left alone)",
        Action::Delete => " (not in the configuration; prune is on)",
        Action::Recreate => " (allow_destructive: deleted and created again)",
        Action::Lost => " (seen before, now gone: not created again)",
        _ => "",
    };
    writeln!(out, "{indent}{kind} {name}: {}{note}", action.name())?;
    for change in changes {
        let effect = match &change.effect {
            Effect::InPlace => String::new(),
            Effect::Destructive(reason) => format!("  [destructive: {reason}]"),
            Effect::Recreate(reason) => format!("  [needs recreate: {reason}]"),
        };
        writeln!(
            out,
            "{indent}  {}: {} -> {}{effect}",
            change.field, change.from, change.to
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(effect: Effect) -> FieldChange {
        FieldChange {
            field: "storage",
            from: "file".into(),
            to: "memory".into(),
            effect,
        }
    }

    #[test]
    fn action_follows_the_costliest_change() {
        assert_eq!(Action::for_changes(&[], false), Action::Unchanged);
        assert_eq!(
            Action::for_changes(&[change(Effect::InPlace)], false),
            Action::Update
        );
        let recreate = change(Effect::Recreate("storage".into()));
        let destructive = change(Effect::Destructive("fewer replicas".into()));
        assert_eq!(
            Action::for_changes(std::slice::from_ref(&recreate), false),
            Action::Drift
        );
        assert_eq!(
            Action::for_changes(std::slice::from_ref(&destructive), false),
            Action::Drift
        );
        assert_eq!(
            Action::for_changes(&[recreate, destructive.clone()], true),
            Action::Recreate
        );
        assert_eq!(Action::for_changes(&[destructive], true), Action::Update);
    }

    #[test]
    fn json_keys_are_stable() {
        let plan = Plan {
            server_name: "node-1".into(),
            server_version: "2.15.1".into(),
            streams: vec![StreamPlan {
                name: "LOGS".into(),
                action: Action::Drift,
                changes: vec![change(Effect::Recreate("no".into()))],
                consumers: vec![ConsumerPlan {
                    name: "pull-worker".into(),
                    action: Action::Unchanged,
                    changes: vec![],
                }],
                loss: None,
            }],
        };
        let outcome = Reconciled::new(plan, false, false);
        let json = serde_json::to_value(&outcome).expect("serialises");
        assert_eq!(json["plan"]["streams"][0]["action"], "drift");
        let change = &json["plan"]["streams"][0]["changes"][0];
        assert_eq!(change["field"], "storage");
        assert_eq!(change["from"], "file");
        assert_eq!(change["to"], "memory");
        assert_eq!(change["effect"], "recreate");
        assert_eq!(change["reason"], "no");
        assert_eq!(json["summary"]["drift"], 1);
        assert_eq!(json["summary"]["unchanged"], 1);
        assert_eq!(json["applied"], false);

        let mut text = Vec::new();
        outcome.write_text(&mut text).expect("writes");
        let text = String::from_utf8(text).expect("utf-8");
        assert!(text.contains("stream LOGS: drift"), "{text}");
        assert!(
            text.contains("storage: file -> memory  [needs recreate: no]"),
            "{text}"
        );
        assert!(text.contains("allow_destructive"), "{text}");
        assert!(text.contains("refused"), "{text}");
    }
}
