//! A small deterministic random number generator (SplitMix64). The data set is a pure function of
//! each opportunity's index, so two runs at the same scale load the same opportunities and the
//! load generator can recompute any preloaded id instead of keeping a million of them in memory.

/// SplitMix64: fast, good enough to vary test data, not for secrets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence depends only on `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A number in `0..n` (`n` > 0). The modulo bias is irrelevant for test data.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low + 1) as u64) as i64
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A UUIDv7 at `micros` whose random bits come from `key` and a data set's `seed`: ids are
/// time-ordered like a service's own, and the same every run.
pub fn uuid_at(micros: i64, key: u64, seed: u64) -> String {
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&mix(key ^ seed).to_be_bytes());
    random[8..].copy_from_slice(&(mix(key) as u16).to_be_bytes());
    uuid::Builder::from_unix_timestamp_millis((micros / 1000) as u64, &random)
        .into_uuid()
        .to_string()
}

/// The SplitMix64 finaliser: spreads the bits of `x` over the whole word.
pub fn mix(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_bounds_hold() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let x = a.between(-3, 3);
            assert!((-3..=3).contains(&x));
            b.between(-3, 3);
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
