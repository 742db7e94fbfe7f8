/* The minibatch training loop and batched evaluation. */
#include <stdlib.h>
#include <string.h>

#include "mlaudit/train.h"

mla_train_config mla_train_defaults(void) {
    mla_train_config c = {0};
    c.epochs = 10;
    c.batch = 128;
    c.opt = mla_opt_defaults(MLA_OPT_ADAM);
    c.schedule = MLA_SCHED_CONSTANT;
    c.step_size = 10;
    c.gamma = 0.1f;
    return c;
}

mla_status mla_check_compatible(const mla_net *net, const mla_dataset *ds) {
    int c, h, w;
    mla_dataset_shape(ds, &c, &h, &w);
    mla_shape in = mla_net_input_shape(net);
    if (c != in.c || h != in.h || w != in.w)
        return mla_error(MLA_ERR_SHAPE, "dataset %s has %dx%dx%d images but the model expects %dx%dx%d",
                         mla_dataset_name(ds), c, h, w, in.c, in.h, in.w);
    if (mla_dataset_classes(ds) > mla_net_classes(net))
        return mla_error(MLA_ERR_SHAPE, "dataset %s has %d classes but the model has %d outputs", mla_dataset_name(ds),
                         mla_dataset_classes(ds), mla_net_classes(net));
    return MLA_OK;
}

static mla_status check_config(const mla_train_config *cfg, int n) {
    if (cfg->epochs < 1) return mla_error(MLA_ERR_INVALID, "epochs must be at least 1, got %d", cfg->epochs);
    if (cfg->batch < 1) return mla_error(MLA_ERR_INVALID, "batch size must be at least 1, got %d", cfg->batch);
    if (n < 1) return mla_error(MLA_ERR_INVALID, "no training samples");
    return MLA_OK;
}

/* One epoch over order[0..n): returns the mean training loss. */
static mla_status run_epoch(mla_net *net, mla_optimizer *opt, const mla_dataset *ds, const int32_t *order, int n,
                            const mla_train_config *cfg, int epoch, long *done, long total, float *buf,
                            int32_t *labels, float *dlogits, double *loss_sum) {
    int k = mla_net_classes(net);
    for (int i = 0; i < n; i += cfg->batch) {
        int b = n - i < cfg->batch ? n - i : cfg->batch;
        mla_dataset_batch(ds, order + i, 0, b, buf, labels);
        const float *logits;
        mla_status s = mla_net_forward(net, buf, b, true, &logits);
        if (s) return s;
        float loss = mla_loss_softmax_ce(logits, b, k, labels, NULL, dlogits, NULL);
        mla_net_zero_grads(net);
        s = mla_net_backward(net, dlogits, NULL);
        if (s) return s;
        mla_optimizer_step(opt, net);
        *loss_sum += (double)loss * b;
        *done += b;
        if (cfg->on_batch) cfg->on_batch(cfg->user, epoch, *done, total, loss);
    }
    return MLA_OK;
}

mla_status mla_train(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, const mla_train_config *cfg,
                     mla_train_stats *stats) {
    memset(stats, 0, sizeof *stats);
    mla_status s = check_config(cfg, n);
    if (!s) s = mla_check_compatible(net, ds);
    if (s) return s;
    int dim = mla_dataset_dim(ds), k = mla_net_classes(net);
    mla_optimizer *opt = NULL;
    float *buf = mla_alloc_aligned((size_t)cfg->batch * dim, sizeof(float));
    float *dlogits = mla_alloc((size_t)cfg->batch * k, sizeof(float));
    int32_t *labels = mla_alloc((size_t)cfg->batch, sizeof(int32_t)), *order = mla_alloc((size_t)n, sizeof(int32_t));
    if (!buf || !dlogits || !labels || !order) s = MLA_ERR_NOMEM;
    if (!s) s = mla_optimizer_create(&cfg->opt, net, &opt);
    mla_rng rng;
    mla_rng_seed(&rng, cfg->seed);
    long done = 0, total = (long)cfg->epochs * n;
    double start = mla_seconds(), outside = 0;
    for (int e = 0; !s && e < cfg->epochs; e++) {
        mla_optimizer_set_lr(opt, mla_lr_at(cfg->schedule, cfg->opt.lr, e, cfg->epochs, cfg->step_size, cfg->gamma));
        mla_rng_permutation(&rng, order, n);
        for (int i = 0; idx && i < n; i++) order[i] = idx[order[i]];
        double loss_sum = 0;
        s = run_epoch(net, opt, ds, order, n, cfg, e, &done, total, buf, labels, dlogits, &loss_sum);
        stats->last_epoch_loss = (float)(loss_sum / n);
        if (!s && cfg->on_epoch) {
            double t0 = mla_seconds();
            s = cfg->on_epoch(cfg->user, e, stats->last_epoch_loss, net);
            outside += mla_seconds() - t0;
        }
    }
    stats->train_seconds = mla_seconds() - start - outside;
    stats->samples = done;
    mla_optimizer_free(opt);
    free(buf);
    free(dlogits);
    free(labels);
    free(order);
    return s;
}

mla_status mla_evaluate(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int batch,
                        mla_eval_result *res, float *probs, int32_t *pred) {
    memset(res, 0, sizeof *res);
    mla_status s = mla_check_compatible(net, ds);
    if (s) return s;
    if (batch < 1) return mla_error(MLA_ERR_INVALID, "batch size must be at least 1, got %d", batch);
    int dim = mla_dataset_dim(ds), k = mla_net_classes(net);
    float *buf = mla_alloc_aligned((size_t)batch * dim, sizeof(float));
    float *p = mla_alloc((size_t)batch * k, sizeof(float));
    int32_t *labels = mla_alloc((size_t)batch, sizeof(int32_t));
    if (!buf || !p || !labels) s = MLA_ERR_NOMEM;
    long correct = 0;
    double loss = 0;
    for (int i = 0; !s && i < n; i += batch) {
        int b = n - i < batch ? n - i : batch;
        mla_dataset_batch(ds, idx ? idx + i : NULL, idx ? 0 : i, b, buf, labels);
        const float *logits;
        s = mla_net_forward(net, buf, b, false, &logits);
        if (s) break;
        loss += (double)mla_loss_softmax_ce(logits, b, k, labels, NULL, NULL, p) * b;
        for (int r = 0; r < b; r++) {
            int best = 0;
            for (int j = 1; j < k; j++)
                if (p[(size_t)r * k + j] > p[(size_t)r * k + best]) best = j;
            correct += best == labels[r];
            if (pred) pred[i + r] = best;
        }
        if (probs) memcpy(probs + (size_t)i * k, p, (size_t)b * k * sizeof(float));
    }
    if (!s) {
        res->n = n;
        res->accuracy = n ? (double)correct / n : 0;
        res->loss = n ? loss / n : 0;
    }
    free(buf);
    free(p);
    free(labels);
    return s;
}
