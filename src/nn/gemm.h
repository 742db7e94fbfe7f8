/* Private: the engine's own matrix kernels, used by conv2d (see conv2d_gemm for the
 * shapes) and by dense in place of OpenBLAS where mla_dense_own_kernels says so. Two
 * families with one contract (mla_gemm_8x32's, below): AVX-512, defined here static
 * inline so that each caller gets copies specialised to its constant flags (the conv's
 * forward passes bias and relu, its gradients neither), built where the compiler targets
 * AVX-512 (MLA_NATIVE on such a CPU); and AVX2/FMA (gemm_avx2.c), built into every x86-64
 * binary with a target attribute. mla_nn_kernels() picks one at run time. */
#ifndef MLAUDIT_NN_GEMM_H
#define MLAUDIT_NN_GEMM_H

#include <stdbool.h>
#include <stddef.h>

#include "mlaudit/core.h"
#include "nn/runs.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define MLA_HAVE_AVX2_CODE 1
#else
#define MLA_HAVE_AVX2_CODE 0
#endif

/* The family conv2d and dense run their products on: MLA_ISA_AVX512 where this build has
 * those kernels and mla_isa_level() allows them, else MLA_ISA_AVX2 where the level allows
 * AVX2 (a CPU with AVX2 and FMA, MLA_ISA not below avx2), else MLA_ISA_PORTABLE (OpenBLAS
 * and plain loops). Fixed per process (but for mla_isa_force). Both families give the same
 * bits for a tile; which products go to OpenBLAS instead can differ between them. */
mla_isa mla_nn_kernels(void);

/* Whether dense layers run their products on the own kernels rather than OpenBLAS.
 * AVX-512: when the loaded OpenBLAS runs 256-bit (AVX2) kernels, as its Haswell, Zen and
 * Sandybridge kernel sets do (the OPENBLAS_CORETYPE=Haswell some machines set, or its own
 * choice on a CPU it does not know). Measured on an AVX-512 AMD EPYC with OpenBLAS's
 * Haswell kernels, 2 threads, the mlp preset's 128x256x784 products ran at 215-223
 * GFLOP/s in OpenBLAS and 366 (forward, transposes included) to 470 here; where OpenBLAS
 * runs its own AVX-512 kernels it is left the work. AVX2: see mla_dense_own_kernels in
 * gemm.c. The choice is fixed per process (same machine and environment, same bits). */
bool mla_dense_own_kernels(void);
/* Tests only: 1 forces the own kernels (where mla_nn_kernels() has some), 0 forces
 * OpenBLAS, -1 restores the choice above. Not thread-safe; call between passes. */
void mla_dense_kernels_force(int mode);

#if MLA_HAVE_AVX2_CODE
/* mla_gemm_8x32 (below) on AVX2 and FMA; the same contract and the same bits. Call only
 * where mla_nn_kernels() is MLA_ISA_AVX2 or wider. */
void mla_gemm_avx2_8x32(int k, const float *a, size_t ars, size_t acs, const float *b, size_t ldb, float *c,
                        size_t ldc, int ncols, bool b_slack, const float *bias, bool relu, bool accumulate);
/* The same tile with b's row t at b + boff[t] (t < k) instead of b + t ldb: the rows of
 * an implicit GEMM, read in place from a padded input (see conv_implicit.c). Every row
 * is read 32 floats wide (b_slack's rule): each must have 32 readable floats from
 * b + boff[t] + (its first column). Same bits as mla_gemm_avx2_8x32 on the same rows. */
/* dw (cout x rows) += dy (cout x p) col^T (p x rows), cout even, rows a multiple of 4:
 * dot products over the p positions (conv2d's weight gradient where p is large). */
void mla_weight_grad_avx2(const float *dy, const float *col, int cout, int rows, int p, float *dw);
/* y (n x out) = x (n x in) W^T + bias for W (out x in) as dense stores it (PyTorch's
 * layout), with no transposes: each element is one dot product along `in`, eight lanes of
 * fused multiply-adds in order over k (the last k % 8 masked), the lanes then added by a
 * fixed tree and the bias after, so an element's bits depend on neither n, its place in
 * the batch, nor the thread count; they differ from the 8 x 32 tile's (one chain per
 * element) within float rounding. relu_y, when given, also receives max(y, 0) (as the
 * relu layer: +0 for -0 and NaN). bias may be NULL. Split over the OpenMP team by
 * units. Four samples by three units a block (twelve accumulators, seven loads per twelve
 * multiply-adds); measured one core, -march=x86-64-v3, 128 x 784 -> 256: 100 GFLOP/s,
 * OpenBLAS's Haswell sgemm 98-105 on the same product, which the tile reached only after
 * two transposes costing a fifth of it. */
void mla_dense_forward_avx2(const float *x, const float *w, const float *bias, int n, int in, int out, float *y,
                            float *relu_y);
void mla_gemm_avx2_8x32_rows(int k, const float *a, size_t ars, size_t acs, const float *b, const int *boff,
                             float *c, size_t ldc, int ncols, const float *bias, bool relu, bool accumulate);
#endif

/* t (cols x rows) = m^T for m (rows x cols), both dense: in registers 16 x 16 at a time on
 * the AVX-512 family, else by 8 x 8 blocks. Same result either way. */
void mla_transpose_any(mla_isa kernels, const float *m, int rows, int cols, float *t);
/* mla_transpose_any split across the OpenMP team by blocks of rows. */
void mla_transpose_parallel(mla_isa kernels, const float *m, int rows, int cols, float *t);

#if defined(__AVX512F__)
#include <immintrin.h>
/* c[8 x ncols] = a[8 x k] b[k x ncols] (ncols <= 32): sixteen accumulators, per k two
 * loads of b's row and eight broadcasts of a's column; a(i, k) is a[i ars + k acs], so
 * the same kernel reads the weights as they lie (forward) or transposed (input
 * gradient). b and c are read and written in place, unpacked. b's rows are loaded 32
 * floats wide even when ncols is less (the extra lanes fall past the row, into the
 * next one or the buffer's slack, and are dropped at the masked store): with masked
 * loads the partial block ran at half speed. Unless b_slack: then b has no slack
 * after its last row, and that row is loaded masked. */
static inline void mla_gemm_8x32(int k, const float *a, size_t ars, size_t acs, const float *b, size_t ldb,
                                 float *c, size_t ldc, int ncols, bool b_slack, const float *bias, bool relu,
                                 bool accumulate) {
    __m512 acc[8][2];
    for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    __mmask16 m0 = mla_lanes_between(0, ncols), m1 = mla_lanes_between(0, ncols - 16);
    int full_rows = b_slack || ncols == 32 ? k : k - 1;
    for (int t = 0; t < full_rows; t++) {
        __m512 b0 = _mm512_loadu_ps(b + (size_t)t * ldb), b1 = _mm512_loadu_ps(b + (size_t)t * ldb + 16);
        const float *at = a + (size_t)t * acs;
        for (int i = 0; i < 8; i++) {
            __m512 av = _mm512_set1_ps(at[i * ars]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
    }
    if (full_rows < k) { /* the last row, masked */
        const float *bt = b + (size_t)(k - 1) * ldb, *at = a + (size_t)(k - 1) * acs;
        __m512 b0 = _mm512_maskz_loadu_ps(m0, bt), b1 = _mm512_maskz_loadu_ps(m1, bt + 16);
        for (int i = 0; i < 8; i++) {
            __m512 av = _mm512_set1_ps(at[i * ars]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
    }
    /* The epilogue: row i's bias added after its sum and then max(v, 0) (which, like the
     * relu layer's v > 0 ? v : 0, gives +0 for -0 and NaN), the same bits as separate
     * passes. */
    for (int i = 0; i < 8; i++) {
        if (bias) {
            __m512 bv = _mm512_set1_ps(bias[i]);
            acc[i][0] = _mm512_add_ps(acc[i][0], bv);
            acc[i][1] = _mm512_add_ps(acc[i][1], bv);
        }
        if (relu) {
            acc[i][0] = _mm512_max_ps(acc[i][0], _mm512_setzero_ps());
            acc[i][1] = _mm512_max_ps(acc[i][1], _mm512_setzero_ps());
        }
        if (accumulate) { /* c += the product */
            acc[i][0] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, c + i * ldc), acc[i][0]);
            acc[i][1] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, c + i * ldc + 16), acc[i][1]);
        }
        _mm512_mask_storeu_ps(c + i * ldc, m0, acc[i][0]);
        _mm512_mask_storeu_ps(c + i * ldc + 16, m1, acc[i][1]);
    }
}

/* Transposes 16 rows of 16 floats in registers: four rounds, each swapping the
 * off-diagonal s x s blocks of every 2s x 2s block (s = 8, 4, 2, 1) by pairs of
 * two-source permutes. */
static inline void mla_transpose_16x16(__m512 r[16]) {
    for (int s = 8; s >= 1; s >>= 1) {
        int lo_idx[16], hi_idx[16];
        for (int c = 0; c < 16; c++) {
            lo_idx[c] = c & s ? 16 + c - s : c;
            hi_idx[c] = c & s ? 16 + c : c + s;
        }
        __m512i lo = _mm512_loadu_si512(lo_idx), hi = _mm512_loadu_si512(hi_idx);
        for (int i = 0; i < 16; i++)
            if (!(i & s)) {
                __m512 a = r[i], b = r[i + s];
                r[i] = _mm512_permutex2var_ps(a, lo, b);
                r[i + s] = _mm512_permutex2var_ps(a, hi, b);
            }
    }
}

/* Rows [r0, r0 + 16) of m (rows x cols, clipped to rows) into t (cols x rows) = m^T. */
static inline void mla_transpose_rows16(const float *m, int rows, int cols, int r0, float *t) {
    int n = rows - r0 < 16 ? rows - r0 : 16;
    __mmask16 out = mla_lanes_between(0, n);
    for (int c0 = 0; c0 < cols; c0 += 16) {
        __m512 v[16];
        __mmask16 in = mla_lanes_between(0, cols - c0);
        for (int i = 0; i < 16; i++)
            v[i] = i < n ? _mm512_maskz_loadu_ps(in, m + (size_t)(r0 + i) * cols + c0) : _mm512_setzero_ps();
        mla_transpose_16x16(v);
        for (int i = 0; i < 16 && c0 + i < cols; i++)
            _mm512_mask_storeu_ps(t + (size_t)(c0 + i) * rows + r0, out, v[i]);
    }
}

/* t (cols x rows) = m^T for m (rows x cols), both dense. */
static inline void mla_transpose(const float *m, int rows, int cols, float *t) {
    for (int r0 = 0; r0 < rows; r0 += 16) mla_transpose_rows16(m, rows, cols, r0, t);
}

#endif

/* One 8 x 32 tile (mla_gemm_8x32's contract) on the family `kernels` names, AVX512 or
 * AVX2 (never PORTABLE). */
static inline void mla_gemm_tile(mla_isa kernels, int k, const float *a, size_t ars, size_t acs, const float *b,
                                 size_t ldb, float *c, size_t ldc, int ncols, bool b_slack, const float *bias,
                                 bool relu, bool accumulate) {
#if defined(__AVX512F__)
    if (kernels == MLA_ISA_AVX512) {
        mla_gemm_8x32(k, a, ars, acs, b, ldb, c, ldc, ncols, b_slack, bias, relu, accumulate);
        return;
    }
#endif
    (void)kernels;
#if MLA_HAVE_AVX2_CODE
    mla_gemm_avx2_8x32(k, a, ars, acs, b, ldb, c, ldc, ncols, b_slack, bias, relu, accumulate);
#endif
}

#endif
