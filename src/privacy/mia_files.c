/* The membership arrays as a folder of .npy files (mia.h: mla_mia_arrays_load/_save),
 * the format of `mlaudit mia --from DIR`. */
#include "privacy/mia_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Everything a loaded bundle owns. */
typedef struct {
    float *target_probs, *shadow_probs;
    double *target_phi, *shadow_phi, *target_py, *shadow_py;
    int32_t *labels, *population, *target_aug, *shadow_aug, *sample_index;
    uint8_t *shadow_in, *fit;
    int8_t *truth;
} bundle;

static void bundle_free(bundle *b) {
    if (!b) return;
    free(b->target_probs), free(b->shadow_probs), free(b->target_phi), free(b->shadow_phi);
    free(b->target_py), free(b->shadow_py), free(b->labels), free(b->population), free(b->target_aug);
    free(b->shadow_aug), free(b->sample_index), free(b->shadow_in), free(b->fit), free(b->truth);
    free(b);
}

void mla_mia_loaded_free(mla_mia_loaded *l) {
    if (!l) return;
    bundle_free(l->owned);
    free(l);
}

typedef struct {
    const char *dir;
    char path[4096];
} folder;

static const char *path_of(folder *f, const char *name) {
    snprintf(f->path, sizeof f->path, "%s/%s.npy", f->dir, name);
    return f->path;
}

static bool exists(folder *f, const char *name) { return access(path_of(f, name), F_OK) == 0; }

/* Reads name.npy, which must have ndim dimensions and, where want[i] >= 0, that size. */
static mla_status read_shaped(folder *f, const char *name, int ndim, const int64_t *want, mla_npy_array *a) {
    mla_status s = mla_npy_read(path_of(f, name), a);
    if (s) return s;
    bool ok = a->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = want[i] < 0 || a->shape[i] == want[i];
    if (ok) return MLA_OK;
    char got[128] = "", need[128] = "";
    for (int i = 0; i < a->ndim; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)a->shape[i]);
    for (int i = 0; i < ndim; i++) {
        if (want[i] < 0) snprintf(need + strlen(need), sizeof need - strlen(need), "%sany", i ? ", " : "");
        else snprintf(need + strlen(need), sizeof need - strlen(need), "%s%lld", i ? ", " : "", (long long)want[i]);
    }
    s = mla_error(MLA_ERR_SHAPE, "%s/%s.npy: shape (%s), expected (%s)", f->dir, name, got, need);
    mla_npy_array_free(a);
    return s;
}

static mla_status need_float(folder *f, const char *name, const mla_npy_array *a) {
    return a->f64 ? MLA_OK : mla_error(MLA_ERR_FORMAT, "%s/%s.npy: expected floats, found integers", f->dir, name);
}

static mla_status need_int(folder *f, const char *name, const mla_npy_array *a) {
    return a->i64 ? MLA_OK : mla_error(MLA_ERR_FORMAT, "%s/%s.npy: expected integers, found floats", f->dir, name);
}

/* Integers of name.npy into int32 within [lo, hi]. */
static mla_status ints_in(folder *f, const char *name, const mla_npy_array *a, int64_t lo, int64_t hi, int32_t **out) {
    mla_status s = need_int(f, name, a);
    if (s) return s;
    *out = mla_alloc((size_t)(a->count ? a->count : 1), sizeof(int32_t));
    if (!*out) return MLA_ERR_NOMEM;
    for (int64_t i = 0; i < a->count; i++) {
        if (a->i64[i] < lo || a->i64[i] > hi)
            return mla_error(MLA_ERR_INVALID, "%s/%s.npy: entry %lld is %lld, outside %lld..%lld", f->dir, name,
                             (long long)i, (long long)a->i64[i], (long long)lo, (long long)hi);
        (*out)[i] = (int32_t)a->i64[i];
    }
    return MLA_OK;
}

/* ---- outputs: probabilities, logits or phi ---- */

typedef struct {
    int64_t m, k, c;
    bool probs, logits, phi;
} layout;

static mla_status check_nan(folder *f, const char *name, const mla_npy_array *a) {
    for (int64_t i = 0; i < a->count; i++)
        if (!isfinite(a->f64[i]))
            return mla_error(MLA_ERR_INVALID, "%s/%s.npy: entry %lld is %g", f->dir, name, (long long)i, a->f64[i]);
    return MLA_OK;
}

/* One model's rows of logits into probabilities, phi and p_y. */
static mla_status from_logits(const double *z, int64_t m, int c, const int32_t *labels, float *probs, double *phi,
                              double *py) {
    float *row = mla_alloc((size_t)c, sizeof(float));
    if (!row) return MLA_ERR_NOMEM;
    for (int64_t i = 0; i < m; i++) {
        for (int j = 0; j < c; j++) row[j] = (float)z[i * c + j];
        mla_softmax_rows(row, 1, c, probs + i * c);
        phi[i] = mla_mia_phi_from_logits(row, c, labels[i]);
        py[i] = exp(mla_mia_logpy_from_logits(row, c, labels[i]));
    }
    free(row);
    return MLA_OK;
}

static mla_status load_probs(folder *f, const char *who, layout *l, bundle *b, const int32_t *labels, bool shadow) {
    char name[32];
    snprintf(name, sizeof name, "%s_%s", who, l->logits ? "logits" : "probs");
    int64_t want[3] = {shadow ? l->k : l->m, shadow ? l->m : -1, l->c}; /* the target sets C */
    mla_npy_array a;
    mla_status s = read_shaped(f, name, shadow ? 3 : 2, want, &a);
    if (s) return s;
    if (!shadow) l->c = a.shape[1];
    if (!(s = need_float(f, name, &a)) && l->logits) s = check_nan(f, name, &a);
    size_t n = (size_t)a.count;
    float *p = s ? NULL : mla_alloc(n ? n : 1, sizeof(float));
    if (!s && !p) s = MLA_ERR_NOMEM;
    if (!s && l->logits) {
        size_t rows = n / (size_t)l->c;
        double *phi = mla_alloc(rows, sizeof(double)), *py = mla_alloc(rows, sizeof(double));
        if (!phi || !py) s = MLA_ERR_NOMEM;
        for (int64_t r = 0; !s && r < (shadow ? l->k : 1); r++)
            s = from_logits(a.f64 + r * l->m * l->c, l->m, (int)l->c, labels, p + r * l->m * l->c, phi + r * l->m,
                            py + r * l->m);
        if (shadow) b->shadow_phi = phi, b->shadow_py = py;
        else b->target_phi = phi, b->target_py = py;
    } else if (!s) {
        for (size_t i = 0; i < n; i++) p[i] = (float)a.f64[i];
    }
    if (shadow) b->shadow_probs = p;
    else b->target_probs = p;
    mla_npy_array_free(&a);
    return s;
}

/* phi (and optional p_y) of the target (shadow false) or the shadows. */
static mla_status load_phi(folder *f, const layout *l, bundle *b, bool shadow) {
    int64_t want[2] = {shadow ? l->k : l->m, l->m};
    const char *names[2] = {shadow ? "shadow_phi" : "target_phi", shadow ? "shadow_p" : "target_p"};
    for (int which = 0; which < 2; which++) {
        if (which && !exists(f, names[1])) break;
        mla_npy_array a;
        mla_status s = read_shaped(f, names[which], shadow ? 2 : 1, want, &a);
        if (!s) s = need_float(f, names[which], &a);
        if (s) {
            mla_npy_array_free(&a);
            return s;
        }
        double **dst = which ? (shadow ? &b->shadow_py : &b->target_py) : (shadow ? &b->shadow_phi : &b->target_phi);
        free(*dst);
        *dst = a.f64;
        a.f64 = NULL;
        mla_npy_array_free(&a);
    }
    return MLA_OK;
}

/* M, K and which kind of outputs the folder holds. */
static mla_status find_layout(folder *f, layout *l) {
    memset(l, 0, sizeof *l);
    l->logits = exists(f, "target_logits");
    l->probs = !l->logits && exists(f, "target_probs");
    l->phi = exists(f, "target_phi");
    if (!l->probs && !l->logits && !l->phi)
        return mla_error(MLA_ERR_IO, "%s: no target_probs.npy, target_logits.npy or target_phi.npy", f->dir);
    mla_npy_array a;
    const char *first = l->logits ? "target_logits" : l->probs ? "target_probs" : "target_phi";
    int64_t any[2] = {-1, -1};
    mla_status s = read_shaped(f, first, l->phi && !l->probs && !l->logits ? 1 : 2, any, &a);
    if (s) return s;
    l->m = a.shape[0];
    mla_npy_array_free(&a);
    if (l->m < 1 || l->m > INT32_MAX) return mla_error(MLA_ERR_SHAPE, "%s/%s.npy: %lld samples", f->dir, first, (long long)l->m);
    if (!exists(f, "shadow_in")) return MLA_OK;
    int64_t kk[2] = {-1, l->m};
    if ((s = read_shaped(f, "shadow_in", 2, kk, &a))) return s;
    l->k = a.shape[0];
    mla_npy_array_free(&a);
    return MLA_OK;
}

/* A 0/1 mask [K, M] into bytes. */
static mla_status load_mask(folder *f, const char *name, const layout *l, uint8_t **out) {
    int64_t want[2] = {l->k, l->m};
    mla_npy_array a;
    mla_status s = read_shaped(f, name, 2, want, &a);
    int32_t *v = NULL;
    if (!s) s = ints_in(f, name, &a, 0, 1, &v);
    if (!s) *out = mla_alloc((size_t)(a.count ? a.count : 1), 1);
    if (!s && !*out) s = MLA_ERR_NOMEM;
    for (int64_t i = 0; !s && i < a.count; i++) (*out)[i] = (uint8_t)v[i];
    free(v);
    mla_npy_array_free(&a);
    return s;
}

static mla_status load_ints(folder *f, const char *name, int ndim, const int64_t *want, int64_t lo, int64_t hi,
                            int32_t **out, int64_t *count) {
    mla_npy_array a;
    mla_status s = read_shaped(f, name, ndim, want, &a);
    if (!s) s = ints_in(f, name, &a, lo, hi, out);
    if (count) *count = a.count;
    mla_npy_array_free(&a);
    return s;
}

/* target_in and population into truth (-1 for population points). */
static mla_status load_truth(folder *f, const layout *l, bundle *b, int64_t *n_pop) {
    int64_t m1[1] = {l->m}, any[1] = {-1};
    int32_t *t = NULL;
    *n_pop = 0;
    if (!exists(f, "target_in")) /* no ground truth: scores only */
        return exists(f, "population") ? load_ints(f, "population", 1, any, 0, l->m - 1, &b->population, n_pop)
                                       : MLA_OK;
    mla_status s = load_ints(f, "target_in", 1, m1, -1, 1, &t, NULL);
    if (!s) b->truth = mla_alloc((size_t)l->m, 1);
    if (!s && !b->truth) s = MLA_ERR_NOMEM;
    for (int64_t i = 0; !s && i < l->m; i++) b->truth[i] = (int8_t)t[i];
    free(t);
    *n_pop = 0;
    if (!s && exists(f, "population")) s = load_ints(f, "population", 1, any, 0, l->m - 1, &b->population, n_pop);
    for (int64_t i = 0; !s && i < *n_pop; i++) {
        int32_t z = b->population[i];
        if (b->truth[z] == 1)
            s = mla_error(MLA_ERR_INVALID, "%s/population.npy: index %d is a target member in target_in.npy", f->dir,
                          (int)z);
        else if (b->truth[z] == -2)
            s = mla_error(MLA_ERR_INVALID, "%s/population.npy: index %d appears twice", f->dir, (int)z);
        else b->truth[z] = -2;
    }
    for (int64_t i = 0; !s && i < *n_pop; i++) b->truth[b->population[i]] = -1;
    return s;
}

static mla_status load_extras(folder *f, const layout *l, bundle *b, mla_mia_arrays *a) {
    mla_status s = MLA_OK;
    int64_t m1[1] = {l->m}, km[2] = {l->k, l->m}, none[1] = {0};
    if (exists(f, "shadow_fit")) s = load_mask(f, "shadow_fit", l, &b->fit);
    if (!s && exists(f, "released")) {
        int32_t *flag = NULL;
        s = load_ints(f, "released", 0, none, 0, 1, &flag, NULL);
        a->released = flag && flag[0];
        free(flag);
    }
    if (!s && exists(f, "sample_index")) s = load_ints(f, "sample_index", 1, m1, 0, INT32_MAX, &b->sample_index, NULL);
    if (!s && exists(f, "target_aug")) {
        int32_t *copies = NULL;
        s = load_ints(f, "aug_copies", 0, none, 1, 1 << 20, &copies, NULL);
        a->n_aug = copies ? copies[0] : 0;
        free(copies);
        if (!s) s = load_ints(f, "target_aug", 1, m1, -1, a->n_aug, &b->target_aug, NULL);
        if (!s && exists(f, "shadow_aug")) s = load_ints(f, "shadow_aug", 2, km, -1, a->n_aug, &b->shadow_aug, NULL);
    }
    return s;
}

static mla_status load_all(folder *f, bundle *b, mla_mia_arrays *a) {
    layout l;
    mla_status s = find_layout(f, &l);
    int64_t m1[1] = {l.m}, n_pop = 0;
    bool has_probs = l.probs || l.logits;
    if (!s && has_probs) s = load_ints(f, "labels", 1, m1, 0, 65535, &b->labels, NULL);
    if (!s && has_probs) s = load_probs(f, "target", &l, b, b->labels, false);
    bool shadow_probs = exists(f, "shadow_probs") || exists(f, "shadow_logits"); /* else shadow_phi alone */
    if (!s && has_probs && l.k > 0 && shadow_probs) s = load_probs(f, "shadow", &l, b, b->labels, true);
    if (!s && l.phi) s = load_phi(f, &l, b, false);
    if (!s && l.k > 0 && exists(f, "shadow_phi")) s = load_phi(f, &l, b, true);
    if (!s && l.k > 0) s = load_mask(f, "shadow_in", &l, &b->shadow_in);
    if (!s) s = load_truth(f, &l, b, &n_pop);
    if (!s) s = load_extras(f, &l, b, a);
    if (s) return s;
    a->m = (int)l.m, a->k = (int)l.k, a->classes = has_probs ? (int)l.c : 0;
    a->target_probs = b->target_probs, a->shadow_probs = b->shadow_probs, a->labels = b->labels;
    a->target_phi = b->target_phi, a->shadow_phi = b->shadow_phi;
    a->target_py = b->target_py, a->shadow_py = b->shadow_py;
    a->shadow_in = b->shadow_in, a->truth = b->truth, a->fit = b->fit;
    a->population = b->population, a->n_population = (int)n_pop;
    a->target_aug = b->target_aug, a->shadow_aug = b->shadow_aug, a->sample_index = b->sample_index;
    s = mia_validate(a);
    return s ? mla_error_prefix(s, "%s", f->dir) : MLA_OK;
}

mla_status mla_mia_arrays_load(const char *dir, mla_mia_loaded **out) {
    *out = NULL;
    mla_mia_loaded *l = mla_alloc(1, sizeof *l);
    bundle *b = mla_alloc(1, sizeof *b);
    if (!l || !b) {
        free(l), free(b);
        return MLA_ERR_NOMEM;
    }
    l->owned = b;
    folder f = {.dir = dir};
    mla_status s = load_all(&f, b, &l->arrays);
    if (s) {
        mla_mia_loaded_free(l);
        return s;
    }
    *out = l;
    return MLA_OK;
}

/* ---- saving ---- */

static mla_status save_f32(folder *f, const char *name, const float *x, int ndim, const int64_t *shape) {
    return x ? mla_npy_write_f32(path_of(f, name), x, ndim, shape) : MLA_OK;
}
static mla_status save_f64(folder *f, const char *name, const double *x, int ndim, const int64_t *shape) {
    return x ? mla_npy_write_f64(path_of(f, name), x, ndim, shape) : MLA_OK;
}
static mla_status save_i32(folder *f, const char *name, const int32_t *x, int ndim, const int64_t *shape) {
    return x ? mla_npy_write_i32(path_of(f, name), x, ndim, shape) : MLA_OK;
}
static mla_status save_u8(folder *f, const char *name, const uint8_t *x, int ndim, const int64_t *shape) {
    return x ? mla_npy_write_u8(path_of(f, name), x, ndim, shape) : MLA_OK;
}

mla_status mla_mia_arrays_save(const char *dir, const mla_mia_arrays *a) {
    mla_status s = mia_validate(a);
    if (s) return s;
    folder f = {.dir = dir};
    int64_t m1[1] = {a->m}, mc[2] = {a->m, a->classes}, km[2] = {a->k, a->m}, kmc[3] = {a->k, a->m, a->classes};
    int32_t *truth = a->truth ? mla_alloc((size_t)a->m, sizeof(int32_t)) : NULL;
    if (a->truth && !truth) return MLA_ERR_NOMEM;
    for (int i = 0; truth && i < a->m; i++) truth[i] = a->truth[i];
    s = save_f32(&f, "target_probs", a->target_probs, 2, mc);
    if (!s) s = save_f32(&f, "shadow_probs", a->shadow_probs, 3, kmc);
    if (!s) s = save_i32(&f, "labels", a->labels, 1, m1);
    if (!s) s = save_f64(&f, "target_phi", a->target_phi, 1, m1);
    if (!s) s = save_f64(&f, "shadow_phi", a->shadow_phi, 2, km);
    if (!s) s = save_f64(&f, "target_p", a->target_py, 1, m1);
    if (!s) s = save_f64(&f, "shadow_p", a->shadow_py, 2, km);
    if (!s) s = save_u8(&f, "shadow_in", a->shadow_in, 2, km);
    if (!s) s = save_u8(&f, "shadow_fit", a->fit, 2, km);
    if (!s) s = save_i32(&f, "target_in", truth, 1, m1);
    int64_t zp[1] = {a->n_population};
    if (!s) s = save_i32(&f, "population", a->population, 1, zp);
    if (!s && a->target_aug) {
        int32_t copies = a->n_aug;
        s = mla_npy_write_i32(path_of(&f, "aug_copies"), &copies, 0, NULL);
        if (!s) s = save_i32(&f, "target_aug", a->target_aug, 1, m1);
        if (!s) s = save_i32(&f, "shadow_aug", a->shadow_aug, 2, km);
    }
    if (!s) s = save_i32(&f, "sample_index", a->sample_index, 1, m1);
    int32_t released = a->released; /* always written: no stale flag from an earlier save */
    if (!s) s = mla_npy_write_i32(path_of(&f, "released"), &released, 0, NULL);
    free(truth);
    return s;
}
