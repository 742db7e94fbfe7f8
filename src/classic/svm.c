/* RBF support vector machine (C-SVC) through libsvm.
 *
 * Parameters: C (default 1); gamma (default scikit-learn's 'scale': 1 / (d * var(X)), the
 * variance taken over every entry of the training matrix; 1 if that variance is 0);
 * probability (default 1: Platt-scaled pairwise probabilities, fitted on 5-fold cross-validated
 * decision values and coupled into class probabilities as libsvm does; 0: no Platt fit, which
 * trains about 6 times less, and predict_proba returns each class's share of the one-vs-one
 * votes); cache_mb (libsvm's kernel cache per pair being trained, default 200).
 *
 * Training is libsvm's one-vs-one scheme with libsvm's solver, one binary problem per pair of
 * classes, the pairs trained concurrently over mla_get_threads() threads (libsvm itself is
 * single-threaded). A pair whose kernel matrix fits in PAIR_BYTES_MAX is solved on that matrix,
 * computed by one sgemm (libsvm's PRECOMPUTED kernel); larger pairs use libsvm's own RBF on
 * sparse rows. Prediction evaluates kernels with sgemm (see "predict").
 *
 * predict is the one-vs-one vote, as libsvm's svm_predict and scikit-learn's SVC.predict; with
 * probability=1 it can disagree with the argmax of predict_proba on a few ambiguous rows, as in
 * scikit-learn.
 *
 * Reproducibility: libsvm's own probability fit shuffles its folds with the C library's rand();
 * here the folds come from the model seed instead (one mla_rng stream per pair), and each pair's
 * result depends only on its own data and stream, not on which thread ran it or when: the same
 * seed and thread count give the same model. libsvm's progress output is silenced
 * through svm_set_print_string_function (process-global).
 *
 * The model is kept as a libsvm svm_model in the layout svm_load_model builds (support vectors
 * in one block, free_sv = 1), grouped by class in ascending class order; labels inside it are our
 * class indices, and classes absent from the training data get probability 0.
 */
#include "classic/classifier_impl.h"

#include <cblas.h>
#include <libsvm/svm.h>
#include <omp.h>
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
    /* Prediction tables derived from the model after fit and load (not saved). */
    float *sv_dense;         /* l x d support vectors */
    double *sv_norm;         /* their squared norms */
    int *start;              /* first support vector of each model class */
} svm_state;

static mla_status prepare_tables(svm_state *s);

/* ---- parameters ---- */

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
    mla_status st = mla_classic_read_params("svm", svm_param_names, params, n_params, v, &given);
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
    free(s->sv_dense), free(s->sv_norm), free(s->start);
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

/* ---- fit ----
 * One-vs-one, as libsvm's own multi-class training: the same binary problems (class a rows, then
 * class b rows, in data order), the same solver. But the pairs run concurrently, and each pair
 * trains on a kernel precomputed by one sgemm (libsvm's PRECOMPUTED kernel type) when its node
 * matrix fits in PAIR_BYTES_MAX, else on libsvm's own RBF over sparse rows. Platt's sigmoid of a
 * pair is fitted on 5-fold cross-validated decision values, as libsvm does, with the folds drawn
 * from the model seed (one generator stream per pair), so no global state is involved. */

#define PAIR_BYTES_MAX ((size_t)256 << 20)
#define PLATT_FOLDS 5

typedef struct {
    int a, b;              /* model classes */
    int m, na;             /* rows of the pair: na of class a first, then class b */
    double rho, prob_a, prob_b;
    double *coef;          /* m: y * alpha per pair row, 0 off the support vectors */
    mla_status status;
    char message[256];     /* the worker thread's error message */
} pair_fit;

typedef struct {
    const svm_state *s;
    const float *x;
    int d, k;
    const int *label;              /* model class -> class id */
    int32_t *const *class_rows;    /* model class -> its rows, ascending */
    const int *class_count;
    struct svm_node *const *sparse; /* every row as sparse nodes */
} fit_context;

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

/* Row of x as libsvm's sparse nodes (1-based indices, zeros left out, -1 terminated) into out. */
static struct svm_node *row_to_nodes(const float *row, int d, struct svm_node *out) {
    int j = 0;
    for (int f = 0; f < d; f++)
        if (row[f] != 0) out[j++] = (struct svm_node){f + 1, row[f]};
    out[j].index = -1;
    return out + j + 1;
}

static int pair_row(const fit_context *c, const pair_fit *p, int r) {
    return r < p->na ? c->class_rows[p->a][r] : c->class_rows[p->b][r - p->na];
}

/* A worker thread's buffers for the precomputed kernels of its pairs, kept from one pair to the
 * next: a fresh 64 MB block per pair (2,000 rows) cost more in page faults than the kernel's
 * values (measured: a third of svm's CPU time on 10,000 Fashion-MNIST images). */
typedef struct {
    size_t cap;              /* rows the buffers hold (0: none yet) */
    float *xp, *dots;        /* cap x d pair rows, cap x cap dot products */
    double *norm;            /* cap squared norms */
    struct svm_node *block;  /* cap x (cap + 2) kernel rows */
} pair_scratch;

static void scratch_free(pair_scratch *w) {
    free(w->xp), free(w->dots), free(w->norm), free(w->block);
    memset(w, 0, sizeof *w);
}

/* Buffers for m rows of d features; 0 when memory runs out (w is then empty). */
static int scratch_reserve(pair_scratch *w, size_t m, size_t d) {
    if (m <= w->cap) return 1;
    scratch_free(w);
    w->xp = malloc(m * d * sizeof *w->xp), w->dots = malloc(m * m * sizeof *w->dots);
    w->norm = malloc(m * sizeof *w->norm), w->block = malloc(m * (m + 2) * sizeof *w->block);
    if (!w->xp || !w->dots || !w->norm || !w->block) {
        scratch_free(w);
        return 0;
    }
    w->cap = m;
    return 1;
}

/* The pair's RBF kernel as libsvm PRECOMPUTED rows in w->block: node 0 holds the row's serial
 * number (1-based), nodes 1..m the kernel values, then the terminator. 0 when memory runs out. */
static int precomputed_rows(const fit_context *c, const pair_fit *p, struct svm_node **rows, pair_scratch *w) {
    size_t m = (size_t)p->m, d = (size_t)c->d, width = m + 2;
    if (!scratch_reserve(w, m, d)) return 0;
    float *xp = w->xp, *dots = w->dots;
    double *norm = w->norm;
    for (size_t r = 0; r < m; r++) {
        memcpy(xp + r * d, c->x + (size_t)pair_row(c, p, (int)r) * d, d * sizeof *xp);
        norm[r] = 0;
        for (size_t j = 0; j < d; j++) norm[r] += (double)xp[r * d + j] * xp[r * d + j];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p->m, p->m, c->d, 1.0f, xp, c->d, xp, c->d, 0.0f, dots, p->m);
    for (size_t r = 0; r < m; r++) {
        struct svm_node *row = rows[r] = w->block + r * width;
        row[0] = (struct svm_node){0, (double)(r + 1)};
        for (size_t q = 0; q < m; q++) {
            double dist = fmax(0.0, norm[r] + norm[q] - 2.0 * dots[r * m + q]);
            row[q + 1] = (struct svm_node){(int)q + 1, q == r ? 1.0 : exp(-c->s->gamma * dist)};
        }
        row[m + 1].index = -1;
    }
    return 1;
}

/* Platt's sigmoid P(a | f) = 1 / (1 + exp(A f + B)) fitted to decision values f by Newton's
 * method with backtracking, on the regularised targets of Lin, Lin and Weng (2007), as libsvm. */
static void sigmoid_fit(int m, const double *f, const int *positive, double *a_out, double *b_out) {
    double pos = 0, neg = 0;
    for (int i = 0; i < m; i++) positive[i] ? pos++ : neg++;
    double hi = (pos + 1) / (pos + 2), lo = 1 / (neg + 2), a = 0, b = log((neg + 1) / (pos + 1)), value = 0;
    for (int i = 0; i < m; i++) {
        double t = positive[i] ? hi : lo, z = f[i] * a + b;
        value += z >= 0 ? t * z + log1p(exp(-z)) : (t - 1) * z + log1p(exp(z));
    }
    for (int iter = 0; iter < 100; iter++) {
        double h11 = 1e-12, h22 = 1e-12, h21 = 0, g1 = 0, g2 = 0;
        for (int i = 0; i < m; i++) {
            double t = positive[i] ? hi : lo, z = f[i] * a + b;
            double p = z >= 0 ? exp(-z) / (1 + exp(-z)) : 1 / (1 + exp(z)), w = p * (1 - p);
            h11 += f[i] * f[i] * w, h22 += w, h21 += f[i] * w;
            g1 += f[i] * (t - p), g2 += t - p;
        }
        if (fabs(g1) < 1e-5 && fabs(g2) < 1e-5) break;
        double det = h11 * h22 - h21 * h21, da = -(h22 * g1 - h21 * g2) / det, db = -(-h21 * g1 + h11 * g2) / det;
        double slope = g1 * da + g2 * db, step = 1;
        for (; step >= 1e-10; step /= 2) {
            double na = a + step * da, nb = b + step * db, nv = 0;
            for (int i = 0; i < m; i++) {
                double t = positive[i] ? hi : lo, z = f[i] * na + nb;
                nv += z >= 0 ? t * z + log1p(exp(-z)) : (t - 1) * z + log1p(exp(z));
            }
            if (nv < value + 1e-4 * step * slope) {
                a = na, b = nb, value = nv;
                break;
            }
        }
        if (step < 1e-10) break;
    }
    *a_out = a, *b_out = b;
}

/* Decision values of the held-out rows perm[begin..end) from a model trained on the others;
 * libsvm's conventions when the training part holds a single class (+1, -1, or 0 if empty). */
static mla_status fold_decisions(const struct svm_problem *prob, const struct svm_parameter *param, double label_a,
                                 const int32_t *perm, int begin, int end, struct svm_problem *sub, double *dec) {
    int pos = 0, neg = 0;
    sub->l = 0;
    for (int j = 0; j < prob->l; j++) {
        if (j >= begin && j < end) continue;
        sub->x[sub->l] = prob->x[perm[j]];
        sub->y[sub->l++] = prob->y[perm[j]];
        prob->y[perm[j]] == label_a ? pos++ : neg++;
    }
    if (!pos || !neg) {
        for (int j = begin; j < end; j++) dec[perm[j]] = pos ? 1 : neg ? -1 : 0;
        return MLA_OK;
    }
    struct svm_model *model = svm_train(sub, param);
    if (!model) return mla_error(MLA_ERR_NOMEM, "svm: libsvm failed to train a probability fold");
    double sign = model->label[0] == (int)label_a ? 1 : -1;
    for (int j = begin; j < end; j++) {
        svm_predict_values(model, prob->x[perm[j]], &dec[perm[j]]);
        dec[perm[j]] *= sign;
    }
    svm_free_and_destroy_model(&model);
    return MLA_OK;
}

/* Platt parameters of a pair from PLATT_FOLDS-fold cross-validated decision values. */
static mla_status platt_fit(const struct svm_problem *prob, const struct svm_parameter *param, double label_a,
                            mla_rng *rng, double *a, double *b) {
    int m = prob->l;
    int32_t *perm = malloc((size_t)m * sizeof *perm);
    int *positive = malloc((size_t)m * sizeof *positive);
    double *dec = malloc((size_t)m * sizeof *dec);
    struct svm_problem sub = {0, malloc((size_t)m * sizeof(double)), malloc((size_t)m * sizeof(struct svm_node *))};
    mla_status st = perm && positive && dec && sub.y && sub.x ? MLA_OK : mla_error(MLA_ERR_NOMEM, "svm: out of memory");
    if (!st) mla_rng_permutation(rng, perm, m);
    for (int f = 0; f < PLATT_FOLDS && !st; f++)
        st = fold_decisions(prob, param, label_a, perm, f * m / PLATT_FOLDS, (f + 1) * m / PLATT_FOLDS, &sub, dec);
    if (!st) {
        for (int i = 0; i < m; i++) positive[i] = prob->y[i] == label_a;
        sigmoid_fit(m, dec, positive, a, b);
    }
    free(perm), free(positive), free(dec), free(sub.y), free(sub.x);
    return st;
}

/* Trains pair p: Platt's parameters (if asked), then the binary machine on all the pair's rows;
 * the precomputed kernel lives in w until the thread's next pair. */
static mla_status train_pair(const fit_context *c, pair_fit *p, uint64_t stream, pair_scratch *w) {
    const svm_state *s = c->s;
    struct svm_node **rows = malloc((size_t)p->m * sizeof *rows);
    int block = 0;
    double *y = malloc((size_t)p->m * sizeof *y);
    p->coef = calloc((size_t)p->m, sizeof *p->coef);
    if (!rows || !y || !p->coef) {
        free(rows), free(y);
        return mla_error(MLA_ERR_NOMEM, "svm: out of memory for a pair of %d rows", p->m);
    }
    struct svm_parameter param = {.svm_type = C_SVC, .kernel_type = RBF, .gamma = s->gamma, .cache_size = s->cache_mb,
                                  .eps = 1e-3, .C = s->C, .shrinking = 1};
    size_t bytes = (size_t)p->m * ((size_t)p->m + 2) * sizeof(struct svm_node) + (size_t)p->m * (size_t)p->m * 4;
    if (bytes <= PAIR_BYTES_MAX && (block = precomputed_rows(c, p, rows, w))) param.kernel_type = PRECOMPUTED;
    for (int r = 0; r < p->m; r++) {
        y[r] = c->label[r < p->na ? p->a : p->b];
        if (!block) rows[r] = c->sparse[pair_row(c, p, r)];
    }
    struct svm_problem prob = {p->m, y, rows};
    mla_status st = MLA_OK;
    if (s->probability) {
        mla_rng base, rng;
        mla_rng_seed(&base, s->seed);
        rng = mla_rng_fork(&base, stream);
        st = platt_fit(&prob, &param, c->label[p->a], &rng, &p->prob_a, &p->prob_b);
    }
    struct svm_model *model = st ? NULL : svm_train(&prob, &param);
    if (!st && !model) st = mla_error(MLA_ERR_NOMEM, "svm: libsvm failed to train a pair");
    if (model) {
        double sign = model->label[0] == c->label[p->a] ? 1 : -1;
        p->rho = sign * model->rho[0];
        for (int t = 0; t < model->l; t++) p->coef[model->sv_indices[t] - 1] = sign * model->sv_coef[0][t];
        svm_free_and_destroy_model(&model);
    }
    free(rows), free(y);
    return st;
}

/* The multi-class model of the trained pairs: support vectors grouped by class (data order
 * within a class), coefficients laid out as libsvm's sv_coef. */
static struct svm_model *assemble(const fit_context *c, const pair_fit *pairs, int *position) {
    int k = c->k, l = 0, *offset = calloc((size_t)k + 1, sizeof *offset), *nsv = calloc((size_t)k, sizeof *nsv);
    size_t nodes = 0;
    if (!offset || !nsv) return free(offset), free(nsv), mla_error(MLA_ERR_NOMEM, "svm: out of memory"), NULL;
    for (int a = 0; a < k; a++) offset[a + 1] = offset[a] + c->class_count[a];
    for (int p = 0, pair = 0; p < k; p++)
        for (int q = p + 1; q < k; q++, pair++)
            for (int r = 0; r < pairs[pair].m; r++)
                if (pairs[pair].coef[r] != 0)
                    position[r < pairs[pair].na ? offset[p] + r : offset[q] + r - pairs[pair].na] = 1;
    for (int a = 0; a < k; a++)
        for (int r = 0; r < c->class_count[a]; r++)
            if (position[offset[a] + r]) {
                position[offset[a] + r] = l++;
                nsv[a]++;
                nodes += (size_t)count_nodes(c->sparse[c->class_rows[a][r]]);
            } else {
                position[offset[a] + r] = -1;
            }
    struct svm_model *m = model_alloc(k, l, nodes, c->s->probability);
    if (m) {
        struct svm_node *at = m->SV[0];
        for (int a = 0; a < k; a++) {
            m->label[a] = c->label[a], m->nSV[a] = nsv[a];
            for (int r = 0; r < c->class_count[a]; r++) {
                int pos = position[offset[a] + r], len;
                if (pos < 0) continue;
                len = count_nodes(c->sparse[c->class_rows[a][r]]);
                memcpy(at, c->sparse[c->class_rows[a][r]], (size_t)len * sizeof *at);
                m->SV[pos] = at, at += len;
            }
        }
        for (int p = 0, pair = 0; p < k; p++)
            for (int q = p + 1; q < k; q++, pair++) {
                const pair_fit *f = &pairs[pair];
                for (int r = 0; r < f->m; r++) {
                    int pos = position[r < f->na ? offset[p] + r : offset[q] + r - f->na];
                    if (pos >= 0) m->sv_coef[r < f->na ? q - 1 : p][pos] = f->coef[r];
                }
                m->rho[pair] = f->rho;
                if (m->probA) m->probA[pair] = f->prob_a, m->probB[pair] = f->prob_b;
            }
    }
    free(offset), free(nsv);
    return m;
}

/* Trains every pair (concurrently: each pair's result depends on its data and stream only) and
 * assembles the model into s. */
static mla_status train_pairs(svm_state *s, const fit_context *c, int n) {
    int k = c->k, count = k * (k - 1) / 2, threads = mla_get_threads();
    pair_fit *pairs = mla_alloc((size_t)count, sizeof *pairs);
    int *position = mla_alloc((size_t)n, sizeof *position);
    if (!pairs || !position) return free(pairs), free(position), MLA_ERR_NOMEM;
    for (int a = 0, p = 0; a < k; a++)
        for (int b = a + 1; b < k; b++, p++)
            pairs[p] = (pair_fit){.a = a, .b = b, .na = c->class_count[a], .m = c->class_count[a] + c->class_count[b]};
    svm_set_print_string_function(quiet);
    #pragma omp parallel num_threads(threads)
    {
        pair_scratch w = {0};
        #pragma omp for schedule(dynamic, 1)
        for (int p = 0; p < count; p++) {
            pairs[p].status = train_pair(c, &pairs[p], (uint64_t)p, &w);
            if (pairs[p].status) snprintf(pairs[p].message, sizeof pairs[p].message, "%s", mla_last_error());
        }
        scratch_free(&w);
    }
    mla_status st = MLA_OK;
    for (int p = 0; p < count && !st; p++)
        if (pairs[p].status) st = mla_error(pairs[p].status, "%s", pairs[p].message);
    struct svm_model *m = st ? NULL : assemble(c, pairs, position);
    if (!st && !m) st = MLA_ERR_NOMEM;
    if (m) {
        set_model_param(m, s);
        if (s->model) svm_free_and_destroy_model(&s->model);
        s->model = m;
        st = prepare_tables(s);
    }
    for (int p = 0; p < count; p++) free(pairs[p].coef);
    free(pairs), free(position);
    return st;
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

/* Row lists of the classes present, in ascending class order (the model's class order). */
static int group_classes(const int32_t *y, int n, int classes, int *label, int *count, int32_t **rows) {
    int k = 0;
    for (int c = 0; c < classes; c++) {
        int found = 0;
        for (int i = 0; i < n; i++) found += y[i] == c;
        if (!found) continue;
        label[k] = c, count[k] = 0;
        if (!(rows[k] = malloc((size_t)found * sizeof **rows))) return -1;
        for (int i = 0; i < n; i++)
            if (y[i] == c) rows[k][count[k]++] = i;
        k++;
    }
    return k;
}

static mla_status svm_fit(void *state, const float *x, const int32_t *y, int n, int d, int classes) {
    svm_state *s = state;
    mla_status st = check_fit_input(x, y, n, d, classes);
    if (st) return st;
    if (!s->gamma_given) s->gamma = gamma_scale(x, (size_t)n * (size_t)d, d);
    s->d = d;
    size_t nnz = 0;
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++) nnz += x[i] != 0;
    int *label = mla_alloc((size_t)classes, sizeof *label), *count = mla_alloc((size_t)classes, sizeof *count);
    int32_t **rows = mla_alloc((size_t)classes, sizeof *rows);
    struct svm_node **sparse = mla_alloc((size_t)n, sizeof *sparse);
    struct svm_node *nodes = mla_alloc(nnz + (size_t)n, sizeof *nodes);
    int k = label && count && rows ? group_classes(y, n, classes, label, count, rows) : -1;
    if (k < 0 || !sparse || !nodes) st = mla_error(MLA_ERR_NOMEM, "svm: out of memory for %d training rows", n);
    struct svm_node *at = nodes;
    for (int i = 0; !st && i < n; i++) {
        sparse[i] = at;
        at = row_to_nodes(x + (size_t)i * (size_t)d, d, at);
    }
    if (!st) {
        fit_context c = {s, x, d, k, label, rows, count, sparse};
        st = train_pairs(s, &c, n);
    }
    for (int c = 0; rows && c < classes; c++) free(rows[c]);
    free(label), free(count), free(rows), free(sparse), free(nodes);
    return st;
}

/* ---- predict ----
 * Kernel rows come from one sgemm per block of rows against the dense support vectors:
 * K(x, v) = exp(-gamma (|x|^2 + |v|^2 - 2 x.v)). The one-vs-one decision values, the votes
 * (libsvm's svm_predict rule) and the pairwise coupling of the Platt probabilities (Wu, Lin and
 * Weng's method 2, as libsvm's svm_predict_probability, pairwise values clipped to [1e-7, 1-1e-7])
 * then follow in double. The float dot products move decision values by about 1e-6 relative from
 * libsvm's own double-precision sparse evaluation, which is many times slower. */

enum { PREDICT_BLOCK = 512 };

/* The dense support vectors, their squared norms and each class's first support vector. */
static mla_status prepare_tables(svm_state *s) {
    const struct svm_model *m = s->model;
    free(s->sv_dense), free(s->sv_norm), free(s->start);
    s->sv_dense = mla_alloc((size_t)m->l * (size_t)s->d, sizeof *s->sv_dense);
    s->sv_norm = mla_alloc((size_t)m->l, sizeof *s->sv_norm);
    s->start = mla_alloc((size_t)m->nr_class, sizeof *s->start);
    if (!s->sv_dense || !s->sv_norm || !s->start) return MLA_ERR_NOMEM;
    for (int i = 0; i < m->l; i++) {
        float *row = s->sv_dense + (size_t)i * (size_t)s->d;
        for (const struct svm_node *nd = m->SV[i]; nd->index != -1; nd++) row[nd->index - 1] = (float)nd->value;
        double norm = 0;
        for (int j = 0; j < s->d; j++) norm += (double)row[j] * row[j];
        s->sv_norm[i] = norm;
    }
    for (int c = 1; c < m->nr_class; c++) s->start[c] = s->start[c - 1] + m->nSV[c - 1];
    return MLA_OK;
}

/* One-vs-one decision values of a row from its kernel values (libsvm's order of pairs). */
static void decision_values(const svm_state *s, const double *kernel, double *dec) {
    const struct svm_model *m = s->model;
    int k = m->nr_class, p = 0;
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++, p++) {
            const double *ci = m->sv_coef[j - 1] + s->start[i], *cj = m->sv_coef[i] + s->start[j];
            const double *ki = kernel + s->start[i], *kj = kernel + s->start[j];
            double sum = 0;
            for (int t = 0; t < m->nSV[i]; t++) sum += ci[t] * ki[t];
            for (int t = 0; t < m->nSV[j]; t++) sum += cj[t] * kj[t];
            dec[p] = sum - m->rho[p];
        }
}

/* libsvm's vote: the model class with the most pairwise wins, the first on ties. */
static int vote(int k, const double *dec, int *votes) {
    int p = 0, best = 0;
    for (int i = 0; i < k; i++) votes[i] = 0;
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++, p++) votes[dec[p] > 0 ? i : j]++;
    for (int i = 1; i < k; i++)
        if (votes[i] > votes[best]) best = i;
    return best;
}

static double platt(double dec, double a, double b) {
    double f = dec * a + b; /* the stable form of 1 / (1 + exp(f)) */
    return f >= 0 ? exp(-f) / (1.0 + exp(-f)) : 1.0 / (1.0 + exp(f));
}

/* Class probabilities p[k] from pairwise probabilities r (k x k, r[i][j] = P(i | i or j)):
 * minimises sum_{i<j} (r[j][i] p[i] - r[i][j] p[j])^2 on the simplex by the fixed-point
 * iteration of Wu, Lin and Weng (2004), method 2. q is k x k scratch, qp k. */
static void couple(int k, const double *r, double *p, double *q, double *qp) {
    for (int t = 0; t < k; t++) {
        p[t] = 1.0 / k;
        q[t * k + t] = 0;
        for (int j = 0; j < k; j++)
            if (j != t) {
                q[t * k + t] += r[j * k + t] * r[j * k + t];
                q[t * k + j] = -r[j * k + t] * r[t * k + j];
            }
    }
    int max_iter = k > 100 ? k : 100;
    for (int iter = 0; iter < max_iter; iter++) {
        double pqp = 0, worst = 0;
        for (int t = 0; t < k; t++) {
            qp[t] = 0;
            for (int j = 0; j < k; j++) qp[t] += q[t * k + j] * p[j];
            pqp += p[t] * qp[t];
        }
        for (int t = 0; t < k; t++) worst = fmax(worst, fabs(qp[t] - pqp));
        if (worst < 0.005 / k) break;
        for (int t = 0; t < k; t++) {
            double diff = (pqp - qp[t]) / q[t * k + t];
            p[t] += diff;
            pqp = (pqp + diff * (diff * q[t * k + t] + 2 * qp[t])) / (1 + diff) / (1 + diff);
            for (int j = 0; j < k; j++) {
                qp[j] = (qp[j] + diff * q[t * k + j]) / (1 + diff);
                p[j] /= 1 + diff;
            }
        }
    }
}

/* Probabilities of one row in model-class order (votes shares without Platt parameters). */
static void model_proba(const struct svm_model *m, const double *dec, double *scratch, double *p) {
    int k = m->nr_class, pairs = k * (k - 1) / 2;
    if (!m->probA) {
        int *votes = (int *)scratch;
        vote(k, dec, votes);
        for (int i = 0; i < k; i++) p[i] = (double)votes[i] / pairs;
        return;
    }
    double *r = scratch, *q = scratch + k * k, *qp = scratch + 2 * k * k;
    int pair = 0;
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++, pair++) {
            double v = fmin(fmax(platt(dec[pair], m->probA[pair], m->probB[pair]), 1e-7), 1 - 1e-7);
            r[i * k + j] = v;
            r[j * k + i] = 1 - v;
        }
    if (k == 2) {
        p[0] = r[1];
        p[1] = r[k];
    } else {
        couple(k, r, p, q, qp);
    }
}

/* Per-row work after the block's dot products: kernel values, decisions, then labels or
 * probabilities (in class order). scratch holds l + k(k-1)/2 + 3 k^2 + k doubles. */
static void finish_row(const svm_state *s, const float *x, const float *dots, int classes, double *scratch,
                       float *proba, int32_t *label) {
    const struct svm_model *m = s->model;
    int k = m->nr_class, l = m->l, pairs = k * (k - 1) / 2;
    double *kernel = scratch, *dec = kernel + l, *work = dec + pairs, *p = work + 3 * k * k;
    double xx = 0;
    for (int j = 0; j < s->d; j++) xx += (double)x[j] * x[j];
    for (int t = 0; t < l; t++) kernel[t] = exp(-s->gamma * fmax(0.0, xx + s->sv_norm[t] - 2.0 * dots[t]));
    decision_values(s, kernel, dec);
    if (label) {
        *label = m->label[vote(k, dec, (int *)work)];
        return;
    }
    model_proba(m, dec, work, p);
    for (int c = 0; c < classes; c++) proba[c] = 0;
    for (int i = 0; i < k; i++) proba[m->label[i]] = (float)p[i];
}

/* Labels (proba NULL) or probabilities (labels NULL) for n rows, block by block. */
static mla_status predict_rows(const svm_state *s, const float *x, int n, int classes, float *proba, int32_t *labels) {
    const struct svm_model *m = s->model;
    int l = m->l, k = m->nr_class, d = s->d, threads = mla_get_threads();
    size_t per_thread = (size_t)l + (size_t)(k * (k - 1) / 2) + 3 * (size_t)k * k + (size_t)k;
    float *dots = mla_alloc_aligned((size_t)PREDICT_BLOCK * (size_t)l, sizeof *dots);
    double *scratch = mla_alloc(per_thread * (size_t)threads, sizeof *scratch);
    if (!dots || !scratch) {
        free(dots), free(scratch);
        return MLA_ERR_NOMEM;
    }
    for (int first = 0; first < n; first += PREDICT_BLOCK) {
        int rows = n - first < PREDICT_BLOCK ? n - first : PREDICT_BLOCK;
        const float *xb = x + (size_t)first * (size_t)d;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, l, d, 1.0f, xb, d, s->sv_dense, d, 0.0f, dots, l);
        #pragma omp parallel for schedule(static) num_threads(threads)
        for (int r = 0; r < rows; r++) {
            double *mine = scratch + (size_t)omp_get_thread_num() * per_thread;
            size_t i = (size_t)first + (size_t)r;
            finish_row(s, xb + (size_t)r * (size_t)d, dots + (size_t)r * (size_t)l, classes, mine,
                       proba ? proba + i * (size_t)classes : NULL, labels ? labels + i : NULL);
        }
    }
    free(dots), free(scratch);
    return MLA_OK;
}

static mla_status check_fitted(const svm_state *s, int d, int classes) {
    if (!s->model || !s->start) return mla_error(MLA_ERR_INVALID, "svm: model is not fitted");
    if (d != s->d) return mla_error(MLA_ERR_SHAPE, "svm: model has %d features, asked for %d", s->d, d);
    for (int i = 0; i < s->model->nr_class; i++)
        if (s->model->label[i] >= classes)
            return mla_error(MLA_ERR_SHAPE, "svm: model label %d outside %d classes", s->model->label[i], classes);
    return MLA_OK;
}

static mla_status svm_predict_proba_op(const void *state, const float *x, int n, int d, int classes, float *proba) {
    const svm_state *s = state;
    mla_status st = check_fitted(s, d, classes);
    return st ? st : predict_rows(s, x, n, classes, proba, NULL);
}

static mla_status svm_predict_op(const void *state, const float *x, int n, int d, int classes, int32_t *labels) {
    const svm_state *s = state;
    mla_status st = check_fitted(s, d, classes);
    return st ? st : predict_rows(s, x, n, classes, NULL, labels);
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
    if ((st = prepare_tables(s))) {
        svm_free(s);
        return st;
    }
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
