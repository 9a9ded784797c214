//! NATS subject syntax: validity, overlap and containment of subjects with wildcards.

/// Why a subject is not valid, or None when it is.
pub fn invalid_reason(subject: &str) -> Option<String> {
    if subject.is_empty() {
        return Some("a subject cannot be empty".into());
    }
    if subject
        .chars()
        .any(|c| c.is_whitespace() || c.is_ascii_control())
    {
        return Some(format!(
            "subject {subject:?} contains white space or a control character"
        ));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Some(format!("subject {subject:?} has an empty token"));
        }
        if token.len() > 1 && (token.contains('*') || token.contains('>')) {
            return Some(format!(
                "subject {subject:?}: wildcards `*` and `>` must be whole tokens"
            ));
        }
        if *token == ">" && i + 1 != tokens.len() {
            return Some(format!(
                "subject {subject:?}: `>` can only be the last token"
            ));
        }
    }
    None
}

/// nats-server's own subject spaces, which a stream may not capture (it would need no-ack).
const RESERVED: &[&str] = &["$JS.>", "$JSC.>", "$NRG.>", "$SYS.>"];
/// Within them, what streams may capture after all.
const ALLOWED: &[&str] = &["$JS.EVENT.>", "$SYS.ACCOUNT.>"];

/// The reserved subject space a stream subject would capture, if any.
pub fn reserved_overlap(subject: &str) -> Option<&'static str> {
    if ALLOWED.iter().any(|allowed| is_subset(subject, allowed)) {
        return None;
    }
    RESERVED
        .iter()
        .find(|reserved| overlaps(subject, reserved))
        .copied()
}

/// Whether some concrete subject matches both patterns.
pub fn overlaps(a: &str, b: &str) -> bool {
    // Token by token without allocating: validation compares every pair of streams' subjects.
    let (mut a, mut b) = (a.split('.'), b.split('.'));
    loop {
        match (a.next(), b.next()) {
            (Some(">"), Some(_)) | (Some(_), Some(">")) => return true,
            (Some(x), Some(y)) if x == y || x == "*" || y == "*" => continue,
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether every subject matched by `inner` is also matched by `outer`.
pub fn is_subset(inner: &str, outer: &str) -> bool {
    let (mut inner, mut outer) = (inner.split('.'), outer.split('.'));
    loop {
        match (inner.next(), outer.next()) {
            (Some(_), Some(">")) => return true,
            (Some(">"), _) => return false,
            (Some(_), Some("*")) => continue,
            (Some("*"), Some(_)) => return false,
            (Some(x), Some(y)) if x == y => continue,
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity() {
        assert!(invalid_reason("logs.>").is_none());
        assert!(invalid_reason("jobs.*.process").is_none());
        assert!(invalid_reason("logs.>.x").is_some());
        assert!(invalid_reason("logs..x").is_some());
        assert!(invalid_reason("logs.a*").is_some());
        assert!(invalid_reason("a b").is_some());
        assert!(invalid_reason("a\u{1}b").is_some());
        assert!(invalid_reason("a\u{7f}").is_some());
        assert!(invalid_reason("").is_some());
    }

    #[test]
    fn overlap() {
        assert!(overlaps("logs.>", "logs.app"));
        assert!(overlaps("logs.*", "*.app"));
        assert!(overlaps("a.>", "a.b.>"));
        assert!(!overlaps("logs.>", "logs"));
        assert!(!overlaps("logs.>", "metrics.>"));
        assert!(!overlaps("a.b", "a.b.c"));
    }

    #[test]
    fn reserved_spaces() {
        assert_eq!(reserved_overlap(">"), Some("$JS.>"));
        assert_eq!(reserved_overlap("*.x"), Some("$JS.>"));
        assert_eq!(reserved_overlap("$SYS.x"), Some("$SYS.>"));
        assert_eq!(reserved_overlap("$JS.EVENT.advisory.>"), None);
        assert_eq!(reserved_overlap("logs.>"), None);
    }

    #[test]
    fn subset() {
        assert!(is_subset("logs.app", "logs.>"));
        assert!(is_subset("logs.*.x", "logs.>"));
        assert!(is_subset("logs.a", "logs.*"));
        assert!(!is_subset("logs.>", "logs.*"));
        assert!(!is_subset("metrics.a", "logs.>"));
        assert!(!is_subset("logs", "logs.>"));
        assert!(is_subset("logs.>", "logs.>"));
    }
}
