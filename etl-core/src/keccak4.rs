//! Keccak-f[1600], the permutation under SHAKE-128, for the child row ids
//! ([`crate::normalize::child_row_id_bytes`]).
//!
//! Every nested row's `_dlt_id` is dlt's `digest128` of its parent's id, its table and its list
//! index: one SHAKE-128 of a short text, which is exactly one permutation. With millions of child
//! rows per load that permutation is a tenth of all the CPU a load spends, so this module has two
//! faster versions of it than the `keccak` crate's generic one:
//!
//! - [`f1600`], scalar: each round written out in full (two per loop iteration, so that pi is
//!   only a choice of which lanes to read), in the "lane complementing" form of the Keccak team's
//!   optimized 64-bit implementation. Six lanes are kept complemented between rounds, which
//!   lets chi compute `a ^ (!b & c)` with `|` and `&` on the stored values and only one NOT per
//!   plane instead of five.
//! - [`f1600x4`], four independent states at once: with AVX2 (detected at run time) each 256-bit
//!   register holds the same lane of four states, so one pass through the rounds permutes all four
//!   for less than the cost of two. With AVX-512 (F and VL, detected at run time; built by Rust
//!   1.89 and later) the same four states go through `vprolq` and `vpternlogq` and stay in
//!   registers: twice the AVX2 version's speed. Without AVX2, or off x86-64, it runs [`f1600`]
//!   four times.
//!
//! On an AMD EPYC (Zen 3), per state, [`f1600`] is 1.2 times as fast as `keccak::f1600` and
//! [`f1600x4`] 2.7 times (`bench_permutations`); a child id, 1.2 and 2.2 times
//! (`bench_child_ids` in `normalize`). On the AMD EPYC with AVX-512 of 2026-12-06 (Zen 4):
//! `keccak::f1600` 331 ns, [`f1600`] 282 ns, AVX2 106 ns, AVX-512 53 ns per state.

/// The round constants (iota).
const RC: [u64; 24] = [
    0x0000_0000_0000_0001,
    0x0000_0000_0000_8082,
    0x8000_0000_0000_808A,
    0x8000_0000_8000_8000,
    0x0000_0000_0000_808B,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8009,
    0x0000_0000_0000_008A,
    0x0000_0000_0000_0088,
    0x0000_0000_8000_8009,
    0x0000_0000_8000_000A,
    0x0000_0000_8000_808B,
    0x8000_0000_0000_008B,
    0x8000_0000_0000_8089,
    0x8000_0000_0000_8003,
    0x8000_0000_0000_8002,
    0x8000_0000_0000_0080,
    0x0000_0000_0000_800A,
    0x8000_0000_8000_000A,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8080,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8008,
];

/// Rho and pi, gathered by destination: `PI_RHO[y][x]` is the lane (index `x + 5 y` of the state
/// after theta) that lands at `(x, y)`, and its rotation. Pi moves lane `(x, y)` to
/// `(y, 2x + 3y)`, so `(x, y)` receives lane `((x + 3y) mod 5, x)`. Reading the sources this way
/// lets a round write a fresh state in place order, with no moves for pi.
const PI_RHO: [[(usize, u32); 5]; 5] = [
    [(0, 0), (6, 44), (12, 43), (18, 21), (24, 14)],
    [(3, 28), (9, 20), (10, 3), (16, 45), (22, 61)],
    [(1, 1), (7, 6), (13, 25), (19, 8), (20, 18)],
    [(4, 27), (5, 36), (11, 10), (17, 15), (23, 56)],
    [(2, 62), (8, 55), (14, 39), (15, 41), (21, 2)],
];

/// The lanes kept complemented by [`f1600`]'s rounds: `(1,0), (2,0), (3,1), (2,2), (2,3), (0,4)`.
const COMPLEMENTED: [usize; 6] = [1, 2, 8, 12, 17, 20];

/// Keccak-f[1600] on one state: the same permutation as `keccak::f1600`.
pub fn f1600(state: &mut [u64; 25]) {
    for i in COMPLEMENTED {
        state[i] = !state[i];
    }
    let mut a = *state;
    for rc in RC.chunks_exact(2) {
        let e = round(&a, rc[0]);
        a = round(&e, rc[1]);
    }
    for i in COMPLEMENTED {
        a[i] = !a[i];
    }
    *state = a;
}

/// One round on a state whose [`COMPLEMENTED`] lanes are complemented, into a new state with the
/// same lanes complemented.
///
/// Theta, rho and pi are linear, so they carry the complements along: they reach chi on the lanes
/// `(0,0) (2,0) (3,0)`, `(0,1) (2,1)`, `(0,2) (2,2)`, `(1,3) (3,3) (4,3)` and `(0,4) (3,4)` of
/// its input `b`. Per plane, `!b1 & b2` is then `b1 & b2`, `b1 | b2` (De Morgan, the complement
/// folded into the complemented outputs) or, once per plane, needs one NOT of a stored lane; the
/// forms below are those that leave exactly the [`COMPLEMENTED`] lanes complemented.
#[inline(always)]
fn round(a: &[u64; 25], rc: u64) -> [u64; 25] {
    let c: [u64; 5] = std::array::from_fn(|x| a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20]);
    let d: [u64; 5] = std::array::from_fn(|x| c[(x + 4) % 5] ^ c[(x + 1) % 5].rotate_left(1));
    let plane = |y: usize| -> [u64; 5] {
        std::array::from_fn(|x| {
            let (lane, rotation) = PI_RHO[y][x];
            (a[lane] ^ d[lane % 5]).rotate_left(rotation)
        })
    };
    let [b0, b1, b2, b3, b4] = plane(0);
    let e0 = [b0 ^ (b1 | b2) ^ rc, b1 ^ (!b2 | b3), b2 ^ (b3 & b4), b3 ^ (b4 | b0), b4 ^ (b0 & b1)];
    let [b0, b1, b2, b3, b4] = plane(1);
    let e1 = [b0 ^ (b1 | b2), b1 ^ (b2 & b3), b2 ^ (b3 | !b4), b3 ^ (b4 | b0), b4 ^ (b0 & b1)];
    let [b0, b1, b2, b3, b4] = plane(2);
    let n3 = !b3;
    let e2 = [b0 ^ (b1 | b2), b1 ^ (b2 & b3), b2 ^ (n3 & b4), n3 ^ (b4 | b0), b4 ^ (b0 & b1)];
    let [b0, b1, b2, b3, b4] = plane(3);
    let n3 = !b3;
    let e3 = [b0 ^ (b1 & b2), b1 ^ (b2 | b3), b2 ^ (n3 | b4), n3 ^ (b4 & b0), b4 ^ (b0 | b1)];
    let [b0, b1, b2, b3, b4] = plane(4);
    let n1 = !b1;
    let e4 = [b0 ^ (n1 & b2), n1 ^ (b2 | b3), b2 ^ (b3 & b4), b3 ^ (b4 | b0), b4 ^ (b0 & b1)];
    let mut e = [0; 25];
    for (y, plane) in [e0, e1, e2, e3, e4].into_iter().enumerate() {
        e[5 * y..5 * y + 5].copy_from_slice(&plane);
    }
    e
}

/// Keccak-f[1600] on four independent states, interleaved: lane `i` of state `k` is
/// `lanes[i][k]`. The same as [`f1600`] on each of them, with AVX2 when the CPU has it.
pub fn f1600x4(lanes: &mut [[u64; 4]; 25]) {
    #[cfg(target_arch = "x86_64")]
    {
        // `is_x86_feature_detected!` caches what it finds: after the first call this is one
        // load and a bit test.
        if avx512_f1600x4(lanes) {
            return;
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the only target feature `avx2::f1600x4` enables.
            unsafe { avx2::f1600x4(lanes) };
            return;
        }
    }
    f1600x4_scalar(lanes);
}

/// [`f1600x4`] with AVX-512 (F and VL) if the CPU has it; `false`: it does not, or the compiler
/// is older than the intrinsics (Rust 1.89), and nothing was done.
#[rustversion::since(1.89)]
#[cfg(target_arch = "x86_64")]
fn avx512_f1600x4(lanes: &mut [[u64; 4]; 25]) -> bool {
    if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl") {
        // SAFETY: the CPU has both target features `avx512::f1600x4` enables.
        unsafe { avx512::f1600x4(lanes) };
        return true;
    }
    false
}

#[rustversion::before(1.89)]
#[cfg(target_arch = "x86_64")]
fn avx512_f1600x4(_: &mut [[u64; 4]; 25]) -> bool {
    false
}

/// [`f1600x4`] as four scalar permutations.
fn f1600x4_scalar(lanes: &mut [[u64; 4]; 25]) {
    for k in 0..4 {
        let mut state: [u64; 25] = std::array::from_fn(|i| lanes[i][k]);
        f1600(&mut state);
        for (lane, value) in lanes.iter_mut().zip(state) {
            lane[k] = value;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{PI_RHO, RC};
    use std::arch::x86_64::*;

    /// Rotates each 64-bit lane left by the constant `$n`: a byte shuffle for 8 and 56, two shifts
    /// and an OR otherwise.
    macro_rules! rol {
        ($x:expr, $n:expr) => {{
            const N: u32 = $n;
            let x = $x;
            match N {
                0 => x,
                8 => _mm256_shuffle_epi8(x, _mm256_set_epi64x(ROL8 + HIGH, ROL8, ROL8 + HIGH, ROL8)),
                56 => _mm256_shuffle_epi8(x, _mm256_set_epi64x(ROL56 + HIGH, ROL56, ROL56 + HIGH, ROL56)),
                _ => _mm256_or_si256(_mm256_slli_epi64::<{ N as i32 }>(x), _mm256_srli_epi64::<{ 64 - N as i32 }>(x)),
            }
        }};
    }

    /// The byte shuffle rotating a 64-bit lane left by 8: result byte `i` is source byte `i - 1`
    /// (mod 8).
    const ROL8: i64 = 0x0605_0403_0201_0007;
    /// The same for a rotation by 56: result byte `i` is source byte `i + 1` (mod 8).
    const ROL56: i64 = 0x0007_0605_0403_0201;
    /// Added to a shuffle for the upper 64 bits of each 128-bit half, whose bytes
    /// `_mm256_shuffle_epi8` numbers 8 to 15.
    const HIGH: i64 = 0x0808_0808_0808_0808;

    /// Keccak-f[1600] on four interleaved states (see [`super::f1600x4`]).
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn f1600x4(lanes: &mut [[u64; 4]; 25]) {
        // SAFETY: each `lanes[i]` is 32 readable bytes; `loadu` has no alignment requirement.
        let mut a: [__m256i; 25] = std::array::from_fn(|i| unsafe { _mm256_loadu_si256(lanes[i].as_ptr().cast()) });
        // Two states written in turn: a round returning its 800-byte state by value cost a
        // `memmove` per round (a fifth of the permutation's time).
        let mut e = [_mm256_setzero_si256(); 25];
        for rc in RC.chunks_exact(2) {
            round(&a, &mut e, rc[0]);
            round(&e, &mut a, rc[1]);
        }
        for (lane, value) in lanes.iter_mut().zip(a) {
            // SAFETY: each `lanes[i]` is 32 writable bytes; `storeu` has no alignment requirement.
            unsafe { _mm256_storeu_si256(lane.as_mut_ptr().cast(), value) };
        }
    }

    /// One round, plain (chi with AND-NOT, which AVX2 has): theta, then rho, pi, chi and iota
    /// plane by plane from `a` into `e`. Not inlined: the 24 rounds unrolled are 30 KB of code,
    /// most of the instruction cache, and no faster than this loop of calls (the state does not
    /// fit in the 16 registers either way).
    #[inline(never)]
    #[target_feature(enable = "avx2")]
    fn round(a: &[__m256i; 25], e: &mut [__m256i; 25], rc: u64) {
        let c: [__m256i; 5] = std::array::from_fn(|x| {
            _mm256_xor_si256(_mm256_xor_si256(_mm256_xor_si256(a[x], a[x + 5]), _mm256_xor_si256(a[x + 10], a[x + 15])), a[x + 20])
        });
        let d: [__m256i; 5] = std::array::from_fn(|x| _mm256_xor_si256(c[(x + 4) % 5], rol!(c[(x + 1) % 5], 1)));
        macro_rules! planes {
            ($($y:literal)*) => {$({
                macro_rules! b {
                    ($x:literal) => {
                        rol!(_mm256_xor_si256(a[PI_RHO[$y][$x].0], d[PI_RHO[$y][$x].0 % 5]), PI_RHO[$y][$x].1)
                    };
                }
                let b = [b!(0), b!(1), b!(2), b!(3), b!(4)];
                for x in 0..5 {
                    e[5 * $y + x] = _mm256_xor_si256(b[x], _mm256_andnot_si256(b[(x + 1) % 5], b[(x + 2) % 5]));
                }
            })*};
        }
        planes!(0 1 2 3 4);
        e[0] = _mm256_xor_si256(e[0], _mm256_set1_epi64x(rc as i64));
    }
}

/// [`f1600x4`] with AVX-512's 256-bit forms (AVX-512F and VL): a rotation is one `vprolq`, a
/// three-way XOR or chi's `a ^ (!b & c)` one `vpternlogq`, and with 32 vector registers the 25
/// lanes stay in registers through the rounds (the AVX2 version spills them every round).
#[rustversion::since(1.89)]
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{PI_RHO, RC};
    use std::arch::x86_64::*;

    /// `vpternlogq` truth tables (inputs `a`, `b`, `c` as `0xF0`, `0xCC`, `0xAA`).
    const XOR3: i32 = 0x96;
    /// `a ^ (!b & c)`.
    const CHI: i32 = 0xD2;

    /// Keccak-f[1600] on four interleaved states (see [`super::f1600x4`]).
    ///
    /// # Safety
    ///
    /// The CPU must support AVX-512F and AVX-512VL.
    #[target_feature(enable = "avx512f,avx512vl")]
    pub(super) unsafe fn f1600x4(lanes: &mut [[u64; 4]; 25]) {
        // SAFETY: each `lanes[i]` is 32 readable bytes; `loadu` has no alignment requirement.
        let mut a: [__m256i; 25] = std::array::from_fn(|i| unsafe { _mm256_loadu_si256(lanes[i].as_ptr().cast()) });
        for rc in RC {
            let c: [__m256i; 5] = std::array::from_fn(|x| {
                _mm256_ternarylogic_epi64::<XOR3>(_mm256_ternarylogic_epi64::<XOR3>(a[x], a[x + 5], a[x + 10]), a[x + 15], a[x + 20])
            });
            let d: [__m256i; 5] = std::array::from_fn(|x| _mm256_xor_si256(c[(x + 4) % 5], _mm256_rol_epi64::<1>(c[(x + 1) % 5])));
            let mut e = [_mm256_setzero_si256(); 25];
            macro_rules! planes {
                ($($y:literal)*) => {$({
                    macro_rules! b {
                        ($x:literal) => {
                            _mm256_rol_epi64::<{ PI_RHO[$y][$x].1 as i32 }>(_mm256_xor_si256(a[PI_RHO[$y][$x].0], d[PI_RHO[$y][$x].0 % 5]))
                        };
                    }
                    let b = [b!(0), b!(1), b!(2), b!(3), b!(4)];
                    for x in 0..5 {
                        e[5 * $y + x] = _mm256_ternarylogic_epi64::<CHI>(b[x], b[(x + 1) % 5], b[(x + 2) % 5]);
                    }
                })*};
            }
            planes!(0 1 2 3 4);
            e[0] = _mm256_xor_si256(e[0], _mm256_set1_epi64x(rc as i64));
            a = e;
        }
        for (lane, value) in lanes.iter_mut().zip(a) {
            // SAFETY: each `lanes[i]` is 32 writable bytes; `storeu` has no alignment requirement.
            unsafe { _mm256_storeu_si256(lane.as_mut_ptr().cast(), value) };
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn random_states(seed: u64, n: usize) -> Vec<[u64; 25]> {
        let mut x = seed;
        let mut next = move || {
            // splitmix64
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        (0..n).map(|_| std::array::from_fn(|_| next())).collect()
    }

    fn interleave(states: &[[u64; 25]]) -> [[u64; 4]; 25] {
        std::array::from_fn(|i| std::array::from_fn(|k| states[k][i]))
    }

    #[test]
    fn scalar_matches_the_keccak_crate() {
        let mut zero = [0u64; 25];
        let mut expected = zero;
        f1600(&mut zero);
        keccak::f1600(&mut expected);
        assert_eq!(zero, expected);
        for mut state in random_states(1, 200) {
            let mut expected = state;
            keccak::f1600(&mut expected);
            f1600(&mut state);
            assert_eq!(state, expected);
        }
    }

    #[test]
    fn x4_matches_four_scalar_permutations() {
        let states = random_states(2, 400);
        for four in states.chunks_exact(4) {
            let expected: Vec<[u64; 25]> = four
                .iter()
                .map(|s| {
                    let mut s = *s;
                    keccak::f1600(&mut s);
                    s
                })
                .collect();
            let mut dispatched = interleave(four);
            f1600x4(&mut dispatched);
            assert_eq!(dispatched, interleave(&expected));
            let mut scalar = interleave(four);
            f1600x4_scalar(&mut scalar);
            assert_eq!(scalar, interleave(&expected));
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                let mut simd = interleave(four);
                // SAFETY: AVX2 was detected.
                unsafe { avx2::f1600x4(&mut simd) };
                assert_eq!(simd, interleave(&expected));
            }
            // On a CPU with AVX-512 the dispatched call above ran that version; without it this
            // checks that nothing was done.
            #[cfg(target_arch = "x86_64")]
            {
                let mut wide = interleave(four);
                if avx512_f1600x4(&mut wide) {
                    assert_eq!(wide, interleave(&expected));
                } else {
                    assert_eq!(wide, interleave(four));
                }
            }
        }
    }

    /// Runs `benchmark(i)` (each doing `n` of something) for each `i` of `0..count` in turn,
    /// twenty-five times round, and returns the best time of each in ns per thing: taking turns
    /// keeps the ratios fair on a machine whose load changes.
    pub(crate) fn race(n: usize, count: usize, mut benchmark: impl FnMut(usize)) -> Vec<f64> {
        let mut best = vec![f64::INFINITY; count];
        for _ in 0..25 {
            for (i, best) in best.iter_mut().enumerate() {
                let start = std::time::Instant::now();
                benchmark(i);
                *best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
            }
        }
        best
    }

    /// `cargo test --release -p etl-core bench -- --ignored --nocapture --test-threads=1`
    #[test]
    #[ignore = "benchmark"]
    fn bench_permutations() {
        const N: usize = 64_000;
        let mut states = random_states(3, 16);
        let mut interleaved: Vec<[[u64; 4]; 25]> = states.chunks_exact(4).map(interleave).collect();
        let ns = race(N, 5, |i| {
            for _ in 0..N / 16 {
                match i {
                    0 => states.iter_mut().for_each(keccak::f1600),
                    1 => states.iter_mut().for_each(f1600),
                    2 => interleaved.iter_mut().for_each(f1600x4),
                    #[cfg(target_arch = "x86_64")]
                    3 if std::is_x86_feature_detected!("avx2") => {
                        // SAFETY: AVX2 was detected.
                        interleaved.iter_mut().for_each(|l| unsafe { avx2::f1600x4(l) })
                    }
                    4 => interleaved.iter_mut().for_each(f1600x4_scalar),
                    _ => {}
                }
            }
            std::hint::black_box((&mut states, &mut interleaved));
        });
        #[cfg(target_arch = "x86_64")]
        let avx2 = if std::is_x86_feature_detected!("avx2") { format!("{:.1}", ns[3]) } else { "not on this CPU".to_owned() };
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = "not on this CPU".to_owned();
        println!(
            "ns per permutation: keccak::f1600 {:.1}, f1600 {:.1}, f1600x4 {:.1} (AVX2 {avx2}, scalar fallback {:.1})",
            ns[0], ns[1], ns[2], ns[4]
        );
        println!("speed-up over keccak::f1600: f1600 {:.2}x, f1600x4 {:.2}x", ns[0] / ns[1], ns[0] / ns[2]);
    }
}
