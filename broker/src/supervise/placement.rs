//! Which cores nats-server runs on, and which are left to the supervisor (housekeeping).

use std::path::Path;

use pier_config::cpuset::{HostCpus, HostCpusError};
use pier_config::model::CpuPlacement;
use pier_config::CpuSet;

/// `None` means "not pinned": the process keeps the affinity it inherited.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Placement {
    pub server: Option<CpuSet>,
    pub supervisor: Option<CpuSet>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    #[error("resources.cpus: CPU {offline} not online (online: {online})")]
    Offline { offline: CpuSet, online: CpuSet },
    #[error(transparent)]
    Host(#[from] HostCpusError),
    #[error("cannot set CPU affinity to {cpus}: {source}")]
    Pin {
        cpus: CpuSet,
        #[source]
        source: nix::Error,
    },
}

/// Resolves `resources.cpus` against the machine: pure, so every case is unit-tested.
pub fn resolve(wanted: &CpuPlacement, host: &HostCpus) -> Result<Placement, PlacementError> {
    let online = &host.online;
    let server = match wanted {
        CpuPlacement::All => None,
        CpuPlacement::Auto => host.auto_cores(),
        CpuPlacement::List(list) => {
            let offline = list.difference(online);
            if !offline.is_empty() {
                return Err(PlacementError::Offline {
                    offline,
                    online: online.clone(),
                });
            }
            Some(list.clone())
        }
    };
    // The supervisor stays off nats-server's cores, unless those are all there is.
    let supervisor = server
        .as_ref()
        .map(|s| online.difference(s))
        .filter(|rest| !rest.is_empty());
    Ok(Placement { server, supervisor })
}

/// Resolves against this machine's online and isolated cores, read as `pier-tuner` reads them
/// (a missing `online` is an error, a missing `isolated` means none).
pub fn resolve_here(wanted: &CpuPlacement) -> Result<Placement, PlacementError> {
    resolve_under(wanted, Path::new("/"))
}

/// Like [`resolve_here`], with sysfs under `root` (a captured tree in tests).
pub fn resolve_under(wanted: &CpuPlacement, root: &Path) -> Result<Placement, PlacementError> {
    resolve(wanted, &HostCpus::read(root)?)
}

/// The affinity mask the kernel takes, built before any fork so the child only makes a syscall.
pub fn to_affinity(cpus: &CpuSet) -> Result<nix::sched::CpuSet, PlacementError> {
    let mut set = nix::sched::CpuSet::new();
    for cpu in cpus.iter() {
        set.set(cpu).map_err(|source| PlacementError::Pin {
            cpus: cpus.clone(),
            source,
        })?;
    }
    Ok(set)
}

/// Pins the calling thread (and every thread it starts afterwards) to `cpus`.
pub fn pin_current_thread(cpus: &CpuSet) -> Result<(), PlacementError> {
    let set = to_affinity(cpus)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).map_err(|source| {
        PlacementError::Pin {
            cpus: cpus.clone(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> CpuSet {
        s.parse().unwrap()
    }

    fn resolve(
        wanted: &CpuPlacement,
        online: &CpuSet,
        isolated: &CpuSet,
    ) -> Result<Placement, PlacementError> {
        super::resolve(
            wanted,
            &HostCpus {
                online: online.clone(),
                isolated: isolated.clone(),
            },
        )
    }

    #[test]
    fn auto_uses_isolated_cores_when_there_are_any() {
        let p = resolve(&CpuPlacement::Auto, &set("0-7"), &set("2-7")).unwrap();
        assert_eq!(p.server, Some(set("2-7")));
        assert_eq!(p.supervisor, Some(set("0-1")));
        let p = resolve(&CpuPlacement::Auto, &set("0-7"), &set("")).unwrap();
        assert_eq!(
            p,
            Placement {
                server: None,
                supervisor: None
            }
        );
    }

    #[test]
    fn all_never_pins() {
        let p = resolve(&CpuPlacement::All, &set("0-7"), &set("2-7")).unwrap();
        assert_eq!(
            p,
            Placement {
                server: None,
                supervisor: None
            }
        );
    }

    #[test]
    fn a_list_pins_there_and_leaves_the_rest_to_the_supervisor() {
        let p = resolve(&CpuPlacement::List(set("1")), &set("0-1"), &set("")).unwrap();
        assert_eq!(p.server, Some(set("1")));
        assert_eq!(p.supervisor, Some(set("0")));
        let p = resolve(&CpuPlacement::List(set("0-1")), &set("0-1"), &set("")).unwrap();
        assert_eq!(p.supervisor, None);
    }

    #[test]
    fn an_offline_core_is_an_error() {
        let e = resolve(&CpuPlacement::List(set("1-3")), &set("0-1"), &set("")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "resources.cpus: CPU 2-3 not online (online: 0-1)"
        );
    }

    /// A missing `online` stops the supervisor with the file named, whatever `cpus` says, as it
    /// stops the tuner (tuner/src/facts/cpus.rs has the same test).
    #[test]
    fn a_missing_online_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let cpu = dir.path().join("sys/devices/system/cpu");
        std::fs::create_dir_all(&cpu).unwrap();
        std::fs::write(cpu.join("isolated"), "2-7\n").unwrap();
        for wanted in [
            CpuPlacement::Auto,
            CpuPlacement::All,
            CpuPlacement::List(set("2")),
        ] {
            let err = resolve_under(&wanted, dir.path()).unwrap_err().to_string();
            assert!(err.contains(&format!("{}/online", cpu.display())), "{err}");
        }
        std::fs::write(cpu.join("online"), "0-7\n").unwrap();
        let p = resolve_under(&CpuPlacement::Auto, dir.path()).unwrap();
        assert_eq!(p.server, Some(set("2-7")));
        assert_eq!(p.supervisor, Some(set("0-1")));
    }
}
