/* Stochastic gradient boosting ("gbm") through XGBoost's C API. (The random forest, "rf",
 * is native: rf.c.)
 *
 * A multi:softprob tree ensemble fitted with the histogram method (256 bins: exact for 8-bit
 * pixels), treating every value, 0 included, as present (NaN marks missing): `trees` rounds
 * (one tree per class per round) with shrinkage eta, depth-limited trees, and rows
 * subsampled each round.
 * Parameters: trees (100), eta (0.3), max_depth (6), subsample (0.8), colsample (per tree, 1).
 *
 * Reproducibility: the model seed is XGBoost's `seed`; threads come from mla_get_threads().
 * Save/load embed XGBoost's own model buffer (UBJSON) in our stream; load checks that it
 * parses and that its class and feature counts match.
 */
#include "classic/classifier_impl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

enum { P_TREES, P_DEPTH, P_SUBSAMPLE, P_COLSAMPLE, P_ETA, P_COUNT };
static const char *const gbm_param_names[] = {"trees", "max_depth", "subsample", "colsample", "eta", NULL};

typedef struct {
    int forest;          /* always 0: the stream keeps the field, so gbm files written before rf went native load */
    double v[P_COUNT];   /* parameter values */
    uint64_t seed;
    BoosterHandle booster; /* NULL until fitted */
} xgb_state;

static const char *kind_name(const xgb_state *s) { (void)s; return "gbm"; }

/* ---- parameters ---- */

static int is_whole(double v, double lo, double hi) { return v >= lo && v <= hi && v == floor(v); }

static mla_status check_params(const xgb_state *s) {
    const char *k = kind_name(s);
    const double *v = s->v;
    if (!is_whole(v[P_TREES], 1, 100000))
        return mla_error(MLA_ERR_INVALID, "%s: trees must be a whole number in [1, 100000] (got %g)", k, v[P_TREES]);
    if (!is_whole(v[P_DEPTH], 1, 64))
        return mla_error(MLA_ERR_INVALID, "%s: max_depth must be a whole number in [1, 64] (got %g)", k, v[P_DEPTH]);
    if (!(v[P_SUBSAMPLE] > 0 && v[P_SUBSAMPLE] <= 1))
        return mla_error(MLA_ERR_INVALID, "%s: subsample must be in (0, 1] (got %g)", k, v[P_SUBSAMPLE]);
    if (!(v[P_COLSAMPLE] > 0 && v[P_COLSAMPLE] <= 1))
        return mla_error(MLA_ERR_INVALID, "%s: colsample must be in (0, 1] (got %g)", k, v[P_COLSAMPLE]);
    if (!(v[P_ETA] > 0 && v[P_ETA] <= 1))
        return mla_error(MLA_ERR_INVALID, "%s: eta must be in (0, 1] (got %g)", k, v[P_ETA]);
    return MLA_OK;
}

static mla_status gbm_create(const mla_param *params, int n_params, uint64_t seed, void **state) {
    *state = NULL;
    xgb_state s = {.forest = 0, .seed = seed, .v = {100, 6, 0.8, 1, 0.3}};
    mla_status st = mla_classic_read_params(kind_name(&s), gbm_param_names, params, n_params, s.v, NULL);
    if (st || (st = check_params(&s))) return st;
    xgb_state *out = mla_alloc(1, sizeof *out);
    if (!out) return MLA_ERR_NOMEM;
    *out = s;
    *state = out;
    return MLA_OK;
}

static void xgb_free(void *state) {
    xgb_state *s = state;
    if (!s) return;
    if (s->booster) XGBoosterFree(s->booster);
    free(s);
}

/* ---- XGBoost calls ---- */

/* MLA_OK for rc == 0; otherwise records the first line of XGBoost's own message. */
static mla_status xgb_check(int rc, const xgb_state *s, const char *what) {
    if (rc == 0) return MLA_OK;
    const char *msg = XGBGetLastError();
    if (!msg) msg = "(no message)";
    int len = (int)strcspn(msg, "\n");
    return mla_error(MLA_ERR_INVALID, "%s: XGBoost %s failed: %.*s", kind_name(s), what, len, msg);
}

static mla_status set_text(const xgb_state *s, BoosterHandle b, const char *name, const char *value) {
    char what[96];
    snprintf(what, sizeof what, "setting %s=%s", name, value);
    return xgb_check(XGBoosterSetParam(b, name, value), s, what);
}

static mla_status set_number(const xgb_state *s, BoosterHandle b, const char *name, double value) {
    char text[64];
    snprintf(text, sizeof text, "%.17g", value);
    return set_text(s, b, name, text);
}

/* The run-time settings a booster needs after creation and after loading (not kept in models). */
static mla_status set_runtime(const xgb_state *s, BoosterHandle b) {
    mla_status st;
    if ((st = set_number(s, b, "nthread", mla_get_threads())) || (st = set_number(s, b, "verbosity", 0)))
        return st;
    return MLA_OK;
}

/* The training settings for `classes` classes. */
static mla_status set_training(const xgb_state *s, BoosterHandle b, int classes) {
    const double *v = s->v;
    mla_status st;
    if ((st = set_text(s, b, "objective", "multi:softprob")) ||
        (st = set_number(s, b, "num_class", classes)) || (st = set_text(s, b, "tree_method", "hist")) ||
        (st = set_number(s, b, "seed", (double)(s->seed & 0x7fffffff))) ||
        (st = set_number(s, b, "max_depth", v[P_DEPTH])) || (st = set_number(s, b, "subsample", v[P_SUBSAMPLE])))
        return st;
    return (st = set_number(s, b, "eta", v[P_ETA])) ? st : set_number(s, b, "colsample_bytree", v[P_COLSAMPLE]);
}

/* ---- fit ---- */

static mla_status check_fit_input(const xgb_state *s, const float *x, const int32_t *y, int n, int d, int classes) {
    if (n < 1 || d < 1 || classes < 2)
        return mla_error(MLA_ERR_SHAPE, "%s: need n >= 1, d >= 1, classes >= 2 (got %d, %d, %d)", kind_name(s), n, d,
                         classes);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= classes)
            return mla_error(MLA_ERR_INVALID, "%s: label %d of row %d outside [0, %d)", kind_name(s), y[i], i, classes);
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++)
        if (!isfinite(x[i]))
            return mla_error(MLA_ERR_INVALID, "%s: non-finite feature in row %zu", kind_name(s), i / (size_t)d);
    return MLA_OK;
}

/* A DMatrix over n rows (copied by XGBoost); labels attached when y is not NULL. */
static mla_status make_matrix(const xgb_state *s, const float *x, const int32_t *y, int n, int d, DMatrixHandle *m) {
    *m = NULL;
    mla_status st = xgb_check(XGDMatrixCreateFromMat_omp(x, (bst_ulong)n, (bst_ulong)d, NAN, m, mla_get_threads()), s,
                              "creating the data matrix");
    if (st || !y) return st;
    float *labels = mla_alloc((size_t)n, sizeof *labels);
    if (!labels) st = MLA_ERR_NOMEM;
    for (int i = 0; labels && i < n; i++) labels[i] = (float)y[i];
    if (!st) st = xgb_check(XGDMatrixSetFloatInfo(*m, "label", labels, (bst_ulong)n), s, "setting labels");
    free(labels);
    if (st) XGDMatrixFree(*m), *m = NULL;
    return st;
}

static mla_status boost(xgb_state *s, BoosterHandle b, DMatrixHandle train) {
    int rounds = (int)s->v[P_TREES];
    mla_status st = MLA_OK;
    for (int r = 0; r < rounds && !st; r++) st = xgb_check(XGBoosterUpdateOneIter(b, r, train), s, "training");
    return st;
}

static mla_status xgb_fit(void *state, const float *x, const int32_t *y, int n, int d, int classes) {
    xgb_state *s = state;
    mla_status st = check_fit_input(s, x, y, n, d, classes);
    DMatrixHandle train = NULL;
    BoosterHandle b = NULL;
    if (!st) st = make_matrix(s, x, y, n, d, &train);
    if (!st) st = xgb_check(XGBoosterCreate(&train, 1, &b), s, "creating the booster");
    if (!st) st = set_runtime(s, b);
    if (!st) st = set_training(s, b, classes);
    if (!st) st = boost(s, b, train);
    if (train) XGDMatrixFree(train);
    if (st) {
        if (b) XGBoosterFree(b);
        return st;
    }
    if (s->booster) XGBoosterFree(s->booster);
    s->booster = b;
    return MLA_OK;
}

/* ---- predict ---- */

enum { PREDICT_CHUNK = 16384 }; /* rows per DMatrix, bounding XGBoost's copy of the input */

static mla_status predict_chunk(const xgb_state *s, const float *x, int n, int d, int classes, float *proba) {
    DMatrixHandle m;
    mla_status st = make_matrix(s, x, NULL, n, d, &m);
    if (st) return st;
    bst_ulong len = 0;
    const float *out = NULL;
    st = xgb_check(XGBoosterPredict(s->booster, m, 0, 0, 0, &len, &out), s, "predicting");
    if (!st && len != (bst_ulong)n * (bst_ulong)classes)
        st = mla_error(MLA_ERR_SHAPE, "%s: XGBoost returned %llu values for %d rows of %d classes", kind_name(s),
                       (unsigned long long)len, n, classes);
    if (!st) memcpy(proba, out, (size_t)len * sizeof *proba);
    XGDMatrixFree(m);
    return st;
}

static mla_status xgb_predict_proba(const void *state, const float *x, int n, int d, int classes, float *proba) {
    const xgb_state *s = state;
    if (!s->booster) return mla_error(MLA_ERR_INVALID, "%s: model is not fitted", kind_name(s));
    mla_status st = MLA_OK;
    for (int first = 0; first < n && !st; first += PREDICT_CHUNK) {
        int rows = n - first < PREDICT_CHUNK ? n - first : PREDICT_CHUNK;
        st = predict_chunk(s, x + (size_t)first * (size_t)d, rows, d, classes, proba + (size_t)first * (size_t)classes);
    }
    return st;
}

/* ---- save / load ----
 * Stream (native byte order): u32 version; i32 forest; f64 v[P_COUNT]; u64 seed; u64 length;
 * then XGBoost's model buffer (UBJSON) of that length. */

#define XGB_STREAM_VERSION 1u
#define XGB_MAX_MODEL_BYTES ((uint64_t)1 << 34)

static mla_status put(const xgb_state *s, FILE *fp, const void *p, size_t size, size_t count) {
    if (count && fwrite(p, size, count, fp) != count) return mla_error(MLA_ERR_IO, "%s: write failed", kind_name(s));
    return MLA_OK;
}

static mla_status get(const xgb_state *s, FILE *fp, void *p, size_t size, size_t count, const char *what) {
    if (count && fread(p, size, count, fp) != count)
        return mla_error(MLA_ERR_FORMAT, "%s model: truncated while reading %s", kind_name(s), what);
    return MLA_OK;
}

static mla_status xgb_save(const void *state, FILE *fp) {
    const xgb_state *s = state;
    if (!s->booster) return mla_error(MLA_ERR_INVALID, "%s: model is not fitted", kind_name(s));
    bst_ulong len = 0;
    const char *buf = NULL;
    mla_status st = xgb_check(XGBoosterSaveModelToBuffer(s->booster, "{\"format\": \"ubj\"}", &len, &buf), s,
                              "saving the model");
    if (st) return st;
    uint32_t version = XGB_STREAM_VERSION;
    int32_t forest = s->forest;
    uint64_t length = len;
    if ((st = put(s, fp, &version, 4, 1)) || (st = put(s, fp, &forest, 4, 1)) || (st = put(s, fp, s->v, 8, P_COUNT)) ||
        (st = put(s, fp, &s->seed, 8, 1)) || (st = put(s, fp, &length, 8, 1)))
        return st;
    return put(s, fp, buf, 1, (size_t)len);
}

/* The integer under config.learner.learner_model_param.<key> (XGBoost writes numbers as strings). */
static long config_number(const cJSON *root, const char *key) {
    const cJSON *learner = cJSON_GetObjectItemCaseSensitive(root, "learner");
    const cJSON *param = cJSON_GetObjectItemCaseSensitive(learner, "learner_model_param");
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(param, key);
    if (cJSON_IsString(item)) return strtol(item->valuestring, NULL, 10);
    return cJSON_IsNumber(item) ? (long)item->valuedouble : -1;
}

/* Checks a loaded booster against the stream header's feature and class counts. */
static mla_status check_booster(const xgb_state *s, int d, int classes) {
    bst_ulong features = 0, len = 0;
    const char *config = NULL;
    mla_status st = xgb_check(XGBoosterGetNumFeature(s->booster, &features), s, "reading the feature count");
    if (!st) st = xgb_check(XGBoosterSaveJsonConfig(s->booster, &len, &config), s, "reading the configuration");
    if (st) return st;
    cJSON *root = cJSON_ParseWithLength(config, (size_t)len);
    long num_class = root ? config_number(root, "num_class") : -1;
    cJSON_Delete(root);
    if (features != (bst_ulong)d || num_class != classes)
        return mla_error(MLA_ERR_FORMAT, "%s model: XGBoost model has %llu features and %ld classes, header says %d and %d",
                         kind_name(s), (unsigned long long)features, num_class, d, classes);
    return MLA_OK;
}

static mla_status load_booster(xgb_state *s, FILE *fp, int d, int classes) {
    uint64_t length;
    mla_status st = get(s, fp, &length, 8, 1, "model length");
    if (st) return st;
    if (length == 0 || length > XGB_MAX_MODEL_BYTES)
        return mla_error(MLA_ERR_FORMAT, "%s model: implausible XGBoost model length %llu", kind_name(s),
                         (unsigned long long)length);
    char *buf = malloc((size_t)length);
    if (!buf) return mla_error(MLA_ERR_NOMEM, "%s model: out of memory for %llu bytes", kind_name(s), (unsigned long long)length);
    st = get(s, fp, buf, 1, (size_t)length, "the XGBoost model");
    if (!st) st = xgb_check(XGBoosterCreate(NULL, 0, &s->booster), s, "creating the booster");
    if (!st && XGBoosterLoadModelFromBuffer(s->booster, buf, (bst_ulong)length) != 0)
        st = xgb_check(-1, s, "loading the model (corrupt model data)");
    free(buf);
    if (!st) st = set_runtime(s, s->booster);
    if (!st) st = check_booster(s, d, classes);
    if (st) return mla_error_prefix(st, "%s model", kind_name(s));
    return MLA_OK;
}

static mla_status gbm_load(FILE *fp, int d, int classes, void **state) {
    *state = NULL;
    const int forest = 0;
    xgb_state *s = mla_alloc(1, sizeof *s);
    if (!s) return MLA_ERR_NOMEM;
    s->forest = forest;
    uint32_t version = 0;
    int32_t stored_forest = -1;
    mla_status st = get(s, fp, &version, 4, 1, "version");
    if (!st && version != XGB_STREAM_VERSION) st = mla_error(MLA_ERR_FORMAT, "%s model: unknown version %u", kind_name(s), version);
    if (!st) st = get(s, fp, &stored_forest, 4, 1, "kind");
    if (!st && stored_forest != forest) st = mla_error(MLA_ERR_FORMAT, "%s model: stream holds another kind", kind_name(s));
    if (!st) st = get(s, fp, s->v, 8, P_COUNT, "parameters");
    if (!st) st = get(s, fp, &s->seed, 8, 1, "seed");
    if (!st && check_params(s)) st = mla_error_prefix(MLA_ERR_FORMAT, "%s model", kind_name(s));
    if (!st) st = load_booster(s, fp, d, classes);
    if (st) {
        xgb_free(s);
        return st;
    }
    *state = s;
    return MLA_OK;
}

const mla_classifier_ops mla_gbm_ops = {
    .kind = "gbm",
    .param_names = gbm_param_names,
    .create = gbm_create,
    .fit = xgb_fit,
    .predict_proba = xgb_predict_proba,
    .predict = NULL,
    .save = xgb_save,
    .load = gbm_load,
    .free = xgb_free,
};
