//! The sysctl values pier wants, shared by `check` (limits, power) and `apply`.

use crate::facts;

/// Socket buffers large enough for a route or a fast publisher to keep a 10 Gb/s link busy.
pub const BUFFER_MAX: u64 = 16 * 1024 * 1024;
/// The unit's LimitNOFILE; the kernel refuses a limit above fs.nr_open.
pub const NOFILE: u64 = 1_048_576;

#[derive(Debug, Clone, Copy)]
pub enum Want {
    AtMost(u64),
    AtLeast(u64),
    /// A `min default max` triple whose max must reach this.
    MaxAtLeast {
        min: u64,
        default: u64,
        max: u64,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Sysctl {
    pub key: &'static str,
    pub want: Want,
    pub why: &'static str,
}

pub const SYSCTLS: &[Sysctl] = &[
    Sysctl {
        key: "vm.swappiness",
        want: Want::AtMost(10),
        why: "keep nats-server's memory out of swap: a swapped page costs milliseconds",
    },
    Sysctl {
        key: "net.core.somaxconn",
        want: Want::AtLeast(4096),
        why: "room in the accept queue for reconnect storms after a restart",
    },
    Sysctl {
        key: "net.core.rmem_max",
        want: Want::AtLeast(BUFFER_MAX),
        why: "let routes and fast clients grow their receive buffers",
    },
    Sysctl {
        key: "net.core.wmem_max",
        want: Want::AtLeast(BUFFER_MAX),
        why: "let routes and fast clients grow their send buffers",
    },
    Sysctl {
        key: "net.ipv4.tcp_rmem",
        want: Want::MaxAtLeast {
            min: 4096,
            default: 131_072,
            max: BUFFER_MAX,
        },
        why: "TCP receive autotuning up to 16 MiB",
    },
    Sysctl {
        key: "net.ipv4.tcp_wmem",
        want: Want::MaxAtLeast {
            min: 4096,
            default: 16_384,
            max: BUFFER_MAX,
        },
        why: "TCP send autotuning up to 16 MiB",
    },
    Sysctl {
        key: "fs.nr_open",
        want: Want::AtLeast(NOFILE),
        why: "allow the service's LimitNOFILE=1048576",
    },
];

impl Sysctl {
    /// `/proc/sys/net/core/somaxconn`.
    pub fn path(&self) -> String {
        format!("/proc/sys/{}", self.key.replace('.', "/"))
    }

    pub fn expected(&self) -> String {
        match self.want {
            Want::AtMost(n) => format!("≤ {n}"),
            Want::AtLeast(n) => format!("≥ {n}"),
            Want::MaxAtLeast { max, .. } => format!("max ≥ {max}"),
        }
    }

    /// Whether the current text meets the target.
    pub fn satisfied(&self, current: &str) -> Result<bool, String> {
        Ok(match self.want {
            Want::AtMost(n) => facts::integer(current)? <= n,
            Want::AtLeast(n) => facts::integer(current)? >= n,
            Want::MaxAtLeast { max, .. } => {
                let values = facts::integers(current)?;
                values.get(2).ok_or("expected three numbers")? >= &max
            }
        })
    }

    /// The value to set: the current one when it already meets the target (never lower a
    /// higher limit), else the target, keeping the other fields of a triple.
    pub fn desired(&self, current: Option<&str>) -> String {
        if let Some(current) = current {
            if self.satisfied(current) == Ok(true) {
                return current.split_whitespace().collect::<Vec<_>>().join(" ");
            }
        }
        match self.want {
            Want::AtMost(n) | Want::AtLeast(n) => n.to_string(),
            Want::MaxAtLeast { min, default, max } => {
                let old = current
                    .and_then(|c| facts::integers(c).ok())
                    .unwrap_or_default();
                let min = old.first().copied().unwrap_or(min);
                let default = old.get(1).copied().unwrap_or(default);
                format!("{min} {default} {max}")
            }
        }
    }
}

pub fn sysctl(key: &str) -> Option<&'static Sysctl> {
    SYSCTLS.iter().find(|s| s.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_lowers_a_higher_value() {
        let somaxconn = sysctl("net.core.somaxconn").unwrap();
        assert_eq!(somaxconn.desired(Some("65535\n")), "65535");
        assert_eq!(somaxconn.desired(Some("128\n")), "4096");
        let rmem = sysctl("net.ipv4.tcp_rmem").unwrap();
        assert_eq!(rmem.satisfied("4096 131072 6291456"), Ok(false));
        assert_eq!(
            rmem.desired(Some("4096\t87380\t6291456\n")),
            "4096 87380 16777216"
        );
        assert_eq!(sysctl("vm.swappiness").unwrap().desired(Some("60")), "10");
        assert_eq!(somaxconn.path(), "/proc/sys/net/core/somaxconn");
    }
}
