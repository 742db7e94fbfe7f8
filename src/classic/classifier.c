/* The public classifier interface (classic.h): dispatch to the per-kind ops,
 * hyperparameter-name checks, and the model file.
 *
 * Model file (little-endian, as written by this build):
 *   8 bytes  "MLACLASS"
 *   uint32   format version (1)
 *   16 bytes kind name, NUL padded
 *   int32    d (features), int32 classes
 *   ...      the kind's own bytes (its ops->save), to the end of the file
 * Loading checks every field, lets the kind validate its bytes and refuses trailing
 * bytes, so a truncated or corrupt file is an error, never a half-loaded model.
 */
#include "classifier_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_MAGIC "MLACLASS"
#define MODEL_VERSION 1u
#define KIND_BYTES 16
#define MAX_DIM 100000000
#define MAX_CLASSES 100000

/* The averaged neural net lives beside the engine it uses (avnnet.c). */
extern const mla_classifier_ops mla_avnnet_ops;

struct mla_classifier {
    const mla_classifier_ops *ops;
    void *state;
    int d, classes; /* 0 until fitted */
};

static const mla_classifier_ops *const all_ops[] = {&mla_knn_ops, &mla_svm_ops, &mla_logreg_ops, &mla_nb_ops,
                                                    &mla_rf_ops,  &mla_gbm_ops, &mla_avnnet_ops};
#define N_KINDS ((int)(sizeof all_ops / sizeof *all_ops))

const char *const *mla_classifier_kinds(void) {
    static const char *names[N_KINDS + 1];
    for (int i = 0; i < N_KINDS; i++) names[i] = all_ops[i]->kind;
    names[N_KINDS] = NULL;
    return names;
}

static const mla_classifier_ops *find_ops(const char *kind) {
    for (int i = 0; kind && i < N_KINDS; i++)
        if (!strcmp(all_ops[i]->kind, kind)) return all_ops[i];
    return NULL;
}

/* "a, b, c" of a NULL-terminated list, into buf. */
static const char *join_names(const char *const *names, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
    return buf;
}

static mla_status unknown_kind(const char *kind) {
    char buf[256];
    return mla_error(MLA_ERR_INVALID, "unknown model kind '%s' (known: %s)", kind ? kind : "(null)",
                     join_names(mla_classifier_kinds(), buf, sizeof buf));
}

mla_status mla_classic_read_params(const char *kind, const char *const *names, const mla_param *params, int n_params,
                                   double *values, unsigned *given) {
    if (given) *given = 0;
    if (n_params > 0 && !params) return mla_error(MLA_ERR_INVALID, "%s: parameter list is NULL", kind);
    for (int i = 0; i < n_params; i++) {
        int j = 0;
        while (names[j] && (!params[i].name || strcmp(names[j], params[i].name) != 0)) j++;
        if (!names[j])
            return mla_error(MLA_ERR_INVALID, "%s: unknown parameter '%s'", kind,
                             params[i].name ? params[i].name : "(null)");
        values[j] = params[i].value;
        if (given) *given |= 1u << j;
    }
    return MLA_OK;
}

const char *const *mla_classifier_param_names(const char *kind) {
    const mla_classifier_ops *ops = find_ops(kind);
    return ops ? ops->param_names : NULL;
}

static int name_in(const char *name, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], name)) return 1;
    return 0;
}

/* Every name known to the kind, given once, with a finite value. */
static mla_status check_params(const mla_classifier_ops *ops, const mla_param *params, int n_params) {
    char buf[256];
    if (n_params < 0 || (n_params > 0 && !params)) return mla_error(MLA_ERR_INVALID, "%s: bad parameter list", ops->kind);
    for (int i = 0; i < n_params; i++) {
        const char *name = params[i].name;
        if (!name || !name_in(name, ops->param_names))
            return mla_error(MLA_ERR_INVALID, "unknown hyperparameter '%s' for %s (accepted: %s)", name ? name : "(null)",
                             ops->kind, join_names(ops->param_names, buf, sizeof buf));
        if (!isfinite(params[i].value))
            return mla_error(MLA_ERR_INVALID, "%s: hyperparameter %s is not a finite number", ops->kind, name);
        for (int j = 0; j < i; j++)
            if (!strcmp(params[j].name, name))
                return mla_error(MLA_ERR_INVALID, "%s: hyperparameter %s given twice", ops->kind, name);
    }
    return MLA_OK;
}

mla_status mla_classifier_create(const char *kind, const mla_param *params, int n_params, uint64_t seed,
                                 mla_classifier **out) {
    *out = NULL;
    const mla_classifier_ops *ops = find_ops(kind);
    if (!ops) return unknown_kind(kind);
    mla_status st = check_params(ops, params, n_params);
    if (st != MLA_OK) return st;
    mla_classifier *c = mla_alloc(1, sizeof *c);
    if (!c) return MLA_ERR_NOMEM;
    c->ops = ops;
    st = ops->create(params, n_params, seed, &c->state);
    if (st != MLA_OK) {
        free(c);
        return st;
    }
    *out = c;
    return MLA_OK;
}

void mla_classifier_free(mla_classifier *c) {
    if (!c) return;
    if (c->state) c->ops->free(c->state);
    free(c);
}

static mla_status check_rows(const char *kind, const float *x, int n, int d) {
    if (n < 1 || d < 1 || d > MAX_DIM) return mla_error(MLA_ERR_SHAPE, "%s: bad data shape %d x %d", kind, n, d);
    if (!x) return mla_error(MLA_ERR_INVALID, "%s: no data", kind);
    for (size_t i = 0, count = (size_t)n * d; i < count; i++)
        if (!isfinite(x[i])) return mla_error(MLA_ERR_INVALID, "%s: feature %zu of row %zu is not finite", kind, i % d, i / d);
    return MLA_OK;
}

mla_status mla_classifier_fit(mla_classifier *c, const float *x, const int32_t *y, int n, int d, int classes) {
    const char *kind = c->ops->kind;
    mla_status st = check_rows(kind, x, n, d);
    if (st != MLA_OK) return st;
    if (classes < 2 || classes > MAX_CLASSES) return mla_error(MLA_ERR_INVALID, "%s: %d classes (need 2 or more)", kind, classes);
    if (!y) return mla_error(MLA_ERR_INVALID, "%s: no labels", kind);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= classes)
            return mla_error(MLA_ERR_INVALID, "%s: label %d of row %d outside [0, %d)", kind, y[i], i, classes);
    st = c->ops->fit(c->state, x, y, n, d, classes);
    if (st != MLA_OK) return st;
    c->d = d;
    c->classes = classes;
    return MLA_OK;
}

static mla_status check_predict(const mla_classifier *c, const float *x, int n, const void *out) {
    if (!c->classes) return mla_error(MLA_ERR_INVALID, "%s: predict before fit", c->ops->kind);
    if (n < 0 || (n > 0 && (!x || !out))) return mla_error(MLA_ERR_INVALID, "%s: bad predict arguments", c->ops->kind);
    return n > 0 ? check_rows(c->ops->kind, x, n, c->d) : MLA_OK;
}

mla_status mla_classifier_predict_proba(const mla_classifier *c, const float *x, int n, float *proba) {
    mla_status st = check_predict(c, x, n, proba);
    if (st != MLA_OK || n == 0) return st;
    return c->ops->predict_proba(c->state, x, n, c->d, c->classes, proba);
}

mla_status mla_classifier_predict(const mla_classifier *c, const float *x, int n, int32_t *labels) {
    mla_status st = check_predict(c, x, n, labels);
    if (st != MLA_OK || n == 0) return st;
    if (c->ops->predict) return c->ops->predict(c->state, x, n, c->d, c->classes, labels);
    float *proba = mla_alloc((size_t)n * c->classes, sizeof *proba);
    if (!proba) return MLA_ERR_NOMEM;
    st = c->ops->predict_proba(c->state, x, n, c->d, c->classes, proba);
    for (int i = 0; st == MLA_OK && i < n; i++) {
        const float *p = proba + (size_t)i * c->classes;
        int32_t best = 0;
        for (int32_t k = 1; k < c->classes; k++)
            if (p[k] > p[best]) best = k;
        labels[i] = best;
    }
    free(proba);
    return st;
}

mla_status mla_classifier_importances(const mla_classifier *c, double *out) {
    if (!c->ops->importances) return mla_error(MLA_ERR_UNSUPPORTED, "%s: no feature importances", c->ops->kind);
    if (!c->classes) return mla_error(MLA_ERR_INVALID, "%s: importances before fit", c->ops->kind);
    return c->ops->importances(c->state, out);
}

mla_status mla_classifier_oob_accuracy(const mla_classifier *c, double *accuracy) {
    if (!c->ops->oob_accuracy) return mla_error(MLA_ERR_UNSUPPORTED, "%s: no out-of-bag accuracy", c->ops->kind);
    if (!c->classes) return mla_error(MLA_ERR_INVALID, "%s: out-of-bag accuracy before fit", c->ops->kind);
    return c->ops->oob_accuracy(c->state, accuracy);
}

const char *mla_classifier_kind(const mla_classifier *c) { return c->ops->kind; }
int mla_classifier_classes(const mla_classifier *c) { return c->classes; }
int mla_classifier_dim(const mla_classifier *c) { return c->d; }

/* ---- model files ---- */

typedef struct {
    char magic[8];
    uint32_t version;
    char kind[KIND_BYTES];
    int32_t d, classes;
} model_header;

static mla_status write_model(const mla_classifier *c, FILE *fp) {
    model_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, MODEL_MAGIC, 8);
    h.version = MODEL_VERSION;
    strncpy(h.kind, c->ops->kind, KIND_BYTES - 1);
    h.d = c->d;
    h.classes = c->classes;
    if (fwrite(h.magic, 8, 1, fp) != 1 || fwrite(&h.version, 4, 1, fp) != 1 || fwrite(h.kind, KIND_BYTES, 1, fp) != 1 ||
        fwrite(&h.d, 4, 1, fp) != 1 || fwrite(&h.classes, 4, 1, fp) != 1)
        return mla_error(MLA_ERR_IO, "write failed");
    return c->ops->save(c->state, fp);
}

mla_status mla_classifier_save(const mla_classifier *c, const char *path) {
    if (!c->classes) return mla_error(MLA_ERR_INVALID, "%s: cannot save an unfitted %s model", path, c->ops->kind);
    mla_atomic_file *f = NULL;
    mla_status st = mla_atomic_open(path, &f);
    if (st != MLA_OK) return st;
    st = write_model(c, mla_atomic_stream(f));
    if (st != MLA_OK) {
        mla_atomic_abort(f);
        return mla_error_prefix(st, "%s", path);
    }
    return mla_atomic_commit(f);
}

static mla_status read_header(FILE *fp, model_header *h, const mla_classifier_ops **ops) {
    if (fread(h->magic, 8, 1, fp) != 1 || fread(&h->version, 4, 1, fp) != 1 || fread(h->kind, KIND_BYTES, 1, fp) != 1 ||
        fread(&h->d, 4, 1, fp) != 1 || fread(&h->classes, 4, 1, fp) != 1)
        return mla_error(MLA_ERR_FORMAT, "truncated model header");
    if (memcmp(h->magic, MODEL_MAGIC, 8) != 0) return mla_error(MLA_ERR_FORMAT, "not an mlaudit classifier file");
    if (h->version != MODEL_VERSION)
        return mla_error(MLA_ERR_FORMAT, "model format version %u (this build reads %u)", h->version, MODEL_VERSION);
    if (memchr(h->kind, '\0', KIND_BYTES) == NULL || !(*ops = find_ops(h->kind)))
        return mla_error(MLA_ERR_FORMAT, "unknown model kind in header");
    if (h->d < 1 || h->d > MAX_DIM || h->classes < 2 || h->classes > MAX_CLASSES)
        return mla_error(MLA_ERR_FORMAT, "corrupt header (%d features, %d classes)", h->d, h->classes);
    return MLA_OK;
}

static mla_status read_model(FILE *fp, mla_classifier *c) {
    model_header h;
    mla_status st = read_header(fp, &h, &c->ops);
    if (st == MLA_OK) st = c->ops->load(fp, h.d, h.classes, &c->state);
    if (st == MLA_OK && fgetc(fp) != EOF) st = mla_error(MLA_ERR_FORMAT, "trailing bytes after the %s model", c->ops->kind);
    c->d = h.d;
    c->classes = h.classes;
    return st;
}

mla_status mla_classifier_load(const char *path, mla_classifier **out) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return mla_error(MLA_ERR_IO, "%s: cannot open", path);
    mla_classifier *c = mla_alloc(1, sizeof *c);
    mla_status st = c ? read_model(fp, c) : MLA_ERR_NOMEM;
    fclose(fp);
    if (st != MLA_OK) {
        if (c && c->state) c->ops->free(c->state);
        free(c);
        return mla_error_prefix(st, "%s", path);
    }
    *out = c;
    return MLA_OK;
}
