//! Secret files (`password_file`): how they are read, by validation and by rendering alike.

use std::path::{Path, PathBuf};

use crate::limited_read;

/// The largest secret file pier reads; a password is a few dozen bytes.
pub const MAX_SECRET_BYTES: u64 = 64 << 10;

/// Why a secret file cannot be used. Never carries the file's content.
#[derive(Debug, thiserror::Error)]
#[error("cannot read secret file {}: {reason}", path.display())]
pub struct SecretError {
    pub path: PathBuf,
    pub reason: String,
}

/// The secret in `path`: its text without the trailing line break editors add, non-empty.
pub fn read_secret(path: &Path) -> Result<String, SecretError> {
    let error = |reason: String| SecretError {
        path: path.to_owned(),
        reason,
    };
    let bytes =
        limited_read::read_regular(path, MAX_SECRET_BYTES).map_err(|e| error(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| error("the file is not UTF-8 text".into()))?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(error("the file is empty".into()));
    }
    Ok(secret.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_newline_trimmed_empty_refused_content_never_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        assert_eq!(read_secret(&file).unwrap(), "s3cret");
        std::fs::write(&file, "\n").unwrap();
        assert!(read_secret(&file)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        std::fs::write(&file, b"s3cret\xff").unwrap();
        let err = read_secret(&file).unwrap_err().to_string();
        assert!(
            err.contains("not UTF-8") && !err.contains("s3cret"),
            "{err}"
        );
        assert!(read_secret(Path::new("/dev/zero")).is_err());
    }
}
