/* Which family of the engine's matrix kernels runs (AVX-512, AVX2 or none), the choice
 * between them and OpenBLAS for dense layers, the transposes the dense forward uses, and
 * C = A B^T for feature rows (see nn/gemm.h and nn/sgemm_nt.h). */
#include "nn/gemm.h"

#include <omp.h>
#include <stdatomic.h>
#include <string.h>

#include "mlaudit/nn.h"
#include "nn/blas.h"

static int forced_mode = -1;

void mla_dense_kernels_force(int mode) { forced_mode = mode < 0 ? -1 : mode > 0; }

mla_isa mla_nn_kernels(void) {
    mla_isa level = mla_isa_level();
#if defined(__AVX512F__)
    if (level >= MLA_ISA_AVX512) return MLA_ISA_AVX512;
#endif
#if MLA_HAVE_AVX2_CODE
    if (level >= MLA_ISA_AVX2) return MLA_ISA_AVX2;
#endif
    (void)level;
    return MLA_ISA_PORTABLE;
}

/* OpenBLAS's 256-bit kernel sets (AVX2: Haswell, Zen; AVX: Sandybridge), which it runs
 * on an AVX-512 CPU when OPENBLAS_CORETYPE names one or when it does not know the CPU. */
static bool openblas_runs_256_bit_kernels(void) {
    const char *core = openblas_get_corename();
    return core && (!strcmp(core, "Haswell") || !strcmp(core, "Zen") || !strcmp(core, "Sandybridge"));
}

/* AVX2: the own kernels, in the forms that match OpenBLAS's Haswell kernels on one core
 * and scale better on two (nn/ops_dense.c: the forward as dot products with no transposes,
 * the gradients in 24-wide tiles). Measured on an AVX-512 AMD EPYC, -march=x86-64-v3 and
 * MLA_ISA=avx2, the mlp's products, GFLOP/s, one core: forward 100 against 98-105, weight
 * gradient 103-108 against 105-110, input gradient 100-106 against 100-107; two threads
 * (best of 300, shared machine): 179-199 against 151-163, 182-184 against 172-187, 185-188
 * against 160-172. OpenBLAS's threads also wait for each other by spinning, so on a
 * loaded machine its two-thread products stalled for milliseconds at a time. (Before:
 * transposes around the 8 x 32 tile for the forward and 32-wide gradient tiles, about 10%
 * slower than OpenBLAS on one core, hence OpenBLAS then.) */
static bool dense_avx2_rule(void) { return true; }

bool mla_dense_own_kernels(void) {
    mla_isa kernels = mla_nn_kernels();
    if (kernels == MLA_ISA_PORTABLE) return false;
    if (forced_mode >= 0) return forced_mode == 1;
    if (kernels == MLA_ISA_AVX2) return dense_avx2_rule();
    /* Asked three times per dense layer and step: OpenBLAS's answer is read once. */
    static atomic_int openblas_256 = -1;
    int known = atomic_load_explicit(&openblas_256, memory_order_relaxed);
    if (known < 0) {
        known = openblas_runs_256_bit_kernels();
        atomic_store_explicit(&openblas_256, known, memory_order_relaxed);
    }
    return known == 1;
}

const char *mla_nn_kernels_name(void) {
    static const char *const names[2][3] = {{"portable", "avx2, dense on OpenBLAS", "avx512, dense on OpenBLAS"},
                                            {"portable", "avx2", "avx512"}};
    return names[mla_dense_own_kernels()][mla_nn_kernels()];
}

/* Rows [r0, r0 + 8) of m (clipped) into t = m^T, 8 x 8 blocks: each block's loads and
 * stores stay within a few cache lines. */
static void transpose_rows8(const float *m, int rows, int cols, int r0, float *t) {
    int r1 = r0 + 8 < rows ? r0 + 8 : rows;
    for (int c0 = 0; c0 < cols; c0 += 8) {
        int c1 = c0 + 8 < cols ? c0 + 8 : cols;
        for (int c = c0; c < c1; c++)
            for (int r = r0; r < r1; r++) t[(size_t)c * rows + r] = m[(size_t)r * cols + c];
    }
}

void mla_transpose_any(mla_isa kernels, const float *m, int rows, int cols, float *t) {
#if defined(__AVX512F__)
    if (kernels == MLA_ISA_AVX512) {
        mla_transpose(m, rows, cols, t);
        return;
    }
#endif
    (void)kernels;
    for (int r0 = 0; r0 < rows; r0 += 8) transpose_rows8(m, rows, cols, r0, t);
}

void mla_transpose_parallel(mla_isa kernels, const float *m, int rows, int cols, float *t) {
    (void)kernels;
    int step = 16, blocks = (rows + step - 1) / step;
#pragma omp parallel for schedule(static) if (blocks > 1 && (size_t)rows * cols >= 16384)
    for (int b = 0; b < blocks; b++) {
#if defined(__AVX512F__)
        if (kernels == MLA_ISA_AVX512) {
            mla_transpose_rows16(m, rows, cols, step * b, t);
            continue;
        }
#endif
        transpose_rows8(m, rows, cols, step * b, t);
        transpose_rows8(m, rows, cols, step * b + 8, t);
    }
}

/* ---- C = A B^T for feature rows (nn/sgemm_nt.h) ---- */

#include <stdlib.h>

#include "mlaudit/core.h"
#include "nn/sgemm_nt.h"

/* Columns of B^T (rows of B) per packed panel, and its depth. */
#define NT_KC 512

/* bp (kc x 32) = rows j0..j0+cols-1 of b, columns t0..t0+kc-1, transposed; columns past
 * `cols` are zero. */
static void pack_bt(const float *b, int k, int j0, int cols, int t0, int kc, float *bp) {
    for (int t = 0; t < kc; t++) {
        float *row = bp + (size_t)t * 32;
        for (int j = 0; j < cols; j++) row[j] = b[(size_t)(j0 + j) * k + t0 + t];
        for (int j = cols; j < 32; j++) row[j] = 0;
    }
}

static void own_nt(mla_isa kernels, int m, int n, int k, const float *a, const float *b, float *c, int ldc) {
    int m8 = m / 8 * 8, blocks = (n + 31) / 32;
#pragma omp parallel
    {
        float *bp = mla_alloc_aligned((size_t)NT_KC * 32 + 16, sizeof(float));
        float tail[8 * 32]; /* the last m % 8 rows of a block go through a full 8-row tile */
        float *apad = m8 < m ? mla_alloc((size_t)8 * k, sizeof(float)) : NULL;
        if (apad) memcpy(apad, a + (size_t)m8 * k, (size_t)(m - m8) * k * sizeof(float));
#pragma omp for schedule(static)
        for (int jb = 0; jb < blocks; jb++) {
            int j0 = jb * 32, cols = n - j0 < 32 ? n - j0 : 32;
            for (int t0 = 0; t0 < k; t0 += NT_KC) {
                int kc = k - t0 < NT_KC ? k - t0 : NT_KC;
                pack_bt(b, k, j0, cols, t0, kc, bp);
                for (int i = 0; i < m8; i += 8)
                    mla_gemm_tile(kernels, kc, a + (size_t)i * k + t0, (size_t)k, 1, bp, 32, c + (size_t)i * ldc + j0,
                                  (size_t)ldc, cols, true, NULL, false, t0 > 0);
                if (apad) {
                    if (t0 == 0) memset(tail, 0, sizeof tail);
                    mla_gemm_tile(kernels, kc, apad + t0, (size_t)k, 1, bp, 32, tail, 32, 32, true, NULL, false,
                                  true);
                }
            }
            for (int i = m8; apad && i < m; i++)
                memcpy(c + (size_t)i * ldc + j0, tail + (size_t)(i - m8) * 32, (size_t)cols * sizeof(float));
        }
        free(bp);
        free(apad);
    }
}

void mla_sgemm_nt_with(bool own, int m, int n, int k, const float *a, const float *b, float *c, int ldc) {
    if (m < 1 || n < 1) return;
    mla_isa kernels = mla_nn_kernels();
    if (own && kernels != MLA_ISA_PORTABLE) {
        own_nt(kernels, m, n, k, a, b, c, ldc);
        return;
    }
    mla_sgemm(false, true, m, n, k, 1.0f, a, k, b, k, 0.0f, c, ldc);
}

void mla_sgemm_nt(int m, int n, int k, const float *a, const float *b, float *c, int ldc) {
    mla_sgemm_nt_with(mla_nn_kernels() == MLA_ISA_AVX512 && mla_dense_own_kernels(), m, n, k, a, b, c, ldc);
}
