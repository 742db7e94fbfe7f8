/* Per-group figures of a per-sample attack (mia.h: mla_mia_group_summaries), e.g.
 * which federated client's data leaks most: each group's members against every
 * evaluated non-member, through scoring.h's summary. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/mia.h"

/* A summary with every figure NaN: a group with no evaluated member. */
static void nan_summary(mla_score_summary *s, int64_t n_neg) {
    memset(s, 0, sizeof *s);
    s->auc = s->balanced_accuracy = s->advantage = s->threshold = NAN;
    s->accuracy = s->precision = s->recall = NAN;
    for (int f = 0; f < MLA_SCORE_N_FPR; f++) s->tpr_at_fpr[f] = s->ci95_lo[f] = s->ci95_hi[f] = NAN;
    s->n_neg = n_neg;
}

/* As the attacks record a summary (mia_attacks.c): a NaN threshold (none could be
 * chosen) leaves accuracy, precision and recall NaN. */
static mla_status group_summary(const double *pos, int64_t np, const double *neg, int64_t nn, double threshold,
                                mla_score_summary *out) {
    mla_status s = mla_score_summarize(pos, np, neg, nn, isnan(threshold) ? INFINITY : threshold, out);
    if (!s && isnan(threshold)) out->threshold = out->accuracy = out->precision = out->recall = NAN;
    return s;
}

mla_status mla_mia_group_summaries(const mla_mia_result *r, const char *attack, const int32_t *group, int n_groups,
                                   mla_score_summary *out) {
    if (!r || !r->ground_truth || !r->truth) return mla_error(MLA_ERR_INVALID, "per-group figures need ground truth");
    if (!group || n_groups < 1) return mla_error(MLA_ERR_INVALID, "per-group figures need at least one group");
    const mla_mia_attack_result *a = mla_mia_result_find(r, attack);
    if (!a) return mla_error(MLA_ERR_INVALID, "per-group figures: no attack '%s' in the result", attack);
    if (!a->scores) return mla_error(MLA_ERR_INVALID, "per-group figures: '%s' scores batches, not samples", attack);
    double *neg = mla_alloc((size_t)r->m, sizeof *neg), *pos = mla_alloc((size_t)r->m, sizeof *pos);
    mla_status s = neg && pos ? MLA_OK : MLA_ERR_NOMEM;
    int64_t nn = 0;
    for (int i = 0; !s && i < r->m; i++)
        if (r->truth[i] == 0 && !isnan(a->scores[i])) neg[nn++] = a->scores[i];
    if (!s && !nn) s = mla_error(MLA_ERR_INVALID, "per-group figures: '%s' has no evaluated non-member", attack);
    for (int g = 0; !s && g < n_groups; g++) {
        int64_t np = 0;
        for (int i = 0; i < r->m; i++)
            if (group[i] == g && r->truth[i] == 1 && !isnan(a->scores[i])) pos[np++] = a->scores[i];
        if (!np) nan_summary(&out[g], nn);
        else s = group_summary(pos, np, neg, nn, a->summary.threshold, &out[g]);
    }
    free(neg), free(pos);
    return s;
}
