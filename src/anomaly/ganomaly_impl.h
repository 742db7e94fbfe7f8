/* Private: GANomaly's nets and one training step's gradients, for ganomaly.c and its
 * tests (the method's description is at the top of ganomaly.c). */
#ifndef MLAUDIT_ANOMALY_GANOMALY_IMPL_H
#define MLAUDIT_ANOMALY_GANOMALY_IMPL_H

#include "anomaly/gan_impl.h"

typedef struct {
    int c, s, dim, latent;
    float w_adv, w_con, w_enc;
    mla_net *ge, *gd, *e, *df, *dh;   /* G_E, G_D, E, D's features and head */
    mla_optimizer *o_ge, *o_gd, *o_e, *o_df, *o_dh;
    float *buf;                       /* step scratch for cap samples */
    int cap;
} ganomaly_model;

typedef struct {
    double adv, con, enc, d;          /* d: D's loss (NaN without a D step) */
} ganomaly_losses;

/* The nets for c x s x s images (width 0: 32 for s >= 16, else 8), latent and lr from
 * cfg (0: 100 and 2e-4), seeded from cfg->seed. */
mla_status ganomaly_model_create(const mla_anomaly_config *cfg, int c, int s, int width, ganomaly_model **out);
void ganomaly_model_free(ganomaly_model *m);
/* Zeroes and fills the gradients of G_E, G_D and E with those of
 * w_adv L_adv + w_con L_con + w_enc L_enc on x (n images in [-1, 1]); when d_step, D
 * first takes its step on x and the reconstructions. */
mla_status ganomaly_grads(ganomaly_model *m, const float *x, int n, bool d_step, ganomaly_losses *out);
/* Evaluation-mode scores of n images x: latent[i] = ||G_E(x) - E(G(x))||_1 and
 * recon[i] = mean |x - G(x)|. Leaves G(x) in m->buf after the n latents. */
mla_status ganomaly_scores(ganomaly_model *m, const float *x, int n, double *latent, double *recon);
/* The method's fit with an explicit net width (0: the default). */
mla_status ganomaly_fit_width(const mla_anomaly_config *cfg, int width, const mla_dataset *ds, const int32_t *train,
                              int n_train, void **state);

#endif
