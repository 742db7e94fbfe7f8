/* ADe-GAN's method: the training loop over the stages of adegan.c, the normal fit and
 * the score of eq. 9-11 (choices stated in adegan.c's header), the figures, and the
 * vtable mla_anomaly_adegan. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly/gan_impl.h"

static const char *const adegan_term_names[] = {"recon", "pattern"};

/* ------------------------------------------------------------ score maths -- */

double adegan_neg_log_upper_tail(double z) {
    if (z < 25.0) return -log(0.5 * erfc(z / 1.4142135623730951));
    /* Q(z) = phi(z)/z (1 - 1/z^2 + 3/z^4 - ...): the series' first terms are exact to
     * double precision this far out, where erfc would underflow. */
    double z2 = z * z;
    return 0.5 * z2 + log(z) + 0.9189385332046727 - log1p(-1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2));
}

void adegan_normal_fit(const double *err, int n, double *mu, double *sd) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += err[i];
    double m = s / n;
    for (int i = 0; i < n; i++) ss += (err[i] - m) * (err[i] - m);
    *mu = m;
    *sd = n > 1 ? sqrt(ss / (n - 1)) : 0;
    if (!(*sd > 1e-12)) *sd = 1e-12;
}

void adegan_score_terms(const double *err, const float *logits, int n, int n_c, int ld, double mu, double sd,
                        double *recon, double *pattern) {
    for (int i = 0; i < n; i++) {
        recon[i] = adegan_neg_log_upper_tail((err[i] - mu) / sd);
        const float *z = logits + (size_t)i * ld;
        double mx = z[0], sum = 0;
        for (int k = 1; k < n_c; k++) mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < n_c; k++) sum += exp((double)z[k] - mx);
        pattern[i] = log(sum); /* -log(max softmax) = log sum_k exp(z_k - max) */
    }
}

/* ------------------------------------------------------------------- state -- */

typedef struct {
    adegan_params p;
    adegan_model *m;
    double mu, sd;
} adegan_state;

/* Reconstruction errors (mean squared, in [-1, 1] units) and E's outputs (n x zdim)
 * for images idx[0..n), in evaluation mode, chunk by chunk. */
#define CHUNK 256
static mla_status reconstruct(adegan_model *m, const mla_dataset *ds, const int32_t *idx, int n, double *err,
                              float *codes, float *recon_out) {
    mla_net *G = adegan_model_net(m, 'G'), *E = adegan_model_net(m, 'E');
    int dim = mla_dataset_dim(ds), zdim = m->p.patterns + m->p.noise_dim, nc = m->p.patterns;
    float *x = malloc((size_t)CHUNK * dim * sizeof(float)), *gin = malloc((size_t)CHUNK * zdim * sizeof(float));
    mla_status s = x && gin ? MLA_OK : mla_error(MLA_ERR_NOMEM, "adegan: out of memory");
    for (int at = 0; !s && at < n; at += CHUNK) {
        int b = n - at < CHUNK ? n - at : CHUNK;
        const float *e, *g;
        gan_batch(ds, idx + at, b, x);
        s = mla_net_forward(E, x, b, false, &e);
        if (s) break;
        if (codes) memcpy(codes + (size_t)at * zdim, e, (size_t)b * zdim * sizeof(float));
        adegan_codes_from_extractor(e, b, nc, zdim, m->p.hard_code, m->p.code_scale, gin);
        s = mla_net_forward(G, gin, b, false, &g);
        if (s) break;
        if (recon_out) memcpy(recon_out + (size_t)at * dim, g, (size_t)b * dim * sizeof(float));
        for (int i = 0; i < b; i++) {
            double sq = 0;
            for (int j = 0; j < dim; j++) {
                double d = (double)g[(size_t)i * dim + j] - x[(size_t)i * dim + j];
                sq += d * d;
            }
            err[at + i] = sq / dim;
        }
    }
    free(x);
    free(gin);
    return s;
}

/* ---------------------------------------------------------------- training -- */

static mla_status check_losses(const adegan_losses *l, int epoch, long step) {
    double all = l->recon + l->sl + l->ip + l->adv_g + (isnan(l->d) ? 0 : l->d);
    if (isfinite(all)) return MLA_OK;
    return mla_error(MLA_ERR_INVALID,
                     "adegan: training diverged: the loss is not finite at epoch %d, step %ld (recon %g, sl %g, ip %g, "
                     "adversarial %g, D %g); try a smaller learning rate",
                     epoch, step, l->recon, l->sl, l->ip, l->adv_g, l->d);
}

static mla_status run_epoch(adegan_model *m, const mla_dataset *ds, const int32_t *train, int n_train, int epoch,
                            mla_rng *rng, adegan_draws *dr, float *x, double *mean_loss) {
    const adegan_params *p = &m->p;
    int32_t *order = malloc((size_t)n_train * sizeof(int32_t));
    if (!order) return mla_error(MLA_ERR_NOMEM, "adegan: out of memory");
    memcpy(order, train, (size_t)n_train * sizeof(int32_t));
    mla_rng_shuffle(rng, order, n_train);
    bool stage2 = epoch > p->stage1_epochs;
    mla_status s = MLA_OK;
    double total = 0;
    long steps = 0;
    for (int at = 0; !s && at < n_train; at += p->batch, steps++) {
        int b = n_train - at < p->batch ? n_train - at : p->batch;
        gan_batch(ds, order + at, b, x);
        dr->m = b, dr->m_ip = stage2 ? (b + 1) / 2 : 0;
        adegan_draws_sample(p, rng, dr);
        adegan_losses l;
        s = stage2 ? adegan_stage2_grads(m, x, b, dr, true, &l) : adegan_stage1_grads(m, x, b, dr, true, &l);
        if (!s) s = check_losses(&l, epoch, steps + 1);
        if (s) break;
        mla_optimizer_step(m->oG, m->G);
        if (stage2 || p->info > 0) mla_optimizer_step(m->oE, m->E);
        total += stage2 ? p->gamma * l.recon + p->beta * l.sl + p->alpha * l.ip + p->adv_weight * l.adv_g
                        : l.adv_g + p->info * l.sl;
    }
    *mean_loss = steps ? total / steps : NAN;
    free(order);
    return s;
}

static mla_status train_model(adegan_model *m, const mla_anomaly_config *cfg, const mla_dataset *ds,
                              const int32_t *train, int n_train) {
    const adegan_params *p = &m->p;
    mla_rng rng;
    mla_rng_seed(&rng, p->seed ^ 0x5EEDADEull);
    adegan_draws dr;
    float *x = malloc((size_t)p->batch * mla_dataset_dim(ds) * sizeof(float));
    mla_status s =
        x ? adegan_draws_alloc(p, p->batch, p->batch, &dr) : mla_error(MLA_ERR_NOMEM, "adegan: out of memory");
    if (s) {
        free(x);
        return s;
    }
    mla_net *nets[3] = {m->G, m->E, m->D};
    static const char *const names[3] = {"G", "E", "D"};
    gan_snapshot snap;
    s = gan_snapshot_init(&snap, 3, nets, names);
    for (int ep = 1; !s && ep <= p->epochs; ep++) {
        double loss = NAN;
        s = run_epoch(m, ds, train, n_train, ep, &rng, &dr, x, &loss);
        if (s) s = gan_snapshot_leave(&snap, cfg->figures_dir, "adegan", s);
        if (!s) gan_snapshot_take(&snap, ep);
        if (!s && cfg->progress) s = cfg->progress(cfg->progress_user, "adegan", ep, p->epochs, loss);
    }
    gan_snapshot_free(&snap);
    adegan_draws_free(&dr);
    free(x);
    return s;
}

/* ------------------------------------------------------------------ method -- */

static void adegan_free(void *state) {
    adegan_state *st = state;
    if (!st) return;
    adegan_model_free(st->m);
    free(st);
}

static mla_status calibrate(adegan_state *st, const mla_dataset *ds, const int32_t *val, int n_val) {
    double *err = malloc((size_t)n_val * sizeof(double));
    if (!err) return mla_error(MLA_ERR_NOMEM, "adegan: out of memory");
    mla_status s = reconstruct(st->m, ds, val, n_val, err, NULL, NULL);
    for (int i = 0; !s && i < n_val; i++)
        if (!isfinite(err[i]))
            s = mla_error(MLA_ERR_INVALID, "adegan: a validation image's reconstruction error is not finite");
    if (!s) adegan_normal_fit(err, n_val, &st->mu, &st->sd);
    free(err);
    return s;
}

mla_status adegan_fit_params(const adegan_params *p, const mla_anomaly_config *cfg, const mla_dataset *ds,
                             const int32_t *train, int n_train, const int32_t *val, int n_val, void **state) {
    *state = NULL;
    int c, side;
    mla_status s = gan_image_shape(ds, "adegan", &c, &side);
    if (s) return s;
    if (n_train < 1) return mla_error(MLA_ERR_INVALID, "adegan: no normal training images");
    if (n_val < 2)
        return mla_error(MLA_ERR_INVALID, "adegan: the normal fit needs at least 2 validation images, got %d", n_val);
    adegan_state *st = mla_alloc(1, sizeof *st);
    if (!st) return MLA_ERR_NOMEM;
    st->p = *p;
    int saved = gan_threads_enter(p->threads);
    s = adegan_model_create(p, c, side, &st->m);
    if (!s) st->p = st->m->p; /* the width chosen from the image size */
    if (!s) s = train_model(st->m, cfg, ds, train, n_train);
    if (!s) s = calibrate(st, ds, val, n_val);
    gan_threads_restore(saved);
    if (s) {
        adegan_free(st);
        return s;
    }
    *state = st;
    return MLA_OK;
}

static mla_status adegan_fit(const mla_anomaly_config *cfg, const mla_dataset *ds, const int32_t *train, int n_train,
                             const int32_t *val, int n_val, void **state) {
    adegan_params p;
    *state = NULL;
    mla_status s = adegan_params_from(cfg, &p);
    return s ? s : adegan_fit_params(&p, cfg, ds, train, n_train, val, n_val, state);
}

static mla_status adegan_score(void *state, const mla_dataset *ds, const int32_t *idx, int n, double *scores,
                               double *terms) {
    adegan_state *st = state;
    int zdim = st->p.patterns + st->p.noise_dim;
    double *err = malloc((size_t)(n > 0 ? n : 1) * 3 * sizeof(double)), *rt = err + n, *pt = rt + n;
    float *codes = malloc((size_t)(n > 0 ? n : 1) * zdim * sizeof(float));
    mla_status s = err && codes ? MLA_OK : mla_error(MLA_ERR_NOMEM, "adegan: out of memory");
    int saved = gan_threads_enter(st->p.threads);
    if (!s) s = reconstruct(st->m, ds, idx, n, err, codes, NULL);
    gan_threads_restore(saved);
    if (!s) adegan_score_terms(err, codes, n, st->p.patterns, zdim, st->mu, st->sd, rt, pt);
    for (int i = 0; !s && i < n; i++) {
        double v = st->p.score == 1 ? rt[i] : st->p.score == 2 ? pt[i] : rt[i] + pt[i];
        if (!isfinite(v)) {
            s = mla_error(MLA_ERR_INVALID, "adegan: the score of image %d is not finite (the model diverged)", idx[i]);
            break;
        }
        scores[i] = v;
        if (terms) terms[2 * i] = rt[i], terms[2 * i + 1] = pt[i];
    }
    free(err);
    free(codes);
    return s;
}

/* patterns.png: G's images for each pattern (rows) and 8 noise draws (columns). */
static mla_status patterns_figure(adegan_state *st, const char *dir) {
    adegan_model *m = st->m;
    int nc = st->p.patterns, zdim = nc + st->p.noise_dim, cols = 8, n = nc * cols, dim = m->dim;
    float *z = mla_alloc((size_t)n * zdim, sizeof(float));
    char **caps = mla_alloc((size_t)nc, sizeof(char *));
    char *capbuf = mla_alloc((size_t)nc, 24);
    mla_status s = z && caps && capbuf ? MLA_OK : MLA_ERR_NOMEM;
    mla_rng rng;
    mla_rng_seed(&rng, st->p.seed ^ 0xF164ull);
    for (int i = 0; !s && i < n; i++) {
        int k = i / cols;
        z[(size_t)i * zdim + k] = st->p.code_scale;
        for (int j = 0; j < st->p.noise_dim; j++)
            z[(size_t)i * zdim + nc + j] = (float)(st->p.sigma * mla_rng_normal(&rng));
    }
    for (int k = 0; !s && k < nc; k++) {
        caps[k] = capbuf + (size_t)k * 24;
        snprintf(caps[k], 24, "pattern %d", k);
    }
    const float *img;
    char path[4096];
    if (!s) s = mla_net_forward(m->G, z, n, false, &img);
    if (!s) s = gan_path(path, sizeof path, dir, "patterns.png");
    if (!s)
        s = gan_write_grid(path, img, n, m->c, m->s, nc, cols, "ADe-GAN: G(z_c, z_n), one row per pattern z_c",
                           (const char *const *)caps);
    (void)dim;
    free(z), free(caps), free(capbuf);
    return s;
}

/* reconstructions.png: up to 10 images (top row) above G(E(x)) (bottom row). */
static mla_status reconstructions_figure(adegan_state *st, const mla_dataset *ds, const int32_t *idx, int n,
                                         const char *dir) {
    adegan_model *m = st->m;
    int k = n < 10 ? n : 10, dim = m->dim;
    if (k < 1) return MLA_OK;
    float *both = malloc((size_t)2 * k * dim * sizeof(float));
    double err[10];
    mla_status s = both ? MLA_OK : mla_error(MLA_ERR_NOMEM, "adegan: out of memory");
    if (!s) {
        gan_batch(ds, idx, k, both);
        s = reconstruct(m, ds, idx, k, err, NULL, both + (size_t)k * dim);
    }
    static const char *const caps[] = {"input x", "G(E(x))"};
    char path[4096];
    if (!s) s = gan_path(path, sizeof path, dir, "reconstructions.png");
    if (!s) s = gan_write_grid(path, both, 2 * k, m->c, m->s, 2, k, "ADe-GAN reconstructions", caps);
    free(both);
    return s;
}

static mla_status adegan_figures(void *state, const mla_dataset *ds, const int32_t *idx, int n, const char *dir) {
    adegan_state *st = state;
    int saved = gan_threads_enter(st->p.threads);
    mla_status s = patterns_figure(st, dir);
    if (!s) s = reconstructions_figure(st, ds, idx, n, dir);
    gan_threads_restore(saved);
    return s;
}

const mla_anomaly_method mla_anomaly_adegan = {
    "adegan",
    "ADe-GAN: a GAN with a pattern extractor; score = reconstruction improbability + pattern doubt (eq. 9-11)",
    2,
    adegan_term_names,
    adegan_fit,
    adegan_score,
    adegan_figures,
    adegan_free,
};
