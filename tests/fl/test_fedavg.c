/* FedAvg: the weighted average against its formula, client choice and failures, one
 * client == mla_train on its data, several clients == mla_train per client averaged
 * by hand, the same bits for any thread count, retries, checkpoint and resume. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tmpdir.h"
#include "mlaudit/fl.h"
#include "common/toy_data.h"

enum { N = 240, C = 1, H = 8, W = 8, K = 3 };

/* Dropout (the net's stream) and batch norm (buffers in the average) included. */
static const char spec[] =
    "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"pad\": 1}, {\"type\": \"batchnorm\"},"
    " {\"type\": \"relu\"}, {\"type\": \"maxpool\", \"kernel\": 2}, {\"type\": \"flatten\"},"
    " {\"type\": \"dropout\", \"rate\": 0.2}, {\"type\": \"dense\", \"units\": \"classes\"}]}";

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

static mla_fl_clients *make_clients(const mla_dataset *ds, int n_clients, const char *partition) {
    mla_fl_partition p;
    assert_int_equal(mla_fl_partition_parse(partition, &p), MLA_OK);
    mla_fl_clients *c;
    assert_int_equal(mla_fl_partition_make(&p, mla_dataset_labels(ds), K, NULL, N, n_clients, 4, &c), MLA_OK);
    return c;
}

static mla_fl_config base_config(void) {
    mla_fl_config cfg = mla_fl_defaults();
    cfg.rounds = 2;
    cfg.local_epochs = 2;
    cfg.seed = 8;
    cfg.train.batch = 16;
    cfg.train.opt.lr = 3e-3f;
    cfg.train.augment = true;
    return cfg;
}

static void test_average_formula(void **state) {
    (void)state;
    enum { V = 1000, M = 5 };
    float v[M][V], out[V];
    double w[M] = {3, 1, 250, 7, 0.5}, acc[V] = {0}, total = 0;
    mla_rng r;
    mla_rng_seed(&r, 3);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < V; j++) v[i][j] = (float)(mla_rng_normal(&r) * pow(10, (int)mla_rng_below(&r, 7) - 3));
    for (int i = 0; i < M; i++) mla_fl_accumulate(acc, v[i], w[i], V), total += w[i];
    mla_fl_finish(acc, total, out, V);
    for (int j = 0; j < V; j++) {
        double s = 0;
        for (int i = 0; i < M; i++) s += w[i] * (double)v[i][j];
        assert_true(out[j] == (float)(s / total)); /* the same formula, the same order */
        long double e = 0;
        for (int i = M - 1; i >= 0; i--) e += (long double)w[i] * v[i][j];
        assert_true(fabsl((long double)out[j] - e / (long double)total) <= 1e-6L * fabsl(e / total) + 1e-30L);
    }
    /* One client: the average is that client's vector, bit for bit. */
    double one[V] = {0};
    mla_fl_accumulate(one, v[2], 250, V);
    mla_fl_finish(one, 250, out, V);
    assert_memory_equal(out, v[2], sizeof out);
}

static void test_selection(void **state) {
    (void)state;
    assert_int_equal(mla_fl_clients_per_round(10, 0.1), 1);
    assert_int_equal(mla_fl_clients_per_round(100, 0.29), 29);
    assert_int_equal(mla_fl_clients_per_round(10, 0.001), 1);
    assert_int_equal(mla_fl_clients_per_round(7, 1), 7);
    assert_int_equal(mla_fl_clients_per_round(10, 0.35), 3);
    int32_t a[20], b[20];
    uint8_t da[20], db[20];
    long drops = 0, draws = 0, hits[50] = {0};
    for (int r = 0; r < 400; r++) {
        assert_int_equal(mla_fl_select(5, r, 0, 50, 20, 0.3, a, da), MLA_OK);
        assert_int_equal(mla_fl_select(5, r, 0, 50, 20, 0.3, b, db), MLA_OK);
        assert_memory_equal(a, b, sizeof a);
        assert_memory_equal(da, db, sizeof da);
        for (int i = 0; i < 20; i++) {
            assert_true(a[i] >= 0 && a[i] < 50);
            if (i) assert_true(a[i] > a[i - 1]); /* sorted, distinct */
            drops += da[i], draws++, hits[a[i]]++;
        }
    }
    assert_true(fabs((double)drops / draws - 0.3) < 0.02);
    for (int c = 0; c < 50; c++) assert_true(hits[c] > 400 * 0.4 * 0.75 && hits[c] < 400 * 0.4 * 1.25);
    assert_int_equal(mla_fl_select(5, 1, 1, 50, 20, 0.3, b, db), MLA_OK); /* a retry draws afresh */
    assert_int_equal(mla_fl_select(5, 1, 0, 50, 20, 0.3, a, da), MLA_OK);
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(mla_fl_select(5, 0, 0, 50, 51, 0, a, da), MLA_ERR_INVALID);
    assert_int_equal(mla_fl_select(5, 0, 0, 50, 0, 0, a, da), MLA_ERR_INVALID);
}

/* Local training of `client` in `round` exactly as fl.h specifies, on one thread. */
static void train_by_hand(mla_net *net, const mla_dataset *ds, const mla_fl_clients *c, int client, int round,
                          const mla_fl_config *cfg) {
    mla_train_config tc = cfg->train;
    tc.epochs = cfg->local_epochs;
    mla_fl_client_streams(cfg->seed, round, client, &tc.seed, mla_net_rng(net));
    mla_train_stats st;
    int threads = mla_get_threads();
    mla_set_threads(1);
    assert_int_equal(mla_train(net, ds, mla_fl_client_indices(c, client), mla_fl_client_size(c, client), &tc, &st),
                     MLA_OK);
    mla_set_threads(threads);
}

static void test_one_client_is_mla_train(void **state) {
    (void)state;
    mla_dataset *ds = make_data();
    mla_fl_clients *c = make_clients(ds, 1, "iid");
    mla_fl_config cfg = base_config();
    cfg.rounds = 1;
    cfg.local_epochs = 3;
    mla_net *fl = make_net(1), *direct = make_net(1);
    mla_fl_result res;
    assert_int_equal(mla_fl_run(fl, ds, c, &cfg, &res), MLA_OK);
    assert_int_equal(res.rounds_run, 1);
    assert_int_equal(res.samples, 3L * N);
    assert_int_equal(res.history[0].reported, 1);
    assert_int_equal(res.history[0].samples, N);
    train_by_hand(direct, ds, c, 0, 0, &cfg);
    assert_memory_equal(mla_net_params(fl), mla_net_params(direct), mla_net_param_count(fl) * sizeof(float));
    mla_fl_result_free(&res);
    mla_net_free(fl), mla_net_free(direct);
    mla_fl_clients_free(c);
    mla_dataset_free(ds);
}

/* One round of 4 clients (fraction 0.75: 3 taken), sample or uniform weights, against
 * mla_train per client and the average written out. */
static void weighted_case(mla_fl_weighting weighting) {
    mla_dataset *ds = make_data();
    mla_fl_clients *c = make_clients(ds, 4, "dirichlet:0.5");
    mla_fl_config cfg = base_config();
    cfg.rounds = 1;
    cfg.fraction = 0.75;
    cfg.weighting = weighting;
    mla_net *fl = make_net(2), *start = make_net(2), *client = make_net(2);
    mla_fl_result res;
    assert_int_equal(mla_fl_run(fl, ds, c, &cfg, &res), MLA_OK);
    int32_t taken[3];
    uint8_t dropped[3];
    assert_int_equal(mla_fl_select(cfg.seed, 0, 0, 4, 3, 0, taken, dropped), MLA_OK);
    size_t count = mla_net_param_count(fl);
    double *sum = calloc(count, sizeof *sum), total = 0;
    for (int i = 0; i < 3; i++) {
        mla_net_copy_params(client, start);
        train_by_hand(client, ds, c, taken[i], 0, &cfg);
        double w = weighting == MLA_FL_WEIGHT_SAMPLES ? mla_fl_client_size(c, taken[i]) : 1;
        for (size_t j = 0; j < count; j++) sum[j] += w * (double)mla_net_params(client)[j];
        total += w;
    }
    for (size_t j = 0; j < count; j++) assert_true(mla_net_params(fl)[j] == (float)(sum[j] / total));
    assert_int_equal(res.history[0].taken, 3);
    assert_int_equal(res.history[0].samples, 3 * (N / 4));
    free(sum);
    mla_fl_result_free(&res);
    mla_net_free(fl), mla_net_free(start), mla_net_free(client);
    mla_fl_clients_free(c);
    mla_dataset_free(ds);
}

static void test_weighted_average_of_clients(void **state) {
    (void)state;
    weighted_case(MLA_FL_WEIGHT_SAMPLES);
    weighted_case(MLA_FL_WEIGHT_UNIFORM);
}

/* Drops, retries and partial rounds: the same bits with 1, 2 and 3 threads. */
static void test_thread_count_independent(void **state) {
    (void)state;
    mla_dataset *ds = make_data();
    mla_fl_clients *c = make_clients(ds, 6, "shards:2");
    mla_fl_config cfg = base_config();
    cfg.fraction = 5.0 / 6;
    cfg.drop_prob = 0.3;
    cfg.min_clients = 3;
    float *first = NULL;
    for (int t = 1; t <= 3; t++) {
        cfg.threads = t;
        mla_net *net = make_net(3);
        mla_fl_result res;
        assert_int_equal(mla_fl_run(net, ds, c, &cfg, &res), MLA_OK);
        size_t bytes = mla_net_param_count(net) * sizeof(float);
        if (!first) first = malloc(bytes), memcpy(first, mla_net_params(net), bytes);
        else assert_memory_equal(first, mla_net_params(net), bytes);
        mla_fl_result_free(&res);
        mla_net_free(net);
    }
    free(first);
    mla_fl_clients_free(c);
    mla_dataset_free(ds);
}

/* Each round's attempts, takers and reporters follow mla_fl_select's draws. */
static void test_drops_and_min_clients(void **state) {
    (void)state;
    mla_dataset *ds = make_data();
    mla_fl_clients *c = make_clients(ds, 8, "iid");
    mla_fl_config cfg = base_config();
    cfg.rounds = 4;
    cfg.local_epochs = 1;
    cfg.drop_prob = 0.5;
    cfg.min_clients = 5;
    cfg.test = ds;
    mla_net *net = make_net(4);
    mla_fl_result res;
    assert_int_equal(mla_fl_run(net, ds, c, &cfg, &res), MLA_OK);
    int retried = 0;
    for (int r = 0; r < 4; r++) {
        int32_t taken[8];
        uint8_t dropped[8];
        int a = 0, reported;
        for (;; a++) {
            assert_int_equal(mla_fl_select(cfg.seed, r, a, 8, 8, 0.5, taken, dropped), MLA_OK);
            reported = 0;
            for (int i = 0; i < 8; i++) reported += !dropped[i];
            if (reported >= 5) break;
        }
        const mla_fl_round_stats *h = &res.history[r];
        assert_int_equal(h->attempts, a + 1);
        assert_int_equal(h->reported, reported);
        assert_int_equal(h->taken, 8);
        assert_int_equal(h->samples, (long)reported * (N / 8));
        assert_true(h->test_accuracy >= 0 && h->test_accuracy <= 1 && h->test_loss > 0);
        retried += a > 0;
    }
    assert_true(retried > 0); /* this seed exercises a retry */
    mla_eval_result e;
    assert_int_equal(mla_evaluate(net, ds, NULL, N, 500, &e, NULL, NULL), MLA_OK);
    assert_true(e.accuracy == res.history[3].test_accuracy && e.loss == res.history[3].test_loss);
    mla_fl_result_free(&res);
    /* Hopeless: every attempt fails. */
    cfg.drop_prob = 0.99;
    cfg.min_clients = 8;
    cfg.max_attempts = 3;
    assert_int_equal(mla_fl_run(net, ds, c, &cfg, &res), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "3 attempts"));
    mla_fl_result_free(&res);
    /* Bad settings. */
    cfg = base_config();
    cfg.fraction = 0.5;
    cfg.min_clients = 5;
    assert_int_equal(mla_fl_run(net, ds, c, &cfg, &res), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "min clients"));
    cfg = base_config();
    cfg.fraction = 0;
    assert_int_equal(mla_fl_run(net, ds, c, &cfg, &res), MLA_ERR_INVALID);
    cfg.fraction = 1.5;
    assert_int_equal(mla_fl_run(net, ds, c, &cfg, &res), MLA_ERR_INVALID);
    cfg = base_config();
    cfg.drop_prob = 1;
    assert_int_equal(mla_fl_run(net, ds, c, &cfg, &res), MLA_ERR_INVALID);
    mla_net_free(net);
    mla_fl_clients_free(c);
    mla_dataset_free(ds);
}

static mla_status stop_after_two(void *user, const mla_fl_round_stats *st, const int32_t *reported, mla_net *g);

/* Two rounds of one client: with fresh optimizers, two mla_train calls from the same
 * net; keeping client state, the second call continues the first one's optimizer. */
static void test_one_client_two_rounds(void **state) {
    (void)state;
    mla_dataset *ds = make_data();
    mla_fl_clients *c = make_clients(ds, 1, "iid");
    mla_fl_config cfg = base_config();
    size_t bytes;
    for (int keep = 0; keep <= 1; keep++) {
        cfg.keep_client_state = keep;
        mla_net *fl = make_net(6), *direct = make_net(6);
        mla_fl_result res;
        assert_int_equal(mla_fl_run(fl, ds, c, &cfg, &res), MLA_OK);
        mla_optimizer *opt;
        assert_int_equal(mla_optimizer_create(&cfg.train.opt, direct, &opt), MLA_OK);
        mla_fl_config hand = cfg;
        hand.train.optimizer = keep ? opt : NULL;
        train_by_hand(direct, ds, c, 0, 0, &hand);
        train_by_hand(direct, ds, c, 0, 1, &hand);
        if (keep) assert_int_equal(mla_optimizer_steps(opt), 2 * 2 * (N / 16));
        bytes = mla_net_param_count(fl) * sizeof(float);
        assert_memory_equal(mla_net_params(fl), mla_net_params(direct), bytes);
        mla_optimizer_free(opt);
        mla_fl_result_free(&res);
        mla_net_free(fl), mla_net_free(direct);
    }
    mla_fl_clients_free(c);
    mla_dataset_free(ds);
}

static mla_status no_message(void *user, void *buf, size_t bytes, int peer) {
    (void)user, (void)buf, (void)bytes, (void)peer;
    return mla_error(MLA_ERR_IO, "no message expected");
}
static mla_status no_send(void *user, const void *buf, size_t bytes, int peer) {
    return no_message(user, (void *)buf, bytes, peer);
}
static mla_status no_bcast(void *user, void *buf, size_t bytes) { return no_message(user, buf, bytes, 0); }

/* Kept client state, interrupted and resumed: the same bits; refused across ranks. */
static void test_keep_client_state_resume(void **state) {
    (void)state;
    mla_dataset *ds = make_data();
    mla_fl_clients *c = make_clients(ds, 4, "iid");
    mla_fl_config cfg = base_config();
    cfg.rounds = 3;
    cfg.fraction = 0.5;
    cfg.keep_client_state = true;
    mla_net *straight = make_net(7), *part = make_net(7), *fresh = make_net(7);
    mla_fl_result a, b;
    assert_int_equal(mla_fl_run(straight, ds, c, &cfg, &a), MLA_OK);
    mla_fl_config reset = cfg;
    reset.keep_client_state = false;
    assert_int_equal(mla_fl_run(fresh, ds, c, &reset, &b), MLA_OK);
    size_t bytes = mla_net_param_count(straight) * sizeof(float);
    assert_memory_not_equal(mla_net_params(straight), mla_net_params(fresh), bytes);
    mla_fl_result_free(&b);
    const char *ck = test_tmp_path("keep.safetensors");
    cfg.checkpoint_path = ck;
    cfg.on_round = stop_after_two;
    assert_int_equal(mla_fl_run(part, ds, c, &cfg, &b), MLA_ERR_INTERRUPTED);
    mla_fl_result_free(&b);
    cfg.on_round = NULL;
    cfg.resume_path = ck;
    mla_net_free(part);
    part = make_net(1);
    assert_int_equal(mla_fl_run(part, ds, c, &cfg, &b), MLA_OK);
    assert_memory_equal(mla_net_params(straight), mla_net_params(part), bytes);
    mla_fl_result_free(&a), mla_fl_result_free(&b);
    /* A reset run's checkpoint does not resume a kept-state run. */
    reset.checkpoint_path = test_tmp_path("reset.safetensors");
    assert_int_equal(mla_fl_run(fresh, ds, c, &reset, &b), MLA_OK);
    mla_fl_result_free(&b);
    cfg.resume_path = reset.checkpoint_path;
    assert_int_equal(mla_fl_run(part, ds, c, &cfg, &b), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "keep_client_state=0"));
    mla_fl_result_free(&b);
    mla_transport t = {NULL, 0, 2, no_send, no_message, no_bcast};
    cfg.resume_path = NULL;
    cfg.transport = &t;
    assert_int_equal(mla_fl_run(part, ds, c, &cfg, &b), MLA_ERR_UNSUPPORTED);
    mla_fl_result_free(&b);
    mla_net_free(straight), mla_net_free(part), mla_net_free(fresh);
    mla_fl_clients_free(c);
    mla_dataset_free(ds);
}

static mla_status stop_after_two(void *user, const mla_fl_round_stats *st, const int32_t *reported, mla_net *g) {
    (void)user, (void)reported, (void)g;
    return st->round == 1 ? mla_error(MLA_ERR_INTERRUPTED, "stopped") : MLA_OK;
}

static void test_checkpoint_resume(void **state) {
    (void)state;
    mla_dataset *ds = make_data();
    mla_fl_clients *c = make_clients(ds, 5, "iid");
    mla_fl_config cfg = base_config();
    cfg.rounds = 4;
    cfg.fraction = 0.6;
    cfg.drop_prob = 0.2;
    mla_net *straight = make_net(5), *part = make_net(5);
    mla_fl_result a, b;
    assert_int_equal(mla_fl_run(straight, ds, c, &cfg, &a), MLA_OK);
    const char *ck = test_tmp_path("fl.safetensors");
    cfg.checkpoint_path = ck;
    cfg.on_round = stop_after_two;
    assert_int_equal(mla_fl_run(part, ds, c, &cfg, &b), MLA_ERR_INTERRUPTED);
    assert_int_equal(b.rounds_run, 2);
    mla_fl_result_free(&b);
    /* Another setting: refused, naming it. */
    cfg.on_round = NULL;
    cfg.resume_path = ck;
    cfg.local_epochs = 3;
    mla_net *other = make_net(9);
    assert_int_equal(mla_fl_run(other, ds, c, &cfg, &b), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "epochs=2"));
    assert_non_null(strstr(mla_last_error(), "epochs=3"));
    mla_fl_result_free(&b);
    cfg.local_epochs = 2;
    cfg.drop_prob = 0.25;
    assert_int_equal(mla_fl_run(other, ds, c, &cfg, &b), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "drop="));
    mla_fl_result_free(&b);
    cfg.drop_prob = 0.2;
    /* The resumed run starts from the checkpoint's model, not its own. */
    assert_int_equal(mla_fl_run(other, ds, c, &cfg, &b), MLA_OK);
    assert_int_equal(b.resumed_from, 2);
    assert_int_equal(b.rounds_run, 4);
    size_t bytes = mla_net_param_count(straight) * sizeof(float);
    assert_memory_equal(mla_net_params(other), mla_net_params(straight), bytes);
    for (int r = 0; r < 4; r++) {
        assert_int_equal(b.history[r].round, r);
        assert_int_equal(b.history[r].reported, a.history[r].reported);
        assert_true(b.history[r].train_loss == a.history[r].train_loss);
    }
    mla_fl_result_free(&a), mla_fl_result_free(&b);
    /* Fewer rounds than the checkpoint holds: refused. */
    cfg.rounds = 1;
    assert_int_equal(mla_fl_run(other, ds, c, &cfg, &b), MLA_ERR_INVALID);
    mla_fl_result_free(&b);
    mla_net_free(straight), mla_net_free(part), mla_net_free(other);
    mla_fl_clients_free(c);
    mla_dataset_free(ds);
}

static int setup(void **state) {
    (void)state;
    return test_tmpdir_create("fl");
}

static int teardown(void **state) {
    (void)state;
    return test_tmpdir_remove();
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_average_formula),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_one_client_is_mla_train),
        cmocka_unit_test(test_weighted_average_of_clients),
        cmocka_unit_test(test_thread_count_independent),
        cmocka_unit_test(test_drops_and_min_clients),
        cmocka_unit_test(test_checkpoint_resume),
        cmocka_unit_test(test_one_client_two_rounds),
        cmocka_unit_test(test_keep_client_state_resume),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
