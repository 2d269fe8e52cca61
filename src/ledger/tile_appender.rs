//! The pure tile appender: from the tree's right-edge (partial) tiles and a batch of new leaf
//! hashes, every tile the batch changes or creates, the new right edge, and the new root.
//!
//! A sequencer keeps only the right edge in memory (at most 255 hashes per tile level) and
//! never the whole tree; it writes the returned tiles in the same transaction as the batch.

use super::error::TileError;
use super::hash::{Hash, empty_root, node_hash};
use super::plan::MAX_TREE_SIZE;
use super::tile_path::{TILE_HEIGHT, TILE_WIDTH, Tile};
use super::tiles::{complete_root, to_hash};

/// The right edge of a tiled tree: its size and the partial tile at each tile level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TileEdge {
    size: u64,
    /// `partial[t]`: the hashes (32 bytes each) of the partial tile at tile level `t`, empty
    /// when that level's last tile is full; one entry per level that has any hash.
    partial: Vec<Vec<u8>>,
}

/// What appending a batch produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileAppend {
    /// The right edge after the batch; keep it for the next one once the batch is durable.
    pub edge: TileEdge,
    /// Every new or grown tile with its full contents, lowest level first.
    pub tiles: Vec<(Tile, Vec<u8>)>,
    /// The root hash of the tree after the batch.
    pub root: Hash,
}

impl TileEdge {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The partial tiles to load from storage to rebuild the edge of a tree of `size` leaves.
    pub fn tiles_needed(size: u64) -> Vec<Tile> {
        let mut out = Vec::new();
        let mut level = 0u8;
        while let Some(hashes) = hashes_at(size, level).filter(|h| *h > 0) {
            let width = hashes % TILE_WIDTH;
            if width > 0 {
                out.push(Tile {
                    level,
                    index: hashes / TILE_WIDTH,
                    width: width as u16,
                });
            }
            level += 1;
        }
        out
    }

    /// Rebuilds the edge from exactly the tiles [`TileEdge::tiles_needed`] names.
    ///
    /// # Errors
    /// [`TileError::EdgeMismatch`] when a tile is missing, extra or of the wrong width;
    /// [`TileError::WrongTileLength`] when data does not match its width;
    /// [`TileError::TreeTooLarge`] beyond [`MAX_TREE_SIZE`].
    pub fn from_tiles(size: u64, tiles: Vec<(Tile, Vec<u8>)>) -> Result<Self, TileError> {
        if size > MAX_TREE_SIZE {
            return Err(TileError::TreeTooLarge);
        }
        let needed = Self::tiles_needed(size);
        if tiles.len() != needed.len() {
            return Err(TileError::EdgeMismatch(size));
        }
        let levels = levels_for(size);
        let mut partial = vec![Vec::new(); levels];
        for (tile, data) in tiles {
            if !needed.contains(&tile) {
                return Err(TileError::EdgeMismatch(size));
            }
            if data.len() != tile.byte_len() {
                return Err(TileError::WrongTileLength {
                    got: data.len(),
                    want: tile.byte_len(),
                });
            }
            let slot = partial
                .get_mut(usize::from(tile.level))
                .ok_or(TileError::EdgeMismatch(size))?;
            *slot = data;
        }
        Ok(Self { size, partial })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The partial tiles, lowest level first, as they would be stored.
    pub fn tiles(&self) -> Vec<(Tile, Vec<u8>)> {
        Self::tiles_needed(self.size)
            .into_iter()
            .filter_map(|t| {
                self.partial
                    .get(usize::from(t.level))
                    .map(|d| (t, d.clone()))
            })
            .collect()
    }

    /// The root hash of the tree.
    pub fn root(&self) -> Hash {
        // Left to right: higher tile levels hold the larger, leftmost complete subtrees.
        let mut parts: Vec<Hash> = Vec::new();
        for data in self.partial.iter().rev() {
            let mut at = 0usize;
            let count = data.len() / 32;
            for bit in (0..TILE_HEIGHT).rev() {
                let run = 1usize << bit;
                if count & run != 0 {
                    parts.push(complete_root(&data[at * 32..(at + run) * 32]));
                    at += run;
                }
            }
        }
        let mut iter = parts.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }

    /// Appends a batch of leaf hashes; `self` is unchanged, so a failed commit loses nothing.
    ///
    /// # Errors
    /// [`TileError::TreeTooLarge`] beyond [`MAX_TREE_SIZE`].
    pub fn append(&self, leaves: &[Hash]) -> Result<TileAppend, TileError> {
        let new_size = self
            .size
            .checked_add(leaves.len() as u64)
            .filter(|s| *s <= MAX_TREE_SIZE)
            .ok_or(TileError::TreeTooLarge)?;
        let mut tiles = Vec::new();
        let mut partial = Vec::with_capacity(levels_for(new_size));
        // New hashes arriving at the current tile level, as bytes.
        let mut incoming: Vec<u8> = leaves.concat();
        let mut level = 0u8;
        while usize::from(level) < levels_for(new_size) {
            let old = self
                .partial
                .get(usize::from(level))
                .map_or(&[][..], Vec::as_slice);
            if incoming.is_empty() {
                partial.push(old.to_vec());
                level += 1;
                continue;
            }
            let before = hashes_at(self.size, level).unwrap_or(0);
            let mut run = Vec::with_capacity(old.len() + incoming.len());
            run.extend_from_slice(old);
            run.extend_from_slice(&incoming);
            let mut next = Vec::new();
            let first_index = before / TILE_WIDTH;
            let mut last_partial = Vec::new();
            for (i, chunk) in run.chunks(TILE_WIDTH as usize * 32).enumerate() {
                let width = (chunk.len() / 32) as u16;
                let index = first_index + i as u64;
                tiles.push((
                    Tile {
                        level,
                        index,
                        width,
                    },
                    chunk.to_vec(),
                ));
                if u64::from(width) == TILE_WIDTH {
                    next.extend_from_slice(&complete_root(chunk));
                } else {
                    last_partial = chunk.to_vec();
                }
            }
            partial.push(last_partial);
            incoming = next;
            level += 1;
        }
        let edge = TileEdge {
            size: new_size,
            partial,
        };
        let root = edge.root();
        Ok(TileAppend { edge, tiles, root })
    }
}

/// Hashes at tree level `8 * level` in a tree of `size` leaves (None past 64 bits).
fn hashes_at(size: u64, level: u8) -> Option<u64> {
    size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
}

/// Number of tile levels that hold at least one hash.
fn levels_for(size: u64) -> usize {
    let mut n = 0u8;
    while hashes_at(size, n).is_some_and(|h| h > 0) {
        n += 1;
    }
    usize::from(n)
}

/// Leaf hashes of a level-0 tile's bytes.
pub fn tile_hashes(data: &[u8]) -> Vec<Hash> {
    data.chunks_exact(32).map(to_hash).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::hash::leaf_hash;
    use crate::ledger::reference::root_of;

    fn leaves(n: u32) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn appends_and_roots_match_reference() {
        let l = leaves(700);
        let mut edge = TileEdge::new();
        assert_eq!(edge.root(), empty_root());
        let mut at = 0usize;
        for step in [1usize, 254, 1, 1, 300, 143] {
            let out = edge.append(&l[at..at + step]).unwrap();
            at += step;
            assert_eq!(out.root, root_of(&l[..at]), "size {at}");
            assert_eq!(out.edge.size(), at as u64);
            // The edge survives a round trip through storage.
            let back = TileEdge::from_tiles(at as u64, out.edge.tiles()).unwrap();
            assert_eq!(back, out.edge);
            edge = out.edge;
        }
        assert_eq!(at, 700);
    }

    #[test]
    fn emits_spec_tiles_at_256() {
        let l = leaves(256);
        let out = TileEdge::new().append(&l).unwrap();
        let coords: Vec<Tile> = out.tiles.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            coords,
            vec![
                Tile::full(0, 0),
                Tile {
                    level: 1,
                    index: 0,
                    width: 1
                }
            ]
        );
        assert_eq!(out.tiles[1].1, root_of(&l).to_vec());
        assert_eq!(
            TileEdge::tiles_needed(256),
            vec![Tile {
                level: 1,
                index: 0,
                width: 1
            }]
        );
    }

    #[test]
    fn from_tiles_rejects_mismatch() {
        let l = leaves(10);
        let out = TileEdge::new().append(&l).unwrap();
        let mut tiles = out.edge.tiles();
        assert!(TileEdge::from_tiles(11, tiles.clone()).is_err());
        tiles[0].1.pop();
        assert!(TileEdge::from_tiles(10, tiles).is_err());
        assert!(TileEdge::from_tiles(10, vec![]).is_err());
        assert!(TileEdge::from_tiles(0, vec![]).is_ok());
        assert!(TileEdge::new().append(&[]).unwrap().tiles.is_empty());
    }
}
