/* The learned attacks on arrays: Shokri et al.'s shadow-model attack, sample by
 * sample, and MIA-BAD's batch-wise attack datasets. The attack model is fit on the
 * shadows' outputs over the fit samples (each shadow's members vs its non-members) and
 * applied to the target's outputs on the evaluated samples. */
#include "privacy/mia_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The attack model's steps are tiny (a 256 x 11 by 11 x 64 product): threads only
 * wait on each other there (measured 2.8 s on one thread against 14-85 s on two for
 * 140,000 rows x 80 epochs), so it is fit and applied on one thread, which also makes
 * its bits independent of --threads. */
static mla_status fit_one_thread(const mla_attack_config *ac, const float *x, const uint8_t *member,
                                 const int32_t *cls, int n, int d, int classes, mla_attack_model **out) {
    int threads = mla_get_threads();
    mla_set_threads(1);
    mla_status s = mla_attack_model_fit(ac, x, member, cls, n, d, classes, out);
    mla_set_threads(threads);
    return s;
}

/* Feature rows of one model (probs: m x c) for the samples where pick[i] == want,
 * in sample order; count through *n. */
static float *features_where(const mla_mia_arrays *a, const mla_attack_config *ac, const float *probs,
                             const int8_t *pick, int want, int32_t *cls, int *n) {
    int c = a->classes, d = mla_attack_feature_dim(ac->features, c);
    int count = 0;
    for (int i = 0; i < a->m; i++) count += pick[i] == want;
    *n = count;
    float *rows = mla_alloc((size_t)(count ? count : 1) * c, sizeof(float));
    int32_t *labels = mla_alloc((size_t)(count ? count : 1), sizeof(int32_t));
    float *out = mla_alloc((size_t)(count ? count : 1) * d, sizeof(float));
    if (!rows || !labels || !out) {
        free(rows), free(labels), free(out);
        return NULL;
    }
    for (int i = 0, j = 0; i < a->m; i++) {
        if (pick[i] != want) continue;
        memcpy(rows + (size_t)j * c, probs + (size_t)i * c, (size_t)c * sizeof(float));
        labels[j++] = a->labels[i];
    }
    mla_attack_features_of(ac->features, rows, labels, count, c, out);
    if (cls) memcpy(cls, labels, (size_t)count * sizeof(int32_t));
    free(rows), free(labels);
    return out;
}

/* pick for shadow s: 1 member, 0 non-member over the fit samples, -1 elsewhere. */
static void shadow_pick(const mla_mia_arrays *a, int s, int8_t *pick) {
    for (int i = 0; i < a->m; i++)
        pick[i] = a->fit && !a->fit[(size_t)s * a->m + i] ? -1 : (int8_t)a->shadow_in[(size_t)s * a->m + i];
}

/* Appends rows (n x d) with their membership and classes to a growing training set. */
typedef struct {
    float *x;
    uint8_t *member;
    int32_t *cls;
    int n, cap, d;
} train_set;

static mla_status train_add(train_set *t, const float *x, int n, uint8_t member, const int32_t *cls) {
    if (t->n + n > t->cap) {
        int cap = t->cap ? t->cap : 1024;
        while (cap < t->n + n) cap *= 2;
        float *nx = realloc(t->x, (size_t)cap * t->d * sizeof(float));
        if (nx) t->x = nx;
        uint8_t *nm = realloc(t->member, (size_t)cap);
        if (nm) t->member = nm;
        int32_t *nc = realloc(t->cls, (size_t)cap * sizeof(int32_t));
        if (nc) t->cls = nc;
        if (!nx || !nm || !nc) return mla_error(MLA_ERR_NOMEM, "out of memory for the attack's training set");
        t->cap = cap;
    }
    memcpy(t->x + (size_t)t->n * t->d, x, (size_t)n * t->d * sizeof(float));
    memset(t->member + t->n, member, (size_t)n);
    for (int i = 0; i < n; i++) t->cls[t->n + i] = cls ? cls[i] : 0;
    t->n += n;
    return MLA_OK;
}

static void train_free(train_set *t) { free(t->x), free(t->member), free(t->cls); }

/* ---- sample-wise ---- */

static mla_status sample_attack(const mla_mia_arrays *a, const mla_mia_config *cfg, const int8_t *eval, int8_t *pick,
                                mia_emit_fn emit, void *ctx) {
    const mla_attack_config *ac = &cfg->attack;
    int c = a->classes;
    train_set t = {.d = mla_attack_feature_dim(ac->features, c)};
    int32_t *cls = mla_alloc((size_t)a->m, sizeof(int32_t));
    mla_status s = cls ? MLA_OK : MLA_ERR_NOMEM;
    for (int sh = 0; !s && sh < a->k; sh++) {
        shadow_pick(a, sh, pick);
        for (int want = 1; !s && want >= 0; want--) {
            int n;
            float *f = features_where(a, ac, a->shadow_probs + (size_t)sh * a->m * c, pick, want, cls, &n);
            s = f ? train_add(&t, f, n, (uint8_t)want, cls) : MLA_ERR_NOMEM;
            free(f);
        }
    }
    mla_attack_model *model = NULL;
    if (!s) s = fit_one_thread(ac, t.x, t.member, t.cls, t.n, t.d, c, &model);
    train_free(&t);
    /* The target on every sample (the score table covers all m; only evaluated ones count). */
    for (int i = 0; i < a->m; i++) pick[i] = 1;
    int n = 0;
    float *f = s ? NULL : features_where(a, ac, a->target_probs, pick, 1, cls, &n);
    if (!s && !f) s = MLA_ERR_NOMEM;
    double *scores = s ? NULL : mla_alloc((size_t)a->m, sizeof(double));
    if (!s && !scores) s = MLA_ERR_NOMEM;
    if (!s) s = mla_attack_model_predict(model, f, cls, a->m, scores);
    for (int i = 0; !s && i < a->m; i++)
        if (eval[i] < 0) scores[i] = NAN;
    mla_attack_model_free(model);
    free(f), free(cls);
    if (s) {
        free(scores);
        return s;
    }
    return emit(ctx, "shadow_sample", 0, scores, NULL, 0, NULL, 0);
}

/* ---- batch-wise (MIA-BAD) ---- */

/* Batch means of rows (n x d) into a new array; fails naming `what` when b > n. */
static mla_status batch_rows(const float *rows, int n, int d, int b, mla_rng *rng, const char *what, float **out,
                             int *n_out) {
    *out = NULL;
    if (b > n) return mla_error(MLA_ERR_INVALID, "batch size %d is larger than %s (%d samples)", b, what, n);
    *out = mla_alloc((size_t)(n / b) * d, sizeof(float));
    if (!*out) return MLA_ERR_NOMEM;
    return mla_attack_batch_means(rows, n, d, b, rng, *out, n_out);
}

/* Shadow s's member and non-member batch rows for batch size b, added to t. */
static mla_status shadow_batches(const mla_mia_arrays *a, const mla_mia_config *cfg, int sh, int b, int8_t *pick,
                                 train_set *t) {
    const mla_attack_config *ac = &cfg->attack;
    mla_rng base;
    mla_rng_seed(&base, cfg->seed);
    shadow_pick(a, sh, pick);
    mla_status s = MLA_OK;
    for (int want = 1; !s && want >= 0; want--) {
        int n, rows;
        float *f = features_where(a, ac, a->shadow_probs + (size_t)sh * a->m * a->classes, pick, want, NULL, &n);
        if (!f) return MLA_ERR_NOMEM;
        mla_rng rng = mla_rng_fork(&base, ((uint64_t)b << 32) ^ ((uint64_t)sh << 1) ^ (uint64_t)want);
        char what[64];
        snprintf(what, sizeof what, "shadow %d's %s", sh, want ? "members" : "non-members");
        float *means;
        s = batch_rows(f, n, t->d, b, &rng, what, &means, &rows);
        if (!s) s = train_add(t, means, rows, (uint8_t)want, NULL);
        free(f), free(means);
    }
    return s;
}

/* The target's member (want 1) or non-member (want 0) batches, scored. */
static mla_status target_batches(const mla_mia_arrays *a, const mla_mia_config *cfg, mla_attack_model *model, int b,
                                 int want, double **scores, int64_t *n_out) {
    const mla_attack_config *ac = &cfg->attack;
    *scores = NULL;
    int n, rows;
    float *f = features_where(a, ac, a->target_probs, a->truth, want, NULL, &n);
    if (!f) return MLA_ERR_NOMEM;
    mla_rng base;
    mla_rng_seed(&base, cfg->seed);
    mla_rng rng = mla_rng_fork(&base, ((uint64_t)b << 32) ^ 0xFFFFFFF0u ^ (uint64_t)want);
    float *means;
    mla_status s = batch_rows(f, n, mla_attack_feature_dim(ac->features, a->classes), b, &rng,
                              want ? "the target's member set" : "the target's non-member set", &means, &rows);
    int32_t *cls = s ? NULL : mla_alloc((size_t)rows + 1, sizeof(int32_t));
    if (!s && !cls) s = MLA_ERR_NOMEM;
    if (!s) *scores = mla_alloc((size_t)rows + 1, sizeof(double));
    if (!s && !*scores) s = MLA_ERR_NOMEM;
    if (!s) s = mla_attack_model_predict(model, means, cls, rows, *scores);
    *n_out = rows;
    free(f), free(means), free(cls);
    return s;
}

static mla_status batch_attack(const mla_mia_arrays *a, const mla_mia_config *cfg, int b, int8_t *pick,
                               mia_emit_fn emit, void *ctx) {
    /* Batch rows average samples of several classes: one attack model, class 0. */
    mla_attack_config ac = cfg->attack;
    train_set t = {.d = mla_attack_feature_dim(ac.features, a->classes)};
    mla_status s = MLA_OK;
    for (int sh = 0; !s && sh < a->k; sh++) s = shadow_batches(a, cfg, sh, b, pick, &t);
    mla_attack_model *model = NULL;
    if (!s) s = fit_one_thread(&ac, t.x, t.member, t.cls, t.n, t.d, 1, &model);
    train_free(&t);
    double *pos = NULL, *neg = NULL;
    int64_t np = 0, nn = 0;
    if (!s) s = target_batches(a, cfg, model, b, 1, &pos, &np);
    if (!s) s = target_batches(a, cfg, model, b, 0, &neg, &nn);
    mla_attack_model_free(model);
    if (s) {
        free(pos), free(neg);
        return s;
    }
    char name[40];
    snprintf(name, sizeof name, "shadow_batch_%d", b);
    return emit(ctx, name, b, NULL, pos, np, neg, nn);
}

mla_status mia_learned_attacks(const mla_mia_arrays *a, const mla_mia_config *cfg, const int8_t *eval, bool sample,
                               bool batch, mia_emit_fn emit, void *ctx) {
    int8_t *pick = mla_alloc((size_t)a->m, 1);
    if (!pick) return MLA_ERR_NOMEM;
    mla_status s = sample ? sample_attack(a, cfg, eval, pick, emit, ctx) : MLA_OK;
    for (int i = 0; !s && batch && i < cfg->n_batch_sizes; i++) {
        if (cfg->batch_sizes[i] < 1) s = mla_error(MLA_ERR_INVALID, "batch size %d is below 1", cfg->batch_sizes[i]);
        else s = batch_attack(a, cfg, cfg->batch_sizes[i], pick, emit, ctx);
    }
    free(pick);
    return s;
}
