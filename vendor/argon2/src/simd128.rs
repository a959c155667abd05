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
static LOW_HALVES: v128 = u8x16(0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11);

/// `LOW_HALVES` read at run time, on purpose. With constant indices LLVM sees the swizzle plus
/// extmul as "zero-extend the low halves, multiply", turns that into `v128.and` and
/// `i64x2.mul`, and the multiply costs as much as upstream's. Measured in V8 (bench/README.md).
#[inline(always)]
fn low_halves() -> v128 {
    // SAFETY: a valid, aligned, initialized static.
    unsafe { core::ptr::read_volatile(&LOW_HALVES) }
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

/// BLAKE2b's G with BlaMka (`permute_step!` in block.rs) on N vectors of column pairs at
/// once, one step at a time across all of them.
#[inline(always)]
fn g<const N: usize>(
    a: &mut [v128; N],
    b: &mut [v128; N],
    c: &mut [v128; N],
    d: &mut [v128; N],
    lo: v128,
) {
    for k in 0..N {
        a[k] = fblamka(a[k], b[k], lo);
    }
    for k in 0..N {
        d[k] = rotr32(v128_xor(d[k], a[k]));
    }
    for k in 0..N {
        c[k] = fblamka(c[k], d[k], lo);
    }
    for k in 0..N {
        b[k] = rotr24(v128_xor(b[k], c[k]));
    }
    for k in 0..N {
        a[k] = fblamka(a[k], b[k], lo);
    }
    for k in 0..N {
        d[k] = rotr16(v128_xor(d[k], a[k]));
    }
    for k in 0..N {
        c[k] = fblamka(c[k], d[k], lo);
    }
    for k in 0..N {
        b[k] = rotr63(v128_xor(b[k], c[k]));
    }
}

/// R independent rounds (`permute!` in block.rs), side by side; round r on the 16 words in
/// vectors `idx[r]` of `q`: words (v0, v1) = q[idx[r][0]], ..., (v14, v15) = q[idx[r][7]].
/// N = 2R (two vectors per row of the 4x4 matrix of words).
#[inline(always)]
fn rounds<const R: usize, const N: usize>(q: &mut [v128; 64], idx: [[usize; 8]; R], lo: v128) {
    let mut a = [u64x2_splat(0); N];
    let (mut b, mut c, mut d) = (a, a, a);
    for r in 0..R {
        let i = idx[r];
        (a[2 * r], a[2 * r + 1]) = (q[i[0]], q[i[1]]);
        (b[2 * r], b[2 * r + 1]) = (q[i[2]], q[i[3]]);
        (c[2 * r], c[2 * r + 1]) = (q[i[4]], q[i[5]]);
        (d[2 * r], d[2 * r + 1]) = (q[i[6]], q[i[7]]);
    }
    // Columns: G(v0, v4, v8, v12), G(v1, v5, v9, v13) | G(v2, v6, v10, v14), G(v3, v7, v11, v15).
    g(&mut a, &mut b, &mut c, &mut d, lo);
    // Diagonals: G(v0, v5, v10, v15), G(v1, v6, v11, v12) | G(v2, v7, v8, v13),
    // G(v3, v4, v9, v14): b as (v5, v6) | (v7, v4), c swapped, d as (v15, v12) | (v13, v14).
    for r in 0..R {
        let (b0, b1, d0, d1) = (b[2 * r], b[2 * r + 1], d[2 * r], d[2 * r + 1]);
        b[2 * r] = i64x2_shuffle::<1, 2>(b0, b1);
        b[2 * r + 1] = i64x2_shuffle::<1, 2>(b1, b0);
        c.swap(2 * r, 2 * r + 1);
        d[2 * r] = i64x2_shuffle::<1, 2>(d1, d0);
        d[2 * r + 1] = i64x2_shuffle::<1, 2>(d0, d1);
    }
    g(&mut a, &mut b, &mut c, &mut d, lo);
    // Back from the diagonals.
    for r in 0..R {
        let (e0, e1, f0, f1) = (b[2 * r], b[2 * r + 1], d[2 * r], d[2 * r + 1]);
        let i = idx[r];
        (q[i[0]], q[i[1]]) = (a[2 * r], a[2 * r + 1]);
        q[i[2]] = i64x2_shuffle::<1, 2>(e1, e0);
        q[i[3]] = i64x2_shuffle::<1, 2>(e0, e1);
        (q[i[4]], q[i[5]]) = (c[2 * r + 1], c[2 * r]);
        q[i[6]] = i64x2_shuffle::<1, 2>(f0, f1);
        q[i[7]] = i64x2_shuffle::<1, 2>(f1, f0);
    }
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
    let row = |r: usize| [0, 1, 2, 3, 4, 5, 6, 7].map(|k| 8 * r + k);
    let column = |c: usize| [c, c + 8, c + 16, c + 24, c + 32, c + 40, c + 48, c + 56];
    // Two rounds side by side: four dependency chains instead of two. (One round at a time
    // measured no faster in workerd; four at a time slower everywhere: the vectors no longer
    // fit in registers.)
    for k in [0, 2, 4, 6] {
        rounds::<2, 4>(&mut q, [row(k), row(k + 1)], lo);
    }
    for k in [0, 2, 4, 6] {
        rounds::<2, 4>(&mut q, [column(k), column(k + 1)], lo);
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
