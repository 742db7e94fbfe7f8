/* Training the target and its shadows as a protocol lays out, and collecting every
 * model's outputs into mla_mia_arrays (mia.h section 3). Only outputs are kept: each
 * shadow is freed once its outputs are written (unless saved to keep_dir). With a
 * transport (cfg->transport) the shadows are dealt to ranks and their rows gathered on
 * rank 0 (run_shadows_ranks). */
#include "privacy/mia_plan.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mla_mia_audit_config mla_mia_audit_defaults(void) {
    mla_mia_audit_config c = {0};
    c.protocol = MLA_MIA_SPLIT4;
    c.target.dropout = c.shadow.dropout = -1;
    c.train = mla_train_defaults();
    c.shadows = 4;
    c.parallel = 1;
    c.shadow_fraction = 0.5;
    return c;
}

/* Everything mla_mia_collected owns. */
typedef struct {
    mia_plan plan;
    float *target_probs, *shadow_probs;
    double *target_phi, *shadow_phi, *target_py, *shadow_py;
    int32_t *labels, *target_aug, *shadow_aug;
    int n_aug;         /* augmented copies per sample */
} owned_arrays;

static mla_status owned_alloc(owned_arrays *o, int m, int k, int c, bool aug) {
    size_t km = (size_t)k * m;
    o->target_probs = mla_alloc((size_t)m * c, sizeof(float));
    o->shadow_probs = mla_alloc(km * c, sizeof(float));
    o->target_phi = mla_alloc((size_t)m, sizeof(double));
    o->shadow_phi = mla_alloc(km, sizeof(double));
    o->target_py = mla_alloc((size_t)m, sizeof(double));
    o->shadow_py = mla_alloc(km, sizeof(double));
    o->labels = mla_alloc((size_t)m, sizeof(int32_t));
    if (aug) {
        o->target_aug = mla_alloc((size_t)m, sizeof(int32_t));
        o->shadow_aug = mla_alloc(km, sizeof(int32_t));
    }
    bool ok = o->target_probs && o->shadow_probs && o->target_phi && o->shadow_phi && o->target_py && o->shadow_py &&
              o->labels && (!aug || (o->target_aug && o->shadow_aug));
    return ok ? MLA_OK : MLA_ERR_NOMEM;
}

static void owned_free(owned_arrays *o) {
    if (!o) return;
    mia_plan_free(&o->plan);
    free(o->target_probs), free(o->shadow_probs), free(o->target_phi), free(o->shadow_phi);
    free(o->target_py), free(o->shadow_py), free(o->labels), free(o->target_aug), free(o->shadow_aug);
    free(o);
}

void mla_mia_collected_free(mla_mia_collected *c) {
    if (!c) return;
    owned_free(c->owned);
    free(c);
}

/* ---- one model's outputs ---- */

typedef struct {
    const mla_dataset *data, *shadow_data; /* shadow_data: the shadows' dataset (data when none) */
    const mia_plan *plan;
    const mla_mia_audit_config *cfg;
    owned_arrays *o;
} ctx;

/* The dataset of positions [from, to): data before n_data, the shadows' after. */
static const mla_dataset *part_data(const ctx *x, int part) { return part ? x->shadow_data : x->data; }

/* The seed of noise:S for the sample at position i of the model seeded `seed`. */
static uint64_t release_seed(uint64_t seed, int i) {
    mla_rng base;
    mla_rng_seed(&base, seed);
    mla_rng r = mla_rng_fork(&base, 0x52454c0000000000ULL + (uint64_t)i); /* "REL" */
    return mla_rng_u64(&r);
}

/* Rows [i, i + b) of probs replaced by the release of their logits z (through one
 * scratch row), then phi and p_y from the released rows: what the attacker sees. */
static mla_status release_rows(const mla_release *rel, const float *z, float *probs, const int32_t *labels, int i,
                               int b, int c, uint64_t seed, double *phi, double *py) {
    float *row = mla_alloc((size_t)c, sizeof *row);
    mla_status s = row ? MLA_OK : MLA_ERR_NOMEM;
    for (int r = 0; !s && r < b; r++) {
        float *p = probs + (size_t)(i + r) * c;
        s = mla_release_apply(rel, z + (size_t)r * c, p, 1, c, release_seed(seed, i + r), row);
        if (s) break;
        memcpy(p, row, (size_t)c * sizeof *row);
        phi[i + r] = mla_mia_phi_from_probs(p, c, labels[r]);
        py[i + r] = exp(mla_mia_logpy_from_probs(p, c, labels[r]));
    }
    free(row);
    return s;
}

/* probs, phi and p_y of net on every position, in evaluation batches; released as
 * cfg->release says (seed: the model's, for noise). */
static mla_status outputs(const ctx *x, mla_net *net, uint64_t seed, float *probs, double *phi, double *py) {
    const mia_plan *p = x->plan;
    const mla_release *rel = mla_release_active(x->cfg->release) ? x->cfg->release : NULL;
    int c = mla_net_classes(net), batch = x->cfg->eval_batch > 0 ? x->cfg->eval_batch : 500;
    int32_t *labels = mla_alloc((size_t)batch, sizeof(int32_t));
    if (!labels) return MLA_ERR_NOMEM;
    bool keep = mla_net_keep_activations(net);
    mla_net_set_keep_activations(net, false);
    mla_status s = MLA_OK;
    for (int i = 0; !s && i < p->m;) {
        int part = i >= p->n_data, end = part ? p->m : p->n_data;
        int b = end - i < batch ? end - i : batch;
        float *in;
        const float *logits;
        s = mla_net_input_buffer(net, b, &in);
        if (!s) mla_dataset_batch(part_data(x, part), p->ds_index + i, 0, b, in, labels);
        if (!s) s = mla_net_forward(net, in, b, false, &logits);
        if (s) break;
        mla_softmax_rows(logits, b, c, probs + (size_t)i * c);
        for (int r = 0; !rel && r < b; r++) {
            const float *z = logits + (size_t)r * c;
            phi[i + r] = mla_mia_phi_from_logits(z, c, labels[r]);
            py[i + r] = exp(mla_mia_logpy_from_logits(z, c, labels[r]));
        }
        if (rel) s = release_rows(rel, logits, probs, labels, i, b, c, seed, phi, py);
        i += b;
    }
    mla_net_set_keep_activations(net, keep);
    free(labels);
    return s;
}

/* Augmentation counts of net on the positions where pick is set (others -1). */
static mla_status aug_counts(const ctx *x, mla_net *net, const uint8_t *pick, int32_t *counts) {
    const mia_plan *p = x->plan;
    const mla_mia_audit_config *cfg = x->cfg;
    int32_t *idx = mla_alloc((size_t)p->m, sizeof(int32_t)), *pos = mla_alloc((size_t)p->m, sizeof(int32_t));
    int32_t *got = mla_alloc((size_t)p->m, sizeof(int32_t));
    mla_status s = idx && pos && got ? MLA_OK : MLA_ERR_NOMEM;
    for (int i = 0; i < p->m; i++) counts[i] = -1;
    for (int part = 0; !s && part < 2; part++) {
        int n = 0, from = part ? p->n_data : 0, to = part ? p->m : p->n_data, n_aug;
        for (int i = from; i < to; i++)
            if (pick[i]) idx[n] = p->ds_index[i], pos[n++] = i;
        if (!n) continue;
        s = mla_mia_augment_counts(net, part_data(x, part), idx, n, cfg->aug_radius, cfg->aug_flips,
                                   cfg->eval_batch > 0 ? cfg->eval_batch : 500, got, &n_aug);
        for (int j = 0; !s && j < n; j++) counts[pos[j]] = got[j];
        if (!s) x->o->n_aug = n_aug;
    }
    free(idx), free(pos), free(got);
    return s;
}

/* The positions a shadow's augmentation threshold is fit on: up to aug_shadow_samples
 * of its fit positions, a seeded choice. */
static mla_status shadow_aug_pick(const ctx *x, int s, uint8_t *pick) {
    const mia_plan *p = x->plan;
    int limit = x->cfg->aug_shadow_samples > 0 ? x->cfg->aug_shadow_samples : 2000, n = 0;
    int32_t *fit = mla_alloc((size_t)p->m, sizeof(int32_t));
    if (!fit) return MLA_ERR_NOMEM;
    memset(pick, 0, (size_t)p->m);
    for (int i = 0; i < p->m; i++)
        if (p->fit[(size_t)s * p->m + i]) fit[n++] = i;
    mla_rng base, r;
    mla_rng_seed(&base, x->cfg->seed);
    r = mla_rng_fork(&base, 0x617567ULL + (uint64_t)s); /* "aug" */
    mla_rng_shuffle(&r, fit, n);
    for (int i = 0; i < n && i < limit; i++) pick[fit[i]] = 1;
    free(fit);
    return MLA_OK;
}

/* ---- models ---- */

static uint64_t model_seed(uint64_t seed, int model) {
    if (!model) return seed;
    mla_rng base;
    mla_rng_seed(&base, seed);
    mla_rng r = mla_rng_fork(&base, 0x5348414430ULL + (uint64_t)model); /* "SHAD0" + s */
    return mla_rng_u64(&r);
}

static mla_status build(const ctx *x, const mla_mia_model *mm, uint64_t seed, mla_net **net) {
    mla_shape in;
    mla_dataset_shape(x->data, &in.c, &in.h, &in.w);
    mla_status s = mla_net_create(mm->spec_json, in, mla_dataset_classes(x->data), seed, net);
    if (!s && mm->dropout >= 0) s = mla_net_set_dropout(*net, mm->dropout, NULL);
    return s;
}

/* Trains model `model` (0 the target, s + 1 shadow s) through cfg->train_model or
 * mla_train (with a DP-SGD hook of its own when cfg->dp is set, validating on the
 * plan's images when early stopping); its training stats through *st, its DP steps
 * and sampling rate through *dp_steps / *dp_q when not NULL; trained[0..n) (all 1 on
 * entry) as mla_mia_train_fn says. */
static mla_status train_model(const ctx *x, int model, mla_net *net, const mla_dataset *ds, const int32_t *idx, int n,
                              uint64_t seed, bool progress, uint8_t *trained, mla_train_stats *st, long *dp_steps,
                              double *dp_q) {
    mla_train_config tc = x->cfg->train;
    if (tc.patience > 0) tc.val_idx = x->plan->val, tc.n_val = x->plan->n_val;
    tc.seed = seed;
    tc.on_batch = progress ? x->cfg->on_batch : NULL;
    tc.on_epoch = NULL;
    tc.user = x->cfg->user;
    tc.stop = x->cfg->stop;
    mla_dpsgd *dp = NULL;
    mla_status s = MLA_OK;
    if (x->cfg->dp) {
        mla_dpsgd_config dc = *x->cfg->dp;
        dc.seed = seed, dc.batch = tc.batch;
        s = mla_dpsgd_create(&dc, net, n, &dp);
        if (!s) tc.hook = mla_dpsgd_hook(dp);
    }
    memset(st, 0, sizeof *st);
    memset(trained, 1, (size_t)n);
    if (!s && x->cfg->train_model) s = x->cfg->train_model(x->cfg->train_user, model, net, ds, idx, n, &tc, trained, st);
    else if (!s) s = mla_train(net, ds, idx, n, &tc, st);
    if (!s && dp && dp_steps) *dp_steps = mla_dpsgd_state_of(dp)->steps;
    if (!s && dp && dp_q) *dp_q = mla_dpsgd_rate(dp);
    mla_dpsgd_free(dp);
    return s;
}

static mla_status save_shadow(const ctx *x, const mla_net *net, int s) {
    char path[4096];
    snprintf(path, sizeof path, "%s/shadow_%d.safetensors", x->cfg->keep_dir, s);
    mla_meta meta[] = {{"dataset", mla_dataset_name(x->shadow_data)}};
    return mla_net_save(net, path, meta, 1);
}

/* Shadow s's positions whose sample its trainer left out become OUT for it. Its
 * training indices are its IN positions in position order (mia_plan_shadow_train), so
 * the j-th index is the j-th IN position. Writes row s of shadow_in only, so shadows
 * trained side by side do not race. */
static void shadow_untrained(const ctx *x, int s, const uint8_t *trained) {
    uint8_t *in = x->o->plan.shadow_in + (size_t)s * x->plan->m;
    for (int i = 0, j = 0; i < x->plan->m; i++)
        if (in[i] && !trained[j++]) in[i] = 0;
}

/* The target's members its trainer left out are not evaluated (truth -1): neither
 * members (it never saw them) nor drawn as non-members. target_train lists the member
 * positions' samples in position order (mia_plan.c), checked here. */
static mla_status target_untrained(const ctx *x, const uint8_t *trained, mla_mia_collected *col) {
    mia_plan *p = &x->o->plan;
    int j = 0, kept = 0;
    for (int i = 0; i < p->m; i++) {
        if (p->truth[i] != 1) continue;
        if (j >= p->n_target_train || p->ds_index[i] != p->target_train[j])
            return mla_error(MLA_ERR_INVALID, "mia: the target's training list does not follow its members");
        if (!trained[j++]) p->truth[i] = -1;
        else kept++;
    }
    col->target_train_size = kept;
    return MLA_OK;
}

/* Trains shadow s and writes its outputs into the arrays. */
static mla_status run_shadow(const ctx *x, int s, bool progress) {
    const mla_mia_audit_config *cfg = x->cfg;
    const mia_plan *p = x->plan;
    owned_arrays *o = x->o;
    size_t m = (size_t)p->m;
    int c = mla_dataset_classes(x->data);
    int32_t *idx = NULL;
    int n;
    mla_net *net = NULL;
    uint8_t *pick = NULL;
    uint64_t seed = model_seed(cfg->seed, s + 1);
    mla_status st = mia_plan_shadow_train(p, s, &idx, &n);
    if (!st) st = build(x, cfg->shadow.spec_json ? &cfg->shadow : &cfg->target, seed, &net);
    mla_train_stats ts;
    uint8_t *trained = st ? NULL : mla_alloc((size_t)n, 1);
    if (!st && !trained) st = MLA_ERR_NOMEM;
    if (!st) st = train_model(x, s + 1, net, x->shadow_data, idx, n, seed, progress, trained, &ts, NULL, NULL);
    if (!st) shadow_untrained(x, s, trained);
    free(trained);
    if (!st) st = outputs(x, net, seed, o->shadow_probs + s * m * c, o->shadow_phi + s * m, o->shadow_py + s * m);
    if (!st && o->shadow_aug) {
        pick = mla_alloc(m, 1);
        st = pick ? shadow_aug_pick(x, s, pick) : MLA_ERR_NOMEM;
        if (!st) st = aug_counts(x, net, pick, o->shadow_aug + s * m);
    }
    if (!st && cfg->keep_dir) st = save_shadow(x, net, s);
    if (st) mla_error_prefix(st, "shadow %d", s);
    free(idx), free(pick);
    mla_net_free(net);
    return st;
}

/* Shadows `parallel` at a time, each on one thread (a one-thread run's bits). A
 * worker's error message is thread-local, so it is carried back by copy. */
static mla_status run_shadows_parallel(const ctx *x) {
    const mla_mia_audit_config *cfg = x->cfg;
    int k = x->plan->k, failed = -1, done = 0;
    mla_status first = MLA_OK;
    char message[512] = "";
    double start = mla_seconds();
#pragma omp parallel for num_threads(cfg->parallel) schedule(dynamic, 1)
    for (int s = 0; s < k; s++) {
        int skip;
#pragma omp atomic read
        skip = failed;
        if (skip >= 0) continue;
        mla_status st = run_shadow(x, s, false);
#pragma omp critical(mia_shadows)
        {
            if (st && failed < 0) {
                failed = s, first = st;
                snprintf(message, sizeof message, "%s", mla_last_error());
            }
            done++;
            if (!st && cfg->on_model) cfg->on_model(cfg->user, s + 1, k + 1, mla_seconds() - start);
        }
    }
    if (first) return mla_error(first, "%s", message);
    return MLA_OK;
}

/* ---- shadows over several processes (cfg->transport) ----
 * Shadow s belongs to rank s mod P. Its owner sends rank 0 one header, then (when the
 * header says OK) its rows: shadow_in row s (after shadow_untrained), probabilities,
 * phi, p_y and, with the augmentation attack, its counts. Messages between two ranks
 * arrive in the order sent, so rank 0 receives shadow s from its owner exactly when
 * it asks for it, in shadow order. */
typedef struct {
    int32_t status;            /* the owner's mla_status for this shadow */
    int32_t n_aug;             /* augmented copies per sample (o->n_aug) */
    char message[496];         /* the owner's error message when status != OK */
} shadow_header;

/* The rows of shadow s as (pointer, bytes) pairs; returns how many. */
static int shadow_rows(const ctx *x, int s, void **buf, size_t *bytes) {
    owned_arrays *o = x->o;
    size_t m = (size_t)x->plan->m, c = (size_t)mla_dataset_classes(x->data);
    int n = 0;
    buf[n] = o->plan.shadow_in + s * m, bytes[n++] = m;
    buf[n] = o->shadow_probs + s * m * c, bytes[n++] = m * c * sizeof(float);
    buf[n] = o->shadow_phi + s * m, bytes[n++] = m * sizeof(double);
    buf[n] = o->shadow_py + s * m, bytes[n++] = m * sizeof(double);
    if (o->shadow_aug) buf[n] = o->shadow_aug + s * m, bytes[n++] = m * sizeof(int32_t);
    return n;
}

/* On the owner of shadow s: trains it on one thread (a one-thread run's bits whatever
 * the rank's thread setting, restored after) and sends it, or its error, to rank 0.
 * Returns the shadow's error, or the transport's. */
static mla_status send_shadow(const ctx *x, const mla_transport *t, int s) {
    int threads = mla_get_threads();
    mla_set_threads(1);
    mla_status st = run_shadow(x, s, false);
    mla_set_threads(threads);
    shadow_header h = {.status = st, .n_aug = x->o->n_aug};
    if (st) snprintf(h.message, sizeof h.message, "%s", mla_last_error());
    mla_status sent = t->send(t->user, &h, sizeof h, 0);
    void *buf[5];
    size_t bytes[5];
    for (int i = 0, n = st ? 0 : shadow_rows(x, s, buf, bytes); !sent && i < n; i++)
        sent = t->send(t->user, buf[i], bytes[i], 0);
    if (st) return mla_error(st, "%s", h.message);
    if (sent) mla_error_prefix(sent, "shadow %d: sending to rank 0", s);
    return sent;
}

/* On rank 0: shadow s's rows from its owner `from`, or the owner's error. */
static mla_status recv_shadow(const ctx *x, const mla_transport *t, int s, int from) {
    shadow_header h;
    mla_status st = t->recv(t->user, &h, sizeof h, from);
    if (st) return mla_error_prefix(st, "shadow %d: receiving from rank %d", s, from);
    if (h.status) {
        h.message[sizeof h.message - 1] = 0;
        return mla_error(h.status > 0 ? (mla_status)h.status : MLA_ERR_IO, "rank %d: %s", from, h.message);
    }
    void *buf[5];
    size_t bytes[5];
    int n = shadow_rows(x, s, buf, bytes);
    for (int i = 0; !st && i < n; i++) st = t->recv(t->user, buf[i], bytes[i], from);
    if (st) return mla_error_prefix(st, "shadow %d: receiving from rank %d", s, from);
    if (x->o->shadow_aug) x->o->n_aug = h.n_aug;
    return MLA_OK;
}

static mla_status run_shadows_ranks(const ctx *x, const mla_transport *t) {
    const mla_mia_audit_config *cfg = x->cfg;
    int k = x->plan->k, threads = mla_get_threads();
    for (int s = 0; s < k; s++) {
        int owner = s % t->size;
        double start = mla_seconds();
        mla_status st = MLA_OK;
        if (t->rank == 0 && owner == 0) {
            mla_set_threads(1);
            st = run_shadow(x, s, false);
            mla_set_threads(threads);
        } else if (t->rank == 0) {
            st = recv_shadow(x, t, s, owner);
        } else if (t->rank == owner) {
            st = send_shadow(x, t, s);
        }
        if (st) return st;
        if (t->rank == 0 && cfg->on_model) cfg->on_model(cfg->user, s + 1, k + 1, mla_seconds() - start);
    }
    return MLA_OK;
}

static mla_status run_shadows(const ctx *x) {
    const mla_mia_audit_config *cfg = x->cfg;
    if (cfg->transport && cfg->transport->size > 1) return run_shadows_ranks(x, cfg->transport);
    if (cfg->parallel > 1) return run_shadows_parallel(x);
    for (int s = 0; s < x->plan->k; s++) {
        double t = mla_seconds();
        mla_status st = run_shadow(x, s, true);
        if (st) return st;
        if (cfg->on_model) cfg->on_model(cfg->user, s + 1, x->plan->k + 1, mla_seconds() - t);
    }
    return MLA_OK;
}

/* The target: trained as the plan says (or the caller's), then its outputs. */
static mla_status run_target(const ctx *x, const mla_mia_inputs *in, mla_mia_collected *col) {
    const mla_mia_audit_config *cfg = x->cfg;
    mla_net *net = in->target;
    mla_status s = MLA_OK;
    double t = mla_seconds();
    if (!net) {
        s = build(x, &cfg->target, cfg->seed, &net);
        mla_train_stats ts;
        int n = x->plan->n_target_train;
        uint8_t *trained = s ? NULL : mla_alloc((size_t)n, 1);
        if (!s && !trained) s = MLA_ERR_NOMEM;
        if (!s) s = train_model(x, 0, net, x->data, x->plan->target_train, n, cfg->seed, true, trained, &ts,
                                &col->target_dp_steps, &col->target_dp_q);
        if (!s) s = target_untrained(x, trained, col);
        free(trained);
        if (!s) col->target_epochs_run = ts.epochs_run, col->target_epoch_kept = ts.epoch_kept;
    } else {
        s = mla_check_compatible(net, x->data);
    }
    col->seconds_target = mla_seconds() - t;
    t = mla_seconds();
    owned_arrays *o = x->o;
    if (!s) s = outputs(x, net, cfg->seed, o->target_probs, o->target_phi, o->target_py);
    if (!s && o->target_aug) {
        uint8_t *pick = mla_alloc((size_t)x->plan->m, 1);
        if (!pick) s = MLA_ERR_NOMEM;
        for (int i = 0; !s && i < x->plan->m; i++) pick[i] = x->plan->truth[i] >= 0;
        if (!s) s = aug_counts(x, net, pick, o->target_aug);
        free(pick);
    }
    col->seconds_outputs = mla_seconds() - t;
    if (!s && cfg->on_model) cfg->on_model(cfg->user, 0, x->plan->k + 1, col->seconds_target);
    if (net != in->target) mla_net_free(net);
    if (s) mla_error_prefix(s, "target");
    return s;
}

static void fill_labels(const ctx *x) {
    const mia_plan *p = x->plan;
    for (int i = 0; i < p->m; i++) {
        const mla_dataset *ds = part_data(x, i >= p->n_data);
        x->o->labels[i] = mla_dataset_labels(ds)[p->ds_index[i]];
    }
}

static void fill_arrays(mla_mia_collected *col, owned_arrays *o, int c, bool released) {
    const mia_plan *p = &o->plan;
    mla_mia_arrays *a = &col->arrays;
    a->m = p->m, a->k = p->k, a->classes = c;
    a->target_probs = o->target_probs, a->shadow_probs = o->shadow_probs, a->labels = o->labels;
    a->target_phi = o->target_phi, a->shadow_phi = o->shadow_phi;
    a->target_py = o->target_py, a->shadow_py = o->shadow_py;
    a->shadow_in = p->shadow_in, a->truth = p->truth, a->fit = p->fit;
    a->population = p->n_population ? p->population : NULL, a->n_population = p->n_population;
    a->target_aug = o->target_aug, a->shadow_aug = o->shadow_aug, a->n_aug = o->n_aug;
    a->sample_index = p->ds_index;
    a->released = released;
    col->n_data = p->n_data;
    if (!col->target_train_size) col->target_train_size = p->n_target_train; /* an own target's */
    col->val_index = p->val, col->n_val = p->n_val;
}

static mla_status check_config(const mla_mia_inputs *in, const mla_mia_audit_config *cfg) {
    if (!in->data) return mla_error(MLA_ERR_INVALID, "mia: no data");
    if (!cfg->target.spec_json && !in->target) return mla_error(MLA_ERR_INVALID, "mia: no target model");
    if ((cfg->protocol == MLA_MIA_OWN_TARGET) != (in->target != NULL))
        return mla_error(MLA_ERR_INVALID, "mia: a trained target goes with the own-target protocol only");
    if (cfg->parallel < 1 || cfg->parallel > 1024)
        return mla_error(MLA_ERR_INVALID, "--parallel must be 1..1024, got %d", cfg->parallel);
    if (cfg->aug_radius < 0 || cfg->aug_radius > 8)
        return mla_error(MLA_ERR_INVALID, "augmentation radius must be 0..8, got %d", cfg->aug_radius);
    const mla_release *rel = cfg->release;
    if (mla_release_active(rel) && rel->kind == MLA_RELEASE_TOPK && rel->k > mla_dataset_classes(in->data))
        return mla_error(MLA_ERR_INVALID, "--release %s: K must be 1..%d", rel->text, mla_dataset_classes(in->data));
    if (cfg->train.on_epoch || cfg->train.val_idx || cfg->train.checkpoint_every || cfg->train.resume_path ||
        cfg->train.hook)
        return mla_error(MLA_ERR_INVALID, "mia: the models' training takes no validation, checkpoints or hooks");
    const mla_transport *t = cfg->transport;
    if (t && (t->size < 1 || t->rank < 0 || t->rank >= t->size))
        return mla_error(MLA_ERR_INVALID, "mia: transport rank %d of %d", t->rank, t->size);
    if (t && t->size > 1 && cfg->keep_dir)
        return mla_error(MLA_ERR_UNSUPPORTED, "mia: keeping the shadows needs one process (only rank 0 writes)");
    return MLA_OK;
}

mla_status mla_mia_collect(const mla_mia_inputs *in, const mla_mia_audit_config *cfg, mla_mia_collected **out) {
    *out = NULL;
    mla_status s = check_config(in, cfg);
    if (s) return s;
    mla_mia_collected *col = mla_alloc(1, sizeof *col);
    owned_arrays *o = mla_alloc(1, sizeof *o);
    if (!col || !o) {
        free(col), free(o);
        return MLA_ERR_NOMEM;
    }
    col->owned = o;
    s = mia_plan_build(in, cfg, &o->plan);
    int c = mla_dataset_classes(in->data);
    if (!s) s = owned_alloc(o, o->plan.m, o->plan.k, c, cfg->aug_radius > 0);
    ctx x = {.data = in->data, .shadow_data = in->shadow_data ? in->shadow_data : in->data, .plan = &o->plan,
             .cfg = cfg, .o = o};
    const mla_transport *tr = cfg->transport;
    bool root = !tr || tr->size <= 1 || tr->rank == 0;
    if (!s) fill_labels(&x);
    if (!s && root) s = run_target(&x, in, col);
    double t = mla_seconds();
    if (!s) s = run_shadows(&x);
    col->seconds_shadows = mla_seconds() - t;
    if (s || !root) {
        mla_mia_collected_free(col);
        return s;
    }
    fill_arrays(col, o, c, mla_release_active(cfg->release));
    *out = col;
    return MLA_OK;
}
