//! Where tree nodes live in C2SP tiles (height 8) and how to read them back: a node at tree
//! level `8t + k` is the root of `2^k` consecutive hashes of one tile at tile level `t`.
//! With this, proofs are served from tiles alone, with no per-node storage.

use std::collections::{BTreeSet, HashMap};

use super::error::TileError;
use super::hash::{Hash, node_hash};
use super::plan::{NodeId, ProofPlan};
use super::tile_path::{TILE_HEIGHT, TILE_WIDTH, Tile};

/// The tile holding the level-`8t` hashes a node is computed from, and the run of hashes
/// inside it: `(tile level, tile index, first position, count)`.
pub fn tile_span(id: NodeId) -> (u8, u64, usize, usize) {
    let t = id.level / TILE_HEIGHT;
    let k = u32::from(id.level % TILE_HEIGHT);
    // Level-8t hashes covered: [index << k, (index + 1) << k), all inside one tile since k < 8.
    let first = id.index.checked_shl(k).unwrap_or(u64::MAX);
    let tile_index = first >> TILE_HEIGHT;
    let pos = (first % TILE_WIDTH) as usize;
    (t, tile_index, pos, 1usize << k)
}

/// The width of tile `(level, index)` in a tree of `size` leaves, or `None` when the tree has
/// no such tile yet.
pub fn tile_width(level: u8, index: u64, size: u64) -> Option<u16> {
    let hashes = size
        .checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
        .unwrap_or(0);
    let full = hashes / TILE_WIDTH;
    if index < full {
        Some(TILE_WIDTH as u16)
    } else if index == full && hashes % TILE_WIDTH > 0 {
        Some((hashes % TILE_WIDTH) as u16)
    } else {
        None
    }
}

/// The tile (with the width it has at tree size `size`) holding node `id`, or `None` when
/// the node is not a complete subtree of that tree.
pub fn tile_for_node(id: NodeId, size: u64) -> Option<Tile> {
    if id.end() > size {
        return None;
    }
    let (level, index, _, _) = tile_span(id);
    tile_width(level, index, size).map(|width| Tile {
        level,
        index,
        width,
    })
}

/// Computes a node from the data of the tile that holds it.
///
/// # Errors
/// [`TileError::NodeNotInTile`] when the tile is another one or too narrow;
/// [`TileError::WrongTileLength`] when the data does not match the tile's width.
pub fn node_from_tile(id: NodeId, tile: &Tile, data: &[u8]) -> Result<Hash, TileError> {
    if data.len() != tile.byte_len() {
        return Err(TileError::WrongTileLength {
            got: data.len(),
            want: tile.byte_len(),
        });
    }
    let (level, index, pos, count) = tile_span(id);
    if level != tile.level || index != tile.index || pos + count > usize::from(tile.width) {
        return Err(TileError::NodeNotInTile(id));
    }
    let slice = data
        .get(pos * 32..(pos + count) * 32)
        .ok_or(TileError::NodeNotInTile(id))?;
    Ok(complete_root(slice))
}

/// The root of a power-of-two run of hashes given as bytes (32 per hash).
pub(crate) fn complete_root(bytes: &[u8]) -> Hash {
    let mut level: Vec<Hash> = bytes.chunks_exact(32).map(to_hash).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| {
                if let [l, r] = p {
                    node_hash(l, r)
                } else {
                    p[0]
                }
            })
            .collect();
    }
    level.first().copied().unwrap_or([0u8; 32])
}

pub(crate) fn to_hash(chunk: &[u8]) -> Hash {
    let mut h = [0u8; 32];
    h.copy_from_slice(chunk);
    h
}

/// The tiles (with their widths at tree size `size`) needed to compute the given nodes.
///
/// # Errors
/// [`TileError::NodeNotInTile`] for a node that is not a complete subtree of that tree.
pub fn tiles_for_nodes(ids: &[NodeId], size: u64) -> Result<Vec<Tile>, TileError> {
    let mut set = BTreeSet::new();
    for id in ids {
        set.insert(tile_for_node(*id, size).ok_or(TileError::NodeNotInTile(*id))?);
    }
    Ok(set.into_iter().collect())
}

/// The tiles needed to assemble a proof plan against a tree of `size` leaves.
///
/// # Errors
/// As [`tiles_for_nodes`].
pub fn tiles_for_plan(plan: &ProofPlan, size: u64) -> Result<Vec<Tile>, TileError> {
    tiles_for_nodes(&plan.node_ids(), size)
}

/// One tile with every complete node inside it computed once (at most 255 hashes), so each
/// later lookup is a copy. Worth caching for hot tiles: the upper levels serve every proof.
#[derive(Debug, Clone)]
pub struct ExpandedTile {
    tile: Tile,
    /// `levels[k][j]`: the node at tree level `8 * tile.level + k` covering tile positions
    /// `[j << k, (j + 1) << k)`.
    levels: Vec<Vec<Hash>>,
}

impl ExpandedTile {
    /// Expands a tile's data.
    ///
    /// # Errors
    /// [`TileError::WrongTileLength`] when the data is not `32 * width` bytes or the width is
    /// not 1 to 256.
    pub fn new(tile: Tile, data: &[u8]) -> Result<Self, TileError> {
        if data.len() != tile.byte_len() || tile.width == 0 || u64::from(tile.width) > TILE_WIDTH {
            return Err(TileError::WrongTileLength {
                got: data.len(),
                want: tile.byte_len(),
            });
        }
        let mut levels = vec![data.chunks_exact(32).map(to_hash).collect::<Vec<Hash>>()];
        while let Some(last) = levels.last().filter(|l| l.len() >= 2) {
            let next: Vec<Hash> = last
                .chunks_exact(2)
                .map(|p| node_hash(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        Ok(Self { tile, levels })
    }

    /// The tile's coordinates.
    pub fn tile(&self) -> Tile {
        self.tile
    }

    /// The hash of a node inside this tile, if complete within its width.
    pub fn node(&self, id: NodeId) -> Option<Hash> {
        let (level, index, pos, count) = tile_span(id);
        if level != self.tile.level || index != self.tile.index {
            return None;
        }
        let k = count.trailing_zeros() as usize;
        self.levels.get(k)?.get(pos >> k).copied()
    }
}

/// Fetched tiles, looked up by node: `plan.assemble_with(|id| tiles.node(id))`.
#[derive(Debug, Clone, Default)]
pub struct TileSet {
    tiles: HashMap<(u8, u64), ExpandedTile>,
}

impl TileSet {
    /// No tiles.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tile's data; a wider version of the same tile replaces a narrower one.
    ///
    /// # Errors
    /// [`TileError::WrongTileLength`] when the data is not `32 * width` bytes.
    pub fn insert(&mut self, tile: Tile, data: Vec<u8>) -> Result<(), TileError> {
        let key = (tile.level, tile.index);
        if self
            .tiles
            .get(&key)
            .is_some_and(|t| t.tile.width >= tile.width)
        {
            return Ok(());
        }
        self.tiles.insert(key, ExpandedTile::new(tile, &data)?);
        Ok(())
    }

    /// Adds an already expanded tile (from a cache).
    pub fn insert_expanded(&mut self, tile: ExpandedTile) {
        let key = (tile.tile.level, tile.tile.index);
        if self
            .tiles
            .get(&key)
            .is_none_or(|t| t.tile.width < tile.tile.width)
        {
            self.tiles.insert(key, tile);
        }
    }

    /// The hash of a node, if the tiles hold it.
    pub fn node(&self, id: NodeId) -> Option<Hash> {
        let (level, index, _, _) = tile_span(id);
        self.tiles.get(&(level, index))?.node(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::hash::leaf_hash;
    use crate::ledger::reference::{MemoryTree, root_of};

    #[test]
    fn spans() {
        assert_eq!(tile_span(NodeId::new(0, 300)), (0, 1, 44, 1));
        assert_eq!(tile_span(NodeId::new(3, 33)), (0, 1, 8, 8));
        assert_eq!(tile_span(NodeId::new(8, 0)), (1, 0, 0, 1));
        assert_eq!(tile_span(NodeId::new(15, 1)), (1, 0, 128, 128));
        assert_eq!(tile_span(NodeId::new(16, 7)), (2, 0, 7, 1));
    }

    #[test]
    fn widths_follow_spec_example() {
        // A tree of 70,000: 273 full level-0 tiles, one of width 112, one full level-1 tile,
        // one of width 17, and one level-2 tile of width 1.
        assert_eq!(tile_width(0, 272, 70_000), Some(256));
        assert_eq!(tile_width(0, 273, 70_000), Some(112));
        assert_eq!(tile_width(0, 274, 70_000), None);
        assert_eq!(tile_width(1, 0, 70_000), Some(256));
        assert_eq!(tile_width(1, 1, 70_000), Some(17));
        assert_eq!(tile_width(2, 0, 70_000), Some(1));
        assert_eq!(tile_width(3, 0, 70_000), None);
        assert_eq!(tile_width(1, 0, 256), Some(1));
        assert_eq!(tile_width(0, 1, 256), None);
    }

    #[test]
    fn nodes_from_tiles_match_tree() {
        let leaves: Vec<Hash> = (0u32..600).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let tree = MemoryTree::new(&leaves);
        let size = leaves.len() as u64;
        let mut set = TileSet::new();
        for index in 0..3u64 {
            let width = tile_width(0, index, size).unwrap();
            let start = (index * 256) as usize;
            let data: Vec<u8> = leaves[start..start + usize::from(width)].concat();
            set.insert(
                Tile {
                    level: 0,
                    index,
                    width,
                },
                data,
            )
            .unwrap();
        }
        let l1: Vec<u8> = [root_of(&leaves[..256]), root_of(&leaves[256..512])].concat();
        set.insert(
            Tile {
                level: 1,
                index: 0,
                width: 2,
            },
            l1,
        )
        .unwrap();
        for level in 0..=9u8 {
            for index in 0..(size >> level) {
                let id = NodeId::new(level, index);
                assert_eq!(set.node(id), tree.node(id), "{id:?}");
            }
        }
        assert_eq!(set.node(NodeId::new(0, 600)), None);
        assert!(tile_for_node(NodeId::new(4, 37), size).is_none());
        let t = tile_for_node(NodeId::new(3, 70), size).unwrap();
        assert_eq!(
            t,
            Tile {
                level: 0,
                index: 2,
                width: 88
            }
        );
        assert!(node_from_tile(NodeId::new(3, 75), &t, &[0u8; 88 * 32]).is_err());
        assert!(node_from_tile(NodeId::new(3, 71), &t, &[0u8; 88 * 32]).is_ok());
        assert!(node_from_tile(NodeId::new(3, 70), &t, &[0u8; 10]).is_err());
    }
}
