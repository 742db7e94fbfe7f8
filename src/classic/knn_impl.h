/* Private: the pieces of the kNN search engine shared by knn_index.c and knn_int8.c. */
#ifndef MLAUDIT_KNN_IMPL_H
#define MLAUDIT_KNN_IMPL_H

#include "mlaudit/knn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The int8 engine packs rows in panels of this many rows. */
#define MLA_KNN_PANEL 32

/* 8-bit pixel data prepared for the integer engine, in the layout of the kernel family
 * that packed it (isa): groups of g = 4 dimensions per row for AVX-512 VNNI, g = 2 for
 * AVX2. */
typedef struct {
    int n, d;
    int isa;             /* MLA_ISA_AVX512 (VNNI) or MLA_ISA_AVX2 */
    int g, ng;           /* dimensions per group, and groups per row: ceil(d / g) */
    int panels;          /* ceil(n / MLA_KNN_PANEL) */
    uint8_t *packed;     /* [panel][ng][MLA_KNN_PANEL][g] pixel values, zero padded */
    int32_t *base;       /* per row (padded): see knn_int8.c */
} mla_knn_int8_rows;

/* The pixel value v in 0..255 that x encodes (x == v / 255.0f or v * (1.0f / 255)),
 * or -1 if x is not such a value. */
static inline int mla_knn_pixel_value(float x) {
    if (!(x >= 0.0f && x <= 1.0f)) return -1;
    int v = (int)(x * 255.0f + 0.5f);
    if (x == (float)v / 255.0f || x == (float)v * (1.0f / 255.0f)) return v;
    return -1;
}

/* The integer engine's family on this CPU (and under MLA_ISA, mlaudit/core.h):
 * MLA_ISA_AVX512 with AVX-512 VNNI, MLA_ISA_AVX2 with AVX2, else MLA_ISA_PORTABLE (none:
 * the float engine serves pixel data too). */
mla_isa mla_knn_int8_isa(void);
/* 1 if this CPU runs the integer engine (mla_knn_int8_isa() is not portable). */
int mla_knn_int8_supported(void);

/* Packs n x d rows if every value is a pixel (mla_knn_pixel_value >= 0); otherwise
 * returns MLA_OK with out->packed NULL. MLA_ERR_NOMEM on allocation failure. */
mla_status mla_knn_int8_pack(const float *x, int n, int d, mla_knn_int8_rows *out);
void mla_knn_int8_release(mla_knn_int8_rows *r);

/* Exact Euclidean top k of m pixel queries against the packed rows; writes indices
 * and distances (in [0,1]-pixel units) like mla_knn_search. */
mla_status mla_knn_int8_search(const mla_knn_int8_rows *r, const float *queries, int m, int k, int32_t *idx,
                               float *dist);

/* The exact squared Euclidean distance of two float rows in double: every difference
 * and square exact, the sum in 32 interleaved double partial sums added pairwise in a
 * fixed order (error <= d 2^-53 of the result). Both float engines decide neighbours
 * with it, so they agree bit for bit. */
double mla_knn_sq_distance(const float *a, const float *b, int d);
/* The same value, bit for bit, while the row to be read next (next, d values) is fetched
 * into the cache a line at a time: a row streamed ahead costs about half one waited for. */
double mla_knn_sq_distance_next(const float *a, const float *b, const float *next, int d);

/* The bfloat16 nearest to finite x (ties to even; within 2^-8 |x|), or x truncated
 * where rounding up would overflow to infinity (within 2^-7 |x|): the projection
 * engine's second screen keeps its rows so (knn_proj.c). */
static inline uint16_t mla_knn_to_bf16(float x) {
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    uint16_t h = (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
    return (h & 0x7F80u) == 0x7F80u ? (uint16_t)(b >> 16) : h;
}

static inline float mla_knn_from_bf16(uint16_t h) {
    uint32_t b = (uint32_t)h << 16;
    float x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* bytes (> 0) of uninitialised memory, 2 MiB aligned, huge pages advised (see
 * mla_knn_alloc_rows); free with free(). NULL with mla_error on failure. */
void *mla_knn_alloc_huge(size_t bytes);

/* The projection engine (knn_proj.c): a screen of m orthonormal directions with, per
 * row, its projection and the bounds of its residual (see knn_proj.c for the bound). */
typedef struct {
    int n, d, m;         /* m = 0: no screen */
    double delta;        /* |B B^T - I|_2 <= delta */
    double tol;          /* relative tolerance for double rounding */
    double *mean;        /* d: the centre c */
    double *basis;       /* m x d: B */
    float *proj;         /* n x m: B (x_j - c), rounded to float */
    double *pn, *zn;     /* n: |B (x_j - c)| and |x_j - c| */
    double *rlo, *rhi;   /* n: the interval of |x_j - c| outside B's span */
    uint16_t *half;      /* n x d: the rows rounded to bfloat16 (the top 16 bits of a float) */
    double *herr;        /* n: an upper bound of |x_j - half_j| */
    double heta;         /* relative slack of the half rows' bound (rounding) */
} mla_knn_proj;

/* Learns a screen of up to dims directions (fewer if the rows span fewer; m = 0 and
 * nothing allocated if none) over x (n x d, read only during the call). */
mla_status mla_knn_proj_build(const float *x, int n, int d, int dims, mla_knn_proj *out);
void mla_knn_proj_release(mla_knn_proj *p);
/* Exact Euclidean top k of mq queries against the rows x the screen was built on;
 * writes indices and distances like mla_knn_search for the first *done queries: all
 * of them, unless the screen proved too weak (more than n / 8 rows checked in full a
 * query), when the caller is to search the rest by brute force. */
mla_status mla_knn_proj_search(const mla_knn_proj *p, const float *x, const float *queries, int mq, int k,
                               int32_t *idx, float *dist, int *done);
/* Rows whose exact distance the projection engine has computed, and rows it visited
 * (exact, or ruled out by their bfloat16 copy), since the start (for benchmarks and
 * tests: the screens' efficiency). */
int64_t mla_knn_proj_exact_count(void);
int64_t mla_knn_proj_visit_count(void);

/* A candidate row and its distance (or bound), ordered by distance, then row: the
 * order both float engines keep, so ties go to the smaller row in either. */
typedef struct {
    double dist;
    int32_t row;
} scored;

static inline int by_dist_then_row(const void *pa, const void *pb) {
    const scored *a = pa, *b = pb;
    if (a->dist != b->dist) return a->dist < b->dist ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

static inline int scored_less(scored a, scored b) { return a.dist < b.dist || (a.dist == b.dist && a.row < b.row); }

/* Sorts v[0..c) by (distance, row), as qsort with by_dist_then_row would, for entries
 * with distinct rows (the order is then total: needed by the partition), with the comparison inlined: quicksort on the median of three,
 * insertion sort below 16, qsort itself past a depth of 2 log2 c (never quadratic). */
static inline void mla_knn_sort_scored(scored *v, int c, int depth) {
    while (c > 16) {
        if (depth-- <= 0) {
            qsort(v, (size_t)c, sizeof *v, by_dist_then_row);
            return;
        }
        scored a = v[0], b = v[c / 2], z = v[c - 1], pivot;
        if (scored_less(a, b)) pivot = scored_less(b, z) ? b : scored_less(a, z) ? z : a;
        else pivot = scored_less(a, z) ? a : scored_less(b, z) ? z : b;
        int i = 0, j = c - 1;
        for (;;) { /* Hoare: v[..i) <= pivot <= v(j..] */
            while (scored_less(v[i], pivot)) i++;
            while (scored_less(pivot, v[j])) j--;
            if (i >= j) break;
            scored t = v[i];
            v[i++] = v[j], v[j--] = t;
        }
        int left = j + 1; /* v[0..left) <= pivot <= v[left..c) */
        if (left < c - left) { /* recurse on the smaller side */
            mla_knn_sort_scored(v, left, depth);
            v += left, c -= left;
        } else {
            mla_knn_sort_scored(v + left, c - left, depth);
            c = left;
        }
    }
    for (int i = 1; i < c; i++) {
        scored t = v[i];
        int j = i;
        for (; j > 0 && scored_less(t, v[j - 1]); j--) v[j] = v[j - 1];
        v[j] = t;
    }
}

#endif
