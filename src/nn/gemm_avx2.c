/* The engine's AVX2/FMA matrix kernel (nn/gemm.h): mla_gemm_8x32's contract on 256-bit
 * registers, compiled for AVX2 with a target attribute so that a portable build
 * (MLA_NATIVE=OFF) carries it too; callers reach it only where mla_nn_kernels() answers
 * MLA_ISA_AVX2, i.e. on a CPU with AVX2 and FMA.
 *
 * Register blocking: 16 ymm registers hold a 4 x 16 block (eight accumulators, two
 * loads of b's row, one broadcast of a); the 8 x 32 tile is four such blocks. Each
 * element is the same float32 chain as in the AVX-512 kernel (one fused multiply-add
 * per k, in order, then bias, relu, accumulate), so both kernels give the same bits. */
#include "nn/gemm.h"

#if MLA_HAVE_AVX2_CODE
#include <immintrin.h>
#include <stdint.h>

#define AVX2_TARGET __attribute__((target("avx2,fma")))

/* The lanes [0, n) of 8 as a maskload/maskstore mask (n clipped to [0, 8]). */
AVX2_TARGET static inline __m256i lanes_below(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* c[4 x ncols] (ncols <= 16) of the product, columns c0.. of the tile; see the header.
 * b's rows are loaded 16 wide whatever ncols (the lanes past it are dropped at the
 * store) except, unless b_slack, the last row, which is loaded masked. */
AVX2_TARGET static void block_4x16(int k, const float *a, size_t ars, size_t acs, const float *b, size_t ldb,
                                   float *c, size_t ldc, int ncols, bool b_slack, const float *bias, bool relu,
                                   bool accumulate) {
    __m256 acc[4][2];
    for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    __m256i m0 = lanes_below(ncols), m1 = lanes_below(ncols - 8);
    int full_rows = b_slack || ncols == 16 ? k : k - 1;
    for (int t = 0; t < full_rows; t++) {
        __m256 b0 = _mm256_loadu_ps(b + (size_t)t * ldb), b1 = _mm256_loadu_ps(b + (size_t)t * ldb + 8);
        const float *at = a + (size_t)t * acs;
        for (int i = 0; i < 4; i++) {
            __m256 av = _mm256_broadcast_ss(at + i * ars);
            acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
        }
    }
    if (full_rows < k) {
        const float *bt = b + (size_t)(k - 1) * ldb, *at = a + (size_t)(k - 1) * acs;
        __m256 b0 = _mm256_maskload_ps(bt, m0), b1 = _mm256_maskload_ps(bt + 8, m1);
        for (int i = 0; i < 4; i++) {
            __m256 av = _mm256_broadcast_ss(at + i * ars);
            acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
        }
    }
    for (int i = 0; i < 4; i++) { /* the epilogue, as in mla_gemm_8x32 */
        if (bias) {
            __m256 bv = _mm256_broadcast_ss(bias + i);
            acc[i][0] = _mm256_add_ps(acc[i][0], bv);
            acc[i][1] = _mm256_add_ps(acc[i][1], bv);
        }
        if (relu) {
            acc[i][0] = _mm256_max_ps(acc[i][0], _mm256_setzero_ps());
            acc[i][1] = _mm256_max_ps(acc[i][1], _mm256_setzero_ps());
        }
        float *ci = c + i * ldc;
        if (accumulate) {
            acc[i][0] = _mm256_add_ps(_mm256_maskload_ps(ci, m0), acc[i][0]);
            acc[i][1] = _mm256_add_ps(_mm256_maskload_ps(ci + 8, m1), acc[i][1]);
        }
        if (ncols >= 16) {
            _mm256_storeu_ps(ci, acc[i][0]);
            _mm256_storeu_ps(ci + 8, acc[i][1]);
        } else {
            _mm256_maskstore_ps(ci, m0, acc[i][0]);
            _mm256_maskstore_ps(ci + 8, m1, acc[i][1]);
        }
    }
}

AVX2_TARGET void mla_gemm_avx2_8x32(int k, const float *a, size_t ars, size_t acs, const float *b, size_t ldb,
                                    float *c, size_t ldc, int ncols, bool b_slack, const float *bias, bool relu,
                                    bool accumulate) {
    for (int j = 0; j < ncols; j += 16)
        for (int i = 0; i < 8; i += 4)
            block_4x16(k, a + (size_t)i * ars, ars, acs, b + j, ldb, c + (size_t)i * ldc + j, ldc,
                       ncols - j < 16 ? ncols - j : 16, b_slack, bias ? bias + i : NULL, relu, accumulate);
}
#endif
