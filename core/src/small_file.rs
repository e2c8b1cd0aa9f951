//! Reading a small file a person names (a key, a checkpoint, a ticket list,
//! a directory of people): never more than its limit plus one byte, so a
//! huge file, or a device or pipe that never ends (`/dev/zero`, a FIFO,
//! whose reported size is 0), is refused instead of filling memory.

use std::io::Read;
use std::path::Path;

/// Why a small file could not be read.
#[derive(Debug)]
pub enum SmallFileError {
    /// It holds more than the limit (or never ends).
    TooLarge,
    /// It could not be opened or read (the system's reason).
    Io(std::io::Error),
}

/// The bytes of `path`, if it holds at most `limit` bytes.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, SmallFileError> {
    let file = std::fs::File::open(path).map_err(SmallFileError::Io)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(SmallFileError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(SmallFileError::TooLarge);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_refuses_one_byte_more() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read(&p, 5).unwrap(), b"12345");
        assert!(matches!(read(&p, 4), Err(SmallFileError::TooLarge)));
        assert!(matches!(
            read(&d.path().join("absent"), 4),
            Err(SmallFileError::Io(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_device_is_refused() {
        assert!(matches!(
            read(Path::new("/dev/zero"), 1000),
            Err(SmallFileError::TooLarge)
        ));
    }
}
