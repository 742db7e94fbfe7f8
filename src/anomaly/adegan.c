/* ADe-GAN as an anomaly method: a GAN whose generator G(z_c, z_n) takes a one-hot
 * pattern code z_c over n_c patterns and noise z_n ~ N(0, sigma^2 I_d), a
 * discriminator D, and an extractor E(x) = (z_c logits, z_n). Equation numbers are
 * the study's.
 *
 * Training (Adam, lr 2e-4 unless cfg->lr, beta1 0.5; one optimizer per net):
 *   Stage 1 (the first stage1_epochs epochs, default 1): the adversarial game of
 *     eq. 1. D minimises the BCE of real images against 1 and G's against 0; G
 *     minimises the NON-SATURATING loss -log D(G(z)) (BCE of D(G(z)) against 1), which
 *     gives G useful gradients while D rejects its samples easily.
 *     CHOICE (when L_sl starts): with info > 0 (--info-weight, 1 through
 *     mla_anomaly_defaults) G and E also minimise info x L_sl (below) in stage 1, as
 *     InfoGAN trains its code from the first step: on the adversarial loss alone G
 *     learns to ignore z_c, and stage 2's beta L_sl could not teach it against
 *     gamma L_recon, so G's images followed z_n, not the pattern (README).
 *   Stage 2 (the remaining epochs): L = alpha L_ip + beta L_sl + gamma L_recon
 *     (eq. 3) on G and E, per minibatch of real images X:
 *     - L_recon (eq. 8) = mean over pixels of (X - G(E(X)))^2. E's code enters G as
 *       (softmax of the z_c logits, z_n estimate), so the path is differentiable.
 *       CHOICE (which nets L_recon trains; eq. 3 sums the terms without saying):
 *       by default (recon_trains "ge") G and E. With "e", E only: G passes the
 *       gradient to its input but keeps its parameters for the adversarial and
 *       self-supervision terms, so G stays a generator of the normal patterns and E
 *       learns to invert it. "e" won on four hard and easy classes but lost on all ten
 *       over 3 seeds (0.591 against "ge"'s 0.658, batch 64): at the CPU-sized training G is
 *       too poor a generator to reconstruct the normal digits through (README).
 *       CHOICE (the pattern code G receives): by default (recon_code "soft") the
 *       softmax, so L_recon reaches E's pattern logits; with "hard" the arg-max's
 *       one-hot (no gradient to the logits: the code cannot carry image detail in
 *       a soft mix of patterns, and G's pattern c must reconstruct what E assigns
 *       to c). Measured equal on all ten MNIST one-out classes (0.658 both, one
 *       seed; the pattern term alone 0.469 against 0.439), so soft stays.
 *     - L_sl (eq. 6), pattern self-supervision on generated images: for codes (c, z_n)
 *       drawn from the prior, CE(E_c(G(c, z_n)), c) + mean over the d dims of
 *       (E_n(G(c, z_n)) - z_n)^2. Half of the codes are interpolations WITHIN a pattern
 *       (z_n = l a + (1 - l) b, l ~ U(0, 1), a, b from the prior), the study's
 *       augmentation; their z_n target is the interpolated vector. Both G and E learn.
 *     - L_ip (eq. 7), interpolation ACROSS patterns: for z_c = l e_i + (1 - l) e_j,
 *       i != j, l ~ U(0.25, 0.75) (kept away from the pure patterns that L_sl labels),
 *       KL(uniform || softmax(E_c(G(z)))): an image between two patterns should not be
 *       claimed by either. Only E learns from it (G is held fixed here), so E learns
 *       low confidence off the patterns without G learning to blur its patterns.
 *   CHOICE (the alternation of the stages, which the study leaves open): stage 1 runs
 *     first as a warm-up of G and D; in stage 2 the adversarial game goes on in every
 *     step (D's step, then G's non-saturating loss with weight 1 added to G's stage-2
 *     loss), so that the reconstruction term cannot pull G off the image manifold.
 *   Nets: gan_impl.h's DCGAN-style encoder/decoder with group norm (no batch norm:
 *     scores must not depend on how a test set is batched).
 *
 * Score (eq. 9-11). After training, the reconstruction error
 *   err(x) = mean over pixels of (x - G(E(x)))^2
 * of the normal validation images is fitted with a normal N(mu, sd^2) (eq. 9). A test
 * image's reconstruction probability is P_r(x) = P(err > err(x)) = Q((err(x) - mu)/sd),
 * the chance that a normal image reconstructs worse; its pattern confidence is
 * P_c(x) = max_k softmax(E_c(x))_k (eq. 10). The normality of x is their product
 * P_r(x) P_c(x) (eq. 11), and the anomaly score its negative log:
 *   score(x) = -log P_r(x) - log P_c(x)      (terms "recon" and "pattern").
 * CHOICE (eq. 10's sign): the study's normality is HIGH for normal images; the runner
 * wants higher = more anomalous, so the score is the negative log (monotone, so AUROC is
 * unchanged, and the log keeps the product from underflowing: -log Q is computed
 * stably for any z). cfg->adegan.score = "recon" or "pattern" returns one term alone
 * (the ablation; both terms are always reported through `terms`).
 *
 * Defaults: 3 epochs (1 of stage 1, 2 of stage 2), batch 16 (more Adam steps for the
 * same compute: on MNIST one-out, all ten classes, one seed, batch 64 0.658, 32 0.673,
 * 16 0.697; README), net width 32 for images
 * of 16 pixels or more (8 below), n_c 10, weights (1, 1, 10), sigma 0.3 (with 1 the
 * 16 noise dimensions outweigh the one-hot z_c in G's input; with 0.3 and L_sl in
 * stage 1 each pattern gets its own images and the ten-class mean rose from 0.697 to
 * 0.755, README).
 *
 * Measured figures (MNIST one-out per class, the ablation of the two terms, the
 * settings tried, why d defaults to 16, speed) live in the README's anomaly section,
 * where they are kept with the commands that made them.
 *
 * A NaN or infinite loss stops training with an error naming the epoch and step;
 * with cfg->figures_dir set, the last finished epoch's G, E and D are left there
 * (adegan_last_good_{G,E,D}.safetensors, metadata "epoch"). Scores are checked
 * finite. Same seed and thread count: same bits.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly/gan_impl.h"

#define ADEGAN_DEFAULT_EPOCHS 3
#define ADEGAN_DEFAULT_STAGE1 1
#define ADEGAN_DEFAULT_BATCH 16
#define ADEGAN_DEFAULT_LR 2e-4f
#define ADEGAN_DEFAULT_SIGMA 0.3f

/* ---------------------------------------------------------------- settings -- */

mla_status adegan_params_from(const mla_anomaly_config *cfg, adegan_params *p) {
    const mla_adegan_config *a = &cfg->adegan;
    memset(p, 0, sizeof *p);
    p->patterns = a->patterns ? a->patterns : 10;
    p->noise_dim = a->noise_dim ? a->noise_dim : 16;
    p->sigma = a->noise_sigma > 0 ? a->noise_sigma : ADEGAN_DEFAULT_SIGMA;
    p->alpha = a->alpha, p->beta = a->beta, p->gamma = a->gamma;
    p->adv_weight = 1.0f;
    p->info = a->info_weight;
    p->code_scale = a->code_scale > 0 ? a->code_scale : 1.0f;
    p->width = 0; /* from the image size at fit */
    p->batch = cfg->batch ? cfg->batch : ADEGAN_DEFAULT_BATCH;
    p->epochs = cfg->epochs ? cfg->epochs : ADEGAN_DEFAULT_EPOCHS;
    p->stage1_epochs = a->stage1_epochs ? a->stage1_epochs : p->epochs > 1 ? ADEGAN_DEFAULT_STAGE1 : 0;
    p->lr = cfg->lr > 0 ? cfg->lr : ADEGAN_DEFAULT_LR;
    p->seed = cfg->seed;
    p->threads = cfg->threads;
    if (p->patterns < 2)
        return mla_error(MLA_ERR_INVALID, "adegan: the pattern count n_c must be >= 2, got %d", p->patterns);
    if (p->patterns > 4096) return mla_error(MLA_ERR_INVALID, "adegan: at most 4096 patterns, got %d", p->patterns);
    if (p->noise_dim < 1)
        return mla_error(MLA_ERR_INVALID, "adegan: the noise dimension must be >= 1, got %d", p->noise_dim);
    if (!(p->alpha >= 0 && p->beta >= 0 && p->gamma >= 0))
        return mla_error(MLA_ERR_INVALID, "adegan: the loss weights alpha, beta, gamma must be >= 0, got %g, %g, %g",
                         p->alpha, p->beta, p->gamma);
    if (!(p->info >= 0) || !isfinite(p->info))
        return mla_error(MLA_ERR_INVALID, "adegan: the stage-1 pattern weight (info) must be finite and >= 0, got %g",
                         p->info);
    if (!(a->code_scale >= 0) || !isfinite(a->code_scale))
        return mla_error(MLA_ERR_INVALID, "adegan: the pattern code's scale must be finite and > 0, got %g",
                         a->code_scale);
    if (!isfinite(p->sigma) || !isfinite(p->lr) || p->lr <= 0)
        return mla_error(MLA_ERR_INVALID, "adegan: noise sigma and learning rate must be finite and positive");
    if (p->batch < 1 || p->epochs < 1 || p->stage1_epochs < 0)
        return mla_error(MLA_ERR_INVALID, "adegan: batch and epochs must be >= 1 and stage-1 epochs >= 0");
    if (p->stage1_epochs >= p->epochs)
        return mla_error(MLA_ERR_INVALID,
                         "adegan: stage-1 epochs (%d) must be fewer than the epochs (%d): stage 2 trains E",
                         p->stage1_epochs, p->epochs);
    const char *rt = a->recon_trains ? a->recon_trains : "ge";
    if (!strcmp(rt, "e")) p->recon_g = false;
    else if (!strcmp(rt, "ge")) p->recon_g = true;
    else return mla_error(MLA_ERR_INVALID, "adegan: unknown recon-trains '%s' (e, ge)", rt);
    const char *rc = a->recon_code ? a->recon_code : "soft";
    if (!strcmp(rc, "hard")) p->hard_code = true;
    else if (!strcmp(rc, "soft")) p->hard_code = false;
    else return mla_error(MLA_ERR_INVALID, "adegan: unknown recon-code '%s' (soft, hard)", rc);
    const char *sc = a->score ? a->score : "both";
    if (!strcmp(sc, "both")) p->score = 0;
    else if (!strcmp(sc, "recon")) p->score = 1;
    else if (!strcmp(sc, "pattern")) p->score = 2;
    else return mla_error(MLA_ERR_INVALID, "adegan: unknown score '%s' (both, recon, pattern)", sc);
    return MLA_OK;
}

/* ------------------------------------------------------------------- model -- */


mla_status adegan_model_create(const adegan_params *p, int c, int s, adegan_model **out) {
    *out = NULL;
    adegan_model *m = mla_alloc(1, sizeof *m);
    if (!m) return MLA_ERR_NOMEM;
    m->p = *p;
    if (!m->p.width) m->p.width = s >= 16 ? 32 : 8;
    m->c = c, m->s = s, m->dim = c * s * s, m->zdim = p->patterns + p->noise_dim;
    mla_rng r;
    mla_rng_seed(&r, p->seed ^ 0xADE6A4ull);
    int w = m->p.width;
    mla_status st = gan_decoder(c, s, w, m->zdim, mla_rng_u64(&r), &m->G);
    if (!st) st = gan_encoder(c, s, w, m->zdim, true, mla_rng_u64(&r), &m->E);
    if (!st) st = gan_encoder(c, s, w, m->zdim, true, 0, &m->E2);
    if (!st) st = gan_encoder(c, s, w, 1, false, mla_rng_u64(&r), &m->D);
    if (!st) st = gan_adam(m->G, p->lr, &m->oG);
    if (!st) st = gan_adam(m->E, p->lr, &m->oE);
    if (!st) st = gan_adam(m->D, p->lr, &m->oD);
    if (st) {
        adegan_model_free(m);
        return st;
    }
    *out = m;
    return MLA_OK;
}

void adegan_model_free(adegan_model *m) {
    if (!m) return;
    mla_net_free(m->G), mla_net_free(m->E), mla_net_free(m->E2), mla_net_free(m->D);
    mla_optimizer_free(m->oG), mla_optimizer_free(m->oE), mla_optimizer_free(m->oD);
    free(m->buf), free(m->gin), free(m->dgin), free(m->dout), free(m->tmp);
    free(m);
}

mla_net *adegan_model_net(adegan_model *m, char which) {
    return which == 'G' ? m->G : which == 'E' ? m->E : which == 'D' ? m->D : NULL;
}

/* Step buffers for up to n rows of images and codes (n = real + generated rows). */
static mla_status reserve(adegan_model *m, int n) {
    if (n <= m->cap) return MLA_OK;
    free(m->buf), free(m->gin), free(m->dgin), free(m->dout), free(m->tmp);
    m->buf = malloc((size_t)n * m->dim * sizeof(float));
    m->dout = malloc((size_t)n * m->dim * sizeof(float));
    m->gin = malloc((size_t)n * m->zdim * sizeof(float));
    m->dgin = malloc((size_t)n * m->zdim * sizeof(float));
    m->tmp = malloc((size_t)n * m->zdim * sizeof(float));
    m->cap = n;
    if (m->buf && m->dout && m->gin && m->dgin && m->tmp) return MLA_OK;
    m->cap = 0;
    return mla_error(MLA_ERR_NOMEM, "adegan: out of memory for a batch of %d", n);
}

/* ------------------------------------------------------------------- draws -- */

mla_status adegan_draws_alloc(const adegan_params *p, int m, int m_ip, adegan_draws *d) {
    int zdim = p->patterns + p->noise_dim;
    memset(d, 0, sizeof *d);
    d->m = m, d->m_ip = m_ip;
    d->c_sl = malloc((size_t)(m > 0 ? m : 1) * sizeof(int32_t));
    d->z_sl = malloc((size_t)(m > 0 ? m : 1) * zdim * sizeof(float));
    d->z_ip = malloc((size_t)(m_ip > 0 ? m_ip : 1) * zdim * sizeof(float));
    if (d->c_sl && d->z_sl && d->z_ip) return MLA_OK;
    adegan_draws_free(d);
    return mla_error(MLA_ERR_NOMEM, "adegan: out of memory");
}

void adegan_draws_free(adegan_draws *d) {
    free(d->c_sl), free(d->z_sl), free(d->z_ip);
    memset(d, 0, sizeof *d);
}

static void noise(const adegan_params *p, mla_rng *rng, float *z) {
    for (int j = 0; j < p->noise_dim; j++) z[j] = (float)(p->sigma * mla_rng_normal(rng));
}

void adegan_draws_sample(const adegan_params *p, mla_rng *rng, adegan_draws *d) {
    int nc = p->patterns, zdim = nc + p->noise_dim;
    for (int i = 0; i < d->m; i++) {
        float *z = d->z_sl + (size_t)i * zdim;
        int c = (int)mla_rng_below(rng, (uint64_t)nc);
        d->c_sl[i] = c;
        memset(z, 0, (size_t)nc * sizeof(float));
        z[c] = p->code_scale;
        noise(p, rng, z + nc);
        if (i % 2) { /* within-pattern interpolation: l a + (1 - l) b */
            float l = (float)mla_rng_uniform(rng);
            for (int j = 0; j < p->noise_dim; j++)
                z[nc + j] = l * z[nc + j] + (1.0f - l) * (float)(p->sigma * mla_rng_normal(rng));
        }
    }
    for (int i = 0; i < d->m_ip; i++) {
        float *z = d->z_ip + (size_t)i * zdim;
        int a = (int)mla_rng_below(rng, (uint64_t)nc);
        int b = (a + 1 + (int)mla_rng_below(rng, (uint64_t)(nc - 1))) % nc;
        float l = 0.25f + 0.5f * (float)mla_rng_uniform(rng);
        memset(z, 0, (size_t)nc * sizeof(float));
        z[a] = l * p->code_scale, z[b] = (1.0f - l) * p->code_scale;
        noise(p, rng, z + nc);
    }
}

/* ------------------------------------------------------------- step pieces -- */

void adegan_codes_from_extractor(const float *e, int n, int nc, int zdim, bool hard, float scale, float *gin) {
    for (int i = 0; i < n; i++) {
        const float *r = e + (size_t)i * zdim;
        float *o = gin + (size_t)i * zdim;
        if (hard) {
            int best = 0;
            for (int k = 1; k < nc; k++) best = r[k] > r[best] ? k : best;
            memset(o, 0, (size_t)nc * sizeof(float));
            o[best] = scale;
        } else {
            mla_softmax_rows(r, 1, nc, o);
            for (int k = 0; k < nc; k++) o[k] *= scale;
        }
        memcpy(o + nc, r + nc, (size_t)(zdim - nc) * sizeof(float));
    }
}

/* d/d(E's outputs) from d/d(G's input rows): the Jacobian of scale x softmax on the
 * pattern part (gin holds scale x the softmax q: d gin_k / d logit_j = gin_k (delta_kj -
 * q_j)), zero there with hard (gin holds the arg-max's scaled one-hot, a piecewise-
 * constant function of the logits), identity on the noise part. */
static void extractor_grad(const float *gin, const float *dgin, int n, int nc, int zdim, bool hard, float scale,
                           float *de) {
    for (int i = 0; i < n; i++) {
        if (hard) {
            memset(de + (size_t)i * zdim, 0, (size_t)nc * sizeof(float));
            memcpy(de + (size_t)i * zdim + nc, dgin + (size_t)i * zdim + nc, (size_t)(zdim - nc) * sizeof(float));
            continue;
        }
        const float *p = gin + (size_t)i * zdim, *g = dgin + (size_t)i * zdim;
        float *o = de + (size_t)i * zdim;
        double dot = 0;
        for (int k = 0; k < nc; k++) dot += (double)p[k] / scale * g[k];
        for (int k = 0; k < nc; k++) o[k] = (float)(p[k] * (g[k] - dot));
        memcpy(o + nc, g + nc, (size_t)(zdim - nc) * sizeof(float));
    }
}

/* L_sl on E2's outputs e (m rows) for the draws: writes w * dL/de into de. */
static double self_supervision(const adegan_model *m, const float *e, const adegan_draws *dr, float w, float *de,
                               float *logits) {
    int nc = m->p.patterns, zdim = m->zdim, d = m->p.noise_dim, n = dr->m;
    for (int i = 0; i < n; i++) memcpy(logits + (size_t)i * nc, e + (size_t)i * zdim, (size_t)nc * sizeof(float));
    float *dl = logits + (size_t)n * nc;
    double ce = mla_loss_softmax_ce(logits, n, nc, dr->c_sl, NULL, dl, NULL), sq = 0;
    double scale = 2.0 / ((double)n * d);
    for (int i = 0; i < n; i++) {
        const float *en = e + (size_t)i * zdim + nc, *zn = dr->z_sl + (size_t)i * zdim + nc;
        float *o = de + (size_t)i * zdim;
        for (int k = 0; k < nc; k++) o[k] = w * dl[(size_t)i * nc + k];
        for (int j = 0; j < d; j++) {
            double diff = (double)en[j] - zn[j];
            sq += diff * diff;
            o[nc + j] = (float)(w * scale * diff);
        }
    }
    return ce + sq / ((double)n * d);
}

/* L_ip on E2's outputs e (m_ip rows): KL(uniform || softmax); writes alpha * dL/de. */
static double across_patterns(const adegan_model *m, const float *e, int n, float *de, float *logits) {
    int nc = m->p.patterns, zdim = m->zdim;
    float *u = logits + (size_t)n * nc, *dl = u + (size_t)n * nc;
    for (int i = 0; i < n; i++) memcpy(logits + (size_t)i * nc, e + (size_t)i * zdim, (size_t)nc * sizeof(float));
    for (size_t i = 0; i < (size_t)n * nc; i++) u[i] = 1.0f / (float)nc;
    double kl = mla_loss_kl_softmax(logits, u, n, nc, dl);
    memset(de, 0, (size_t)n * zdim * sizeof(float));
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nc; k++) de[(size_t)i * zdim + k] = m->p.alpha * dl[(size_t)i * nc + k];
    return kl;
}

/* Scratch for logits and their gradients: 3 x rows x n_c floats. */
static float *logit_scratch(const adegan_model *m, int rows) {
    return malloc((size_t)3 * (rows > 0 ? rows : 1) * m->p.patterns * sizeof(float));
}

/* ------------------------------------------------------------------ stages -- */

/* L_sl with weight w on G's images gen (dr->m rows) through E2 (E's copy): E2's
 * gradient buffer gets w * dL_sl/dtheta, dgen += w * dL_sl/dgen; out->sl the loss.
 * Uses m->tmp and m->buf (free once D's step is over). */
static mla_status pattern_rows(adegan_model *m, const float *gen, const adegan_draws *dr, float w, float *dgen,
                               float *lg, adegan_losses *out) {
    int g = dr->m;
    const float *e2;
    mla_status s = mla_net_forward(m->E2, gen, g, true, &e2);
    if (s) return s;
    out->sl = self_supervision(m, e2, dr, w, m->tmp, lg);
    float *dx = m->buf;
    s = mla_net_backward(m->E2, m->tmp, dx);
    if (!s)
        for (size_t i = 0; i < (size_t)g * m->dim; i++) dgen[i] += dx[i];
    return s;
}

mla_status adegan_stage1_grads(adegan_model *m, const float *x, int n, const adegan_draws *dr, bool d_step,
                               adegan_losses *out) {
    int g = dr->m;
    bool info = m->p.info > 0;
    mla_status s = reserve(m, n + g);
    float *lg = info ? logit_scratch(m, g) : NULL;
    if (!s && info && !lg) s = mla_error(MLA_ERR_NOMEM, "adegan: out of memory");
    if (!s && info) s = mla_net_copy_params(m->E2, m->E);
    if (s) {
        free(lg);
        return s;
    }
    out->recon = out->sl = out->ip = 0, out->d = NAN;
    mla_net_zero_grads(m->G), mla_net_zero_grads(m->E), mla_net_zero_grads(m->E2);
    const float *fake;
    s = mla_net_forward(m->G, dr->z_sl, g, true, &fake);
    if (!s && d_step) s = gan_d_step(m->D, NULL, m->oD, NULL, x, n, fake, g, m->buf, &out->d);
    if (!s) {
        memset(m->dout, 0, (size_t)g * m->dim * sizeof(float));
        s = gan_g_adv(m->D, fake, g, 1.0f, m->dout, &out->adv_g);
    }
    if (!s && info) s = pattern_rows(m, fake, dr, m->p.info, m->dout, lg, out);
    if (!s) s = mla_net_backward(m->G, m->dout, NULL);
    if (!s && info) gan_add_grads(m->E, m->E2);
    free(lg);
    return s;
}

/* Recon rows of G's output against x: gamma * dMSE into dout; returns the MSE. */
static double reconstruction(const adegan_model *m, const float *out, const float *x, int n, float *dout) {
    size_t count = (size_t)n * m->dim;
    double sq = 0, scale = 2.0 * m->p.gamma / (double)count;
    for (size_t i = 0; i < count; i++) {
        double diff = (double)out[i] - x[i];
        sq += diff * diff;
        dout[i] = (float)(scale * diff);
    }
    return sq / (double)count;
}

/* The generated half of stage 2 after G's forward: D's step, G's adversarial and
 * self-supervision gradients into dout's generated rows (gen: G's output rows). */
static mla_status generated_rows(adegan_model *m, const float *x, int n, const float *gen, const adegan_draws *dr,
                                 bool d_step, float *lg, adegan_losses *out) {
    int g = dr->m;
    float *dgen = m->dout + (size_t)n * m->dim;
    memset(dgen, 0, (size_t)g * m->dim * sizeof(float));
    mla_status s = MLA_OK;
    if (d_step) s = gan_d_step(m->D, NULL, m->oD, NULL, x, n, gen, g, m->buf, &out->d);
    if (!s && m->p.adv_weight > 0) s = gan_g_adv(m->D, gen, g, m->p.adv_weight, dgen, &out->adv_g);
    return s ? s : pattern_rows(m, gen, dr, m->p.beta, dgen, lg, out);
}

/* L_ip through G (fixed) and E2: adds alpha * dL_ip/dtheta to E2's gradients. */
static mla_status interpolation_rows(adegan_model *m, const adegan_draws *dr, float *lg, adegan_losses *out) {
    if (dr->m_ip < 1 || m->p.alpha == 0) {
        out->ip = 0;
        return MLA_OK;
    }
    const float *img, *e2;
    bool was = mla_net_frozen(m->G);
    mla_net_set_frozen(m->G, true);
    mla_status s = mla_net_forward(m->G, dr->z_ip, dr->m_ip, true, &img);
    mla_net_set_frozen(m->G, was);
    if (!s) s = mla_net_forward(m->E2, img, dr->m_ip, true, &e2);
    if (s) return s;
    out->ip = across_patterns(m, e2, dr->m_ip, m->tmp, lg);
    return mla_net_backward(m->E2, m->tmp, NULL);
}

/* G's backward over the stage-2 batch (n real rows reconstructed, then g generated
 * rows) when L_recon trains E only: the real rows' d/d(G's input) with G frozen (no
 * parameter gradient from L_recon), then the generated rows' gradients into G's
 * parameters. Two backward passes through the one forward; dout's rows are consumed. */
static mla_status backward_recon_e_only(adegan_model *m, int n, int g) {
    size_t rn = (size_t)n * m->dim, gn = (size_t)g * m->dim;
    float *gen = malloc((gn ? gn : 1) * sizeof(float));
    if (!gen) return mla_error(MLA_ERR_NOMEM, "adegan: out of memory");
    memcpy(gen, m->dout + rn, gn * sizeof(float));
    memset(m->dout + rn, 0, gn * sizeof(float));
    bool was = mla_net_frozen(m->G);
    mla_net_set_frozen(m->G, true);
    mla_status s = mla_net_backward(m->G, m->dout, m->dgin);
    mla_net_set_frozen(m->G, was);
    memset(m->dout, 0, rn * sizeof(float));
    memcpy(m->dout + rn, gen, gn * sizeof(float));
    free(gen);
    return s ? s : mla_net_backward(m->G, m->dout, NULL);
}

mla_status adegan_stage2_grads(adegan_model *m, const float *x, int n, const adegan_draws *dr, bool d_step,
                               adegan_losses *out) {
    int g = dr->m, nc = m->p.patterns, zdim = m->zdim;
    int rows = n + g > dr->m_ip ? n + g : dr->m_ip;
    mla_status s = reserve(m, rows);
    float *lg = logit_scratch(m, rows);
    if (!s && !lg) s = mla_error(MLA_ERR_NOMEM, "adegan: out of memory");
    if (!s) s = mla_net_copy_params(m->E2, m->E);
    out->adv_g = 0, out->d = NAN;
    mla_net_zero_grads(m->G), mla_net_zero_grads(m->E), mla_net_zero_grads(m->E2);
    const float *e, *gout;
    if (!s) s = mla_net_forward(m->E, x, n, true, &e);
    if (!s) {
        adegan_codes_from_extractor(e, n, nc, zdim, m->p.hard_code, m->p.code_scale, m->gin);
        memcpy(m->gin + (size_t)n * zdim, dr->z_sl, (size_t)g * zdim * sizeof(float));
        s = mla_net_forward(m->G, m->gin, n + g, true, &gout);
    }
    if (!s) {
        out->recon = reconstruction(m, gout, x, n, m->dout);
        s = generated_rows(m, x, n, gout + (size_t)n * m->dim, dr, d_step, lg, out);
    }
    if (!s) s = m->p.recon_g ? mla_net_backward(m->G, m->dout, m->dgin) : backward_recon_e_only(m, n, g);
    if (!s) {
        extractor_grad(m->gin, m->dgin, n, nc, zdim, m->p.hard_code, m->p.code_scale, m->tmp);
        s = mla_net_backward(m->E, m->tmp, NULL);
    }
    if (!s) s = interpolation_rows(m, dr, lg, out);
    if (!s) gan_add_grads(m->E, m->E2);
    free(lg);
    return s;
}
