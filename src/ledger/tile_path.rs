//! C2SP tlog-tiles coordinates and their paths: `tile/<L>/<N>[.p/<W>]` for hash tiles and
//! `tile/entries/<N>[.p/<W>]` for entry bundles, with `<N>` written in 3-digit groups
//! (`x001/x234/067`). Parsing is strict: only the one canonical spelling is accepted.

use super::error::TileError;

/// Hashes per full tile (tiles are 8 levels high).
pub const TILE_WIDTH: u64 = 256;
/// Tree levels per tile level.
pub const TILE_HEIGHT: u8 = 8;
/// Highest tile level the path syntax allows.
pub const MAX_TILE_LEVEL: u8 = 63;

/// A tile: the `index`-th run of up to 256 hashes at tree level `8 * level`, `width` of them
/// (256 for a full tile). For entry bundles `level` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    /// Tile level (tree level divided by 8).
    pub level: u8,
    /// Index of the tile within its level.
    pub index: u64,
    /// Number of hashes (or entries), 1 to 256.
    pub width: u16,
}

/// What a tile path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileResource {
    /// A Merkle tree hash tile.
    Hashes(Tile),
    /// An entry bundle; its tile has level 0.
    Entries(Tile),
}

impl Tile {
    /// A full tile.
    pub const fn full(level: u8, index: u64) -> Self {
        Self {
            level,
            index,
            width: TILE_WIDTH as u16,
        }
    }

    /// Whether the tile holds all 256 hashes.
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// Bytes of the tile's data: 32 per hash.
    pub fn byte_len(&self) -> usize {
        usize::from(self.width) * 32
    }

    /// The path of this hash tile, `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!(
            "tile/{}/{}{}",
            self.level,
            encode_index(self.index),
            self.suffix()
        )
    }

    /// The path of the entry bundle with this tile's index and width,
    /// `tile/entries/<N>[.p/<W>]`.
    pub fn entries_path(&self) -> String {
        format!("tile/entries/{}{}", encode_index(self.index), self.suffix())
    }

    fn suffix(&self) -> String {
        if self.is_full() {
            String::new()
        } else {
            format!(".p/{}", self.width)
        }
    }
}

/// Writes a tile index in 3-digit groups, all but the last prefixed with `x`.
pub fn encode_index(index: u64) -> String {
    let mut groups = Vec::new();
    let mut n = index;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i == last {
                format!("{g:03}")
            } else {
                format!("x{g:03}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Parses `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]` (no leading slash).
///
/// # Errors
/// [`TileError::MalformedPath`] for anything but the canonical spelling.
pub fn parse_tile_path(path: &str) -> Result<TileResource, TileError> {
    let rest = path
        .strip_prefix("tile/")
        .ok_or(TileError::MalformedPath("must start with tile/"))?;
    let (first, rest) = rest
        .split_once('/')
        .ok_or(TileError::MalformedPath("missing index"))?;
    let (index_part, width) = match rest.split_once(".p/") {
        Some((idx, w)) => (idx, parse_width(w)?),
        None => (rest, TILE_WIDTH as u16),
    };
    let index = parse_index(index_part)?;
    if first == "entries" {
        return Ok(TileResource::Entries(Tile {
            level: 0,
            index,
            width,
        }));
    }
    let level = parse_small_decimal(first, u64::from(MAX_TILE_LEVEL))
        .ok_or(TileError::MalformedPath("bad level"))?;
    Ok(TileResource::Hashes(Tile {
        level: level as u8,
        index,
        width,
    }))
}

fn parse_width(s: &str) -> Result<u16, TileError> {
    match parse_small_decimal(s, TILE_WIDTH - 1) {
        Some(w) if w >= 1 => Ok(w as u16),
        _ => Err(TileError::MalformedPath("bad partial width")),
    }
}

/// A decimal with no sign and no leading zero, at most `max`.
fn parse_small_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    let v: u64 = s.parse().ok()?;
    (v <= max).then_some(v)
}

fn parse_index(s: &str) -> Result<u64, TileError> {
    let bad = TileError::MalformedPath("bad index");
    let groups: Vec<&str> = s.split('/').collect();
    // u64 has at most 20 digits: 7 groups.
    if groups.is_empty() || groups.len() > 7 {
        return Err(bad);
    }
    let last = groups.len() - 1;
    let mut value: u64 = 0;
    for (i, g) in groups.iter().enumerate() {
        let digits = if i == last {
            *g
        } else {
            g.strip_prefix('x').ok_or(bad.clone())?
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad);
        }
        let d: u64 = digits.parse().map_err(|_| bad.clone())?;
        if i == 0 && last > 0 && d == 0 {
            // A leading all-zero group is a second spelling of a smaller number.
            return Err(bad);
        }
        value = value
            .checked_mul(1000)
            .and_then(|v| v.checked_add(d))
            .ok_or(bad.clone())?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_encoding_matches_spec_example() {
        assert_eq!(encode_index(1_234_067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(999), "999");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(encode_index(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
    }

    #[test]
    fn paths_round_trip() {
        let cases = [
            Tile::full(0, 0),
            Tile {
                level: 1,
                index: 1_234_067,
                width: 17,
            },
            Tile {
                level: 63,
                index: u64::MAX,
                width: 255,
            },
            Tile {
                level: 2,
                index: 5,
                width: 1,
            },
        ];
        for t in cases {
            assert_eq!(parse_tile_path(&t.path()), Ok(TileResource::Hashes(t)));
            let e = Tile { level: 0, ..t };
            assert_eq!(
                parse_tile_path(&e.entries_path()),
                Ok(TileResource::Entries(e))
            );
        }
        assert_eq!(
            Tile {
                level: 1,
                index: 1_234_067,
                width: 17
            }
            .path(),
            "tile/1/x001/x234/067.p/17"
        );
        assert_eq!(Tile::full(0, 3).entries_path(), "tile/entries/003");
    }

    #[test]
    fn rejects_non_canonical_and_malformed_paths() {
        for p in [
            "/tile/0/000",
            "tile/0/0",
            "tile/0/0000",
            "tile/00/000",
            "tile/01/000",
            "tile/64/000",
            "tile/-1/000",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/x001",
            "tile/0/x001/x002",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/007",
            "tile/0/000.p/",
            "tile/0/000.p/5/",
            "tile/0/000/",
            "tile/0/+12",
            "tile/0/00a",
            "tile/entry/000",
            "tile/entries/000.p/300",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/0/x001/x018/x446/x744/x073/x709/x551/615",
            "tile/0",
            "tiles/0/000",
            "",
        ] {
            assert!(parse_tile_path(p).is_err(), "{p} accepted");
        }
    }
}
