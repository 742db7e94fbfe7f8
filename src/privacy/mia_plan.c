/* Protocol layouts of the membership audit (mia.h section 3, mia_plan.h). Each
 * protocol draws its splits from seeded streams of its own, so the same seed lays out
 * the same samples whatever the models are. */
#include "privacy/mia_plan.h"

#include <stdlib.h>
#include <string.h>

/* Seeded streams, one per purpose. */
enum { STREAM_POOL = 1, STREAM_SHADOW_POOL, STREAM_TARGET, STREAM_SHADOW = 100 };

static const char *const protocol_names[] = {"split4", "shadows", "lira", "own-target"};

mla_status mla_mia_protocol_parse(const char *name, mla_mia_protocol *out) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, protocol_names[i])) {
            *out = (mla_mia_protocol)i;
            return MLA_OK;
        }
    return mla_error(MLA_ERR_INVALID, "unknown protocol '%s' (split4, shadows, lira)", name);
}

const char *mla_mia_protocol_name(mla_mia_protocol p) {
    return (unsigned)p < 4 ? protocol_names[p] : "unknown";
}

static mla_rng stream(const mla_mia_audit_config *cfg, uint64_t id) {
    mla_rng base;
    mla_rng_seed(&base, cfg->seed);
    return mla_rng_fork(&base, id);
}

static mla_status plan_alloc(mia_plan *p, int m, int n_data, int k) {
    memset(p, 0, sizeof *p);
    p->m = m, p->n_data = n_data, p->k = k;
    size_t km = (size_t)k * m;
    p->ds_index = mla_alloc((size_t)m, sizeof(int32_t));
    p->truth = mla_alloc((size_t)m, 1);
    p->shadow_in = mla_alloc(km, 1);
    p->fit = mla_alloc(km, 1);
    p->population = mla_alloc((size_t)m, sizeof(int32_t));
    p->target_train = mla_alloc((size_t)m, sizeof(int32_t));
    if (!p->ds_index || !p->truth || !p->shadow_in || !p->fit || !p->population || !p->target_train) {
        mia_plan_free(p);
        return MLA_ERR_NOMEM;
    }
    return MLA_OK;
}

void mia_plan_free(mia_plan *p) {
    free(p->ds_index), free(p->truth), free(p->shadow_in), free(p->fit), free(p->population), free(p->target_train);
    free(p->val);
    memset(p, 0, sizeof *p);
}

/* A seeded permutation of 0..n-1 (caller frees). */
static int32_t *permutation(const mla_mia_audit_config *cfg, uint64_t id, int n) {
    int32_t *perm = mla_alloc((size_t)(n ? n : 1), sizeof(int32_t));
    if (!perm) return NULL;
    mla_rng r = stream(cfg, id);
    mla_rng_permutation(&r, perm, n);
    return perm;
}

/* Shadow s samples `size` of positions [from, from + n) as its own dataset (MIA-BAD;
 * size n: all of them), trains on the first half of a shuffle of it and leaves the rest
 * unseen; it fits on that dataset only. */
static void sampled_half(mia_plan *p, const mla_mia_audit_config *cfg, int s, int from, int n, int size,
                         int32_t *scratch) {
    for (int i = 0; i < n; i++) scratch[i] = from + i;
    mla_rng r = stream(cfg, STREAM_SHADOW + (uint64_t)s);
    mla_rng_shuffle(&r, scratch, n);
    uint8_t *in = p->shadow_in + (size_t)s * p->m, *fit = p->fit + (size_t)s * p->m;
    for (int i = 0; i < size; i++) {
        fit[scratch[i]] = 1;
        in[scratch[i]] = i < size / 2;
    }
}

/* Online LiRA: every position in [from, from + n) is IN for half the shadows (K odd:
 * floor or ceil of K/2, alternating with a seeded coin). */
static void balanced_halves(mia_plan *p, const mla_mia_audit_config *cfg, int from, int n) {
    int k = p->k;
    int32_t order[1024];
    mla_rng r = stream(cfg, STREAM_SHADOW);
    for (int i = from; i < from + n; i++) {
        mla_rng_permutation(&r, order, k);
        int take = k / 2 + (k % 2 ? (int)mla_rng_below(&r, 2) : 0);
        for (int j = 0; j < k; j++) {
            p->shadow_in[(size_t)order[j] * p->m + i] = j < take;
            p->fit[(size_t)order[j] * p->m + i] = 1;
        }
    }
}

/* The first `count` of a seeded permutation of the pooled data, or of all of it. */
static mla_status pool_of(const mla_mia_audit_config *cfg, int n, int want, uint64_t id, int32_t **pool, int *count) {
    if (want > n) return mla_error(MLA_ERR_INVALID, "--pool %d is larger than the %d samples available", want, n);
    *pool = permutation(cfg, id, n);
    if (!*pool) return MLA_ERR_NOMEM;
    *count = want ? want : n;
    return MLA_OK;
}

/* Early stopping's validation images (cfg->train.patience > 0): the last val_size of
 * the pool permutation perm of the n samples of data, of which the protocol takes the
 * first `used`; the two must not meet. */
static mla_status plan_validation(const mla_mia_audit_config *cfg, const int32_t *perm, int n, int used, mia_plan *p) {
    if (cfg->train.patience <= 0) return MLA_OK;
    int v = cfg->val_size;
    if (v < 1) return mla_error(MLA_ERR_INVALID, "early stopping needs validation images (--val-size >= 1)");
    if (v > n - used)
        return mla_error(MLA_ERR_INVALID, "early stopping's %d validation images do not fit: the protocol uses %d of "
                                          "the %d samples (lower --pool or --val-size)", v, used, n);
    p->val = mla_alloc((size_t)v, sizeof(int32_t));
    if (!p->val) return MLA_ERR_NOMEM;
    memcpy(p->val, perm + n - v, (size_t)v * sizeof(int32_t));
    p->n_val = v;
    return MLA_OK;
}

static mla_status plan_split4(const mla_mia_inputs *in, const mla_mia_audit_config *cfg, mia_plan *p) {
    int n = mla_dataset_count(in->data), count = 0;
    int32_t *perm = NULL;
    mla_status s = pool_of(cfg, n, cfg->pool, STREAM_POOL, &perm, &count);
    if (s) return s;
    int q = count / 4;
    int32_t *sperm = NULL;
    if (in->shadow_data) {
        int ns = mla_dataset_count(in->shadow_data);
        if (ns < 2 * q) s = mla_error(MLA_ERR_INVALID, "--shadow-data has %d samples; the shadows need %d", ns, 2 * q);
        else if (!(sperm = permutation(cfg, STREAM_SHADOW_POOL, ns))) s = MLA_ERR_NOMEM;
    }
    if (!s && q < 2) s = mla_error(MLA_ERR_INVALID, "too few samples (%d) to cut into four parts", count);
    if (!s) s = plan_alloc(p, 4 * q, in->shadow_data ? 2 * q : 4 * q, cfg->shadows);
    if (!s && (s = plan_validation(cfg, perm, n, count, p))) mia_plan_free(p);
    if (s) {
        free(perm), free(sperm);
        return s;
    }
    for (int i = 0; i < 4 * q; i++) {
        p->ds_index[i] = i < 2 * q || !sperm ? perm[i] : sperm[i - 2 * q];
        p->truth[i] = i < q ? 1 : i < 2 * q ? 0 : -1;
    }
    memcpy(p->target_train, perm, (size_t)q * sizeof(int32_t));
    p->n_target_train = q;
    for (int i = 0; i < 2 * q; i++) p->population[i] = 2 * q + i;
    p->n_population = 2 * q;
    int32_t *scratch = mla_alloc((size_t)2 * q, sizeof(int32_t));
    if (!scratch) s = MLA_ERR_NOMEM;
    for (int sh = 0; !s && sh < p->k; sh++) {
        if (cfg->protocol == MLA_MIA_SHADOWS) {
            int size = (int)(cfg->shadow_fraction * 2 * q + 0.5);
            if (size < 2 || size > 2 * q)
                s = mla_error(MLA_ERR_INVALID, "--shadow-fraction %g gives shadow datasets of %d samples",
                              cfg->shadow_fraction, size);
            else sampled_half(p, cfg, sh, 2 * q, 2 * q, size, scratch);
        } else {
            sampled_half(p, cfg, sh, 2 * q, 2 * q, 2 * q, scratch);
        }
    }
    free(scratch), free(perm), free(sperm);
    if (s) mia_plan_free(p);
    return s;
}

/* The target's members: a seeded exact half of positions [0, n). */
static void target_half(mia_plan *p, const mla_mia_audit_config *cfg, int n, int32_t *scratch) {
    for (int i = 0; i < n; i++) scratch[i] = i;
    mla_rng r = stream(cfg, STREAM_TARGET);
    mla_rng_shuffle(&r, scratch, n);
    for (int i = 0; i < n; i++) p->truth[scratch[i]] = i < n / 2;
    for (int i = 0, j = 0; i < n; i++)
        if (p->truth[i]) p->target_train[j++] = p->ds_index[i];
    p->n_target_train = n / 2;
}

static mla_status plan_lira(const mla_mia_inputs *in, const mla_mia_audit_config *cfg, mia_plan *p) {
    int n = mla_dataset_count(in->data);
    if (in->shadow_data && !cfg->offline)
        return mla_error(MLA_ERR_INVALID, "--shadow-data needs offline shadows (--offline): online shadows train on "
                                          "the candidates");
    int pool = cfg->pool ? cfg->pool : n / 2;
    pool -= pool % 2;
    int rest_start = pool, rest = n - pool;
    int extra = cfg->offline ? (in->shadow_data ? 0 : pool) : cfg->population;
    if (!cfg->offline && !extra) extra = rest < pool / 2 ? rest : pool / 2;
    if (pool < 4 || pool > n) return mla_error(MLA_ERR_INVALID, "--pool %d does not fit the %d samples", pool, n);
    if (extra > rest)
        return mla_error(MLA_ERR_INVALID, "--pool %d leaves %d samples, fewer than the %d the %s needs", pool, rest,
                         extra, cfg->offline ? "offline shadows' pool" : "population");
    int32_t *perm = permutation(cfg, STREAM_POOL, n), *sperm = NULL;
    int shadow_n = cfg->offline ? (in->shadow_data ? mla_dataset_count(in->shadow_data) : pool) : 0;
    if (cfg->offline && in->shadow_data && shadow_n > pool) shadow_n = pool;
    if (cfg->offline && in->shadow_data) sperm = permutation(cfg, STREAM_SHADOW_POOL, mla_dataset_count(in->shadow_data));
    int m = pool + (cfg->offline ? shadow_n : extra);
    mla_status s = perm && (!in->shadow_data || sperm) ? MLA_OK : MLA_ERR_NOMEM;
    if (!s) s = plan_alloc(p, m, in->shadow_data ? pool : m, cfg->shadows);
    if (!s && (s = plan_validation(cfg, perm, n, in->shadow_data ? pool : m, p))) mia_plan_free(p);
    if (s) {
        free(perm), free(sperm);
        return s;
    }
    for (int i = 0; i < m; i++) {
        p->ds_index[i] = i < pool || !sperm ? perm[i < pool ? i : rest_start + (i - pool)] : sperm[i - pool];
        p->truth[i] = -1;
    }
    int32_t *scratch = mla_alloc((size_t)m, sizeof(int32_t));
    if (!scratch) s = MLA_ERR_NOMEM;
    if (!s) target_half(p, cfg, pool, scratch);
    if (!s && !cfg->offline) balanced_halves(p, cfg, 0, pool);
    for (int sh = 0; !s && cfg->offline && sh < p->k; sh++) sampled_half(p, cfg, sh, pool, m - pool, m - pool, scratch);
    for (int i = pool; i < m; i++) p->population[p->n_population++] = i;
    free(scratch), free(perm), free(sperm);
    if (s) mia_plan_free(p);
    return s;
}

/* Checks a list of indices into a dataset of n samples; marks them in seen with tag
 * (refusing an index already marked). */
static mla_status mark_indices(const int32_t *idx, int count, int n, const char *what, uint8_t *seen, uint8_t tag) {
    for (int i = 0; i < count; i++) {
        if (idx[i] < 0 || idx[i] >= n)
            return mla_error(MLA_ERR_INVALID, "%s: index %d at position %d is outside 0..%d", what, (int)idx[i], i,
                             n - 1);
        if (seen[idx[i]])
            return mla_error(MLA_ERR_INVALID, "%s: index %d is %s", what, (int)idx[i],
                             seen[idx[i]] == tag ? "given twice" : "also in another list");
        seen[idx[i]] = tag;
    }
    return MLA_OK;
}

/* The first `keep` of a seeded shuffle of idx[0..n). */
static void subsample(const mla_mia_audit_config *cfg, uint64_t id, const int32_t *idx, int n, int keep, int32_t *out) {
    int32_t *perm = permutation(cfg, id, n);
    for (int i = 0; i < keep; i++) out[i] = perm ? idx[perm[i]] : idx[i];
    free(perm);
}

static mla_status own_shadow_pool(const mla_mia_inputs *in, const uint8_t *seen, int32_t **pool, int *count) {
    const mla_dataset *sd = in->shadow_data ? in->shadow_data : in->data;
    int n = mla_dataset_count(sd);
    *pool = mla_alloc((size_t)n, sizeof(int32_t));
    if (!*pool) return MLA_ERR_NOMEM;
    *count = 0;
    if (in->shadow_pool) {
        uint8_t *mark = mla_alloc((size_t)n, 1);
        if (!mark) return MLA_ERR_NOMEM;
        mla_status s = mark_indices(in->shadow_pool, in->n_shadow_pool, n, "--shadow-pool", mark, 1);
        for (int i = 0; !s && i < in->n_shadow_pool; i++) {
            if (!in->shadow_data && seen[in->shadow_pool[i]])
                s = mla_error(MLA_ERR_INVALID, "--shadow-pool: index %d is also a named member or non-member",
                              (int)in->shadow_pool[i]);
            else (*pool)[(*count)++] = in->shadow_pool[i];
        }
        free(mark);
        return s;
    }
    for (int i = 0; i < n; i++)
        if (in->shadow_data || !seen[i]) (*pool)[(*count)++] = i;
    return MLA_OK;
}

static mla_status plan_own(const mla_mia_inputs *in, const mla_mia_audit_config *cfg, mia_plan *p) {
    int n = mla_dataset_count(in->data);
    if (!in->target || in->n_members < 1 || in->n_nonmembers < 1)
        return mla_error(MLA_ERR_INVALID, "an own target needs the model, members and non-members");
    uint8_t *seen = mla_alloc((size_t)n, 1);
    if (!seen) return MLA_ERR_NOMEM;
    mla_status s = mark_indices(in->members, in->n_members, n, "--members", seen, 1);
    if (!s) s = mark_indices(in->nonmembers, in->n_nonmembers, n, "--nonmembers", seen, 2);
    int32_t *pool = NULL;
    int n_pool = 0;
    if (!s) s = own_shadow_pool(in, seen, &pool, &n_pool);
    if (!s && n_pool < 4) s = mla_error(MLA_ERR_INVALID, "the shadow pool has %d samples; the shadows need more", n_pool);
    int e = in->n_members < in->n_nonmembers ? in->n_members : in->n_nonmembers;
    if (!s) s = plan_alloc(p, 2 * e + n_pool, in->shadow_data ? 2 * e : 2 * e + n_pool, cfg->shadows);
    if (!s) {
        subsample(cfg, STREAM_TARGET, in->members, in->n_members, e, p->ds_index);
        subsample(cfg, STREAM_TARGET + 1, in->nonmembers, in->n_nonmembers, e, p->ds_index + e);
        memcpy(p->ds_index + 2 * e, pool, (size_t)n_pool * sizeof(int32_t));
        for (int i = 0; i < p->m; i++) p->truth[i] = i < e ? 1 : i < 2 * e ? 0 : -1;
        for (int i = 0; i < n_pool; i++) p->population[i] = 2 * e + i;
        p->n_population = n_pool;
        int32_t *scratch = mla_alloc((size_t)n_pool, sizeof(int32_t));
        if (!scratch) s = MLA_ERR_NOMEM;
        for (int sh = 0; !s && sh < p->k; sh++) sampled_half(p, cfg, sh, 2 * e, n_pool, n_pool, scratch);
        free(scratch);
        if (s) mia_plan_free(p);
    }
    free(seen), free(pool);
    return s;
}

mla_status mia_plan_build(const mla_mia_inputs *in, const mla_mia_audit_config *cfg, mia_plan *p) {
    memset(p, 0, sizeof *p);
    if (cfg->shadows < 1 || cfg->shadows > 1024)
        return mla_error(MLA_ERR_INVALID, "--shadows must be 1..1024, got %d", cfg->shadows);
    if (in->shadow_data) {
        int c1, h1, w1, c2, h2, w2;
        mla_dataset_shape(in->data, &c1, &h1, &w1);
        mla_dataset_shape(in->shadow_data, &c2, &h2, &w2);
        if (c1 != c2 || h1 != h2 || w1 != w2 || mla_dataset_classes(in->data) != mla_dataset_classes(in->shadow_data))
            return mla_error(MLA_ERR_SHAPE, "--shadow-data %s (%dx%dx%d, %d classes) does not match --data %s "
                                            "(%dx%dx%d, %d classes)",
                             mla_dataset_name(in->shadow_data), c2, h2, w2, mla_dataset_classes(in->shadow_data),
                             mla_dataset_name(in->data), c1, h1, w1, mla_dataset_classes(in->data));
    }
    if (cfg->train.patience > 0 && (in->shadow_data || cfg->protocol == MLA_MIA_OWN_TARGET))
        return mla_error(MLA_ERR_INVALID, "early stopping applies to models mia trains on --data alone (not with %s)",
                         in->shadow_data ? "--shadow-data" : "an own --target");
    switch (cfg->protocol) {
    case MLA_MIA_SPLIT4:
    case MLA_MIA_SHADOWS: return plan_split4(in, cfg, p);
    case MLA_MIA_LIRA: return plan_lira(in, cfg, p);
    case MLA_MIA_OWN_TARGET: return plan_own(in, cfg, p);
    }
    return mla_error(MLA_ERR_INVALID, "unknown protocol %d", (int)cfg->protocol);
}

mla_status mia_plan_shadow_train(const mia_plan *p, int s, int32_t **idx, int *n) {
    const uint8_t *in = p->shadow_in + (size_t)s * p->m;
    *n = 0;
    *idx = mla_alloc((size_t)p->m, sizeof(int32_t));
    if (!*idx) return MLA_ERR_NOMEM;
    for (int i = 0; i < p->m; i++)
        if (in[i]) (*idx)[(*n)++] = p->ds_index[i];
    if (*n < 1) {
        free(*idx);
        *idx = NULL;
        return mla_error(MLA_ERR_INVALID, "shadow %d has no training samples", s);
    }
    return MLA_OK;
}
