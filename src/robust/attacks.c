/* White-box attacks on a differentiable model: FGSM, BIM, PGD (L_inf and L2) and C&W L2.
 * The update rules and losses are stated in robust.h. Every attack works chunk by chunk
 * (cfg->batch samples per forward and backward); per-sample state (random starts, c,
 * the best C&W result) depends only on the sample's index, so the batch size does not
 * change the result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/robust.h"

/* ---- the one-net model ---- */

typedef struct {
    mla_net *net;
} net_model;

static mla_status net_forward(void *user, const float *x, int n, const float **logits) {
    return mla_net_forward((mla_net *)user, x, n, false, logits);
}

/* The net's parameter gradients are not wanted; a frozen net skips them. The frozen
 * flag is restored so the caller's net is left as it was. */
static mla_status net_backward(void *user, const float *dlogits, float *dx) {
    mla_net *net = user;
    bool frozen = mla_net_frozen(net);
    mla_net_set_frozen(net, true);
    mla_status s = mla_net_backward(net, dlogits, dx);
    mla_net_set_frozen(net, frozen);
    return s;
}

mla_adv_model mla_adv_model_net(mla_net *net) {
    return (mla_adv_model){.user = net, .dim = mla_shape_size(mla_net_input_shape(net)), .classes = mla_net_classes(net),
                           .forward = net_forward, .backward = net_backward};
}

/* ---- names and settings ---- */

static const char *const kind_names[] = {"fgsm", "bim", "pgd", "pgd-l2", "cw"};

mla_status mla_adv_kind_parse(const char *name, mla_adv_kind *out) {
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, kind_names[i])) {
            *out = (mla_adv_kind)i;
            return MLA_OK;
        }
    return mla_error(MLA_ERR_INVALID, "unknown attack '%s' (fgsm, bim, pgd, pgd-l2, cw)", name);
}

const char *mla_adv_kind_name(mla_adv_kind kind) {
    return kind >= 0 && kind <= MLA_ADV_CW ? kind_names[kind] : "?";
}

mla_adv_config mla_adv_defaults(mla_adv_kind kind) {
    mla_adv_config c = {.kind = kind, .eps = 0.25f, .step = 0.01f, .iterations = 100, .batch = 100,
                           .cw_c = 0.01f, .cw_search = 6, .cw_iterations = 100, .cw_lr = 0.01f};
    if (kind == MLA_ADV_FGSM) c.iterations = 1;
    if (kind == MLA_ADV_PGD) c.eps = 0.3f, c.iterations = 40;
    if (kind == MLA_ADV_PGD_L2) c.eps = 2.0f, c.step = 0.1f, c.iterations = 40;
    return c;
}

mla_status mla_adv_check(const mla_adv_config *c) {
    bool linf = c->kind != MLA_ADV_PGD_L2 && c->kind != MLA_ADV_CW;
    if (c->kind < MLA_ADV_FGSM || c->kind > MLA_ADV_CW) return mla_error(MLA_ERR_INVALID, "unknown attack");
    if (linf && !(c->eps > 0 && c->eps <= 1))
        return mla_error(MLA_ERR_INVALID, "eps must be in (0, 1] (pixels are in [0, 1]), got %g", c->eps);
    if (c->kind == MLA_ADV_PGD_L2 && !(c->eps > 0 && isfinite(c->eps)))
        return mla_error(MLA_ERR_INVALID, "eps must be > 0, got %g", c->eps);
    bool iterative = c->kind == MLA_ADV_BIM || c->kind == MLA_ADV_PGD || c->kind == MLA_ADV_PGD_L2;
    if (iterative && !(c->step > 0 && isfinite(c->step)))
        return mla_error(MLA_ERR_INVALID, "step must be > 0, got %g", c->step);
    if (iterative && c->iterations < 1) return mla_error(MLA_ERR_INVALID, "iterations must be >= 1");
    if (c->batch < 1) return mla_error(MLA_ERR_INVALID, "batch must be >= 1");
    if (c->kind == MLA_ADV_CW &&
        !(c->cw_c > 0 && c->cw_search >= 1 && c->cw_iterations >= 1 && c->cw_lr > 0 && c->cw_kappa >= 0))
        return mla_error(MLA_ERR_INVALID, "C&W needs c > 0, search >= 1, iterations >= 1, lr > 0, kappa >= 0");
    return MLA_OK;
}

/* ---- losses ---- */

/* The largest logit other than `skip`. */
static int best_other(const float *z, int k, int skip) {
    int b = -1;
    for (int j = 0; j < k; j++)
        if (j != skip && (b < 0 || z[j] > z[b])) b = j;
    return b;
}

/* C&W's f for one sample and its gradient in the logits (dz, k values, overwritten). */
static double cw_f(const float *z, int k, int label, int target, bool targeted, float kappa, float *dz) {
    memset(dz, 0, (size_t)k * sizeof *dz);
    int t = targeted ? target : label, o = best_other(z, k, t);
    double margin = targeted ? (double)z[o] - z[t] : (double)z[t] - z[o];
    if (margin <= -kappa) return -kappa;
    dz[t] = targeted ? -1.0f : 1.0f;
    dz[o] = targeted ? 1.0f : -1.0f;
    return margin;
}

/* Per-sample ascent loss and d loss / d logits (n x k) at the model's last forward. The
 * gradient attacks ascend CE(y) or -CE(t); C&W's part is -c f (the distance term is
 * added by the caller). */
static void logit_loss(const mla_adv_config *cfg, const float *logits, int n, int k, const int32_t *labels,
                       const int32_t *targets, const float *c, double *loss, float *dz) {
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        float *d = dz + (size_t)i * k;
        if (cfg->kind == MLA_ADV_CW) {
            double f = cw_f(z, k, labels[i], targets ? targets[i] : 0, cfg->targeted, cfg->cw_kappa, d);
            for (int j = 0; j < k; j++) d[j] *= -c[i];
            loss[i] = -c[i] * f;
        } else {
            int32_t y = cfg->targeted ? targets[i] : labels[i];
            double ce = mla_loss_softmax_ce(z, 1, k, &y, NULL, d, NULL);
            if (cfg->targeted)
                for (int j = 0; j < k; j++) d[j] = -d[j];
            loss[i] = cfg->targeted ? -ce : ce;
        }
    }
}

/* Scratch for one chunk. */
typedef struct {
    float *dz, *logits; /* n x classes: the loss gradient, and a copy of the last logits */
    double *loss;
} scratch;

static mla_status scratch_alloc(scratch *s, int n, int k) {
    s->dz = mla_alloc((size_t)n * k, sizeof(float));
    s->logits = mla_alloc((size_t)n * k, sizeof(float));
    s->loss = mla_alloc((size_t)n, sizeof(double));
    return s->dz && s->logits && s->loss ? MLA_OK : MLA_ERR_NOMEM;
}

static void scratch_free(scratch *s) {
    free(s->dz);
    free(s->logits);
    free(s->loss);
}

/* Forward, per-sample loss and (grad not NULL) its input gradient, for one chunk;
 * leaves the chunk's logits in s->logits and losses in s->loss. */
static mla_status chunk_loss(const mla_adv_model *m, const mla_adv_config *cfg, const float *x, const float *x0,
                             const int32_t *labels, const int32_t *targets, const float *c, int n, long first,
                             scratch *s, float *grad) {
    const float *logits;
    mla_status st = m->forward(m->user, x, n, &logits);
    if (st) return st;
    memcpy(s->logits, logits, (size_t)n * m->classes * sizeof(float));
    if (m->objective) st = m->objective(m->user, first, s->logits, n, s->loss, s->dz);
    else logit_loss(cfg, s->logits, n, m->classes, labels, targets, c, s->loss, s->dz);
    if (st) return st;
    if (grad && (st = m->backward(m->user, s->dz, grad))) return st;
    if (cfg->kind == MLA_ADV_CW)
        for (int i = 0; i < n; i++) {
            size_t off = (size_t)i * m->dim;
            double sq = 0;
            for (int j = 0; j < m->dim; j++) {
                double d = (double)x[off + j] - x0[off + j];
                sq += d * d;
                if (grad) grad[off + j] -= (float)(2 * d);
            }
            s->loss[i] -= sq;
        }
    return MLA_OK;
}

static mla_status check_labels(const mla_adv_model *m, const mla_adv_config *cfg, const int32_t *labels,
                               const int32_t *targets, int n) {
    if (cfg->targeted && !targets) return mla_error(MLA_ERR_INVALID, "a targeted attack needs targets");
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= m->classes)
            return mla_error(MLA_ERR_INVALID, "label %d of sample %d outside [0, %d)", labels[i], i, m->classes);
        if (cfg->targeted && (targets[i] < 0 || targets[i] >= m->classes))
            return mla_error(MLA_ERR_INVALID, "target %d of sample %d outside [0, %d)", targets[i], i, m->classes);
    }
    return MLA_OK;
}

mla_status mla_adv_loss(const mla_adv_model *m, const mla_adv_config *cfg, const float *x, const float *x0,
                           const int32_t *labels, const int32_t *targets, const float *c, int n, double *loss,
                           float *grad) {
    mla_status st = check_labels(m, cfg, labels, targets, n);
    if (st) return st;
    scratch s;
    if (!st) st = scratch_alloc(&s, n, m->classes);
    if (!st) st = chunk_loss(m, cfg, x, x0, labels, targets, c, n, 0, &s, grad);
    if (!st && loss) memcpy(loss, s.loss, (size_t)n * sizeof *loss);
    scratch_free(&s);
    return st;
}

/* ---- the gradient attacks ---- */

static float clip01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

static float sign(float g) { return g > 0 ? 1.0f : g < 0 ? -1.0f : 0.0f; }

/* The random start of sample `index` (PGD: uniform in the L_inf ball; PGD-L2: torchattacks'
 * scaled normal direction), clipped to [0, 1]. */
static void random_start(const mla_adv_config *cfg, const float *x0, float *x, int dim, long index) {
    mla_rng base, r;
    mla_rng_seed(&base, cfg->seed);
    r = mla_rng_fork(&base, (uint64_t)index);
    if (cfg->kind == MLA_ADV_PGD) {
        for (int j = 0; j < dim; j++) x[j] = clip01(x0[j] + cfg->eps * (float)(2 * mla_rng_uniform(&r) - 1));
        return;
    }
    double sq = 0;
    for (int j = 0; j < dim; j++) {
        x[j] = (float)mla_rng_normal(&r);
        sq += (double)x[j] * x[j];
    }
    double scale = cfg->eps * mla_rng_uniform(&r) / (sqrt(sq) + 1e-12);
    for (int j = 0; j < dim; j++) x[j] = clip01(x0[j] + (float)(scale * x[j]));
}

/* One ascent step of sample rows: x <- projection of x + step along g, around x0. */
static void step_linf(float *x, const float *x0, const float *g, int dim, float step, float eps) {
    for (int j = 0; j < dim; j++) {
        float v = clip01(x[j] + step * sign(g[j]));
        float lo = x0[j] - eps, hi = x0[j] + eps;
        x[j] = v < lo ? lo : v > hi ? hi : v;
    }
}

static void step_l2(float *x, const float *x0, const float *g, int dim, float step, float eps) {
    double gn = 0;
    for (int j = 0; j < dim; j++) gn += (double)g[j] * g[j];
    gn = sqrt(gn) + 1e-12;
    double dn = 0;
    for (int j = 0; j < dim; j++) {
        x[j] = x[j] + (float)(step * g[j] / gn) - x0[j]; /* the new delta */
        dn += (double)x[j] * x[j];
    }
    dn = sqrt(dn);
    float f = dn > eps ? (float)(eps / dn) : 1.0f;
    for (int j = 0; j < dim; j++) x[j] = clip01(x0[j] + x[j] * f);
}

static mla_status gradient_chunk(const mla_adv_model *m, const mla_adv_config *cfg, const float *x0,
                                 const int32_t *labels, const int32_t *targets, int n, long first, scratch *s,
                                 float *grad, float *x) {
    int dim = m->dim;
    bool start = cfg->kind == MLA_ADV_PGD || cfg->kind == MLA_ADV_PGD_L2;
    for (int i = 0; i < n; i++) {
        size_t off = (size_t)i * dim;
        if (start) random_start(cfg, x0 + off, x + off, dim, first + i);
        else memcpy(x + off, x0 + off, (size_t)dim * sizeof *x);
    }
    int iters = cfg->kind == MLA_ADV_FGSM ? 1 : cfg->iterations;
    float step = cfg->kind == MLA_ADV_FGSM ? cfg->eps : cfg->step;
    for (int it = 0; it < iters; it++) {
        mla_status st = chunk_loss(m, cfg, x, x0, labels, targets, NULL, n, first, s, grad);
        if (st) return st;
        for (int i = 0; i < n; i++) {
            size_t off = (size_t)i * dim;
            if (cfg->kind == MLA_ADV_PGD_L2) step_l2(x + off, x0 + off, grad + off, dim, step, cfg->eps);
            else step_linf(x + off, x0 + off, grad + off, dim, step, cfg->eps);
        }
    }
    return MLA_OK;
}

/* ---- C&W L2 ---- */

/* Per-chunk state of C&W: the variable w, Adam's moments, the search bounds on c. */
typedef struct {
    float *w, *m1, *m2, *xa, *best, *c;
    double *best_l2, *lo, *hi;
    bool *found;
} cw_state;

/* Success: the predicted class (argmax, ties to the smaller class) is the target (is not
 * the label), with a logit margin of at least kappa. */
static bool cw_success(const float *z, int k, int label, int target, bool targeted, float kappa) {
    int top = best_other(z, k, -1);
    if (targeted) return top == target && (double)z[target] - z[best_other(z, k, target)] >= kappa;
    return top != label && (double)z[top] - z[label] >= kappa;
}

/* Adam steps on w for one value of c per sample; records the smallest-L2 success. */
static mla_status cw_descend(const mla_adv_model *m, const mla_adv_config *cfg, const float *x0,
                             const int32_t *labels, const int32_t *targets, int n, scratch *s, float *grad,
                             cw_state *cs, bool *succeeded) {
    int dim = m->dim, k = m->classes;
    size_t count = (size_t)n * dim;
    for (size_t j = 0; j < count; j++) {
        float v = (2 * x0[j] - 1) * 0.999999f; /* w = atanh(2 x - 1), kept finite at 0 and 1 */
        cs->w[j] = atanhf(v);
        cs->m1[j] = cs->m2[j] = 0;
    }
    memset(succeeded, 0, (size_t)n * sizeof *succeeded);
    const float b1 = 0.9f, b2 = 0.999f;
    for (int it = 0; it < cfg->cw_iterations; it++) {
        for (size_t j = 0; j < count; j++) cs->xa[j] = (tanhf(cs->w[j]) + 1) / 2;
        mla_status st = chunk_loss(m, cfg, cs->xa, x0, labels, targets, cs->c, n, 0, s, grad);
        if (st) return st;
        /* s->logits are this iterate's: record a success before the step. */
        for (int i = 0; i < n; i++) {
            size_t off = (size_t)i * dim;
            if (!cw_success(s->logits + (size_t)i * k, k, labels[i], targets ? targets[i] : 0, cfg->targeted,
                            cfg->cw_kappa))
                continue;
            succeeded[i] = true;
            double l2 = 0;
            for (int j = 0; j < dim; j++) l2 += ((double)cs->xa[off + j] - x0[off + j]) * (cs->xa[off + j] - x0[off + j]);
            if (l2 < cs->best_l2[i]) {
                cs->best_l2[i] = l2;
                cs->found[i] = true;
                memcpy(cs->best + off, cs->xa + off, (size_t)dim * sizeof(float));
            }
        }
        float bc1 = 1 - powf(b1, (float)(it + 1)), bc2 = 1 - powf(b2, (float)(it + 1));
        for (size_t j = 0; j < count; j++) {
            float t = tanhf(cs->w[j]);
            float g = -grad[j] * (1 - t * t) / 2; /* descend the objective (= ascend the loss) */
            cs->m1[j] = b1 * cs->m1[j] + (1 - b1) * g;
            cs->m2[j] = b2 * cs->m2[j] + (1 - b2) * g * g;
            cs->w[j] -= cfg->cw_lr * (cs->m1[j] / bc1) / (sqrtf(cs->m2[j] / bc2) + 1e-8f);
        }
    }
    return MLA_OK;
}

static mla_status cw_chunk(const mla_adv_model *m, const mla_adv_config *cfg, const float *x0,
                           const int32_t *labels, const int32_t *targets, int n, scratch *s, float *grad, float *adv) {
    size_t count = (size_t)n * m->dim;
    cw_state cs = {mla_alloc(count, 4), mla_alloc(count, 4), mla_alloc(count, 4), mla_alloc(count, 4),
                   mla_alloc(count, 4), mla_alloc((size_t)n, 4), mla_alloc((size_t)n, 8), mla_alloc((size_t)n, 8),
                   mla_alloc((size_t)n, 8), mla_alloc((size_t)n, 1)};
    bool *ok = mla_alloc((size_t)n, 1);
    mla_status st = MLA_OK;
    if (!cs.w || !cs.m1 || !cs.m2 || !cs.xa || !cs.best || !cs.c || !cs.best_l2 || !cs.lo || !cs.hi || !cs.found || !ok)
        st = MLA_ERR_NOMEM;
    for (int i = 0; !st && i < n; i++) {
        cs.c[i] = cfg->cw_c;
        cs.lo[i] = 0;
        cs.hi[i] = INFINITY;
        cs.best_l2[i] = INFINITY;
    }
    if (!st) memcpy(cs.best, x0, count * sizeof(float));
    for (int step = 0; !st && step < cfg->cw_search; step++) {
        st = cw_descend(m, cfg, x0, labels, targets, n, s, grad, &cs, ok);
        /* Binary search (Carlini & Wagner): success lowers the upper bound, failure
         * raises the lower one (x10 while no upper bound is known). */
        for (int i = 0; !st && i < n; i++) {
            if (ok[i]) cs.hi[i] = cs.c[i];
            else cs.lo[i] = cs.c[i];
            cs.c[i] = isfinite(cs.hi[i]) ? (float)((cs.lo[i] + cs.hi[i]) / 2) : cs.c[i] * 10;
        }
    }
    if (!st) memcpy(adv, cs.best, count * sizeof(float));
    free(cs.w), free(cs.m1), free(cs.m2), free(cs.xa), free(cs.best), free(cs.c);
    free(cs.best_l2), free(cs.lo), free(cs.hi), free(cs.found), free(ok);
    return st;
}

mla_status mla_adv_run(const mla_adv_model *m, const mla_adv_config *cfg, const float *x,
                          const int32_t *labels, const int32_t *targets, int n, float *adv) {
    mla_status st = mla_adv_check(cfg);
    if (!st && m->objective && cfg->kind == MLA_ADV_CW)
        st = mla_error(MLA_ERR_INVALID, "C&W needs logits; this model has its own objective");
    if (!st) st = check_labels(m, cfg, labels, targets, n);
    for (size_t j = 0; !st && j < (size_t)n * m->dim; j++)
        if (!(x[j] >= 0 && x[j] <= 1)) st = mla_error(MLA_ERR_INVALID, "attack input outside [0, 1] (value %g)", x[j]);
    if (st) return st;
    int b = cfg->batch < n ? cfg->batch : n;
    scratch s;
    st = scratch_alloc(&s, b, m->classes);
    float *grad = mla_alloc((size_t)b * m->dim, sizeof(float));
    if (!grad) st = MLA_ERR_NOMEM;
    for (int first = 0; !st && first < n; first += b) {
        int len = n - first < b ? n - first : b;
        size_t off = (size_t)first * m->dim;
        const int32_t *t = targets ? targets + first : NULL;
        st = cfg->kind == MLA_ADV_CW ? cw_chunk(m, cfg, x + off, labels + first, t, len, &s, grad, adv + off)
                                        : gradient_chunk(m, cfg, x + off, labels + first, t, len, first, &s, grad,
                                                         adv + off);
    }
    scratch_free(&s);
    free(grad);
    return st;
}
