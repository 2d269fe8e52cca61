//! Writes a bundle's files into a deflated zip, in memory, in the order given, with a fixed
//! timestamp so the same input makes the same bytes.

use std::io::{Cursor, Write};

use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use super::error::EvidenceError;

/// Zips `files` (path, bytes) into one archive.
///
/// # Errors
/// [`EvidenceError::ZipWrite`]; [`EvidenceError::BadMemberName`] for a name the reader would
/// refuse.
pub fn write_zip(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, EvidenceError> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .unix_permissions(0o644);
    for (name, bytes) in files {
        super::zip_read::check_member_name(name)?;
        zip.start_file(name.as_str(), options)
            .map_err(|e| EvidenceError::ZipWrite(e.to_string()))?;
        zip.write_all(bytes)
            .map_err(|e| EvidenceError::ZipWrite(e.to_string()))?;
    }
    let cursor = zip
        .finish()
        .map_err(|e| EvidenceError::ZipWrite(e.to_string()))?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::zip_read::{ZipLimits, read_zip};

    #[test]
    fn round_trips_and_is_deterministic() {
        let files = vec![
            ("a.txt".to_string(), b"hello\n".to_vec()),
            ("entries/0/entry.bin".to_string(), vec![0u8; 1000]),
        ];
        let zip = write_zip(&files).unwrap();
        assert_eq!(zip, write_zip(&files).unwrap());
        let read = read_zip(&zip, &ZipLimits::default()).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read["a.txt"], b"hello\n");
        assert_eq!(read["entries/0/entry.bin"], vec![0u8; 1000]);
        assert!(write_zip(&[("../x".to_string(), vec![])]).is_err());
    }
}
