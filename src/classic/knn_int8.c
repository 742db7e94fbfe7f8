/* The exact integer kNN engine for 8-bit pixel data: AVX-512 VNNI, or AVX2 where the CPU
 * (or MLA_ISA) has no VNNI. Both compiled with target attributes, chosen at run time.
 *
 * VNNI. For pixel rows x (values v in 0..255) and a query q, the squared distance in v^2
 * units is |x|^2 + |q|^2 - 2 x.q, an integer below 2^31 for d <= 33,000. VNNI's
 * vpdpbusd multiplies unsigned bytes by signed bytes, so queries are stored as
 * q - 128 and x.q = x.(q - 128) + 128 sum(x). With base(x) = |x|^2 - 256 sum(x):
 *     distance = base(x) + |q|^2 - 2 x.(q - 128)
 * Every step is exact, so the neighbours are exactly those of the real distances.
 * Blocking: rows are packed in panels of 32 (two 16-lane registers, 4 dims per lane);
 * a micro-kernel accumulates 12 queries x 32 rows in 24 registers.
 *
 * AVX2. vpmaddubsw (u8 x s8, adjacent pairs summed into int16) saturates: 255 x 127
 * twice is 64,770 > 32,767. So the bytes are widened to int16 as they are loaded
 * (vpmovzxbw) and multiplied with vpmaddwd, int16 x int16 with adjacent pairs summed into
 * int32: with x and q in 0..255 a pair is at most 2 x 255^2 = 130,050, exact (vpmaddwd
 * wraps only when all four inputs are -32768). Rows hold 2 dims per 32-bit lane; queries
 * are stored as plain q (int16), base(x) = |x|^2, and
 *     distance = base(x) + |q|^2 - 2 x.q
 * x.q <= d 255^2 < 2^31 for d <= 33,000 (exact in the int32 accumulators), and the true
 * distance |x - q|^2 lies in [0, d 255^2] too. The sum's intermediate terms may pass
 * 2^31, but vpaddd, vpsubd and vpslld work modulo 2^32, and an exact result inside the
 * int32 range is then exactly what they give. Blocking: a micro-kernel accumulates 6
 * queries x 16 rows (half a panel) in 12 registers.
 *
 * Each thread owns a tile of queries and streams all panels through it, keeping the
 * tile's running top k; rows reach a query in increasing order on both paths, so ties
 * go to the smaller row and both give exactly the same neighbours. */
#include "knn_impl.h"

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MLA_HAVE_SIMD_CODE 1
#else
#define MLA_HAVE_SIMD_CODE 0
#endif

#define MR 12              /* queries per micro-kernel (VNNI); tiles are multiples of it */
#define MR2 6              /* queries per micro-kernel (AVX2) */
#define NR MLA_KNN_PANEL   /* rows per panel */
#define PAD_BASE (1 << 30) /* base of padding rows (which the kernels mask out anyway) */
#define MAX_TILE 240       /* queries per thread tile (a multiple of MR) */

mla_isa mla_knn_int8_isa(void) {
    mla_isa level = mla_isa_level();
#if MLA_HAVE_SIMD_CODE
    __builtin_cpu_init();
    if (level >= MLA_ISA_AVX512 && __builtin_cpu_supports("avx512vnni")) return MLA_ISA_AVX512;
    if (level >= MLA_ISA_AVX2) return MLA_ISA_AVX2;
#endif
    (void)level;
    return MLA_ISA_PORTABLE;
}

const char *mla_knn_exact_kernels(void) {
    mla_isa isa = mla_knn_int8_isa();
    return isa == MLA_ISA_AVX512 ? "avx512-vnni" : isa == MLA_ISA_AVX2 ? "avx2" : "none";
}

int mla_knn_int8_supported(void) { return mla_knn_int8_isa() != MLA_ISA_PORTABLE; }

void mla_knn_int8_release(mla_knn_int8_rows *r) {
    free(r->packed);
    free(r->base);
    memset(r, 0, sizeof *r);
}

mla_status mla_knn_int8_pack(const float *x, int n, int d, mla_knn_int8_rows *out) {
    memset(out, 0, sizeof *out);
    if (d > 33000) return MLA_OK; /* distances could overflow int32: the float engine serves it */
    out->n = n;
    out->d = d;
    out->isa = mla_knn_int8_isa();
    out->g = out->isa == MLA_ISA_AVX512 ? 4 : 2;
    out->ng = (d + out->g - 1) / out->g;
    out->panels = (n + NR - 1) / NR;
    int g = out->g;
    size_t panel_bytes = (size_t)out->ng * NR * g;
    out->packed = mla_alloc((size_t)out->panels, panel_bytes);
    out->base = mla_alloc((size_t)out->panels * NR, sizeof(int32_t));
    if (!out->packed || !out->base) {
        mla_knn_int8_release(out);
        return MLA_ERR_NOMEM;
    }
    for (int j = 0; j < out->panels * NR; j++) out->base[j] = PAD_BASE;
    for (int j = 0; j < n; j++) {
        uint8_t *panel = out->packed + (size_t)(j / NR) * panel_bytes;
        int lane = j % NR;
        int64_t sq = 0, sum = 0;
        for (int l = 0; l < d; l++) {
            int v = mla_knn_pixel_value(x[(size_t)j * d + l]);
            if (v < 0) {
                mla_knn_int8_release(out);
                return MLA_OK;
            }
            panel[(size_t)(l / g) * NR * g + lane * g + l % g] = (uint8_t)v;
            sq += v * v;
            sum += v;
        }
        out->base[j] = (int32_t)(out->isa == MLA_ISA_AVX512 ? sq - 256 * sum : sq);
    }
    return MLA_OK;
}

/* A query's running top k: distances ascending, ties in arrival (row) order. */
typedef struct {
    int32_t *dist, *row;
    int count;
    int32_t worst; /* the k-th distance once full, INT32_MAX before */
} topk;

/* Inserts a row that arrives after every row already held (so it loses ties). */
static void topk_insert(topk *t, int k, int32_t dist, int32_t row) {
    int pos = t->count < k ? t->count : k - 1;
    while (pos > 0 && t->dist[pos - 1] > dist) {
        t->dist[pos] = t->dist[pos - 1];
        t->row[pos] = t->row[pos - 1];
        pos--;
    }
    t->dist[pos] = dist;
    t->row[pos] = row;
    if (t->count < k) t->count++;
    if (t->count == k) t->worst = t->dist[k - 1];
}

#if MLA_HAVE_SIMD_CODE
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* Offers the 32 distances of one query to its top k; lanes outside `valid` are padding. */
VNNI_TARGET static inline void offer(topk *t, int k, __m512i d0, __m512i d1, uint32_t valid, int32_t first_row) {
    __m512i w = _mm512_set1_epi32(t->worst);
    uint32_t mask = (uint32_t)_mm512_cmplt_epi32_mask(d0, w) | ((uint32_t)_mm512_cmplt_epi32_mask(d1, w) << 16);
    mask &= valid;
    if (!mask) return;
    int32_t dd[NR];
    _mm512_storeu_si512(dd, d0);
    _mm512_storeu_si512(dd + 16, d1);
    while (mask) {
        int lane = __builtin_ctz(mask);
        mask &= mask - 1;
        if (dd[lane] < t->worst) topk_insert(t, k, dd[lane], first_row + lane);
    }
}

/* MR queries against one panel. q holds the queries' 4-byte groups interleaved,
 * [t][MR][4] (stored as q - 128); 24 named accumulators stay in registers. */
#define ACC_DECL(i) __m512i a##i##0 = _mm512_setzero_si512(), a##i##1 = _mm512_setzero_si512();
#define ACC_STEP(i)                                                   \
    do {                                                              \
        int32_t w;                                                    \
        memcpy(&w, qt + 4 * (i), 4);                                  \
        __m512i bc = _mm512_set1_epi32(w);                            \
        a##i##0 = _mm512_dpbusd_epi32(a##i##0, b0, bc);               \
        a##i##1 = _mm512_dpbusd_epi32(a##i##1, b1, bc);               \
    } while (0)
#define ACC_OFFER(i) offer_pair(&tops[i], k, a##i##0, a##i##1, base0, base1, qnorm[i], valid, first_row)

VNNI_TARGET __attribute__((noinline)) static void offer_pair(topk *t, int k, __m512i acc0, __m512i acc1, __m512i base0, __m512i base1,
                                          int32_t qnorm, uint32_t valid, int32_t first_row) {
    __m512i qn = _mm512_set1_epi32(qnorm);
    __m512i d0 = _mm512_sub_epi32(_mm512_add_epi32(base0, qn), _mm512_slli_epi32(acc0, 1));
    __m512i d1 = _mm512_sub_epi32(_mm512_add_epi32(base1, qn), _mm512_slli_epi32(acc1, 1));
    offer(t, k, d0, d1, valid, first_row);
}

VNNI_TARGET static void kernel(const uint8_t *panel, const int32_t *base, const int8_t *q, int d4,
                               const int32_t *qnorm, topk *tops, int k, uint32_t valid, int32_t first_row) {
    ACC_DECL(0) ACC_DECL(1) ACC_DECL(2) ACC_DECL(3) ACC_DECL(4) ACC_DECL(5)
    ACC_DECL(6) ACC_DECL(7) ACC_DECL(8) ACC_DECL(9) ACC_DECL(10) ACC_DECL(11)
    for (int t = 0; t < d4; t++) {
        __m512i b0 = _mm512_loadu_si512(panel + (size_t)t * NR * 4);
        __m512i b1 = _mm512_loadu_si512(panel + (size_t)t * NR * 4 + 64);
        const int8_t *qt = q + (size_t)t * MR * 4;
        ACC_STEP(0); ACC_STEP(1); ACC_STEP(2); ACC_STEP(3); ACC_STEP(4); ACC_STEP(5);
        ACC_STEP(6); ACC_STEP(7); ACC_STEP(8); ACC_STEP(9); ACC_STEP(10); ACC_STEP(11);
    }
    __m512i base0 = _mm512_loadu_si512(base), base1 = _mm512_loadu_si512(base + 16);
    ACC_OFFER(0); ACC_OFFER(1); ACC_OFFER(2); ACC_OFFER(3); ACC_OFFER(4); ACC_OFFER(5);
    ACC_OFFER(6); ACC_OFFER(7); ACC_OFFER(8); ACC_OFFER(9); ACC_OFFER(10); ACC_OFFER(11);
}

/* One tile of queries (a multiple of MR, padded) against every panel. */
VNNI_TARGET static void search_tile(const mla_knn_int8_rows *r, const int8_t *q, int rows,
                                    const int32_t *qnorm, topk *tops, int k) {
    size_t panel_bytes = (size_t)r->ng * NR * 4;
    for (int p = 0; p < r->panels; p++) {
        int in_panel = r->n - p * NR < NR ? r->n - p * NR : NR;
        uint32_t valid = in_panel == 32 ? 0xffffffffu : ((1u << in_panel) - 1);
        const uint8_t *panel = r->packed + (size_t)p * panel_bytes;
        for (int i = 0; i < rows; i += MR)
            kernel(panel, r->base + (size_t)p * NR, q + (size_t)i * r->ng * 4, r->ng, qnorm + i, tops + i, k, valid,
                   p * NR);
    }
}
#endif

#if MLA_HAVE_SIMD_CODE
#define AVX2_TARGET __attribute__((target("avx2")))

/* Offers one query's 16 distances (rows first_row..) to its top k; lanes outside
 * `valid` are padding. */
AVX2_TARGET static inline void offer16(topk *t, int k, __m256i d0, __m256i d1, uint32_t valid, int32_t first_row) {
    __m256i w = _mm256_set1_epi32(t->worst);
    uint32_t mask = (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(w, d0))) |
                    ((uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(w, d1))) << 8);
    mask &= valid;
    if (!mask) return;
    int32_t dd[16];
    _mm256_storeu_si256((__m256i *)dd, d0);
    _mm256_storeu_si256((__m256i *)(dd + 8), d1);
    while (mask) {
        int lane = __builtin_ctz(mask);
        mask &= mask - 1;
        if (dd[lane] < t->worst) topk_insert(t, k, dd[lane], first_row + lane);
    }
}

/* MR2 queries against half a panel (16 rows from `half`, whose groups lie NR * 2 bytes
 * apart). q holds the queries' dimension pairs interleaved, [t][MR2][2] int16. */
AVX2_TARGET static void kernel_avx2(const uint8_t *half, const int32_t *base, const int16_t *q, int ng,
                                    const int32_t *qnorm, topk *tops, int k, uint32_t valid, int32_t first_row) {
    __m256i acc[MR2][2];
    for (int i = 0; i < MR2; i++) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
    for (int t = 0; t < ng; t++) {
        const uint8_t *bt = half + (size_t)t * NR * 2;
        __m256i b0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)bt));
        __m256i b1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(bt + 16)));
        const int16_t *qt = q + (size_t)t * MR2 * 2;
        for (int i = 0; i < MR2; i++) {
            int32_t w;
            memcpy(&w, qt + 2 * i, 4);
            __m256i bc = _mm256_set1_epi32(w);
            acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(b0, bc));
            acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(b1, bc));
        }
    }
    __m256i base0 = _mm256_loadu_si256((const __m256i *)base), base1 = _mm256_loadu_si256((const __m256i *)(base + 8));
    for (int i = 0; i < MR2; i++) { /* modulo 2^32: see the top of the file */
        __m256i qn = _mm256_set1_epi32(qnorm[i]);
        __m256i d0 = _mm256_sub_epi32(_mm256_add_epi32(base0, qn), _mm256_slli_epi32(acc[i][0], 1));
        __m256i d1 = _mm256_sub_epi32(_mm256_add_epi32(base1, qn), _mm256_slli_epi32(acc[i][1], 1));
        offer16(&tops[i], k, d0, d1, valid, first_row);
    }
}

/* One tile of queries (a multiple of MR2, padded) against every panel, half by half. */
AVX2_TARGET static void search_tile_avx2(const mla_knn_int8_rows *r, const int16_t *q, int rows,
                                         const int32_t *qnorm, topk *tops, int k) {
    size_t panel_bytes = (size_t)r->ng * NR * 2;
    for (int p = 0; p < r->panels; p++) {
        int in_panel = r->n - p * NR < NR ? r->n - p * NR : NR;
        uint32_t valid = in_panel == 32 ? 0xffffffffu : ((1u << in_panel) - 1);
        for (int h = 0; h < 2; h++) {
            uint32_t vh = (valid >> (16 * h)) & 0xffffu;
            if (!vh) break;
            const uint8_t *half = r->packed + (size_t)p * panel_bytes + 32 * h;
            for (int i = 0; i < rows; i += MR2)
                kernel_avx2(half, r->base + (size_t)p * NR + 16 * h, q + (size_t)i * r->ng * 2, r->ng, qnorm + i,
                            tops + i, k, vh, p * NR + 16 * h);
        }
    }
}
#endif

/* Packs queries as int16 in micro-panels of MR2 queries, [panel][t][MR2][2] (padding 0). */
static void pack_queries_avx2(const float *queries, int m, int d, int ng, int rows, int16_t *q, int32_t *qnorm) {
    memset(q, 0, (size_t)rows * ng * 2 * sizeof(int16_t));
    for (int i = 0; i < rows; i++) {
        int32_t sq = 0;
        int16_t *panel = q + (size_t)(i / MR2) * ng * 2 * MR2;
        for (int l = 0; i < m && l < d; l++) {
            int v = mla_knn_pixel_value(queries[(size_t)i * d + l]);
            panel[(size_t)(l / 2) * MR2 * 2 + (i % MR2) * 2 + l % 2] = (int16_t)v;
            sq += v * v;
        }
        qnorm[i] = sq;
    }
}

/* Packs queries as q - 128 in micro-panels of MR queries, [panel][t][MR][4]
 * (padding -128: its products with the rows' zero padding vanish). */
static void pack_queries(const float *queries, int m, int d, int d4, int rows, int8_t *q, int32_t *qnorm) {
    memset(q, -128, (size_t)rows * d4 * 4);
    for (int i = 0; i < rows; i++) {
        int32_t sq = 0;
        int8_t *panel = q + (size_t)(i / MR) * d4 * 4 * MR;
        for (int l = 0; i < m && l < d; l++) {
            int v = mla_knn_pixel_value(queries[(size_t)i * d + l]);
            panel[(size_t)(l / 4) * MR * 4 + (i % MR) * 4 + l % 4] = (int8_t)(v - 128);
            sq += v * v;
        }
        qnorm[i] = sq;
    }
}

/* Per-thread scratch for one tile. */
typedef struct {
    void *q; /* int8 (VNNI) or int16 (AVX2) queries */
    int32_t *qnorm, *dist, *row;
    topk *tops;
} tile_scratch;

static void tile_scratch_free(tile_scratch *s) {
    free(s->q);
    free(s->qnorm);
    free(s->dist);
    free(s->row);
    free(s->tops);
}

static int tile_scratch_alloc(tile_scratch *s, int tile, size_t qstride, int k) {
    s->q = mla_alloc((size_t)tile, qstride);
    s->qnorm = mla_alloc((size_t)tile, sizeof(int32_t));
    s->dist = mla_alloc((size_t)tile * k, sizeof(int32_t));
    s->row = mla_alloc((size_t)tile * k, sizeof(int32_t));
    s->tops = mla_alloc((size_t)tile, sizeof(topk));
    return s->q && s->qnorm && s->dist && s->row && s->tops;
}

mla_status mla_knn_int8_search(const mla_knn_int8_rows *r, const float *queries, int m, int k, int32_t *idx,
                               float *dist) {
#if MLA_HAVE_SIMD_CODE
    int threads = omp_get_max_threads();
    int per_thread = (m + threads - 1) / threads;
    int tile = (per_thread + MR - 1) / MR * MR;
    if (tile > MAX_TILE) tile = MAX_TILE;
    int tiles = (m + tile - 1) / tile;
    size_t qstride = (size_t)r->ng * r->g * (r->isa == MLA_ISA_AVX2 ? 2 : 1);
    tile_scratch *scratch = mla_alloc((size_t)threads, sizeof *scratch);
    int ok = scratch != NULL;
    for (int t = 0; ok && t < threads; t++) ok = tile_scratch_alloc(&scratch[t], tile, qstride, k);
    if (ok) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int b = 0; b < tiles; b++) {
            tile_scratch *s = &scratch[omp_get_thread_num()];
            int first = b * tile, count = m - first < tile ? m - first : tile;
            for (int i = 0; i < tile; i++)
                s->tops[i] = (topk){s->dist + (size_t)i * k, s->row + (size_t)i * k, 0, INT32_MAX};
            if (r->isa == MLA_ISA_AVX2) {
                pack_queries_avx2(queries + (size_t)first * r->d, count, r->d, r->ng, tile, s->q, s->qnorm);
                search_tile_avx2(r, s->q, tile, s->qnorm, s->tops, k);
            } else {
                pack_queries(queries + (size_t)first * r->d, count, r->d, r->ng, tile, s->q, s->qnorm);
                search_tile(r, s->q, tile, s->qnorm, s->tops, k);
            }
            for (int i = 0; i < count; i++)
                for (int j = 0; j < k; j++) {
                    idx[(size_t)(first + i) * k + j] = s->tops[i].row[j];
                    if (dist) dist[(size_t)(first + i) * k + j] = (float)(sqrt((double)s->tops[i].dist[j]) / 255.0);
                }
        }
    }
    for (int t = 0; scratch && t < threads; t++) tile_scratch_free(&scratch[t]);
    free(scratch);
    return ok ? MLA_OK : MLA_ERR_NOMEM;
#else
    (void)r, (void)queries, (void)m, (void)k, (void)idx, (void)dist;
    return mla_error(MLA_ERR_UNSUPPORTED, "int8 kNN engine not built for this CPU");
#endif
}
