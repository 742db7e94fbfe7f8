/* RBF support vector machine (C-SVC) through libsvm.
 *
 * Parameters: C (default 1); gamma (default scikit-learn's 'scale': 1 / (d * var(X)), the
 * variance taken over every entry of the training matrix; 1 if that variance is 0);
 * probability (default 1: Platt-scaled pairwise probabilities, fitted by libsvm with an
 * internal 5-fold cross-validation and coupled into class probabilities; 0: no Platt fit,
 * predict_proba returns each class's share of the one-vs-one votes); cache_mb (libsvm's kernel
 * cache, default 200). libsvm trains on one thread; predictions run over OpenMP threads.
 *
 * predict is libsvm's one-vs-one vote, as scikit-learn's SVC.predict; with probability=1 it can
 * disagree with the argmax of predict_proba on a few ambiguous rows, as in scikit-learn.
 *
 * Reproducibility: libsvm shuffles the Platt cross-validation folds with the C library's rand().
 * fit calls srand() with the model seed right before svm_train, so the same seed gives the same
 * model. rand() is process-global: fits running concurrently in several threads (or other code
 * calling rand() during a fit) lose that guarantee. libsvm's progress output is silenced through
 * svm_set_print_string_function (also process-global).
 *
 * The trained model is copied into a self-owned layout (support vectors in one block, free_sv = 1,
 * the layout svm_load_model builds), so a fitted model and a loaded one are the same thing and
 * svm_free_and_destroy_model frees either. Labels inside libsvm are our class indices; classes
 * absent from the training data get probability 0.
 */
#include "classic/classifier_impl.h"

#include <libsvm/svm.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { P_C, P_GAMMA, P_PROBABILITY, P_CACHE, P_COUNT };
static const char *const svm_param_names[] = {"C", "gamma", "probability", "cache_mb", NULL};

typedef struct {
    double C, gamma;   /* gamma: the value the model uses (fit resolves 'scale') */
    int gamma_given;   /* 0: 'scale', recomputed by each fit */
    int probability;
    double cache_mb;
    uint64_t seed;
    int d;                   /* features seen by fit */
    struct svm_model *model; /* NULL until fitted */
} svm_state;

/* ---- parameters ---- */

/* Reads name=value pairs into values[] (preset with defaults, parallel to names) and sets bit i of
 * *given for each name seen. Unknown names are refused with a message naming them. */
static mla_status read_params(const char *kind, const char *const *names, const mla_param *params, int n_params,
                              double *values, unsigned *given) {
    *given = 0;
    if (n_params > 0 && !params) return mla_error(MLA_ERR_INVALID, "%s: parameter list is NULL", kind);
    for (int i = 0; i < n_params; i++) {
        int j = 0;
        while (names[j] && (!params[i].name || strcmp(names[j], params[i].name) != 0)) j++;
        if (!names[j])
            return mla_error(MLA_ERR_INVALID, "%s: unknown parameter '%s'", kind,
                             params[i].name ? params[i].name : "(null)");
        values[j] = params[i].value;
        *given |= 1u << j;
    }
    return MLA_OK;
}

static mla_status check_params(const svm_state *s, int gamma_given) {
    if (!(s->C > 0) || !isfinite(s->C)) return mla_error(MLA_ERR_INVALID, "svm: C must be > 0 (got %g)", s->C);
    if (gamma_given && (!(s->gamma > 0) || !isfinite(s->gamma)))
        return mla_error(MLA_ERR_INVALID, "svm: gamma must be > 0 (got %g); leave it out for 'scale'", s->gamma);
    if (s->probability != 0 && s->probability != 1)
        return mla_error(MLA_ERR_INVALID, "svm: probability must be 0 or 1");
    if (!(s->cache_mb >= 1 && s->cache_mb <= 1e6))
        return mla_error(MLA_ERR_INVALID, "svm: cache_mb must be in [1, 1e6] (got %g)", s->cache_mb);
    return MLA_OK;
}

static mla_status svm_create(const mla_param *params, int n_params, uint64_t seed, void **state) {
    *state = NULL;
    double v[P_COUNT] = {1.0, 0.0, 1.0, 200.0};
    unsigned given;
    mla_status st = read_params("svm", svm_param_names, params, n_params, v, &given);
    if (st) return st;
    svm_state s = {.C = v[P_C], .gamma = v[P_GAMMA], .cache_mb = v[P_CACHE], .seed = seed};
    s.probability = v[P_PROBABILITY] == 0 ? 0 : v[P_PROBABILITY] == 1 ? 1 : -1;
    s.gamma_given = (given >> P_GAMMA) & 1;
    if ((st = check_params(&s, s.gamma_given))) return st;
    svm_state *out = mla_alloc(1, sizeof *out);
    if (!out) return MLA_ERR_NOMEM;
    *out = s;
    *state = out;
    return MLA_OK;
}

static void svm_free(void *state) {
    svm_state *s = state;
    if (!s) return;
    if (s->model) svm_free_and_destroy_model(&s->model);
    free(s);
}

/* ---- the self-owned model layout ---- */

static int count_nodes(const struct svm_node *x) {
    int n = 0;
    while (x[n].index != -1) n++;
    return n + 1;
}

/* An empty model with arrays for k classes, l support vectors and `nodes` svm_nodes in one block.
 * Zeroed, free_sv = 1; NULL (error recorded) when memory runs out. */
static struct svm_model *model_alloc(int k, int l, size_t nodes, int with_prob) {
    struct svm_model *m = calloc(1, sizeof *m);
    if (!m) return mla_error(MLA_ERR_NOMEM, "svm: out of memory"), NULL;
    int pairs = k * (k - 1) / 2;
    m->nr_class = k;
    m->l = l;
    m->free_sv = 1;
    m->SV = calloc((size_t)l, sizeof *m->SV);
    struct svm_node *block = calloc(nodes, sizeof *block);
    m->sv_coef = calloc((size_t)(k - 1), sizeof *m->sv_coef);
    m->rho = calloc((size_t)pairs, sizeof *m->rho);
    m->label = calloc((size_t)k, sizeof *m->label);
    m->nSV = calloc((size_t)k, sizeof *m->nSV);
    int ok = m->SV && block && m->sv_coef && m->rho && m->label && m->nSV;
    if (m->SV) m->SV[0] = block; /* so svm_free_model_content frees the block */
    else free(block);
    for (int i = 0; ok && i < k - 1; i++) ok = (m->sv_coef[i] = calloc((size_t)l, sizeof(double))) != NULL;
    if (ok && with_prob) {
        m->probA = calloc((size_t)pairs, sizeof(double));
        m->probB = calloc((size_t)pairs, sizeof(double));
        ok = m->probA && m->probB;
    }
    if (!ok) {
        if (!m->sv_coef) m->nr_class = 1; /* nothing to free per class */
        svm_free_and_destroy_model(&m);
        mla_error(MLA_ERR_NOMEM, "svm: out of memory for a model of %d support vectors", l);
        return NULL;
    }
    return m;
}

static void set_model_param(struct svm_model *m, const svm_state *s) {
    memset(&m->param, 0, sizeof m->param);
    m->param.svm_type = C_SVC;
    m->param.kernel_type = RBF;
    m->param.gamma = s->gamma;
    m->param.C = s->C;
    m->param.cache_size = s->cache_mb;
    m->param.probability = m->probA != NULL;
}

/* A self-owned deep copy of a model fresh from svm_train (whose SVs point into the problem). */
static struct svm_model *model_copy(const struct svm_model *t, const svm_state *s) {
    size_t nodes = 0;
    for (int i = 0; i < t->l; i++) nodes += (size_t)count_nodes(t->SV[i]);
    int k = t->nr_class, pairs = k * (k - 1) / 2;
    struct svm_model *m = model_alloc(k, t->l, nodes ? nodes : 1, t->probA != NULL);
    if (!m) return NULL;
    struct svm_node *at = m->SV[0];
    for (int i = 0; i < t->l; i++) {
        int c = count_nodes(t->SV[i]);
        memcpy(at, t->SV[i], (size_t)c * sizeof *at);
        m->SV[i] = at;
        at += c;
    }
    for (int i = 0; i < k - 1; i++) memcpy(m->sv_coef[i], t->sv_coef[i], (size_t)t->l * sizeof(double));
    memcpy(m->rho, t->rho, (size_t)pairs * sizeof(double));
    memcpy(m->label, t->label, (size_t)k * sizeof(int));
    memcpy(m->nSV, t->nSV, (size_t)k * sizeof(int));
    if (m->probA) {
        memcpy(m->probA, t->probA, (size_t)pairs * sizeof(double));
        memcpy(m->probB, t->probB, (size_t)pairs * sizeof(double));
    }
    set_model_param(m, s);
    return m;
}

/* ---- fit ---- */

static void quiet(const char *msg) { (void)msg; }

/* scikit-learn's gamma='scale': 1 / (d * var(X)) over all n * d entries. */
static double gamma_scale(const float *x, size_t count, int d) {
    double sum = 0, sq = 0;
    for (size_t i = 0; i < count; i++) sum += x[i];
    double mean = sum / (double)count;
    for (size_t i = 0; i < count; i++) sq += ((double)x[i] - mean) * ((double)x[i] - mean);
    double var = sq / (double)count;
    return var > 0 ? 1.0 / ((double)d * var) : 1.0;
}

/* Row i of x as libsvm's sparse nodes (1-based indices, zeros left out, -1 terminated) into out. */
static struct svm_node *row_to_nodes(const float *row, int d, struct svm_node *out) {
    int j = 0;
    for (int f = 0; f < d; f++)
        if (row[f] != 0) out[j++] = (struct svm_node){f + 1, row[f]};
    out[j].index = -1;
    return out + j + 1;
}

static mla_status check_fit_input(const float *x, const int32_t *y, int n, int d, int classes) {
    if (n < 2 || d < 1 || classes < 2)
        return mla_error(MLA_ERR_SHAPE, "svm: need n >= 2, d >= 1, classes >= 2 (got %d, %d, %d)", n, d, classes);
    int first = y[0], distinct = 0;
    for (int i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= classes)
            return mla_error(MLA_ERR_INVALID, "svm: label %d of row %d outside [0, %d)", y[i], i, classes);
        distinct |= y[i] != first;
    }
    if (!distinct) return mla_error(MLA_ERR_INVALID, "svm: the training labels hold a single class");
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++)
        if (!isfinite(x[i])) return mla_error(MLA_ERR_INVALID, "svm: non-finite feature in row %zu", i / (size_t)d);
    return MLA_OK;
}

static mla_status svm_fit(void *state, const float *x, const int32_t *y, int n, int d, int classes) {
    svm_state *s = state;
    mla_status st = check_fit_input(x, y, n, d, classes);
    if (st) return st;
    if (!s->gamma_given) s->gamma = gamma_scale(x, (size_t)n * (size_t)d, d);
    s->d = d;
    size_t nnz = 0;
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++) nnz += x[i] != 0;
    struct svm_problem prob = {.l = n};
    prob.y = malloc((size_t)n * sizeof *prob.y);
    prob.x = malloc((size_t)n * sizeof *prob.x);
    struct svm_node *nodes = malloc((nnz + (size_t)n) * sizeof *nodes);
    if (!prob.y || !prob.x || !nodes) {
        free(prob.y), free(prob.x), free(nodes);
        return mla_error(MLA_ERR_NOMEM, "svm: out of memory for %d training rows", n);
    }
    struct svm_node *at = nodes;
    for (int i = 0; i < n; i++) {
        prob.y[i] = y[i];
        prob.x[i] = at;
        at = row_to_nodes(x + (size_t)i * (size_t)d, d, at);
    }
    struct svm_parameter param = {.svm_type = C_SVC, .kernel_type = RBF, .gamma = s->gamma, .cache_size = s->cache_mb,
                                  .eps = 1e-3, .C = s->C, .shrinking = 1, .probability = s->probability};
    const char *bad = svm_check_parameter(&prob, &param);
    if (bad) st = mla_error(MLA_ERR_INVALID, "svm: libsvm refused the parameters: %s", bad);
    if (!st) {
        svm_set_print_string_function(quiet);
        srand((unsigned)(s->seed ^ (s->seed >> 32)));
        struct svm_model *trained = svm_train(&prob, &param);
        struct svm_model *own = trained ? model_copy(trained, s) : NULL;
        if (!trained) st = mla_error(MLA_ERR_NOMEM, "svm: libsvm failed to train");
        else if (!own) st = MLA_ERR_NOMEM;
        if (trained) svm_free_and_destroy_model(&trained);
        if (own) {
            if (s->model) svm_free_and_destroy_model(&s->model);
            s->model = own;
        }
    }
    free(prob.y), free(prob.x), free(nodes);
    return st;
}

/* ---- predict ---- */

static mla_status check_fitted(const svm_state *s, int classes) {
    if (!s->model) return mla_error(MLA_ERR_INVALID, "svm: model is not fitted");
    for (int i = 0; i < s->model->nr_class; i++)
        if (s->model->label[i] >= classes)
            return mla_error(MLA_ERR_SHAPE, "svm: model label %d outside %d classes", s->model->label[i], classes);
    return MLA_OK;
}

/* Probabilities of one row, written in class order. Without Platt parameters: vote shares. */
static void row_proba(const struct svm_model *m, const struct svm_node *x, int classes, double *work, float *out) {
    int k = m->nr_class;
    for (int c = 0; c < classes; c++) out[c] = 0;
    if (m->probA) {
        svm_predict_probability(m, x, work);
        for (int i = 0; i < k; i++) out[m->label[i]] = (float)work[i];
        return;
    }
    svm_predict_values(m, x, work);
    int p = 0;
    float share = 2.0f / (float)(k * (k - 1));
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++, p++) out[m->label[work[p] > 0 ? i : j]] += share;
}

/* Runs fn over rows in parallel: each thread gets its own node and work buffers. */
static mla_status for_rows(const svm_state *s, const float *x, int n, int d, int classes, float *proba,
                           int32_t *labels) {
    const struct svm_model *m = s->model;
    int threads = mla_get_threads(), failed = 0;
    size_t work_len = (size_t)m->nr_class * (size_t)m->nr_class;
    #pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        struct svm_node *nodes = malloc(((size_t)d + 1) * sizeof *nodes);
        double *work = malloc(work_len * sizeof *work);
        if (!nodes || !work) failed = 1;
        #pragma omp for schedule(static)
        for (int i = 0; i < n; i++) {
            if (!nodes || !work) continue;
            row_to_nodes(x + (size_t)i * (size_t)d, d, nodes);
            if (proba) row_proba(m, nodes, classes, work, proba + (size_t)i * (size_t)classes);
            else labels[i] = (int32_t)svm_predict(m, nodes);
        }
        free(nodes);
        free(work);
    }
    return failed ? mla_error(MLA_ERR_NOMEM, "svm: out of memory predicting") : MLA_OK;
}

static mla_status svm_predict_proba_op(const void *state, const float *x, int n, int d, int classes, float *proba) {
    const svm_state *s = state;
    mla_status st = check_fitted(s, classes);
    return st ? st : for_rows(s, x, n, d, classes, proba, NULL);
}

static mla_status svm_predict_op(const void *state, const float *x, int n, int d, int classes, int32_t *labels) {
    const svm_state *s = state;
    mla_status st = check_fitted(s, classes);
    return st ? st : for_rows(s, x, n, d, classes, NULL, labels);
}

/* ---- save / load ----
 * Stream (native byte order): u32 version; i32 d; f64 C, gamma, cache_mb; i32 probability; u64 seed;
 * i32 nr_class k, l, has_prob; u64 node count; i32 label[k], nSV[k]; f64 rho[p] (p = k(k-1)/2);
 * if has_prob f64 probA[p], probB[p]; f64 sv_coef[(k-1) * l]; then per node i32 index, f64 value. */

#define SVM_STREAM_VERSION 1u

static mla_status put(FILE *fp, const void *p, size_t size, size_t count) {
    if (count && fwrite(p, size, count, fp) != count) return mla_error(MLA_ERR_IO, "svm: write failed");
    return MLA_OK;
}

static mla_status get(FILE *fp, void *p, size_t size, size_t count, const char *what) {
    if (count && fread(p, size, count, fp) != count)
        return mla_error(MLA_ERR_FORMAT, "svm model: truncated while reading %s", what);
    return MLA_OK;
}

static mla_status save_nodes(const struct svm_model *m, FILE *fp) {
    mla_status st = MLA_OK;
    for (int i = 0; i < m->l && !st; i++)
        for (const struct svm_node *nd = m->SV[i];; nd++) {
            int32_t index = nd->index;
            if ((st = put(fp, &index, 4, 1)) || (st = put(fp, &nd->value, 8, 1)) || index == -1) break;
        }
    return st;
}

static mla_status svm_save(const void *state, FILE *fp) {
    const svm_state *s = state;
    const struct svm_model *m = s->model;
    if (!m) return mla_error(MLA_ERR_INVALID, "svm: model is not fitted");
    uint32_t version = SVM_STREAM_VERSION;
    int32_t prob = s->probability, k = m->nr_class, l = m->l, has_prob = m->probA != NULL, d = s->d;
    uint64_t nodes = 0;
    for (int i = 0; i < l; i++) nodes += (uint64_t)count_nodes(m->SV[i]);
    size_t pairs = (size_t)(k * (k - 1) / 2);
    mla_status st;
    if ((st = put(fp, &version, 4, 1)) || (st = put(fp, &d, 4, 1)) || (st = put(fp, &s->C, 8, 1)) || (st = put(fp, &s->gamma, 8, 1)) ||
        (st = put(fp, &s->cache_mb, 8, 1)) || (st = put(fp, &prob, 4, 1)) || (st = put(fp, &s->seed, 8, 1)) ||
        (st = put(fp, &k, 4, 1)) || (st = put(fp, &l, 4, 1)) || (st = put(fp, &has_prob, 4, 1)) ||
        (st = put(fp, &nodes, 8, 1)) || (st = put(fp, m->label, 4, (size_t)k)) || (st = put(fp, m->nSV, 4, (size_t)k)) ||
        (st = put(fp, m->rho, 8, pairs)))
        return st;
    if (has_prob && ((st = put(fp, m->probA, 8, pairs)) || (st = put(fp, m->probB, 8, pairs)))) return st;
    for (int i = 0; i < k - 1; i++)
        if ((st = put(fp, m->sv_coef[i], 8, (size_t)l))) return st;
    return save_nodes(m, fp);
}

/* Reads the support vectors into m's node block, checking each is a valid sparse row of d features. */
static mla_status load_nodes(FILE *fp, struct svm_model *m, uint64_t nodes, int d) {
    struct svm_node *at = m->SV[0];
    uint64_t used = 0;
    for (int i = 0; i < m->l; i++) {
        m->SV[i] = at;
        for (int last = 0;; at++, used++) {
            int32_t index;
            mla_status st;
            if (used >= nodes) return mla_error(MLA_ERR_FORMAT, "svm model: support vectors overrun the node count");
            if ((st = get(fp, &index, 4, 1, "support vectors")) || (st = get(fp, &at->value, 8, 1, "support vectors")))
                return st;
            at->index = index;
            if (index == -1) break;
            if (index <= last || index > d || !isfinite(at->value))
                return mla_error(MLA_ERR_FORMAT, "svm model: support vector %d is corrupt (feature index %d)", i, index);
            last = index;
        }
        at++, used++;
    }
    if (used != nodes) return mla_error(MLA_ERR_FORMAT, "svm model: node count does not match the support vectors");
    return MLA_OK;
}

static mla_status check_model(const struct svm_model *m, int classes) {
    int k = m->nr_class, pairs = k * (k - 1) / 2, total = 0;
    for (int i = 0; i < k; i++) {
        if (m->label[i] < 0 || m->label[i] >= classes || m->nSV[i] < 0 || m->nSV[i] > m->l)
            return mla_error(MLA_ERR_FORMAT, "svm model: class table is corrupt");
        for (int j = 0; j < i; j++)
            if (m->label[j] == m->label[i]) return mla_error(MLA_ERR_FORMAT, "svm model: repeated class label");
        total += m->nSV[i];
    }
    if (total != m->l) return mla_error(MLA_ERR_FORMAT, "svm model: support vector counts do not add up");
    for (int p = 0; p < pairs; p++)
        if (!isfinite(m->rho[p]) || (m->probA && (!isfinite(m->probA[p]) || !isfinite(m->probB[p]))))
            return mla_error(MLA_ERR_FORMAT, "svm model: non-finite decision constants");
    for (int i = 0; i < k - 1; i++)
        for (int j = 0; j < m->l; j++)
            if (!isfinite(m->sv_coef[i][j])) return mla_error(MLA_ERR_FORMAT, "svm model: non-finite coefficients");
    return MLA_OK;
}

static mla_status load_header(FILE *fp, svm_state *s, int d, int32_t *k, int32_t *l, int32_t *has_prob, uint64_t *nodes) {
    uint32_t version;
    int32_t prob;
    mla_status st;
    if ((st = get(fp, &version, 4, 1, "version"))) return st;
    if (version != SVM_STREAM_VERSION) return mla_error(MLA_ERR_FORMAT, "svm model: unknown version %u", version);
    if ((st = get(fp, &s->d, 4, 1, "feature count"))) return st;
    if (s->d != d) return mla_error(MLA_ERR_FORMAT, "svm model: %d features, header says %d", s->d, d);
    if ((st = get(fp, &s->C, 8, 1, "C")) || (st = get(fp, &s->gamma, 8, 1, "gamma")) ||
        (st = get(fp, &s->cache_mb, 8, 1, "cache_mb")) || (st = get(fp, &prob, 4, 1, "probability")) ||
        (st = get(fp, &s->seed, 8, 1, "seed")) || (st = get(fp, k, 4, 1, "class count")) ||
        (st = get(fp, l, 4, 1, "support vector count")) || (st = get(fp, has_prob, 4, 1, "flags")) ||
        (st = get(fp, nodes, 8, 1, "node count")))
        return st;
    s->probability = prob;
    if (check_params(s, 1)) return mla_error_prefix(MLA_ERR_FORMAT, "svm model");
    return MLA_OK;
}

/* Reads the class table, decision constants, coefficients and support vectors into m. */
static mla_status load_arrays(FILE *fp, struct svm_model *m, int d, uint64_t nodes) {
    int k = m->nr_class;
    size_t pairs = (size_t)(k * (k - 1) / 2);
    mla_status st;
    if ((st = get(fp, m->label, 4, (size_t)k, "labels")) || (st = get(fp, m->nSV, 4, (size_t)k, "labels")) ||
        (st = get(fp, m->rho, 8, pairs, "rho")))
        return st;
    if (m->probA && ((st = get(fp, m->probA, 8, pairs, "probA")) || (st = get(fp, m->probB, 8, pairs, "probB"))))
        return st;
    for (int i = 0; i < k - 1; i++)
        if ((st = get(fp, m->sv_coef[i], 8, (size_t)m->l, "coefficients"))) return st;
    return load_nodes(fp, m, nodes, d);
}

static mla_status svm_load(FILE *fp, int d, int classes, void **state) {
    *state = NULL;
    svm_state *s = mla_alloc(1, sizeof *s);
    if (!s) return MLA_ERR_NOMEM;
    int32_t k, l, has_prob;
    uint64_t nodes;
    mla_status st = load_header(fp, s, d, &k, &l, &has_prob, &nodes);
    if (!st && (k < 2 || k > classes || l < 1 || l > 100000000 || (has_prob != 0 && has_prob != 1) ||
                nodes < (uint64_t)l || nodes > (uint64_t)l * ((uint64_t)d + 1)))
        st = mla_error(MLA_ERR_FORMAT, "svm model: corrupt sizes (%d classes, %d support vectors)", k, l);
    if (!st && !(s->model = model_alloc(k, l, (size_t)nodes, has_prob))) st = MLA_ERR_NOMEM;
    if (!st) st = load_arrays(fp, s->model, d, nodes);
    if (!st) st = check_model(s->model, classes);
    if (st) {
        svm_free(s);
        return st;
    }
    set_model_param(s->model, s);
    *state = s;
    return MLA_OK;
}

const mla_classifier_ops mla_svm_ops = {
    .kind = "svm",
    .param_names = svm_param_names,
    .create = svm_create,
    .fit = svm_fit,
    .predict_proba = svm_predict_proba_op,
    .predict = svm_predict_op,
    .save = svm_save,
    .load = svm_load,
    .free = svm_free,
};
