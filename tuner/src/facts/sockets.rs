//! `/proc/net/tcp` and `/proc/net/tcp6`: listening sockets and their inodes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    pub inode: u64,
}

/// Sockets in state LISTEN (`0A`).
pub fn listeners(text: &str) -> Result<Vec<Listener>, String> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 10 {
            continue;
        }
        if words[3] != "0A" {
            continue;
        }
        let port = words[1]
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            .ok_or_else(|| format!("bad local address {:?}", words[1]))?;
        let inode = words[9]
            .parse()
            .map_err(|_| format!("bad inode {:?}", words[9]))?;
        out.push(Listener { port, inode });
    }
    Ok(out)
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
    }
}
