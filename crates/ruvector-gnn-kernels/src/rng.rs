//! A small, seeded, portable random number generator.
//!
//! Every random choice in ruvector-gnn (weight init, dropout masks, neighbour
//! sampling, negative sampling) draws from [`Rng`], so a seed gives the same
//! numbers on every platform, thread count and crate version, including
//! `wasm32` where OS entropy needs extra set-up. The generator is
//! xoshiro256++ seeded through SplitMix64 (Blackman & Vigna).

/// xoshiro256++ pseudo-random generator. Not cryptographic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded from `seed` (any value, including 0).
    ///
    /// ```
    /// # use ruvector_gnn_kernels::Rng;
    /// let (mut a, mut b) = (Rng::seed_from_u64(7), Rng::seed_from_u64(7));
    /// assert_eq!(a.next_u64(), b.next_u64());
    /// ```
    pub fn seed_from_u64(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self {
            s: [next(), next(), next(), next()],
        }
    }

    /// An independent stream derived from this one (for per-thread or per-layer use).
    pub fn fork(&mut self, stream: u64) -> Self {
        Self::seed_from_u64(self.next_u64() ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 24 bits of precision.
    #[inline]
    pub fn uniform_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in `[lo, hi)`.
    #[inline]
    pub fn uniform_range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.uniform_f32()
    }

    /// Standard normal (Box–Muller).
    pub fn normal_f32(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64);
        let u2 = (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// Uniform integer in `0..n` (Lemire's unbiased method). Returns 0 when `n == 0`.
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let n = n as u64;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as usize;
            }
        }
    }

    /// Bernoulli draw with probability `p` of `true`.
    #[inline]
    pub fn bernoulli(&mut self, p: f32) -> bool {
        self.uniform_f32() < p
    }

    /// Fisher–Yates shuffle in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// `k` distinct positions out of `0..n` without replacement, in increasing
    /// order (Floyd's algorithm). Returns all of `0..n` when `k >= n`.
    pub fn sample_indices(&mut self, n: usize, k: usize) -> Vec<usize> {
        if k >= n {
            return (0..n).collect();
        }
        let mut chosen: Vec<usize> = Vec::with_capacity(k);
        for j in n - k..n {
            let t = self.below(j + 1);
            match chosen.binary_search(&t) {
                Ok(_) => {
                    let pos = chosen.binary_search(&j).unwrap_or_else(|p| p);
                    chosen.insert(pos, j);
                }
                Err(pos) => chosen.insert(pos, t),
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let mut r = Rng::seed_from_u64(42);
        let mut s = Rng::seed_from_u64(42);
        for _ in 0..1000 {
            let u = r.uniform_f32();
            assert!((0.0..1.0).contains(&u));
            assert_eq!(u, s.uniform_f32());
            assert!(r.below(7) < 7);
            s.below(7);
        }
    }

    #[test]
    fn sample_without_replacement() {
        let mut r = Rng::seed_from_u64(1);
        for n in 0..30 {
            for k in 0..=n + 2 {
                let v = r.sample_indices(n, k);
                assert_eq!(v.len(), k.min(n));
                assert!(v.windows(2).all(|w| w[0] < w[1]));
                assert!(v.iter().all(|&x| x < n));
            }
        }
    }

    #[test]
    fn normal_moments() {
        let mut r = Rng::seed_from_u64(3);
        let n = 20_000;
        let xs: Vec<f32> = (0..n).map(|_| r.normal_f32()).collect();
        let mean = xs.iter().sum::<f32>() / n as f32;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n as f32;
        assert!(mean.abs() < 0.03, "{mean}");
        assert!((var - 1.0).abs() < 0.05, "{var}");
    }
}
