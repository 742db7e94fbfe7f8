/* GANomaly (Akcay, Atapour-Abarghouei, Breckon 2018) as an anomaly method: an
 * encoder-decoder-encoder generator, G_E: x -> z, G_D: z -> x' = G(x), E: x' -> z',
 * and a discriminator D = head(f(x)) whose features f give the adversarial loss.
 *
 * Training (the paper's): per minibatch of normal images, D takes one step on the BCE
 * of real images against 1 and reconstructions x' against 0; then G_E, G_D and E take
 * one step (Adam, lr 2e-4 unless cfg->lr, beta1 0.5, one optimizer per net) on
 *   L = w_adv ||f(x) - f(x')||^2 + w_con ||x - x'||_1 + w_enc ||z - z'||^2,
 * w_adv = 1, w_con = 50, w_enc = 1 (the paper's weights), each norm a mean over its
 * elements (f(x) is a fixed target: D is held frozen for this step). Not done: the
 * official code's re-initialisation of D when its loss collapses to zero.
 *
 * Score: A(x) = ||G_E(x) - E(G(x))||_1, the paper's L1 latent distance (summed over
 * the latent's dimensions; the paper's min-max scaling to [0, 1] is left out: AUROC
 * and the runner's thresholds do not need it). Terms: "latent" (the score itself) and
 * "recon", the mean |x - G(x)| over pixels (the ablation's reconstruction-only score).
 *
 * Measured (MNIST one-out, 6,000 normal training images, 3 epochs, latent 100, one
 * thread of the shared machine; AUROC on the 10,000 test images, latent score (recon
 * term)): class 0 0.839 (0.824), class 1 0.488 (0.060), class 2 0.913 (0.840), class 7
 * 0.637 (0.487); about 50 s of wall time a run at that load.
 *
 * Nets from gan_impl.h (group norm, no batch norm), latent = cfg->latent or 100 (the
 * paper's nz). A NaN or infinite loss stops training with an error naming the epoch;
 * with cfg->figures_dir set, the last finished epoch's nets are left there
 * (ganomaly_last_good_<net>.safetensors). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly/ganomaly_impl.h"

#define GANOMALY_DEFAULT_EPOCHS 5
#define GANOMALY_DEFAULT_BATCH 64
#define GANOMALY_DEFAULT_LATENT 100

static const char *const ganomaly_term_names[] = {"latent", "recon"};

mla_status ganomaly_model_create(const mla_anomaly_config *cfg, int c, int s, int width, ganomaly_model **out) {
    *out = NULL;
    ganomaly_model *m = mla_alloc(1, sizeof *m);
    if (!m) return MLA_ERR_NOMEM;
    m->c = c, m->s = s, m->dim = c * s * s;
    m->latent = cfg->latent ? cfg->latent : GANOMALY_DEFAULT_LATENT;
    m->w_adv = 1, m->w_con = 50, m->w_enc = 1;
    float lr = cfg->lr > 0 ? cfg->lr : 2e-4f;
    int w = width ? width : s >= 16 ? 32 : 8;
    mla_rng r;
    mla_rng_seed(&r, cfg->seed ^ 0x6A40A1ull);
    mla_status st = m->latent < 1 ? mla_error(MLA_ERR_INVALID, "ganomaly: the latent size must be >= 1") : MLA_OK;
    if (!st && !(isfinite(lr) && lr > 0))
        st = mla_error(MLA_ERR_INVALID, "ganomaly: the learning rate must be positive");
    if (!st) st = gan_encoder(c, s, w, m->latent, true, mla_rng_u64(&r), &m->ge);
    if (!st) st = gan_decoder(c, s, w, m->latent, mla_rng_u64(&r), &m->gd);
    if (!st) st = gan_encoder(c, s, w, m->latent, true, mla_rng_u64(&r), &m->e);
    if (!st) st = gan_critic_split(c, s, w, mla_rng_u64(&r), &m->df, &m->dh);
    if (!st) st = gan_adam(m->ge, lr, &m->o_ge);
    if (!st) st = gan_adam(m->gd, lr, &m->o_gd);
    if (!st) st = gan_adam(m->e, lr, &m->o_e);
    if (!st) st = gan_adam(m->df, lr, &m->o_df);
    if (!st) st = gan_adam(m->dh, lr, &m->o_dh);
    if (st) {
        ganomaly_model_free(m);
        return st;
    }
    *out = m;
    return MLA_OK;
}

void ganomaly_model_free(ganomaly_model *m) {
    if (!m) return;
    mla_net_free(m->ge), mla_net_free(m->gd), mla_net_free(m->e), mla_net_free(m->df), mla_net_free(m->dh);
    mla_optimizer_free(m->o_ge), mla_optimizer_free(m->o_gd), mla_optimizer_free(m->o_e);
    mla_optimizer_free(m->o_df), mla_optimizer_free(m->o_dh);
    free(m->buf);
    free(m);
}

static mla_status reserve(ganomaly_model *m, int n) {
    if (n <= m->cap) return MLA_OK;
    free(m->buf);
    size_t feat = (size_t)mla_shape_size(mla_net_output_shape(m->df));
    /* xr, dxr, tmp (an image or a latent) and the D step's 2 images; z, dz, dz'
     * (latents); f(x) and its gradient (features) */
    size_t tmp = (size_t)(m->dim > m->latent ? m->dim : m->latent);
    size_t per = 4 * (size_t)m->dim + tmp + 3 * (size_t)m->latent + 2 * feat;
    m->buf = malloc((size_t)n * per * sizeof(float));
    m->cap = m->buf ? n : 0;
    return m->buf ? MLA_OK : mla_error(MLA_ERR_NOMEM, "ganomaly: out of memory for a batch of %d", n);
}

/* L_adv's gradient: f(x) as a fixed target, d/dx' of w_adv mean (f(x') - f(x))^2 added
 * to dxr through D's features held frozen. */
static mla_status feature_matching(ganomaly_model *m, const float *x, const float *xr, int n, float *f_real,
                                   float *dfeat, float *dxr, float *tmp, double *loss) {
    size_t count = (size_t)n * mla_shape_size(mla_net_output_shape(m->df));
    const float *f;
    bool was = mla_net_frozen(m->df);
    mla_net_set_frozen(m->df, true);
    mla_status s = mla_net_forward(m->df, x, n, true, &f);
    if (!s) {
        memcpy(f_real, f, count * sizeof(float));
        s = mla_net_forward(m->df, xr, n, true, &f);
    }
    if (!s) {
        double sq = 0, scale = 2.0 * m->w_adv / (double)count;
        for (size_t i = 0; i < count; i++) {
            double d = (double)f[i] - f_real[i];
            sq += d * d;
            dfeat[i] = (float)(scale * d);
        }
        *loss = sq / (double)count;
        s = mla_net_backward(m->df, dfeat, tmp);
    }
    if (!s)
        for (size_t i = 0; i < (size_t)n * m->dim; i++) dxr[i] += tmp[i];
    mla_net_set_frozen(m->df, was);
    return s;
}

mla_status ganomaly_grads(ganomaly_model *m, const float *x, int n, bool d_step, ganomaly_losses *out) {
    mla_status s = reserve(m, n);
    if (s) return s;
    size_t img = (size_t)n * m->dim, lat = (size_t)n * m->latent;
    size_t feat = (size_t)n * mla_shape_size(mla_net_output_shape(m->df));
    size_t tmp_n = (size_t)n * (size_t)(m->dim > m->latent ? m->dim : m->latent);
    float *xr = m->buf, *dxr = xr + img, *tmp = dxr + img, *dbuf = tmp + tmp_n, *z = dbuf + 2 * img, *dz = z + lat;
    float *dzp = dz + lat, *f_real = dzp + lat, *dfeat = f_real + feat;
    out->d = NAN;
    mla_net_zero_grads(m->ge), mla_net_zero_grads(m->gd), mla_net_zero_grads(m->e);
    const float *o;
    s = mla_net_forward(m->ge, x, n, true, &o);
    if (!s) {
        memcpy(z, o, lat * sizeof(float));
        s = mla_net_forward(m->gd, z, n, true, &o);
    }
    if (!s) {
        memcpy(xr, o, img * sizeof(float));
        s = mla_net_forward(m->e, xr, n, true, &o);
    }
    if (s) return s;
    /* L_enc = mean (z' - z)^2: gradient to both z' (E) and z (G_E). */
    double sq = 0, scale = 2.0 * m->w_enc / (double)lat;
    for (size_t i = 0; i < lat; i++) {
        double d = (double)o[i] - z[i];
        sq += d * d;
        dzp[i] = (float)(scale * d);
        dz[i] = (float)(-scale * d);
    }
    out->enc = sq / (double)lat;
    s = mla_net_backward(m->e, dzp, dxr);
    /* L_con = mean |x - x'| */
    double ab = 0, sc = m->w_con / (double)img;
    for (size_t i = 0; !s && i < img; i++) {
        double d = (double)xr[i] - x[i];
        ab += fabs(d);
        dxr[i] += (float)(d > 0 ? sc : d < 0 ? -sc : 0.0);
    }
    out->con = ab / (double)img;
    if (!s && d_step) s = gan_d_step(m->df, m->dh, m->o_df, m->o_dh, x, n, xr, n, dbuf, &out->d);
    if (!s) s = feature_matching(m, x, xr, n, f_real, dfeat, dxr, tmp, &out->adv);
    /* G_D's input gradient, then G_E's (the enc term's share added). */
    if (!s) s = mla_net_backward(m->gd, dxr, tmp);
    if (!s) {
        for (size_t i = 0; i < lat; i++) dz[i] += tmp[i];
        s = mla_net_backward(m->ge, dz, NULL);
    }
    return s;
}

/* ------------------------------------------------------------------ method -- */

typedef struct {
    ganomaly_model *m;
    int threads;
} ganomaly_state;

static mla_status train_epoch(ganomaly_model *m, const mla_dataset *ds, const int32_t *train, int n_train, int batch,
                              int epoch, mla_rng *rng, float *x, double *mean_loss) {
    int32_t *order = malloc((size_t)n_train * sizeof(int32_t));
    if (!order) return mla_error(MLA_ERR_NOMEM, "ganomaly: out of memory");
    memcpy(order, train, (size_t)n_train * sizeof(int32_t));
    mla_rng_shuffle(rng, order, n_train);
    mla_status s = MLA_OK;
    double total = 0;
    long steps = 0;
    for (int at = 0; !s && at < n_train; at += batch) {
        int b = n_train - at < batch ? n_train - at : batch;
        gan_batch(ds, order + at, b, x);
        ganomaly_losses l;
        s = ganomaly_grads(m, x, b, true, &l);
        steps++;
        double g = m->w_adv * l.adv + m->w_con * l.con + m->w_enc * l.enc;
        if (!s && !(isfinite(g) && isfinite(l.d)))
            s = mla_error(MLA_ERR_INVALID,
                          "ganomaly: training diverged: the loss is not finite at epoch %d, step %ld (adv %g, con %g, "
                          "enc %g, D %g); try a smaller learning rate",
                          epoch, steps, l.adv, l.con, l.enc, l.d);
        if (s) break;
        mla_optimizer_step(m->o_ge, m->ge);
        mla_optimizer_step(m->o_gd, m->gd);
        mla_optimizer_step(m->o_e, m->e);
        total += g;
    }
    *mean_loss = steps ? total / steps : NAN;
    free(order);
    return s;
}

static void ganomaly_free(void *state) {
    ganomaly_state *st = state;
    if (!st) return;
    ganomaly_model_free(st->m);
    free(st);
}

mla_status ganomaly_fit_width(const mla_anomaly_config *cfg, int width, const mla_dataset *ds, const int32_t *train,
                              int n_train, void **state) {
    *state = NULL;
    int c, side;
    mla_status s = gan_image_shape(ds, "ganomaly", &c, &side);
    if (s) return s;
    int epochs = cfg->epochs ? cfg->epochs : GANOMALY_DEFAULT_EPOCHS;
    int batch = cfg->batch ? cfg->batch : GANOMALY_DEFAULT_BATCH;
    if (n_train < 1 || epochs < 1 || batch < 1)
        return mla_error(MLA_ERR_INVALID, "ganomaly: needs normal training images, epochs >= 1 and batch >= 1");
    ganomaly_state *st = mla_alloc(1, sizeof *st);
    if (!st) return MLA_ERR_NOMEM;
    st->threads = cfg->threads;
    int saved = gan_threads_enter(cfg->threads);
    float *x = malloc((size_t)batch * mla_dataset_dim(ds) * sizeof(float));
    s = x ? ganomaly_model_create(cfg, c, side, width, &st->m) : mla_error(MLA_ERR_NOMEM, "ganomaly: out of memory");
    mla_rng rng;
    mla_rng_seed(&rng, cfg->seed ^ 0x5EED6A40ull);
    gan_snapshot snap = {0};
    if (!s) {
        mla_net *nets[5] = {st->m->ge, st->m->gd, st->m->e, st->m->df, st->m->dh};
        static const char *const names[5] = {"G_E", "G_D", "E", "D_features", "D_head"};
        s = gan_snapshot_init(&snap, 5, nets, names);
    }
    for (int ep = 1; !s && ep <= epochs; ep++) {
        double loss = NAN;
        s = train_epoch(st->m, ds, train, n_train, batch, ep, &rng, x, &loss);
        if (s) s = gan_snapshot_leave(&snap, cfg->figures_dir, "ganomaly", s);
        if (!s) gan_snapshot_take(&snap, ep);
        if (!s && cfg->progress) s = cfg->progress(cfg->progress_user, "ganomaly", ep, epochs, loss);
    }
    gan_snapshot_free(&snap);
    free(x);
    gan_threads_restore(saved);
    if (s) {
        ganomaly_free(st);
        return s;
    }
    *state = st;
    return MLA_OK;
}

static mla_status ganomaly_fit(const mla_anomaly_config *cfg, const mla_dataset *ds, const int32_t *train,
                               int n_train, const int32_t *val, int n_val, void **state) {
    (void)val, (void)n_val;
    return ganomaly_fit_width(cfg, 0, ds, train, n_train, state);
}

mla_status ganomaly_scores(ganomaly_model *m, const float *x, int n, double *latent, double *recon) {
    const float *o;
    mla_status s = reserve(m, n);
    size_t lat = (size_t)n * m->latent, img = (size_t)n * m->dim;
    float *z = m->buf, *xr = z + lat;
    if (!s) s = mla_net_forward(m->ge, x, n, false, &o);
    if (!s) {
        memcpy(z, o, lat * sizeof(float));
        s = mla_net_forward(m->gd, z, n, false, &o);
    }
    if (!s) {
        memcpy(xr, o, img * sizeof(float));
        s = mla_net_forward(m->e, xr, n, false, &o);
    }
    for (int i = 0; !s && i < n; i++) {
        double a = 0, r = 0;
        const float *zi = z + (size_t)i * m->latent, *zr = o + (size_t)i * m->latent;
        for (int j = 0; j < m->latent; j++) a += fabs((double)zr[j] - zi[j]);
        for (int j = 0; j < m->dim; j++) r += fabs((double)xr[(size_t)i * m->dim + j] - x[(size_t)i * m->dim + j]);
        latent[i] = a, recon[i] = r / m->dim;
    }
    return s;
}

#define CHUNK 256
static mla_status ganomaly_score(void *state, const mla_dataset *ds, const int32_t *idx, int n, double *scores,
                                 double *terms) {
    ganomaly_state *st = state;
    int dim = mla_dataset_dim(ds);
    float *x = malloc((size_t)CHUNK * dim * sizeof(float));
    double a[CHUNK], r[CHUNK];
    mla_status s = x ? MLA_OK : mla_error(MLA_ERR_NOMEM, "ganomaly: out of memory");
    int saved = gan_threads_enter(st->threads);
    for (int at = 0; !s && at < n; at += CHUNK) {
        int b = n - at < CHUNK ? n - at : CHUNK;
        gan_batch(ds, idx + at, b, x);
        s = ganomaly_scores(st->m, x, b, a, r);
        for (int i = 0; !s && i < b; i++) {
            if (!isfinite(a[i]) || !isfinite(r[i])) {
                s = mla_error(MLA_ERR_INVALID, "ganomaly: the score of image %d is not finite (the model diverged)",
                              idx[at + i]);
                break;
            }
            scores[at + i] = a[i];
            if (terms) terms[2 * (at + i)] = a[i], terms[2 * (at + i) + 1] = r[i];
        }
    }
    gan_threads_restore(saved);
    free(x);
    return s;
}

/* reconstructions.png: up to 10 images (top row) above G(x) (bottom row). */
static mla_status ganomaly_figures(void *state, const mla_dataset *ds, const int32_t *idx, int n, const char *dir) {
    ganomaly_state *st = state;
    ganomaly_model *m = st->m;
    int k = n < 10 ? n : 10;
    if (k < 1) return MLA_OK;
    float *both = malloc((size_t)2 * k * m->dim * sizeof(float));
    double a[10], r[10];
    char path[4096];
    mla_status s = both ? MLA_OK : mla_error(MLA_ERR_NOMEM, "ganomaly: out of memory");
    int saved = gan_threads_enter(st->threads);
    if (!s) {
        gan_batch(ds, idx, k, both);
        s = ganomaly_scores(m, both, k, a, r);
    }
    if (!s) memcpy(both + (size_t)k * m->dim, m->buf + (size_t)k * m->latent, (size_t)k * m->dim * sizeof(float));
    static const char *const caps[] = {"input x", "G(x)"};
    if (!s) s = gan_path(path, sizeof path, dir, "ganomaly_reconstructions.png");
    if (!s) s = gan_write_grid(path, both, 2 * k, m->c, m->s, 2, k, "GANomaly reconstructions", caps);
    gan_threads_restore(saved);
    free(both);
    return s;
}

const mla_anomaly_method mla_anomaly_ganomaly = {
    "ganomaly",
    "GANomaly (Akcay et al. 2018): encoder-decoder-encoder GAN; score = ||G_E(x) - E(G(x))||_1",
    2,
    ganomaly_term_names,
    ganomaly_fit,
    ganomaly_score,
    ganomaly_figures,
    ganomaly_free,
};
