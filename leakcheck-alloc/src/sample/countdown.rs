//! When the next sampled allocation comes: a Poisson process over allocated bytes.
//!
//! Points fall on the stream of allocated bytes at random, one per `rate` bytes on average; an
//! allocation is sampled when at least one point falls inside it, so an allocation of `s` bytes
//! is sampled with probability `1 − exp(−s/rate)` whatever came before it. The distance to the
//! next point is exponential, and since the exponential is memoryless it can be drawn afresh
//! after each sampled allocation. Each thread draws from its own xorshift generator, seeded
//! differently per thread, so no repeating allocation pattern can fall into step with it.

/// The first state of a generator from any seed (a zero state would stay zero).
pub(crate) fn seed_state(seed: u64) -> u64 {
    splitmix64(seed) | 1
}

/// One step of splitmix64: a bijective mix, used to spread seeds and by the shared slot.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The next 64 random bits of an xorshift64* generator (Vigna), advancing `state`.
pub(crate) fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Bytes to the next sampled point: exponential with mean `rate`, from 64 random bits;
/// `i64::MAX` (never reached) when `rate` is 0.
pub(crate) fn interval(rate: u64, random: u64) -> i64 {
    if rate == 0 {
        return i64::MAX;
    }
    // Uniform in (0, 1] from the top 53 bits, so the logarithm is finite.
    let uniform = ((random >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
    // `as` saturates; the largest draw is about 37 × rate.
    (-uniform.ln() * rate as f64) as i64
}

/// Whether an allocation of `size` bytes is sampled, given the bytes left on the countdown;
/// returns the countdown after it. The same rule the allocator applies inline.
#[cfg(test)]
pub(crate) fn take(countdown: i64, size: usize) -> (i64, bool) {
    let left = countdown.wrapping_sub(size as i64);
    (left, left < 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_exponential_with_the_rate_as_mean() {
        let rate = 512 * 1024;
        let mut state = seed_state(7);
        let n = 200_000;
        let draws: Vec<f64> = (0..n)
            .map(|_| interval(rate, next(&mut state)) as f64)
            .collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        // Exponential: the standard deviation equals the mean, so the mean of n draws has a
        // relative standard error of 1/sqrt(n) = 0.22 %; 4 sigma is 0.9 %.
        let sigma = rate as f64 / (n as f64).sqrt();
        assert!(
            (mean - rate as f64).abs() < 4.0 * sigma,
            "mean {mean} vs {rate}"
        );
        // Memorylessness: P(X > rate) = e^-1.
        let above = draws.iter().filter(|&&d| d > rate as f64).count() as f64 / n as f64;
        let p = (-1.0f64).exp();
        let sigma_p = (p * (1.0 - p) / n as f64).sqrt();
        assert!((above - p).abs() < 4.0 * sigma_p, "P(X > rate) = {above}");
    }

    #[test]
    fn rate_zero_never_expires() {
        let mut state = seed_state(1);
        let c = interval(0, next(&mut state));
        assert_eq!(c, i64::MAX);
        // Even a petabyte of allocations does not reach zero.
        let (left, hit) = take(c, 1 << 50);
        assert!(!hit && left > 0);
    }

    #[test]
    fn different_seeds_give_different_sequences() {
        let (mut a, mut b) = (seed_state(1), seed_state(2));
        let xs: Vec<u64> = (0..8).map(|_| next(&mut a)).collect();
        let ys: Vec<u64> = (0..8).map(|_| next(&mut b)).collect();
        assert!(xs.iter().zip(&ys).all(|(x, y)| x != y));
    }
}
