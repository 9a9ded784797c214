//! The sysctl values pier wants, shared by `check` (limits, power) and `apply`.

use crate::facts;
use crate::host::{Host, HostError};

/// Socket buffers large enough for a route or a fast publisher to keep a 10 Gb/s link busy.
pub const BUFFER_MAX: u64 = 16 * 1024 * 1024;
/// The unit's LimitNOFILE (systemd/pier-broker.service, as upstream's unit; a test keeps them
/// equal); the kernel refuses a limit above fs.nr_open.
pub const NOFILE: u64 = 800_000;

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
        why: "allow the service's LimitNOFILE=800000",
    },
];

/// A sysctl's value as read: one number, or a `min default max` triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    One(u64),
    Triple([u64; 3]),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::One(n) => write!(f, "{n}"),
            Value::Triple([a, b, c]) => write!(f, "{a} {b} {c}"),
        }
    }
}

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

    /// Parses the file's text: exactly one number, or exactly three for a triple.
    pub fn parse(&self, text: &str) -> Result<Value, String> {
        match self.want {
            Want::AtMost(_) | Want::AtLeast(_) => facts::integer(text).map(Value::One),
            Want::MaxAtLeast { .. } => match facts::integers(text)?[..] {
                [min, default, max] => Ok(Value::Triple([min, default, max])),
                _ => Err(format!(
                    "{:?} is not three numbers (min default max)",
                    text.trim()
                )),
            },
        }
    }

    /// The current value on the host; a missing or unparseable file is an error naming it.
    pub fn read(&self, host: &Host) -> Result<Value, HostError> {
        host.parse(self.path(), |text| self.parse(text))
    }

    /// Whether the current value meets the target.
    pub fn satisfied(&self, current: &Value) -> bool {
        match (self.want, current) {
            (Want::AtMost(n), Value::One(v)) => *v <= n,
            (Want::AtLeast(n), Value::One(v)) => *v >= n,
            (Want::MaxAtLeast { max, .. }, Value::Triple([_, _, v])) => *v >= max,
            _ => false,
        }
    }

    /// The value to set: the current one when it already meets the target (never lower a
    /// higher limit), else the target, keeping the other fields of a triple. Derived only from a
    /// value that parsed.
    pub fn desired(&self, current: &Value) -> Value {
        if self.satisfied(current) {
            return *current;
        }
        match (self.want, current) {
            (Want::AtMost(n) | Want::AtLeast(n), _) => Value::One(n),
            (Want::MaxAtLeast { max, .. }, Value::Triple([min, default, _])) => {
                Value::Triple([*min, *default, max])
            }
            (Want::MaxAtLeast { min, default, max }, Value::One(_)) => {
                Value::Triple([min, default, max])
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
        let parse = |s: &Sysctl, t: &str| s.parse(t).unwrap();
        assert_eq!(
            somaxconn.desired(&parse(somaxconn, "65535\n")),
            Value::One(65535)
        );
        assert_eq!(
            somaxconn.desired(&parse(somaxconn, "128\n")),
            Value::One(4096)
        );
        let rmem = sysctl("net.ipv4.tcp_rmem").unwrap();
        assert!(!rmem.satisfied(&parse(rmem, "4096 131072 6291456")));
        assert_eq!(
            rmem.desired(&parse(rmem, "4096\t87380\t6291456\n"))
                .to_string(),
            "4096 87380 16777216"
        );
        let swappiness = sysctl("vm.swappiness").unwrap();
        assert_eq!(swappiness.desired(&parse(swappiness, "60")), Value::One(10));
        assert_eq!(somaxconn.path(), "/proc/sys/net/core/somaxconn");
    }

    #[test]
    fn refuses_what_it_cannot_parse() {
        let rmem = sysctl("net.ipv4.tcp_rmem").unwrap();
        for bad in ["1 2", "1 2 3 4", "", "a b c", "99999999999999999999 1 1"] {
            assert!(rmem.parse(bad).is_err(), "{bad:?}");
        }
        let somaxconn = sysctl("net.core.somaxconn").unwrap();
        assert!(somaxconn.parse("1 2").is_err());
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        let err = rmem.read(&host).unwrap_err().to_string();
        assert!(err.contains("proc/sys/net/ipv4/tcp_rmem"), "{err}");
    }

    #[test]
    fn nofile_is_the_units_limit() {
        let unit = include_str!("../../systemd/pier-broker.service");
        let limit = unit
            .lines()
            .find_map(|line| line.strip_prefix("LimitNOFILE="))
            .expect("the unit sets LimitNOFILE");
        assert_eq!(limit.parse::<u64>().unwrap(), NOFILE);
        let why = sysctl("fs.nr_open").unwrap();
        assert!(
            why.why.contains(&format!("LimitNOFILE={NOFILE}")),
            "{}",
            why.why
        );
    }
}
