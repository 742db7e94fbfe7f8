/* The membership audit of federated models: mia.h's train_model extension point with
 * fl.h's FedAvg trainer (mla_fl_mia_train). One client, one round, E epochs is
 * mla_train of E epochs on that client's data with its seed (fl.h's guarantee), bit
 * for bit, both for one net and through mla_mia_collect; a partition's remainder is
 * not evaluated (target) and OUT (shadows); shadows trained side by side give the
 * same bits; the per-group figures (mla_mia_group_summaries) against a direct
 * pairwise computation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/fl.h"
#include "mlaudit/mia.h"
#include "common/toy_data.h"

static const char spec[] = "{\"name\":\"tiny\",\"layers\":[{\"type\":\"flatten\"},{\"type\":\"dense\",\"units\":8},"
                           "{\"type\":\"relu\"},{\"type\":\"dense\",\"units\":\"classes\"}]}";

static mla_dataset *tiny_data(int n, uint64_t seed) {
    mla_dataset *ds = toy_quarters(n, seed);
    assert_non_null(ds);
    return ds;
}

static mla_net *tiny_net(uint64_t seed) {
    mla_net *net;
    assert_int_equal(mla_net_create(spec, (mla_shape){1, 4, 4}, 3, seed, &net), MLA_OK);
    return net;
}

static mla_fl_mia fl_trainer(int clients, int rounds, int epochs) {
    mla_fl_mia t = {0};
    t.fl = mla_fl_defaults();
    t.fl.rounds = rounds, t.fl.local_epochs = epochs;
    assert_int_equal(mla_fl_partition_parse("iid", &t.partition), MLA_OK);
    t.clients = clients;
    return t;
}

/* What fl.h says one client, one round is: mla_train of E epochs on the client's
 * indices (the IID partition of idx with the model's seed) with the client's train
 * seed and dropout stream. Also a trainer for mla_mia_collect (user: E as int *). */
static mla_status by_hand(void *user, int model, mla_net *net, const mla_dataset *ds, const int32_t *idx, int n,
                          const mla_train_config *tc, uint8_t *trained, mla_train_stats *st) {
    (void)model, (void)trained;
    mla_fl_partition p = {MLA_FL_IID, 0, 0};
    mla_fl_clients *c;
    mla_status s = mla_fl_partition_make(&p, mla_dataset_labels(ds), 3, idx, n, 1, tc->seed, &c);
    if (s) return s;
    mla_train_config one = *tc;
    one.epochs = *(int *)user;
    one.on_batch = NULL;
    mla_fl_client_streams(tc->seed, 0, 0, &one.seed, mla_net_rng(net));
    s = mla_train(net, ds, mla_fl_client_indices(c, 0), mla_fl_client_size(c, 0), &one, st);
    mla_fl_clients_free(c);
    return s;
}

static void test_one_client_is_mla_train(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(300, 5);
    int32_t idx[150];
    for (int i = 0; i < 150; i++) idx[i] = 2 * i + 1;
    mla_train_config tc = mla_train_defaults();
    tc.batch = 16, tc.seed = 77;
    mla_fl_mia t = fl_trainer(1, 1, 3);
    int epochs = 3;
    mla_net *fl = tiny_net(77), *direct = tiny_net(77);
    uint8_t trained[150];
    mla_train_stats st;
    memset(trained, 1, sizeof trained);
    assert_int_equal(mla_fl_mia_train(&t, 0, fl, ds, idx, 150, &tc, trained, &st), MLA_OK);
    assert_int_equal(by_hand(&epochs, 0, direct, ds, idx, 150, &tc, NULL, &st), MLA_OK);
    assert_memory_equal(mla_net_params(fl), mla_net_params(direct), mla_net_param_count(fl) * sizeof(float));
    for (int i = 0; i < 150; i++) assert_int_equal(trained[i], 1);
    assert_int_equal(mla_fl_clients_count(t.target_clients), 1);
    assert_int_equal(mla_fl_client_size(t.target_clients, 0), 150);
    mla_fl_mia_clear(&t);
    /* DP-SGD hooks and early stopping are refused, not ignored. */
    mla_train_hook hook = {0};
    tc.hook = &hook;
    assert_int_equal(mla_fl_mia_train(&t, 1, fl, ds, idx, 150, &tc, trained, &st), MLA_ERR_UNSUPPORTED);
    tc.hook = NULL, tc.patience = 2;
    assert_int_equal(mla_fl_mia_train(&t, 1, fl, ds, idx, 150, &tc, trained, &st), MLA_ERR_UNSUPPORTED);
    mla_net_free(fl), mla_net_free(direct);
    mla_dataset_free(ds);
}

static mla_mia_collected *collect(const mla_dataset *ds, mla_mia_train_fn fn, void *user, int parallel) {
    mla_mia_audit_config c = mla_mia_audit_defaults();
    c.target.spec_json = spec;
    c.train.batch = 16;
    c.shadows = 3, c.seed = 9, c.parallel = parallel;
    c.train_model = fn, c.train_user = user;
    mla_mia_inputs in = {.data = ds};
    mla_mia_collected *col;
    assert_int_equal(mla_mia_collect(&in, &c, &col), MLA_OK);
    return col;
}

static void assert_same_outputs(const mla_mia_collected *a, const mla_mia_collected *b) {
    const mla_mia_arrays *x = &a->arrays, *y = &b->arrays;
    assert_int_equal(x->m, y->m);
    assert_int_equal(x->k, y->k);
    assert_memory_equal(x->target_probs, y->target_probs, (size_t)x->m * x->classes * sizeof(float));
    assert_memory_equal(x->shadow_probs, y->shadow_probs, (size_t)x->k * x->m * x->classes * sizeof(float));
    assert_memory_equal(x->truth, y->truth, (size_t)x->m);
    assert_memory_equal(x->shadow_in, y->shadow_in, (size_t)x->k * x->m);
}

/* Through the audit: the FedAvg trainer with 1 client x 1 round x 2 epochs collects
 * the same bits as the by-hand trainer; every member stays evaluated. */
static void test_collect_one_client(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(400, 6);
    mla_fl_mia t = fl_trainer(1, 1, 2);
    int epochs = 2;
    mla_mia_collected *fl = collect(ds, mla_fl_mia_train, &t, 1), *hand = collect(ds, by_hand, &epochs, 1);
    assert_same_outputs(fl, hand);
    int members = 0;
    for (int i = 0; i < fl->arrays.m; i++) members += fl->arrays.truth[i] == 1;
    assert_int_equal(members, 100);
    assert_int_equal(fl->target_train_size, 100);
    mla_mia_collected_free(fl), mla_mia_collected_free(hand);
    mla_fl_mia_clear(&t);
    mla_dataset_free(ds);
}

/* 3 clients over 100 members: 33 each, 1 left over and not evaluated; each shadow's
 * 100 IN samples likewise lose 1 (now OUT). Shadows side by side: the same bits. */
static void test_remainder_and_parallel(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(400, 7);
    mla_fl_mia t1 = fl_trainer(3, 2, 1), t2 = fl_trainer(3, 2, 1);
    mla_mia_collected *one = collect(ds, mla_fl_mia_train, &t1, 1), *par = collect(ds, mla_fl_mia_train, &t2, 3);
    assert_same_outputs(one, par);
    const mla_mia_arrays *a = &one->arrays;
    int members = 0, left = 0;
    for (int i = 0; i < a->m; i++) members += a->truth[i] == 1, left += a->truth[i] == -1 && i < 100;
    assert_int_equal(members, 99);
    assert_int_equal(one->target_train_size, 99);
    assert_int_equal(mla_fl_clients_total(t1.target_clients), 99);
    for (int i = 0; i < a->m; i++) /* members are exactly the clients' samples */
        if (a->truth[i] == 1) {
            bool found = false;
            for (int k = 0; k < 3; k++)
                for (int j = 0; j < 33; j++) found |= mla_fl_client_indices(t1.target_clients, k)[j] == a->sample_index[i];
            assert_true(found);
        }
    for (int s = 0; s < a->k; s++) {
        int in = 0;
        for (int i = 0; i < a->m; i++) in += a->shadow_in[(size_t)s * a->m + i];
        assert_int_equal(in, 99);
    }
    mla_mia_collected_free(one), mla_mia_collected_free(par);
    mla_fl_mia_clear(&t1), mla_fl_mia_clear(&t2);
    mla_dataset_free(ds);
}

/* The direct figures of pos vs neg: AUC as the pairwise share (ties half), TPR at FPR
 * <= f as the best over every threshold t (scores >= t predicted members). */
static double direct_auc(const double *pos, int np, const double *neg, int nn) {
    double wins = 0;
    for (int i = 0; i < np; i++)
        for (int j = 0; j < nn; j++) wins += pos[i] > neg[j] ? 1 : pos[i] == neg[j] ? 0.5 : 0;
    return wins / ((double)np * nn);
}

static int64_t direct_tp_at_fpr(const double *pos, int np, const double *neg, int nn, double f) {
    int64_t best = 0;
    for (int c = 0; c < np + nn; c++) {
        double t = c < np ? pos[c] : neg[c - np];
        int64_t tp = 0, fp = 0;
        for (int i = 0; i < np; i++) tp += pos[i] >= t;
        for (int j = 0; j < nn; j++) fp += neg[j] >= t;
        if (fp <= f * nn && tp > best) best = tp;
    }
    return best;
}

static void test_group_summaries(void **state) {
    (void)state;
    enum { M = 600, C = 3 };
    float probs[M * C];
    int32_t labels[M], group[M];
    int8_t truth[M];
    mla_rng r;
    mla_rng_seed(&r, 12);
    for (int i = 0; i < M; i++) {
        truth[i] = i % 5 == 4 ? -1 : i % 2; /* -1: not evaluated */
        group[i] = truth[i] == 1 ? (i / 2) % 4 : -1; /* 4 groups; group 3 gets members too */
        if (i % 10 == 3) group[i] = -1;
        labels[i] = (int32_t)mla_rng_below(&r, C);
        /* members of group g are more confident the larger g is (group 2 leaks most of 0..2) */
        double py = 0.3 + 0.4 * mla_rng_uniform(&r) + (truth[i] == 1 ? 0.08 * (group[i] % 3) : 0);
        if (i % 7 == 0) py = 0.5; /* ties */
        for (int j = 0; j < C; j++) probs[i * C + j] = (float)(j == labels[i] ? py : (1 - py) / (C - 1));
    }
    mla_mia_arrays a = {.m = M, .k = 0, .classes = C, .target_probs = probs, .labels = labels, .truth = truth};
    mla_mia_config cfg = mla_mia_defaults();
    cfg.attacks = "loss,confidence";
    mla_mia_result *res;
    mla_status as = mla_mia_attack_arrays(&a, &cfg, &res);
    if (as) fprintf(stderr, "%s\n", mla_last_error());
    assert_int_equal(as, MLA_OK);
    mla_score_summary got[5];
    as = mla_mia_group_summaries(res, "loss", group, 5, got);
    if (as) fprintf(stderr, "%s\n", mla_last_error());
    assert_int_equal(as, MLA_OK);
    const mla_mia_attack_result *loss = mla_mia_result_find(res, "loss");
    double pos[M], neg[M];
    int nn = 0;
    for (int i = 0; i < M; i++)
        if (truth[i] == 0) neg[nn++] = log(probs[i * C + labels[i]]);
    for (int g = 0; g < 4; g++) {
        int np = 0;
        for (int i = 0; i < M; i++)
            if (group[i] == g && truth[i] == 1) pos[np++] = log(probs[i * C + labels[i]]);
        assert_true(np > 10);
        assert_int_equal(got[g].n_pos, np);
        assert_int_equal(got[g].n_neg, nn);
        assert_true(fabs(got[g].auc - direct_auc(pos, np, neg, nn)) < 1e-12);
        for (int f = 0; f < MLA_SCORE_N_FPR; f++) {
            int64_t tp = direct_tp_at_fpr(pos, np, neg, nn, mla_score_fprs[f]);
            assert_true(fabs(got[g].tpr_at_fpr[f] - (double)tp / np) < 1e-12);
            double lo, hi;
            assert_int_equal(mla_clopper_pearson(tp, np, 0.95, &lo, &hi), MLA_OK);
            assert_true(got[g].ci95_lo[f] == lo && got[g].ci95_hi[f] == hi);
        }
        assert_true(got[g].threshold == loss->summary.threshold || (isnan(got[g].threshold) && isnan(loss->summary.threshold)));
    }
    assert_true(got[2].auc > got[0].auc);
    assert_true(isnan(got[4].auc)); /* no members */
    assert_int_equal(got[4].n_pos, 0);
    assert_int_equal(got[4].n_neg, nn);
    assert_int_equal(mla_mia_group_summaries(res, "lira_online", group, 5, got), MLA_ERR_INVALID);
    mla_mia_result_free(res);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_client_is_mla_train),
        cmocka_unit_test(test_collect_one_client),
        cmocka_unit_test(test_remainder_and_parallel),
        cmocka_unit_test(test_group_summaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
