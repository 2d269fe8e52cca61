//! C2SP tlog-tiles entry bundles: up to 256 entries, each with a 2-byte big-endian length
//! prefix. Encoding, strict decoding, and appending a batch to the right-edge bundle.

use super::error::TileError;
use super::hash::{Hash, leaf_hash};
use super::plan::MAX_TREE_SIZE;
use super::tile_path::{TILE_WIDTH, Tile};

/// The largest entry a bundle can carry.
pub const MAX_BUNDLE_ENTRY: usize = u16::MAX as usize;

/// Encodes entries into one bundle.
///
/// # Errors
/// [`TileError::EntryTooLarge`] for an entry over 65535 bytes;
/// [`TileError::MalformedBundle`] for more than 256 entries.
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    if entries.len() as u64 > TILE_WIDTH {
        return Err(TileError::MalformedBundle("more than 256 entries"));
    }
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.as_ref().len() + 2).sum());
    for e in entries {
        push_entry(&mut out, e.as_ref())?;
    }
    Ok(out)
}

fn push_entry(out: &mut Vec<u8>, e: &[u8]) -> Result<(), TileError> {
    let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge(e.len()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(e);
    Ok(())
}

/// Decodes a bundle into its entries (borrowed), refusing truncation and more than 256.
///
/// # Errors
/// [`TileError::MalformedBundle`].
pub fn decode_bundle(data: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if out.len() as u64 == TILE_WIDTH {
            return Err(TileError::MalformedBundle("more than 256 entries"));
        }
        let (len, tail) = match rest {
            [a, b, tail @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), tail),
            _ => return Err(TileError::MalformedBundle("truncated length")),
        };
        if tail.len() < len {
            return Err(TileError::MalformedBundle("truncated entry"));
        }
        let (entry, next) = tail.split_at(len);
        out.push(entry);
        rest = next;
    }
    Ok(out)
}

/// Decodes a bundle that must hold exactly `tile.width` entries.
///
/// # Errors
/// [`TileError::MalformedBundle`].
pub fn decode_bundle_for(tile: &Tile, data: &[u8]) -> Result<Vec<Vec<u8>>, TileError> {
    let entries = decode_bundle(data)?;
    if entries.len() != usize::from(tile.width) {
        return Err(TileError::MalformedBundle("entry count differs from width"));
    }
    Ok(entries.into_iter().map(<[u8]>::to_vec).collect())
}

/// The leaf hashes of a bundle's entries, to compare with the level-0 tile of the same index.
///
/// # Errors
/// [`TileError::MalformedBundle`].
pub fn bundle_leaf_hashes(data: &[u8]) -> Result<Vec<Hash>, TileError> {
    Ok(decode_bundle(data)?.into_iter().map(leaf_hash).collect())
}

/// What appending entries to bundles produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleAppend {
    /// Every new or grown bundle with its full contents.
    pub bundles: Vec<(Tile, Vec<u8>)>,
    /// The new right-edge (partial) bundle, empty when the last bundle is full.
    pub partial: Vec<u8>,
}

/// Appends entries to a log of `size` entries whose last, partial bundle is `partial` (empty
/// when the last bundle is full). Returns every new or grown bundle and the new partial one.
///
/// # Errors
/// [`TileError::MalformedBundle`] when `partial` does not hold `size % 256` entries;
/// [`TileError::EntryTooLarge`]; [`TileError::TreeTooLarge`].
pub fn append_bundles<E: AsRef<[u8]>>(
    size: u64,
    partial: &[u8],
    entries: &[E],
) -> Result<BundleAppend, TileError> {
    let new_size = size
        .checked_add(entries.len() as u64)
        .filter(|s| *s <= MAX_TREE_SIZE)
        .ok_or(TileError::TreeTooLarge)?;
    let mut width = decode_bundle(partial)?.len() as u64;
    if width != size % TILE_WIDTH {
        return Err(TileError::MalformedBundle(
            "partial bundle does not match size",
        ));
    }
    let mut out = Vec::new();
    let mut index = size / TILE_WIDTH;
    let mut current = partial.to_vec();
    let mut dirty = false;
    for e in entries {
        push_entry(&mut current, e.as_ref())?;
        width += 1;
        dirty = true;
        if width == TILE_WIDTH {
            out.push((Tile::full(0, index), std::mem::take(&mut current)));
            index += 1;
            width = 0;
            dirty = false;
        }
    }
    if dirty {
        out.push((
            Tile {
                level: 0,
                index,
                width: width as u16,
            },
            current.clone(),
        ));
    }
    debug_assert_eq!(index * TILE_WIDTH + width, new_size);
    Ok(BundleAppend {
        bundles: out,
        partial: current,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_with_big_endian_lengths() {
        let b = encode_bundle(&[b"ab".as_slice(), b"", &[7u8; 300]]).unwrap();
        assert_eq!(&b[..6], &[0, 2, b'a', b'b', 0, 0]);
        assert_eq!(&b[6..8], &[0x01, 0x2c]);
        let back = decode_bundle(&b).unwrap();
        assert_eq!(back, vec![b"ab".as_slice(), b"", &[7u8; 300]]);
    }

    #[test]
    fn rejects_malformed() {
        assert!(decode_bundle(&[0]).is_err());
        assert!(decode_bundle(&[0, 3, 1, 2]).is_err());
        assert!(decode_bundle(&[]).unwrap().is_empty());
        let many = vec![0u8; 2 * 257];
        assert!(decode_bundle(&many).is_err());
        assert_eq!(decode_bundle(&many[..512]).unwrap().len(), 256);
        assert!(encode_bundle(&[vec![0u8; 65_536]]).is_err());
        let t = Tile {
            level: 0,
            index: 0,
            width: 2,
        };
        assert!(decode_bundle_for(&t, &[0, 0]).is_err());
        assert_eq!(
            decode_bundle_for(&t, &[0, 0, 0, 1, 9]).unwrap(),
            vec![vec![], vec![9]]
        );
    }

    #[test]
    fn append_matches_bundling_everything_at_once() {
        let entries: Vec<Vec<u8>> = (0u32..600)
            .map(|i| i.to_be_bytes()[..(i % 4) as usize].to_vec())
            .collect();
        let mut size = 0u64;
        let mut partial = Vec::new();
        let mut latest = std::collections::BTreeMap::new();
        for step in [3usize, 253, 1, 299, 44] {
            let batch = &entries[size as usize..size as usize + step];
            let BundleAppend {
                bundles,
                partial: next,
            } = append_bundles(size, &partial, batch).unwrap();
            for (t, data) in bundles {
                latest.insert(t.index, (t, data));
            }
            size += step as u64;
            partial = next;
        }
        for (index, (t, data)) in latest {
            let start = (index * 256) as usize;
            let want = encode_bundle(&entries[start..start + usize::from(t.width)]).unwrap();
            assert_eq!(data, want);
        }
        assert!(append_bundles(5, &[], &entries[..1]).is_err());
    }
}
