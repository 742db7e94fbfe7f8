/* The pieces ADe-GAN and GANomaly share: the nets' specs, Adam, batches in [-1, 1],
 * the discriminator's step and the generator's adversarial gradient through a frozen
 * discriminator, image grids. Contracts in gan_impl.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly/gan_impl.h"
#include "mlaudit/plot.h"

mla_status gan_image_shape(const mla_dataset *ds, const char *method, int *c, int *s) {
    int h, w;
    mla_dataset_shape(ds, c, &h, &w);
    if (h != w || h < 4 || h % 4)
        return mla_error(MLA_ERR_UNSUPPORTED,
                         "%s: images must be square with a side that is a multiple of 4 (8, 28, 32, 64), got %dx%d",
                         method, h, w);
    *s = h;
    return MLA_OK;
}

static int groups_of(int w) { return w < 8 ? w : 8; }

static mla_status net_from(const char *spec, mla_shape in, uint64_t seed, mla_net **out) {
    mla_status s = mla_net_create(spec, in, 1, seed, out);
    return s ? mla_error_prefix(s, "GAN net") : MLA_OK;
}

mla_status gan_encoder(int c, int s, int w, int out, bool norm, uint64_t seed, mla_net **net) {
    char spec[1024];
    char gn[64] = "";
    if (norm) snprintf(gn, sizeof gn, "{\"type\":\"groupnorm\",\"groups\":%d},", groups_of(w));
    snprintf(spec, sizeof spec,
             "{\"name\":\"gan-encoder\",\"layers\":["
             "{\"type\":\"conv2d\",\"filters\":%d,\"kernel\":4,\"stride\":2,\"pad\":1},"
             "{\"type\":\"leaky_relu\",\"alpha\":0.2},"
             "{\"type\":\"conv2d\",\"filters\":%d,\"kernel\":4,\"stride\":2,\"pad\":1},%s"
             "{\"type\":\"leaky_relu\",\"alpha\":0.2},"
             "{\"type\":\"flatten\"},{\"type\":\"dense\",\"units\":%d}]}",
             w, 2 * w, gn, out);
    return net_from(spec, (mla_shape){c, s, s}, seed, net);
}

mla_status gan_decoder(int c, int s, int w, int in, uint64_t seed, mla_net **net) {
    char spec[1024];
    int b = s / 4, g = groups_of(w);
    snprintf(spec, sizeof spec,
             "{\"name\":\"gan-decoder\",\"layers\":["
             "{\"type\":\"dense\",\"units\":%d},{\"type\":\"reshape\",\"shape\":[%d,%d,%d]},"
             "{\"type\":\"groupnorm\",\"groups\":%d},{\"type\":\"relu\"},"
             "{\"type\":\"convt2d\",\"filters\":%d,\"kernel\":4,\"stride\":2,\"pad\":1},"
             "{\"type\":\"groupnorm\",\"groups\":%d},{\"type\":\"relu\"},"
             "{\"type\":\"convt2d\",\"filters\":%d,\"kernel\":4,\"stride\":2,\"pad\":1},{\"type\":\"tanh\"}]}",
             2 * w * b * b, 2 * w, b, b, g, w, g, c);
    return net_from(spec, (mla_shape){in, 1, 1}, seed, net);
}

mla_status gan_critic_split(int c, int s, int w, uint64_t seed, mla_net **features, mla_net **head) {
    char spec[1024];
    *features = *head = NULL;
    snprintf(spec, sizeof spec,
             "{\"name\":\"gan-critic-features\",\"layers\":["
             "{\"type\":\"conv2d\",\"filters\":%d,\"kernel\":4,\"stride\":2,\"pad\":1},"
             "{\"type\":\"leaky_relu\",\"alpha\":0.2},"
             "{\"type\":\"conv2d\",\"filters\":%d,\"kernel\":4,\"stride\":2,\"pad\":1},"
             "{\"type\":\"leaky_relu\",\"alpha\":0.2}]}",
             w, 2 * w);
    mla_status st = net_from(spec, (mla_shape){c, s, s}, seed, features);
    if (!st)
        st = net_from("{\"name\":\"gan-critic-head\",\"layers\":[{\"type\":\"flatten\"},"
                      "{\"type\":\"dense\",\"units\":1}]}",
                      mla_net_output_shape(*features), seed + 1, head);
    if (st) {
        mla_net_free(*features);
        *features = NULL;
    }
    return st;
}

mla_status gan_adam(const mla_net *net, float lr, mla_optimizer **out) {
    mla_opt_config o = mla_opt_defaults(MLA_OPT_ADAM);
    o.lr = lr;
    o.beta1 = 0.5f;
    return mla_optimizer_create(&o, net, out);
}

void gan_batch(const mla_dataset *ds, const int32_t *idx, int n, float *out) {
    mla_dataset_batch(ds, idx, 0, n, out, NULL);
    size_t count = (size_t)n * (size_t)mla_dataset_dim(ds);
    for (size_t i = 0; i < count; i++) out[i] = out[i] * 2.0f - 1.0f;
}

/* Forward through f then h (h may be NULL); *out borrowed from the last net. */
static mla_status critic_forward(mla_net *f, mla_net *h, const float *x, int n, const float **out) {
    mla_status s = mla_net_forward(f, x, n, true, out);
    if (!s && h) s = mla_net_forward(h, *out, n, true, out);
    return s;
}

/* Backward through h then f, h's input gradient into f's output gradient. */
static mla_status critic_backward(mla_net *f, mla_net *h, const float *dlogit, int n, float *dx) {
    if (!h) return mla_net_backward(f, dlogit, dx);
    size_t mid = (size_t)n * (size_t)mla_shape_size(mla_net_output_shape(f));
    float *dmid = malloc(mid * sizeof(float));
    if (!dmid) return mla_error(MLA_ERR_NOMEM, "GAN: out of memory");
    mla_status s = mla_net_backward(h, dlogit, dmid);
    if (!s) s = mla_net_backward(f, dmid, dx);
    free(dmid);
    return s;
}

mla_status gan_d_step(mla_net *f, mla_net *h, mla_optimizer *opt_f, mla_optimizer *opt_h, const float *real,
                      int n_real, const float *fake, int n_fake, float *buf, double *loss) {
    int n = n_real + n_fake;
    size_t dim = (size_t)mla_shape_size(mla_net_input_shape(f));
    memcpy(buf, real, (size_t)n_real * dim * sizeof(float));
    memcpy(buf + (size_t)n_real * dim, fake, (size_t)n_fake * dim * sizeof(float));
    float *t = malloc((size_t)n * 2 * sizeof(float)), *dl = t + n;
    if (!t) return mla_error(MLA_ERR_NOMEM, "GAN: out of memory");
    for (int i = 0; i < n; i++) t[i] = i < n_real ? 1.0f : 0.0f;
    const float *logit;
    mla_status s = critic_forward(f, h, buf, n, &logit);
    if (!s) {
        *loss = mla_loss_bce_logits(logit, t, (size_t)n, dl);
        mla_net_zero_grads(f);
        if (h) mla_net_zero_grads(h);
        s = critic_backward(f, h, dl, n, NULL);
    }
    if (!s) {
        mla_optimizer_step(opt_f, f);
        if (h) mla_optimizer_step(opt_h, h);
    }
    free(t);
    return s;
}

mla_status gan_g_adv(mla_net *d, const float *fake, int n, float weight, float *dfake, double *loss) {
    size_t dim = (size_t)mla_shape_size(mla_net_input_shape(d));
    float *t = malloc((size_t)n * 2 * sizeof(float)), *dl = t + n;
    float *dx = malloc((size_t)n * dim * sizeof(float));
    mla_status s = t && dx ? MLA_OK : mla_error(MLA_ERR_NOMEM, "GAN: out of memory");
    const float *logit;
    bool was = mla_net_frozen(d);
    mla_net_set_frozen(d, true);
    if (!s) s = mla_net_forward(d, fake, n, true, &logit);
    if (!s) {
        for (int i = 0; i < n; i++) t[i] = 1.0f;
        *loss = mla_loss_bce_logits(logit, t, (size_t)n, dl);
        s = mla_net_backward(d, dl, dx);
    }
    if (!s)
        for (size_t i = 0; i < (size_t)n * dim; i++) dfake[i] += weight * dx[i];
    mla_net_set_frozen(d, was);
    free(t);
    free(dx);
    return s;
}

void gan_add_grads(mla_net *dst, mla_net *src) {
    float *a = mla_net_grads(dst);
    const float *b = mla_net_grads(src);
    size_t n = mla_net_trainable_count(dst);
    for (size_t i = 0; i < n; i++) a[i] += b[i];
}

mla_status gan_write_grid(const char *path, const float *imgs, int n, int c, int s, int rows, int cols,
                          const char *title, const char *const *row_captions) {
    size_t count = (size_t)n * c * s * s;
    float *px = malloc(count * sizeof(float));
    if (!px) return mla_error(MLA_ERR_NOMEM, "GAN: out of memory");
    for (size_t i = 0; i < count; i++) px[i] = 0.5f * (imgs[i] + 1.0f);
    mla_plot_images im = {px, MLA_PIXELS_F32, n, c, s, s};
    mla_plot_grid_opts o = {0};
    o.frame.title = title;
    o.rows = rows, o.cols = cols;
    o.row_captions = row_captions;
    mla_status st = mla_plot_image_grid(path, &im, &o);
    free(px);
    return st;
}

mla_status gan_path(char *buf, size_t n, const char *dir, const char *name) {
    int len = snprintf(buf, n, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= n) return mla_error(MLA_ERR_INVALID, "figures folder path too long: %s", dir);
    return MLA_OK;
}

int gan_threads_enter(int threads) {
    int saved = mla_get_threads();
    mla_set_threads(threads);
    return saved;
}

void gan_threads_restore(int saved) { mla_set_threads(saved); }

mla_status gan_snapshot_init(gan_snapshot *s, int n, mla_net *const *nets, const char *const *names) {
    memset(s, 0, sizeof *s);
    s->n = n;
    for (int i = 0; i < n; i++) {
        s->nets[i] = nets[i], s->names[i] = names[i];
        s->saved[i] = malloc(mla_net_param_count(nets[i]) * sizeof(float));
        if (!s->saved[i]) {
            gan_snapshot_free(s);
            return mla_error(MLA_ERR_NOMEM, "GAN: out of memory");
        }
    }
    return MLA_OK;
}

void gan_snapshot_take(gan_snapshot *s, int epoch) {
    for (int i = 0; i < s->n; i++)
        memcpy(s->saved[i], mla_net_params(s->nets[i]), mla_net_param_count(s->nets[i]) * sizeof(float));
    s->epoch = epoch;
}

mla_status gan_snapshot_leave(gan_snapshot *s, const char *dir, const char *method, mla_status err) {
    if (!dir) return err;
    char why[1024], path[4096], epoch[16];
    snprintf(why, sizeof why, "%s", mla_last_error());
    if (s->epoch < 1) return mla_error(err, "%s (no epoch finished: no checkpoint left)", why);
    snprintf(epoch, sizeof epoch, "%d", s->epoch);
    mla_meta meta[2] = {{"epoch", epoch}, {"method", method}};
    for (int i = 0; i < s->n; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s_last_good_%s.safetensors", method, s->names[i]);
        memcpy(mla_net_params(s->nets[i]), s->saved[i], mla_net_param_count(s->nets[i]) * sizeof(float));
        mla_status w = gan_path(path, sizeof path, dir, name);
        if (!w) w = mla_net_save(s->nets[i], path, meta, 2);
        if (w)
            return mla_error(err, "%s (and its last good checkpoint could not be written: %s)", why, mla_last_error());
    }
    return mla_error(err, "%s; the last good checkpoint (epoch %d) is in %s/%s_last_good_*.safetensors", why, s->epoch,
                     dir, method);
}

void gan_snapshot_free(gan_snapshot *s) {
    for (int i = 0; i < s->n; i++) free(s->saved[i]);
    memset(s, 0, sizeof *s);
}
