/* Attacks on arrays: validation of mla_mia_arrays and the per-model values every
 * attack reads (phi, p_y, loss). */
#include "privacy/mia_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROB_SUM_TOL 1e-3
#define LOG_FLOOR 1e-300

int mia_argmax(const float *row, int c) {
    int best = 0;
    for (int j = 1; j < c; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

/* Softmax rows: finite, >= 0, summing to 1 within PROB_SUM_TOL. Released rows
 * (mla_mia_arrays.released): finite and in [0, 1], any sum. */
static mla_status check_prob_rows(const char *name, const float *p, int64_t rows, int c, bool released) {
    for (int64_t r = 0; r < rows; r++) {
        const float *row = p + (size_t)r * c;
        double sum = 0;
        for (int j = 0; j < c; j++) {
            if (released && !(row[j] >= 0 && row[j] <= 1))
                return mla_error(MLA_ERR_INVALID, "%s: row %lld holds %g (released probabilities must be finite and "
                                 "in [0, 1])", name, (long long)r, (double)row[j]);
            if (!isfinite(row[j]) || row[j] < 0)
                return mla_error(MLA_ERR_INVALID, "%s: row %lld holds %g (probabilities must be finite and >= 0)",
                                 name, (long long)r, (double)row[j]);
            sum += row[j];
        }
        if (!released && fabs(sum - 1) > PROB_SUM_TOL)
            return mla_error(MLA_ERR_INVALID, "%s: row %lld sums to %.6g (softmax rows must sum to 1 within 1e-3)",
                             name, (long long)r, sum);
    }
    return MLA_OK;
}

static mla_status check_finite(const char *name, const double *x, int64_t count) {
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(x[i])) return mla_error(MLA_ERR_INVALID, "%s: entry %lld is %g", name, (long long)i, x[i]);
    return MLA_OK;
}

static mla_status check_unit(const char *name, const double *x, int64_t count) {
    for (int64_t i = 0; i < count; i++)
        if (!(x[i] >= 0 && x[i] <= 1))
            return mla_error(MLA_ERR_INVALID, "%s: entry %lld is %g, not a probability", name, (long long)i, x[i]);
    return MLA_OK;
}

static mla_status check_outputs(const mla_mia_arrays *a) {
    int64_t m = a->m, km = (int64_t)a->k * a->m;
    bool probs = a->target_probs != NULL;
    if (!probs && !a->target_phi)
        return mla_error(MLA_ERR_INVALID, "mia arrays: give the target's probabilities or its phi values");
    if (a->k > 0 && !a->shadow_in) return mla_error(MLA_ERR_INVALID, "mia arrays: shadow_in is missing");
    if (a->k > 0 && probs && !a->shadow_probs && !a->shadow_phi)
        return mla_error(MLA_ERR_INVALID, "mia arrays: the shadows' outputs are missing");
    if (!probs && a->k > 0 && !a->shadow_phi)
        return mla_error(MLA_ERR_INVALID, "mia arrays: shadow_phi is missing");
    mla_status s = MLA_OK;
    if (probs) {
        if (a->classes < 2 || !a->labels)
            return mla_error(MLA_ERR_INVALID, "mia arrays: probabilities need classes >= 2 and labels");
        s = check_prob_rows("target_probs", a->target_probs, m, a->classes, a->released);
        if (!s && a->shadow_probs) s = check_prob_rows("shadow_probs", a->shadow_probs, km, a->classes, a->released);
        for (int64_t i = 0; !s && i < m; i++)
            if (a->labels[i] < 0 || a->labels[i] >= a->classes)
                s = mla_error(MLA_ERR_INVALID, "labels: entry %lld is %d, outside 0..%d", (long long)i,
                              (int)a->labels[i], a->classes - 1);
    }
    if (!s && a->target_phi) s = check_finite("target_phi", a->target_phi, m);
    if (!s && a->shadow_phi) s = check_finite("shadow_phi", a->shadow_phi, km);
    if (!s && a->target_py) s = check_unit("target_p", a->target_py, m);
    if (!s && a->shadow_py) s = check_unit("shadow_p", a->shadow_py, km);
    return s;
}

static mla_status check_masks(const mla_mia_arrays *a) {
    int64_t km = (int64_t)a->k * a->m;
    for (int64_t i = 0; a->fit && i < km; i++)
        if (a->fit[i] > 1) return mla_error(MLA_ERR_INVALID, "fit: entry %lld is %d, not 0 or 1", (long long)i, a->fit[i]);
    for (int64_t i = 0; a->shadow_in && i < km; i++)
        if (a->shadow_in[i] > 1)
            return mla_error(MLA_ERR_INVALID, "shadow_in: entry %lld is %d, not 0 or 1", (long long)i, a->shadow_in[i]);
    for (int i = 0; a->truth && i < a->m; i++)
        if (a->truth[i] < -1 || a->truth[i] > 1)
            return mla_error(MLA_ERR_INVALID, "target_in: entry %d is %d, not -1, 0 or 1", i, a->truth[i]);
    return MLA_OK;
}

static mla_status check_population(const mla_mia_arrays *a) {
    if (!a->population) return MLA_OK;
    if (a->n_population < 1) return mla_error(MLA_ERR_INVALID, "population: empty");
    uint8_t *seen = mla_alloc((size_t)a->m, 1);
    if (!seen) return MLA_ERR_NOMEM;
    mla_status s = MLA_OK;
    for (int i = 0; !s && i < a->n_population; i++) {
        int32_t z = a->population[i];
        if (z < 0 || z >= a->m)
            s = mla_error(MLA_ERR_INVALID, "population: index %d at position %d is outside 0..%d", (int)z, i, a->m - 1);
        else if (seen[z]) s = mla_error(MLA_ERR_INVALID, "population: index %d appears twice", (int)z);
        else if (a->truth && a->truth[z] >= 0)
            s = mla_error(MLA_ERR_INVALID, "population: index %d is also an evaluated sample (the population must "
                                           "be target non-members left out of the evaluation)", (int)z);
        else seen[z] = 1;
    }
    free(seen);
    return s;
}

static mla_status check_aug(const mla_mia_arrays *a) {
    if (!a->target_aug) return MLA_OK;
    if (a->n_aug < 1) return mla_error(MLA_ERR_INVALID, "augmentation counts without a copy count");
    for (int i = 0; i < a->m; i++)
        if (a->target_aug[i] < -1 || a->target_aug[i] > a->n_aug)
            return mla_error(MLA_ERR_INVALID, "target_aug: entry %d is %d, outside 0..%d", i, (int)a->target_aug[i],
                             a->n_aug);
    for (int64_t i = 0; a->shadow_aug && i < (int64_t)a->k * a->m; i++)
        if (a->shadow_aug[i] < -1 || a->shadow_aug[i] > a->n_aug)
            return mla_error(MLA_ERR_INVALID, "shadow_aug: entry %lld is %d, outside 0..%d", (long long)i,
                             (int)a->shadow_aug[i], a->n_aug);
    return MLA_OK;
}

mla_status mia_validate(const mla_mia_arrays *a) {
    if (a->m < 1) return mla_error(MLA_ERR_INVALID, "mia arrays: no samples");
    if (a->k < 0) return mla_error(MLA_ERR_INVALID, "mia arrays: negative shadow count");
    mla_status s = check_outputs(a);
    if (!s) s = check_masks(a);
    if (!s) s = check_population(a);
    if (!s) s = check_aug(a);
    return s;
}

/* log sigmoid(phi) without overflow or cancellation on either side. */
static double log_sigmoid(double phi) { return phi >= 0 ? -log1p(exp(-phi)) : phi - log1p(exp(phi)); }

/* One model's values from its probability rows, or its phi (and p_y) arrays. */
static void derive_row(const mla_mia_arrays *a, const float *probs, const double *phi, const double *py, double *o_phi,
                       double *o_py, double *o_loss, double *o_score) {
    int c = a->classes;
    for (int i = 0; i < a->m; i++) {
        const float *row = probs ? probs + (size_t)i * c : NULL;
        double f = phi ? phi[i] : mla_mia_phi_from_probs(row, c, a->labels[i]);
        double logp;
        if (py) logp = log(fmax(py[i], LOG_FLOOR));
        else if (row) logp = mla_mia_logpy_from_probs(row, c, a->labels[i]);
        else logp = log_sigmoid(f);
        o_phi[i] = f;
        o_py[i] = py ? py[i] : row ? (double)row[a->labels[i]] : exp(logp);
        o_loss[i] = -logp;
        o_score[i] = a->target_probs ? logp : f;
    }
}

mla_status mia_values_derive(const mla_mia_arrays *a, mia_values *v) {
    memset(v, 0, sizeof *v);
    v->m = a->m, v->k = a->k, v->c = a->classes;
    v->probs = a->target_probs && (a->k == 0 || a->shadow_probs);
    size_t rows = (size_t)a->k + 1, m = (size_t)a->m;
    v->phi = mla_alloc(rows * m, sizeof(double));
    v->py = mla_alloc(rows * m, sizeof(double));
    v->loss = mla_alloc(rows * m, sizeof(double));
    v->loss_score = mla_alloc(rows * m, sizeof(double));
    if (!v->phi || !v->py || !v->loss || !v->loss_score) {
        mia_values_free(v);
        return MLA_ERR_NOMEM;
    }
    derive_row(a, a->target_probs, a->target_phi, a->target_py, v->phi, v->py, v->loss, v->loss_score);
    for (int s = 0; s < a->k; s++) {
        size_t off = (s + 1) * m;
        derive_row(a, a->shadow_probs ? a->shadow_probs + (size_t)s * m * a->classes : NULL,
                   a->shadow_phi ? a->shadow_phi + s * m : NULL, a->shadow_py ? a->shadow_py + s * m : NULL,
                   v->phi + off, v->py + off, v->loss + off, v->loss_score + off);
    }
    return MLA_OK;
}

void mia_values_free(mia_values *v) {
    free(v->phi);
    free(v->py);
    free(v->loss);
    free(v->loss_score);
    memset(v, 0, sizeof *v);
}

void mia_target_figures(const mla_mia_arrays *a, const mia_values *v, mla_mia_result *r) {
    double correct[2] = {0, 0}, loss[2] = {0, 0};
    int64_t n[2] = {0, 0};
    for (int i = 0; a->truth && i < a->m; i++) {
        int t = a->truth[i];
        if (t < 0) continue;
        n[t]++;
        loss[t] += v->loss[i];
        if (a->target_probs)
            correct[t] += mia_argmax(a->target_probs + (size_t)i * a->classes, a->classes) == a->labels[i];
    }
    r->train_accuracy = a->target_probs && n[1] ? correct[1] / n[1] : NAN;
    r->test_accuracy = a->target_probs && n[0] ? correct[0] / n[0] : NAN;
    r->train_loss = n[1] ? loss[1] / n[1] : NAN;
    r->test_loss = n[0] ? loss[0] / n[0] : NAN;
    r->gap_accuracy = r->train_accuracy - r->test_accuracy;
    r->gap_loss = r->test_loss - r->train_loss;
}
