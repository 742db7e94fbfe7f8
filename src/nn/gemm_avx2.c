/* The engine's AVX2/FMA matrix kernel (nn/gemm.h): mla_gemm_8x32's contract on 256-bit
 * registers, compiled for AVX2 with a target attribute so that a portable build
 * (MLA_NATIVE=OFF) carries it too; callers reach it only where mla_nn_kernels() answers
 * MLA_ISA_AVX2, i.e. on a CPU with AVX2 and FMA.
 *
 * Register blocking (16 ymm registers): see mla_gemm_avx2_8x32. Each
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

/* The epilogue of one accumulator, row i and columns [8 v, 8 v + 8) of c (clipped to
 * ncols), as in mla_gemm_8x32: bias, relu, accumulate, store. */
AVX2_TARGET static inline __attribute__((always_inline)) void finish(__m256 r, float *c, size_t ldc, int i, int v,
                                                                     int ncols, const float *bias, bool relu,
                                                                     bool accumulate) {
    __m256i mask = lanes_below(ncols - 8 * v);
    if (bias) r = _mm256_add_ps(r, _mm256_broadcast_ss(bias + i));
    if (relu) r = _mm256_max_ps(r, _mm256_setzero_ps());
    float *cv = c + i * ldc + 8 * v;
    if (accumulate) r = _mm256_add_ps(_mm256_maskload_ps(cv, mask), r);
    if (ncols >= 8 * (v + 1))
        _mm256_storeu_ps(cv, r);
    else
        _mm256_maskstore_ps(cv, mask, r);
}

/* b's t-th row, 8 floats from column 8 v: a plain load, or for the last row of a b
 * without slack, masked to ncols. The empty asm keeps the row in a register: folded into
 * the multiply-adds as memory operands (the compiler's choice) it is loaded once per
 * row of a, and the loads, not the FMAs, set the pace (65% of OpenBLAS's speed, measured).
 * With an offset table boff (the implicit GEMM's rows), row t starts at b + boff[t]. */
#define LOAD_B(t, v, masked)                                                                             \
    __extension__({                                                                                      \
        const float *p_ = (boff ? b + boff[t] : b + (size_t)(t) * ldb) + 8 * (v);                         \
        __m256 r_ = (masked) ? _mm256_maskload_ps(p_, lanes_below(ncols - 8 * (v))) : _mm256_loadu_ps(p_); \
        __asm__("" : "+x"(r_));                                                                          \
        r_;                                                                                              \
    })

/* c[4 x ncols] (ncols <= 24): twelve accumulators, three loads of b's row and four
 * broadcasts of a per k. b's rows are loaded 24 wide whatever ncols (the lanes past it
 * are dropped at the store) except, unless b_slack, the last row, loaded masked. */
AVX2_TARGET static inline __attribute__((always_inline)) void block_4x24(int k, const float *a, size_t ars,
                                                                          size_t acs, const float *b, size_t ldb,
                                                                          const int *boff, float *c, size_t ldc, int ncols, bool b_slack, const float *bias, bool relu,
                                   bool accumulate) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    int full_rows = b_slack || ncols == 24 ? k : k - 1;
    for (int t = 0; t < k; t++) {
        bool masked = t >= full_rows;
        __m256 b0 = LOAD_B(t, 0, masked), b1 = LOAD_B(t, 1, masked), b2 = LOAD_B(t, 2, masked);
        const float *at = a + (size_t)t * acs;
        __m256 a0 = _mm256_broadcast_ss(at);
        c00 = _mm256_fmadd_ps(a0, b0, c00), c01 = _mm256_fmadd_ps(a0, b1, c01), c02 = _mm256_fmadd_ps(a0, b2, c02);
        __m256 a1 = _mm256_broadcast_ss(at + ars);
        c10 = _mm256_fmadd_ps(a1, b0, c10), c11 = _mm256_fmadd_ps(a1, b1, c11), c12 = _mm256_fmadd_ps(a1, b2, c12);
        __m256 a2 = _mm256_broadcast_ss(at + 2 * ars);
        c20 = _mm256_fmadd_ps(a2, b0, c20), c21 = _mm256_fmadd_ps(a2, b1, c21), c22 = _mm256_fmadd_ps(a2, b2, c22);
        __m256 a3 = _mm256_broadcast_ss(at + 3 * ars);
        c30 = _mm256_fmadd_ps(a3, b0, c30), c31 = _mm256_fmadd_ps(a3, b1, c31), c32 = _mm256_fmadd_ps(a3, b2, c32);
    }
    finish(c00, c, ldc, 0, 0, ncols, bias, relu, accumulate), finish(c01, c, ldc, 0, 1, ncols, bias, relu, accumulate);
    finish(c02, c, ldc, 0, 2, ncols, bias, relu, accumulate), finish(c10, c, ldc, 1, 0, ncols, bias, relu, accumulate);
    finish(c11, c, ldc, 1, 1, ncols, bias, relu, accumulate), finish(c12, c, ldc, 1, 2, ncols, bias, relu, accumulate);
    finish(c20, c, ldc, 2, 0, ncols, bias, relu, accumulate), finish(c21, c, ldc, 2, 1, ncols, bias, relu, accumulate);
    finish(c22, c, ldc, 2, 2, ncols, bias, relu, accumulate), finish(c30, c, ldc, 3, 0, ncols, bias, relu, accumulate);
    finish(c31, c, ldc, 3, 1, ncols, bias, relu, accumulate), finish(c32, c, ldc, 3, 2, ncols, bias, relu, accumulate);
}

/* c[8 x ncols] (ncols <= 8): eight accumulators, one load of b's row and eight broadcasts
 * per k; b's rows loaded 8 wide as in block_4x24. */
AVX2_TARGET static inline __attribute__((always_inline)) void block_8x8(int k, const float *a, size_t ars,
                                                                         size_t acs, const float *b, size_t ldb,
                                                                         const int *boff, float *c, size_t ldc, int ncols, bool b_slack, const float *bias, bool relu,
                                  bool accumulate) {
    __m256 acc[8];
    for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
    int full_rows = b_slack || ncols == 8 ? k : k - 1;
    for (int t = 0; t < k; t++) {
        __m256 b0 = LOAD_B(t, 0, t >= full_rows);
        const float *at = a + (size_t)t * acs;
        for (int i = 0; i < 8; i++) acc[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(at + i * ars), b0, acc[i]);
    }
    for (int i = 0; i < 8; i++) finish(acc[i], c, ldc, i, 0, ncols, bias, relu, accumulate);
}

/* The 8 x 32 tile as two 4 x 24 blocks (twelve accumulators: enough multiply-adds in
 * flight for a 5-cycle FMA latency on two pipes, seven loads per twelve) and one 8 x 8
 * block for the last 8 columns; narrower tiles take the blocks they need. Inlined into
 * each entry point below, so the strided and the offset-table forms are compiled apart. */
AVX2_TARGET static inline __attribute__((always_inline)) void tile(int k, const float *a, size_t ars, size_t acs,
                                                                   const float *b, size_t ldb, const int *boff,
                                                                   float *c, size_t ldc, int ncols, bool b_slack,
                                                                   const float *bias, bool relu, bool accumulate) {
    const float *bias4 = bias ? bias + 4 : NULL;
    if (ncols > 8) {
        int w = ncols < 24 ? ncols : 24;
        block_4x24(k, a, ars, acs, b, ldb, boff, c, ldc, w, b_slack, bias, relu, accumulate);
        block_4x24(k, a + 4 * ars, ars, acs, b, ldb, boff, c + 4 * ldc, ldc, w, b_slack, bias4, relu, accumulate);
    }
    if (ncols > 24 || ncols <= 8) {
        int j = ncols > 24 ? 24 : 0;
        block_8x8(k, a, ars, acs, b + j, ldb, boff, c + j, ldc, ncols - j, b_slack, bias, relu, accumulate);
    }
}

AVX2_TARGET void mla_gemm_avx2_8x32(int k, const float *a, size_t ars, size_t acs, const float *b, size_t ldb,
                                    float *c, size_t ldc, int ncols, bool b_slack, const float *bias, bool relu,
                                    bool accumulate) {
    tile(k, a, ars, acs, b, ldb, NULL, c, ldc, ncols, b_slack, bias, relu, accumulate);
}

AVX2_TARGET void mla_gemm_avx2_8x32_rows(int k, const float *a, size_t ars, size_t acs, const float *b,
                                         const int *boff, float *c, size_t ldc, int ncols, const float *bias,
                                         bool relu, bool accumulate) {
    tile(k, a, ars, acs, b, 0, boff, c, ldc, ncols, true, bias, relu, accumulate);
}

/* Lane t of the result = the sum of a[t]'s eight lanes. */
AVX2_TARGET static inline __m256 sum_lanes_8(const __m256 *a) {
    __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
    __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
    __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* dw[co + i][r + j] += dot(dy[co + i][0..p), col[r + j][0..p)), i < 2, j < 4: eight
 * accumulators, six loads per eight multiply-adds, the tail masked. */
AVX2_TARGET static void weight_grad_2x4(const float *dy, const float *col, int p, float *dw, int ldw) {
    __m256 acc[8];
    for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
    for (int q = 0; q < p; q += 8) {
        __m256 d[2], c[4];
        if (q + 8 <= p) {
            for (int i = 0; i < 2; i++) d[i] = _mm256_loadu_ps(dy + (size_t)i * p + q);
            for (int j = 0; j < 4; j++) c[j] = _mm256_loadu_ps(col + (size_t)j * p + q);
        } else {
            __m256i m = lanes_below(p - q);
            for (int i = 0; i < 2; i++) d[i] = _mm256_maskload_ps(dy + (size_t)i * p + q, m);
            for (int j = 0; j < 4; j++) c[j] = _mm256_maskload_ps(col + (size_t)j * p + q, m);
        }
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 4; j++) acc[4 * i + j] = _mm256_fmadd_ps(d[i], c[j], acc[4 * i + j]);
    }
    float sums[8]; /* sums[4 i + j]: (co + i, r + j) */
    _mm256_storeu_ps(sums, sum_lanes_8(acc));
    for (int i = 0; i < 2; i++) {
        float *row = dw + (size_t)i * ldw;
        _mm_storeu_ps(row, _mm_add_ps(_mm_loadu_ps(row), _mm_loadu_ps(sums + 4 * i)));
    }
}

AVX2_TARGET void mla_weight_grad_avx2(const float *dy, const float *col, int cout, int rows, int p, float *dw) {
    for (int co = 0; co < cout; co += 2)
        for (int r = 0; r < rows; r += 4)
            weight_grad_2x4(dy + (size_t)co * p, col + (size_t)r * p, p, dw + (size_t)co * rows + r, rows);
}
#endif

/* ---- dense forward as dot products (nn/gemm.h: mla_dense_forward_avx2) ---- */

/* Four rows of x by three of W: twelve accumulators of 8 partial sums each, per 8 of k
 * three loads of W and four of x (held in registers: see LOAD_B) per twelve multiply-
 * adds; the last k % 8 masked (the masked lanes add 0 x 0). */
#define DOT3(u, A, B, C) A = _mm256_fmadd_ps(u, w0v, A), B = _mm256_fmadd_ps(u, w1v, B), C = _mm256_fmadd_ps(u, w2v, C)
AVX2_TARGET static inline __attribute__((always_inline)) void dots_4x3(int k, const float *const *xr,
                                                                       const float *const *wr, __m256 acc[12]) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m256 a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    const float *w0 = wr[0], *w1 = wr[1], *w2 = wr[2], *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3];
    int t = 0;
    for (; t + 8 <= k; t += 8) {
        __m256 w0v = _mm256_loadu_ps(w0 + t), w1v = _mm256_loadu_ps(w1 + t), w2v = _mm256_loadu_ps(w2 + t), u;
        __asm__("" : "+x"(w0v), "+x"(w1v), "+x"(w2v));
        u = _mm256_loadu_ps(x0 + t), DOT3(u, a0, a1, a2);
        u = _mm256_loadu_ps(x1 + t), DOT3(u, a3, a4, a5);
        u = _mm256_loadu_ps(x2 + t), DOT3(u, a6, a7, a8);
        u = _mm256_loadu_ps(x3 + t), DOT3(u, a9, a10, a11);
    }
    if (t < k) {
        __m256i m = lanes_below(k - t);
        __m256 w0v = _mm256_maskload_ps(w0 + t, m), w1v = _mm256_maskload_ps(w1 + t, m);
        __m256 w2v = _mm256_maskload_ps(w2 + t, m), u;
        u = _mm256_maskload_ps(x0 + t, m), DOT3(u, a0, a1, a2);
        u = _mm256_maskload_ps(x1 + t, m), DOT3(u, a3, a4, a5);
        u = _mm256_maskload_ps(x2 + t, m), DOT3(u, a6, a7, a8);
        u = _mm256_maskload_ps(x3 + t, m), DOT3(u, a9, a10, a11);
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5;
    acc[6] = a6, acc[7] = a7, acc[8] = a8, acc[9] = a9, acc[10] = a10, acc[11] = a11;
}

/* One block: samples [s, s + 4) by units [o, o + 3), clipped to n and out (the rows past
 * the ends read the last row again and are not stored). */
AVX2_TARGET static void dense_block(const float *x, const float *w, const float *bias, int n, int in, int out, int s,
                                    int o, float *y, float *relu_y) {
    const float *xr[4], *wr[3];
    for (int i = 0; i < 4; i++) xr[i] = x + (size_t)(s + i < n ? s + i : n - 1) * in;
    for (int j = 0; j < 3; j++) wr[j] = w + (size_t)(o + j < out ? o + j : out - 1) * in;
    __m256 acc[12];
    dots_4x3(in, xr, wr, acc);
    float sums[16]; /* sums[3 i + j]: sample s + i, unit o + j */
    _mm256_storeu_ps(sums, sum_lanes_8(acc));
    __m256 rest[8] = {acc[8], acc[9], acc[10], acc[11], acc[8], acc[9], acc[10], acc[11]};
    _mm256_storeu_ps(sums + 8, sum_lanes_8(rest));
    for (int i = 0; i < 4 && s + i < n; i++)
        for (int j = 0; j < 3 && o + j < out; j++) {
            float v = sums[3 * i + j];
            if (bias) v += bias[o + j];
            size_t at = (size_t)(s + i) * out + o + j;
            y[at] = v;
            if (relu_y) relu_y[at] = v > 0 ? v : 0.0f;
        }
}

AVX2_TARGET void mla_dense_forward_avx2(const float *x, const float *w, const float *bias, int n, int in, int out,
                                        float *y, float *relu_y) {
    int groups = (out + 2) / 3;
    /* A thread's units stay in L1 while every sample's row streams past from L2. Below
     * 262,144 multiply-adds (the mlp's 10-unit output layer) one thread is faster than
     * the team's fork and join (12.2 -> 10.5 us in-step, measured). */
#pragma omp parallel for schedule(static) if ((long)n * in * out > 262144)
    for (int g = 0; g < groups; g++)
        for (int s = 0; s < n; s += 4) dense_block(x, w, bias, n, in, out, s, 3 * g, y, relu_y);
}
