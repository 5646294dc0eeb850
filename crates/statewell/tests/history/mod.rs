//! Histories of operations and their linearizability: the checker
//! (`checker`), the model of one key (`kv`), and the tests that show the
//! pair rejects the bugs the engine test looks for (`tests`).

pub mod checker;
pub mod kv;
#[cfg(test)]
mod tests;

pub use checker::Model;

/// A small deterministic generator (SplitMix64), so a workload's choice of
/// operations and keys is the same in every run.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}
