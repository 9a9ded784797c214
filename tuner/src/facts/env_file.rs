//! Shell-style variable files such as `/etc/default/irqbalance`.

/// The value of `KEY=value` (last assignment wins), quotes removed; comments ignored.
pub fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.strip_prefix("export ").unwrap_or(line).split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches(|c| c == '"' || c == '\''))
        .next_back()
}

/// The file with `KEY="value"` set: an uncommented assignment is replaced in place, otherwise
/// the line is appended. Everything else is kept as it was.
pub fn with_value(text: &str, key: &str, value: &str) -> String {
    let line = format!("{key}=\"{value}\"");
    let mut replaced = false;
    let mut out: Vec<String> = Vec::new();
    for existing in text.lines() {
        if assigns(existing, key) {
            if !replaced {
                out.push(line.clone());
                replaced = true;
            }
        } else {
            out.push(existing.to_owned());
        }
    }
    if !replaced {
        out.push(line);
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// The file with every uncommented assignment of `key` removed; everything else kept.
pub fn without(text: &str, key: &str) -> String {
    text.lines()
        .filter(|line| !assigns(line, key))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Whether a line assigns `key` (`KEY=...` or `export KEY=...`), comments excluded.
fn assigns(line: &str, key: &str) -> bool {
    let line = line.trim_start();
    !line.starts_with('#')
        && line
            .strip_prefix("export ")
            .unwrap_or(line)
            .split_once('=')
            .is_some_and(|(k, _)| k.trim() == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_sets_values() {
        let text = "# IRQBALANCE_BANNED_CPUS=ff\nIRQBALANCE_ONESHOT=0\nIRQBALANCE_BANNED_CPULIST=\"2-7\"\n";
        assert_eq!(value(text, "IRQBALANCE_BANNED_CPULIST"), Some("2-7"));
        assert_eq!(value(text, "IRQBALANCE_BANNED_CPUS"), None);
        let set = with_value(text, "IRQBALANCE_BANNED_CPULIST", "3-7");
        assert_eq!(value(&set, "IRQBALANCE_BANNED_CPULIST"), Some("3-7"));
        assert!(set.starts_with("# IRQBALANCE_BANNED_CPUS=ff\n"));
        let added = with_value(&set, "IRQBALANCE_BANNED_CPUS", "fc");
        assert_eq!(value(&added, "IRQBALANCE_BANNED_CPUS"), Some("fc"));
        assert_eq!(added.matches("IRQBALANCE_BANNED_CPULIST").count(), 1);
        let removed = without(&added, "IRQBALANCE_BANNED_CPUS");
        assert_eq!(value(&removed, "IRQBALANCE_BANNED_CPUS"), None);
        assert!(removed.starts_with("# IRQBALANCE_BANNED_CPUS=ff\n"));
        assert_eq!(value(&removed, "IRQBALANCE_BANNED_CPULIST"), Some("3-7"));
    }
}
