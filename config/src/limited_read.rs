//! Reading a file that a configuration names without trusting it: only a regular file, opened
//! without blocking (a FIFO would wait for a writer forever) and read up to a cap (`/dev/zero`
//! never ends).

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` for reading if it is a regular file; what it is otherwise is the error.
pub fn open_regular(path: &Path) -> io::Result<(File, Metadata)> {
    // O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer. It has no effect on
    // reads from a regular file, the only kind kept.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file but {}", kind(&metadata)),
        ));
    }
    Ok((file, metadata))
}

/// The contents of the regular file at `path`, refused when larger than `limit` bytes.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let (file, metadata) = open_regular(path)?;
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the {limit}-byte limit"),
        )
    };
    if metadata.len() > limit {
        return Err(too_large());
    }
    // The file may grow between fstat and read: the cap holds on the read itself.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

fn kind(metadata: &Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_would_hang_or_never_end() {
        let err = read_regular(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
        let err = read_regular(Path::new("/"), 1024).unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let err = read_regular(&fifo, 1024).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");

        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 2048]).unwrap();
        let err = read_regular(&big, 1024).unwrap_err();
        assert!(err.to_string().contains("1024-byte limit"), "{err}");
        assert_eq!(read_regular(&big, 2048).unwrap().len(), 2048);
    }

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }
}
