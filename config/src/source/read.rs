//! Reading a configuration file's text, capped in size and refused unless it is a regular file.

use std::path::{Path, PathBuf};

use crate::limited_read;

/// The file could not be read at all (as opposed to read and found wrong).
#[derive(Debug, thiserror::Error)]
#[error("cannot read configuration file {}: {source}", path.display())]
pub struct ReadError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The largest configuration file pier reads: a cluster's pier.toml with a thousand streams is
/// well under 100 KiB, and a cap keeps a mistaken path (a log, `/dev/zero`) from exhausting memory.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The text of a regular file of at most [`MAX_CONFIG_BYTES`], in UTF-8.
pub(super) fn read_text(path: &Path) -> Result<String, ReadError> {
    let error = |source| ReadError {
        path: path.to_owned(),
        source,
    };
    let bytes = limited_read::read_regular(path, MAX_CONFIG_BYTES).map_err(error)?;
    String::from_utf8(bytes).map_err(|e| {
        error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ))
    })
}
