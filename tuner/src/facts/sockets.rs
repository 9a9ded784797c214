//! `/proc/net/tcp` and `/proc/net/tcp6`: listening sockets and their inodes.

use procfs::net::{TcpNetEntries, TcpState};
use procfs::{ExplicitSystemInfo, FromBufReadSI};

use crate::host::{Host, HostError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    pub inode: u64,
}

/// Sockets in state LISTEN, parsed by procfs (which only needs the byte order, for addresses
/// the checks do not use; ports and inodes read the same either way).
pub fn listeners(text: &str) -> Result<Vec<Listener>, String> {
    let system = ExplicitSystemInfo {
        boot_time_secs: 0,
        ticks_per_second: 0,
        page_size: 0,
        is_little_endian: cfg!(target_endian = "little"),
    };
    let entries =
        TcpNetEntries::from_buf_read(text.as_bytes(), &system).map_err(|e| e.to_string())?;
    Ok(entries
        .0
        .into_iter()
        .filter(|e| e.state == TcpState::Listen)
        .map(|e| Listener {
            port: e.local_address.port(),
            inode: e.inode,
        })
        .collect())
}

/// Every listening TCP socket of the host. `/proc/net/tcp` must be there (without it no port
/// can be called free); `tcp6` is absent on kernels without IPv6 and then adds nothing.
pub fn read_listeners(host: &Host) -> Result<Vec<Listener>, HostError> {
    let mut all = host.parse("/proc/net/tcp", listeners)?;
    let tcp6 = "/proc/net/tcp6";
    if let Some(text) = host.read_optional(tcp6)? {
        all.extend(listeners(&text).map_err(|e| HostError::parse(host.path(tcp6), e))?);
    }
    Ok(all)
}

/// The inode of a `socket:[12345]` file-descriptor link.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_listeners() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:107E 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:107E 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 6666 1 0000000000000000 100 0 0 10 0\n";
        let l = listeners(text).unwrap();
        assert_eq!(
            l,
            [Listener {
                port: 4222,
                inode: 5555
            }]
        );
        assert_eq!(socket_inode("socket:[5555]"), Some(5555));
        assert_eq!(socket_inode("/dev/null"), None);
        assert!(listeners("header\n   0: nonsense\n").is_err());
        assert_eq!(listeners("header only\n").unwrap(), []);
    }
}
