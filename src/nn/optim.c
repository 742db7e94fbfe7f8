/* Optimizers over a net's trainable parameters, with PyTorch's update rules:
 *   SGD:  g += wd p; b = mu b + g (b = g at the first step); g = nesterov ? g + mu b : b; p -= lr g
 *   Adam: g += wd p (or p -= lr wd p when decoupled); m, v moments; bias-corrected step
 *         p -= lr mhat / (sqrt(vhat) + eps). */
#include <math.h>
#include <omp.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "mlaudit/nn.h"
#include "nn/layer.h"
#include "nn/optim_fused.h"

struct mla_optimizer {
    mla_opt_config cfg;
    size_t n;
    float *state;     /* SGD: momentum [n]; Adam: m [n], v [n] */
    long steps;
    int parts;        /* the trainable tensors, which the updates split one by one */
    size_t *part_end; /* [parts]: where each ends in the flat vector; the last is n */
    bool *claimed;    /* [parts]: updated by the backward this step (optim_fused.h) */
    mla_opt_fused *fused;
};

/* The trainable tensors' ends in the flat vector (one part, [0, n), if they do not tile
 * it: the split only places work, it changes no value). */
static mla_status parts_init(mla_optimizer *o, const mla_net *net) {
    int count = mla_net_tensor_count(net), parts = 0;
    o->part_end = mla_alloc((size_t)(count > 0 ? count : 1), sizeof(size_t));
    o->claimed = mla_alloc((size_t)(count > 0 ? count : 1), sizeof(bool));
    if (!o->part_end || !o->claimed) return MLA_ERR_NOMEM;
    size_t at = 0;
    for (int i = 0; i < count; i++) {
        mla_tensor_info t;
        if (mla_net_tensor_info(net, i, &t) || !t.trainable || t.offset != at || t.count == 0) break;
        at += t.count;
        o->part_end[parts++] = at;
    }
    if (at != o->n || parts == 0) {
        parts = 1;
        o->part_end[0] = o->n;
    }
    o->parts = parts;
    return MLA_OK;
}

mla_opt_config mla_opt_defaults(mla_opt_kind kind) {
    mla_opt_config c = {0};
    c.kind = kind;
    c.lr = kind == MLA_OPT_ADAM ? 1e-3f : 0.01f;
    c.momentum = kind == MLA_OPT_SGD ? 0.9f : 0.0f;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    return c;
}

mla_status mla_opt_kind_parse(const char *name, mla_opt_kind *out) {
    if (!strcmp(name, "sgd")) *out = MLA_OPT_SGD;
    else if (!strcmp(name, "adam")) *out = MLA_OPT_ADAM;
    else return mla_error(MLA_ERR_INVALID, "unknown optimizer '%s' (sgd, adam)", name);
    return MLA_OK;
}

mla_status mla_optimizer_create(const mla_opt_config *cfg, const mla_net *net, mla_optimizer **out) {
    *out = NULL;
    if (!(cfg->lr > 0) || !isfinite(cfg->lr)) return mla_error(MLA_ERR_INVALID, "learning rate must be positive");
    if (cfg->weight_decay < 0) return mla_error(MLA_ERR_INVALID, "weight decay must not be negative");
    if (cfg->momentum < 0 || cfg->momentum >= 1) return mla_error(MLA_ERR_INVALID, "momentum must be in [0, 1)");
    if (cfg->kind == MLA_OPT_SGD && cfg->nesterov && cfg->momentum == 0)
        return mla_error(MLA_ERR_INVALID, "Nesterov momentum needs a momentum above 0");
    mla_optimizer *o = mla_alloc(1, sizeof *o);
    if (!o) return MLA_ERR_NOMEM;
    o->cfg = *cfg;
    o->n = mla_net_trainable_count(net);
    o->state = mla_alloc(mla_optimizer_state_size(o) + 1, sizeof(float));
    /* calloc'd zeros the first update writes: mapped now, one call (nn/layer.h). */
    if (o->state) mla_prefault(o->state, (mla_optimizer_state_size(o) + 1) * sizeof(float));
    if (!o->state || parts_init(o, net)) {
        free(o->state);
        free(o->part_end);
        free(o->claimed);
        free(o);
        return MLA_ERR_NOMEM;
    }
    *out = o;
    return MLA_OK;
}

void mla_optimizer_free(mla_optimizer *opt) {
    if (!opt) return;
    free(opt->state);
    free(opt->part_end);
    free(opt->claimed);
    free(opt->fused);
    free(opt);
}

size_t mla_optimizer_state_size(const mla_optimizer *opt) {
    return opt->cfg.kind == MLA_OPT_ADAM ? 2 * opt->n : opt->n;
}
float *mla_optimizer_state(mla_optimizer *opt) { return opt->state; }
long mla_optimizer_steps(const mla_optimizer *opt) { return opt->steps; }
void mla_optimizer_set_steps(mla_optimizer *opt, long steps) { opt->steps = steps; }
void mla_optimizer_set_lr(mla_optimizer *opt, float lr) { opt->cfg.lr = lr; }

/* Both rules run over blocks of BLOCK floats: each block is updated by a plain loop
 * the compiler vectorises, then, when asked, its gradients are cleared while they are
 * still in L1 (a training step then needs no separate sweep to clear the buffer). Every
 * element's update is independent, so the split between threads cannot change a bit.
 * Each trainable tensor is split across the team on its own (next_block), so that a
 * thread updates the same rows of a weight matrix as the dense layer's forward and weight
 * gradient give it (ops_dense.c): the mlp's 784 x 256 weights, 98 blocks, split at row
 * 128 exactly, where one split of the whole vector put the boundary at row 150. */
enum { BLOCK = 2048 };

/* This thread's blocks of each part in turn (of each part's blocks, the team's static
 * split: contiguous, even), as lo and len in the flat vector; false after the last.
 * Start from a zeroed iterator. */
typedef struct {
    int part;
    size_t b, b1, base, end;
} block_iter;

static bool next_block(const mla_optimizer *o, block_iter *it, size_t *lo, size_t *len) {
    int t = omp_get_thread_num(), team = omp_get_num_threads();
    while (it->b >= it->b1) {
        if (it->part >= o->parts) return false;
        it->base = it->part ? o->part_end[it->part - 1] : 0;
        it->end = o->part_end[it->part++];
        if (o->claimed[it->part - 1]) { /* done in the backward */
            it->b = it->b1 = 0;
            continue;
        }
        size_t blocks = (it->end - it->base + BLOCK - 1) / BLOCK;
        it->b = blocks * (size_t)t / (size_t)team;
        it->b1 = blocks * (size_t)(t + 1) / (size_t)team;
    }
    *lo = it->base + it->b * BLOCK;
    *len = it->end - *lo < BLOCK ? it->end - *lo : BLOCK;
    it->b++;
    return true;
}

typedef struct {
    float lr, mu, wd;
    bool first, nesterov;
} sgd_consts;

static void sgd_block(const sgd_consts *k, float *restrict p, const float *restrict g, float *restrict buf, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + k->wd * p[i];
        if (k->mu > 0) {
            buf[i] = k->first ? d : k->mu * buf[i] + d;
            d = k->nesterov ? d + k->mu * buf[i] : buf[i];
        }
        p[i] -= k->lr * d;
    }
}

/* The updates run with subnormal numbers flushed to zero (x86's FTZ and DAZ, set on
 * each thread for the update alone and restored after). The moments of a parameter
 * whose gradient stays zero (a weight on a pixel that is always black) decay
 * geometrically into the subnormal range, where every operation on them takes a
 * microcode assist: the mlp preset's Adam step grew from about 9% of a training step
 * to 17% of a three-epoch run's profile, and the run as a whole slowed from ~170k
 * samples/s (one epoch) to ~125k (six). Values that are not subnormal give the same
 * bits either way. */
typedef struct {
    unsigned csr;
} flush_state;

static flush_state flush_subnormals_begin(void) {
    flush_state f = {0};
#if defined(__SSE__)
    f.csr = _mm_getcsr();
    _mm_setcsr(f.csr | 0x8040); /* FTZ (bit 15) | DAZ (bit 6) */
#endif
    return f;
}

static void flush_subnormals_end(flush_state f) {
#if defined(__SSE__)
    _mm_setcsr(f.csr);
#else
    (void)f;
#endif
}

static void sgd_update(mla_optimizer *o, float *p, float *g, bool zero) {
    const sgd_consts k = {o->cfg.lr, o->cfg.momentum, o->cfg.weight_decay, o->steps == 0, o->cfg.nesterov};
    size_t n = o->n;
#pragma omp parallel if (n > 65536)
    {
        flush_state f = flush_subnormals_begin();
        block_iter it = {0};
        size_t lo, len;
        while (next_block(o, &it, &lo, &len)) {
            sgd_block(&k, p + lo, g + lo, o->state + lo, len);
            if (zero) memset(g + lo, 0, len * sizeof(float));
        }
        flush_subnormals_end(f);
    }
}

typedef struct {
    float step, b1, b2, inv_bc2, eps, wd, dwd;
} adam_consts;

/* PyTorch's update, term for term, but for one division: sqrt(v) / bc2 is taken as
 * sqrt(v) * (1 / bc2) (within an ulp). The loop vectorises (sqrtf needs -fno-math-errno);
 * the square root and the divisions share one unit, and the division fewer took the
 * mlp's update from 83 to 68 us a step (replacing the other by a refined reciprocal
 * estimate gained only 8% more: the rest is memory). */
static void adam_block(const adam_consts *k, float *restrict p, const float *restrict g, float *restrict m,
                       float *restrict v, size_t n) {
    const float step = k->step, b1 = k->b1, b2 = k->b2, inv_bc2 = k->inv_bc2, eps = k->eps, wd = k->wd,
                dwd = k->dwd;
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        float pi = p[i] - dwd * p[i];
        float mi = b1 * m[i] + (1.0f - b1) * d;
        float vi = b2 * v[i] + (1.0f - b2) * d * d;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step * mi / (sqrtf(vi) * inv_bc2 + eps);
    }
}

/* The constants of the next step's update. */
static adam_consts adam_consts_next(const mla_optimizer *o) {
    const mla_opt_config *c = &o->cfg;
    double t = (double)(o->steps + 1);
    const float bc1 = (float)(1.0 - pow(c->beta1, t)), bc2 = (float)sqrt(1.0 - pow(c->beta2, t));
    const adam_consts k = {c->lr / bc1, c->beta1, c->beta2, 1.0f / bc2, c->eps, c->decoupled ? 0.0f : c->weight_decay,
                           c->decoupled ? c->lr * c->weight_decay : 0.0f};
    return k;
}

/* The floats of the parts the pass updates (all but those claimed). */
static size_t unclaimed(const mla_optimizer *o) {
    size_t count = 0;
    for (int i = 0; i < o->parts; i++)
        if (!o->claimed[i]) count += o->part_end[i] - (i ? o->part_end[i - 1] : 0);
    return count;
}

static void adam_update(mla_optimizer *o, float *p, float *g, bool zero) {
    const adam_consts k = adam_consts_next(o);
    size_t n = o->n;
    float *m = o->state, *v = o->state + n;
#pragma omp parallel if (unclaimed(o) > 65536)
    {
        flush_state f = flush_subnormals_begin();
        block_iter it = {0};
        size_t lo, len;
        while (next_block(o, &it, &lo, &len)) {
            adam_block(&k, p + lo, g + lo, m + lo, v + lo, len);
            if (zero) memset(g + lo, 0, len * sizeof(float));
        }
        flush_subnormals_end(f);
    }
}

/* ---- the update fused into the backward (nn/optim_fused.h) ---- */

struct mla_opt_fused {
    mla_optimizer *o;
    adam_consts k;
    float *p, *m, *v; /* the flat vector's, the moments' */
};

mla_opt_fused *mla_optimizer_fuse_begin(mla_optimizer *opt, mla_net *net) {
    memset(opt->claimed, 0, (size_t)opt->parts * sizeof(bool));
    if (opt->cfg.kind != MLA_OPT_ADAM || mla_net_frozen(net) || mla_net_trainable_count(net) != opt->n)
        return NULL;
    if (!opt->fused && !(opt->fused = mla_alloc(1, sizeof *opt->fused))) return NULL; /* then unfused */
    mla_opt_fused *f = opt->fused;
    f->o = opt;
    f->k = adam_consts_next(opt);
    f->p = mla_net_params(net);
    f->m = opt->state;
    f->v = opt->state + opt->n;
    return f;
}

bool mla_opt_fused_claim(mla_opt_fused *f, size_t off, size_t count) {
    const mla_optimizer *o = f->o;
    for (int i = 0; i < o->parts; i++)
        if ((i ? o->part_end[i - 1] : 0) == off && o->part_end[i] == off + count) return o->claimed[i] = true;
    return false;
}

void mla_opt_fused_rows(const mla_opt_fused *f, size_t off, size_t ld, float *g, size_t ldg, int rows, int cols) {
    flush_state fs = flush_subnormals_begin();
    for (int i = 0; i < rows; i++) {
        float *gi = g + (size_t)i * ldg;
        size_t at = off + (size_t)i * ld;
        for (int j = 0; j < cols; j++) gi[j] = 0.0f + gi[j];
        adam_block(&f->k, f->p + at, gi, f->m + at, f->v + at, (size_t)cols);
    }
    flush_subnormals_end(fs);
}

void mla_optimizer_fuse_end(mla_optimizer *opt, mla_net *net) {
    adam_update(opt, mla_net_params(net), mla_net_grads(net), true);
    opt->steps++;
    memset(opt->claimed, 0, (size_t)opt->parts * sizeof(bool));
}

/* One update; with zero, the gradient buffer is left cleared (a frozen net's too). */
static void optimizer_update(mla_optimizer *opt, mla_net *net, bool zero) {
    memset(opt->claimed, 0, (size_t)opt->parts * sizeof(bool)); /* a fused step cut short */
    if (mla_net_frozen(net)) {
        if (zero) mla_net_zero_grads(net);
        return;
    }
    if (opt->cfg.kind == MLA_OPT_ADAM)
        adam_update(opt, mla_net_params(net), mla_net_grads(net), zero);
    else
        sgd_update(opt, mla_net_params(net), mla_net_grads(net), zero);
    opt->steps++;
}

void mla_optimizer_step(mla_optimizer *opt, mla_net *net) { optimizer_update(opt, net, false); }
void mla_optimizer_step_and_zero_grads(mla_optimizer *opt, mla_net *net) { optimizer_update(opt, net, true); }

mla_status mla_sched_kind_parse(const char *name, mla_sched_kind *out) {
    if (!strcmp(name, "constant") || !strcmp(name, "none")) *out = MLA_SCHED_CONSTANT;
    else if (!strcmp(name, "step")) *out = MLA_SCHED_STEP;
    else if (!strcmp(name, "cosine")) *out = MLA_SCHED_COSINE;
    else return mla_error(MLA_ERR_INVALID, "unknown learning-rate schedule '%s' (constant, step, cosine)", name);
    return MLA_OK;
}

float mla_lr_at(mla_sched_kind kind, float base, int epoch, int epochs, int step_size, float gamma) {
    switch (kind) {
    case MLA_SCHED_STEP:
        return base * powf(gamma, (float)(epoch / (step_size > 0 ? step_size : 1)));
    case MLA_SCHED_COSINE:
        return epochs > 0 ? (float)(0.5 * base * (1.0 + cos(3.14159265358979323846 * epoch / epochs))) : base;
    case MLA_SCHED_CONSTANT:
        break;
    }
    return base;
}
