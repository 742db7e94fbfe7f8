/* Multinomial (softmax) logistic regression with an L2 penalty, fitted by L-BFGS.
 *
 * Objective (linear.h): mean log-loss + 1/(2 C n) ||W||^2, the intercepts unpenalised. Its
 * minimiser is scikit-learn's LogisticRegression(C) (C * summed log-loss + ||W||^2 / 2, scaled
 * by 1/(C n)). Parameters: C (default 1), max_iter (L-BFGS iterations, default 200), tol (stop
 * when the largest gradient entry is <= tol, default 1e-4, as scikit-learn's lbfgs gtol). Also
 * stops when an iteration lowers f by a relative 64 * DBL_EPSILON or less (scikit-learn's ftol).
 * Training starts from zero weights and draws no random numbers, so the seed is unused; results
 * are the same bits for the same data and thread count (BLAS with a fixed thread count,
 * OpenMP static schedules, fixed-order sums).
 *
 * The objective and gradient run on the whole matrix with two dgemm calls (the training rows are
 * held as doubles for the optimiser's sake: n * d * 8 bytes); predictions use sgemm.
 */
#include "classic/classifier_impl.h"
#include "classic/linear.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { P_C, P_MAX_ITER, P_TOL, P_COUNT };
static const char *const logreg_param_names[] = {"C", "max_iter", "tol", NULL};

typedef struct {
    double v[P_COUNT];
    int d, classes;
    double *theta; /* [W (classes x d), b (classes)]; NULL until fitted */
    int iterations; /* L-BFGS iterations the last fit ran (not saved) */
} logreg_state;

/* ---- parameters ---- */

static mla_status check_params(const double *v) {
    if (!(v[P_C] > 0) || !isfinite(v[P_C])) return mla_error(MLA_ERR_INVALID, "logreg: C must be > 0 (got %g)", v[P_C]);
    if (!(v[P_MAX_ITER] >= 1 && v[P_MAX_ITER] <= 1e7 && v[P_MAX_ITER] == floor(v[P_MAX_ITER])))
        return mla_error(MLA_ERR_INVALID, "logreg: max_iter must be a whole number in [1, 1e7] (got %g)", v[P_MAX_ITER]);
    if (!(v[P_TOL] >= 0) || !isfinite(v[P_TOL]))
        return mla_error(MLA_ERR_INVALID, "logreg: tol must be >= 0 (got %g)", v[P_TOL]);
    return MLA_OK;
}

static mla_status logreg_create(const mla_param *params, int n_params, uint64_t seed, void **state) {
    (void)seed;
    *state = NULL;
    double v[P_COUNT] = {1.0, 200, 1e-4};
    mla_status st = mla_classic_read_params("logreg", logreg_param_names, params, n_params, v, NULL);
    if (st || (st = check_params(v))) return st;
    logreg_state *s = mla_alloc(1, sizeof *s);
    if (!s) return MLA_ERR_NOMEM;
    memcpy(s->v, v, sizeof v);
    *state = s;
    return MLA_OK;
}

static void logreg_free(void *state) {
    logreg_state *s = state;
    if (!s) return;
    free(s->theta);
    free(s);
}

/* ---- objective ---- */

/* Turns row z (classes logits, bias not yet added) into softmax(z + b) - onehot(y); returns the
 * row's log-loss. */
static double softmax_residual(double *z, const double *b, int y, int classes) {
    double top = -INFINITY;
    for (int c = 0; c < classes; c++) {
        z[c] += b[c];
        if (z[c] > top) top = z[c];
    }
    double sum = 0;
    for (int c = 0; c < classes; c++) sum += exp(z[c] - top);
    double lse = top + log(sum), loss = lse - z[y];
    for (int c = 0; c < classes; c++) z[c] = exp(z[c] - lse);
    z[y] -= 1.0;
    return loss;
}

double mla_logreg_loss(const double *theta, const double *x, const int32_t *y, int n, int d, int classes, double l2,
                       double *grad, double *work) {
    const double *w = theta, *b = theta + (size_t)classes * (size_t)d;
    double *z = work, *row_loss = work + (size_t)n * (size_t)classes;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, classes, d, 1.0, x, d, w, d, 0.0, z, classes);
    #pragma omp parallel for schedule(static) num_threads(mla_get_threads())
    for (int i = 0; i < n; i++) row_loss[i] = softmax_residual(z + (size_t)i * (size_t)classes, b, y[i], classes);
    double loss = 0, norm = 0;
    for (int i = 0; i < n; i++) loss += row_loss[i];
    double *gw = grad, *gb = grad + (size_t)classes * (size_t)d;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, classes, d, n, 1.0 / n, z, classes, x, d, 0.0, gw, d);
    for (size_t j = 0; j < (size_t)classes * (size_t)d; j++) {
        gw[j] += l2 * w[j];
        norm += w[j] * w[j];
    }
    for (int c = 0; c < classes; c++) gb[c] = 0;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < classes; c++) gb[c] += z[(size_t)i * (size_t)classes + c];
    for (int c = 0; c < classes; c++) gb[c] /= n;
    return loss / n + 0.5 * l2 * norm;
}

/* ---- L-BFGS ---- */

typedef double (*objective_fn)(const double *theta, double *grad, void *ctx);

typedef struct {
    int dim, memory, count, head; /* count pairs stored, head: next slot */
    double *s, *y, *rho, *alpha;  /* memory x dim, memory x dim, memory, memory */
} lbfgs_memory;

static double dot(const double *a, const double *b, int n) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static double max_abs(const double *a, int n) {
    double top = 0;
    for (int i = 0; i < n; i++) top = fmax(top, fabs(a[i]));
    return top;
}

/* dir = -H g by the two-loop recursion, H0 scaled by s'y / y'y of the newest pair. */
static void lbfgs_direction(lbfgs_memory *m, const double *g, double *dir) {
    int n = m->dim;
    for (int i = 0; i < n; i++) dir[i] = -g[i];
    for (int k = 0; k < m->count; k++) {
        int slot = (m->head - 1 - k + m->memory) % m->memory;
        const double *s = m->s + (size_t)slot * n, *y = m->y + (size_t)slot * n;
        m->alpha[slot] = m->rho[slot] * dot(s, dir, n);
        for (int i = 0; i < n; i++) dir[i] -= m->alpha[slot] * y[i];
    }
    if (m->count > 0) {
        int newest = (m->head - 1 + m->memory) % m->memory;
        const double *y = m->y + (size_t)newest * n;
        double scale = 1.0 / (m->rho[newest] * dot(y, y, n));
        for (int i = 0; i < n; i++) dir[i] *= scale;
    }
    for (int k = m->count - 1; k >= 0; k--) {
        int slot = (m->head - 1 - k + m->memory) % m->memory;
        const double *s = m->s + (size_t)slot * n, *y = m->y + (size_t)slot * n;
        double beta = m->rho[slot] * dot(y, dir, n);
        for (int i = 0; i < n; i++) dir[i] += (m->alpha[slot] - beta) * s[i];
    }
}

/* Stores the pair s = x1 - x0, y = g1 - g0 when it has positive curvature. */
static void lbfgs_remember(lbfgs_memory *m, const double *x0, const double *x1, const double *g0, const double *g1) {
    int n = m->dim;
    double *s = m->s + (size_t)m->head * n, *y = m->y + (size_t)m->head * n;
    for (int i = 0; i < n; i++) {
        s[i] = x1[i] - x0[i];
        y[i] = g1[i] - g0[i];
    }
    double sy = dot(s, y, n);
    if (!(sy > 1e-12 * dot(y, y, n))) return;
    m->rho[m->head] = 1.0 / sy;
    m->head = (m->head + 1) % m->memory;
    if (m->count < m->memory) m->count++;
}

/* Backtracking (Armijo) along dir from x (value f, gradient g) into x1/g1; returns f(x1), or NAN
 * when no step of at least 2^-40 of the first decreases f enough. */
static double line_search(objective_fn fn, void *ctx, int n, const double *x, double f, const double *g,
                          const double *dir, double step, double *x1, double *g1) {
    double slope = dot(g, dir, n);
    for (int tries = 0; tries < 40; tries++, step *= 0.5) {
        for (int i = 0; i < n; i++) x1[i] = x[i] + step * dir[i];
        double f1 = fn(x1, g1, ctx);
        if (isfinite(f1) && f1 <= f + 1e-4 * step * slope) return f1;
    }
    return NAN;
}

/* Minimises fn from x (updated in place) for at most max_iter iterations; returns the iterations
 * run, or -1 when memory runs out. */
static int lbfgs(objective_fn fn, void *ctx, int n, double *x, int max_iter, double gtol) {
    lbfgs_memory m = {.dim = n, .memory = 10};
    m.s = mla_alloc((size_t)m.memory * n, sizeof(double));
    m.y = mla_alloc((size_t)m.memory * n, sizeof(double));
    m.rho = mla_alloc((size_t)m.memory, sizeof(double));
    m.alpha = mla_alloc((size_t)m.memory, sizeof(double));
    double *g = mla_alloc((size_t)n, sizeof *g), *dir = mla_alloc((size_t)n, sizeof *dir);
    double *x1 = mla_alloc((size_t)n, sizeof *x1), *g1 = mla_alloc((size_t)n, sizeof *g1);
    int it = -1;
    if (m.s && m.y && m.rho && m.alpha && g && dir && x1 && g1) {
        double f = fn(x, g, ctx);
        for (it = 0; it < max_iter && max_abs(g, n) > gtol; it++) {
            lbfgs_direction(&m, g, dir);
            if (!(dot(g, dir, n) < 0)) { /* not a descent direction: forget the curvature pairs */
                m.count = 0;
                for (int i = 0; i < n; i++) dir[i] = -g[i];
            }
            double step = m.count ? 1.0 : fmin(1.0, 1.0 / sqrt(dot(g, g, n)));
            double f1 = line_search(fn, ctx, n, x, f, g, dir, step, x1, g1);
            if (isnan(f1)) break;
            lbfgs_remember(&m, x, x1, g, g1);
            double drop = (f - f1) / fmax(fmax(fabs(f), fabs(f1)), 1.0);
            memcpy(x, x1, (size_t)n * sizeof *x);
            memcpy(g, g1, (size_t)n * sizeof *g);
            f = f1;
            if (drop <= 64 * DBL_EPSILON) {
                it++;
                break;
            }
        }
    }
    free(m.s), free(m.y), free(m.rho), free(m.alpha), free(g), free(dir), free(x1), free(g1);
    return it;
}

/* ---- fit ---- */

typedef struct {
    const double *x;
    const int32_t *y;
    int n, d, classes;
    double l2, *work;
} fit_problem;

static double fit_objective(const double *theta, double *grad, void *ctx) {
    const fit_problem *p = ctx;
    return mla_logreg_loss(theta, p->x, p->y, p->n, p->d, p->classes, p->l2, grad, p->work);
}

static mla_status check_fit_input(const float *x, const int32_t *y, int n, int d, int classes) {
    if (n < 1 || d < 1 || classes < 2)
        return mla_error(MLA_ERR_SHAPE, "logreg: need n >= 1, d >= 1, classes >= 2 (got %d, %d, %d)", n, d, classes);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= classes)
            return mla_error(MLA_ERR_INVALID, "logreg: label %d of row %d outside [0, %d)", y[i], i, classes);
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++)
        if (!isfinite(x[i])) return mla_error(MLA_ERR_INVALID, "logreg: non-finite feature in row %zu", i / (size_t)d);
    return MLA_OK;
}

static mla_status logreg_fit(void *state, const float *x, const int32_t *y, int n, int d, int classes) {
    logreg_state *s = state;
    mla_status st = check_fit_input(x, y, n, d, classes);
    if (st) return st;
    size_t count = (size_t)n * (size_t)d, dim = (size_t)classes * ((size_t)d + 1);
    double *xd = mla_alloc_aligned(count, sizeof *xd);
    double *work = mla_alloc((size_t)n * ((size_t)classes + 1), sizeof *work);
    double *theta = mla_alloc(dim, sizeof *theta);
    if (xd && work && theta) {
        for (size_t i = 0; i < count; i++) xd[i] = x[i];
        fit_problem p = {xd, y, n, d, classes, 1.0 / (s->v[P_C] * n), work};
        s->iterations = lbfgs(fit_objective, &p, (int)dim, theta, (int)s->v[P_MAX_ITER], s->v[P_TOL]);
        if (s->iterations < 0) st = MLA_ERR_NOMEM;
    } else {
        st = MLA_ERR_NOMEM;
    }
    free(xd), free(work);
    if (st) {
        free(theta);
        return st;
    }
    free(s->theta);
    s->theta = theta;
    s->d = d;
    s->classes = classes;
    return MLA_OK;
}

/* ---- predict ---- */

static mla_status logreg_predict_proba(const void *state, const float *x, int n, int d, int classes, float *proba) {
    const logreg_state *s = state;
    if (!s->theta) return mla_error(MLA_ERR_INVALID, "logreg: model is not fitted");
    if (d != s->d || classes != s->classes)
        return mla_error(MLA_ERR_SHAPE, "logreg: model has %d features and %d classes, asked for %d and %d", s->d,
                         s->classes, d, classes);
    size_t wcount = (size_t)classes * (size_t)d;
    float *w = mla_alloc(wcount, sizeof *w);
    if (!w) return MLA_ERR_NOMEM;
    for (size_t j = 0; j < wcount; j++) w[j] = (float)s->theta[j];
    if (n > 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, classes, d, 1.0f, x, d, w, d, 0.0f, proba, classes);
    free(w);
    const double *b = s->theta + wcount;
    #pragma omp parallel for schedule(static) num_threads(mla_get_threads())
    for (int i = 0; i < n; i++) {
        float *row = proba + (size_t)i * (size_t)classes;
        double top = -INFINITY, sum = 0;
        for (int c = 0; c < classes; c++) top = fmax(top, row[c] + b[c]);
        for (int c = 0; c < classes; c++) sum += exp(row[c] + b[c] - top);
        double lse = top + log(sum);
        for (int c = 0; c < classes; c++) row[c] = (float)exp(row[c] + b[c] - lse);
    }
    return MLA_OK;
}

/* ---- save / load ----
 * Stream (native byte order): u32 version; f64 C, max_iter, tol; then theta as f64
 * [W (classes x d), b (classes)]. */

#define LOGREG_STREAM_VERSION 1u

static mla_status logreg_save(const void *state, FILE *fp) {
    const logreg_state *s = state;
    if (!s->theta) return mla_error(MLA_ERR_INVALID, "logreg: model is not fitted");
    uint32_t version = LOGREG_STREAM_VERSION;
    size_t dim = (size_t)s->classes * ((size_t)s->d + 1);
    if (fwrite(&version, 4, 1, fp) != 1 || fwrite(s->v, 8, P_COUNT, fp) != P_COUNT ||
        fwrite(s->theta, sizeof *s->theta, dim, fp) != dim)
        return mla_error(MLA_ERR_IO, "logreg: write failed");
    return MLA_OK;
}

static mla_status read_model(FILE *fp, logreg_state *s, size_t dim) {
    uint32_t version;
    if (fread(&version, 4, 1, fp) != 1 || fread(s->v, 8, P_COUNT, fp) != P_COUNT)
        return mla_error(MLA_ERR_FORMAT, "logreg model: truncated header");
    if (version != LOGREG_STREAM_VERSION) return mla_error(MLA_ERR_FORMAT, "logreg model: unknown version %u", version);
    if (check_params(s->v)) return mla_error_prefix(MLA_ERR_FORMAT, "logreg model");
    if (fread(s->theta, sizeof *s->theta, dim, fp) != dim)
        return mla_error(MLA_ERR_FORMAT, "logreg model: truncated weights (%zu expected)", dim);
    for (size_t j = 0; j < dim; j++)
        if (!isfinite(s->theta[j])) return mla_error(MLA_ERR_FORMAT, "logreg model: non-finite weight %zu", j);
    return MLA_OK;
}

static mla_status logreg_load(FILE *fp, int d, int classes, void **state) {
    *state = NULL;
    if (d < 1 || classes < 2) return mla_error(MLA_ERR_FORMAT, "logreg model: bad shape (%d features, %d classes)", d, classes);
    logreg_state *s = mla_alloc(1, sizeof *s);
    if (!s) return MLA_ERR_NOMEM;
    size_t dim = (size_t)classes * ((size_t)d + 1);
    s->d = d;
    s->classes = classes;
    s->theta = mla_alloc(dim, sizeof *s->theta);
    mla_status st = s->theta ? read_model(fp, s, dim) : MLA_ERR_NOMEM;
    if (st) {
        logreg_free(s);
        return st;
    }
    *state = s;
    return MLA_OK;
}

const mla_classifier_ops mla_logreg_ops = {
    .kind = "logreg",
    .param_names = logreg_param_names,
    .create = logreg_create,
    .fit = logreg_fit,
    .predict_proba = logreg_predict_proba,
    .predict = NULL,
    .save = logreg_save,
    .load = logreg_load,
    .free = logreg_free,
};
