/* DP-SGD as a training hook: Poisson sampling, per-sample clipping, Gaussian noise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/dp.h"
#include "mlaudit/dpsgd.h"

struct mla_dpsgd {
    mla_dpsgd_config cfg;
    mla_train_hook hook;
    mla_dpsgd_state st;
    double q, expected;  /* rate and expected batch size q n */
};

mla_dpsgd_config mla_dpsgd_defaults(void) {
    mla_dpsgd_config c = {1.0, 1.0, MLA_DPSGD_POISSON, 128, 0};
    return c;
}

mla_status mla_dpsgd_sampling_parse(const char *name, mla_dpsgd_sampling *out) {
    if (!strcmp(name, "poisson")) *out = MLA_DPSGD_POISSON;
    else if (!strcmp(name, "shuffle")) *out = MLA_DPSGD_SHUFFLE;
    else return mla_error(MLA_ERR_INVALID, "unknown DP sampling '%s' (poisson or shuffle)", name);
    return MLA_OK;
}

const char *mla_dpsgd_sampling_name(mla_dpsgd_sampling s) { return s == MLA_DPSGD_SHUFFLE ? "shuffle" : "poisson"; }

mla_status mla_dpsgd_check_net(const mla_net *net) {
    static const char suffix[] = ".running_mean";
    for (int i = 0; i < mla_net_tensor_count(net); i++) {
        mla_tensor_info t;
        if (mla_net_tensor_info(net, i, &t)) continue;
        size_t len = strlen(t.name), k = sizeof suffix - 1;
        if (t.trainable || len <= k || strcmp(t.name + len - k, suffix)) continue;
        return mla_error(MLA_ERR_UNSUPPORTED,
                         "DP-SGD needs per-sample gradients, but layer '%.*s' (batchnorm) mixes the samples of a "
                         "batch; use a spec without batch norm (e.g. the mlp, cnn, lenet5 or resnet20-gn preset, or "
                         "groupnorm in its place)",
                         (int)(len - k), t.name);
    }
    return MLA_OK;
}

/* Poisson sampling: each pool index joins with probability q. */
static mla_status poisson_batch(void *user, long step, const int32_t *pool, int n_pool, const int32_t *batch, int n,
                                int32_t *out, int *n_out) {
    (void)step;
    (void)batch;
    (void)n;
    mla_dpsgd *dp = user;
    int m = 0;
    for (int i = 0; i < n_pool; i++)
        if (mla_rng_uniform(&dp->st.sampling) < dp->q) out[m++] = pool[i];
    *n_out = m;
    return MLA_OK;
}

/* Clipping: sample i's weight in the sum is n f_i, f_i = min(1, C / (||g_i|| + 1e-6)):
 * the norms of the mean loss's rows come divided by n, and weighing row i by n f_i
 * makes the backward form sum_i f_i g_i. */
static mla_status clip_weights(void *user, const float *norms, int n, float *weights) {
    const mla_dpsgd *dp = user;
    for (int i = 0; i < n; i++) {
        double norm = (double)norms[i] * n;
        weights[i] = (float)(fmin(1.0, dp->cfg.clip / (norm + 1e-6)) * n);
    }
    return MLA_OK;
}

/* The norms pass and the clipped sum in one (mla_net_backward_weighted). */
static mla_status clipped_backward(void *user, mla_net *net, float *dlogits, int n, int classes) {
    (void)n;
    (void)classes;
    return mla_net_backward_weighted(net, dlogits, clip_weights, user);
}

/* Noise is drawn in chunks of this many coordinates, each from its own stream forked
 * from the noise stream by (step, chunk): the bits do not depend on the thread count,
 * and the chunks run in parallel. Normals come from the Ziggurat (mla_rng_normals),
 * a block at a time: one at a time by the polar method they were a quarter of a cnn
 * DP step on one thread (225k normals a step) and more than half of an mlp's. */
#define NOISE_CHUNK 8192
#define NOISE_BLOCK 512

static void noise_chunk(const mla_rng *base, long step, size_t chunk, float *g, size_t count, double sd,
                        double inv) {
    mla_rng r = mla_rng_fork(base, ((uint64_t)step << 24) ^ (uint64_t)chunk);
    size_t end = (chunk + 1) * NOISE_CHUNK < count ? (chunk + 1) * NOISE_CHUNK : count;
    double z[NOISE_BLOCK];
    for (size_t i0 = chunk * NOISE_CHUNK; i0 < end; i0 += NOISE_BLOCK) {
        size_t m = end - i0 < NOISE_BLOCK ? end - i0 : NOISE_BLOCK;
        if (sd > 0) mla_rng_normals(&r, z, m);
        for (size_t k = 0; k < m; k++) {
            double v = g[i0 + k];
            if (sd > 0) v += sd * z[k];
            g[i0 + k] = (float)(v * inv);
        }
    }
}

/* Noise N(0, (sigma C)^2) on every coordinate of the clipped sum, then the mean. */
static mla_status add_noise(void *user, mla_net *net, int n) {
    mla_dpsgd *dp = user;
    float *g = mla_net_grads(net);
    size_t count = mla_net_trainable_count(net), chunks = (count + NOISE_CHUNK - 1) / NOISE_CHUNK;
    double sd = dp->cfg.sigma * dp->cfg.clip;
    double inv = 1.0 / (dp->cfg.sampling == MLA_DPSGD_POISSON ? dp->expected : (n > 0 ? n : 1));
    long step = dp->st.steps;
    const mla_rng *base = &dp->st.noise;
#pragma omp parallel for schedule(static) if (chunks > 4)
    for (size_t c = 0; c < chunks; c++) noise_chunk(base, step, c, g, count, sd, inv);
    dp->st.steps++;
    return MLA_OK;
}

static mla_status check_config(const mla_dpsgd_config *cfg, int n) {
    if (!(cfg->clip > 0 && isfinite(cfg->clip)))
        return mla_error(MLA_ERR_INVALID, "DP clip norm must be positive, got %g", cfg->clip);
    if (!(cfg->sigma >= 0 && isfinite(cfg->sigma)))
        return mla_error(MLA_ERR_INVALID, "DP noise multiplier must be >= 0, got %g", cfg->sigma);
    if (cfg->batch < 1) return mla_error(MLA_ERR_INVALID, "DP batch size must be at least 1, got %d", cfg->batch);
    if (n < 1) return mla_error(MLA_ERR_INVALID, "DP-SGD needs training samples");
    if (cfg->sampling != MLA_DPSGD_POISSON && cfg->sampling != MLA_DPSGD_SHUFFLE)
        return mla_error(MLA_ERR_INVALID, "unknown DP sampling %d", (int)cfg->sampling);
    return MLA_OK;
}

/* ---- the state in checkpoints (train.h's hook state) ---- */

/* 20 int64 words: a tag, the sampling and noise streams (6 words each), the steps,
 * then the settings the state belongs to (clip, sigma, sampling, batch, seed, q). */
enum { STATE_WORDS = 20 };
static const int64_t STATE_TAG = 0x6470736764000001LL; /* "dpsgd", layout 1 */

static int64_t bits_of(double x) {
    int64_t b;
    memcpy(&b, &x, 8);
    return b;
}

/* The settings part of the state (words 14..19). */
static void settings_put(const mla_dpsgd *dp, int64_t *w) {
    w[0] = bits_of(dp->cfg.clip);
    w[1] = bits_of(dp->cfg.sigma);
    w[2] = dp->cfg.sampling;
    w[3] = dp->cfg.batch;
    w[4] = (int64_t)dp->cfg.seed;
    w[5] = bits_of(dp->q);
}

static size_t state_size(void *user) {
    (void)user;
    return STATE_WORDS * sizeof(int64_t);
}

static mla_status state_save(void *user, void *buf) {
    const mla_dpsgd *dp = user;
    int64_t w[STATE_WORDS];
    w[0] = STATE_TAG;
    mla_rng_pack(&dp->st.sampling, w + 1);
    mla_rng_pack(&dp->st.noise, w + 7);
    w[13] = dp->st.steps;
    settings_put(dp, w + 14);
    memcpy(buf, w, sizeof w);
    return MLA_OK;
}

static mla_status state_load(void *user, const void *buf, size_t size) {
    mla_dpsgd *dp = user;
    int64_t w[STATE_WORDS], mine[6];
    if (size != sizeof w) return mla_error(MLA_ERR_INVALID, "DP-SGD state has %zu bytes, not %zu", size, sizeof w);
    memcpy(w, buf, sizeof w);
    if (w[0] != STATE_TAG || w[13] < 0) return mla_error(MLA_ERR_INVALID, "DP-SGD state is not of this version or corrupt");
    settings_put(dp, mine);
    if (memcmp(mine, w + 14, sizeof mine)) {
        double clip, sigma, q;
        memcpy(&clip, &w[14], 8), memcpy(&sigma, &w[15], 8), memcpy(&q, &w[19], 8);
        return mla_error(MLA_ERR_INVALID,
                         "DP-SGD state was written with clip %g, sigma %.9g, %s sampling, batch %lld, seed %lld, "
                         "q %.9g; this run has clip %g, sigma %.9g, %s sampling, batch %d, seed %llu, q %.9g",
                         clip, sigma, mla_dpsgd_sampling_name((mla_dpsgd_sampling)w[16]), (long long)w[17],
                         (long long)w[18], q, dp->cfg.clip, dp->cfg.sigma, mla_dpsgd_sampling_name(dp->cfg.sampling),
                         dp->cfg.batch, (unsigned long long)dp->cfg.seed, dp->q);
    }
    mla_rng_unpack(w + 1, &dp->st.sampling);
    mla_rng_unpack(w + 7, &dp->st.noise);
    dp->st.steps = (long)w[13];
    return MLA_OK;
}

mla_status mla_dpsgd_create(const mla_dpsgd_config *cfg, const mla_net *net, int n, mla_dpsgd **out) {
    *out = NULL;
    mla_status s = check_config(cfg, n);
    if (!s) s = mla_dpsgd_check_net(net);
    if (s) return s;
    mla_dpsgd *dp = calloc(1, sizeof *dp);
    if (!dp) return MLA_ERR_NOMEM;
    dp->cfg = *cfg;
    long steps_per_epoch;
    mla_dp_plan(cfg->batch, n, 1, &dp->q, &steps_per_epoch); /* the trainers' q (dp.h) */
    dp->expected = dp->q * n;
    mla_rng root;
    mla_rng_seed(&root, cfg->seed);
    /* streams of their own: mla_train's forks of the same seed use small ids */
    dp->st.sampling = mla_rng_fork(&root, 0x6470736764000001ULL);
    dp->st.noise = mla_rng_fork(&root, 0x6470736764000002ULL);
    dp->hook = (mla_train_hook){.user = dp,
                                .batch = cfg->sampling == MLA_DPSGD_POISSON ? poisson_batch : NULL,
                                .backward = clipped_backward,
                                .gradients = add_noise,
                                .state_kind = "dpsgd-1",
                                .state_size = state_size,
                                .state_save = state_save,
                                .state_load = state_load};
    *out = dp;
    return MLA_OK;
}

void mla_dpsgd_free(mla_dpsgd *dp) {
    if (!dp) return;
    free(dp);
}

const mla_train_hook *mla_dpsgd_hook(mla_dpsgd *dp) { return &dp->hook; }
double mla_dpsgd_rate(const mla_dpsgd *dp) { return dp->q; }
mla_dpsgd_state *mla_dpsgd_state_of(mla_dpsgd *dp) { return &dp->st; }
