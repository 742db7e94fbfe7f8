/* Optimizers over a net's trainable parameters, with PyTorch's update rules:
 *   SGD:  g += wd p; b = mu b + g (b = g at the first step); g = nesterov ? g + mu b : b; p -= lr g
 *   Adam: g += wd p (or p -= lr wd p when decoupled); m, v moments; bias-corrected step
 *         p -= lr mhat / (sqrt(vhat) + eps). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/nn.h"

struct mla_optimizer {
    mla_opt_config cfg;
    size_t n;
    float *state;     /* SGD: momentum [n]; Adam: m [n], v [n] */
    long steps;
};

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
    if (!o->state) {
        free(o);
        return MLA_ERR_NOMEM;
    }
    *out = o;
    return MLA_OK;
}

void mla_optimizer_free(mla_optimizer *opt) {
    if (!opt) return;
    free(opt->state);
    free(opt);
}

size_t mla_optimizer_state_size(const mla_optimizer *opt) {
    return opt->cfg.kind == MLA_OPT_ADAM ? 2 * opt->n : opt->n;
}
float *mla_optimizer_state(mla_optimizer *opt) { return opt->state; }
long mla_optimizer_steps(const mla_optimizer *opt) { return opt->steps; }
void mla_optimizer_set_steps(mla_optimizer *opt, long steps) { opt->steps = steps; }
void mla_optimizer_set_lr(mla_optimizer *opt, float lr) { opt->cfg.lr = lr; }

/* The update rules below are inlined into each caller with `zero` a constant, so the
 * loops stay branch-free: with zero set they leave each gradient at 0 once read, in the
 * same pass (a training step then needs no separate sweep to clear the buffer). */
static inline __attribute__((always_inline)) void sgd_update(mla_optimizer *o, float *restrict p,
                                                             float *restrict g, bool zero) {
    const float lr = o->cfg.lr, mu = o->cfg.momentum, wd = o->cfg.weight_decay;
    float *restrict buf = o->state;
    bool first = o->steps == 0, nesterov = o->cfg.nesterov;
#pragma omp parallel for schedule(static) if (o->n > 65536)
    for (size_t i = 0; i < o->n; i++) {
        float d = g[i] + wd * p[i];
        if (zero) g[i] = 0.0f;
        if (mu > 0) {
            buf[i] = first ? d : mu * buf[i] + d;
            d = nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

static inline __attribute__((always_inline)) void adam_update(mla_optimizer *o, float *restrict p,
                                                              float *restrict g, bool zero) {
    const mla_opt_config *c = &o->cfg;
    float *restrict m = o->state, *restrict v = o->state + o->n;
    double t = (double)(o->steps + 1);
    const float bc1 = (float)(1.0 - pow(c->beta1, t)), bc2 = (float)sqrt(1.0 - pow(c->beta2, t));
    const float step = c->lr / bc1, b1 = c->beta1, b2 = c->beta2, eps = c->eps;
    const float wd = c->decoupled ? 0.0f : c->weight_decay, dwd = c->decoupled ? c->lr * c->weight_decay : 0.0f;
    /* PyTorch's update, term for term. The loop vectorises (sqrtf needs -fno-math-errno). */
#pragma omp parallel for simd schedule(static) if (o->n > 65536)
    for (size_t i = 0; i < o->n; i++) {
        float d = g[i] + wd * p[i];
        if (zero) g[i] = 0.0f;
        float pi = p[i] - dwd * p[i];
        float mi = b1 * m[i] + (1.0f - b1) * d;
        float vi = b2 * v[i] + (1.0f - b2) * d * d;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step * mi / (sqrtf(vi) / bc2 + eps);
    }
}

static void sgd_step(mla_optimizer *o, float *p, float *g) { sgd_update(o, p, g, false); }
static void sgd_step_zero(mla_optimizer *o, float *p, float *g) { sgd_update(o, p, g, true); }
static void adam_step(mla_optimizer *o, float *p, float *g) { adam_update(o, p, g, false); }
static void adam_step_zero(mla_optimizer *o, float *p, float *g) { adam_update(o, p, g, true); }

void mla_optimizer_step(mla_optimizer *opt, mla_net *net) {
    if (mla_net_frozen(net)) return;
    if (opt->cfg.kind == MLA_OPT_ADAM)
        adam_step(opt, mla_net_params(net), mla_net_grads(net));
    else
        sgd_step(opt, mla_net_params(net), mla_net_grads(net));
    opt->steps++;
}

void mla_optimizer_step_and_zero_grads(mla_optimizer *opt, mla_net *net) {
    if (mla_net_frozen(net)) {
        mla_net_zero_grads(net);
        return;
    }
    if (opt->cfg.kind == MLA_OPT_ADAM)
        adam_step_zero(opt, mla_net_params(net), mla_net_grads(net));
    else
        sgd_step_zero(opt, mla_net_params(net), mla_net_grads(net));
    opt->steps++;
}

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
