//! What the load generator asks for: which operation, on which key, with
//! which value. Both targets (statewell, Redis) encode the same `Request`s, so
//! they see the same shape of load.

use std::fmt::Write as _;

/// The operation a run measures (`mixed` draws one per request).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpChoice {
    Set,
    Get,
    Update,
    /// 50% get, 30% set, 20% update.
    Mixed,
    /// A transaction setting two items (Redis: MULTI, two HSETs, EXEC).
    Transaction,
}

impl std::fmt::Display for OpChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpChoice::Set => "set",
            OpChoice::Get => "get",
            OpChoice::Update => "update",
            OpChoice::Mixed => "mixed",
            OpChoice::Transaction => "transaction",
        })
    }
}

/// One concrete operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    Set,
    Get,
    Update,
    Transaction,
}

impl OpKind {
    pub fn index(self) -> usize {
        match self {
            OpKind::Set => 0,
            OpKind::Get => 1,
            OpKind::Update => 2,
            OpKind::Transaction => 3,
        }
    }
}

/// One request, independent of the wire it goes out on.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    pub kind: OpKind,
    pub group: u32,
    pub key: u64,
    /// Varies the stored value from one set to the next.
    pub seq: u64,
}

/// The shape of the key space and the values.
#[derive(Clone, Debug)]
pub struct Shape {
    pub keys: u64,
    pub groups: u32,
    pub value_size: usize,
}

impl Shape {
    /// The group (scope / hash) name of group `g`.
    pub fn group_name(g: u32) -> String {
        format!("bench-{g}")
    }

    /// The second item a transaction on `key` writes: another key of the
    /// key space, in the same group.
    pub fn partner(&self, key: u64) -> u64 {
        (key + self.keys / 2 + 1) % self.keys.max(1)
    }

    /// Key `i` as text; fixed width so every key costs the same bytes.
    pub fn write_key(out: &mut String, key: u64) {
        let _ = write!(out, "k{key:09}");
    }

    /// Writes a JSON object of about `value_size` bytes: a few typed fields
    /// (so `update` has a number to increment) padded with a string.
    pub fn write_value(&self, out: &mut String, key: u64, seq: u64) {
        let start = out.len();
        let _ = write!(
            out,
            "{{\"id\":\"k{key:09}\",\"count\":{seq},\"owner\":\"bench\",\"active\":true,\"tags\":[\"a\",\"b\"],\"pad\":\""
        );
        // 2 bytes for the closing `"}`.
        let used = out.len() - start + 2;
        for _ in used..self.value_size.max(used) {
            out.push('x');
        }
        out.push_str("\"}");
    }
}

/// A small, fast, seedable generator (splitmix64): the load must not be
/// bounded by its random numbers, and runs must be repeatable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is negligible for n ≪ 2^64.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Draws requests for one connection.
pub struct Generator {
    choice: OpChoice,
    shape: Shape,
    rng: Rng,
    seq: u64,
}

impl Generator {
    pub fn new(choice: OpChoice, shape: Shape, seed: u64) -> Generator {
        Generator {
            choice,
            shape,
            rng: Rng::new(seed),
            seq: 0,
        }
    }

    pub fn next(&mut self) -> Request {
        let kind = match self.choice {
            OpChoice::Set => OpKind::Set,
            OpChoice::Get => OpKind::Get,
            OpChoice::Update => OpKind::Update,
            OpChoice::Transaction => OpKind::Transaction,
            OpChoice::Mixed => match self.rng.below(10) {
                0..=4 => OpKind::Get,
                5..=7 => OpKind::Set,
                _ => OpKind::Update,
            },
        };
        self.seq += 1;
        let key = self.rng.below(self.shape.keys);
        let group = (key % u64::from(self.shape.groups.max(1))) as u32;
        Request {
            kind,
            group,
            key,
            seq: self.seq,
        }
    }

    /// The set that preloads item `index` (keys are spread over groups the
    /// same way `next` picks them).
    pub fn preload(&self, index: u64) -> Request {
        Request {
            kind: OpKind::Set,
            group: (index % u64::from(self.shape.groups.max(1))) as u32,
            key: index,
            seq: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(value_size: usize) -> Shape {
        Shape {
            keys: 100,
            groups: 3,
            value_size,
        }
    }

    #[test]
    fn values_are_json_objects_of_the_asked_size() {
        for size in [200usize, 1000] {
            let mut out = String::new();
            shape(size).write_value(&mut out, 42, 7);
            assert_eq!(out.len(), size);
            let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
            assert_eq!(v["count"], 7);
            assert_eq!(v["id"], "k000000042");
        }
    }

    #[test]
    fn tiny_value_size_still_gives_valid_json() {
        let mut out = String::new();
        shape(1).write_value(&mut out, 1, 1);
        serde_json::from_str::<serde_json::Value>(&out).expect("valid JSON");
    }

    #[test]
    fn mixed_draws_roughly_50_30_20_within_the_key_space() {
        let mut g = Generator::new(OpChoice::Mixed, shape(200), 1);
        let mut counts = [0u32; 4];
        for _ in 0..10_000 {
            let r = g.next();
            assert!(r.key < 100);
            assert_eq!(u64::from(r.group), r.key % 3);
            counts[r.kind.index()] += 1;
        }
        // set, get, update
        assert!((2700..3300).contains(&counts[0]), "{counts:?}");
        assert!((4700..5300).contains(&counts[1]), "{counts:?}");
        assert!((1700..2300).contains(&counts[2]), "{counts:?}");
    }
}
