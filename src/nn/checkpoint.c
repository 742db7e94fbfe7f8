/* Training checkpoints: a .safetensors file with the parameters, the optimizer's
 * state, the random streams, the early-stopping record and a training hook's own
 * state (when it keeps any), written atomically. The format stays
 * "mlaudit-checkpoint-1": a run whose hook keeps no state writes the same file as
 * before; the hook state is one more tensor ("hook_state", U8) named by one more
 * metadata entry ("hook_state": the hook's state_kind). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/safetensors.h"
#include "nn/train_impl.h"

#define CHECKPOINT_FORMAT "mlaudit-checkpoint-1"
#define N_RNG 4

static uint64_t fnv1a(const void *data, size_t n, uint64_t h) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

void mla_train_fingerprint(const mla_net *net, const mla_train_config *cfg, const int32_t *idx, int n, char *buf,
                           size_t size) {
    uint64_t h = fnv1a(mla_net_spec(net), strlen(mla_net_spec(net)), 0xcbf29ce484222325ULL);
    if (idx) h = fnv1a(idx, (size_t)n * sizeof *idx, h);
    if (cfg->val_idx) h = fnv1a(cfg->val_idx, (size_t)cfg->n_val * sizeof *cfg->val_idx, h);
    const mla_opt_config *o = &cfg->opt;
    snprintf(buf, size,
             "spec=%016llx n=%d epochs=%d batch=%d seed=%llu opt=%d lr=%.9g mom=%.9g nest=%d b1=%.9g b2=%.9g "
             "eps=%.9g wd=%.9g dec=%d sched=%d step=%d gamma=%.9g aug=%d mix=%.9g ls=%.9g nval=%d pat=%d",
             (unsigned long long)h, n, cfg->epochs, cfg->batch, (unsigned long long)cfg->seed, (int)o->kind, o->lr,
             o->momentum, o->nesterov, o->beta1, o->beta2, o->eps, o->weight_decay, o->decoupled, (int)cfg->schedule,
             cfg->step_size, cfg->gamma, cfg->augment, cfg->mixup_alpha, cfg->label_smoothing, cfg->n_val,
             cfg->patience);
    /* A run with a hook is another run (old fingerprints are unchanged without one). */
    size_t len = strlen(buf);
    if (cfg->hook && len < size) snprintf(buf + len, size - len, " hook=1");
}

/* The hook's state as a byte buffer (caller frees *buf), or *buf NULL when it keeps none. */
static mla_status hook_state_save(const mla_train_hook *hook, unsigned char **buf, size_t *size) {
    *buf = NULL;
    *size = 0;
    if (!hook || !hook->state_kind) return MLA_OK; /* callbacks checked by mla_train's config check */
    *size = hook->state_size(hook->user);
    *buf = malloc(*size ? *size : 1);
    if (!*buf) return MLA_ERR_NOMEM;
    mla_status s = hook->state_save(hook->user, *buf);
    if (s) free(*buf), *buf = NULL;
    return s;
}

mla_status mla_checkpoint_save(const char *path, mla_net *net, mla_optimizer *opt, const mla_train_state *st,
                               const mla_train_hook *hook, const char *fingerprint) {
    int64_t rngs[N_RNG][6];
    mla_rng_pack(&st->shuffle, rngs[0]);
    mla_rng_pack(&st->augment, rngs[1]);
    mla_rng_pack(&st->mixup, rngs[2]);
    mla_rng_pack(mla_net_rng(net), rngs[3]);
    int64_t counters[4] = {st->next_epoch, mla_optimizer_steps(opt), st->best_epoch, st->bad_epochs};
    double best_loss = st->best_loss;
    unsigned char *hs;
    size_t hs_size;
    mla_status s = hook_state_save(hook, &hs, &hs_size);
    if (s) return mla_error_prefix(s, "checkpoint");
    mla_st_tensor t[7] = {
        {"params", MLA_ST_F32, 1, {(int64_t)mla_net_param_count(net)}, mla_net_params(net)},
        {"optimizer", MLA_ST_F32, 1, {(int64_t)mla_optimizer_state_size(opt)}, mla_optimizer_state(opt)},
        {"rng", MLA_ST_I64, 2, {N_RNG, 6}, rngs},
        {"counters", MLA_ST_I64, 1, {4}, counters},
        {"best_loss", MLA_ST_F64, 1, {1}, &best_loss},
    };
    int nt = 5;
    if (st->best_params)
        t[nt++] = (mla_st_tensor){"best_params", MLA_ST_F32, 1, {(int64_t)mla_net_param_count(net)}, st->best_params};
    if (hs) t[nt++] = (mla_st_tensor){"hook_state", MLA_ST_U8, 1, {(int64_t)hs_size}, hs};
    mla_st_meta meta[] = {{"format", CHECKPOINT_FORMAT}, {"fingerprint", fingerprint}, {"spec", mla_net_spec(net)},
                          {"hook_state", hs ? hook->state_kind : ""}};
    s = mla_st_write(path, t, nt, meta, hs ? 4 : 3);
    free(hs);
    return s ? mla_error_prefix(s, "checkpoint") : MLA_OK;
}

/* Checks that the checkpoint's hook state (metadata "hook_state", NULL: none) suits
 * this run's hook, with a message that says which side lacks it. */
static mla_status check_hook_kind(const char *path, const char *have, const mla_train_hook *hook) {
    const char *want = hook ? hook->state_kind : NULL;
    if (want && !have)
        return mla_error(MLA_ERR_INVALID,
                         "%s: this run's training hook keeps state (%s) but the checkpoint holds none: it was "
                         "written by a run without that hook (e.g. without DP-SGD); resume with the settings it "
                         "was written with",
                         path, want);
    if (!want && have)
        return mla_error(MLA_ERR_INVALID,
                         "%s: the checkpoint holds training-hook state (%s) but this run has no hook that keeps "
                         "it: it was written by a run with that hook (e.g. with DP-SGD); resume with the settings "
                         "it was written with",
                         path, have);
    if (want && strcmp(want, have))
        return mla_error(MLA_ERR_INVALID, "%s: the checkpoint holds training-hook state '%s' but this run's hook keeps '%s'",
                         path, have, want);
    return MLA_OK;
}

/* The tensor called name with the given dtype and element count, or an error. */
static mla_status expect(const mla_st_file *f, const char *path, const char *name, mla_st_dtype dtype, size_t count,
                         const mla_st_tensor **out) {
    const mla_st_tensor *t = mla_st_find(f, name);
    size_t have = 1;
    for (int i = 0; t && i < t->ndim; i++) have *= (size_t)t->shape[i];
    if (!t || t->dtype != dtype || have != count)
        return mla_error(MLA_ERR_FORMAT, "%s: checkpoint tensor '%s' is missing or does not fit this run", path, name);
    *out = t;
    return MLA_OK;
}

mla_status mla_checkpoint_load(const char *path, mla_net *net, mla_optimizer *opt, mla_train_state *st,
                               const mla_train_hook *hook, const char *fingerprint) {
    mla_st_file *f;
    mla_status s = mla_st_read(path, &f);
    if (s) return s;
    const char *format = mla_st_meta_get(f, "format"), *fp = mla_st_meta_get(f, "fingerprint");
    if (!format || strcmp(format, CHECKPOINT_FORMAT)) {
        mla_st_free(f);
        return mla_error(MLA_ERR_FORMAT, "%s: not an mlaudit checkpoint", path);
    }
    s = check_hook_kind(path, mla_st_meta_get(f, "hook_state"), hook);
    if (s) {
        mla_st_free(f);
        return s;
    }
    if (!fp || strcmp(fp, fingerprint)) {
        mla_st_free(f);
        return mla_error(MLA_ERR_INVALID,
                         "%s: written by a run with other settings or data (model, subset, seed, epochs, batch, "
                         "optimizer, regularisation must all match to resume)",
                         path);
    }
    const mla_st_tensor *params = NULL, *state = NULL, *rng = NULL, *counters = NULL, *best_loss = NULL, *best = NULL;
    size_t np = mla_net_param_count(net);
    s = expect(f, path, "params", MLA_ST_F32, np, &params);
    if (!s) s = expect(f, path, "optimizer", MLA_ST_F32, mla_optimizer_state_size(opt), &state);
    if (!s) s = expect(f, path, "rng", MLA_ST_I64, N_RNG * 6, &rng);
    if (!s) s = expect(f, path, "counters", MLA_ST_I64, 4, &counters);
    if (!s) s = expect(f, path, "best_loss", MLA_ST_F64, 1, &best_loss);
    if (!s && st->best_params) s = expect(f, path, "best_params", MLA_ST_F32, np, &best);
    const mla_st_tensor *hs = hook && hook->state_kind ? mla_st_find(f, "hook_state") : NULL;
    if (!s && hook && hook->state_kind && (!hs || hs->dtype != MLA_ST_U8 || hs->ndim != 1))
        s = mla_error(MLA_ERR_FORMAT, "%s: checkpoint tensor 'hook_state' is missing or malformed", path);
    if (!s) {
        int64_t rngs[N_RNG][6], c[4];
        memcpy(rngs, rng->data, sizeof rngs);
        memcpy(c, counters->data, sizeof c);
        memcpy(mla_net_params(net), params->data, np * sizeof(float));
        memcpy(mla_optimizer_state(opt), state->data, mla_optimizer_state_size(opt) * sizeof(float));
        if (best) memcpy(st->best_params, best->data, np * sizeof(float));
        memcpy(&st->best_loss, best_loss->data, sizeof st->best_loss);
        mla_rng_unpack(rngs[0], &st->shuffle);
        mla_rng_unpack(rngs[1], &st->augment);
        mla_rng_unpack(rngs[2], &st->mixup);
        mla_rng_unpack(rngs[3], mla_net_rng(net));
        st->next_epoch = (int)c[0];
        mla_optimizer_set_steps(opt, (long)c[1]);
        st->best_epoch = (int)c[2];
        st->bad_epochs = (int)c[3];
        if (c[0] < 0 || c[1] < 0) s = mla_error(MLA_ERR_FORMAT, "%s: checkpoint counters are corrupt", path);
    }
    if (!s && hs) {
        s = hook->state_load(hook->user, hs->data, (size_t)hs->shape[0]);
        if (s) s = mla_error_prefix(s, "%s", path);
    }
    mla_st_free(f);
    return s;
}
