/* kNN and DkNN over layer features against a slow direct re-implementation (double
 * brute-force distances, sort by distance then index, the definitions of robust.h), with
 * and without the normalise / centre / trim-zeros transforms; the seeded calibration
 * set; features gathered from a net; features handed over (mla_dknn_create_owned). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/robust.h"

enum { NT = 90, NC = 30, NQ = 25, C = 3, L = 2, KN = 7 };
static const int dims[L] = {5, 9};

/* Features rounded to a coarse grid so that equal distances (index ties) occur. */
static void fill(float *x, size_t n, uint64_t seed, int zero_col, int d) {
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)floor(4 * mla_rng_uniform(&r)) / 4;
    if (zero_col >= 0)
        for (size_t i = 0; i < n / d; i++) x[i * d + zero_col] = 0;
}

/* The direct transform of one row, rounded to float where the library stores floats (so
 * that exact distance ties stay ties): normalised, then centred. */
static void ref_transform(const float *row, int d, const mla_dknn_options *o, const float *center, const int *keep,
                          float *out) {
    double sq = 0;
    for (int j = 0; j < d; j++) out[j] = keep[j] ? row[j] : 0, sq += (double)out[j] * out[j];
    for (int j = 0; j < d; j++) {
        if (o->normalize && sq > 0) out[j] = (float)(out[j] * (1.0 / sqrt(sq)));
        if (center) out[j] -= center[j];
    }
}

typedef struct {
    double dist;
    int idx;
} cand;

static int by_dist(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->dist != y->dist) return x->dist < y->dist ? -1 : 1;
    return x->idx - y->idx;
}

/* Neighbour labels (q x L x k) by brute force. */
static void ref_neighbors(float *const *train, const int32_t *ytrain, float *const *q, int nq,
                          const mla_dknn_options *o, int32_t *out) {
    for (int l = 0; l < L; l++) {
        int d = dims[l];
        int keep[16];
        for (int j = 0; j < d; j++) {
            keep[j] = !o->trim_zeros;
            for (int i = 0; i < NT; i++) keep[j] |= train[l][(size_t)i * d + j] != 0;
        }
        float center[16] = {0}, t[16];
        static float tt[NT][16];
        for (int i = 0; i < NT; i++) ref_transform(train[l] + (size_t)i * d, d, o, NULL, keep, tt[i]);
        if (o->center) {
            for (int j = 0; j < d; j++) {
                double sum = 0;
                for (int i = 0; i < NT; i++) sum += tt[i][j];
                center[j] = (float)(sum / NT);
            }
            for (int i = 0; i < NT; i++)
                for (int j = 0; j < d; j++) tt[i][j] -= center[j];
        }
        for (int a = 0; a < nq; a++) {
            ref_transform(q[l] + (size_t)a * d, d, o, o->center ? center : NULL, keep, t);
            cand cs[NT];
            for (int i = 0; i < NT; i++) {
                double s = 0;
                for (int j = 0; j < d; j++) s += ((double)t[j] - tt[i][j]) * ((double)t[j] - tt[i][j]);
                cs[i] = (cand){s, i};
            }
            qsort(cs, NT, sizeof *cs, by_dist);
            for (int j = 0; j < o->k; j++) out[((size_t)a * L + l) * o->k + j] = ytrain[cs[j].idx];
        }
    }
}

static int ref_alpha(const int32_t *nb, int a, int k, int c) {
    int alpha = 0;
    for (int j = 0; j < L * k; j++) alpha += nb[(size_t)a * L * k + j] != c;
    return alpha;
}

static void check_options(mla_dknn_options o) {
    float *train[L], *cal[L], *q[L];
    int32_t ytrain[NT], ycal[NC];
    for (int l = 0; l < L; l++) {
        train[l] = malloc((size_t)NT * dims[l] * sizeof(float));
        cal[l] = malloc((size_t)NC * dims[l] * sizeof(float));
        q[l] = malloc((size_t)NQ * dims[l] * sizeof(float));
        fill(train[l], (size_t)NT * dims[l], 10 + l, l == 1 ? 3 : -1, dims[l]);
        fill(cal[l], (size_t)NC * dims[l], 20 + l, -1, dims[l]);
        fill(q[l], (size_t)NQ * dims[l], 30 + l, -1, dims[l]);
    }
    /* Labels that follow the first feature, so the neighbours mostly agree. */
    for (int i = 0; i < NT; i++) ytrain[i] = (int)(train[0][i * dims[0]] * 4) % C;
    for (int i = 0; i < NC; i++) ycal[i] = (int)(cal[0][i * dims[0]] * 4 + (i % 5 == 0)) % C;

    mla_dknn *d;
    assert_int_equal(mla_dknn_create((const float *const *)train, dims, L, ytrain, NT, C, &o, &d), MLA_OK);
    int32_t nb[NQ * L * KN], want[NQ * L * KN], ncal[NC * L * KN];
    assert_int_equal(mla_dknn_neighbors(d, (const float *const *)q, NQ, nb, NULL), MLA_OK);
    ref_neighbors(train, ytrain, q, NQ, &o, want);
    assert_memory_equal(nb, want, sizeof nb);

    /* The same from features handed over (indexed in place where untransformed). */
    float *own[L];
    for (int l = 0; l < L; l++) {
        own[l] = mla_alloc((size_t)NT * dims[l], sizeof(float));
        memcpy(own[l], train[l], (size_t)NT * dims[l] * sizeof(float));
    }
    mla_dknn *d2;
    assert_int_equal(mla_dknn_create_owned(own, dims, L, ytrain, NT, C, &o, &d2), MLA_OK);
    for (int l = 0; l < L; l++) assert_null(own[l]);
    assert_int_equal(mla_dknn_neighbors(d2, (const float *const *)q, NQ, nb, NULL), MLA_OK);
    assert_memory_equal(nb, want, sizeof nb);
    mla_dknn_free(d2);

    /* kNN at layer 1: majority of its neighbours, ties to the class met first (nearest):
     * the top count, then the first neighbour whose class has it. */
    int32_t l1[NQ * KN], vote[NQ];
    for (int a = 0; a < NQ; a++) memcpy(l1 + a * KN, want + ((size_t)a * L + 1) * KN, KN * sizeof(int32_t));
    assert_int_equal(mla_knn_vote(l1, NQ, KN, C, vote), MLA_OK);
    for (int a = 0; a < NQ; a++) {
        int cnt[C] = {0}, top = 0, j = 0;
        for (j = 0; j < KN; j++) cnt[l1[a * KN + j]]++;
        for (int c = 0; c < C; c++) top = cnt[c] > top ? cnt[c] : top;
        for (j = 0; cnt[l1[a * KN + j]] != top; j++) {}
        assert_int_equal(vote[a], l1[a * KN + j]);
    }

    /* DkNN: calibration scores, p-values, prediction, credibility, confidence. */
    assert_int_equal(mla_dknn_calibrate(d, (const float *const *)cal, ycal, NC), MLA_OK);
    ref_neighbors(train, ytrain, cal, NC, &o, ncal);
    int A[NC];
    for (int i = 0; i < NC; i++) A[i] = ref_alpha(ncal, i, KN, ycal[i]);
    int32_t pred[NQ];
    float cred[NQ], conf[NQ], pv[NQ * C];
    assert_int_equal(mla_dknn_predict(d, (const float *const *)q, NQ, pred, cred, conf, pv), MLA_OK);
    for (int a = 0; a < NQ; a++) {
        double p[C];
        int best = 0;
        for (int c = 0; c < C; c++) {
            int alpha = ref_alpha(want, a, KN, c), ge = 0;
            for (int i = 0; i < NC; i++) ge += A[i] >= alpha;
            p[c] = (double)ge / NC;
            assert_float_equal(pv[a * C + c], p[c], 1e-7);
            if (p[c] > p[best]) best = c;
        }
        double second = -1;
        for (int c = 0; c < C; c++)
            if (c != best && p[c] > second) second = p[c];
        assert_int_equal(pred[a], best);
        assert_float_equal(cred[a], p[best], 1e-7);
        assert_float_equal(conf[a], 1 - second, 1e-7);
    }
    mla_dknn_free(d);
    for (int l = 0; l < L; l++) free(train[l]), free(cal[l]), free(q[l]);
}

static void test_against_direct(void **st) {
    (void)st;
    mla_dknn_options o = mla_dknn_defaults();
    assert_int_equal(o.k, 75);
    o.k = KN;
    check_options(o);
    o.normalize = true;
    check_options(o);
    o.center = true;
    check_options(o);
    o.normalize = false;
    check_options(o);
    o.trim_zeros = true;
    o.normalize = true;
    check_options(o);
}

static void test_calibration_indices(void **st) {
    (void)st;
    enum { M = 400, PER = 7 };
    int32_t y[M], a[4 * PER], b[4 * PER];
    for (int i = 0; i < M; i++) y[i] = (i * 7) % 4;
    assert_int_equal(mla_dknn_calibration_indices(y, M, 4, PER, 5, a), MLA_OK);
    assert_int_equal(mla_dknn_calibration_indices(y, M, 4, PER, 5, b), MLA_OK);
    assert_memory_equal(a, b, sizeof a);
    int per[4] = {0};
    for (int i = 0; i < 4 * PER; i++) {
        per[y[a[i]]]++;
        if (i) assert_true(a[i] > a[i - 1]); /* sorted, distinct */
    }
    for (int c = 0; c < 4; c++) assert_int_equal(per[c], PER);
    assert_int_equal(mla_dknn_calibration_indices(y, M, 4, PER, 6, b), MLA_OK);
    assert_true(memcmp(a, b, sizeof a) != 0);
    assert_int_equal(mla_dknn_calibration_indices(y, M, 4, 101, 5, b), MLA_ERR_INVALID);
}

static void test_bad_input(void **st) {
    (void)st;
    float x[10] = {0};
    const float *f[1] = {x};
    int d1[1] = {2};
    int32_t y[5] = {0, 1, 0, 1, 0};
    mla_dknn_options o = mla_dknn_defaults();
    mla_dknn *d;
    assert_int_equal(mla_dknn_create(f, d1, 1, y, 5, 2, &o, &d), MLA_ERR_INVALID); /* k 75 > 5 */
    assert_non_null(strstr(mla_last_error(), "training set"));
    o.k = 3;
    assert_int_equal(mla_dknn_create(f, d1, 1, y, 5, 2, &o, &d), MLA_OK);
    int32_t pred[1];
    assert_int_equal(mla_dknn_predict(d, f, 1, pred, NULL, NULL, NULL), MLA_ERR_INVALID); /* not calibrated */
    mla_dknn_free(d);
}

/* Features gathered in batches equal one forward's activations; unknown layers list the
 * valid ones. */
static void test_net_features(void **st) {
    (void)st;
    mla_net *net;
    assert_int_equal(mla_net_create(mla_preset_spec("dknn"), (mla_shape){1, 28, 28}, 10, 1, &net), MLA_OK);
    enum { M = 7 };
    float *x = malloc(M * 784 * sizeof(float));
    mla_rng r;
    mla_rng_seed(&r, 1);
    for (int i = 0; i < M * 784; i++) x[i] = (float)mla_rng_uniform(&r);
    const char *layers[] = {"relu2", "relu3", "logits"};
    float *feats[3];
    int fd[3];
    assert_int_equal(mla_net_layer_features(net, x, M, layers, 3, 3, feats, fd), MLA_OK);
    assert_int_equal(fd[0], 128 * 25);
    assert_int_equal(fd[1], 128);
    const float *y, *act;
    mla_shape sh;
    int n;
    assert_int_equal(mla_net_forward(net, x, M, false, &y), MLA_OK);
    for (int l = 0; l < 3; l++) {
        assert_int_equal(mla_net_activation(net, layers[l], &act, &sh, &n), MLA_OK);
        for (int i = 0; i < M * fd[l]; i++) assert_float_equal(feats[l][i], act[i], 1e-5 * (1 + fabs(act[i])));
        free(feats[l]);
    }
    const char *bad[] = {"relu3", "relu9"};
    assert_int_equal(mla_net_layer_features(net, x, M, bad, 2, 3, feats, fd), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "relu9"));
    assert_non_null(strstr(mla_last_error(), "relu1, conv2"));
    free(x);
    mla_net_free(net);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_direct), cmocka_unit_test(test_calibration_indices),
        cmocka_unit_test(test_bad_input),      cmocka_unit_test(test_net_features),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
