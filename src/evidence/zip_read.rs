//! Reads an untrusted zip into memory, refusing anything a bundle never holds: too many
//! members, large members, high compression ratios (zip bombs), unsafe or repeated names,
//! directories, symlinks, encryption and methods other than stored and deflate.
//!
//! Sizes declared in the headers are checked first, but the limits hold on the bytes actually
//! inflated: each member is read through a `take` of its cap, so a lying header costs at most
//! the cap.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use zip::{CompressionMethod, ZipArchive};

use super::error::EvidenceError;

/// Safety limits for reading a zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// Largest zip accepted, in bytes.
    pub max_zip_bytes: usize,
    /// Most members.
    pub max_members: usize,
    /// Largest member once inflated.
    pub max_member_bytes: u64,
    /// Largest sum of inflated members.
    pub max_total_bytes: u64,
    /// Largest inflated / compressed ratio, for members over `ratio_floor` bytes.
    pub max_ratio: u64,
    /// Members up to this size are exempt from the ratio (short text compresses well).
    pub ratio_floor: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self {
            max_zip_bytes: 64 * 1024 * 1024,
            max_members: 256,
            max_member_bytes: 48 * 1024 * 1024,
            max_total_bytes: 96 * 1024 * 1024,
            max_ratio: 100,
            ratio_floor: 64 * 1024,
        }
    }
}

/// Longest member name.
const MAX_NAME_LEN: usize = 200;
/// Deepest member path.
const MAX_DEPTH: usize = 4;

/// Refuses a member name unless it is a plain relative path of short components made of ASCII
/// letters, digits, `.`, `_` and `-`, none of them `.` or `..` or starting with a dot.
///
/// # Errors
/// [`EvidenceError::BadMemberName`].
pub fn check_member_name(name: &str) -> Result<(), EvidenceError> {
    let bad = || EvidenceError::BadMemberName(name.chars().take(80).collect());
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(bad());
    }
    let parts: Vec<&str> = name.split('/').collect();
    if parts.len() > MAX_DEPTH {
        return Err(bad());
    }
    for p in parts {
        let ok_chars = p
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if p.is_empty() || p.starts_with('.') || !ok_chars {
            return Err(bad());
        }
    }
    Ok(())
}

fn limit(what: String) -> EvidenceError {
    EvidenceError::ZipLimit(what)
}

/// Reads every member of `bytes` into a map from name to contents, within `limits`.
///
/// # Errors
/// [`EvidenceError::ZipRead`] for an unreadable archive or a CRC mismatch;
/// [`EvidenceError::ZipLimit`]; [`EvidenceError::BadMemberName`] (also for a name repeated,
/// even in another letter case).
pub fn read_zip(
    bytes: &[u8],
    limits: &ZipLimits,
) -> Result<BTreeMap<String, Vec<u8>>, EvidenceError> {
    if bytes.len() > limits.max_zip_bytes {
        return Err(limit(format!(
            "the zip is {} bytes, more than {}",
            bytes.len(),
            limits.max_zip_bytes
        )));
    }
    let mut archive =
        ZipArchive::new(Cursor::new(bytes)).map_err(|e| EvidenceError::ZipRead(e.to_string()))?;
    if archive.len() > limits.max_members {
        return Err(limit(format!(
            "{} members, more than {}",
            archive.len(),
            limits.max_members
        )));
    }
    let mut out = BTreeMap::new();
    let mut lower_names: Vec<String> = Vec::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let file = archive
            .by_index(i)
            .map_err(|e| EvidenceError::ZipRead(e.to_string()))?;
        let name = std::str::from_utf8(file.name_raw())
            .map_err(|_| EvidenceError::BadMemberName("(not UTF-8)".into()))?
            .to_owned();
        check_member_name(&name)?;
        let lower = name.to_ascii_lowercase();
        if lower_names.contains(&lower) {
            return Err(EvidenceError::BadMemberName(name));
        }
        lower_names.push(lower);
        if file.is_dir() || file.is_symlink() || !file.is_file() {
            return Err(EvidenceError::BadMemberName(name));
        }
        if file.encrypted() {
            return Err(limit(format!("{name} is encrypted")));
        }
        if !matches!(
            file.compression(),
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            return Err(limit(format!("{name} uses an unsupported compression")));
        }
        let compressed = file.compressed_size();
        check_sizes(&name, file.size(), compressed, total, limits)?;
        // Read at most one byte past the cap, whatever the header claims.
        let cap = limits
            .max_member_bytes
            .min(limits.max_total_bytes.saturating_sub(total));
        let mut buf = Vec::with_capacity(usize::try_from(file.size().min(cap)).unwrap_or(0));
        file.take(cap.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| EvidenceError::ZipRead(format!("{name}: {e}")))?;
        let got = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        check_sizes(&name, got, compressed, total, limits)?;
        total = total.saturating_add(got);
        out.insert(name, buf);
    }
    Ok(out)
}

fn check_sizes(
    name: &str,
    size: u64,
    compressed: u64,
    total: u64,
    limits: &ZipLimits,
) -> Result<(), EvidenceError> {
    if size > limits.max_member_bytes {
        return Err(limit(format!(
            "{name} inflates beyond {} bytes",
            limits.max_member_bytes
        )));
    }
    if total.saturating_add(size) > limits.max_total_bytes {
        return Err(limit(format!(
            "members inflate beyond {} bytes in all",
            limits.max_total_bytes
        )));
    }
    if size > limits.ratio_floor && size / compressed.max(1) > limits.max_ratio {
        return Err(limit(format!(
            "{name} compresses {}:1, more than {}:1 (a zip bomb?)",
            size / compressed.max(1),
            limits.max_ratio
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;
    use zip::write::{SimpleFileOptions, ZipWriter};

    fn zip_raw(files: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
        let mut z = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in files {
            z.start_file(
                *name,
                SimpleFileOptions::default().compression_method(method),
            )
            .unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    #[test]
    fn names_are_checked() {
        for ok in [
            "manifest.json",
            "entries/0/entry.bin",
            "document.xml",
            "a-b_c.D",
        ] {
            assert!(check_member_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a\\b",
            "C:x",
            ".hidden",
            "a/./b",
            "dir/",
            "a b",
            "a/b/c/d/e",
            "ü.txt",
            &"x".repeat(201),
        ] {
            assert!(check_member_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refuses_traversal_duplicates_and_directories() {
        let z = zip_raw(&[("../evil", b"x")], CompressionMethod::Stored);
        assert!(matches!(
            read_zip(&z, &ZipLimits::default()),
            Err(EvidenceError::BadMemberName(_))
        ));
        let z = zip_raw(
            &[("a.txt", b"1"), ("A.TXT", b"2")],
            CompressionMethod::Stored,
        );
        assert!(matches!(
            read_zip(&z, &ZipLimits::default()),
            Err(EvidenceError::BadMemberName(_))
        ));
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.add_directory("d", SimpleFileOptions::default()).unwrap();
        let z = w.finish().unwrap().into_inner();
        assert!(read_zip(&z, &ZipLimits::default()).is_err());
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.add_symlink("link", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        let z = w.finish().unwrap().into_inner();
        assert!(read_zip(&z, &ZipLimits::default()).is_err());
    }

    #[test]
    fn refuses_bombs_big_members_and_too_many_members() {
        // 16 MiB of zeros deflate to about 16 KiB; with a 4 MiB member cap (the same code path
        // as the default 48 MiB, at a test-friendly scale) it is refused on the header, before
        // inflating, and the ratio alone would refuse it too.
        let big = vec![0u8; 16 * 1024 * 1024];
        let z = zip_raw(&[("bomb.bin", &big)], CompressionMethod::Deflated);
        drop(big);
        assert!(z.len() < 64 * 1024);
        let small = ZipLimits {
            max_member_bytes: 4 * 1024 * 1024,
            max_ratio: u64::MAX,
            ..ZipLimits::default()
        };
        let e = read_zip(&z, &small).unwrap_err();
        assert!(e.to_string().contains("inflates beyond"), "{e}");
        let e = read_zip(&z, &ZipLimits::default()).unwrap_err();
        assert!(matches!(e, EvidenceError::ZipLimit(_)), "{e}");
        // A header that lies (claims 10 bytes) still stops at the cap: see below.

        // A 1 MiB member of zeros: over the ratio even though under the size cap.
        let z = zip_raw(
            &[("z.bin", &vec![0u8; 1 << 20])],
            CompressionMethod::Deflated,
        );
        let e = read_zip(&z, &ZipLimits::default()).unwrap_err();
        assert!(e.to_string().contains("compresses"), "{e}");

        // Stored (ratio 1) but over the member cap.
        let limits = ZipLimits {
            max_member_bytes: 1000,
            ..ZipLimits::default()
        };
        let z = zip_raw(&[("s.bin", &[7u8; 1001])], CompressionMethod::Stored);
        assert!(read_zip(&z, &limits).is_err());
        let z = zip_raw(&[("s.bin", &[7u8; 1000])], CompressionMethod::Stored);
        assert!(read_zip(&z, &limits).is_ok());

        // Total cap across members.
        let limits = ZipLimits {
            max_total_bytes: 1500,
            ..ZipLimits::default()
        };
        let z = zip_raw(
            &[("a", &[1u8; 1000]), ("b", &[2u8; 1000])],
            CompressionMethod::Stored,
        );
        assert!(read_zip(&z, &limits).is_err());

        let names: Vec<String> = (0..300).map(|i| format!("f{i}")).collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let z = zip_raw(&files, CompressionMethod::Stored);
        let e = read_zip(&z, &ZipLimits::default()).unwrap_err();
        assert!(e.to_string().contains("members"), "{e}");

        let limits = ZipLimits {
            max_zip_bytes: 10,
            ..ZipLimits::default()
        };
        assert!(read_zip(&zip_raw(&[("a", b"x")], CompressionMethod::Stored), &limits).is_err());
    }

    #[test]
    fn lying_header_is_caught_on_the_inflated_bytes() {
        // Patch the stored sizes in both headers to claim 10 bytes while 5000 are stored: the
        // reader must not return more than the cap nor accept the member silently.
        let data = vec![b'a'; 5000];
        let mut z = zip_raw(&[("a.txt", &data)], CompressionMethod::Stored);
        let limits = ZipLimits {
            max_member_bytes: 100,
            ..ZipLimits::default()
        };
        patch_sizes(&mut z, 5000, 10);
        assert!(read_zip(&z, &limits).is_err());
    }

    /// Rewrites every little-endian u32 `from` in the headers to `to`.
    fn patch_sizes(z: &mut [u8], from: u32, to: u32) {
        let f = from.to_le_bytes();
        let mut i = 0;
        while i + 4 <= z.len() {
            if z[i..i + 4] == f {
                z[i..i + 4].copy_from_slice(&to.to_le_bytes());
            }
            i += 1;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = read_zip(&bytes, &ZipLimits::default());
        }

        #[test]
        fn mutated_zips_never_panic(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut z = zip_raw(
                &[("manifest.json", b"{\"a\":1}"), ("entries/0/entry.bin", &[9u8; 300])],
                CompressionMethod::Deflated,
            );
            for (at, v) in flips {
                let n = z.len();
                z[at % n] ^= v;
            }
            let keep = z.len() - (cut % 8).min(z.len());
            z.truncate(keep);
            let _ = read_zip(&z, &ZipLimits::default());
        }
    }
}
