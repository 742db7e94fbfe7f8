/* The convolutional autoencoder baseline `ae` (anomaly.h): trained on the normal
 * training images to reconstruct them; an image's score is its mean squared
 * reconstruction error (an anomaly is reconstructed worse). */
#include "anomaly_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/plot.h"

static mla_status ae_fit(const mla_anomaly_config *cfg, const mla_dataset *ds, const int32_t *train, int n_train,
                         const int32_t *val, int n_val, void **state) {
    (void)val, (void)n_val;
    anomaly_ae_model *m = mla_alloc(1, sizeof *m);
    if (!m) return MLA_ERR_NOMEM;
    mla_status s = anomaly_ae_train("ae", cfg, ds, train, n_train, 1, m);
    if (s != MLA_OK) {
        free(m);
        return s;
    }
    *state = m;
    return MLA_OK;
}

typedef struct {
    double *scores;
    size_t dim;
} recon_ctx;

/* Per image: mean over its values of (reconstruction - input)^2. */
static mla_status recon_error(void *user, int first, int nb, const float *x, const float *y) {
    recon_ctx *c = user;
    for (int i = 0; i < nb; i++) {
        double sum = 0;
        for (size_t k = 0; k < c->dim; k++) {
            double d = (double)y[i * c->dim + k] - x[i * c->dim + k];
            sum += d * d;
        }
        c->scores[first + i] = sum / (double)c->dim;
    }
    return MLA_OK;
}

static mla_status ae_score(void *state, const mla_dataset *ds, const int32_t *idx, int n, double *scores,
                           double *terms) {
    (void)terms;
    anomaly_ae_model *m = state;
    recon_ctx c = {scores, (size_t)mla_dataset_dim(ds)};
    return anomaly_apply(m->ae, ds, idx, n, ANOMALY_APPLY_BATCH, recon_error, &c);
}

#define AE_FIGURE_IMAGES 12

/* ae_reconstructions.png: the first test images (top row) and their reconstructions. */
static mla_status ae_figures(void *state, const mla_dataset *ds, const int32_t *idx, int n, const char *dir) {
    anomaly_ae_model *m = state;
    int k = n < AE_FIGURE_IMAGES ? n : AE_FIGURE_IMAGES, c, h, w;
    if (k < 1) return MLA_OK;
    mla_dataset_shape(ds, &c, &h, &w);
    size_t dim = (size_t)c * h * w;
    float *px = mla_alloc((size_t)2 * k, dim * sizeof(float));
    if (!px) return MLA_ERR_NOMEM;
    mla_dataset_batch(ds, idx, 0, k, px, NULL);
    mla_status s = anomaly_outputs(m->ae, ds, idx, k, px + (size_t)k * dim);
    char path[4096];
    snprintf(path, sizeof path, "%s/ae_reconstructions.png", dir);
    const char *rows[2] = {"test image", "ae"};
    mla_plot_images im = {px, MLA_PIXELS_F32, 2 * k, c, h, w};
    mla_plot_grid_opts o = {.frame = {.title = "Autoencoder: test images and their reconstructions"}, .rows = 2,
                            .cols = k, .row_captions = rows};
    if (s == MLA_OK) s = mla_plot_image_grid(path, &im, &o);
    free(px);
    return s;
}

static void ae_free(void *state) {
    anomaly_ae_model_free(state);
    free(state);
}

const mla_anomaly_method mla_anomaly_ae = {
    .name = "ae",
    .summary = "convolutional autoencoder; score = mean squared reconstruction error",
    .fit = ae_fit,
    .score = ae_score,
    .figures = ae_figures,
    .free = ae_free,
};
