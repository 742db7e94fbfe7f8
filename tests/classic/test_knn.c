/* Tests of the exact kNN search (knn.h): both engines against double-precision brute
 * force, with ties, the cosine metric, edge sizes and bad arguments; the integer engine
 * on each kernel family the CPU has (AVX-512 VNNI, AVX2); the projection engine on
 * dense, sparse relu-like, low-rank, tied and duplicated rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classic/knn_impl.h"
#include "mlaudit/knn.h"

/* Brute force in double: squared Euclidean or 1 - cosine, sorted by (distance, row). */
static void brute(const float *x, int n, int d, const float *q, mla_knn_metric metric, scored *out) {
    double qq = 0;
    for (int l = 0; l < d; l++) qq += (double)q[l] * q[l];
    for (int j = 0; j < n; j++) {
        double s = 0, xx = 0;
        for (int l = 0; l < d; l++) {
            if (metric == MLA_KNN_EUCLIDEAN) {
                double t = (double)q[l] - (double)x[(size_t)j * d + l];
                s += t * t;
            } else {
                s += (double)q[l] * x[(size_t)j * d + l];
                xx += (double)x[(size_t)j * d + l] * x[(size_t)j * d + l];
            }
        }
        double den = sqrt(qq) * sqrt(xx);
        out[j] = (scored){metric == MLA_KNN_EUCLIDEAN ? s : (den > 0 ? 1.0 - s / den : 1.0), j};
    }
    qsort(out, (size_t)n, sizeof *out, by_dist_then_row);
}

/* Searches and requires exactly brute force's (distance, row) order. */
static void expect_exact(const mla_knn_index *ix, const float *x, int n, int d, const float *q, int m, int k,
                         mla_knn_metric metric) {
    int32_t *idx = malloc((size_t)m * k * sizeof *idx);
    float *dist = malloc((size_t)m * k * sizeof *dist);
    scored *ref = malloc((size_t)n * sizeof *ref);
    assert_int_equal(mla_knn_search(ix, q, m, k, idx, dist), MLA_OK);
    for (int i = 0; i < m; i++) {
        brute(x, n, d, q + (size_t)i * d, metric, ref);
        for (int j = 0; j < k; j++) {
            if (idx[(size_t)i * k + j] != ref[j].row)
                fail_msg("query %d neighbour %d: row %d, brute force %d", i, j, idx[(size_t)i * k + j], ref[j].row);
            double want = metric == MLA_KNN_EUCLIDEAN ? sqrt(ref[j].dist) : ref[j].dist;
            assert_true(fabs(dist[(size_t)i * k + j] - want) <= 1e-6 * (1 + want));
        }
    }
    free(idx);
    free(dist);
    free(ref);
}

static void fill_uniform(float *x, size_t count, uint64_t seed) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (size_t i = 0; i < count; i++) x[i] = (float)mla_rng_uniform(&r);
}

static void test_float_engine_matches_brute_force(void **state) {
    (void)state;
    enum { N = 300, M = 37, D = 19 };
    float *x = malloc(N * D * sizeof *x), *q = malloc(M * D * sizeof *q);
    fill_uniform(x, N * D, 1);
    fill_uniform(q, M * D, 2);
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_create(x, N, D, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    expect_exact(ix, x, N, D, q, M, 1, MLA_KNN_EUCLIDEAN);
    expect_exact(ix, x, N, D, q, M, 10, MLA_KNN_EUCLIDEAN);
    expect_exact(ix, x, N, D, q, M, 100, MLA_KNN_EUCLIDEAN);
    expect_exact(ix, x, N, D, q, 3, N, MLA_KNN_EUCLIDEAN); /* k = n */
    mla_knn_index_free(ix);
    free(x);
    free(q);
}

/* Values 0..3 and duplicated rows: many equal distances, broken by the smaller row. */
static void test_ties_go_to_the_smaller_row(void **state) {
    (void)state;
    enum { N = 200, M = 25, D = 8 };
    float x[N * D], q[M * D];
    mla_rng r;
    mla_rng_seed(&r, 5);
    for (int i = 0; i < N * D; i++) x[i] = (float)mla_rng_below(&r, 4);
    for (int i = 0; i < 40; i++) memcpy(x + (size_t)(100 + i) * D, x + (size_t)i * D, D * sizeof(float));
    for (int i = 0; i < M * D; i++) q[i] = (float)mla_rng_below(&r, 4);
    memcpy(q, x + 5 * D, D * sizeof(float)); /* a query equal to rows 5 and 105 */
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_create(x, N, D, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    expect_exact(ix, x, N, D, q, M, 7, MLA_KNN_EUCLIDEAN);
    int32_t idx[2];
    float dist[2];
    assert_int_equal(mla_knn_search(ix, q, 1, 2, idx, dist), MLA_OK);
    assert_int_equal(idx[0], 5);
    assert_true(dist[0] == 0.0f && dist[1] == 0.0f);
    mla_knn_index_free(ix);
}

/* Pixel data (v / 255): the integer engine where the CPU has it, else the float engine.
 * Exact integer brute force decides; ties by the smaller row. */
static void int_brute(const uint8_t *x, int n, int d, const uint8_t *q, scored *out) {
    for (int j = 0; j < n; j++) {
        int64_t s = 0;
        for (int l = 0; l < d; l++) {
            int t = (int)q[l] - (int)x[(size_t)j * d + l];
            s += t * t;
        }
        out[j] = (scored){(double)s, j};
    }
    qsort(out, (size_t)n, sizeof *out, by_dist_then_row);
}

/* The integer engine on xb (n x d) and qb (m x d) gives exactly the integer brute force's
 * neighbours (and distances within 1e-6), and so does the float engine. */
static void check_pixel_arrays(const uint8_t *xb, int n, const uint8_t *qb, int m, int d, int k) {
    float *x = malloc((size_t)n * d * sizeof *x), *q = malloc((size_t)m * d * sizeof *q);
    for (int i = 0; i < n * d; i++) x[i] = i % 2 ? xb[i] / 255.0f : xb[i] * (1.0f / 255.0f); /* both scalings */
    for (int i = 0; i < m * d; i++) q[i] = qb[i] / 255.0f;
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_create(x, n, d, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    assert_int_equal(mla_knn_index_uses_int8(ix), mla_knn_int8_supported());
    int32_t *idx = malloc((size_t)m * k * sizeof *idx), *fidx = malloc((size_t)m * k * sizeof *fidx);
    float *dist = malloc((size_t)m * k * sizeof *dist), *fdist = malloc((size_t)m * k * sizeof *fdist);
    scored *ref = malloc((size_t)n * sizeof *ref);
    assert_int_equal(mla_knn_search(ix, q, m, k, idx, dist), MLA_OK);
    mla_knn_index_set_engine(ix, MLA_KNN_ENGINE_FLOAT);
    assert_int_equal(mla_knn_search(ix, q, m, k, fidx, fdist), MLA_OK);
    for (int i = 0; i < m; i++) {
        int_brute(xb, n, d, qb + (size_t)i * d, ref);
        for (int j = 0; j < k; j++) {
            double want = sqrt(ref[j].dist) / 255.0;
            assert_true(fabs(dist[(size_t)i * k + j] - want) <= 1e-6 * (1 + want));
            assert_true(fabs(fdist[(size_t)i * k + j] - want) <= 1e-6 * (1 + want));
            if (mla_knn_int8_supported() && idx[(size_t)i * k + j] != ref[j].row)
                fail_msg("int8 engine (%s), query %d neighbour %d: row %d, integer brute force %d",
                         mla_knn_exact_kernels(), i, j, idx[(size_t)i * k + j], ref[j].row);
        }
    }
    free(x), free(q), free(idx), free(fidx), free(dist), free(fdist), free(ref);
    mla_knn_index_free(ix);
}

static void check_pixels(int n, int m, int d, int k, int levels, uint64_t seed) {
    uint8_t *xb = malloc((size_t)n * d), *qb = malloc((size_t)m * d);
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (int i = 0; i < n * d; i++) xb[i] = (uint8_t)(mla_rng_below(&r, (uint64_t)levels) * (255 / (levels - 1)));
    for (int i = 0; i < m * d; i++) qb[i] = (uint8_t)(mla_rng_below(&r, (uint64_t)levels) * (255 / (levels - 1)));
    check_pixel_arrays(xb, n, qb, m, d, k);
    free(xb), free(qb);
}

/* Runs body once per integer-engine family this CPU has: the default one (VNNI where
 * present), then AVX2 (MLA_ISA=avx2's choice). */
#define FOR_EACH_INT8_PATH(body)                                                        \
    do {                                                                                \
        for (int forced_ = -1; forced_ <= MLA_ISA_AVX2; forced_ += 1 + MLA_ISA_AVX2) { \
            mla_isa_force(forced_);                                                     \
            body;                                                                       \
        }                                                                               \
        mla_isa_force(-1);                                                              \
    } while (0)

static void test_pixel_engine_is_exact(void **state) {
    (void)state;
    mla_isa_force(MLA_ISA_AVX2); /* the macro below does reach the AVX2 engine */
    if (mla_isa_level() == MLA_ISA_AVX2) assert_string_equal(mla_knn_exact_kernels(), "avx2");
    mla_isa_force(-1);
    FOR_EACH_INT8_PATH({
        check_pixels(77, 25, 49, 5, 3, 11);    /* odd sizes: partial panels and query tiles, heavy ties */
        check_pixels(300, 40, 784, 20, 256, 12);
        check_pixels(150, 13, 30, 100, 2, 13); /* k = 100, binary pixels */
        check_pixels(17, 7, 5, 17, 256, 14);   /* k = n, one partial panel (less than half) */
    });
}

/* Extremes for the integer arithmetic: all-255 rows against all-0 queries (every
 * product at its largest), and d = 33,000, the longest rows the engine takes, where
 * distances reach 33,000 x 255^2 = 2,145,825,000, just under 2^31: the AVX2 sum's
 * intermediate terms pass 2^31 and must wrap back exactly. Rows repeat (ties). */
static void test_pixel_engine_extremes(void **state) {
    (void)state;
    enum { N = 45, M = 8 };
    const int dims[] = {784, 33000};
    for (int di = 0; di < 2; di++) {
        int d = dims[di];
        uint8_t *xb = malloc((size_t)N * d), *qb = malloc((size_t)M * d);
        for (int j = 0; j < N; j++) /* rows: all 255, all 0, or 255 on a prefix of j % 5 fifths */
            for (int l = 0; l < d; l++)
                xb[(size_t)j * d + l] = j % 3 == 0 ? 255 : j % 3 == 1 ? 0 : (uint8_t)(l < d * (j % 5) / 5 ? 255 : 0);
        for (int i = 0; i < M; i++)
            for (int l = 0; l < d; l++) qb[(size_t)i * d + l] = i % 2 ? 0 : i % 4 ? 255 : (uint8_t)((l * 7 + i) % 256);
        FOR_EACH_INT8_PATH(check_pixel_arrays(xb, N, qb, M, d, 10));
        free(xb), free(qb);
    }
}

static void test_non_pixel_queries_use_the_float_engine(void **state) {
    (void)state;
    enum { N = 64, D = 10 };
    float x[N * D], q[D];
    for (int i = 0; i < N * D; i++) x[i] = (float)(i % 7) / 255.0f;
    for (int l = 0; l < D; l++) q[l] = 0.0123f; /* not a pixel value */
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_create(x, N, D, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    expect_exact(ix, x, N, D, q, 1, 9, MLA_KNN_EUCLIDEAN);
    mla_knn_index_free(ix);
}

static void test_cosine_matches_brute_force(void **state) {
    (void)state;
    enum { N = 150, M = 20, D = 12 };
    float x[N * D], q[M * D];
    fill_uniform(x, N * D, 21);
    fill_uniform(q, M * D, 22);
    for (int i = 0; i < N * D; i++) x[i] -= 0.5f;
    memset(x + 7 * D, 0, D * sizeof(float)); /* a zero row: cosine 0, distance 1 */
    for (int l = 0; l < D; l++) x[9 * D + l] = 3.0f * x[8 * D + l]; /* parallel rows: equal distances */
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_create(x, N, D, MLA_KNN_COSINE, &ix), MLA_OK);
    expect_exact(ix, x, N, D, q, M, 15, MLA_KNN_COSINE);
    expect_exact(ix, x, N, D, x + 8 * D, 1, 3, MLA_KNN_COSINE); /* rows 8 and 9 at distance ~0 */
    mla_knn_index_free(ix);
}

/* The answer does not depend on the thread count (both engines). */
static void test_threads_do_not_change_the_answer(void **state) {
    (void)state;
    enum { N = 500, M = 61, D = 40, K = 9 };
    float *x = malloc(N * D * sizeof *x), *q = malloc(M * D * sizeof *q);
    mla_rng r;
    mla_rng_seed(&r, 31);
    for (int i = 0; i < N * D; i++) x[i] = (float)mla_rng_below(&r, 256) / 255.0f;
    for (int i = 0; i < M * D; i++) q[i] = (float)mla_rng_below(&r, 256) / 255.0f;
    int32_t a[M * K], b[M * K];
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_create(x, N, D, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    for (int engine = 0; engine < 2; engine++) {
        mla_knn_index_set_engine(ix, engine ? MLA_KNN_ENGINE_FLOAT : MLA_KNN_ENGINE_AUTO);
        mla_set_threads(1);
        assert_int_equal(mla_knn_search(ix, q, M, K, a, NULL), MLA_OK);
        mla_set_threads(2);
        assert_int_equal(mla_knn_search(ix, q, M, K, b, NULL), MLA_OK);
        assert_memory_equal(a, b, sizeof a);
    }
    mla_knn_index_free(ix);
    mla_isa_force(MLA_ISA_AVX2); /* the AVX2 engine too */
    assert_int_equal(mla_knn_index_create(x, N, D, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    assert_int_equal(mla_knn_search(ix, q, M, K, b, NULL), MLA_OK);
    assert_memory_equal(a, b, sizeof a);
    mla_isa_force(-1);
    mla_set_threads(1);
    mla_knn_index_free(ix);
    free(x);
    free(q);
}

static void test_bad_arguments(void **state) {
    (void)state;
    float x[6] = {0, 1, 2, 3, 4, 5};
    int32_t idx[4];
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_create(x, 0, 2, MLA_KNN_EUCLIDEAN, &ix), MLA_ERR_SHAPE);
    assert_int_equal(mla_knn_index_create(x, 3, 2, (mla_knn_metric)7, &ix), MLA_ERR_INVALID);
    x[1] = NAN;
    assert_int_equal(mla_knn_index_create(x, 3, 2, MLA_KNN_EUCLIDEAN, &ix), MLA_ERR_INVALID);
    assert_null(ix);
    x[1] = 1;
    assert_int_equal(mla_knn_index_create(x, 3, 2, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    assert_int_equal(mla_knn_search(ix, x, 1, 4, idx, NULL), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "k=4"));
    assert_int_equal(mla_knn_search(ix, x, 1, 0, idx, NULL), MLA_ERR_INVALID);
    assert_int_equal(mla_knn_search(ix, x, 0, 2, idx, NULL), MLA_OK);
    assert_int_equal(mla_knn_search(ix, x, 1, 3, idx, NULL), MLA_OK);
    assert_int_equal(idx[0], 0);
    mla_knn_index_free(ix);
}

/* An index that takes its rows over answers like one that copies them; on failure
 * the rows stay the caller's. */
static void test_adopt(void **state) {
    (void)state;
    enum { N = 120, M = 9, D = 6 };
    float *x = malloc(N * D * sizeof *x), q[M * D];
    fill_uniform(x, N * D, 51);
    fill_uniform(q, M * D, 52);
    float *rows = malloc(N * D * sizeof *rows);
    memcpy(rows, x, N * D * sizeof *rows);
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_adopt(rows, N, D, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    assert_ptr_equal(mla_knn_index_rows(ix), rows);
    expect_exact(ix, x, N, D, q, M, 5, MLA_KNN_EUCLIDEAN);
    mla_knn_index_free(ix); /* frees rows */
    x[3] = NAN;
    assert_int_equal(mla_knn_index_adopt(x, N, D, MLA_KNN_EUCLIDEAN, &ix), MLA_ERR_INVALID);
    assert_null(ix);
    free(x); /* still ours */
}

/* ---- the projection engine ---- */

/* Relu-like rows: relu(W z + b) of a rank-r latent z, about half zero; rows dup_every
 * apart repeat an earlier row (ties). */
static void fill_relu(float *x, int n, int d, int rank, int dup_every, uint64_t seed) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    double *w = malloc((size_t)rank * d * sizeof *w), z[16];
    for (int i = 0; i < rank * d; i++) w[i] = mla_rng_normal(&r);
    for (int j = 0; j < n; j++) {
        if (dup_every && j >= dup_every && j % dup_every == 0) {
            memcpy(x + (size_t)j * d, x + (size_t)(j - dup_every + 1) * d, (size_t)d * sizeof *x);
            continue;
        }
        for (int c = 0; c < rank; c++) z[c] = mla_rng_normal(&r);
        for (int l = 0; l < d; l++) {
            double v = -0.2 + 0.3 * mla_rng_normal(&r);
            for (int c = 0; c < rank; c++) v += w[(size_t)c * d + l] * z[c];
            x[(size_t)j * d + l] = v > 0 ? (float)v : 0.0f;
        }
    }
    free(w);
}

/* The projection engine with `dims` directions against brute force, and bit for bit
 * against the float engine (indices and distances). */
static void check_projected(const float *x, int n, int d, const float *q, int m, int k, int dims) {
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_create(x, n, d, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    assert_int_equal(mla_knn_index_project(ix, dims), MLA_OK);
    assert_true(mla_knn_index_projected_dims(ix) >= 1);
    assert_true(mla_knn_index_projected_dims(ix) <= dims && mla_knn_index_projected_dims(ix) <= d);
    expect_exact(ix, x, n, d, q, m, k, MLA_KNN_EUCLIDEAN);
    int32_t *a = malloc((size_t)m * k * sizeof *a), *b = malloc((size_t)m * k * sizeof *b);
    float *da = malloc((size_t)m * k * sizeof *da), *db = malloc((size_t)m * k * sizeof *db);
    assert_int_equal(mla_knn_search(ix, q, m, k, a, da), MLA_OK);
    mla_knn_index_set_engine(ix, MLA_KNN_ENGINE_FLOAT);
    assert_int_equal(mla_knn_search(ix, q, m, k, b, db), MLA_OK);
    assert_memory_equal(a, b, (size_t)m * k * sizeof *a);
    assert_memory_equal(da, db, (size_t)m * k * sizeof *da);
    mla_knn_index_free(ix);
    free(a), free(b), free(da), free(db);
}

static void test_projection_matches_brute_force(void **state) {
    (void)state;
    enum { N = 700, M = 30, D = 300 };
    float *x = malloc((size_t)N * D * sizeof *x), *q = malloc((size_t)M * D * sizeof *q);
    fill_uniform(x, (size_t)N * D, 41); /* dense, nearly isotropic: the screen's worst case */
    fill_uniform(q, (size_t)M * D, 42);
    check_projected(x, N, D, q, M, 1, 32);
    check_projected(x, N, D, q, M, 75, 32);
    check_projected(x, N, D, q, 4, N - 1, 16); /* k near n */
    check_projected(x, N, D, q, 3, N, 64);     /* k = n */
    fill_relu(x, N, D, 6, 7, 43);              /* sparse, low rank, every 7th row a duplicate */
    fill_relu(q, M, D, 6, 0, 44);
    memcpy(q, x + 14 * D, D * sizeof *q); /* a query equal to rows 8 and 14 (row 14 repeats 8) */
    check_projected(x, N, D, q, M, 1, 16);
    check_projected(x, N, D, q, M, 75, 16);
    check_projected(x, N, D, q, M, 20, 128);
    int32_t idx[2];
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_create(x, N, D, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    assert_int_equal(mla_knn_index_project(ix, 16), MLA_OK);
    assert_int_equal(mla_knn_search(ix, q, 1, 2, idx, NULL), MLA_OK);
    assert_int_equal(idx[0], 8);
    assert_int_equal(idx[1], 14);
    mla_knn_index_free(ix);
    free(x), free(q);
}

/* Few features (d below the directions asked for), integer values with many ties, rows
 * that span fewer directions than asked, and all rows equal. */
static void test_projection_edge_cases(void **state) {
    (void)state;
    enum { N = 200, M = 25, D = 8 };
    float x[N * D], q[M * D];
    mla_rng r;
    mla_rng_seed(&r, 45);
    for (int i = 0; i < N * D; i++) x[i] = (float)mla_rng_below(&r, 4);
    for (int i = 0; i < M * D; i++) q[i] = (float)mla_rng_below(&r, 4);
    check_projected(x, N, D, q, M, 7, 32); /* d = 8 < 32: the screen is the whole space */
    check_projected(x, N, D, q, M, 7, 3);
    for (int j = 0; j < N; j++) /* rank 2: rows on a plane */
        for (int l = 0; l < D; l++) x[j * D + l] = (float)((j % 5) * (l + 1) + (j % 3) * (l == 2));
    check_projected(x, N, D, q, M, 9, 6);
    for (int i = 0; i < N * D; i++) x[i] = 0.5f; /* all rows equal: every distance ties */
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_create(x, N, D, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    assert_int_equal(mla_knn_index_project(ix, 4), MLA_OK);
    expect_exact(ix, x, N, D, q, M, 11, MLA_KNN_EUCLIDEAN);
    assert_int_equal(mla_knn_index_project(ix, -1), MLA_ERR_INVALID);
    assert_int_equal(mla_knn_index_project(ix, 0), MLA_OK);
    assert_int_equal(mla_knn_index_projected_dims(ix), 0);
    mla_knn_index_free(ix);
    assert_int_equal(mla_knn_index_create(x, N, D, MLA_KNN_COSINE, &ix), MLA_OK);
    assert_int_equal(mla_knn_index_project(ix, 4), MLA_ERR_INVALID);
    mla_knn_index_free(ix);
}

/* create builds the screen itself for wide, many-row, non-pixel Euclidean data; the
 * answer does not depend on the thread count. */
static void test_projection_is_automatic(void **state) {
    (void)state;
    enum { N = MLA_KNN_PROJ_MIN_ROWS, D = MLA_KNN_PROJ_MIN_DIM, M = 6, K = 75 };
    float *x = malloc((size_t)N * D * sizeof *x), *q = malloc((size_t)M * D * sizeof *q);
    fill_relu(x, N, D, 8, 0, 46);
    fill_relu(q, M, D, 8, 0, 47);
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_create(x, N, D, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    assert_int_equal(mla_knn_index_projected_dims(ix), MLA_KNN_PROJ_DIMS);
    expect_exact(ix, x, N, D, q, M, K, MLA_KNN_EUCLIDEAN);
    int32_t a[M * K], b[M * K];
    mla_set_threads(2);
    assert_int_equal(mla_knn_search(ix, q, M, K, a, NULL), MLA_OK);
    mla_set_threads(1);
    assert_int_equal(mla_knn_search(ix, q, M, K, b, NULL), MLA_OK);
    assert_memory_equal(a, b, sizeof a);
    mla_knn_index_free(ix);
    assert_int_equal(mla_knn_index_create(x, N - 1, D, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    assert_int_equal(mla_knn_index_projected_dims(ix), 0); /* too few rows: brute force */
    mla_knn_index_free(ix);
    free(x), free(q);
}

/* Rows without low-dimensional structure (uniform noise): the screen rules out almost
 * nothing, so after its first block of queries the search finishes on the float engine,
 * with the same answer. */
static void test_projection_gives_up_on_noise(void **state) {
    (void)state;
    enum { N = MLA_KNN_PROJ_MIN_ROWS, D = MLA_KNN_PROJ_MIN_DIM, M = 300, K = 5 };
    float *x = malloc((size_t)N * D * sizeof *x), *q = malloc((size_t)M * D * sizeof *q);
    fill_uniform(x, (size_t)N * D, 61);
    fill_uniform(q, (size_t)M * D, 62);
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_create(x, N, D, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    assert_int_equal(mla_knn_index_projected_dims(ix), MLA_KNN_PROJ_DIMS);
    int32_t *a = malloc((size_t)M * K * sizeof *a), *b = malloc((size_t)M * K * sizeof *b);
    float *da = malloc((size_t)M * K * sizeof *da), *db = malloc((size_t)M * K * sizeof *db);
    int64_t before = mla_knn_proj_visit_count();
    assert_int_equal(mla_knn_search(ix, q, M, K, a, da), MLA_OK);
    int64_t checked = mla_knn_proj_visit_count() - before;
    assert_true(checked > (int64_t)256 * N / 8 && checked <= (int64_t)256 * N); /* one block, then brute force */
    mla_knn_index_set_engine(ix, MLA_KNN_ENGINE_FLOAT);
    assert_int_equal(mla_knn_search(ix, q, M, K, b, db), MLA_OK);
    assert_memory_equal(a, b, (size_t)M * K * sizeof *a);
    assert_memory_equal(da, db, (size_t)M * K * sizeof *da);
    mla_knn_index_free(ix);
    free(x), free(q), free(a), free(b), free(da), free(db);
}


/* The inlined sort of candidates: qsort's order on distinct rows, with many tied
 * distances, sorted and reversed inputs, and a depth limit that hands over to qsort. */
static void test_sort_scored(void **state) {
    (void)state;
    enum { C = 3000 };
    scored *a = malloc(C * sizeof *a), *b = malloc(C * sizeof *b);
    mla_rng r;
    mla_rng_seed(&r, 76);
    for (int trial = 0; trial < 40; trial++) {
        int c = trial < 4 ? trial : (int)mla_rng_below(&r, C) + 1;
        for (int i = 0; i < c; i++) {
            int kind = trial % 4; /* random, few distinct distances, ascending, descending */
            double d = kind == 0 ? mla_rng_uniform(&r) : kind == 1 ? (double)mla_rng_below(&r, 5) : kind == 2 ? i : -i;
            a[i] = b[i] = (scored){d, (int32_t)((i * 7919) % C)};
        }
        mla_knn_sort_scored(a, c, trial % 5 == 4 ? 1 : 64);
        qsort(b, (size_t)c, sizeof *b, by_dist_then_row);
        for (int i = 0; i < c; i++) { /* fields: the padding after row is not compared */
            assert_true(a[i].dist == b[i].dist);
            assert_int_equal(a[i].row, b[i].row);
        }
    }
    free(a), free(b);
}

/* The bfloat16 rounding behind the projection engine's second screen: nearest, ties to
 * even, within 2^-8 |x|; truncation only where rounding would overflow. */
static void test_bf16_rounding(void **state) {
    (void)state;
    assert_int_equal(mla_knn_to_bf16(1.0f), 0x3F80);
    assert_int_equal(mla_knn_to_bf16(-2.0f), 0xC000);
    assert_int_equal(mla_knn_to_bf16(0.0f), 0x0000);
    float tie_even, tie_odd, above;
    uint32_t b = 0x3F808000u; /* 1 + 2^-8: halfway between 0x3F80 and 0x3F81 */
    memcpy(&tie_even, &b, 4);
    b = 0x3F818000u; /* halfway between 0x3F81 and 0x3F82 */
    memcpy(&tie_odd, &b, 4);
    b = 0x3F808001u;
    memcpy(&above, &b, 4);
    assert_int_equal(mla_knn_to_bf16(tie_even), 0x3F80);
    assert_int_equal(mla_knn_to_bf16(tie_odd), 0x3F82);
    assert_int_equal(mla_knn_to_bf16(above), 0x3F81);
    assert_int_equal(mla_knn_to_bf16(FLT_MAX), 0x7F7F); /* rounding up would give infinity */
    assert_true(isfinite(mla_knn_from_bf16(mla_knn_to_bf16(-FLT_MAX))));
    mla_rng r;
    mla_rng_seed(&r, 71);
    for (int i = 0; i < 100000; i++) {
        float x = (float)(mla_rng_normal(&r) * ldexp(1.0, (int)mla_rng_below(&r, 200) - 100));
        double e = fabs((double)x - (double)mla_knn_from_bf16(mla_knn_to_bf16(x)));
        assert_true(e <= ldexp(fabs((double)x), -8));
    }
    float sub = 1e-41f; /* subnormal: still the nearest representable value */
    assert_true(fabs((double)sub - (double)mla_knn_from_bf16(mla_knn_to_bf16(sub))) <= ldexp(1.0, -134));
}

/* The bfloat16 screen rules out most visited rows on relu-like data, and on rows whose
 * scales span seven orders of magnitude (subnormal values included) the answer is
 * still brute force's, bit for bit the float engine's. */
static void test_projection_half_screen(void **state) {
    (void)state;
    enum { N = 2000, M = 20, D = 256 };
    float *x = malloc((size_t)N * D * sizeof *x), *q = malloc((size_t)M * D * sizeof *q);
    fill_relu(x, N, D, 12, 0, 72);
    fill_relu(q, M, D, 12, 0, 73);
    int64_t e0 = mla_knn_proj_exact_count(), v0 = mla_knn_proj_visit_count();
    check_projected(x, N, D, q, M, 75, 8);
    int64_t exact = mla_knn_proj_exact_count() - e0, visited = mla_knn_proj_visit_count() - v0;
    assert_true(exact >= (int64_t)M * 75 && visited > 2 * exact); /* most visits end at the half copy */
    mla_rng r;
    mla_rng_seed(&r, 74);
    for (int j = 0; j < N; j++) {
        double scale = ldexp(1.0, (int)mla_rng_below(&r, 24) - 12);
        for (int l = 0; l < D; l++) x[(size_t)j * D + l] = (float)(x[(size_t)j * D + l] * scale);
        if (j % 50 == 0) x[(size_t)j * D + j % D] = 1e-41f;
    }
    for (int i = 0; i < M; i++) memcpy(q + (size_t)i * D, x + (size_t)(i * 97) * D, D * sizeof *q);
    q[3] += 1e-3f;
    check_projected(x, N, D, q, M, 75, 8);
    check_projected(x, N, D, q, M, 3, 32);
    free(x), free(q);
}

/* mla_knn_alloc_rows: aligned, adoptable; bad sizes fail. */
static void test_alloc_rows(void **state) {
    (void)state;
    enum { N = 100, D = 5 };
    float *x = mla_knn_alloc_rows(N, D);
    assert_non_null(x);
    assert_int_equal((uintptr_t)x % (2u << 20), 0);
    fill_uniform(x, N * D, 75);
    mla_knn_index *ix = NULL;
    assert_int_equal(mla_knn_index_adopt(x, N, D, MLA_KNN_EUCLIDEAN, &ix), MLA_OK);
    expect_exact(ix, x, N, D, x + 7 * D, 3, 4, MLA_KNN_EUCLIDEAN);
    mla_knn_index_free(ix);
    assert_null(mla_knn_alloc_rows(-1, 3));
    assert_null(mla_knn_alloc_rows(3, -1));
    assert_null(mla_knn_alloc_huge(SIZE_MAX - 5)); /* overflows the rounding to 2 MiB: refused before allocating */
    free(mla_knn_alloc_rows(0, 3));
}

int main(void) {
    mla_set_threads(1); /* OpenMP barriers spin on a busy machine; one thread keeps the suite quick */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_engine_matches_brute_force),
        cmocka_unit_test(test_ties_go_to_the_smaller_row),
        cmocka_unit_test(test_pixel_engine_is_exact),
        cmocka_unit_test(test_pixel_engine_extremes),
        cmocka_unit_test(test_non_pixel_queries_use_the_float_engine),
        cmocka_unit_test(test_cosine_matches_brute_force),
        cmocka_unit_test(test_threads_do_not_change_the_answer),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_adopt),
        cmocka_unit_test(test_projection_matches_brute_force),
        cmocka_unit_test(test_projection_edge_cases),
        cmocka_unit_test(test_projection_is_automatic),
        cmocka_unit_test(test_projection_gives_up_on_noise),
        cmocka_unit_test(test_sort_scored),
        cmocka_unit_test(test_bf16_rounding),
        cmocka_unit_test(test_projection_half_screen),
        cmocka_unit_test(test_alloc_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
