/* Deep SVDD (Ruff et al. 2018), the one-class objective (anomaly.h's `dsvdd`): a
 * bias-free encoder phi maps normal images close to a centre c; the score is
 * ||phi(x) - c||^2. As in the paper: the encoder is pretrained as an autoencoder, c is
 * the mean embedding of the training images after pretraining with coordinates too
 * close to 0 pushed to +-eps (eps = 0.1: a zero coordinate would let a zero weight
 * map everything onto c), and training minimises the mean of ||phi(x) - c||^2 with
 * Adam and weight decay. No biases: with them phi could collapse to the constant c. */
#include "anomaly_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DSVDD_LR 1e-4f
#define DSVDD_WEIGHT_DECAY 5e-7f
#define DSVDD_EPS 0.1

typedef struct {
    anomaly_ae_model ae;  /* the pretrained encoder (ae.encoder) */
    float *c;             /* latent */
} dsvdd_state;

static void dsvdd_free(void *p) {
    dsvdd_state *s = p;
    if (!s) return;
    anomaly_ae_model_free(&s->ae);
    free(s->c);
    free(s);
}

double anomaly_centre_loss(const float *y, int n, int L, const float *c, float *dy) {
    double total = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < L; k++) {
            double d = (double)y[i * L + k] - c[k];
            total += d * d;
            if (dy) dy[i * L + k] = (float)(2.0 * d / n);
        }
    return total / n;
}

static mla_status svdd_loss(void *user, const float *x, const float *y, int n, float *dy, double *loss) {
    (void)x;
    const dsvdd_state *st = user;
    *loss = anomaly_centre_loss(y, n, st->ae.latent, st->c, dy);
    return MLA_OK;
}

/* c = the mean embedding, each coordinate at least eps away from 0. */
static mla_status centre(dsvdd_state *st, const mla_dataset *ds, const int32_t *idx, int n) {
    int L = st->ae.latent;
    float *z = mla_alloc((size_t)n, (size_t)L * sizeof(float));
    st->c = mla_alloc((size_t)L, sizeof(float));
    if (!z || !st->c) {
        free(z);
        return MLA_ERR_NOMEM;
    }
    mla_status s = anomaly_outputs(st->ae.encoder, ds, idx, n, z);
    for (int k = 0; s == MLA_OK && k < L; k++) {
        double m = 0;
        for (int i = 0; i < n; i++) m += z[(size_t)i * L + k];
        m /= n;
        if (fabs(m) < DSVDD_EPS) m = m < 0 ? -DSVDD_EPS : DSVDD_EPS;
        st->c[k] = (float)m;
    }
    free(z);
    return s;
}

static mla_status dsvdd_fit(const mla_anomaly_config *cfg, const mla_dataset *ds, const int32_t *train, int n_train,
                            const int32_t *val, int n_val, void **state) {
    (void)val, (void)n_val;
    dsvdd_state *st = mla_alloc(1, sizeof *st);
    if (!st) return MLA_ERR_NOMEM;
    mla_anomaly_config pre = *cfg;
    pre.lr = 0; /* pretraining at the autoencoder's own rate; --lr sets Deep SVDD's */
    mla_status s = anomaly_ae_train("dsvdd", &pre, ds, train, n_train, 0, &st->ae);
    if (s == MLA_OK) s = centre(st, ds, train, n_train);
    anomaly_train_spec ts = {.method = "dsvdd", .epochs = cfg->epochs > 0 ? cfg->epochs : ANOMALY_AE_EPOCHS,
                             .batch = cfg->batch > 0 ? cfg->batch : ANOMALY_AE_BATCH,
                             .opt = mla_opt_defaults(MLA_OPT_ADAM), .seed = cfg->seed ^ 0xd5dULL, .loss = svdd_loss,
                             .user = st};
    ts.opt.lr = cfg->lr > 0 ? cfg->lr : DSVDD_LR;
    ts.opt.weight_decay = DSVDD_WEIGHT_DECAY;
    if (s == MLA_OK) s = anomaly_train_net(st->ae.encoder, cfg, &ts, ds, train, n_train);
    if (s != MLA_OK) {
        dsvdd_free(st);
        return s;
    }
    *state = st;
    return MLA_OK;
}

typedef struct {
    const dsvdd_state *st;
    double *scores;
} score_ctx;

static mla_status sq_distance(void *user, int first, int nb, const float *x, const float *y) {
    (void)x;
    score_ctx *c = user;
    int L = c->st->ae.latent;
    for (int i = 0; i < nb; i++) {
        double sum = 0;
        for (int k = 0; k < L; k++) {
            double d = (double)y[i * L + k] - c->st->c[k];
            sum += d * d;
        }
        c->scores[first + i] = sum;
    }
    return MLA_OK;
}

static mla_status dsvdd_score(void *state, const mla_dataset *ds, const int32_t *idx, int n, double *scores,
                              double *terms) {
    (void)terms;
    dsvdd_state *st = state;
    score_ctx c = {st, scores};
    return anomaly_apply(st->ae.encoder, ds, idx, n, ANOMALY_APPLY_BATCH, sq_distance, &c);
}

const mla_anomaly_method mla_anomaly_dsvdd = {
    .name = "dsvdd",
    .summary = "Deep SVDD (one-class, autoencoder-pretrained); score = ||phi(x) - c||^2",
    .fit = dsvdd_fit,
    .score = dsvdd_score,
    .free = dsvdd_free,
};
