/* The kNN index's projection engine (see knn.h for the contract): exact Euclidean
 * neighbours with most of the full-dimension work skipped.
 *
 * Build (once per index): B, m orthonormal rows in R^d (the top principal directions of
 * a subsample of the rows about their mean c, orthonormalised twice in double), and
 * for every row z = x - c its projection p = B z (double GEMM, stored as float), |p|,
 * |z| and an interval [rlo, rhi] holding the norm of z's component outside B's span.
 *
 * Bound: B's rows are orthonormal up to delta = a Gershgorin bound on |B B^T - I|, so
 * for U, the orthonormal factor of B = S U, |B r|^2 <= (1 + delta) |U r|^2. With
 * r = zx - zq, |r|^2 = |U r|^2 + |r_perp|^2 and |r_perp| >= | |zx_perp| - |zq_perp| |:
 *     |x - q|^2 >= |B r|^2 / (1 + delta) + gap^2,
 *     gap = max(0, rlo_x - rhi_q, rlo_q - rhi_x).
 * |B r|^2 comes from a float32 product of the rounded projections, |pq|^2 + |px|^2 -
 * 2 pq.px, whose error is at most E = 2 (1.01 gamma_m + 2.01 u) |pq| |px| (u = 2^-24);
 * the double-precision errors of p, |z|^2, c and the exact distances are covered by a
 * relative tolerance t (|zq| + |zx|)^2 with t = 16 sqrt(m) (d + m) 2^-53 + 1e-14.
 * The bound used is lb = (a - E) / (1 + delta) + gap^2 - t (|zq| + |zx|)^2.
 *
 * Search, per query: lb of every row (one float32 product per block of queries,
 * m wide instead of d); exact distances for the k rows of smallest lb; then the
 * other rows in increasing lb, stopping at the first whose lb exceeds the current
 * k-th exact distance. A skipped row's exact distance is above
 * the k-th, so the top k by (exact distance, row) is the brute force's. Exact
 * distances come from mla_knn_sq_distance, the function the float engine uses.
 *
 * Second screen: a row the projection bound cannot rule out is first measured against
 * its bfloat16 copy h (half the bytes of the float row: the visits are bound by memory
 * traffic, not arithmetic). With e >= |x - h| (from the build, in double, rounded up)
 * and s the double sum of (q_l - h_l)^2, the triangle inequality gives
 *     |x - q| >= |h - q| - e >= sqrt(s (1 - eta)) - e,
 * eta covering the rounding of the differences, squares, sum and square roots (a few
 * d 2^-53). If the square of that bound, less the exact distance's own rounding, is
 * above the current k-th exact distance, the row's exact distance would be too: it is
 * skipped. h rounds each value to 8 significant bits (|x - h| <= 2^-8 |x|), so only rows
 * within about half a percent of the k-th distance, and those that enter the top k, are
 * read in full. */
#include "knn_impl.h"

#include "nn/sgemm_nt.h"

#include <cblas.h>
#include <lapacke.h>
#include <float.h>
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

int openblas_get_num_threads(void);
void openblas_set_num_threads(int n);

#define PROJ_BLOCK 256      /* rows projected per double GEMM */
#define SUBSAMPLE_MIN 1024  /* rows the basis is learnt from (at least 4 m) */

void mla_knn_proj_release(mla_knn_proj *p) {
    free(p->mean);
    free(p->basis);
    free(p->proj);
    free(p->pn);
    free(p->zn);
    free(p->rlo);
    free(p->rhi);
    free(p->half);
    free(p->herr);
    memset(p, 0, sizeof *p);
}

/* ---- the basis ---- */

/* The subsample: s evenly spaced rows, centred on their mean (written to mean). */
static float *centred_subsample(const float *x, int n, int d, int s, double *mean) {
    float *sc = mla_alloc((size_t)s * d, sizeof(float));
    if (!sc) return NULL;
    for (int i = 0; i < s; i++) {
        const float *r = x + (size_t)((int64_t)i * n / s) * d;
        for (int l = 0; l < d; l++) mean[l] += r[l];
    }
    for (int l = 0; l < d; l++) mean[l] /= s;
    for (int i = 0; i < s; i++) {
        const float *r = x + (size_t)((int64_t)i * n / s) * d;
        for (int l = 0; l < d; l++) sc[(size_t)i * d + l] = (float)(r[l] - mean[l]);
    }
    return sc;
}

/* u (s x m, column-major in LAPACK's sense: row-major s x m here) = the eigenvectors
 * of the m largest eigenvalues of the s x s Gram matrix g (destroyed). */
static mla_status top_eigenvectors(double *g, int s, int m, double *u) {
    double *w = mla_alloc((size_t)s, sizeof(double));
    lapack_int *support = mla_alloc(2 * (size_t)m, sizeof(lapack_int)), found = 0;
    if (!w || !support) {
        free(w), free(support);
        return MLA_ERR_NOMEM;
    }
    int threads = openblas_get_num_threads(); /* see pca.c: level-2 calls, one thread */
    openblas_set_num_threads(1);
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', s, g, s, 0, 0, s - m + 1, s, 0.0, &found, w,
                                     u, m, support);
    openblas_set_num_threads(threads);
    free(w), free(support);
    if (info != 0 || found != m) return mla_error(MLA_ERR_INVALID, "knn projection: eigensolver failed (%d)", (int)info);
    return MLA_OK;
}

/* Modified Gram-Schmidt, twice, on the m rows of v (d wide) in place; rows that lose
 * all but 1e-6 of their norm (dependent directions) are dropped. Returns the rows kept. */
static int orthonormalise(double *v, int m, int d) {
    int kept = 0;
    for (int i = 0; i < m; i++) {
        double *r = v + (size_t)i * d, before = cblas_dnrm2(d, r, 1), after = before;
        for (int pass = 0; pass < 2; pass++) {
            for (int j = 0; j < kept; j++) {
                const double *b = v + (size_t)j * d;
                cblas_daxpy(d, -cblas_ddot(d, b, 1, r, 1), b, 1, r, 1);
            }
            after = cblas_dnrm2(d, r, 1);
            if (!(after > 1e-6 * before) || after == 0) break;
            cblas_dscal(d, 1.0 / after, r, 1);
        }
        if (!(after > 1e-6 * before) || after == 0) continue;
        if (kept != i) memcpy(v + (size_t)kept * d, r, (size_t)d * sizeof(double));
        kept++;
    }
    return kept;
}

/* delta >= |B B^T - I|_2 (Gershgorin on the computed Gram matrix, plus its rounding). */
static double orthonormality_gap(const double *b, int m, int d) {
    double *g = mla_alloc((size_t)m * m, sizeof(double)), worst = 0;
    if (!g) return INFINITY;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, d, 1.0, b, d, b, d, 0.0, g, m);
    for (int i = 0; i < m; i++) {
        double row = 0;
        for (int j = 0; j < m; j++) row += fabs(g[(size_t)i * m + j] - (i == j));
        worst = row > worst ? row : worst;
    }
    free(g);
    return worst + 4.0 * m * (d + 2) * ldexp(1.0, -53);
}

/* p->basis (m x d) and p->mean from a subsample of x; p->m the rows kept. */
static mla_status learn_basis(mla_knn_proj *p, const float *x, int n, int d, int m) {
    int s = n < SUBSAMPLE_MIN ? n : SUBSAMPLE_MIN;
    if (s < 4 * m && n >= 4 * m) s = 4 * m;
    if (m > s) m = s;
    p->mean = mla_alloc((size_t)d, sizeof(double));
    float *sc = p->mean ? centred_subsample(x, n, d, s, p->mean) : NULL;
    float *gf = mla_alloc_aligned((size_t)s * s, sizeof(float));
    double *g = mla_alloc((size_t)s * s, sizeof(double)), *u = mla_alloc((size_t)s * m, sizeof(double));
    float *uf = mla_alloc((size_t)s * m, sizeof(float)), *vf = mla_alloc((size_t)m * d, sizeof(float));
    p->basis = mla_alloc((size_t)m * d, sizeof(double));
    mla_status st = sc && gf && g && u && uf && vf && p->basis ? MLA_OK : MLA_ERR_NOMEM;
    if (!st) {
        mla_sgemm_nt(s, s, d, sc, sc, gf, s); /* the Gram matrix: its accuracy only affects speed */
        for (size_t i = 0; i < (size_t)s * s; i++) g[i] = gf[i];
        st = top_eigenvectors(g, s, m, u);
    }
    if (!st) { /* v = u^T sc: the principal directions, unnormalised */
        for (size_t i = 0; i < (size_t)s * m; i++) uf[i] = (float)u[i];
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, d, s, 1.0f, uf, m, sc, d, 0.0f, vf, d);
        for (int i = 0; i < m; i++) /* largest eigenvalue first */
            for (int l = 0; l < d; l++) p->basis[(size_t)i * d + l] = vf[(size_t)(m - 1 - i) * d + l];
        p->m = orthonormalise(p->basis, m, d);
        p->delta = p->m ? orthonormality_gap(p->basis, p->m, d) : 0;
        if (!(p->delta < 0.5)) p->m = 0; /* cannot happen after two passes; no screen rather than a bad one */
    }
    free(sc), free(gf), free(g), free(u), free(uf), free(vf);
    return st;
}

/* ---- projections ---- */

/* For rows r (count x d): zd = r - mean (double), pd = zd B^T, and per row |p|^2 and
 * |z|^2. zd is count x d scratch, pd count x m. */
static void project_rows(const mla_knn_proj *p, const float *r, int count, double *zd, double *pd, double *p2,
                         double *z2) {
    int d = p->d, m = p->m;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < count; i++) {
        double s = 0;
        for (int l = 0; l < d; l++) {
            double v = (double)r[(size_t)i * d + l] - p->mean[l];
            zd[(size_t)i * d + l] = v;
            s += v * v;
        }
        z2[i] = s;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, count, m, d, 1.0, zd, d, p->basis, d, 0.0, pd, m);
    for (int i = 0; i < count; i++) {
        double s = 0;
        for (int c = 0; c < m; c++) s += pd[(size_t)i * m + c] * pd[(size_t)i * m + c];
        p2[i] = s;
    }
}

/* The interval of |z_perp| from |z|^2 and |B z|^2 (see the file comment). */
static void residual_interval(const mla_knn_proj *p, double z2, double p2, double *lo, double *hi) {
    double t = p->tol * z2;
    double a = z2 - p2 / (1 - p->delta) - t, b = z2 - p2 / (1 + p->delta) + t;
    *lo = a > 0 ? sqrt(a) : 0;
    *hi = b > 0 ? sqrt(b) : 0;
}

static mla_status project_index(mla_knn_proj *p, const float *x) {
    int n = p->n, m = p->m;
    double *zd = mla_alloc_aligned((size_t)PROJ_BLOCK * p->d, sizeof(double));
    double *pd = mla_alloc((size_t)PROJ_BLOCK * m, sizeof(double)), p2[PROJ_BLOCK], z2[PROJ_BLOCK];
    p->proj = mla_alloc((size_t)n * m, sizeof(float));
    p->pn = mla_alloc((size_t)n, sizeof(double));
    p->zn = mla_alloc((size_t)n, sizeof(double));
    p->rlo = mla_alloc((size_t)n, sizeof(double));
    p->rhi = mla_alloc((size_t)n, sizeof(double));
    mla_status st = zd && pd && p->proj && p->pn && p->zn && p->rlo && p->rhi ? MLA_OK : MLA_ERR_NOMEM;
    for (int first = 0; !st && first < n; first += PROJ_BLOCK) {
        int count = n - first < PROJ_BLOCK ? n - first : PROJ_BLOCK;
        project_rows(p, x + (size_t)first * p->d, count, zd, pd, p2, z2);
        for (int i = 0; i < count; i++) {
            int j = first + i;
            for (int c = 0; c < m; c++) p->proj[(size_t)j * m + c] = (float)pd[(size_t)i * m + c];
            p->pn[j] = sqrt(p2[i]);
            p->zn[j] = sqrt(z2[i]);
            residual_interval(p, z2[i], p2[i], &p->rlo[j], &p->rhi[j]);
        }
    }
    free(zd), free(pd);
    return st;
}

/* ---- the bfloat16 rows ---- */

/* p->half and p->herr: every row rounded, and |x_j - h_j| bounded above. x_l - h_l is
 * exact (h_l is x_l rounded: Sterbenz, or h_l = 0), so the sum's rounding alone,
 * (d + 2) 2^-53 relative, is covered by the factor below. */
static mla_status half_rows(mla_knn_proj *p, const float *x) {
    int n = p->n, d = p->d;
    p->half = mla_knn_alloc_huge((size_t)n * d * sizeof(uint16_t));
    p->herr = mla_alloc((size_t)n, sizeof(double));
    if (!p->half || !p->herr) return MLA_ERR_NOMEM;
    double up = 1 + (d + 8) * ldexp(1.0, -52);
#pragma omp parallel for schedule(static)
    for (int j = 0; j < n; j++) {
        const float *r = x + (size_t)j * d;
        uint16_t *h = p->half + (size_t)j * d;
        double s = 0;
        for (int l = 0; l < d; l++) {
            h[l] = mla_knn_to_bf16(r[l]);
            double e = (double)r[l] - (double)mla_knn_from_bf16(h[l]);
            s += e * e;
        }
        p->herr[j] = sqrt(s) * up;
    }
    /* The search's s = sum (q_l - h_l)^2: each difference rounded once, its square
     * once, d terms summed: within (d + 4) 2^-53 of the real value; the square roots,
     * the bound's square and the exact distance's own error (d 2^-53) add a few more
     * ulps. 4 (d + 16) 2^-53 covers them all with room. */
    p->heta = 4.0 * (d + 16) * ldexp(1.0, -53);
    return MLA_OK;
}

/* s = sum_l (q_l - h_l)^2 in double (q given in double), in interleaved sums: any
 * order of the sum is covered by heta. Meanwhile the row to be visited next (next, d
 * values too) is fetched, one cache line a step: rows are visited in no order the
 * hardware can predict, and a row streamed ahead costs half one waited for. */
static double half_sq_distance(const double *q, const uint16_t *h, const uint16_t *next, int d) {
    int l = 0;
    double s = 0;
#ifdef __AVX512F__
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    for (; l + 32 <= d; l += 32) {
        _mm_prefetch((const char *)(next + l), _MM_HINT_T0); /* 32 values: one line */
        __m512i w0 = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(h + l))), 16);
        __m512i w1 = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(h + l + 16))), 16);
        __m512 f0 = _mm512_castsi512_ps(w0), f1 = _mm512_castsi512_ps(w1);
        __m512d u0 = _mm512_sub_pd(_mm512_loadu_pd(q + l), _mm512_cvtps_pd(_mm512_castps512_ps256(f0)));
        __m512d u1 = _mm512_sub_pd(_mm512_loadu_pd(q + l + 8),
                                   _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f0), 1))));
        __m512d u2 = _mm512_sub_pd(_mm512_loadu_pd(q + l + 16), _mm512_cvtps_pd(_mm512_castps512_ps256(f1)));
        __m512d u3 = _mm512_sub_pd(_mm512_loadu_pd(q + l + 24),
                                   _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f1), 1))));
        a0 = _mm512_fmadd_pd(u0, u0, a0), a1 = _mm512_fmadd_pd(u1, u1, a1);
        a2 = _mm512_fmadd_pd(u2, u2, a2), a3 = _mm512_fmadd_pd(u3, u3, a3);
    }
    s = _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(a0, a1), _mm512_add_pd(a2, a3)));
#elif defined(__AVX2__) && defined(__FMA__)
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    for (; l + 16 <= d; l += 16) {
        if (!(l & 31)) _mm_prefetch((const char *)(next + l), _MM_HINT_T0);
        __m256 f0 = _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + l))), 16));
        __m256 f1 = _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + l + 8))), 16));
        __m256d u0 = _mm256_sub_pd(_mm256_loadu_pd(q + l), _mm256_cvtps_pd(_mm256_castps256_ps128(f0)));
        __m256d u1 = _mm256_sub_pd(_mm256_loadu_pd(q + l + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(f0, 1)));
        __m256d u2 = _mm256_sub_pd(_mm256_loadu_pd(q + l + 8), _mm256_cvtps_pd(_mm256_castps256_ps128(f1)));
        __m256d u3 = _mm256_sub_pd(_mm256_loadu_pd(q + l + 12), _mm256_cvtps_pd(_mm256_extractf128_ps(f1, 1)));
        a0 = _mm256_fmadd_pd(u0, u0, a0), a1 = _mm256_fmadd_pd(u1, u1, a1);
        a2 = _mm256_fmadd_pd(u2, u2, a2), a3 = _mm256_fmadd_pd(u3, u3, a3);
    }
    __m256d t = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
    __m128d t2 = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
    s = _mm_cvtsd_f64(_mm_add_sd(t2, _mm_unpackhi_pd(t2, t2)));
#endif
    for (; l < d; l++) {
        if (!(l & 31)) __builtin_prefetch(next + l);
        double u = q[l] - (double)mla_knn_from_bf16(h[l]);
        s += u * u;
    }
    return s;
}

/* A lower bound, less the exact distance's rounding too, of the value
 * mla_knn_sq_distance(q, x_j) computes (see the file comment). */
static double half_lower_bound(const mla_knn_proj *p, const double *q, int32_t j, int32_t next) {
    __builtin_prefetch(&p->herr[next]);
    double s = half_sq_distance(q, p->half + (size_t)j * p->d, p->half + (size_t)next * p->d, p->d);
    double lo = sqrt(s * (1 - p->heta)) - p->herr[j];
    return lo > 0 ? lo * lo * (1 - p->heta) : 0;
}

mla_status mla_knn_proj_build(const float *x, int n, int d, int dims, mla_knn_proj *out) {
    memset(out, 0, sizeof *out);
    out->n = n, out->d = d;
    if (dims > d) dims = d;
    if (dims > n) dims = n;
    mla_status st = learn_basis(out, x, n, d, dims);
    if (!st && out->m) {
        out->tol = 16.0 * sqrt((double)out->m) * (d + out->m) * ldexp(1.0, -53) + 1e-14;
        st = project_index(out, x);
        if (!st) st = half_rows(out, x);
    }
    if (st || !out->m) mla_knn_proj_release(out);
    return st;
}

/* ---- search ---- */

/* Restores the max-heap order on (dist, row) below position i. */
static void sift_down(scored *h, int k, int i) {
    for (;;) {
        int big = i, l = 2 * i + 1, r = l + 1;
        if (l < k && by_dist_then_row(&h[l], &h[big]) > 0) big = l;
        if (r < k && by_dist_then_row(&h[r], &h[big]) > 0) big = r;
        if (big == i) return;
        scored t = h[i];
        h[i] = h[big], h[big] = t;
        i = big;
    }
}

/* One query's projection summary. */
typedef struct {
    double p2, pn, zn, rlo, rhi, e; /* e: the float product's error factor, 2 (1.01 gamma_m + 2.01 u) |pq| */
} query_proj;

/* The lower bound of |x_j - q|^2 from the float product dot = pq.px_j. */
static inline double lower_bound(const mla_knn_proj *p, const query_proj *q, float dot, int32_t j) {
    double a = q->p2 + p->pn[j] * p->pn[j] - 2.0 * (double)dot - q->e * p->pn[j];
    double g1 = p->rlo[j] - q->rhi, g2 = q->rlo - p->rhi[j], gap = g1 > g2 ? g1 : g2;
    gap = gap > 0 ? gap : 0;
    double s = q->zn + p->zn[j];
    return a / (1 + p->delta) + gap * gap - p->tol * s * s;
}

/* heap (k entries) = the k smallest (lb, row) of lb[0..n), a max-heap on (lb, row).
 * One pass; after the first rows, almost every row is one comparison. */
static void k_smallest(const double *lb, int n, int k, scored *heap) {
    for (int i = 0; i < k; i++) heap[i] = (scored){lb[i], i};
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(heap, k, i);
    for (int32_t j = k; j < n; j++)
        if (lb[j] < heap[0].dist) {
            heap[0] = (scored){lb[j], j};
            sift_down(heap, k, 0);
        }
}

/* Inserts (dist, row) into top (k entries, sorted) if it beats the last. */
static void keep_best(scored *top, int k, double dist, int32_t row) {
    scored s = {dist, row};
    if (by_dist_then_row(&s, &top[k - 1]) >= 0) return;
    int pos = k - 1;
    while (pos > 0 && by_dist_then_row(&s, &top[pos - 1]) < 0) {
        top[pos] = top[pos - 1];
        pos--;
    }
    top[pos] = s;
}

/* Per-thread scratch. */
typedef struct {
    double *lb, *qd; /* qd: the query in double, for the bfloat16 screen */
    scored *cand, *top;
} proj_scratch;

/* Rows a query visited: exact distances, and rows the bfloat16 screen ruled out. */
typedef struct {
    int64_t exact, halves;
} visits;

/* The top k of one query (see the file comment); adds the rows it visited to *v. */
static void select_query(const mla_knn_proj *p, const float *x, const float *q, const query_proj *qp,
                         const float *dots, int k, proj_scratch *s, int32_t *idx, float *dist, visits *v) {
    int n = p->n;
    for (int32_t j = 0; j < n; j++) s->lb[j] = lower_bound(p, qp, dots[j], j);
    k_smallest(s->lb, n, k, s->cand); /* the k smallest bounds, exactly */
    for (int i = 0; i < k; i++) s->top[i] = (scored){INFINITY, INT32_MAX};
    for (int i = 0; i < k; i++) {
        int32_t j = s->cand[i].row, next = s->cand[i + 1 < k ? i + 1 : i].row;
        keep_best(s->top, k, mla_knn_sq_distance_next(q, x + (size_t)j * p->d, x + (size_t)next * p->d, p->d), j);
        s->lb[j] = -INFINITY; /* done */
    }
    int64_t exact = k;
    double kth = s->top[k - 1].dist;
    int c = 0;
    for (int32_t j = 0; j < n; j++)
        if (s->lb[j] <= kth && s->lb[j] > -INFINITY) s->cand[c++] = (scored){s->lb[j], j};
    int depth = 2;
    for (int w = c; w > 1; w /= 2) depth += 2;
    mla_knn_sort_scored(s->cand, c, depth);
    int64_t halves = 0;
    if (p->half)
        for (int l = 0; l < p->d; l++) s->qd[l] = q[l];
    for (int i = 0; i < c && s->cand[i].dist <= s->top[k - 1].dist; i++) {
        int32_t j = s->cand[i].row;
        int32_t next = i + 1 < c ? s->cand[i + 1].row : j;
        if (p->half && half_lower_bound(p, s->qd, j, next) > s->top[k - 1].dist) { /* exact distance above the k-th */
            halves++;
            continue;
        }
        keep_best(s->top, k, mla_knn_sq_distance(q, x + (size_t)j * p->d, p->d), j);
        exact++;
    }
    for (int i = 0; i < k; i++) {
        idx[i] = s->top[i].row;
        if (dist) dist[i] = (float)sqrt(fmax(s->top[i].dist, 0.0));
    }
    v->exact += exact, v->halves += halves;
}

/* Projections of a block of mb queries: float copies (mb x m) and summaries. */
static void project_queries(const mla_knn_proj *p, const float *q, int mb, double *zd, double *pd, float *pf,
                            query_proj *qp) {
    double p2[PROJ_BLOCK], z2[PROJ_BLOCK];
    double u = ldexp(1.0, -24), mu = p->m * u, gamma = mu / (1 - mu);
    for (int first = 0; first < mb; first += PROJ_BLOCK) {
        int count = mb - first < PROJ_BLOCK ? mb - first : PROJ_BLOCK;
        project_rows(p, q + (size_t)first * p->d, count, zd, pd, p2, z2);
        for (int i = 0; i < count; i++) {
            query_proj *r = &qp[first + i];
            for (int c = 0; c < p->m; c++) pf[(size_t)(first + i) * p->m + c] = (float)pd[(size_t)i * p->m + c];
            r->p2 = p2[i], r->pn = sqrt(p2[i]), r->zn = sqrt(z2[i]);
            r->e = 2.0 * (1.01 * gamma + 2.01 * u) * r->pn;
            residual_interval(p, z2[i], p2[i], &r->rlo, &r->rhi);
        }
    }
}

typedef struct {
    float *dots, *pf;
    double *zd, *pd;
    query_proj *qp;
    proj_scratch *t;
    int threads;
} search_scratch;

static void search_scratch_free(search_scratch *s) {
    free(s->dots), free(s->pf), free(s->zd), free(s->pd), free(s->qp);
    for (int i = 0; s->t && i < s->threads; i++) free(s->t[i].lb), free(s->t[i].qd), free(s->t[i].cand), free(s->t[i].top);
    free(s->t);
}

static mla_status search_scratch_alloc(search_scratch *s, const mla_knn_proj *p, int block, int k, int threads) {
    memset(s, 0, sizeof *s);
    s->threads = threads;
    s->dots = mla_knn_alloc_huge((size_t)block * p->n * sizeof(float)); /* tens of MB, fresh each search */
    s->pf = mla_alloc_aligned((size_t)block * p->m, sizeof(float));
    s->zd = mla_alloc_aligned((size_t)PROJ_BLOCK * p->d, sizeof(double));
    s->pd = mla_alloc((size_t)PROJ_BLOCK * p->m, sizeof(double));
    s->qp = mla_alloc((size_t)block, sizeof(query_proj));
    s->t = mla_alloc((size_t)threads, sizeof(proj_scratch));
    int ok = s->dots && s->pf && s->zd && s->pd && s->qp && s->t;
    for (int i = 0; ok && i < threads; i++) {
        proj_scratch *t = &s->t[i];
        t->lb = mla_alloc((size_t)p->n, sizeof(double));
        t->qd = mla_alloc((size_t)p->d, sizeof(double));
        t->cand = mla_alloc((size_t)p->n, sizeof(scored));
        t->top = mla_alloc((size_t)k, sizeof(scored));
        ok = t->lb && t->qd && t->cand && t->top;
    }
    return ok ? MLA_OK : MLA_ERR_NOMEM;
}

static int64_t exact_total, visit_total; /* rows computed in full, and visited */

mla_status mla_knn_proj_search(const mla_knn_proj *p, const float *x, const float *queries, int mq, int k,
                               int32_t *idx, float *dist, int *done) {
    int n = p->n, threads = omp_get_max_threads();
    int block = (1 << 24) / n;
    block = block < 16 ? 16 : block > 256 ? 256 : block;
    search_scratch s;
    mla_status st = search_scratch_alloc(&s, p, block, k, threads);
    int64_t exact = 0, visited = 0;
    int b = 0;
    /* A screen that rules out less than 7/8 of the rows loses to brute force (a visited
     * row costs several times a product's multiply-add): give the rest back. */
    for (; !st && b < mq && visited <= (int64_t)b * n / 8; b += block) {
        int mb = mq - b < block ? mq - b : block;
        project_queries(p, queries + (size_t)b * p->d, mb, s.zd, s.pd, s.pf, s.qp);
        mla_sgemm_nt(mb, n, p->m, s.pf, p->proj, s.dots, n);

        int64_t ex = 0, hv = 0;
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads) reduction(+ : ex, hv)
        for (int i = 0; i < mb; i++) {
            size_t at = (size_t)(b + i);
            visits v = {0, 0};
            select_query(p, x, queries + at * p->d, &s.qp[i], s.dots + (size_t)i * n, k, &s.t[omp_get_thread_num()],
                         idx + at * k, dist ? dist + at * k : NULL, &v);
            ex += v.exact, hv += v.halves;
        }
        exact += ex, visited += ex + hv;
    }
    search_scratch_free(&s);
    *done = b < mq ? b : mq;
#pragma omp atomic
    exact_total += exact;
#pragma omp atomic
    visit_total += visited;
    return st;
}

int64_t mla_knn_proj_exact_count(void) {
    int64_t v;
#pragma omp atomic read
    v = exact_total;
    return v;
}

int64_t mla_knn_proj_visit_count(void) {
    int64_t v;
#pragma omp atomic read
    v = visit_total;
    return v;
}
