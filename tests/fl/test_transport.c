/* The exchange between ranks without MPI: P "ranks" are threads of this process
 * joined by an in-memory transport (tests/common/mem_transport.h), each running
 * mla_fl_run with its own global net. Every rank must end with the bits of a
 * one-process run, for P = 2 and 3, with drops, partial rounds and 1 or 2 worker
 * threads per rank; rank 0 alone keeps the history. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem_transport.h"
#include "mlaudit/fl.h"

enum { N = 180, C = 1, H = 6, W = 6, K = 3, MAXP = 3 };

static const char spec[] =
    "{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 12}, {\"type\": \"relu\"},"
    " {\"type\": \"dense\", \"units\": \"classes\"}]}";

/* ---- the runs ---- */
static mla_dataset *make_data(void) {
    uint8_t *px = malloc((size_t)N * C * H * W);
    int32_t y[N];
    mla_rng r;
    mla_rng_seed(&r, 5);
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        for (int p = 0; p < H * W; p++)
            px[i * H * W + p] = (uint8_t)((p / W) / 2 == y[i] ? 140 + mla_rng_below(&r, 110) : mla_rng_below(&r, 120));
    }
    mla_dataset *ds;
    assert_int_equal(mla_dataset_from_memory(N, C, H, W, px, NULL, y, K, &ds), MLA_OK);
    free(px);
    return ds;
}

typedef struct {
    const mla_dataset *ds;
    const mla_fl_clients *clients;
    mla_fl_config cfg;       /* transport set per rank */
    mla_transport t;
    mla_net *net;
    mla_fl_result res;
    mla_status status;
} rank_job;

static void *run_rank(void *arg) {
    rank_job *j = arg;
    j->cfg.transport = &j->t;
    j->status = mla_fl_run(j->net, j->ds, j->clients, &j->cfg, &j->res);
    return NULL;
}

static mla_fl_config config(const mla_dataset *ds, int threads) {
    mla_fl_config cfg = mla_fl_defaults();
    cfg.rounds = 3;
    cfg.local_epochs = 1;
    cfg.fraction = 0.8;
    cfg.drop_prob = 0.25;
    cfg.min_clients = 2;
    cfg.seed = 12;
    cfg.threads = threads;
    cfg.test = ds;
    cfg.eval_batch = 25; /* 8 batches, the last short: blocks of unequal size over the ranks */
    cfg.train.batch = 20;
    cfg.train.opt.lr = 5e-3f;
    return cfg;
}

static void ranks_case(int size, int threads) {
    mla_dataset *ds = make_data();
    mla_fl_partition p = {.kind = MLA_FL_DIRICHLET, .alpha = 1};
    mla_fl_clients *clients;
    assert_int_equal(mla_fl_partition_make(&p, mla_dataset_labels(ds), K, NULL, N, 6, 3, &clients), MLA_OK);
    mla_net *local;
    assert_int_equal(mla_net_create(spec, (mla_shape){C, H, W}, K, 1, &local), MLA_OK);
    mla_fl_config cfg = config(ds, 1);
    mla_fl_result want;
    assert_int_equal(mla_fl_run(local, ds, clients, &cfg, &want), MLA_OK);

    mem_box *box = mem_box_create(size);
    assert_non_null(box);
    rank_job jobs[MAXP];
    pthread_t th[MAXP];
    for (int r = 0; r < size; r++) {
        jobs[r] = (rank_job){.ds = ds, .clients = clients, .cfg = config(ds, threads), .t = mem_box_endpoint(box, r)};
        /* Another starting model on every rank but 0: rank 0's is broadcast. */
        assert_int_equal(mla_net_create(spec, (mla_shape){C, H, W}, K, r == 0 ? 1 : 100 + r, &jobs[r].net), MLA_OK);
        assert_int_equal(pthread_create(&th[r], NULL, run_rank, &jobs[r]), 0);
    }
    for (int r = 0; r < size; r++) pthread_join(th[r], NULL);
    size_t bytes = mla_net_param_count(local) * sizeof(float);
    for (int r = 0; r < size; r++) {
        if (jobs[r].status) fail_msg("rank %d of %d: status %d", r, size, (int)jobs[r].status);
        assert_int_equal(jobs[r].res.rounds_run, 3);
        assert_memory_equal(mla_net_params(jobs[r].net), mla_net_params(local), bytes);
        assert_true(r == 0 ? jobs[r].res.history != NULL : jobs[r].res.history == NULL);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(jobs[0].res.history[i].reported, want.history[i].reported);
        assert_int_equal(jobs[0].res.history[i].samples, want.history[i].samples);
        assert_true(jobs[0].res.history[i].train_loss == want.history[i].train_loss);
        assert_true(jobs[0].res.history[i].test_accuracy == want.history[i].test_accuracy);
        assert_true(jobs[0].res.history[i].test_loss == want.history[i].test_loss);
    }
    assert_int_equal(jobs[0].res.samples, want.samples);
    assert_true(mem_box_empty(box)); /* every message was read */
    mem_box_free(box);
    for (int r = 0; r < size; r++) {
        mla_fl_result_free(&jobs[r].res);
        mla_net_free(jobs[r].net);
    }
    mla_fl_result_free(&want);
    mla_net_free(local);
    mla_fl_clients_free(clients);
    mla_dataset_free(ds);
}

/* ---- mla_fl_evaluate on its own ---- */
typedef struct {
    mla_net *net;
    const mla_dataset *ds;
    const int32_t *idx;
    int n, batch;
    mla_transport t;
    mla_eval_result res;
    mla_status status;
} eval_job;

static void *eval_rank(void *arg) {
    eval_job *j = arg;
    j->status = mla_fl_evaluate(j->net, j->ds, j->idx, j->n, j->batch, &j->t, &j->res);
    return NULL;
}

/* Every rank's result has mla_evaluate's bits, for blocks of every shape (a rank with
 * no batch included), with and without an index list. */
static void eval_case(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int batch, int size) {
    mla_eval_result want;
    assert_int_equal(mla_evaluate(net, ds, idx, n, batch, &want, NULL, NULL), MLA_OK);
    mem_box *box = mem_box_create(size);
    assert_non_null(box);
    eval_job jobs[MAXP];
    pthread_t th[MAXP];
    mla_net *nets[MAXP];
    for (int r = 0; r < size; r++) {
        /* each rank its own copy of the net (a net's buffers are not shared between threads) */
        assert_int_equal(mla_net_create(spec, (mla_shape){C, H, W}, K, 9, &nets[r]), MLA_OK);
        memcpy(mla_net_params(nets[r]), mla_net_params(net), mla_net_param_count(net) * sizeof(float));
        jobs[r] = (eval_job){.net = nets[r], .ds = ds, .idx = idx, .n = n, .batch = batch, .t = mem_box_endpoint(box, r)};
        assert_int_equal(pthread_create(&th[r], NULL, eval_rank, &jobs[r]), 0);
    }
    for (int r = 0; r < size; r++) pthread_join(th[r], NULL);
    for (int r = 0; r < size; r++) {
        assert_int_equal(jobs[r].status, MLA_OK);
        assert_int_equal(jobs[r].res.n, n);
        assert_true(jobs[r].res.accuracy == want.accuracy);
        assert_true(jobs[r].res.loss == want.loss);
        mla_net_free(nets[r]);
    }
    assert_true(mem_box_empty(box));
    mem_box_free(box);
}

static void test_split_evaluation(void **state) {
    (void)state;
    mla_set_threads(1);
    mla_dataset *ds = make_data();
    mla_net *net;
    assert_int_equal(mla_net_create(spec, (mla_shape){C, H, W}, K, 4, &net), MLA_OK);
    int32_t idx[N / 2];
    for (int i = 0; i < N / 2; i++) idx[i] = (i * 7 + 3) % N;
    for (int size = 2; size <= 3; size++) {
        eval_case(net, ds, NULL, N, 25, size);  /* 8 batches, the last of 5 */
        eval_case(net, ds, NULL, N, 500, size); /* one batch: the other ranks have none */
        eval_case(net, ds, idx, N / 2, 7, size);
        eval_case(net, ds, idx, 2, 1, size);
    }
    mla_eval_result one;
    assert_int_equal(mla_fl_evaluate(net, ds, NULL, N, 0, NULL, &one), MLA_ERR_INVALID); /* mla_evaluate's check */
    mla_net_free(net);
    mla_dataset_free(ds);
    mla_set_threads(2);
}

static void test_two_ranks(void **state) {
    (void)state;
    ranks_case(2, 1);
    ranks_case(2, 2);
}

static void test_three_ranks(void **state) {
    (void)state;
    ranks_case(3, 1);
    ranks_case(3, 2);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_ranks),
        cmocka_unit_test(test_three_ranks),
        cmocka_unit_test(test_split_evaluation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
