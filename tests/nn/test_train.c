/* The training loop: regularisers, validation and early stopping, checkpoints and
 * exact resumption, interruption. Uses a small synthetic dataset in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlaudit/train.h"
#include "common/toy_data.h"
#include "nn/gemm.h"
#include "nn/optim_fused.h"
#include "nn/train_impl.h"

enum { N = 240, C = 1, H = 8, W = 8, K = 3 };

static const char spec[] =
    "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"pad\": 1}, {\"type\": \"relu\"},"
    " {\"type\": \"maxpool\", \"kernel\": 2}, {\"type\": \"flatten\"}, {\"type\": \"dropout\", \"rate\": 0.2},"
    " {\"type\": \"dense\", \"units\": \"classes\"}]}";

static mla_dataset *make_data(void) {
    mla_dataset *ds = toy_bars(N);
    assert_non_null(ds);
    return ds;
}

static mla_net *make_net(uint64_t seed) {
    mla_net *net;
    assert_int_equal(mla_net_create(spec, (mla_shape){C, H, W}, K, seed, &net), MLA_OK);
    return net;
}

static mla_train_config base_config(void) {
    mla_train_config cfg = mla_train_defaults();
    cfg.epochs = 6;
    cfg.batch = 16;
    cfg.seed = 9;
    cfg.opt.lr = 3e-3f;
    return cfg;
}

static void tmp_path(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "/tmp/mla_test_train_%d_%s", (int)getpid(), name);
}

static void test_learns_and_reports(void **state) {
    (void)state;
    mla_dataset *ds = make_data();
    mla_net *net = make_net(1);
    mla_train_config cfg = base_config();
    mla_train_stats st;
    assert_int_equal(mla_train(net, ds, NULL, N, &cfg, &st), MLA_OK);
    assert_int_equal(st.epochs_run, 6);
    assert_int_equal(st.epoch_kept, 6);
    assert_int_equal(st.samples, 6L * N);
    mla_eval_result r;
    assert_int_equal(mla_evaluate(net, ds, NULL, N, 50, &r, NULL, NULL), MLA_OK);
    assert_true(r.accuracy > 0.9);
    mla_net_free(net);
    mla_dataset_free(ds);
}

/* Sets the stop flag (as a signal handler would) once `after` epochs are done. */
typedef struct {
    volatile sig_atomic_t flag;
    int after;
} stopper;

static mla_status stop_after_epochs(void *user, const mla_epoch_stats *es, mla_net *net) {
    (void)net;
    stopper *s = user;
    if (es->epoch + 1 >= s->after) s->flag = 1;
    return MLA_OK;
}

static mla_train_config regularised_config(const int32_t *val, int n_val) {
    mla_train_config cfg = base_config();
    cfg.augment = true;
    cfg.mixup_alpha = 0.4f;
    cfg.label_smoothing = 0.1f;
    cfg.val_idx = val;
    cfg.n_val = n_val;
    cfg.patience = 10;
    cfg.opt.weight_decay = 1e-3f;
    return cfg;
}

/* Every regulariser on, interrupted after three epochs and resumed from the
 * checkpoint: the same bits as one uninterrupted run. */
static void test_resume_gives_same_bits(void **state) {
    (void)state;
    mla_dataset *ds = make_data();
    int32_t train[200], val[40];
    for (int i = 0; i < 200; i++) train[i] = i;
    for (int i = 0; i < 40; i++) val[i] = 200 + i;
    mla_train_config cfg = regularised_config(val, 40);
    mla_train_stats st;
    mla_net *straight = make_net(2);
    assert_int_equal(mla_train(straight, ds, train, 200, &cfg, &st), MLA_OK);

    char ck[256];
    tmp_path(ck, sizeof ck, "ck.safetensors");
    mla_net *part = make_net(2);
    stopper stop = {0, 3};
    mla_train_config interrupted = cfg;
    interrupted.checkpoint_every = 1;
    interrupted.checkpoint_path = ck;
    interrupted.on_epoch = stop_after_epochs;
    interrupted.user = &stop;
    interrupted.stop = &stop.flag;
    assert_int_equal(mla_train(part, ds, train, 200, &interrupted, &st), MLA_ERR_INTERRUPTED);
    assert_int_equal(st.epochs_run, 3);

    mla_net *resumed = make_net(2);
    mla_train_config again = cfg;
    again.resume_path = ck;
    assert_int_equal(mla_train(resumed, ds, train, 200, &again, &st), MLA_OK);
    assert_int_equal(st.epochs_run, 6);
    assert_int_equal(st.samples, 3L * 200);
    assert_memory_equal(mla_net_params(straight), mla_net_params(resumed), mla_net_param_count(straight) * sizeof(float));

    /* Another seed (or any other setting) is refused, naming the file. */
    mla_train_config other = cfg;
    other.seed = 10;
    other.resume_path = ck;
    assert_int_equal(mla_train(resumed, ds, train, 200, &other, &st), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), ck));
    mla_net_free(part);
    mla_net_free(resumed);
    mla_net_free(straight);
    mla_dataset_free(ds);
    unlink(ck);
}

/* Records every epoch's validation loss. */
typedef struct {
    double val_loss[64];
    int n;
} val_log;

static mla_status log_epoch(void *user, const mla_epoch_stats *es, mla_net *net) {
    (void)net;
    val_log *log = user;
    log->val_loss[log->n++] = es->val_loss;
    return MLA_OK;
}

static void test_early_stopping_keeps_best_epoch(void **state) {
    (void)state;
    mla_dataset *ds = make_data();
    /* Twelve training images and a large step: the net overfits them and the
     * validation loss turns up. */
    int32_t train[12], val[180];
    for (int i = 0; i < 12; i++) train[i] = i;
    for (int i = 0; i < 180; i++) val[i] = 60 + i;
    mla_train_config cfg = base_config();
    cfg.epochs = 60;
    cfg.batch = 4;
    cfg.opt.lr = 3e-2f;
    cfg.val_idx = val;
    cfg.n_val = 180;
    cfg.patience = 3;
    val_log log = {{0}, 0};
    cfg.on_epoch = log_epoch;
    cfg.user = &log;
    mla_net *net = make_net(3);
    mla_train_stats st;
    assert_int_equal(mla_train(net, ds, train, 12, &cfg, &st), MLA_OK);
    assert_true(st.stopped_early);
    assert_int_equal(st.epochs_run, log.n);
    assert_int_equal(st.epoch_kept, st.epochs_run - 3);
    double best = INFINITY;
    for (int e = 0; e < log.n; e++)
        if (log.val_loss[e] < best) best = log.val_loss[e];
    assert_float_equal(log.val_loss[st.epoch_kept - 1], best, 0);
    /* The net holds the kept epoch's weights: its validation loss is the best one. */
    mla_eval_result r;
    assert_int_equal(mla_evaluate(net, ds, val, 180, 500, &r, NULL, NULL), MLA_OK);
    assert_float_equal(r.loss, best, 1e-6);
    mla_net_free(net);
    mla_dataset_free(ds);
}

static void test_augment_mixup_smoothing(void **state) {
    (void)state;
    /* A single bright pixel moves by at most 2 px in a 1-channel image; the sum is kept
     * when it stays inside. */
    float img[64] = {0}, scratch[64];
    img[3 * 8 + 3] = 1;
    mla_rng r;
    mla_rng_seed(&r, 1);
    for (int t = 0; t < 50; t++) {
        float x[64];
        memcpy(x, img, sizeof x);
        mla_augment_batch(x, 1, (mla_shape){1, 8, 8}, &r, scratch);
        int at = -1;
        float sum = 0;
        for (int p = 0; p < 64; p++) {
            sum += x[p];
            if (x[p] == 1) at = p;
        }
        assert_float_equal(sum, 1, 0);
        assert_true(abs(at / 8 - 3) <= 2 && abs(at % 8 - 3) <= 2);
    }
    /* Smoothed targets and mixed targets stay distributions; mixed inputs are convex
     * combinations of the batch. */
    int32_t y[4] = {0, 1, 2, 1}, perm[4];
    float t[12], x[4 * 2] = {0, 0, 1, 1, 2, 2, 3, 3}, sc[12];
    mla_smooth_targets(y, 4, 3, 0.3f, t);
    assert_float_equal(t[0], 0.8f, 1e-6);
    assert_float_equal(t[1], 0.1f, 1e-6);
    mla_mixup_batch(x, t, 4, 2, 3, 0.5f, &r, sc, perm);
    for (int i = 0; i < 4; i++) {
        assert_float_equal(t[i * 3] + t[i * 3 + 1] + t[i * 3 + 2], 1, 1e-5);
        assert_true(x[i * 2] >= 0 && x[i * 2] <= 3);
    }
}

static void test_dropout_override_and_bad_configs(void **state) {
    (void)state;
    mla_net *net = make_net(1);
    int changed;
    assert_int_equal(mla_net_set_dropout(net, 0.6f, &changed), MLA_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(mla_net_set_dropout(net, 1.5f, &changed), MLA_ERR_INVALID);
    mla_dataset *ds = make_data();
    mla_train_stats st;
    mla_train_config cfg = base_config();
    cfg.patience = 2; /* without a validation set */
    assert_int_equal(mla_train(net, ds, NULL, N, &cfg, &st), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "validation"));
    cfg = base_config();
    cfg.epochs = 0;
    assert_int_equal(mla_train(net, ds, NULL, N, &cfg, &st), MLA_ERR_INVALID);
    cfg = base_config();
    cfg.resume_path = "/nonexistent/ck.safetensors";
    assert_int_equal(mla_train(net, ds, NULL, N, &cfg, &st), MLA_ERR_IO);
    mla_net_free(net);
    mla_dataset_free(ds);
}

/* ---- the training hook ---- */

/* What the hooks saw, and what they do. */
typedef struct {
    float add;         /* gradients: added to every coordinate */
    int32_t fixed;     /* batch: the one index chosen (odd steps choose none when empty_odd) */
    bool empty_odd, zero_rows;
    long steps[64];
    int n_steps, empty_grads, pool_ok;
} hook_log;

static mla_status zero_rows(void *user, mla_net *net, float *dlogits, int n, int classes) {
    (void)net;
    hook_log *h = user;
    if (h->zero_rows) memset(dlogits, 0, (size_t)n * classes * sizeof(float));
    return MLA_OK;
}

static mla_status add_constant(void *user, mla_net *net, int n) {
    hook_log *h = user;
    if (n == 0) h->empty_grads++;
    float *g = mla_net_grads(net);
    for (size_t i = 0; i < mla_net_trainable_count(net); i++) g[i] += h->add;
    return MLA_OK;
}

static mla_status fixed_batch(void *user, long step, const int32_t *pool, int n_pool, const int32_t *batch, int n,
                              int32_t *out, int *n_out) {
    (void)batch;
    (void)n;
    hook_log *h = user;
    if (h->n_steps < 64) h->steps[h->n_steps++] = step;
    int ok = n_pool == N;
    for (int i = 0; i < n_pool; i++) ok &= pool[i] == i;
    h->pool_ok += ok;
    out[0] = h->fixed;
    *n_out = h->empty_odd && step % 2 ? 0 : 1;
    return MLA_OK;
}

static mla_train_config sgd_config(void) {
    mla_train_config cfg = base_config();
    cfg.epochs = 1;
    cfg.opt = mla_opt_defaults(MLA_OPT_SGD);
    cfg.opt.momentum = 0;
    cfg.opt.lr = 0.1f;
    return cfg;
}

/* Zeroed output gradients leave the parameters alone; a constant added to the
 * gradient moves every one by -lr * constant per step (15 steps of 16). */
static void test_hook_output_grads_and_gradients(void **state) {
    (void)state;
    mla_dataset *ds = make_data();
    mla_net *net = make_net(4);
    size_t np = mla_net_trainable_count(net);
    float *before = malloc(np * sizeof(float));
    memcpy(before, mla_net_params(net), np * sizeof(float));
    hook_log log = {.zero_rows = true};
    mla_train_hook hook = {.user = &log, .output_grads = zero_rows};
    mla_train_config cfg = sgd_config();
    cfg.hook = &hook;
    mla_train_stats st;
    assert_int_equal(mla_train(net, ds, NULL, N, &cfg, &st), MLA_OK);
    assert_memory_equal(before, mla_net_params(net), np * sizeof(float));
    log.add = 0.5f;
    hook.gradients = add_constant;
    assert_int_equal(mla_train(net, ds, NULL, N, &cfg, &st), MLA_OK);
    for (size_t i = 0; i < np; i++) assert_float_equal(mla_net_params(net)[i], before[i] - 15 * 0.1f * 0.5f, 1e-5);
    free(before);
    mla_net_free(net);
    mla_dataset_free(ds);
}

/* A batch hook that always picks sample 4 trains exactly as a run on that sample
 * alone with batch 1 for the same number of steps; empty batches still step. */
static void test_hook_batch(void **state) {
    (void)state;
    mla_dataset *ds = make_data();
    mla_net *hooked = make_net(5), *alone = make_net(5);
    hook_log log = {.fixed = 4};
    mla_train_hook hook = {.user = &log, .batch = fixed_batch};
    mla_train_config cfg = base_config();
    cfg.epochs = 2;
    cfg.hook = &hook;
    mla_train_stats st;
    assert_int_equal(mla_train(hooked, ds, NULL, N, &cfg, &st), MLA_OK);
    assert_int_equal(log.n_steps, 30);
    for (int i = 0; i < 30; i++) assert_int_equal(log.steps[i], i);
    assert_int_equal(log.pool_ok, 30);
    assert_int_equal(st.samples, 30);
    mla_train_config ref = base_config();
    ref.epochs = 30;
    ref.batch = 1;
    int32_t four = 4;
    assert_int_equal(mla_train(alone, ds, &four, 1, &ref, &st), MLA_OK);
    assert_memory_equal(mla_net_params(hooked), mla_net_params(alone), mla_net_param_count(alone) * sizeof(float));

    /* Odd steps empty: the gradients hook sees n = 0, the run goes on. */
    log = (hook_log){.fixed = 4, .empty_odd = true};
    hook.gradients = add_constant;
    assert_int_equal(mla_train(hooked, ds, NULL, N, &cfg, &st), MLA_OK);
    assert_int_equal(log.empty_grads, 15);
    assert_int_equal(st.samples, 15);
    /* An index outside the dataset is refused. */
    log = (hook_log){.fixed = N + 3};
    assert_int_equal(mla_train(hooked, ds, NULL, N, &cfg, &st), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "hook"));
    mla_net_free(hooked);
    mla_net_free(alone);
    mla_dataset_free(ds);
}

/* Adam fused into the backward (nn/optim_fused.h) against the backward and then the
 * optimizer's pass: after three steps the same parameter and moment bits, every gradient
 * cleared; the fused weights' gradients never written (so the fusion ran: a 10-, a 13-
 * and a 40-unit layer, rows short of a tile among them). Each kernel family, 1 and 2
 * threads, with weight decay. */
static void test_fused_adam_same_bits(void **state) {
    (void)state;
    const char *spec = "{\"layers\": [{\"type\": \"dense\", \"units\": 40}, {\"type\": \"relu\"},"
                       " {\"type\": \"dense\", \"units\": 13}, {\"type\": \"relu\"},"
                       " {\"type\": \"dense\", \"units\": 10}]}";
    enum { N = 32, IN = 70, K = 10 };
    float x[N * IN], dl[N * K];
    int32_t labels[N];
    mla_rng rng;
    mla_rng_seed(&rng, 41);
    for (int i = 0; i < N * IN; i++) x[i] = (float)mla_rng_normal(&rng);
    for (int i = 0; i < N; i++) labels[i] = (int32_t)(i % K);
    static const int caps[] = {-1, MLA_ISA_AVX2};
    int threads = mla_get_threads(), fused_runs = 0;
    for (int f = 0; f < 2; f++)
        for (int t = 1; t <= 2; t++) {
            mla_isa_force(caps[f]);
            mla_set_threads(t);
            mla_net *net[2];
            mla_optimizer *opt[2];
            mla_opt_config c = mla_opt_defaults(MLA_OPT_ADAM);
            c.weight_decay = 0.01f;
            for (int v = 0; v < 2; v++) {
                assert_int_equal(mla_net_create(spec, (mla_shape){IN, 1, 1}, K, 3, &net[v]), MLA_OK);
                assert_int_equal(mla_optimizer_create(&c, net[v], &opt[v]), MLA_OK);
                mla_net_zero_grads(net[v]);
            }
            size_t np = mla_net_trainable_count(net[0]);
            bool fused_any = false;
            for (int step = 0; step < 3; step++)
                for (int v = 0; v < 2; v++) {
                    const float *logits;
                    assert_int_equal(mla_net_forward(net[v], x, N, true, &logits), MLA_OK);
                    mla_loss_softmax_ce(logits, N, K, labels, NULL, dl, NULL);
                    mla_opt_fused *fu = v ? mla_optimizer_fuse_begin(opt[v], net[v]) : NULL;
                    if (!fu) {
                        assert_int_equal(mla_net_backward(net[v], dl, NULL), MLA_OK);
                        mla_optimizer_step_and_zero_grads(opt[v], net[v]);
                        continue;
                    }
                    assert_int_equal(mla_net_backward_fused(net[v], dl, fu), MLA_OK);
                    const float *g = mla_net_grads(net[v]);
                    bool untouched = true; /* the first weight, 40 x 70, comes first */
                    for (size_t i = 0; i < 40 * IN; i++) untouched &= g[i] == 0;
                    fused_any |= untouched && mla_dense_own_kernels();
                    mla_optimizer_fuse_end(opt[v], net[v]);
                }
            if (mla_dense_own_kernels()) assert_true(fused_any), fused_runs++;
            assert_memory_equal(mla_net_params(net[0]), mla_net_params(net[1]), np * sizeof(float));
            assert_memory_equal(mla_optimizer_state(opt[0]), mla_optimizer_state(opt[1]),
                                mla_optimizer_state_size(opt[0]) * sizeof(float));
            assert_int_equal(mla_optimizer_steps(opt[0]), mla_optimizer_steps(opt[1]));
            for (size_t i = 0; i < np; i++) assert_true(mla_net_grads(net[1])[i] == 0);
            for (int v = 0; v < 2; v++) mla_optimizer_free(opt[v]), mla_net_free(net[v]);
        }
    mla_isa_force(-1);
    mla_set_threads(threads);
    if (!fused_runs) skip(); /* no own kernels here: nothing was fused */
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_and_reports),
        cmocka_unit_test(test_resume_gives_same_bits),
        cmocka_unit_test(test_early_stopping_keeps_best_epoch),
        cmocka_unit_test(test_augment_mixup_smoothing),
        cmocka_unit_test(test_dropout_override_and_bad_configs),
        cmocka_unit_test(test_hook_output_grads_and_gradients),
        cmocka_unit_test(test_hook_batch),
        cmocka_unit_test(test_fused_adam_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
