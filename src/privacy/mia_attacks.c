/* Attacks on arrays (mia.h section 2): runs every configured attack on a target's and
 * its shadows' outputs and summarises each with scoring.h.
 *
 * Thresholds are chosen the way an attacker can: on the shadows, never on the target's
 * ground truth. Metric attacks pool every shadow's members vs non-members over the fit
 * samples; the reference-model attacks (LiRA, RMIA, similarity) score each shadow in
 * turn as if it were the target, against the other shadows (leave one out). */
#include "privacy/mia_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const attack_names[] = {
    "random",       "correctness",  "loss",           "confidence",        "entropy",
    "modified_entropy", "shadow_sample", "shadow_batch", "lira_online",    "lira_online_fixed",
    "lira_offline", "lira_offline_fixed", "rmia_offline", "similarity",    "label_augment",
    NULL};

const char *const *mla_mia_attack_names(void) { return attack_names; }

mla_mia_config mla_mia_defaults(void) {
    mla_mia_config c = {0};
    c.attacks = "all";
    c.rmia_a = 0.3;
    c.rmia_gamma = 1;
    c.attack = mla_attack_defaults();
    return c;
}

/* The state of one run. */
typedef struct {
    const mla_mia_arrays *a;
    const mla_mia_config *cfg;
    mia_values v;
    bool all;                 /* "all" (or NULL): skip what cannot run */
    bool named[16];           /* per attack_names entry, when not all */
    mla_mia_result *res;
    int cap;
    /* m: 1 / 0 evaluated member / non-member, 2 evaluated without ground truth (scores
     * only), -1 not evaluated (truth -1, or a population point). */
    int8_t *eval;
} run;

static int name_index(const char *name, size_t len) {
    for (int i = 0; attack_names[i]; i++)
        if (strlen(attack_names[i]) == len && !strncmp(attack_names[i], name, len)) return i;
    return -1;
}

static mla_status parse_attacks(run *r) {
    const char *list = r->cfg->attacks;
    r->all = !list || !strcmp(list, "all");
    if (r->all) return MLA_OK;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        int i = name_index(p, len);
        if (i < 0) {
            char known[400] = "";
            for (int j = 0; attack_names[j]; j++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", j ? ", " : "", attack_names[j]);
            return mla_error(MLA_ERR_INVALID, "unknown attack '%.*s' (known: all, %s)", (int)len, p, known);
        }
        r->named[i] = true;
        p += len + (p[len] == ',');
    }
    return MLA_OK;
}

/* Whether attack `name` is wanted; if it is but cannot run (`why` not NULL), it is
 * skipped under "all" and an error when named. */
static mla_status wanted(const run *r, const char *name, const char *why, bool *go) {
    int i = name_index(name, strlen(name));
    *go = r->all || r->named[i];
    if (*go && why) {
        *go = false;
        if (!r->all) return mla_error(MLA_ERR_INVALID, "attack %s cannot run: %s", name, why);
    }
    return MLA_OK;
}

static mla_mia_attack_result *push(run *r) {
    if (r->res->n_attacks == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        mla_mia_attack_result *grown = realloc(r->res->attacks, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        r->res->attacks = grown;
        r->cap = cap;
    }
    mla_mia_attack_result *at = &r->res->attacks[r->res->n_attacks++];
    memset(at, 0, sizeof *at);
    return at;
}

/* Records an attack from its members' and non-members' scores (taken over). A NaN
 * threshold means none could be chosen: accuracy, precision and recall are NaN. */
static mla_status record(run *r, const char *name, int batch, double *scores, double *pos, int64_t np, double *neg,
                         int64_t nn, double threshold, int64_t excluded) {
    mla_status s = MLA_OK;
    if (np < 1 || nn < 1)
        s = mla_error(MLA_ERR_INVALID, "attack %s: no %s left to evaluate (%lld excluded)", name,
                      np < 1 ? "members" : "non-members", (long long)excluded);
    mla_mia_attack_result *at = s ? NULL : push(r);
    if (!s && !at) s = MLA_ERR_NOMEM;
    if (s) {
        free(scores), free(pos), free(neg);
        return s;
    }
    snprintf(at->name, sizeof at->name, "%s", name);
    at->batch_size = batch;
    at->scores = scores, at->pos = pos, at->neg = neg, at->n_pos = np, at->n_neg = nn;
    s = mla_score_summarize(pos, np, neg, nn, isnan(threshold) ? INFINITY : threshold, &at->summary);
    if (isnan(threshold)) {
        at->summary.threshold = at->summary.accuracy = at->summary.precision = at->summary.recall = NAN;
    }
    at->summary.excluded = excluded;
    return s;
}

/* An attack without ground truth: its scores and threshold only (figures NaN). */
static mla_status record_scores_only(run *r, const char *name, double *scores, double threshold, int64_t excluded) {
    mla_mia_attack_result *at = push(r);
    if (!at) {
        free(scores);
        return MLA_ERR_NOMEM;
    }
    snprintf(at->name, sizeof at->name, "%s", name);
    at->scores = scores;
    mla_score_summary *su = &at->summary;
    su->auc = su->balanced_accuracy = su->advantage = su->accuracy = su->precision = su->recall = NAN;
    for (int i = 0; i < MLA_SCORE_N_FPR; i++) su->tpr_at_fpr[i] = su->ci95_lo[i] = su->ci95_hi[i] = NAN;
    su->threshold = threshold;
    su->excluded = excluded;
    return MLA_OK;
}

/* A per-sample attack: splits scores (m, taken over; NaN = excluded) by ground truth. */
static mla_status record_samples(run *r, const char *name, double *scores, double threshold) {
    int m = r->a->m;
    int64_t np = 0, nn = 0, excluded = 0;
    for (int i = 0; i < m; i++) {
        if (r->eval[i] < 0) scores[i] = NAN; /* not evaluated: no score, as mia.h says */
        else excluded += isnan(scores[i]);
    }
    if (!r->a->truth) return record_scores_only(r, name, scores, threshold, excluded);
    double *pos = mla_alloc((size_t)m, sizeof(double)), *neg = mla_alloc((size_t)m, sizeof(double));
    if (!pos || !neg) {
        free(scores), free(pos), free(neg);
        return MLA_ERR_NOMEM;
    }
    for (int i = 0; i < m; i++) {
        int t = r->eval[i];
        if (t < 0 || isnan(scores[i])) continue;
        if (t) pos[np++] = scores[i];
        else neg[nn++] = scores[i];
    }
    return record(r, name, 0, scores, pos, np, neg, nn, threshold, excluded);
}

/* ---- thresholds on the shadows ---- */

static bool fit_sample(const mla_mia_arrays *a, int s, int i) { return !a->fit || a->fit[(size_t)s * a->m + i]; }

/* The threshold an attacker picks from a (k + 1) x m table of scores: every shadow's
 * members vs non-members over the fit samples (NaN entries skipped). NaN when the
 * shadows give no members or no non-members. */
static mla_status pooled_threshold(const run *r, const double *table, double *thr) {
    const mla_mia_arrays *a = r->a;
    *thr = NAN;
    size_t cap = (size_t)a->k * a->m;
    if (!cap) return MLA_OK;
    double *pos = mla_alloc(cap, sizeof(double)), *neg = mla_alloc(cap, sizeof(double));
    if (!pos || !neg) {
        free(pos), free(neg);
        return MLA_ERR_NOMEM;
    }
    int64_t np = 0, nn = 0;
    for (int s = 0; s < a->k; s++) {
        const double *row = mia_row(table, a->m, s + 1);
        const uint8_t *in = a->shadow_in + (size_t)s * a->m;
        for (int i = 0; i < a->m; i++) {
            if (!fit_sample(a, s, i) || isnan(row[i])) continue;
            if (in[i]) pos[np++] = row[i];
            else neg[nn++] = row[i];
        }
    }
    mla_status st = np && nn ? mla_choose_threshold(pos, np, neg, nn, thr) : MLA_OK;
    free(pos), free(neg);
    return st;
}

/* ---- per-sample metric attacks ---- */

typedef double (*row_metric)(const float *probs, int c, int y);

static double metric_confidence(const float *p, int c, int y) { return (void)y, mla_mia_score_confidence(p, c); }
static double metric_entropy(const float *p, int c, int y) { return (void)y, mla_mia_score_entropy(p, c); }

/* The (k + 1) x m table of a probability metric over the target and every shadow. */
static double *metric_table(const run *r, row_metric f) {
    const mla_mia_arrays *a = r->a;
    size_t m = (size_t)a->m, c = (size_t)a->classes;
    double *t = mla_alloc(((size_t)a->k + 1) * m, sizeof(double));
    if (!t) return NULL;
    for (int model = 0; model <= a->k; model++) {
        const float *probs = model ? a->shadow_probs + (model - 1) * m * c : a->target_probs;
        for (size_t i = 0; i < m; i++) t[model * m + i] = f(probs + i * c, (int)c, a->labels[i]);
    }
    return t;
}

/* Runs a metric attack from its (k + 1) x m score table (taken over). */
static mla_status metric_attack(run *r, const char *name, double *table) {
    if (!table) return MLA_ERR_NOMEM;
    double thr;
    mla_status s = pooled_threshold(r, table, &thr);
    double *scores = s ? NULL : mla_alloc((size_t)r->a->m, sizeof(double));
    if (!s && !scores) s = MLA_ERR_NOMEM;
    if (!s) {
        memcpy(scores, table, (size_t)r->a->m * sizeof(double));
        s = record_samples(r, name, scores, thr);
    }
    free(table);
    return s;
}

static double *copy_table(const run *r, const double *src) {
    size_t n = ((size_t)r->a->k + 1) * r->a->m;
    double *t = mla_alloc(n, sizeof(double));
    if (t) memcpy(t, src, n * sizeof(double));
    return t;
}

static mla_status baseline_attacks(run *r) {
    const mla_mia_arrays *a = r->a;
    bool go;
    mla_status s = wanted(r, "random", NULL, &go);
    if (!s && go) {
        double *sc = mla_alloc((size_t)a->m, sizeof(double));
        if (!sc) return MLA_ERR_NOMEM;
        for (int i = 0; i < a->m; i++) sc[i] = 0.5;
        s = record_samples(r, "random", sc, 0.5);
    }
    if (!s) s = wanted(r, "correctness", a->target_probs ? NULL : "it needs the target's probabilities", &go);
    if (!s && go) {
        double *sc = mla_alloc((size_t)a->m, sizeof(double));
        if (!sc) return MLA_ERR_NOMEM;
        for (int i = 0; i < a->m; i++)
            sc[i] = mia_argmax(a->target_probs + (size_t)i * a->classes, a->classes) == a->labels[i];
        s = record_samples(r, "correctness", sc, 0.5);
    }
    return s;
}

static mla_status metric_attacks(run *r) {
    bool go;
    mla_status s = wanted(r, "loss", NULL, &go);
    if (!s && go) s = metric_attack(r, "loss", copy_table(r, r->v.loss_score));
    const char *why = r->v.probs ? NULL : "it needs probabilities of the target and every shadow";
    static const struct {
        const char *name;
        row_metric f;
    } metrics[] = {{"confidence", metric_confidence},
                   {"entropy", metric_entropy},
                   {"modified_entropy", mla_mia_score_modified_entropy}};
    for (size_t i = 0; !s && i < sizeof metrics / sizeof *metrics; i++) {
        s = wanted(r, metrics[i].name, why, &go);
        if (!s && go) s = metric_attack(r, metrics[i].name, metric_table(r, metrics[i].f));
    }
    return s;
}

/* ---- label-only augmentation ---- */

static mla_status augment_attack(run *r) {
    const mla_mia_arrays *a = r->a;
    bool go;
    mla_status s = wanted(r, "label_augment", a->target_aug ? NULL : "it needs augmentation counts (a model)", &go);
    if (s || !go) return s;
    size_t m = (size_t)a->m;
    double *table = mla_alloc(((size_t)a->k + 1) * m, sizeof(double));
    if (!table) return MLA_ERR_NOMEM;
    for (size_t i = 0; i < m; i++) table[i] = a->target_aug[i] < 0 ? NAN : a->target_aug[i];
    for (size_t i = 0; i < (size_t)a->k * m; i++)
        table[m + i] = a->shadow_aug && a->shadow_aug[i] >= 0 ? a->shadow_aug[i] : NAN;
    return metric_attack(r, "label_augment", table);
}

/* ---- reference-model attacks (LiRA, RMIA, similarity) ---- */

typedef enum { REF_LIRA, REF_RMIA, REF_SIMILARITY } ref_kind;

typedef struct {
    const char *name;
    ref_kind kind;
    mla_lira_variant variant;
    bool needs_in;
} ref_attack;

/* Scores `target` against shadows `refs` (kr x m, membership refs_in) with one attack. */
static mla_status ref_scores(const run *r, const ref_attack *ra, const double *target, const double *refs,
                             const uint8_t *refs_in, int kr, const int32_t *pop, int n_pop, const uint8_t *use,
                             double *score, int64_t *excluded, int64_t *pop_used) {
    int m = r->a->m;
    switch (ra->kind) {
    case REF_LIRA: return mla_mia_lira(ra->variant, target, refs, refs_in, kr, m, use, score, excluded);
    case REF_SIMILARITY: return mla_mia_similarity(target, refs, refs_in, kr, m, use, score, excluded);
    case REF_RMIA:
        return mla_mia_rmia(target, refs, refs_in, kr, m, pop, n_pop, r->cfg->rmia_a, r->cfg->rmia_gamma, use, score,
                            excluded, pop_used);
    }
    return mla_error(MLA_ERR_INVALID, "unknown reference attack");
}

static const double *ref_table(const run *r, ref_kind kind) {
    return kind == REF_LIRA ? r->v.phi : kind == REF_RMIA ? r->v.py : r->v.loss;
}

/* Whether some shadow other than j left sample i out (RMIA needs an OUT reference). */
static bool out_elsewhere(const mla_mia_arrays *a, int j, int i) {
    for (int s = 0; s < a->k; s++)
        if (s != j && !a->shadow_in[(size_t)s * a->m + i]) return true;
    return false;
}

/* Appends to pos/neg shadow j's scores as a target against the other shadows. */
static mla_status loo_one(const run *r, const ref_attack *ra, int j, double *refs, uint8_t *refs_in, int32_t *pop,
                          double *score, double *pos, int64_t *np, double *neg, int64_t *nn) {
    const mla_mia_arrays *a = r->a;
    size_t m = (size_t)a->m;
    const double *table = ref_table(r, ra->kind);
    for (int s = 0, o = 0; s < a->k; s++) {
        if (s == j) continue;
        memcpy(refs + o * m, mia_row(table, a->m, s + 1), m * sizeof(double));
        memcpy(refs_in + o * m, a->shadow_in + s * m, m);
        o++;
    }
    const uint8_t *in_j = a->shadow_in + j * m;
    /* Shadow j's population: the target's population points j did not train on that
     * another shadow left out (the others are dropped by RMIA itself); none: j gives no
     * leave-one-out scores. */
    int n_pop = 0;
    for (int i = 0; ra->kind == REF_RMIA && i < a->n_population; i++)
        if (!in_j[a->population[i]] && out_elsewhere(a, j, a->population[i])) pop[n_pop++] = a->population[i];
    if (ra->kind == REF_RMIA && !n_pop) return MLA_OK;
    int64_t excluded, pop_used;
    mla_status s = ref_scores(r, ra, mia_row(table, a->m, j + 1), refs, refs_in, a->k - 1, pop, n_pop,
                              a->fit ? a->fit + j * m : NULL, score, &excluded, &pop_used);
    if (s) return s;
    for (size_t i = 0; i < m; i++) {
        if (!fit_sample(a, j, (int)i) || isnan(score[i])) continue;
        if (in_j[i]) pos[(*np)++] = score[i];
        else neg[(*nn)++] = score[i];
    }
    return MLA_OK;
}

/* The threshold from leave-one-out scores of every shadow; NaN with fewer than 2
 * shadows or when they give no members or non-members. */
static mla_status loo_threshold(const run *r, const ref_attack *ra, double *thr) {
    const mla_mia_arrays *a = r->a;
    *thr = NAN;
    if (a->k < 2) return MLA_OK;
    size_t m = (size_t)a->m, km = (size_t)a->k * m;
    double *refs = mla_alloc(km, sizeof(double)), *score = mla_alloc(m, sizeof(double));
    double *pos = mla_alloc(km, sizeof(double)), *neg = mla_alloc(km, sizeof(double));
    uint8_t *refs_in = mla_alloc(km, 1);
    int32_t *pop = mla_alloc((size_t)a->n_population + 1, sizeof(int32_t));
    mla_status s = refs && score && pos && neg && refs_in && pop ? MLA_OK : MLA_ERR_NOMEM;
    int64_t np = 0, nn = 0;
    for (int j = 0; !s && j < a->k; j++) s = loo_one(r, ra, j, refs, refs_in, pop, score, pos, &np, neg, &nn);
    if (!s && np && nn) s = mla_choose_threshold(pos, np, neg, nn, thr);
    free(refs), free(score), free(pos), free(neg), free(refs_in), free(pop);
    return s;
}

/* Whether some evaluated sample has the shadows the attack needs. */
static bool ref_inputs_exist(const run *r, bool needs_in) {
    const mla_mia_arrays *a = r->a;
    for (int i = 0; i < a->m; i++) {
        if (r->eval[i] < 0) continue;
        bool in = false, out = false;
        for (int s = 0; s < a->k; s++) {
            if (a->shadow_in[(size_t)s * a->m + i]) in = true;
            else out = true;
        }
        if (out && (in || !needs_in)) return true;
    }
    return false;
}

static mla_status ref_attack_run(run *r, const ref_attack *ra) {
    const mla_mia_arrays *a = r->a;
    const char *why = NULL;
    if (a->k < 1) why = "it needs shadow models";
    else if (ra->kind == REF_RMIA && !a->population) why = "it needs a population of target non-members";
    else if (!ref_inputs_exist(r, ra->needs_in))
        why = ra->needs_in ? "no evaluated sample has both IN and OUT shadows (use the lira protocol)"
                           : "no evaluated sample has an OUT shadow";
    bool go;
    mla_status s = wanted(r, ra->name, why, &go);
    if (s || !go) return s;
    uint8_t *use = mla_alloc((size_t)a->m, 1);
    double *score = mla_alloc((size_t)a->m, sizeof(double));
    if (!use || !score) {
        free(use), free(score);
        return MLA_ERR_NOMEM;
    }
    for (int i = 0; i < a->m; i++) use[i] = r->eval[i] >= 0;
    int64_t excluded, pop_used = 0;
    const double *table = ref_table(r, ra->kind);
    s = ref_scores(r, ra, table, table + a->m, a->shadow_in, a->k, a->population, a->n_population, use, score,
                   &excluded, &pop_used);
    free(use);
    if (ra->kind == REF_RMIA) r->res->population_used = pop_used;
    double thr = NAN;
    if (!s) s = loo_threshold(r, ra, &thr);
    if (s) {
        free(score);
        return s;
    }
    return record_samples(r, ra->name, score, thr);
}

static mla_status reference_attacks(run *r) {
    static const ref_attack list[] = {
        {"lira_online", REF_LIRA, MLA_LIRA_ONLINE, true},
        {"lira_online_fixed", REF_LIRA, MLA_LIRA_ONLINE_FIXED, true},
        {"lira_offline", REF_LIRA, MLA_LIRA_OFFLINE, false},
        {"lira_offline_fixed", REF_LIRA, MLA_LIRA_OFFLINE_FIXED, false},
        {"rmia_offline", REF_RMIA, 0, false},
        {"similarity", REF_SIMILARITY, 0, true},
    };
    mla_status s = MLA_OK;
    for (size_t i = 0; !s && i < sizeof list / sizeof *list; i++) s = ref_attack_run(r, &list[i]);
    return s;
}

/* ---- learned attacks: shadow_sample and MIA-BAD's shadow_batch_B (mia_learned_run.c) ---- */

static mla_status emit_learned(void *ctx, const char *name, int b, double *scores, double *pos, int64_t np,
                               double *neg, int64_t nn) {
    run *r = ctx;
    if (scores) return record_samples(r, name, scores, 0.5);
    return record(r, name, b, NULL, pos, np, neg, nn, 0.5, 0);
}

static mla_status learned_attacks(run *r) {
    const char *why = !r->v.probs ? "it needs probabilities of the target and every shadow"
                      : r->a->k < 1 ? "it needs shadow models"
                                    : NULL;
    bool sample, batch;
    mla_status s = wanted(r, "shadow_sample", why, &sample);
    if (!why && !r->a->truth) why = "its batches are of members or of non-members: it needs target_in";
    if (!s) s = wanted(r, "shadow_batch", why ? why : r->cfg->n_batch_sizes ? NULL : "no batch sizes given", &batch);
    if (s || (!sample && !batch)) return s;
    return mia_learned_attacks(r->a, r->cfg, r->eval, sample, batch, emit_learned, r);
}

mla_status mla_mia_config_check(const mla_mia_config *cfg) {
    run r = {.cfg = cfg};
    mla_status s = parse_attacks(&r);
    for (int i = 0; !s && i < cfg->n_batch_sizes; i++)
        if (cfg->batch_sizes[i] < 1) s = mla_error(MLA_ERR_INVALID, "batch size %d is below 1", cfg->batch_sizes[i]);
    if (!s && !(cfg->rmia_a >= 0 && cfg->rmia_a <= 1))
        s = mla_error(MLA_ERR_INVALID, "RMIA's a must be in [0, 1], got %g", cfg->rmia_a);
    if (!s && !(cfg->rmia_gamma > 0 && isfinite(cfg->rmia_gamma)))
        s = mla_error(MLA_ERR_INVALID, "RMIA's gamma must be positive, got %g", cfg->rmia_gamma);
    return s;
}

/* ---- the run ---- */

static mla_status copy_truth(run *r) {
    const mla_mia_arrays *a = r->a;
    mla_mia_result *res = r->res;
    res->m = a->m;
    res->truth = mla_alloc((size_t)a->m, 1);
    res->sample_index = mla_alloc((size_t)a->m, sizeof(int32_t));
    r->eval = mla_alloc((size_t)a->m, 1);
    if (!res->truth || !res->sample_index || !r->eval) return MLA_ERR_NOMEM;
    for (int i = 0; i < a->m; i++) {
        res->sample_index[i] = a->sample_index ? a->sample_index[i] : i;
        r->eval[i] = a->truth ? a->truth[i] : 2;
    }
    for (int z = 0; !a->truth && z < a->n_population; z++) r->eval[a->population[z]] = -1;
    memcpy(res->truth, r->eval, (size_t)a->m);
    res->ground_truth = a->truth != NULL;
    return MLA_OK;
}

mla_status mla_mia_attack_arrays(const mla_mia_arrays *a, const mla_mia_config *cfg, mla_mia_result **out) {
    *out = NULL;
    double start = mla_seconds();
    mla_status s = mia_validate(a);
    if (s) return s;
    if ((s = mla_mia_config_check(cfg))) return s;
    run r = {.a = a, .cfg = cfg};
    r.res = mla_alloc(1, sizeof *r.res);
    if (!r.res) return MLA_ERR_NOMEM;
    s = parse_attacks(&r);
    if (!s) s = copy_truth(&r);
    if (!s) s = mia_values_derive(a, &r.v);
    if (!s) mia_target_figures(a, &r.v, r.res);
    if (!s) s = baseline_attacks(&r);
    if (!s) s = metric_attacks(&r);
    if (!s) s = learned_attacks(&r);
    if (!s) s = reference_attacks(&r);
    if (!s) s = augment_attack(&r);
    mia_values_free(&r.v);
    free(r.eval);
    if (s) {
        mla_mia_result_free(r.res);
        return s;
    }
    r.res->seconds_attacks = mla_seconds() - start;
    *out = r.res;
    return MLA_OK;
}

void mla_mia_result_free(mla_mia_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_attacks; i++) {
        free(r->attacks[i].scores);
        free(r->attacks[i].pos);
        free(r->attacks[i].neg);
    }
    free(r->attacks);
    free(r->truth);
    free(r->sample_index);
    free(r);
}

const mla_mia_attack_result *mla_mia_result_find(const mla_mia_result *r, const char *name) {
    for (int i = 0; i < r->n_attacks; i++)
        if (!strcmp(r->attacks[i].name, name)) return &r->attacks[i];
    return NULL;
}
