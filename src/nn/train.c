/* The minibatch training loop and batched evaluation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/optim_fused.h"
#include "nn/train_impl.h"

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
    if (cfg->mixup_alpha < 0) return mla_error(MLA_ERR_INVALID, "mixup alpha must not be negative");
    if (!(cfg->label_smoothing >= 0 && cfg->label_smoothing < 1))
        return mla_error(MLA_ERR_INVALID, "label smoothing must be in [0, 1)");
    if (cfg->patience > 0 && cfg->n_val < 1)
        return mla_error(MLA_ERR_INVALID, "early stopping needs a validation set");
    if (cfg->checkpoint_every > 0 && !cfg->checkpoint_path)
        return mla_error(MLA_ERR_INVALID, "checkpoints need a path");
    const mla_train_hook *h = cfg->hook;
    if (h && h->state_kind && (!h->state_size || !h->state_save || !h->state_load))
        return mla_error(MLA_ERR_INVALID, "training hook '%s' keeps state but lacks a state callback", h->state_kind);
    return MLA_OK;
}

/* Buffers for one batch (room for cap samples), the epoch's order, and for a batch
 * hook the pool of training indices and the hook's choice. */
typedef struct {
    float *dlogits, *targets, *scratch;
    int32_t *labels, *perm, *order;
    int32_t *pool, *chosen; /* hook->batch only; pool aliases idx when given */
    bool own_pool;
    int cap, dim, k;
} batch_bufs;

static void bufs_free_batch(batch_bufs *b) {
    free(b->scratch);
    free(b->dlogits);
    free(b->targets);
    free(b->labels);
    free(b->perm);
}

/* (Re)sizes the per-batch buffers for `batch` samples; contents are not kept. */
static mla_status bufs_reserve(batch_bufs *b, int batch) {
    if (batch <= b->cap) return MLA_OK;
    bufs_free_batch(b);
    int dim = b->dim, k = b->k;
    b->scratch = mla_alloc_aligned((size_t)batch * (dim > k ? dim : k), sizeof(float));
    b->dlogits = mla_alloc((size_t)batch * k, sizeof(float));
    b->targets = mla_alloc((size_t)batch * k, sizeof(float));
    b->labels = mla_alloc((size_t)batch, sizeof(int32_t));
    b->perm = mla_alloc((size_t)batch, sizeof(int32_t));
    bool ok = b->scratch && b->dlogits && b->targets && b->labels && b->perm;
    b->cap = ok ? batch : 0;
    return ok ? MLA_OK : MLA_ERR_NOMEM;
}

static mla_status bufs_alloc(batch_bufs *b, int batch, int dim, int k, const int32_t *idx, int n, bool hook_batch) {
    b->dim = dim;
    b->k = k;
    b->order = mla_alloc((size_t)n, sizeof(int32_t));
    if (!b->order || bufs_reserve(b, batch)) return MLA_ERR_NOMEM;
    if (!hook_batch) return MLA_OK;
    b->chosen = mla_alloc((size_t)n, sizeof(int32_t));
    b->own_pool = !idx;
    b->pool = idx ? (int32_t *)idx : mla_alloc((size_t)n, sizeof(int32_t));
    if (!b->chosen || !b->pool) return MLA_ERR_NOMEM;
    for (int i = 0; !idx && i < n; i++) b->pool[i] = i;
    return MLA_OK;
}

static void bufs_free(batch_bufs *b) {
    bufs_free_batch(b);
    free(b->order);
    free(b->chosen);
    if (b->own_pool) free(b->pool);
}

/* Lets hook->batch replace the loop's batch *batch[0..*b); checks its answer. */
static mla_status hook_batch(const mla_train_hook *h, const mla_dataset *ds, long step, int n, batch_bufs *bb,
                             const int32_t **batch, int *b) {
    int n_out = -1;
    mla_status s = h->batch(h->user, step, bb->pool, n, *batch, *b, bb->chosen, &n_out);
    if (s) return s;
    if (n_out < 0 || n_out > n)
        return mla_error(MLA_ERR_INVALID, "training hook chose %d samples for step %ld (0..%d allowed)", n_out, step,
                         n);
    int count = mla_dataset_count(ds);
    for (int i = 0; i < n_out; i++)
        if (bb->chosen[i] < 0 || bb->chosen[i] >= count)
            return mla_error(MLA_ERR_INVALID, "training hook chose sample %d, outside the dataset's %d",
                             (int)bb->chosen[i], count);
    *batch = bb->chosen;
    *b = n_out;
    return bufs_reserve(bb, n_out);
}

/* An empty batch (a hook's choice): no passes; the gradients hook, then the step. */
static mla_status empty_step(mla_net *net, mla_optimizer *opt, const mla_train_hook *h, float *loss) {
    *loss = 0;
    mla_status s = h && h->gradients ? h->gradients(h->user, net, 0) : MLA_OK;
    if (!s) mla_optimizer_step_and_zero_grads(opt, net);
    return s;
}

/* One optimizer step on the batch order[0..b): gather, augment, mix, loss, backward. */
static mla_status train_batch(mla_net *net, mla_optimizer *opt, const mla_dataset *ds, const int32_t *order, int b,
                              const mla_train_config *cfg, mla_train_state *st, batch_bufs *bb, float *loss) {
    const mla_train_hook *h = cfg->hook;
    if (b == 0) return empty_step(net, opt, h, loss);
    int k = mla_net_classes(net), dim = mla_dataset_dim(ds);
    float *x; /* the batch goes straight into the net's input: no copy in the forward */
    mla_status s = mla_net_input_buffer(net, b, &x);
    if (s) return s;
    mla_dataset_batch(ds, order, 0, b, x, bb->labels);
    if (cfg->augment) mla_augment_batch(x, b, mla_net_input_shape(net), &st->augment, bb->scratch);
    bool soft = cfg->mixup_alpha > 0 || cfg->label_smoothing > 0;
    if (soft) mla_smooth_targets(bb->labels, b, k, cfg->label_smoothing, bb->targets);
    if (cfg->mixup_alpha > 0)
        mla_mixup_batch(x, bb->targets, b, dim, k, cfg->mixup_alpha, &st->mixup, bb->scratch, bb->perm);
    const float *logits;
    s = mla_net_forward(net, x, b, true, &logits);
    if (s) return s;
    *loss = mla_loss_softmax_ce(logits, b, k, soft ? NULL : bb->labels, soft ? bb->targets : NULL, bb->dlogits, NULL);
    /* The gradient buffer is zero here: mla_train clears it before the first batch and
     * every step leaves it cleared. */
    if (h && h->output_grads) s = h->output_grads(h->user, net, bb->dlogits, b, k);
    /* With no hook between the backward and the update, the update runs inside the
     * backward where layers can (nn/optim_fused.h: same bits). */
    mla_opt_fused *fused = !s && !(h && (h->backward || h->gradients)) ? mla_optimizer_fuse_begin(opt, net) : NULL;
    if (!s && h && h->backward)
        s = h->backward(h->user, net, bb->dlogits, b, k);
    else if (!s)
        s = fused ? mla_net_backward_fused(net, bb->dlogits, fused) : mla_net_backward(net, bb->dlogits, NULL);
    if (!s && h && h->gradients) s = h->gradients(h->user, net, b);
    if (!s && fused)
        mla_optimizer_fuse_end(opt, net);
    else if (!s)
        mla_optimizer_step_and_zero_grads(opt, net);
    return s;
}

static mla_status run_epoch(mla_net *net, mla_optimizer *opt, const mla_dataset *ds, const int32_t *idx, int n,
                            const mla_train_config *cfg, mla_train_state *st, batch_bufs *bb, long *done, long total,
                            double *mean_loss) {
    mla_rng_permutation(&st->shuffle, bb->order, n);
    for (int i = 0; idx && i < n; i++) bb->order[i] = idx[bb->order[i]];
    double loss_sum = 0;
    long drawn = 0, steps = (n + cfg->batch - 1) / cfg->batch;
    for (int i = 0; i < n; i += cfg->batch) {
        if (cfg->stop && *cfg->stop) return mla_error(MLA_ERR_INTERRUPTED, "training interrupted");
        int b = n - i < cfg->batch ? n - i : cfg->batch;
        const int32_t *batch = bb->order + i;
        mla_status s = MLA_OK;
        if (cfg->hook && cfg->hook->batch)
            s = hook_batch(cfg->hook, ds, st->next_epoch * steps + i / cfg->batch, n, bb, &batch, &b);
        float loss;
        if (!s) s = train_batch(net, opt, ds, batch, b, cfg, st, bb, &loss);
        if (s) return s;
        loss_sum += (double)loss * b;
        drawn += b;
        *done += b;
        if (cfg->on_batch) cfg->on_batch(cfg->user, st->next_epoch, *done, total, loss);
    }
    *mean_loss = drawn ? loss_sum / (double)drawn : NAN;
    return MLA_OK;
}

/* Validation, the early-stopping record and the best weights after an epoch. */
static mla_status after_epoch(mla_net *net, const mla_dataset *ds, const mla_train_config *cfg, mla_train_state *st,
                              mla_epoch_stats *es) {
    es->val_loss = es->val_accuracy = NAN;
    es->improved = true;
    if (cfg->n_val > 0) {
        mla_eval_result r;
        mla_status s = mla_evaluate(net, ds, cfg->val_idx, cfg->n_val, 500, &r, NULL, NULL);
        if (s) return s;
        es->val_loss = r.loss;
        es->val_accuracy = r.accuracy;
        es->improved = st->best_epoch < 0 || r.loss < st->best_loss;
    }
    if (es->improved) {
        st->best_loss = es->val_loss;
        st->best_epoch = es->epoch;
        st->bad_epochs = 0;
        if (st->best_params) memcpy(st->best_params, mla_net_params(net), mla_net_param_count(net) * sizeof(float));
    } else {
        st->bad_epochs++;
    }
    return MLA_OK;
}

static void state_init(mla_train_state *st, const mla_train_config *cfg) {
    memset(st, 0, sizeof *st);
    mla_rng root;
    mla_rng_seed(&root, cfg->seed);
    st->shuffle = root;
    st->augment = mla_rng_fork(&root, 2);
    st->mixup = mla_rng_fork(&root, 3);
    st->best_epoch = -1;
    st->best_loss = INFINITY;
}

/* The epochs themselves; *outside accumulates time spent on validation,
 * callbacks and checkpoints (excluded from train_seconds). */
static mla_status epoch_loop(mla_net *net, mla_optimizer *opt, const mla_dataset *ds, const int32_t *idx, int n,
                             const mla_train_config *cfg, mla_train_state *st, batch_bufs *bb, const char *fp,
                             mla_train_stats *stats, double *outside) {
    long done = 0, total = (long)(cfg->epochs - st->next_epoch) * n;
    mla_status s = MLA_OK;
    while (!s && st->next_epoch < cfg->epochs) {
        mla_epoch_stats es = {.epoch = st->next_epoch};
        es.lr = mla_lr_at(cfg->schedule, cfg->opt.lr, es.epoch, cfg->epochs, cfg->step_size, cfg->gamma);
        mla_optimizer_set_lr(opt, es.lr);
        s = run_epoch(net, opt, ds, idx, n, cfg, st, bb, &done, total, &es.train_loss);
        if (s) break;
        double t0 = mla_seconds();
        st->next_epoch++;
        stats->last_epoch_loss = (float)es.train_loss;
        s = after_epoch(net, ds, cfg, st, &es);
        if (!s && cfg->on_epoch) s = cfg->on_epoch(cfg->user, &es, net);
        if (!s && cfg->checkpoint_every > 0 && st->next_epoch % cfg->checkpoint_every == 0)
            s = mla_checkpoint_save(cfg->checkpoint_path, net, opt, st, cfg->hook, fp);
        *outside += mla_seconds() - t0;
        if (cfg->patience > 0 && st->bad_epochs >= cfg->patience) {
            stats->stopped_early = true;
            break;
        }
    }
    stats->samples = done;
    return s;
}

mla_status mla_train(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, const mla_train_config *cfg,
                     mla_train_stats *stats) {
    memset(stats, 0, sizeof *stats);
    mla_status s = check_config(cfg, n);
    if (!s) s = mla_check_compatible(net, ds);
    if (s) return s;
    mla_optimizer *opt = NULL;
    batch_bufs bb = {0};
    mla_train_state st;
    state_init(&st, cfg);
    char fp[768];
    mla_train_fingerprint(net, cfg, idx, n, fp, sizeof fp);
    s = bufs_alloc(&bb, cfg->batch, mla_dataset_dim(ds), mla_net_classes(net), idx, n, cfg->hook && cfg->hook->batch);
    if (!s && cfg->patience > 0) {
        st.best_params = mla_alloc_aligned(mla_net_param_count(net), sizeof(float));
        if (!st.best_params) s = MLA_ERR_NOMEM;
    }
    if (!s && cfg->optimizer) opt = cfg->optimizer; /* the caller's, state and all */
    else if (!s) s = mla_optimizer_create(&cfg->opt, net, &opt);
    if (!s && cfg->resume_path) s = mla_checkpoint_load(cfg->resume_path, net, opt, &st, cfg->hook, fp);
    if (!s) mla_net_zero_grads(net);
    bool keep = mla_net_keep_activations(net); /* training reads no activations */
    mla_net_set_keep_activations(net, false);
    double start = mla_seconds(), outside = 0;
    if (!s) s = epoch_loop(net, opt, ds, idx, n, cfg, &st, &bb, fp, stats, &outside);
    mla_net_set_keep_activations(net, keep);
    stats->train_seconds = mla_seconds() - start - outside;
    stats->epochs_run = st.next_epoch;
    stats->epoch_kept = st.next_epoch;
    if (!s && st.best_params && st.best_epoch >= 0) {
        memcpy(mla_net_params(net), st.best_params, mla_net_param_count(net) * sizeof(float));
        stats->epoch_kept = st.best_epoch + 1;
    }
    if (opt != cfg->optimizer) mla_optimizer_free(opt);
    free(st.best_params);
    bufs_free(&bb);
    return s;
}

mla_status mla_evaluate(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int batch,
                        mla_eval_result *res, float *probs, int32_t *pred) {
    memset(res, 0, sizeof *res);
    mla_status s = mla_check_compatible(net, ds);
    if (s) return s;
    if (batch < 1) return mla_error(MLA_ERR_INVALID, "batch size must be at least 1, got %d", batch);
    int k = mla_net_classes(net);
    float *p = mla_alloc((size_t)batch * k, sizeof(float));
    int32_t *labels = mla_alloc((size_t)batch, sizeof(int32_t));
    if (!p || !labels) s = MLA_ERR_NOMEM;
    long correct = 0;
    double loss = 0;
    bool keep = mla_net_keep_activations(net); /* only the logits are read */
    mla_net_set_keep_activations(net, false);
    for (int i = 0; !s && i < n; i += batch) {
        int b = n - i < batch ? n - i : batch;
        float *x; /* batches go straight into the net's input */
        s = mla_net_input_buffer(net, b, &x);
        if (s) break;
        mla_dataset_batch(ds, idx ? idx + i : NULL, idx ? 0 : i, b, x, labels);
        const float *logits;
        s = mla_net_forward(net, x, b, false, &logits);
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
    mla_net_set_keep_activations(net, keep);
    if (!s) {
        res->n = n;
        res->accuracy = n ? (double)correct / n : 0;
        res->loss = n ? loss / n : 0;
    }
    free(p);
    free(labels);
    return s;
}
