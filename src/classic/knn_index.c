/* The kNN index and the float engine (see knn.h for the contract).
 *
 * Float engine, per block of queries:
 *   1. One float32 product (nn/sgemm_nt.h: OpenBLAS's sgemm, or the engine's AVX-512
 *      kernels where OpenBLAS runs 256-bit ones) gives s~ = q.x for every row. From it an approximate
 *      distance a_j (Euclidean: |q|^2 + |x_j|^2 - 2 s~, squared; cosine: 1 - s~ on
 *      unit vectors) whose error against the exact value is at most E, where
 *      E = 2 gamma_d |q| max|x| (+ rounding of the norms) and gamma_d = d u / (1 - d u)
 *      bounds any float dot product of length d (u = 2^-24, any summation order).
 *   2. T = the k-th smallest a_j. The k rows under T are truly within T + E, so the
 *      true k-th distance is <= T + E, and every true neighbour has a_j <= T + 2E.
 *   3. Those candidates are recomputed in double and the top k is taken by
 *      (distance, row index).
 */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE (Linux) */
#include "knn_impl.h"

#include "nn/sgemm_nt.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct mla_knn_index {
    int n, d;
    mla_knn_metric metric;
    mla_knn_engine engine;
    float *x;           /* n x d, as given */
    float *unit;        /* cosine: rows scaled to unit length (zero rows stay zero) */
    double *norm2;      /* |x_j|^2 in double */
    double max_norm;    /* max_j |x_j| */
    int has_int8;       /* int8 holds packed pixel rows */
    mla_knn_int8_rows int8;
    mla_knn_proj proj;  /* the projection engine's screen (proj.m = 0: none) */
};

/* Rows by OpenMP: each row's norm is one thread's sum in a fixed order. */
static void normalise_rows(const float *x, int n, int d, float *out, double *norm2) {
#pragma omp parallel for schedule(static) if ((size_t)n * d > 1000000)
    for (int j = 0; j < n; j++) {
        const float *r = x + (size_t)j * d;
        double s = 0;
        for (int l = 0; l < d; l++) s += (double)r[l] * r[l];
        if (norm2) norm2[j] = s;
        double inv = s > 0 ? 1.0 / sqrt(s) : 0.0;
        for (int l = 0; l < d; l++) out[(size_t)j * d + l] = (float)(r[l] * inv);
    }
}

#define HUGE_PAGE ((size_t)2 << 20)

void *mla_knn_alloc_huge(size_t bytes) {
    if (bytes > SIZE_MAX - HUGE_PAGE) {
        mla_error(MLA_ERR_NOMEM, "allocation of %zu bytes overflows", bytes);
        return NULL;
    }
    size_t whole = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE; /* aligned_alloc: a multiple */
    void *p = aligned_alloc(HUGE_PAGE, whole ? whole : HUGE_PAGE);
    if (!p) {
        mla_error(MLA_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (whole >= HUGE_PAGE) madvise(p, whole, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    return p;
}

float *mla_knn_alloc_rows(int n, int d) {
    if (n < 0 || d < 0 || (d && (size_t)n > SIZE_MAX / sizeof(float) / (size_t)d)) {
        mla_error(MLA_ERR_NOMEM, "knn rows: %d x %d floats cannot be allocated", n, d);
        return NULL;
    }
    return mla_knn_alloc_huge((size_t)n * d * sizeof(float));
}

static int all_finite(const float *x, size_t count) {
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (count > 1000000)
    for (size_t i = 0; i < count; i++) bad |= !isfinite(x[i]);
    return !bad;
}

static int all_pixels(const float *x, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (mla_knn_pixel_value(x[i]) < 0) return 0;
    return 1;
}

void mla_knn_index_free(mla_knn_index *ix) {
    if (!ix) return;
    free(ix->x);
    free(ix->unit);
    free(ix->norm2);
    if (ix->has_int8) mla_knn_int8_release(&ix->int8);
    mla_knn_proj_release(&ix->proj);
    free(ix);
}

static mla_status fill_norms(mla_knn_index *ix) {
    size_t n = (size_t)ix->n, d = (size_t)ix->d;
    if (ix->metric == MLA_KNN_COSINE) {
        ix->unit = mla_alloc(n * d, sizeof(float));
        if (!ix->unit) return MLA_ERR_NOMEM;
        normalise_rows(ix->x, ix->n, ix->d, ix->unit, ix->norm2);
    } else {
#pragma omp parallel for schedule(static) if (n * d > 1000000)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t l = 0; l < d; l++) s += (double)ix->x[j * d + l] * ix->x[j * d + l];
            ix->norm2[j] = s;
        }
    }
    for (size_t j = 0; j < n; j++)
        if (sqrt(ix->norm2[j]) > ix->max_norm) ix->max_norm = sqrt(ix->norm2[j]);
    return MLA_OK;
}

static mla_status check_shape(const float *x, int n, int d, mla_knn_metric metric) {
    if (n < 1 || d < 1) return mla_error(MLA_ERR_SHAPE, "knn index: needs at least one row and one feature");
    if (metric != MLA_KNN_EUCLIDEAN && metric != MLA_KNN_COSINE)
        return mla_error(MLA_ERR_INVALID, "knn index: unknown metric %d (0 euclidean, 1 cosine)", (int)metric);
    if (!all_finite(x, (size_t)n * d)) return mla_error(MLA_ERR_INVALID, "knn index: the rows hold a NaN or infinity");
    return MLA_OK;
}

/* The index over rows it owns (x, checked); on failure x is left to the caller. */
static mla_status index_over(float *x, int n, int d, mla_knn_metric metric, mla_knn_index **out) {
    mla_knn_index *ix = mla_alloc(1, sizeof *ix);
    if (!ix) return MLA_ERR_NOMEM;
    *ix = (mla_knn_index){.n = n, .d = d, .metric = metric, .x = x};
    ix->norm2 = mla_alloc((size_t)n, sizeof(double));
    mla_status s = ix->norm2 ? fill_norms(ix) : MLA_ERR_NOMEM;
    if (s == MLA_OK && metric == MLA_KNN_EUCLIDEAN && mla_knn_int8_supported()) {
        s = mla_knn_int8_pack(x, n, d, &ix->int8);
        ix->has_int8 = s == MLA_OK && ix->int8.packed != NULL;
    }
    if (s == MLA_OK && metric == MLA_KNN_EUCLIDEAN && !ix->has_int8 && n >= MLA_KNN_PROJ_MIN_ROWS &&
        d >= MLA_KNN_PROJ_MIN_DIM)
        s = mla_knn_index_project(ix, MLA_KNN_PROJ_DIMS);
    if (s != MLA_OK) {
        ix->x = NULL;
        mla_knn_index_free(ix);
        return s;
    }
    *out = ix;
    return MLA_OK;
}

mla_status mla_knn_index_create(const float *x, int n, int d, mla_knn_metric metric, mla_knn_index **out) {
    *out = NULL;
    mla_status s = check_shape(x, n, d, metric);
    if (s != MLA_OK) return s;
    float *copy = mla_knn_alloc_rows(n, d);
    if (!copy) return MLA_ERR_NOMEM;
    memcpy(copy, x, (size_t)n * d * sizeof(float));
    s = index_over(copy, n, d, metric, out);
    if (s != MLA_OK) free(copy);
    return s;
}

mla_status mla_knn_index_adopt(float *x, int n, int d, mla_knn_metric metric, mla_knn_index **out) {
    *out = NULL;
    mla_status s = check_shape(x, n, d, metric);
    return s != MLA_OK ? s : index_over(x, n, d, metric, out);
}

mla_status mla_knn_index_project(mla_knn_index *ix, int dims) {
    if (ix->metric != MLA_KNN_EUCLIDEAN) return mla_error(MLA_ERR_INVALID, "knn index: projection needs the Euclidean metric");
    if (dims < 0) return mla_error(MLA_ERR_INVALID, "knn index: %d projection dimensions", dims);
    mla_knn_proj_release(&ix->proj);
    return dims ? mla_knn_proj_build(ix->x, ix->n, ix->d, dims, &ix->proj) : MLA_OK;
}

int mla_knn_index_projected_dims(const mla_knn_index *ix) { return ix->proj.m; }

/* mla_knn_sq_distance, fetching ahead pf[l] for each 32 values l of b read. */
static inline double sq_distance_fetching(const float *a, const float *b, const float *pf, int d) {
    enum { LANES = 32 }; /* independent sums: the adds' latency, not their count, bounds a row */
    double acc[LANES] = {0};
    int l = 0;
    for (; l + LANES <= d; l += LANES) {
        __builtin_prefetch(pf + l); /* rows are visited in no order, so the hardware */
        __builtin_prefetch(pf + l + 16); /* has not seen this one coming */
        for (int t = 0; t < LANES; t++) {
            double u = (double)a[l + t] - (double)b[l + t];
            acc[t] += u * u;
        }
    }
    for (int t = 0; l < d; l++, t++) {
        double u = (double)a[l] - (double)b[l];
        acc[t] += u * u;
    }
    for (int w = LANES / 2; w > 0; w /= 2) /* pairwise, in a fixed order */
        for (int t = 0; t < w; t++) acc[t] += acc[t + w];
    return acc[0];
}

double mla_knn_sq_distance(const float *a, const float *b, int d) {
    return sq_distance_fetching(a, b, b + 1024, d); /* 4 KB ahead in the row itself */
}

double mla_knn_sq_distance_next(const float *a, const float *b, const float *next, int d) {
    return sq_distance_fetching(a, b, next, d);
}

void mla_knn_index_set_engine(mla_knn_index *ix, mla_knn_engine engine) { ix->engine = engine; }
int mla_knn_index_count(const mla_knn_index *ix) { return ix->n; }
int mla_knn_index_dim(const mla_knn_index *ix) { return ix->d; }
mla_knn_metric mla_knn_index_metric(const mla_knn_index *ix) { return ix->metric; }
const float *mla_knn_index_rows(const mla_knn_index *ix) { return ix->x; }
int mla_knn_index_uses_int8(const mla_knn_index *ix) { return ix->has_int8 && ix->engine == MLA_KNN_ENGINE_AUTO; }

/* ---- float engine ---- */

/* The exact distance of one row in double (Euclidean: squared). */
static double exact_distance(const mla_knn_index *ix, const float *q, double qnorm2, int32_t j) {
    const float *x = ix->x + (size_t)j * ix->d;
    if (ix->metric == MLA_KNN_EUCLIDEAN) return mla_knn_sq_distance(q, x, ix->d);
    double s = 0;
    for (int l = 0; l < ix->d; l++) s += (double)q[l] * (double)x[l];
    double den = sqrt(qnorm2) * sqrt(ix->norm2[j]);
    return den > 0 ? 1.0 - s / den : 1.0;
}

static double approx_distance(const mla_knn_index *ix, double qnorm2, const float *dots, int32_t j) {
    if (ix->metric == MLA_KNN_EUCLIDEAN) return qnorm2 + ix->norm2[j] - 2.0 * (double)dots[j];
    return 1.0 - (double)dots[j];
}

/* The bound E on |approximate - exact| for one query (see the file comment). */
static double error_bound(const mla_knn_index *ix, double qnorm2) {
    double u = ldexp(1.0, -24), du = ix->d * u, gamma = du / (1 - du);
    if (ix->metric == MLA_KNN_COSINE) return 1.01 * gamma + 8 * u;
    double qn = sqrt(qnorm2), mx = ix->max_norm;
    return 2.0 * gamma * qn * mx * 1.01 + 1e-12 * (qnorm2 + mx * mx) + DBL_MIN;
}

/* The k-th smallest approximate distance (k <= n). */
static double kth_approx(const mla_knn_index *ix, double qnorm2, const float *dots, int k, double *best) {
    int count = 0;
    for (int32_t j = 0; j < ix->n; j++) {
        double a = approx_distance(ix, qnorm2, dots, j);
        if (count == k && a >= best[k - 1]) continue;
        int pos = count < k ? count++ : k - 1;
        while (pos > 0 && best[pos - 1] > a) {
            best[pos] = best[pos - 1];
            pos--;
        }
        best[pos] = a;
    }
    return best[k - 1];
}

/* Top k of one query from its row of dots; `best` (k) and `cand` (n) are scratch. */
static void select_one(const mla_knn_index *ix, const float *q, const float *dots, int k, double *best, scored *cand,
                       int32_t *idx, float *dist) {
    double qnorm2 = 0;
    for (int l = 0; l < ix->d; l++) qnorm2 += (double)q[l] * q[l];
    double limit = kth_approx(ix, qnorm2, dots, k, best) + 2.0 * error_bound(ix, qnorm2);
    int c = 0;
    for (int32_t j = 0; j < ix->n; j++)
        if (approx_distance(ix, qnorm2, dots, j) <= limit) cand[c++] = (scored){0, j};
    for (int i = 0; i < c; i++) cand[i].dist = exact_distance(ix, q, qnorm2, cand[i].row);
    qsort(cand, (size_t)c, sizeof *cand, by_dist_then_row);
    for (int i = 0; i < k; i++) {
        idx[i] = cand[i].row;
        if (dist)
            dist[i] = (float)(ix->metric == MLA_KNN_EUCLIDEAN ? sqrt(fmax(cand[i].dist, 0.0)) : cand[i].dist);
    }
}

typedef struct {
    float *dots, *qunit;
    double *best;
    scored *cand;
} float_scratch;

static mla_status float_scratch_alloc(float_scratch *s, const mla_knn_index *ix, int block, int k, int threads) {
    s->dots = mla_knn_alloc_huge((size_t)block * ix->n * sizeof(float)); /* tens of MB, fresh each search */
    s->qunit = ix->metric == MLA_KNN_COSINE ? mla_alloc((size_t)block * ix->d, sizeof(float)) : NULL;
    s->best = mla_alloc((size_t)threads * k, sizeof(double));
    s->cand = mla_alloc((size_t)threads * ix->n, sizeof(scored));
    int ok = s->dots && s->best && s->cand && (ix->metric != MLA_KNN_COSINE || s->qunit);
    return ok ? MLA_OK : MLA_ERR_NOMEM;
}

static void float_scratch_free(float_scratch *s) {
    free(s->dots);
    free(s->qunit);
    free(s->best);
    free(s->cand);
}

static mla_status search_float(const mla_knn_index *ix, const float *queries, int m, int k, int32_t *idx,
                               float *dist) {
    int n = ix->n, d = ix->d, threads = omp_get_max_threads();
    int block = (1 << 24) / n;
    block = block < 16 ? 16 : block > 256 ? 256 : block;
    float_scratch s;
    mla_status st = float_scratch_alloc(&s, ix, block, k, threads);
    for (int b = 0; st == MLA_OK && b < m; b += block) {
        int mb = m - b < block ? m - b : block;
        const float *qb = queries + (size_t)b * d, *rows = ix->x;
        if (ix->metric == MLA_KNN_COSINE) {
            normalise_rows(qb, mb, d, s.qunit, NULL);
            qb = s.qunit;
            rows = ix->unit;
        }
        mla_sgemm_nt(mb, n, d, qb, rows, s.dots, n); /* OpenBLAS, or the engine's AVX-512 kernels where faster */
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int i = 0; i < mb; i++) {
            int t = omp_get_thread_num();
            select_one(ix, queries + (size_t)(b + i) * d, s.dots + (size_t)i * n, k, s.best + (size_t)t * k,
                       s.cand + (size_t)t * n, idx + (size_t)(b + i) * k, dist ? dist + (size_t)(b + i) * k : NULL);
        }
    }
    float_scratch_free(&s);
    return st;
}

mla_status mla_knn_search(const mla_knn_index *ix, const float *queries, int m, int k, int32_t *idx, float *dist) {
    if (m < 0) return mla_error(MLA_ERR_INVALID, "knn search: negative query count %d", m);
    if (k < 1 || k > ix->n)
        return mla_error(MLA_ERR_INVALID, "knn search: k=%d must be between 1 and the %d indexed rows", k, ix->n);
    if (m == 0) return MLA_OK;
    size_t count = (size_t)m * ix->d;
    if (!all_finite(queries, count)) return mla_error(MLA_ERR_INVALID, "knn search: a query holds a NaN or infinity");
    if (mla_knn_index_uses_int8(ix) && all_pixels(queries, count))
        return mla_knn_int8_search(&ix->int8, queries, m, k, idx, dist);
    int done = 0;
    if (ix->proj.m && ix->engine == MLA_KNN_ENGINE_AUTO) {
        mla_status s = mla_knn_proj_search(&ix->proj, ix->x, queries, m, k, idx, dist, &done);
        if (s != MLA_OK || done == m) return s;
    }
    return search_float(ix, queries + (size_t)done * ix->d, m - done, k, idx + (size_t)done * k,
                        dist ? dist + (size_t)done * k : NULL);
}
