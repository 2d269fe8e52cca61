//! Property tests of the tile appender: for random tree sizes and batch splits, the tiles
//! produced batch by batch equal the tiles cut from the whole tree at once, the edge's root is
//! the tree's root, and proofs assembled from tile data equal the RFC 9162 reference proofs.

use std::collections::BTreeMap;

use notarium::ledger::{
    Hash, MemoryTree, NodeId, Tile, TileEdge, TileSet, consistency_plan, inclusion_plan, leaf_hash,
    node_hash, range_nodes, reference_consistency_proof, reference_inclusion_proof, root_of,
    tiles_for_plan,
};
use proptest::prelude::*;

/// Tile data by (level, index): width and bytes.
type Tiles = BTreeMap<(u8, u64), (u16, Vec<u8>)>;

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

/// Every tile of a tree of `n` leaves, cut independently of the appender: the hashes at tree
/// level 8t, 256 to a tile, the last one partial.
fn tiles_at_once(tree: &MemoryTree, n: u64) -> Tiles {
    let mut out = BTreeMap::new();
    for t in 0u8..8 {
        let count = n >> (8 * u32::from(t));
        if count == 0 {
            break;
        }
        let hashes: Vec<Hash> = (0..count)
            .map(|j| tree.node(NodeId::new(8 * t, j)).expect("complete node"))
            .collect();
        for (index, chunk) in hashes.chunks(256).enumerate() {
            out.insert((t, index as u64), (chunk.len() as u16, chunk.concat()));
        }
    }
    out
}

/// The root of the first `k` leaves from the tree's complete subtrees (RFC 9162's MTH split
/// is the same as folding the maximal complete subtrees from the right); checked against
/// `root_of` for small sizes in `small_trees`.
fn prefix_root(tree: &MemoryTree, k: u64) -> Hash {
    if k == 0 {
        return notarium::ledger::empty_root();
    }
    let parts: Vec<Hash> = range_nodes(0, k)
        .into_iter()
        .map(|id| tree.node(id).expect("node"))
        .collect();
    let (last, rest) = parts.split_last().expect("non-empty");
    rest.iter()
        .rev()
        .fold(*last, |acc, left| node_hash(left, &acc))
}

/// Appends `n` leaves in batches cut at the given points; returns the latest version of every
/// tile and the final edge.
fn append_in_batches(all: &[Hash], tree: &MemoryTree, cuts: &[usize]) -> (Tiles, TileEdge) {
    let mut edge = TileEdge::new();
    let mut latest = BTreeMap::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (all.len() + 1)).collect();
    points.push(all.len());
    points.sort_unstable();
    let mut at = 0;
    for p in points {
        let out = edge.append(&all[at..p]).expect("append");
        assert_eq!(
            out.root,
            prefix_root(tree, p as u64),
            "root after {p} leaves"
        );
        for (tile, data) in out.tiles {
            // A tile only ever grows.
            if let Some((w, old)) = latest.get(&(tile.level, tile.index)) {
                let old: &Vec<u8> = old;
                assert!(
                    tile.width > *w && data.starts_with(old),
                    "tile {tile:?} shrank or changed"
                );
            }
            latest.insert((tile.level, tile.index), (tile.width, data));
        }
        edge = out.edge;
        at = p;
    }
    (latest, edge)
}

fn check(n: u64, cuts: &[usize], probes: &[u64]) {
    let all = leaves(n);
    let tree = MemoryTree::new(&all);
    let (latest, edge) = append_in_batches(&all, &tree, cuts);
    assert_eq!(latest, tiles_at_once(&tree, n), "tiles for size {n}");
    assert_eq!(edge.size(), n);
    // Proofs served from the stored tiles alone.
    let mut set = TileSet::new();
    for ((level, index), (width, data)) in &latest {
        set.insert(
            Tile {
                level: *level,
                index: *index,
                width: *width,
            },
            data.clone(),
        )
        .unwrap();
    }
    for probe in probes {
        let i = probe % n;
        let plan = inclusion_plan(i, n).unwrap();
        for t in tiles_for_plan(&plan, n).unwrap() {
            assert_eq!(
                latest.get(&(t.level, t.index)).map(|(w, _)| *w),
                Some(t.width)
            );
        }
        let p = plan.assemble_with(|id| set.node(id)).unwrap();
        assert_eq!(
            p,
            reference_inclusion_proof(&all, i).unwrap(),
            "inclusion {i} of {n}"
        );
        let m = 1 + probe % n;
        let c = consistency_plan(m, n)
            .unwrap()
            .assemble_with(|id| set.node(id))
            .unwrap();
        assert_eq!(
            c,
            reference_consistency_proof(&all, m).unwrap(),
            "consistency {m} to {n}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn small_trees(n in 1u64..=1200, cuts in prop::collection::vec(any::<usize>(), 0..6), probes in prop::collection::vec(any::<u64>(), 1..4)) {
        let all = leaves(n);
        prop_assert_eq!(prefix_root(&MemoryTree::new(&all), n), root_of(&all));
        check(n, &cuts, &probes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2))]

    #[test]
    fn trees_with_three_tile_levels(n in 65_536u64..=70_000, cuts in prop::collection::vec(any::<usize>(), 1..4), probes in prop::collection::vec(any::<u64>(), 1..2)) {
        check(n, &cuts, &probes);
    }
}

#[test]
fn spec_example_size_70000_in_one_batch() {
    let all = leaves(70_000);
    let out = TileEdge::new().append(&all).unwrap();
    let partial: Vec<Tile> = out
        .tiles
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| !t.is_full())
        .collect();
    assert_eq!(
        partial,
        vec![
            Tile {
                level: 0,
                index: 273,
                width: 112
            },
            Tile {
                level: 1,
                index: 1,
                width: 17
            },
            Tile {
                level: 2,
                index: 0,
                width: 1
            },
        ]
    );
    assert_eq!(
        out.tiles.iter().filter(|(t, _)| t.is_full()).count(),
        273 + 1
    );
    assert_eq!(out.root, root_of(&all));
}
