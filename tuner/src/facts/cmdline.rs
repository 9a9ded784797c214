//! The kernel command line (`/proc/cmdline`) and the CPU isolation parameters on it.

use pier_config::CpuSet;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cmdline {
    params: Vec<(String, Option<String>)>,
}

/// `isolcpus=managed_irq,domain,2-7`: the flags and the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolcpus {
    pub flags: Vec<String>,
    pub cpus: CpuSet,
}

impl Isolcpus {
    /// Without flags the kernel isolates from the scheduler domains; with flags, only when
    /// `domain` is one of them.
    pub fn isolates_domain(&self) -> bool {
        self.flags.is_empty() || self.flags.iter().any(|f| f == "domain")
    }
}

impl Cmdline {
    /// Parses the command line; words after a lone `--` belong to init and are ignored.
    pub fn parse(text: &str) -> Self {
        let params = text
            .split_whitespace()
            .take_while(|word| *word != "--")
            .map(|word| match word.split_once('=') {
                Some((key, value)) => (key.to_owned(), Some(value.trim_matches('"').to_owned())),
                None => (word.to_owned(), None),
            })
            .collect();
        Cmdline { params }
    }

    /// The last value given for a parameter (the kernel lets later ones win); `Some(None)` for a
    /// bare flag.
    pub fn get(&self, key: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref())
    }

    /// A CPU-list parameter such as `nohz_full=2-7`. `last_cpu` replaces the kernel's `N`
    /// shorthand for the last CPU.
    pub fn cpu_list(&self, key: &str, last_cpu: Option<usize>) -> Option<Result<CpuSet, String>> {
        let value = self.get(key)??;
        Some(parse_list(value, last_cpu))
    }

    pub fn isolcpus(&self, last_cpu: Option<usize>) -> Option<Result<Isolcpus, String>> {
        let value = self.get("isolcpus")??;
        let mut flags = Vec::new();
        let mut list = Vec::new();
        for part in value.split(',') {
            if part.starts_with(|c: char| c.is_ascii_alphabetic()) && part != "N" {
                flags.push(part.to_owned());
            } else {
                list.push(part);
            }
        }
        Some(parse_list(&list.join(","), last_cpu).map(|cpus| Isolcpus { flags, cpus }))
    }
}

fn parse_list(value: &str, last_cpu: Option<usize>) -> Result<CpuSet, String> {
    let value = match last_cpu {
        Some(last) => value.replace('N', &last.to_string()),
        None => value.to_owned(),
    };
    super::cpu_list(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_isolation_parameters() {
        let line = "BOOT_IMAGE=/vmlinuz root=UUID=x ro isolcpus=managed_irq,domain,2-7 \
                    nohz_full=2-7 rcu_nocbs=2-N irqaffinity=0-1 quiet -- nohz_full=0";
        let cmdline = Cmdline::parse(line);
        let iso = cmdline.isolcpus(Some(7)).unwrap().unwrap();
        assert_eq!(iso.cpus.to_string(), "2-7");
        assert_eq!(iso.flags, ["managed_irq", "domain"]);
        assert!(iso.isolates_domain());
        assert_eq!(
            cmdline
                .cpu_list("nohz_full", Some(7))
                .unwrap()
                .unwrap()
                .to_string(),
            "2-7"
        );
        assert_eq!(
            cmdline
                .cpu_list("rcu_nocbs", Some(7))
                .unwrap()
                .unwrap()
                .to_string(),
            "2-7"
        );
        assert_eq!(cmdline.get("quiet"), Some(None));
        assert!(cmdline.cpu_list("isolated", None).is_none());
    }

    #[test]
    fn isolcpus_flags_without_domain() {
        let cmdline = Cmdline::parse("isolcpus=nohz,managed_irq,1,3-4");
        let iso = cmdline.isolcpus(None).unwrap().unwrap();
        assert_eq!(iso.cpus.to_string(), "1,3-4");
        assert!(!iso.isolates_domain());
        assert!(Cmdline::parse("isolcpus=domain,7-3")
            .isolcpus(None)
            .unwrap()
            .is_err());
    }
}
