/* Tests of mia.h section 2, the attacks on arrays: known answers (perfectly separable,
 * identical distributions, Gaussian per-sample effects with analytic AUCs), every
 * per-sample score against its formula, the shadow-chosen thresholds against a slow
 * leave-one-out re-implementation, the correctness baseline's (1 + gap) / 2, same
 * bits on a rerun, and refusals of bad arrays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/mia.h"

/* A synthetic audit: m samples, k shadows, phi-only or probabilities. */
typedef struct {
    int m, k, c;
    double *tphi, *sphi;
    float *tprobs, *sprobs;
    int32_t *labels;
    uint8_t *in;
    int8_t *truth;
    int32_t *pop;
    int n_pop;
} synth;

static void synth_free(synth *s) {
    free(s->tphi), free(s->sphi), free(s->tprobs), free(s->sprobs), free(s->labels), free(s->in), free(s->truth);
    free(s->pop);
}

static mla_mia_arrays arrays_of(const synth *s) {
    mla_mia_arrays a = {.m = s->m, .k = s->k, .classes = s->c, .target_phi = s->tphi, .shadow_phi = s->sphi,
                        .target_probs = s->tprobs, .shadow_probs = s->sprobs, .labels = s->labels,
                        .shadow_in = s->in, .truth = s->truth, .population = s->pop, .n_population = s->n_pop};
    return a;
}

/* Each sample has its own mean mu_i ~ N(0, tau^2); a model that trained on it gives
 * phi ~ N(mu_i + delta, sigma^2), one that did not N(mu_i, sigma^2). Target members
 * are the first half; every shadow is IN on a random half of the samples. The last
 * n_pop samples (if any) are a population no model trained on. */
static void gaussian_effects(synth *s, int m, int k, double tau, double delta, double sigma, int n_pop, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->m = m + n_pop, s->k = k;
    int mm = s->m;
    s->tphi = calloc((size_t)mm, sizeof(double));
    s->sphi = calloc((size_t)k * mm, sizeof(double));
    s->in = calloc((size_t)k * mm, 1);
    s->truth = calloc((size_t)mm, 1);
    mla_rng r;
    mla_rng_seed(&r, seed);
    for (int i = 0; i < mm; i++) {
        double mu = tau * mla_rng_normal(&r);
        s->truth[i] = i >= m ? -1 : i < m / 2;
        s->tphi[i] = mu + (s->truth[i] == 1 ? delta : 0) + sigma * mla_rng_normal(&r);
        for (int j = 0; j < k; j++) {
            uint8_t in = i < m && mla_rng_uniform(&r) < 0.5;
            s->in[(size_t)j * mm + i] = in;
            s->sphi[(size_t)j * mm + i] = mu + (in ? delta : 0) + sigma * mla_rng_normal(&r);
        }
    }
    if (n_pop) {
        s->pop = calloc((size_t)n_pop, sizeof(int32_t));
        for (int i = 0; i < n_pop; i++) s->pop[i] = m + i;
        s->n_pop = n_pop;
    }
}

static double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

static const mla_mia_attack_result *find(const mla_mia_result *r, const char *name) {
    const mla_mia_attack_result *a = mla_mia_result_find(r, name);
    if (!a) fail_msg("attack %s missing", name);
    return a;
}

/* ---- known answers ---- */

static void test_perfectly_separable(void **state) {
    (void)state;
    synth s;
    gaussian_effects(&s, 400, 4, 0, 10, 0.01, 0, 1);
    for (int i = 0; i < s.m; i++) s.tphi[i] = s.truth[i] ? 5 : -5;
    mla_mia_arrays a = arrays_of(&s);
    mla_mia_config cfg = mla_mia_defaults();
    mla_mia_result *r;
    assert_int_equal(mla_mia_attack_arrays(&a, &cfg, &r), MLA_OK);
    const mla_mia_attack_result *loss = find(r, "loss");
    assert_true(loss->summary.auc == 1.0);
    assert_true(loss->summary.tpr_at_fpr[0] == 1.0 && loss->summary.tpr_at_fpr[1] == 1.0);
    assert_true(loss->summary.advantage == 1.0 && loss->summary.balanced_accuracy == 1.0);
    /* The threshold is chosen on the shadows (IN around 10, OUT around 0): it splits
     * the target's 5 / -5 perfectly too. */
    assert_true(loss->summary.accuracy == 1.0 && loss->summary.precision == 1.0 && loss->summary.recall == 1.0);
    assert_int_equal(loss->summary.n_pos, 200);
    assert_int_equal(loss->summary.n_neg, 200);
    assert_true(find(r, "random")->summary.auc == 0.5);
    /* phi-only arrays: no probabilities, so no correctness or confidence attack. */
    assert_null(mla_mia_result_find(r, "correctness"));
    assert_null(mla_mia_result_find(r, "confidence"));
    mla_mia_result_free(r);
    synth_free(&s);
}

static void test_identical_distributions(void **state) {
    (void)state;
    synth s;
    gaussian_effects(&s, 300, 3, 1, 0, 1, 0, 2);
    for (int i = 0; i < s.m; i++) s.tphi[i] = 0.25;
    mla_mia_arrays a = arrays_of(&s);
    mla_mia_config cfg = mla_mia_defaults();
    cfg.attacks = "loss,random";
    mla_mia_result *r;
    assert_int_equal(mla_mia_attack_arrays(&a, &cfg, &r), MLA_OK);
    assert_int_equal(r->n_attacks, 2);
    const mla_mia_attack_result *loss = find(r, "loss");
    assert_true(loss->summary.auc == 0.5);
    assert_true(loss->summary.tpr_at_fpr[0] == 0.0 && loss->summary.advantage == 0.0);
    mla_mia_result_free(r);
    synth_free(&s);
}

/* With per-sample means spread by tau, a global loss threshold sees
 * phi ~ N(delta or 0, sigma^2 + tau^2): AUC = Phi(delta / sqrt(2 (sigma^2 + tau^2))).
 * LiRA compares each sample with its own shadows and removes tau: with many shadows its
 * AUC approaches Phi(delta / (sigma sqrt 2)). */
static void test_gaussian_effects_analytic_auc(void **state) {
    (void)state;
    synth s;
    double tau = 2, delta = 1, sigma = 0.5;
    gaussian_effects(&s, 4000, 64, tau, delta, sigma, 1000, 3);
    mla_mia_arrays a = arrays_of(&s);
    mla_mia_config cfg = mla_mia_defaults();
    cfg.attacks = "loss,lira_online,lira_online_fixed,lira_offline_fixed,rmia_offline";
    mla_mia_result *r;
    assert_int_equal(mla_mia_attack_arrays(&a, &cfg, &r), MLA_OK);
    double loss_auc = normal_cdf(delta / sqrt(2 * (sigma * sigma + tau * tau)));
    double lira_auc = normal_cdf(delta / (sigma * sqrt(2)));
    assert_true(fabs(find(r, "loss")->summary.auc - loss_auc) < 0.02);
    assert_true(fabs(find(r, "lira_online_fixed")->summary.auc - lira_auc) < 0.02);
    assert_true(fabs(find(r, "lira_online")->summary.auc - lira_auc) < 0.03);
    /* Offline (one-sided, against OUT only) sees the same effect. */
    assert_true(fabs(find(r, "lira_offline_fixed")->summary.auc - lira_auc) < 0.03);
    /* TPR at 1% FPR of the optimal test: 1 - Phi(z_0.99 - delta / sigma). */
    double tpr = 1 - normal_cdf(2.3263478740408408 - delta / sigma);
    assert_true(fabs(find(r, "lira_online_fixed")->summary.tpr_at_fpr[1] - tpr) < 0.06);
    assert_true(find(r, "lira_online")->summary.tpr_at_fpr[0] > find(r, "loss")->summary.tpr_at_fpr[0]);
    assert_true(find(r, "rmia_offline")->summary.auc > loss_auc + 0.1);
    assert_int_equal(r->population_used, 1000);
    mla_mia_result_free(r);
    synth_free(&s);
}

/* ---- scores equal their formulas; thresholds equal a slow leave-one-out ---- */

/* Random softmax rows over c classes, with the true class boosted for members / IN. */
static void synth_probs(synth *s, int m, int k, int c, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->m = m, s->k = k, s->c = c;
    s->tprobs = calloc((size_t)m * c, sizeof(float));
    s->sprobs = calloc((size_t)k * m * c, sizeof(float));
    s->labels = calloc((size_t)m, sizeof(int32_t));
    s->in = calloc((size_t)k * m, 1);
    s->truth = calloc((size_t)m, 1);
    mla_rng r;
    mla_rng_seed(&r, seed);
    float z[16];
    for (int i = 0; i < m; i++) {
        s->labels[i] = (int32_t)mla_rng_below(&r, (uint64_t)c);
        s->truth[i] = i % 2;
    }
    for (int model = 0; model <= k; model++)
        for (int i = 0; i < m; i++) {
            int in = model ? (s->in[(size_t)(model - 1) * m + i] = mla_rng_uniform(&r) < 0.5) : s->truth[i];
            for (int j = 0; j < c; j++) z[j] = (float)mla_rng_normal(&r);
            z[s->labels[i]] += 1.5f + (in ? 1.0f : 0.0f);
            float *row = model ? s->sprobs + ((size_t)(model - 1) * m + i) * c : s->tprobs + (size_t)i * c;
            mla_softmax_rows(z, 1, c, row);
        }
}

static void test_scores_match_formulas(void **state) {
    (void)state;
    synth s;
    synth_probs(&s, 300, 5, 4, 4);
    mla_mia_arrays a = arrays_of(&s);
    mla_mia_config cfg = mla_mia_defaults();
    cfg.attacks = "correctness,loss,confidence,entropy,modified_entropy,lira_online,similarity";
    mla_mia_result *r;
    assert_int_equal(mla_mia_attack_arrays(&a, &cfg, &r), MLA_OK);
    for (int i = 0; i < s.m; i++) {
        const float *p = s.tprobs + (size_t)i * s.c;
        int y = s.labels[i], best = 0;
        for (int j = 1; j < s.c; j++)
            if (p[j] > p[best]) best = j;
        assert_true(find(r, "correctness")->scores[i] == (best == y));
        assert_true(find(r, "loss")->scores[i] == mla_mia_logpy_from_probs(p, s.c, y));
        assert_true(find(r, "confidence")->scores[i] == mla_mia_score_confidence(p, s.c));
        assert_true(find(r, "entropy")->scores[i] == mla_mia_score_entropy(p, s.c));
        assert_true(find(r, "modified_entropy")->scores[i] == mla_mia_score_modified_entropy(p, s.c, y));
    }
    /* LiRA from phi of the probabilities. */
    double *tphi = malloc(sizeof(double) * s.m), *sphi = malloc(sizeof(double) * s.m * s.k);
    double *score = malloc(sizeof(double) * s.m);
    for (int i = 0; i < s.m; i++) tphi[i] = mla_mia_phi_from_probs(s.tprobs + (size_t)i * s.c, s.c, s.labels[i]);
    for (int j = 0; j < s.k * s.m; j++) sphi[j] = mla_mia_phi_from_probs(s.sprobs + (size_t)j * s.c, s.c, s.labels[j % s.m]);
    int64_t excluded;
    assert_int_equal(mla_mia_lira(MLA_LIRA_ONLINE, tphi, sphi, s.in, s.k, s.m, NULL, score, &excluded), MLA_OK);
    const mla_mia_attack_result *lira = find(r, "lira_online");
    for (int i = 0; i < s.m; i++) assert_true(isnan(score[i]) ? isnan(lira->scores[i]) : lira->scores[i] == score[i]);
    assert_int_equal(lira->summary.excluded, excluded);

    /* The threshold: each shadow scored against the other four, slowly. */
    double pos[2000], neg[2000], refs[4 * 300];
    uint8_t refs_in[4 * 300];
    int64_t np = 0, nn = 0;
    for (int j = 0; j < s.k; j++) {
        for (int t = 0, o = 0; t < s.k; t++) {
            if (t == j) continue;
            memcpy(refs + o * s.m, sphi + t * s.m, sizeof(double) * s.m);
            memcpy(refs_in + o * s.m, s.in + t * s.m, (size_t)s.m);
            o++;
        }
        assert_int_equal(mla_mia_lira(MLA_LIRA_ONLINE, sphi + j * s.m, refs, refs_in, s.k - 1, s.m, NULL, score, NULL),
                         MLA_OK);
        for (int i = 0; i < s.m; i++) {
            if (isnan(score[i])) continue;
            if (s.in[j * s.m + i]) pos[np++] = score[i];
            else neg[nn++] = score[i];
        }
    }
    double thr;
    assert_int_equal(mla_choose_threshold(pos, np, neg, nn, &thr), MLA_OK);
    assert_true(lira->summary.threshold == thr);
    mla_mia_result_free(r);
    free(tphi), free(sphi), free(score);
    synth_free(&s);
}

/* The survey's theorem: predicting 'member' iff correctly classified has accuracy
 * (1 + gap) / 2 on balanced member / non-member sets. */
static void test_correctness_baseline_theorem(void **state) {
    (void)state;
    synth s;
    synth_probs(&s, 1000, 2, 10, 5);
    mla_mia_arrays a = arrays_of(&s);
    mla_mia_config cfg = mla_mia_defaults();
    cfg.attacks = "correctness";
    mla_mia_result *r;
    assert_int_equal(mla_mia_attack_arrays(&a, &cfg, &r), MLA_OK);
    const mla_mia_attack_result *c = find(r, "correctness");
    assert_true(r->gap_accuracy > 0.05);
    assert_true(fabs(c->summary.accuracy - (1 + r->gap_accuracy) / 2) < 1e-12);
    assert_true(fabs(c->summary.balanced_accuracy - (1 + r->gap_accuracy) / 2) < 1e-12);
    mla_mia_result_free(r);
    synth_free(&s);
}

static void test_same_bits_on_rerun(void **state) {
    (void)state;
    synth s;
    synth_probs(&s, 400, 4, 5, 6);
    mla_mia_arrays a = arrays_of(&s);
    mla_mia_config cfg = mla_mia_defaults();
    int sizes[] = {8, 16};
    cfg.batch_sizes = sizes, cfg.n_batch_sizes = 2;
    cfg.attack.epochs = 3;
    mla_mia_result *r1, *r2;
    assert_int_equal(mla_mia_attack_arrays(&a, &cfg, &r1), MLA_OK);
    assert_int_equal(mla_mia_attack_arrays(&a, &cfg, &r2), MLA_OK);
    assert_int_equal(r1->n_attacks, r2->n_attacks);
    for (int i = 0; i < r1->n_attacks; i++) {
        assert_int_equal(r1->attacks[i].n_pos, r2->attacks[i].n_pos);
        assert_memory_equal(r1->attacks[i].pos, r2->attacks[i].pos, sizeof(double) * r1->attacks[i].n_pos);
        assert_memory_equal(r1->attacks[i].neg, r2->attacks[i].neg, sizeof(double) * r1->attacks[i].n_neg);
        assert_memory_equal(&r1->attacks[i].summary, &r2->attacks[i].summary, sizeof(mla_score_summary));
    }
    assert_non_null(mla_mia_result_find(r1, "shadow_batch_16"));
    assert_int_equal(find(r1, "shadow_batch_16")->n_pos, 200 / 16);
    mla_mia_result_free(r1);
    mla_mia_result_free(r2);
    synth_free(&s);
}

/* Without ground truth the attacks still score every sample but the population, with
 * the same scores and shadow-chosen thresholds as with it; the figures are NaN. */
static void test_scores_without_ground_truth(void **state) {
    (void)state;
    synth s;
    gaussian_effects(&s, 200, 4, 1, 1, 0.5, 50, 8);
    mla_mia_arrays a = arrays_of(&s);
    mla_mia_config cfg = mla_mia_defaults();
    mla_mia_result *with, *without;
    assert_int_equal(mla_mia_attack_arrays(&a, &cfg, &with), MLA_OK);
    a.truth = NULL;
    assert_int_equal(mla_mia_attack_arrays(&a, &cfg, &without), MLA_OK);
    assert_true(with->ground_truth && !without->ground_truth);
    assert_int_equal(with->n_attacks, without->n_attacks);
    for (int i = 0; i < with->n_attacks; i++) {
        const mla_mia_attack_result *x = &with->attacks[i], *y = &without->attacks[i];
        assert_string_equal(x->name, y->name);
        assert_true(isnan(y->summary.auc) && isnan(y->summary.tpr_at_fpr[0]) && y->n_pos == 0 && y->n_neg == 0);
        assert_true(x->summary.threshold == y->summary.threshold || (isnan(x->summary.threshold) &&
                                                                     isnan(y->summary.threshold)));
        for (int j = 0; j < s.m; j++) {
            if (j >= 200) assert_true(isnan(x->scores[j]) && isnan(y->scores[j])); /* the population: no score */
            else assert_memory_equal(&x->scores[j], &y->scores[j], sizeof(double));
        }
    }
    for (int j = 0; j < s.m; j++) assert_int_equal(without->truth[j], j < 200 ? 2 : -1);
    mla_mia_result_free(with);
    mla_mia_result_free(without);
    synth_free(&s);
}

/* ---- refusals ---- */

static void expect_refused(const mla_mia_arrays *a, const char *attacks, const char *needle) {
    mla_mia_config cfg = mla_mia_defaults();
    cfg.attacks = attacks;
    mla_mia_result *r = (mla_mia_result *)1;
    assert_int_equal(mla_mia_attack_arrays(a, &cfg, &r), MLA_ERR_INVALID);
    assert_null(r);
    if (!strstr(mla_last_error(), needle)) fail_msg("'%s' lacks '%s'", mla_last_error(), needle);
}

static void test_bad_arrays_refused(void **state) {
    (void)state;
    synth s;
    synth_probs(&s, 50, 2, 3, 7);
    mla_mia_arrays a = arrays_of(&s);
    s.tprobs[4] = -0.1f;
    expect_refused(&a, "all", "target_probs");
    s.tprobs[4] = NAN;
    expect_refused(&a, "all", "target_probs");
    s.tprobs[4] = 0.9f;
    s.tprobs[5] = 0.9f;
    expect_refused(&a, "all", "sums to");
    synth_free(&s);
    synth_probs(&s, 50, 2, 3, 7);
    a = arrays_of(&s);
    s.labels[3] = 3;
    expect_refused(&a, "all", "labels");
    s.labels[3] = 0;
    int32_t pop[2] = {0, 1};
    a.population = pop, a.n_population = 2;
    expect_refused(&a, "all", "population");
    a.population = NULL, a.n_population = 0;
    expect_refused(&a, "nope", "unknown attack 'nope'");
    /* No sample has an IN shadow: online LiRA cannot run when named. */
    memset(s.in, 0, (size_t)s.k * s.m);
    expect_refused(&a, "lira_online", "lira_online cannot run");
    synth_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perfectly_separable),
        cmocka_unit_test(test_identical_distributions),
        cmocka_unit_test(test_gaussian_effects_analytic_auc),
        cmocka_unit_test(test_scores_match_formulas),
        cmocka_unit_test(test_correctness_baseline_theorem),
        cmocka_unit_test(test_same_bits_on_rerun),
        cmocka_unit_test(test_scores_without_ground_truth),
        cmocka_unit_test(test_bad_arrays_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
