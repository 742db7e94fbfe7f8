/* The layout of a membership audit (private to src/privacy/): which samples the arrays
 * hold, what the target and each shadow train on, and what is evaluated. Built by
 * mia_plan.c from a protocol, consumed by mia_collect.c. */
#ifndef MLAUDIT_MIA_PLAN_H
#define MLAUDIT_MIA_PLAN_H

#include "mlaudit/mia.h"

typedef struct {
    int m;                 /* samples in the arrays */
    int n_data;            /* positions 0..n_data-1 come from data, the rest from the
                              shadows' dataset (shadow_data, or data when it is NULL) */
    int k;
    int32_t *ds_index;     /* m: index into the position's dataset */
    int8_t *truth;         /* m: 1 target member, 0 non-member, -1 not evaluated */
    uint8_t *shadow_in;    /* k x m */
    uint8_t *fit;          /* k x m */
    int32_t *population;   /* positions */
    int n_population;
    int32_t *target_train; /* dataset indices (into data) the target trains on */
    int n_target_train;
    int32_t *val;          /* early stopping: dataset indices (into data) every model validates on */
    int n_val;
} mia_plan;

/* Lays out cfg's protocol over the inputs; fails with a message naming the flag or
 * the input at fault (sizes that do not fit, overlapping member lists, ...). */
mla_status mia_plan_build(const mla_mia_inputs *in, const mla_mia_audit_config *cfg, mia_plan *p);
void mia_plan_free(mia_plan *p);

/* Dataset indices shadow s trains on (positions with shadow_in set); caller frees. */
mla_status mia_plan_shadow_train(const mia_plan *p, int s, int32_t **idx, int *n);

#endif
