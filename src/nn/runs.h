/* Private: short contiguous runs of floats (copy, add, zero). im2col and col2im move
 * rows of a few to a few tens of floats, where a libc call or a vector loop with a
 * scalar tail costs more than the data; with AVX-512 one masked load/store pair covers
 * any run of up to 16 floats. Results are the same bits on either path. */
#ifndef MLAUDIT_NN_RUNS_H
#define MLAUDIT_NN_RUNS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* Mask of the first n (0..16) lanes. */
#if defined(__AVX512F__)
static inline __mmask16 mla_first_lanes(int n) { return (__mmask16)((1u << n) - 1u); }
#endif

/* dst[0..n) = src[0..n); the ranges do not overlap. */
static inline void mla_copy_run(float *restrict dst, const float *restrict src, int n) {
#if defined(__AVX512F__)
    int q = 0;
    for (; q + 16 <= n; q += 16) _mm512_storeu_ps(dst + q, _mm512_loadu_ps(src + q));
    if (q < n) {
        __mmask16 m = mla_first_lanes(n - q);
        _mm512_mask_storeu_ps(dst + q, m, _mm512_maskz_loadu_ps(m, src + q));
    }
#else
    for (int q = 0; q < n; q++) dst[q] = src[q];
#endif
}

/* dst[0..n) += src[0..n); the ranges do not overlap. */
static inline void mla_add_run(float *restrict dst, const float *restrict src, int n) {
#if defined(__AVX512F__)
    int q = 0;
    for (; q + 16 <= n; q += 16)
        _mm512_storeu_ps(dst + q, _mm512_add_ps(_mm512_loadu_ps(dst + q), _mm512_loadu_ps(src + q)));
    if (q < n) {
        __mmask16 m = mla_first_lanes(n - q);
        __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst + q), _mm512_maskz_loadu_ps(m, src + q));
        _mm512_mask_storeu_ps(dst + q, m, sum);
    }
#else
    for (int q = 0; q < n; q++) dst[q] += src[q];
#endif
}

/* dst[0..n) = 0 */
static inline void mla_zero_run(float *dst, int n) {
#if defined(__AVX512F__)
    int q = 0;
    for (; q + 16 <= n; q += 16) _mm512_storeu_ps(dst + q, _mm512_setzero_ps());
    if (q < n) _mm512_mask_storeu_ps(dst + q, mla_first_lanes(n - q), _mm512_setzero_ps());
#else
    for (int q = 0; q < n; q++) dst[q] = 0.0f;
#endif
}

/* rows x n block copy: dst[r * dld + q] = src[r * sld + q]; blocks do not overlap. The
 * mask is computed once for the block, so each row of up to 16 floats is one masked
 * load and one masked store. */
static inline void mla_copy_rows(float *restrict dst, size_t dld, const float *restrict src, size_t sld, int rows,
                                 int n) {
#if defined(__AVX512F__)
    if (n <= 16) {
        __mmask16 m = mla_first_lanes(n);
        for (int r = 0; r < rows; r++)
            _mm512_mask_storeu_ps(dst + r * dld, m, _mm512_maskz_loadu_ps(m, src + r * sld));
        return;
    }
#endif
    for (int r = 0; r < rows; r++) mla_copy_run(dst + r * dld, src + r * sld, n);
}

/* rows x n block add: dst[r * dld + q] += src[r * sld + q]; blocks do not overlap. */
static inline void mla_add_rows(float *restrict dst, size_t dld, const float *restrict src, size_t sld, int rows,
                                int n) {
#if defined(__AVX512F__)
    if (n <= 16) {
        __mmask16 m = mla_first_lanes(n);
        for (int r = 0; r < rows; r++) {
            __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst + r * dld), _mm512_maskz_loadu_ps(m, src + r * sld));
            _mm512_mask_storeu_ps(dst + r * dld, m, sum);
        }
        return;
    }
#endif
    for (int r = 0; r < rows; r++) mla_add_run(dst + r * dld, src + r * sld, n);
}

/* dst[0..n) = src[0..n) with streaming stores where the hardware has them: for
 * activations written now and read only after the whole batch has passed, so they go
 * to memory without first being read into cache (half the traffic) and without
 * evicting the working set. Streaming stores are weakly ordered: call mla_stream_fence()
 * after the last copy of a pass, before other threads may read what was written. */
static inline void mla_stream_copy(float *restrict dst, const float *restrict src, size_t n) {
#if defined(__AVX512F__)
    size_t head = (size_t)((64 - ((uintptr_t)dst & 63)) & 63) / sizeof(float);
    if (((uintptr_t)dst & 3) || head > n) head = n; /* misaligned floats, or too short: plain stores */
    mla_copy_run(dst, src, (int)head);
    size_t q = head;
    for (; q + 16 <= n; q += 16) _mm512_stream_ps(dst + q, _mm512_loadu_ps(src + q));
    for (; q < n; q += 16) mla_copy_run(dst + q, src + q, (int)(n - q < 16 ? n - q : 16));
#else
    memcpy(dst, src, n * sizeof(float));
#endif
}

static inline void mla_stream_fence(void) {
#if defined(__AVX512F__)
    _mm_sfence();
#endif
}

#endif
