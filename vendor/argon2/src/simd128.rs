//! Edgeward addition (not in crates.io argon2 0.5.3): the block function with WebAssembly SIMD
//! (simd128), for wasm32 builds with that target feature. Upstream has only the portable
//! `Block::compress` (block.rs), which LLVM auto-vectorizes with simd128 into 64-bit
//! multiplies (`i64x2.mul`, about 8 x86 instructions each in V8).
//!
//! Same computation as `Block::compress`, two 64-bit words per `v128`, laid out as the
//! reference implementation's SSE2 `blamka-round-opt.h`: a block is 64 vectors; the row pass
//! permutes vectors 8i..8i+7, the column pass vectors i, 8+i, ..., 56+i (i = 0..8), each with
//! one BLAKE2b round (G on the columns of the 4x4 matrix of words, then on its diagonals).
//! Two rounds run side by side, one G step at a time across both: each G is a chain of
//! dependent operations, and four chains instead of two keep the CPU busier.

use crate::Block;
use core::arch::wasm32::*;

/// Swizzle indices that put the low 32 bits of a vector's two 64-bit lanes in its 32-bit lanes
/// 0 and 1 (and again in 2 and 3), for `u64x2_extmul_low_u32x4`.
static LOW_HALVES: [u8; 16] = [0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11];

/// `LOW_HALVES` read at run time, on purpose. With constant indices LLVM sees the swizzle plus
/// extmul as "zero-extend the low halves, multiply", turns that into `v128.and` and
/// `i64x2.mul`, and the multiply costs as much as upstream's. Measured in V8 (bench/README.md).
#[inline(always)]
fn low_halves() -> v128 {
    // SAFETY: 16 readable bytes; any bit pattern is a valid v128 (unaligned loads are fine).
    unsafe { core::ptr::read_volatile(LOW_HALVES.as_ptr() as *const v128) }
}

/// BlaMka's multiply-add, per 64-bit lane: x + y + 2 * lo32(x) * lo32(y) (wrapping).
/// `lo` is `low_halves()`.
#[inline(always)]
fn fblamka(x: v128, y: v128, lo: v128) -> v128 {
    let xy = u64x2_extmul_low_u32x4(i8x16_swizzle(x, lo), i8x16_swizzle(y, lo));
    i64x2_add(i64x2_add(x, y), i64x2_add(xy, xy))
}

#[inline(always)]
fn rotr32(x: v128) -> v128 {
    i32x4_shuffle::<1, 0, 3, 2>(x, x)
}

#[inline(always)]
fn rotr24(x: v128) -> v128 {
    i8x16_shuffle::<3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10>(x, x)
}

#[inline(always)]
fn rotr16(x: v128) -> v128 {
    i8x16_shuffle::<2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9>(x, x)
}

#[inline(always)]
fn rotr63(x: v128) -> v128 {
    v128_xor(u64x2_shr(x, 63), i64x2_add(x, x))
}

/// BLAKE2b's G with BlaMka (`permute_step!` in block.rs) on four vectors of column pairs
/// at once, step by step across the four.
#[inline(always)]
fn g4(a: [&mut v128; 4], b: [&mut v128; 4], c: [&mut v128; 4], d: [&mut v128; 4], lo: v128) {
    let [a0, a1, a2, a3] = a;
    let [b0, b1, b2, b3] = b;
    let [c0, c1, c2, c3] = c;
    let [d0, d1, d2, d3] = d;
    // x = fBlaMka(x, y); z = (z ^ x) >>> n, for the four.
    macro_rules! step {
        ($x:ident, $y:ident, $z:ident, $rot:ident) => {
            *$x[0] = fblamka(*$x[0], *$y[0], lo);
            *$x[1] = fblamka(*$x[1], *$y[1], lo);
            *$x[2] = fblamka(*$x[2], *$y[2], lo);
            *$x[3] = fblamka(*$x[3], *$y[3], lo);
            *$z[0] = $rot(v128_xor(*$z[0], *$x[0]));
            *$z[1] = $rot(v128_xor(*$z[1], *$x[1]));
            *$z[2] = $rot(v128_xor(*$z[2], *$x[2]));
            *$z[3] = $rot(v128_xor(*$z[3], *$x[3]));
        };
    }
    let (a, b) = ([a0, a1, a2, a3], [b0, b1, b2, b3]);
    let (c, d) = ([c0, c1, c2, c3], [d0, d1, d2, d3]);
    step!(a, b, d, rotr32);
    step!(c, d, b, rotr24);
    step!(a, b, d, rotr16);
    step!(c, d, b, rotr63);
}

/// Two independent rounds (`permute!` in block.rs), on the 16 words in vectors `i` of `q` and
/// those in vectors `j`: words (v0, v1) = q[i[0]], (v2, v3) = q[i[1]], ..., (v14, v15) = q[i[7]].
#[inline(always)]
fn round2(q: &mut [v128; 64], i: [usize; 8], j: [usize; 8], lo: v128) {
    let (mut a0, mut a1, mut b0, mut b1) = (q[i[0]], q[i[1]], q[i[2]], q[i[3]]);
    let (mut c0, mut c1, mut d0, mut d1) = (q[i[4]], q[i[5]], q[i[6]], q[i[7]]);
    let (mut a2, mut a3, mut b2, mut b3) = (q[j[0]], q[j[1]], q[j[2]], q[j[3]]);
    let (mut c2, mut c3, mut d2, mut d3) = (q[j[4]], q[j[5]], q[j[6]], q[j[7]]);

    // Columns: G(v0, v4, v8, v12), G(v1, v5, v9, v13) | G(v2, v6, v10, v14), G(v3, v7, v11, v15).
    g4(
        [&mut a0, &mut a1, &mut a2, &mut a3],
        [&mut b0, &mut b1, &mut b2, &mut b3],
        [&mut c0, &mut c1, &mut c2, &mut c3],
        [&mut d0, &mut d1, &mut d2, &mut d3],
        lo,
    );

    // Diagonals: G(v0, v5, v10, v15), G(v1, v6, v11, v12) | G(v2, v7, v8, v13),
    // G(v3, v4, v9, v14): b as (v5, v6) | (v7, v4), c swapped, d as (v15, v12) | (v13, v14).
    let (mut e0, mut e1) = (i64x2_shuffle::<1, 2>(b0, b1), i64x2_shuffle::<1, 2>(b1, b0));
    let (mut f0, mut f1) = (i64x2_shuffle::<1, 2>(d1, d0), i64x2_shuffle::<1, 2>(d0, d1));
    let (mut e2, mut e3) = (i64x2_shuffle::<1, 2>(b2, b3), i64x2_shuffle::<1, 2>(b3, b2));
    let (mut f2, mut f3) = (i64x2_shuffle::<1, 2>(d3, d2), i64x2_shuffle::<1, 2>(d2, d3));
    g4(
        [&mut a0, &mut a1, &mut a2, &mut a3],
        [&mut e0, &mut e1, &mut e2, &mut e3],
        [&mut c1, &mut c0, &mut c3, &mut c2],
        [&mut f0, &mut f1, &mut f2, &mut f3],
        lo,
    );

    // Back from the diagonals.
    q[i[0]] = a0;
    q[i[1]] = a1;
    q[i[2]] = i64x2_shuffle::<1, 2>(e1, e0);
    q[i[3]] = i64x2_shuffle::<1, 2>(e0, e1);
    q[i[4]] = c0;
    q[i[5]] = c1;
    q[i[6]] = i64x2_shuffle::<1, 2>(f0, f1);
    q[i[7]] = i64x2_shuffle::<1, 2>(f1, f0);
    q[j[0]] = a2;
    q[j[1]] = a3;
    q[j[2]] = i64x2_shuffle::<1, 2>(e3, e2);
    q[j[3]] = i64x2_shuffle::<1, 2>(e2, e3);
    q[j[4]] = c2;
    q[j[5]] = c3;
    q[j[6]] = i64x2_shuffle::<1, 2>(f2, f3);
    q[j[7]] = i64x2_shuffle::<1, 2>(f3, f2);
}

/// `Block::compress(x, y)` (block.rs) with simd128, written straight to `dst`: stored, or
/// XORed into it (`xor_into`, Argon2 v1.3's later passes). `dst` may be `x` or `y`.
///
/// # Safety
/// `x`, `y` and `dst` point to whole blocks (64 vectors), valid for reads, `dst` for writes.
#[inline(always)]
unsafe fn compress_raw(x: *const v128, y: *const v128, dst: *mut v128, xor_into: bool) {
    let lo = low_halves();
    let mut q: [v128; 64] =
        core::array::from_fn(|k| v128_xor(v128_load(x.add(k)), v128_load(y.add(k))));
    for k in (0..8).step_by(2) {
        let (r, s) = (8 * k, 8 * k + 8);
        let row = |r: usize| [r, r + 1, r + 2, r + 3, r + 4, r + 5, r + 6, r + 7];
        round2(&mut q, row(r), row(s), lo);
    }
    for k in (0..8).step_by(2) {
        let column = |c: usize| [c, c + 8, c + 16, c + 24, c + 32, c + 40, c + 48, c + 56];
        round2(&mut q, column(k), column(k + 1), lo);
    }
    // The result is q ^ x ^ y: x ^ y is read again rather than kept (no second array).
    for (k, q) in q.iter().enumerate() {
        let mut v = v128_xor(*q, v128_xor(v128_load(x.add(k)), v128_load(y.add(k))));
        if xor_into {
            v = v128_xor(v, v128_load(dst.add(k)));
        }
        v128_store(dst.add(k), v);
    }
}

/// `Block::compress` (block.rs) with simd128: bit for bit the same result.
pub(crate) fn compress(rhs: &Block, lhs: &Block) -> Block {
    let mut out = Block::new();
    let dst = out.as_mut().as_mut_ptr() as *mut v128;
    let (x, y) = (rhs.as_ref().as_ptr(), lhs.as_ref().as_ptr());
    // SAFETY: three whole blocks (128 words = 64 vectors each).
    unsafe { compress_raw(x as *const v128, y as *const v128, dst, false) };
    out
}

/// The fill loop's step: `blocks[cur] = compress(blocks[prev], blocks[reference])`, or `^=`
/// that (`xor_into`), without the intermediate block and its copies.
#[inline(always)]
pub(crate) fn fill_block(
    blocks: &mut [Block],
    prev: usize,
    reference: usize,
    cur: usize,
    xor_into: bool,
) {
    assert!(prev < blocks.len() && reference < blocks.len() && cur < blocks.len());
    let base = blocks.as_mut_ptr();
    // SAFETY: the three indices are in bounds (checked above), each a whole block;
    // compress_raw allows `dst` to be one of the inputs.
    unsafe {
        compress_raw(
            base.add(prev) as *const v128,
            base.add(reference) as *const v128,
            base.add(cur) as *mut v128,
            xor_into,
        )
    }
}
