/* Private pieces of the attacks on arrays (mia.h section 2), shared by mia_arrays.c
 * (validation and derived values) and mia_attacks.c (running the attacks). */
#ifndef MLAUDIT_MIA_IMPL_H
#define MLAUDIT_MIA_IMPL_H

#include "mlaudit/mia.h"

/* Every model's per-sample values, derived once. Row 0 is the target, row 1 + s
 * shadow s; each row has m values. */
typedef struct {
    int m, k, c;
    bool probs;          /* probabilities (and labels) for the target and every shadow */
    double *phi;         /* (k + 1) x m */
    double *py;          /* (k + 1) x m: p_y */
    double *loss;        /* (k + 1) x m: -log p_y (p_y below 1e-300 taken at 1e-300) */
    double *loss_score;  /* (k + 1) x m: the 'loss' attack's score: log p_y, or phi
                            when the arrays carry no probabilities */
} mia_values;

/* Checks every array of a against the contract in mia.h; the message names the array
 * (as the --from file stems do: target_probs, shadow_in, ...) and the first bad entry. */
mla_status mia_validate(const mla_mia_arrays *a);
/* Fills v from validated arrays; free with mia_values_free. */
mla_status mia_values_derive(const mla_mia_arrays *a, mia_values *v);
void mia_values_free(mia_values *v);

/* Row r (0 target, 1 + s shadow s) of a (k + 1) x m table. */
static inline const double *mia_row(const double *table, int m, int r) { return table + (size_t)r * m; }

/* The target's accuracy and mean loss on evaluated members and non-members (NaN
 * accuracy without probabilities). */
void mia_target_figures(const mla_mia_arrays *a, const mia_values *v, mla_mia_result *r);

/* Index of the largest value of a row (the first on ties), as mla_evaluate predicts. */
int mia_argmax(const float *row, int c);

/* Receives one learned attack's result: per-sample scores (m values, NaN where not
 * evaluated) or, for a batch attack (scores NULL), its members' and non-members'
 * batch scores. Takes over the arrays whatever it returns. */
typedef mla_status (*mia_emit_fn)(void *ctx, const char *name, int batch, double *scores, double *pos, int64_t np,
                                  double *neg, int64_t nn);

/* The shadow-model attack (sample) and MIA-BAD's batch attacks for every configured B
 * (batch), trained on the shadows' outputs over the fit samples. Needs probabilities
 * and k >= 1; batch attacks need a->truth. eval[i] < 0 marks samples not evaluated
 * (their sample scores are NaN). */
mla_status mia_learned_attacks(const mla_mia_arrays *a, const mla_mia_config *cfg, const int8_t *eval, bool sample,
                               bool batch, mia_emit_fn emit, void *ctx);

#endif
