//! Host checks and tuning for a pier node.
