/* DP-SGD as a training hook: one step against a slow per-sample re-implementation,
 * the noise's scale and reproducibility, Poisson sampling, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/dpsgd.h"

enum { N = 24, K = 3, DIM = 16 };

static const char dense_spec[] =
    "{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 64}, {\"type\": \"relu\"},"
    " {\"type\": \"dense\", \"units\": \"classes\"}]}";
static const char conv_spec[] =
    "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 3, \"kernel\": 3, \"pad\": 1}, {\"type\": \"relu\"},"
    " {\"type\": \"maxpool\", \"kernel\": 2}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";

static mla_dataset *make_data(int n) {
    uint8_t *px = malloc((size_t)n * DIM);
    int32_t *y = malloc((size_t)n * sizeof *y);
    mla_rng r;
    mla_rng_seed(&r, 5);
    for (int i = 0; i < n; i++) {
        y[i] = i % K;
        for (int p = 0; p < DIM; p++) px[i * DIM + p] = (uint8_t)mla_rng_below(&r, 256);
    }
    mla_dataset *ds;
    assert_int_equal(mla_dataset_from_memory(n, 1, 4, 4, px, NULL, y, K, &ds), MLA_OK);
    free(px);
    free(y);
    return ds;
}

static mla_net *make_net(const char *spec) {
    mla_net *net;
    assert_int_equal(mla_net_create(spec, (mla_shape){1, 4, 4}, K, 3, &net), MLA_OK);
    return net;
}

/* Sample i's own parameter gradient (one forward and backward through the public API). */
static void sample_grad(mla_net *net, const mla_dataset *ds, int32_t i, float *g) {
    float x[DIM], dlogits[K];
    int32_t y;
    const float *logits;
    mla_dataset_batch(ds, &i, 0, 1, x, &y);
    assert_int_equal(mla_net_forward(net, x, 1, true, &logits), MLA_OK);
    mla_loss_softmax_ce(logits, 1, K, &y, NULL, dlogits, NULL);
    mla_net_zero_grads(net);
    assert_int_equal(mla_net_backward(net, dlogits, NULL), MLA_OK);
    memcpy(g, mla_net_grads(net), mla_net_trainable_count(net) * sizeof(float));
}

static double norm(const float *g, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

static void stop_now(void *user, int epoch, long done, long total, float loss) {
    (void)epoch, (void)done, (void)total, (void)loss;
    *(volatile sig_atomic_t *)user = 1;
}

/* One DP-SGD step (SGD, lr 1, no momentum) of a fresh net from spec; returns the
 * parameters after it (caller frees). */
static float *one_step(const char *spec, const mla_dataset *ds, const mla_dpsgd_config *dc) {
    mla_net *net = make_net(spec);
    mla_dpsgd *dp;
    assert_int_equal(mla_dpsgd_create(dc, net, N, &dp), MLA_OK);
    volatile sig_atomic_t stop = 0;
    mla_train_config cfg = mla_train_defaults();
    cfg.epochs = 1;
    cfg.batch = dc->batch;
    cfg.opt = mla_opt_defaults(MLA_OPT_SGD);
    cfg.opt.lr = 1;
    cfg.opt.momentum = 0;
    cfg.hook = mla_dpsgd_hook(dp);
    cfg.on_batch = stop_now;
    cfg.user = (void *)&stop;
    cfg.stop = &stop;
    mla_train_stats st;
    assert_int_equal(mla_train(net, ds, NULL, N, &cfg, &st), MLA_ERR_INTERRUPTED);
    assert_int_equal(mla_dpsgd_state_of(dp)->steps, 1);
    size_t np = mla_net_trainable_count(net);
    float *p = malloc(np * sizeof(float));
    memcpy(p, mla_net_params(net), np * sizeof(float));
    mla_dpsgd_free(dp);
    mla_net_free(net);
    return p;
}

/* The indices a fresh hook with this config draws at its first step. */
static int first_batch(const mla_dpsgd_config *dc, const mla_net *net, int32_t *out) {
    mla_dpsgd *dp;
    assert_int_equal(mla_dpsgd_create(dc, net, N, &dp), MLA_OK);
    int32_t pool[N];
    for (int i = 0; i < N; i++) pool[i] = i;
    int m;
    const mla_train_hook *h = mla_dpsgd_hook(dp);
    assert_int_equal(h->batch(h->user, 0, pool, N, pool, dc->batch, out, &m), MLA_OK);
    mla_dpsgd_free(dp);
    return m;
}

static void check_matches_slow_version(const char *spec) {
    mla_dataset *ds = make_data(N);
    mla_net *ref = make_net(spec);
    size_t np = mla_net_trainable_count(ref);
    float *init = malloc(np * sizeof(float)), *g = malloc(np * sizeof(float));
    memcpy(init, mla_net_params(ref), np * sizeof(float));
    mla_dpsgd_config dc = {1, 0, MLA_DPSGD_POISSON, 8, 7};
    int32_t chosen[N];
    int m = first_batch(&dc, ref, chosen);
    assert_true(m >= 3);
    /* The clip is the median of the chosen samples' norms: some clipped, some not. */
    double norms[N] = {0}, sorted[N] = {0};
    for (int i = 0; i < m; i++) {
        sample_grad(ref, ds, chosen[i], g);
        sorted[i] = norms[i] = norm(g, np);
    }
    for (int i = 1; i < m; i++)
        for (int j = i; j > 0 && sorted[j] < sorted[j - 1]; j--) {
            double t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    dc.clip = sorted[m / 2];
    double *sum = calloc(np, sizeof(double));
    for (int i = 0; i < m; i++) {
        sample_grad(ref, ds, chosen[i], g);
        double f = fmin(1.0, dc.clip / (norms[i] + 1e-6));
        for (size_t k = 0; k < np; k++) sum[k] += f * g[k];
    }
    float *after = one_step(spec, ds, &dc);
    double err = 0, size = 0;
    for (size_t k = 0; k < np; k++) {
        double want = sum[k] / (8.0 / N * N), got = (double)init[k] - after[k];
        err += (got - want) * (got - want);
        size += want * want;
    }
    assert_true(size > 0);
    assert_true(sqrt(err / size) < 1e-5);
    free(after);
    free(sum);
    free(init);
    free(g);
    mla_net_free(ref);
    mla_dataset_free(ds);
}

static void test_step_matches_per_sample_dense(void **state) {
    (void)state;
    check_matches_slow_version(dense_spec);
}

static void test_step_matches_per_sample_conv(void **state) {
    (void)state;
    check_matches_slow_version(conv_spec);
}

/* Noise: the difference between sigma > 0 and sigma = 0 (same draws of the batch) is
 * N(0, (sigma C / (q n))^2) per coordinate; the same seed gives the same bits. */
static void test_noise_scale_and_bits(void **state) {
    (void)state;
    mla_dataset *ds = make_data(N);
    mla_dpsgd_config quiet = {0.5, 0, MLA_DPSGD_POISSON, 8, 11}, noisy = quiet;
    noisy.sigma = 2;
    float *a = one_step(dense_spec, ds, &quiet), *b = one_step(dense_spec, ds, &noisy),
          *c = one_step(dense_spec, ds, &noisy);
    mla_net *net = make_net(dense_spec);
    size_t np = mla_net_trainable_count(net);
    assert_true(np > 1000);
    assert_memory_equal(b, c, np * sizeof(float));
    double s1 = 0, s2 = 0;
    for (size_t k = 0; k < np; k++) {
        double d = (double)a[k] - b[k];
        s1 += d;
        s2 += d * d;
    }
    double mean = s1 / np, sd = sqrt(s2 / np - mean * mean), want = 2 * 0.5 / 8.0;
    assert_true(fabs(mean) < 4 * want / sqrt((double)np));
    assert_true(fabs(sd / want - 1) < 0.1);
    free(a);
    free(b);
    free(c);
    mla_net_free(net);
    mla_dataset_free(ds);
}

/* The noise comes in chunks of their own streams, drawn in parallel: on a net of 160k
 * parameters (20 chunks) the gradients hook adds the same noise, bit for bit, on 1
 * and 2 threads. (The backward is another matter: OpenBLAS's products may differ.) */
static void noise_of(mla_net *net, int threads, float *out) {
    mla_dpsgd_config dc = {1, 1.5, MLA_DPSGD_POISSON, 8, 13};
    mla_dpsgd *dp;
    assert_int_equal(mla_dpsgd_create(&dc, net, N, &dp), MLA_OK);
    mla_set_threads(threads);
    mla_net_zero_grads(net);
    const mla_train_hook *h = mla_dpsgd_hook(dp);
    assert_int_equal(h->gradients(h->user, net, 8), MLA_OK);
    memcpy(out, mla_net_grads(net), mla_net_trainable_count(net) * sizeof(float));
    mla_set_threads(2);
    mla_dpsgd_free(dp);
}

static void test_noise_bits_thread_independent(void **state) {
    (void)state;
    static const char wide[] = "{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 8192},"
                               " {\"type\": \"relu\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}";
    mla_net *net = make_net(wide);
    size_t np = mla_net_trainable_count(net);
    assert_true(np > 19 * 8192);
    float *one = malloc(np * sizeof(float)), *two = malloc(np * sizeof(float));
    noise_of(net, 1, one);
    noise_of(net, 2, two);
    assert_memory_equal(one, two, np * sizeof(float));
    double sq = 0; /* sd sigma C / (q n) = 1.5 / 8 */
    for (size_t k = 0; k < np; k++) sq += (double)one[k] * one[k];
    assert_true(fabs(sqrt(sq / np) / (1.5 / 8) - 1) < 0.01);
    free(one);
    free(two);
    mla_net_free(net);
}

/* Each index joins with probability q: per-index counts binomial, sizes vary,
 * indices come in pool order without repeats. */
static void test_poisson_rate(void **state) {
    (void)state;
    enum { POOL = 1000, STEPS = 400 };
    mla_net *net = make_net(dense_spec);
    mla_dpsgd_config dc = {1, 1, MLA_DPSGD_POISSON, 100, 3};
    mla_dpsgd *dp;
    assert_int_equal(mla_dpsgd_create(&dc, net, POOL, &dp), MLA_OK);
    assert_float_equal(mla_dpsgd_rate(dp), 0.1, 1e-12);
    const mla_train_hook *h = mla_dpsgd_hook(dp);
    static int32_t pool[POOL], out[POOL];
    int counts[POOL] = {0}, lo = POOL, hi = 0;
    for (int i = 0; i < POOL; i++) pool[i] = 3 * i + 1;
    long total = 0;
    for (int s = 0; s < STEPS; s++) {
        int m;
        assert_int_equal(h->batch(h->user, s, pool, POOL, pool, 100, out, &m), MLA_OK);
        for (int i = 0; i < m; i++) {
            assert_int_equal((out[i] - 1) % 3, 0);
            if (i) assert_true(out[i] > out[i - 1]);
            counts[(out[i] - 1) / 3]++;
        }
        total += m;
        lo = m < lo ? m : lo;
        hi = m > hi ? m : hi;
    }
    double rate = (double)total / ((double)POOL * STEPS);
    assert_true(fabs(rate - 0.1) < 0.003); /* ~6 standard errors */
    double var = 0;
    for (int i = 0; i < POOL; i++) var += (counts[i] - 40.0) * (counts[i] - 40.0);
    var /= POOL; /* binomial(400, 0.1): 36 */
    assert_true(var > 28 && var < 45);
    assert_true(lo < 90 && hi > 110);
    mla_dpsgd_free(dp);
    mla_net_free(net);
}

/* q = 1/24: a third of the batches are empty; training takes every step anyway. */
static void test_empty_batches(void **state) {
    (void)state;
    mla_dataset *ds = make_data(N);
    mla_net *net = make_net(conv_spec);
    mla_dpsgd_config dc = {1, 1, MLA_DPSGD_POISSON, 1, 9};
    mla_dpsgd *dp;
    /* A twin with the same seed draws the same batches: count the empty ones. */
    assert_int_equal(mla_dpsgd_create(&dc, net, N, &dp), MLA_OK);
    int32_t pool[N], out[N];
    for (int i = 0; i < N; i++) pool[i] = i;
    int empty = 0;
    long drawn = 0;
    for (int s = 0; s < 3 * N; s++) {
        int m;
        assert_int_equal(mla_dpsgd_hook(dp)->batch(dp, s, pool, N, pool, 1, out, &m), MLA_OK);
        empty += m == 0;
        drawn += m;
    }
    assert_true(empty > 10);
    mla_dpsgd_free(dp);
    assert_int_equal(mla_dpsgd_create(&dc, net, N, &dp), MLA_OK);
    mla_train_config cfg = mla_train_defaults();
    cfg.epochs = 3;
    cfg.batch = 1;
    cfg.hook = mla_dpsgd_hook(dp);
    mla_train_stats st;
    assert_int_equal(mla_train(net, ds, NULL, N, &cfg, &st), MLA_OK);
    assert_int_equal(mla_dpsgd_state_of(dp)->steps, 3 * N);
    assert_int_equal(st.samples, drawn);
    float *p = mla_net_params(net);
    for (size_t k = 0; k < mla_net_trainable_count(net); k++) assert_true(isfinite(p[k]));
    mla_dpsgd_free(dp);
    mla_net_free(net);
    mla_dataset_free(ds);
}

static void test_refusals(void **state) {
    (void)state;
    const char bn[] = "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3, \"pad\": 1},"
                      " {\"type\": \"batchnorm\", \"name\": \"bn1\"}, {\"type\": \"relu\"}, {\"type\": \"flatten\"},"
                      " {\"type\": \"dense\", \"units\": \"classes\"}]}";
    mla_net *net = make_net(bn);
    mla_dpsgd_config dc = mla_dpsgd_defaults();
    mla_dpsgd *dp = NULL;
    assert_int_equal(mla_dpsgd_create(&dc, net, N, &dp), MLA_ERR_UNSUPPORTED);
    assert_null(dp);
    assert_non_null(strstr(mla_last_error(), "'bn1' (batchnorm)"));
    assert_non_null(strstr(mla_last_error(), "without batch norm"));
    mla_net_free(net);
    /* Group norm in its place is accepted (no batch statistics). */
    const char gn[] = "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3, \"pad\": 1},"
                      " {\"type\": \"groupnorm\", \"groups\": 2}, {\"type\": \"relu\"}, {\"type\": \"flatten\"},"
                      " {\"type\": \"dense\", \"units\": \"classes\"}]}";
    net = make_net(gn);
    assert_int_equal(mla_dpsgd_check_net(net), MLA_OK);
    mla_net_free(net);
    net = make_net(dense_spec);
    dc.clip = 0;
    assert_int_equal(mla_dpsgd_create(&dc, net, N, &dp), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "clip"));
    dc = mla_dpsgd_defaults();
    dc.sigma = -1;
    assert_int_equal(mla_dpsgd_create(&dc, net, N, &dp), MLA_ERR_INVALID);
    mla_dpsgd_sampling s;
    assert_int_equal(mla_dpsgd_sampling_parse("shuffle", &s), MLA_OK);
    assert_int_equal(s, MLA_DPSGD_SHUFFLE);
    assert_int_equal(mla_dpsgd_sampling_parse("uniform", &s), MLA_ERR_INVALID);
    mla_net_free(net);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_matches_per_sample_dense),
        cmocka_unit_test(test_step_matches_per_sample_conv),
        cmocka_unit_test(test_noise_scale_and_bits),
        cmocka_unit_test(test_noise_bits_thread_independent),
        cmocka_unit_test(test_poisson_rate),
        cmocka_unit_test(test_empty_batches),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
