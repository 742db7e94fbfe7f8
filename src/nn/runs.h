/* Private: AVX-512 lane masks and float runs for the conv and pooling kernels, and
 * streaming copies for activations. Rows in these nets are a few to a few tens of
 * floats, where a libc call or a vector loop with a scalar tail costs more than the
 * data; with AVX-512 one masked load or store covers up to 16 floats, and masked-off
 * lanes are neither read nor written (so a mask may stand for the image's border). */
#ifndef MLAUDIT_NN_RUNS_H
#define MLAUDIT_NN_RUNS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>

/* Lanes [a, b) of 16, clipped to [0, 16); empty when a >= b. */
static inline __mmask16 mla_lanes_between(int a, int b) {
    if (a < 0) a = 0;
    if (b > 16) b = 16;
    return a < b ? (__mmask16)(((1u << (b - a)) - 1u) << a) : 0;
}

/* Indices 0, 2, ..., 30: with _mm512_permutex2var_ps, the even floats of 32. */
static inline __m512i mla_even_lanes(void) {
    return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
#endif

/* dst[0..n) = 0 */
static inline void mla_zero_run(float *dst, int n) {
#if defined(__AVX512F__)
    int q = 0;
    for (; q + 16 <= n; q += 16) _mm512_storeu_ps(dst + q, _mm512_setzero_ps());
    if (q < n) _mm512_mask_storeu_ps(dst + q, mla_lanes_between(0, n - q), _mm512_setzero_ps());
#else
    if (n > 0) memset(dst, 0, (size_t)n * sizeof(float));
#endif
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
    for (size_t q = 0; q < head; q += 16) {
        __mmask16 m = mla_lanes_between(0, (int)(head - q));
        _mm512_mask_storeu_ps(dst + q, m, _mm512_maskz_loadu_ps(m, src + q));
    }
    size_t q = head;
    for (; q + 16 <= n; q += 16) _mm512_stream_ps(dst + q, _mm512_loadu_ps(src + q));
    if (q < n) {
        __mmask16 m = mla_lanes_between(0, (int)(n - q));
        _mm512_mask_storeu_ps(dst + q, m, _mm512_maskz_loadu_ps(m, src + q));
    }
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
