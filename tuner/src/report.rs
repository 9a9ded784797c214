//! Check results as a text table (✓ ~ ✗, colour only on a terminal) or as JSON.
//!
//! JSON (stable, documented in docs/tuning.md): `{"format": 1, "root": "/", "summary": {"pass":
//! N, "warn": N, "fail": N, "skip": N, "error": N}, "checks": [{"id", "category", "title",
//! "status", "observed", "expected", "remediation"}]}`.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use crate::checks::{Check, Status};

/// Bumped only when a field changes meaning or disappears.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
}

impl Summary {
    pub fn of(checks: &[Check]) -> Self {
        let mut s = Summary::default();
        for c in checks {
            match c.status {
                Status::Pass => s.pass += 1,
                Status::Warn => s.warn += 1,
                Status::Fail => s.fail += 1,
                Status::Skip => s.skip += 1,
                Status::Error => s.error += 1,
            }
        }
        s
    }

    /// Whether the run fails: any failure or error, or any warning when warnings are denied.
    pub fn failed(&self, deny_warnings: bool) -> bool {
        self.fail > 0 || self.error > 0 || (deny_warnings && self.warn > 0)
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    format: u32,
    root: &'a Path,
    summary: Summary,
    checks: &'a [Check],
}

pub fn write_json(out: &mut impl Write, root: &Path, checks: &[Check]) -> io::Result<()> {
    let report = JsonReport {
        format: FORMAT_VERSION,
        root,
        summary: Summary::of(checks),
        checks,
    };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)
}

fn symbol(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Pass => ("✓", "32"),
        Status::Warn => ("~", "33"),
        Status::Fail => ("✗", "31"),
        Status::Skip => ("-", "2"),
        Status::Error => ("!", "35"),
    }
}

pub fn write_text(out: &mut impl Write, checks: &[Check], colour: bool) -> io::Result<()> {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let width = checks
        .iter()
        .map(|c| c.id.chars().count())
        .max()
        .unwrap_or(0);
    for c in checks {
        let (sym, code) = symbol(c.status);
        let status = format!("{sym} {:<5}", c.status.to_string());
        writeln!(
            out,
            "{} {:<width$}  {}: {}",
            paint(code, &status),
            c.id,
            c.title,
            c.observed
        )?;
        if matches!(c.status, Status::Warn | Status::Fail | Status::Error) {
            let indent = " ".repeat(width + 10);
            if !c.expected.is_empty() {
                writeln!(out, "{indent}expected: {}", c.expected)?;
            }
            if let Some(fix) = &c.remediation {
                writeln!(out, "{indent}fix: {fix}")?;
            }
        }
    }
    let s = Summary::of(checks);
    writeln!(
        out,
        "\n{} passed, {} warnings, {} failed, {} skipped, {} errors",
        s.pass, s.warn, s.fail, s.skip, s.error
    )
}
