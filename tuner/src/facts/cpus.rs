//! The CPUs of the host and the cores nats-server is meant to run on.

use pier_config::cpuset::{HostCpus, HostCpusError};
use pier_config::model::CpuPlacement;
use pier_config::CpuSet;

use crate::host::{Host, HostError};

/// Online, present and possible CPUs.
#[derive(Debug, Clone)]
pub struct Topology {
    pub online: CpuSet,
    pub present: CpuSet,
    pub possible: CpuSet,
}

impl Topology {
    pub fn read(host: &Host) -> Result<Self, HostError> {
        Ok(Topology {
            online: host.cpu_list(pier_config::cpuset::SYSFS_ONLINE)?,
            present: host.cpu_list("/sys/devices/system/cpu/present")?,
            possible: host.cpu_list("/sys/devices/system/cpu/possible")?,
        })
    }

    pub fn last_cpu(&self) -> Option<usize> {
        self.possible.iter().last()
    }
}

/// The cores nats-server is meant to run on, as resolved from `resources.cpus` and the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsCores {
    /// `cpus = "2-7"`.
    Listed(CpuSet),
    /// `cpus = "auto"` on a host with isolated cores.
    Isolated(CpuSet),
    /// `cpus = "auto"` and nothing isolated: nats-server is not pinned.
    AutoNothingIsolated,
    /// `cpus = "all"`.
    All,
}

impl NatsCores {
    /// The cores, when nats-server is meant to be confined to some.
    pub fn set(&self) -> Option<&CpuSet> {
        match self {
            NatsCores::Listed(set) | NatsCores::Isolated(set) => Some(set),
            NatsCores::AutoNothingIsolated | NatsCores::All => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            NatsCores::Listed(set) => format!("cpus = \"{set}\""),
            NatsCores::Isolated(set) => format!("cpus = \"auto\" (isolated cores {set})"),
            NatsCores::AutoNothingIsolated => "cpus = \"auto\" with no isolated cores".to_owned(),
            NatsCores::All => "cpus = \"all\"".to_owned(),
        }
    }
}

/// Resolves `resources.cpus` exactly as `pier-broker run` does: `auto` through
/// [`HostCpus::read`] and [`HostCpus::auto_cores`] (the domain-isolated cores that are online; a
/// missing `online` file is an error). An `isolcpus=` without the `domain` flag isolates nothing
/// from the scheduler, so it leaves nats-server unpinned there too.
pub fn nats_cores(placement: &CpuPlacement, host: &Host) -> Result<NatsCores, HostError> {
    Ok(match placement {
        CpuPlacement::List(set) => NatsCores::Listed(set.clone()),
        CpuPlacement::All => NatsCores::All,
        CpuPlacement::Auto => match HostCpus::read(host.root())?.auto_cores() {
            Some(cores) => NatsCores::Isolated(cores),
            None => NatsCores::AutoNothingIsolated,
        },
    })
}

impl From<HostCpusError> for HostError {
    fn from(error: HostCpusError) -> Self {
        match error {
            HostCpusError::Read { path, source } => HostError::Read { path, source },
            HostCpusError::Parse { path, source } => HostError::parse(path, source.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The broker's `placement::a_missing_online_file_is_an_error_naming_it` reads the same tree.
    #[test]
    fn auto_without_an_online_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let cpu = dir.path().join("sys/devices/system/cpu");
        std::fs::create_dir_all(&cpu).unwrap();
        std::fs::write(cpu.join("isolated"), "2-7\n").unwrap();
        let host = Host::new(dir.path());
        let err = nats_cores(&CpuPlacement::Auto, &host)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("{}/online", cpu.display())), "{err}");
        std::fs::write(cpu.join("online"), "0-7\n").unwrap();
        assert_eq!(
            nats_cores(&CpuPlacement::Auto, &host).unwrap(),
            NatsCores::Isolated("2-7".parse().unwrap())
        );
        std::fs::remove_file(cpu.join("isolated")).unwrap();
        assert_eq!(
            nats_cores(&CpuPlacement::Auto, &host).unwrap(),
            NatsCores::AutoNothingIsolated
        );
    }
}
