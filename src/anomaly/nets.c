/* The anomaly methods' net plumbing (anomaly_impl.h): the autoencoder's specs, a
 * training loop for reconstruction / one-class losses, batched application, and the
 * trained autoencoder shared by ae, knn-ae and dsvdd.
 *
 * Why not mla_train: it trains a classifier on softmax cross-entropy against labels;
 * an autoencoder's target is its own input and Deep SVDD's loss is a distance to a
 * centre, so this loop runs mla_net_forward / a loss of the method's / backward / the
 * engine's optimizer itself (the same engine calls, no other logic). */
#include "anomaly_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

float *anomaly_gather(const mla_dataset *ds, const int32_t *idx, int n) {
    float *x = mla_alloc((size_t)(n > 0 ? n : 1), (size_t)mla_dataset_dim(ds) * sizeof(float));
    if (x && n > 0) mla_dataset_batch(ds, idx, 0, n, x, NULL);
    return x;
}

mla_status anomaly_ae_spec(const char *method, int c, int h, int w, int latent, int bias, int decoder, char **spec) {
    if (h % 4 || w % 4 || h < 4 || w < 4)
        return mla_error(MLA_ERR_SHAPE, "%s: images are %dx%dx%d; the autoencoder needs height and width multiples of 4",
                         method, c, h, w);
    const char *b = bias ? "true" : "false";
    char buf[2048];
    int len = snprintf(buf, sizeof buf,
                       "{\"name\": \"%s\", \"layers\": ["
                       "{\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"stride\": 2, \"pad\": 1, \"bias\": %s, \"name\": \"e1\"},"
                       "{\"type\": \"leaky_relu\", \"alpha\": 0.1, \"name\": \"a1\"},"
                       "{\"type\": \"conv2d\", \"filters\": 32, \"kernel\": 3, \"stride\": 2, \"pad\": 1, \"bias\": %s, \"name\": \"e2\"},"
                       "{\"type\": \"leaky_relu\", \"alpha\": 0.1, \"name\": \"a2\"},"
                       "{\"type\": \"dense\", \"units\": %d, \"bias\": %s, \"name\": \"z\"}",
                       decoder ? "anomaly-ae" : "anomaly-encoder", b, b, latent, b);
    if (decoder)
        len += snprintf(buf + len, sizeof buf - (size_t)len,
                        ",{\"type\": \"dense\", \"units\": %d, \"name\": \"d1\"},"
                        "{\"type\": \"leaky_relu\", \"alpha\": 0.1, \"name\": \"a3\"},"
                        "{\"type\": \"reshape\", \"shape\": [32, %d, %d], \"name\": \"r\"},"
                        "{\"type\": \"convt2d\", \"filters\": 16, \"kernel\": 4, \"stride\": 2, \"pad\": 1, \"name\": \"t1\"},"
                        "{\"type\": \"leaky_relu\", \"alpha\": 0.1, \"name\": \"a4\"},"
                        "{\"type\": \"convt2d\", \"filters\": %d, \"kernel\": 4, \"stride\": 2, \"pad\": 1, \"name\": \"t2\"},"
                        "{\"type\": \"sigmoid\", \"name\": \"out\"}",
                        32 * (h / 4) * (w / 4), h / 4, w / 4, c);
    snprintf(buf + len, sizeof buf - (size_t)len, "]}");
    *spec = strdup(buf);
    return *spec ? MLA_OK : mla_error(MLA_ERR_NOMEM, "%s: out of memory", method);
}

mla_status anomaly_copy_tensors(mla_net *dst, const mla_net *src) {
    int nd = mla_net_tensor_count(dst), ns = mla_net_tensor_count(src);
    float *pd = mla_net_params(dst);
    const float *ps = mla_net_params((mla_net *)src);
    for (int i = 0; i < nd; i++) {
        mla_tensor_info a, b;
        int found = 0;
        mla_status s = mla_net_tensor_info(dst, i, &a);
        for (int j = 0; s == MLA_OK && j < ns && !found; j++) {
            s = mla_net_tensor_info(src, j, &b);
            found = s == MLA_OK && !strcmp(a.name, b.name) && a.count == b.count;
        }
        if (s != MLA_OK) return s;
        if (!found) return mla_error(MLA_ERR_INVALID, "anomaly: tensor %s has no match to copy from", a.name);
        memcpy(pd + a.offset, ps + b.offset, a.count * sizeof(float));
    }
    return MLA_OK;
}

/* One epoch over order[0..n); the mean of the batches' losses into *mean. */
static mla_status train_epoch(mla_net *net, mla_optimizer *opt, const anomaly_train_spec *ts, const mla_dataset *ds,
                              const int32_t *order, int n, float *x, float *dy, double *mean) {
    double sum = 0;
    int batches = 0;
    for (int first = 0; first < n; first += ts->batch, batches++) {
        int nb = n - first < ts->batch ? n - first : ts->batch;
        mla_dataset_batch(ds, order + first, 0, nb, x, NULL);
        const float *y;
        double loss = NAN;
        mla_status s = mla_net_forward(net, x, nb, true, &y);
        if (s == MLA_OK) s = ts->loss(ts->user, x, y, nb, dy, &loss);
        if (s == MLA_OK && !isfinite(loss))
            s = mla_error(MLA_ERR_INVALID, "%s: the loss diverged (%g) in training; no scores written", ts->method, loss);
        if (s == MLA_OK) s = mla_net_backward(net, dy, NULL);
        if (s != MLA_OK) return s;
        mla_optimizer_step_and_zero_grads(opt, net);
        sum += loss;
    }
    *mean = batches ? sum / batches : NAN;
    return MLA_OK;
}

mla_status anomaly_train_net(mla_net *net, const mla_anomaly_config *cfg, const anomaly_train_spec *ts,
                             const mla_dataset *ds, const int32_t *idx, int n) {
    if (n < 1) return mla_error(MLA_ERR_INVALID, "%s: no training images", ts->method);
    size_t in = (size_t)mla_dataset_dim(ds), out = (size_t)mla_shape_size(mla_net_output_shape(net));
    int32_t *order = mla_alloc((size_t)n, sizeof *order);
    float *x = mla_alloc((size_t)ts->batch, in * sizeof(float)), *dy = mla_alloc((size_t)ts->batch, out * sizeof(float));
    mla_optimizer *opt = NULL;
    mla_status s = order && x && dy ? MLA_OK : MLA_ERR_NOMEM;
    if (s == MLA_OK) s = mla_optimizer_create(&ts->opt, net, &opt);
    mla_rng rng;
    mla_rng_seed(&rng, ts->seed);
    mla_net_zero_grads(net);
    for (int e = 0; s == MLA_OK && e < ts->epochs; e++) {
        mla_rng_permutation(&rng, order, n);
        for (int i = 0; i < n; i++) order[i] = idx[order[i]];
        double mean = NAN;
        s = train_epoch(net, opt, ts, ds, order, n, x, dy, &mean);
        if (s == MLA_OK && cfg->progress) s = cfg->progress(cfg->progress_user, ts->method, e + 1, ts->epochs, mean);
    }
    mla_optimizer_free(opt);
    free(order);
    free(x);
    free(dy);
    return s;
}

mla_status anomaly_apply(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int batch,
                         anomaly_apply_fn fn, void *user) {
    size_t in = (size_t)mla_dataset_dim(ds);
    int cap = n < batch ? (n > 0 ? n : 1) : batch;
    float *x = mla_alloc((size_t)cap, in * sizeof(float));
    mla_status s = x ? MLA_OK : MLA_ERR_NOMEM;
    for (int first = 0; s == MLA_OK && first < n; first += batch) {
        int nb = n - first < batch ? n - first : batch;
        mla_dataset_batch(ds, idx + first, 0, nb, x, NULL);
        const float *y;
        s = mla_net_forward(net, x, nb, false, &y);
        if (s == MLA_OK) s = fn(user, first, nb, x, y);
    }
    free(x);
    return s;
}

typedef struct {
    float *out;
    size_t size;
} outputs_ctx;

static mla_status copy_outputs(void *user, int first, int nb, const float *x, const float *y) {
    (void)x;
    outputs_ctx *c = user;
    memcpy(c->out + (size_t)first * c->size, y, (size_t)nb * c->size * sizeof(float));
    return MLA_OK;
}

mla_status anomaly_outputs(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, float *out) {
    outputs_ctx c = {out, (size_t)mla_shape_size(mla_net_output_shape(net))};
    return anomaly_apply(net, ds, idx, n, ANOMALY_APPLY_BATCH, copy_outputs, &c);
}

/* ---- the autoencoder ---- */

/* Mean squared error against the input itself. */
static mla_status ae_loss(void *user, const float *x, const float *y, int n, float *dy, double *loss) {
    size_t dim = *(const size_t *)user;
    *loss = mla_loss_mse(y, x, (size_t)n * dim, dy);
    return MLA_OK;
}

void anomaly_ae_model_free(anomaly_ae_model *m) {
    if (!m) return;
    mla_net_free(m->ae);
    mla_net_free(m->encoder);
    m->ae = m->encoder = NULL;
}

mla_status anomaly_ae_train(const char *method, const mla_anomaly_config *cfg, const mla_dataset *ds,
                            const int32_t *idx, int n, int bias, anomaly_ae_model *out) {
    memset(out, 0, sizeof *out);
    int c, h, w;
    mla_dataset_shape(ds, &c, &h, &w);
    out->latent = cfg->latent > 0 ? cfg->latent : ANOMALY_AE_LATENT;
    char *spec = NULL, *enc_spec = NULL;
    mla_shape in = {c, h, w};
    mla_status s = anomaly_ae_spec(method, c, h, w, out->latent, bias, 1, &spec);
    if (s == MLA_OK) s = anomaly_ae_spec(method, c, h, w, out->latent, bias, 0, &enc_spec);
    if (s == MLA_OK) s = mla_net_create(spec, in, 1, cfg->seed ^ 0xae0ULL, &out->ae);
    if (s == MLA_OK) s = mla_net_create(enc_spec, in, 1, cfg->seed ^ 0xae1ULL, &out->encoder);
    size_t dim = (size_t)c * h * w;
    anomaly_train_spec ts = {.method = method, .epochs = cfg->epochs > 0 ? cfg->epochs : ANOMALY_AE_EPOCHS,
                             .batch = cfg->batch > 0 ? cfg->batch : ANOMALY_AE_BATCH,
                             .opt = mla_opt_defaults(MLA_OPT_ADAM), .seed = cfg->seed ^ 0xae2ULL, .loss = ae_loss,
                             .user = &dim};
    ts.opt.lr = cfg->lr > 0 ? cfg->lr : ANOMALY_AE_LR;
    if (s == MLA_OK) s = anomaly_train_net(out->ae, cfg, &ts, ds, idx, n);
    if (s == MLA_OK) s = anomaly_copy_tensors(out->encoder, out->ae);
    free(spec);
    free(enc_spec);
    if (s != MLA_OK) anomaly_ae_model_free(out);
    return s;
}
