//! NATS subject syntax: validity, overlap and containment of subjects with wildcards.

use std::collections::HashMap;

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

/// How much work the searches of a [`SubjectIndex`] may do, counted in levels visited and
/// matches returned. Wildcards make some files costly however they are searched (thousands of
/// `*.xN` subjects beside thousands of `yN.z`): the budget keeps validation of any file within a
/// bound, and a file that exhausts it is refused rather than validated for minutes.
#[derive(Debug)]
pub struct Budget {
    left: usize,
}

impl Budget {
    pub fn new(steps: usize) -> Self {
        Budget { left: steps }
    }

    pub fn exhausted(&self) -> bool {
        self.left == 0
    }

    fn spend(&mut self, steps: usize) -> bool {
        self.left = self.left.saturating_sub(steps);
        self.left > 0
    }
}

/// Subjects indexed token by token, as nats-server's sublist keeps them, so that the subjects
/// overlapping or containing another are found by walking the few matching branches instead of
/// comparing against every subject: a file of thousands of subjects would otherwise cost
/// validation their square.
#[derive(Debug)]
pub struct SubjectIndex<T> {
    root: Level<T>,
}

#[derive(Debug)]
struct Level<T> {
    next: HashMap<String, Level<T>>,
    /// The items whose subject ends here.
    here: Vec<T>,
}

impl<T> Default for Level<T> {
    fn default() -> Self {
        Level {
            next: HashMap::new(),
            here: Vec::new(),
        }
    }
}

impl<T> Default for SubjectIndex<T> {
    fn default() -> Self {
        SubjectIndex {
            root: Level::default(),
        }
    }
}

impl<T: Copy> SubjectIndex<T> {
    /// Indexes `item` under a valid subject ([`invalid_reason`] is None).
    pub fn insert(&mut self, subject: &str, item: T) {
        let mut level = &mut self.root;
        for token in subject.split('.') {
            level = level.next.entry(token.to_owned()).or_default();
        }
        level.here.push(item);
    }

    /// Every item whose subject [`overlaps`] `subject`, in no particular order; None when the
    /// budget ran out first.
    pub fn overlapping(&self, subject: &str, budget: &mut Budget) -> Option<Vec<T>> {
        let tokens: Vec<&str> = subject.split('.').collect();
        let mut out = Vec::new();
        self.root.overlapping(&tokens, &mut out, budget);
        (!budget.exhausted()).then_some(out)
    }

    /// Whether some indexed subject matches everything `subject` matches ([`is_subset`]); None
    /// when the budget ran out first.
    pub fn contains(&self, subject: &str, budget: &mut Budget) -> Option<bool> {
        let tokens: Vec<&str> = subject.split('.').collect();
        let found = self.root.contains(&tokens, budget);
        (!budget.exhausted()).then_some(found)
    }
}

impl<T: Copy> Level<T> {
    fn overlapping(&self, tokens: &[&str], out: &mut Vec<T>, budget: &mut Budget) {
        if !budget.spend(1 + self.here.len()) {
            return;
        }
        let Some((&token, rest)) = tokens.split_first() else {
            out.extend_from_slice(&self.here);
            return;
        };
        // `>` here matches whatever remains of `tokens`, at least one token.
        if let Some(full) = self.next.get(">") {
            if !budget.spend(full.here.len()) {
                return;
            }
            out.extend_from_slice(&full.here);
        }
        match token {
            ">" => {
                for (key, level) in &self.next {
                    if key != ">" {
                        level.everything(out, budget);
                    }
                }
            }
            "*" => {
                for (key, level) in &self.next {
                    if key != ">" {
                        level.overlapping(rest, out, budget);
                    }
                }
            }
            literal => {
                for key in [literal, "*"] {
                    if let Some(level) = self.next.get(key) {
                        level.overlapping(rest, out, budget);
                    }
                }
            }
        }
    }

    fn everything(&self, out: &mut Vec<T>, budget: &mut Budget) {
        if !budget.spend(1 + self.here.len()) {
            return;
        }
        out.extend_from_slice(&self.here);
        for level in self.next.values() {
            level.everything(out, budget);
        }
    }

    fn contains(&self, tokens: &[&str], budget: &mut Budget) -> bool {
        if !budget.spend(1) {
            return false;
        }
        let Some((&token, rest)) = tokens.split_first() else {
            return !self.here.is_empty();
        };
        if self.next.get(">").is_some_and(|l| !l.here.is_empty()) {
            return true;
        }
        if token == ">" {
            return false;
        }
        let star = self.next.get("*").is_some_and(|l| l.contains(rest, budget));
        star || (token != "*"
            && self
                .next
                .get(token)
                .is_some_and(|l| l.contains(rest, budget)))
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

    /// The index answers exactly what comparing every pair answers.
    #[test]
    fn the_index_agrees_with_pairwise_comparison() {
        let subjects = [
            "a", "a.b", "a.*", "a.>", "*", ">", "*.b", "a.b.c", "*.*.c", "b.>", "a.*.>", "x.y.z",
            "*.>", "a.b.*",
        ];
        let mut index = SubjectIndex::default();
        for (i, s) in subjects.iter().enumerate() {
            index.insert(s, i);
        }
        let mut budget = Budget::new(usize::MAX);
        for query in subjects
            .iter()
            .chain(["q", "a.c", "a.b.c.d", "*.*", "b"].iter())
        {
            let mut found = index.overlapping(query, &mut budget).unwrap();
            found.sort_unstable();
            let expected: Vec<usize> = (0..subjects.len())
                .filter(|&i| overlaps(query, subjects[i]))
                .collect();
            assert_eq!(found, expected, "overlapping {query}");
            let contained = subjects.iter().any(|s| is_subset(query, s));
            assert_eq!(
                index.contains(query, &mut budget),
                Some(contained),
                "contains {query}"
            );
        }
        let mut small = Budget::new(3);
        assert_eq!(index.overlapping(">", &mut small), None);
        assert!(small.exhausted());
    }
}
