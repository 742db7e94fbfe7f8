/* Tests of mia.h section 3, the protocols: the layouts split4, shadows, lira (online
 * and offline) and own-target lay out, what each model trains on, the collected
 * outputs, that shadows trained side by side (--parallel) give the bits of
 * shadows trained one after another on one thread, and that shadows dealt to ranks
 * (an in-memory transport, ranks as threads) give one process's arrays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem_transport.h"
#include "mlaudit/mia.h"
#include "common/toy_data.h"

static const char spec[] = "{\"name\":\"tiny\",\"layers\":[{\"type\":\"flatten\"},{\"type\":\"dense\",\"units\":8},"
                           "{\"type\":\"relu\"},{\"type\":\"dense\",\"units\":\"classes\"}]}";

static mla_dataset *tiny_data(int n, uint64_t seed) {
    mla_dataset *ds = toy_quarters(n, seed);
    assert_non_null(ds);
    return ds;
}

static mla_mia_audit_config tiny_config(mla_mia_protocol p, int k) {
    mla_mia_audit_config c = mla_mia_audit_defaults();
    c.protocol = p;
    c.target.spec_json = spec;
    c.train.epochs = 2;
    c.train.batch = 32;
    c.shadows = k;
    c.seed = 9;
    return c;
}

static int count_if(const int8_t *t, int m, int v) {
    int n = 0;
    for (int i = 0; i < m; i++) n += t[i] == v;
    return n;
}

static void check_probs(const mla_mia_arrays *a) {
    for (int64_t r = 0; r < (int64_t)(a->k + 1) * a->m; r++) {
        const float *row = r < a->m ? a->target_probs + r * a->classes : a->shadow_probs + (r - a->m) * a->classes;
        double sum = 0;
        for (int j = 0; j < a->classes; j++) sum += row[j];
        assert_true(fabs(sum - 1) < 1e-5);
    }
}

static void test_split4_layout(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(400, 1);
    mla_mia_inputs in = {.data = ds};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_SPLIT4, 3);
    mla_mia_collected *col;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_OK);
    const mla_mia_arrays *a = &col->arrays;
    assert_int_equal(a->m, 400);
    assert_int_equal(count_if(a->truth, a->m, 1), 100);
    assert_int_equal(count_if(a->truth, a->m, 0), 100);
    assert_int_equal(col->target_train_size, 100);
    assert_int_equal(a->n_population, 200);
    /* Every sample appears once; each shadow trains on half of D' and fits on D' only. */
    uint8_t seen[400] = {0};
    for (int i = 0; i < a->m; i++) assert_int_equal(seen[a->sample_index[i]]++, 0);
    for (int s = 0; s < a->k; s++) {
        int in_count = 0;
        for (int i = 0; i < a->m; i++) {
            uint8_t inside = a->shadow_in[s * a->m + i], fit = a->fit[s * a->m + i];
            assert_int_equal(fit, a->truth[i] < 0);
            if (inside) assert_true(a->truth[i] < 0);
            in_count += inside;
        }
        assert_int_equal(in_count, 100);
    }
    for (int z = 0; z < a->n_population; z++) assert_int_equal(a->truth[a->population[z]], -1);
    check_probs(a);
    mla_mia_collected_free(col);
    mla_dataset_free(ds);
}

static void test_shadows_protocol_samples_own_datasets(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(400, 2);
    mla_mia_inputs in = {.data = ds};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_SHADOWS, 2);
    cfg.shadow_fraction = 0.4; /* 80 of D' = 200 each, 40 seen and 40 unseen */
    mla_mia_collected *col;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_OK);
    const mla_mia_arrays *a = &col->arrays;
    for (int s = 0; s < a->k; s++) {
        int fit = 0, inside = 0;
        for (int i = 0; i < a->m; i++) fit += a->fit[s * a->m + i], inside += a->shadow_in[s * a->m + i];
        assert_int_equal(fit, 80);
        assert_int_equal(inside, 40);
    }
    mla_mia_collected_free(col);
    mla_dataset_free(ds);
}

static void test_lira_online_balanced(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(300, 3);
    mla_mia_inputs in = {.data = ds};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_LIRA, 4);
    cfg.pool = 101; /* rounded down to 100 */
    mla_mia_collected *col;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_OK);
    const mla_mia_arrays *a = &col->arrays;
    assert_int_equal(a->m, 150); /* 100 candidates + a population of 50 */
    assert_int_equal(count_if(a->truth, a->m, 1), 50);
    assert_int_equal(count_if(a->truth, a->m, 0), 50);
    for (int i = 0; i < a->m; i++) {
        int n_in = 0;
        for (int s = 0; s < a->k; s++) n_in += a->shadow_in[s * a->m + i];
        assert_int_equal(n_in, a->truth[i] < 0 ? 0 : 2);
    }
    mla_mia_collected_free(col);
    /* Offline: the shadows never see a candidate. */
    cfg.offline = true;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_OK);
    a = &col->arrays;
    for (int i = 0; i < a->m; i++)
        for (int s = 0; s < a->k; s++)
            if (a->truth[i] >= 0) assert_int_equal(a->shadow_in[s * a->m + i], 0);
    mla_mia_collected_free(col);
    mla_dataset_free(ds);
}

/* Early stopping: every model validates on images the protocol leaves unused (never a
 * candidate, population or shadow sample), the target stops and keeps its best epoch,
 * and a validation set without room, or with --shadow-data, is refused. */
static void test_early_stopping_validation_outside_the_audit(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(300, 5);
    mla_mia_inputs in = {.data = ds};
    mla_mia_protocol protocols[] = {MLA_MIA_SPLIT4, MLA_MIA_LIRA, MLA_MIA_LIRA};
    for (int t = 0; t < 3; t++) {
        mla_mia_audit_config cfg = tiny_config(protocols[t], 2);
        cfg.pool = 100, cfg.offline = t == 2;
        cfg.train.epochs = 40, cfg.train.patience = 1, cfg.val_size = 50;
        cfg.train.opt.lr = 2.0f; /* far too large: the validation loss soon stops improving */
        mla_mia_collected *col;
        assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_OK);
        const mla_mia_arrays *a = &col->arrays;
        assert_int_equal(col->n_val, 50);
        uint8_t used[300] = {0};
        for (int i = 0; i < a->m; i++) used[a->sample_index[i]] = 1;
        for (int v = 0; v < col->n_val; v++) {
            assert_true(col->val_index[v] >= 0 && col->val_index[v] < 300);
            assert_int_equal(used[col->val_index[v]], 0);
            used[col->val_index[v]] = 2; /* and no image twice */
        }
        assert_true(col->target_epochs_run >= 1 && col->target_epochs_run < 40); /* stopped (seeded) */
        assert_true(col->target_epoch_kept >= 1 && col->target_epoch_kept <= col->target_epochs_run);
        mla_mia_collected_free(col);
        /* No room: lira online uses 100 candidates + 50 population of the 300. */
        cfg.val_size = t == 0 ? 201 : t == 1 ? 151 : 101;
        assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_ERR_INVALID);
        assert_non_null(strstr(mla_last_error(), "validation images do not fit"));
    }
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_SPLIT4, 2);
    cfg.pool = 100, cfg.train.patience = 1, cfg.val_size = 0;
    mla_mia_collected *col;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_ERR_INVALID);
    in.shadow_data = ds, cfg.val_size = 10;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "--shadow-data"));
    mla_dataset_free(ds);
}

static void test_parallel_matches_one_thread(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(400, 4);
    mla_mia_inputs in = {.data = ds};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_SPLIT4, 3);
    int threads = mla_get_threads();
    mla_set_threads(1);
    mla_mia_collected *one, *par;
    assert_int_equal(mla_mia_collect(&in, &cfg, &one), MLA_OK);
    mla_set_threads(2);
    cfg.parallel = 2;
    assert_int_equal(mla_mia_collect(&in, &cfg, &par), MLA_OK);
    mla_set_threads(threads);
    size_t n = (size_t)one->arrays.k * one->arrays.m;
    assert_memory_equal(one->arrays.shadow_probs, par->arrays.shadow_probs, n * 3 * sizeof(float));
    assert_memory_equal(one->arrays.shadow_phi, par->arrays.shadow_phi, n * sizeof(double));
    mla_mia_collected_free(one);
    mla_mia_collected_free(par);
    mla_dataset_free(ds);
}

static void test_own_target_balanced_and_checked(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(300, 5);
    mla_net *net;
    mla_shape shape = {1, 4, 4};
    assert_int_equal(mla_net_create(spec, shape, 3, 1, &net), MLA_OK);
    int32_t members[40], nonmembers[30];
    for (int i = 0; i < 40; i++) members[i] = i;
    for (int i = 0; i < 30; i++) nonmembers[i] = 100 + i;
    mla_mia_inputs in = {.data = ds, .target = net, .members = members, .n_members = 40, .nonmembers = nonmembers,
                         .n_nonmembers = 30};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_OWN_TARGET, 2);
    mla_mia_collected *col;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_OK);
    const mla_mia_arrays *a = &col->arrays;
    assert_int_equal(count_if(a->truth, a->m, 1), 30);
    assert_int_equal(count_if(a->truth, a->m, 0), 30);
    assert_int_equal(a->m, 60 + 300 - 70); /* the shadow pool: every sample not named */
    mla_mia_collected_free(col);
    nonmembers[3] = 5; /* also a member */
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "also in another list"));
    nonmembers[3] = 300; /* out of range */
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "outside"));
    mla_net_free(net);
    mla_dataset_free(ds);
}

static void test_bad_configs_refused(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(100, 6);
    mla_mia_inputs in = {.data = ds};
    mla_mia_collected *col;
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_SPLIT4, 0);
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "--shadows"));
    cfg = tiny_config(MLA_MIA_SPLIT4, 2);
    cfg.pool = 1000;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "--pool"));
    mla_dataset_free(ds);
}

/* ---- released outputs (mla_mia_audit_config.release) ---- */

static int argmax3(const float *row) {
    int best = 0;
    for (int j = 1; j < 3; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

/* Under `label` every model's rows are the one-hot of the plain run's argmax (the same
 * seeds train the same models), phi and p_y come from the released rows, and the arrays
 * say they are released. */
static void test_release_label(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(400, 7);
    mla_mia_inputs in = {.data = ds};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_SPLIT4, 2);
    mla_mia_collected *plain, *rel;
    assert_int_equal(mla_mia_collect(&in, &cfg, &plain), MLA_OK);
    mla_release label;
    assert_int_equal(mla_release_parse("label", 3, &label), MLA_OK);
    cfg.release = &label;
    assert_int_equal(mla_mia_collect(&in, &cfg, &rel), MLA_OK);
    const mla_mia_arrays *a = &rel->arrays, *b = &plain->arrays;
    assert_true(a->released);
    assert_false(b->released);
    for (int64_t r = 0; r < (int64_t)(a->k + 1) * a->m; r++) {
        bool target = r < a->m;
        const float *got = target ? a->target_probs + r * 3 : a->shadow_probs + (r - a->m) * 3;
        const float *soft = target ? b->target_probs + r * 3 : b->shadow_probs + (r - b->m) * 3;
        for (int j = 0; j < 3; j++) assert_true(got[j] == (j == argmax3(soft) ? 1.0f : 0.0f));
        double phi = target ? a->target_phi[r] : a->shadow_phi[r - a->m];
        double py = target ? a->target_py[r] : a->shadow_py[r - a->m];
        int y = a->labels[r % a->m];
        assert_true(phi == mla_mia_phi_from_probs(got, 3, y));
        assert_true(py == exp(mla_mia_logpy_from_probs(got, 3, y)));
    }
    /* the attacks accept the released arrays; confidence sees 1 everywhere */
    mla_mia_config mc = mla_mia_defaults();
    mc.attacks = "loss,confidence";
    mla_mia_result *res;
    assert_int_equal(mla_mia_attack_arrays(a, &mc, &res), MLA_OK);
    assert_true(mla_mia_result_find(res, "confidence")->summary.auc == 0.5);
    mla_mia_result_free(res);
    mla_mia_collected_free(plain);
    mla_mia_collected_free(rel);
    mla_dataset_free(ds);
}

/* noise draws per model and per sample from the seeds: the same run gives the same bits. */
static void test_release_noise_reproducible(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(200, 8);
    mla_mia_inputs in = {.data = ds};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_SPLIT4, 2);
    mla_release noise;
    assert_int_equal(mla_release_parse("noise:1", 3, &noise), MLA_OK);
    cfg.release = &noise;
    mla_mia_collected *one, *two;
    assert_int_equal(mla_mia_collect(&in, &cfg, &one), MLA_OK);
    assert_int_equal(mla_mia_collect(&in, &cfg, &two), MLA_OK);
    size_t rows = (size_t)one->arrays.m;
    assert_memory_equal(one->arrays.target_probs, two->arrays.target_probs, rows * 3 * sizeof(float));
    assert_memory_equal(one->arrays.shadow_probs, two->arrays.shadow_probs, 2 * rows * 3 * sizeof(float));
    check_probs(&one->arrays); /* noisy softmax rows still sum to 1 */
    mla_mia_collected_free(one);
    mla_mia_collected_free(two);
    /* topk:K beyond the data's classes is refused before any training */
    mla_release top = {.kind = MLA_RELEASE_TOPK, .k = 4, .renormalise = true, .text = "topk:4"};
    cfg.release = &top;
    assert_int_equal(mla_mia_collect(&in, &cfg, &one), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "--release topk:4: K must be 1..3"));
    mla_dataset_free(ds);
}

/* Released rows need not sum to 1: refused as softmax rows, accepted as released ones,
 * and the flag survives a save and a load. */
static void test_released_arrays_round_trip(void **state) {
    (void)state;
    const float probs[6] = {1, 1, 0, 0, 0, 0.5f}; /* round:0 of (0.5, 0.5), of (0.3, 0.3, 0.4)... */
    int32_t labels[2] = {0, 2};
    int8_t truth[2] = {1, 0};
    mla_mia_arrays a = {.m = 2, .k = 0, .classes = 3, .target_probs = probs, .labels = labels, .truth = truth};
    char dir[] = "/tmp/mla_release_XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(mla_mia_arrays_save(dir, &a), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "softmax rows must sum to 1"));
    a.released = true;
    assert_int_equal(mla_mia_arrays_save(dir, &a), MLA_OK);
    mla_mia_loaded *l;
    assert_int_equal(mla_mia_arrays_load(dir, &l), MLA_OK);
    assert_true(l->arrays.released);
    assert_memory_equal(l->arrays.target_probs, probs, sizeof probs);
    mla_mia_loaded_free(l);
    const float over[6] = {1.5f, 0, 0, 0, 0, 1}; /* entries above 1 are refused even so */
    a.target_probs = over;
    assert_int_equal(mla_mia_arrays_save(dir, &a), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "released probabilities must be finite and in [0, 1]"));
    a.target_probs = probs, a.released = false;
    const float soft[6] = {0.5f, 0.5f, 0, 0.25f, 0.25f, 0.5f};
    a.target_probs = soft;
    assert_int_equal(mla_mia_arrays_save(dir, &a), MLA_OK); /* released.npy rewritten as 0 */
    assert_int_equal(mla_mia_arrays_load(dir, &l), MLA_OK);
    assert_false(l->arrays.released);
    mla_mia_loaded_free(l);
    const char *names[] = {"target_probs", "labels", "target_in", "released"};
    char path[128];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s.npy", dir, names[i]);
        assert_int_equal(remove(path), 0);
    }
    assert_int_equal(rmdir(dir), 0);
}

/* ---- shadows over ranks (mla_mia_audit_config.transport) ---- */

/* A trainer that leaves out every 7th sample of every model (so the rows sent carry
 * shadow_in changes) and fails for model fail_model. */
static int fail_model = -1;
static mla_status gappy_train(void *user, int model, mla_net *net, const mla_dataset *ds, const int32_t *idx, int n,
                              const mla_train_config *tc, uint8_t *trained, mla_train_stats *st) {
    (void)user;
    if (model == fail_model) return mla_error(MLA_ERR_INVALID, "model %d refuses to train", model);
    int32_t *kept = malloc((size_t)n * sizeof *kept);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (i % 7 == 3) trained[i] = 0;
        else kept[k++] = idx[i];
    mla_status s = mla_train(net, ds, kept, k, tc, st);
    free(kept);
    return s;
}

typedef struct {
    const mla_mia_inputs *in;
    mla_mia_audit_config cfg;
    mla_transport t;
    mla_mia_collected *out;
    mla_status status;
    char message[512];
} rank_job;

static void *run_rank(void *arg) {
    rank_job *j = arg;
    j->cfg.transport = &j->t;
    j->status = mla_mia_collect(j->in, &j->cfg, &j->out);
    snprintf(j->message, sizeof j->message, "%s", j->status ? mla_last_error() : "");
    return NULL;
}

/* Runs cfg on `size` ranks; jobs[r] holds rank r's outcome. */
static void run_ranks(const mla_mia_inputs *in, const mla_mia_audit_config *cfg, int size, rank_job *jobs) {
    mem_box *box = mem_box_create(size);
    assert_non_null(box);
    pthread_t th[MEM_MAX_RANKS];
    for (int r = 0; r < size; r++) {
        jobs[r] = (rank_job){.in = in, .cfg = *cfg, .t = mem_box_endpoint(box, r)};
        assert_int_equal(pthread_create(&th[r], NULL, run_rank, &jobs[r]), 0);
    }
    for (int r = 0; r < size; r++) pthread_join(th[r], NULL);
    if (!jobs[0].status) assert_true(mem_box_empty(box)); /* every row sent was read */
    mem_box_free(box);
}

static void assert_same_arrays(const mla_mia_arrays *a, const mla_mia_arrays *b) {
    assert_int_equal(a->m, b->m);
    assert_int_equal(a->k, b->k);
    size_t m = (size_t)a->m, km = (size_t)a->k * m, c = (size_t)a->classes;
    assert_memory_equal(a->target_probs, b->target_probs, m * c * sizeof(float));
    assert_memory_equal(a->shadow_probs, b->shadow_probs, km * c * sizeof(float));
    assert_memory_equal(a->target_phi, b->target_phi, m * sizeof(double));
    assert_memory_equal(a->shadow_phi, b->shadow_phi, km * sizeof(double));
    assert_memory_equal(a->target_py, b->target_py, m * sizeof(double));
    assert_memory_equal(a->shadow_py, b->shadow_py, km * sizeof(double));
    assert_memory_equal(a->shadow_in, b->shadow_in, km);
    assert_memory_equal(a->fit, b->fit, km);
    assert_memory_equal(a->truth, b->truth, m);
    assert_memory_equal(a->labels, b->labels, m * sizeof(int32_t));
    assert_int_equal(a->n_aug, b->n_aug);
    assert_memory_equal(a->target_aug, b->target_aug, m * sizeof(int32_t));
    assert_memory_equal(a->shadow_aug, b->shadow_aug, km * sizeof(int32_t));
}

static void test_ranks_match_one_process(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(360, 8);
    mla_mia_inputs in = {.data = ds};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_SPLIT4, 5);
    cfg.aug_radius = 1;
    cfg.train_model = gappy_train;
    int threads = mla_get_threads();
    mla_set_threads(1); /* ranks share this process's thread setting: one thread throughout */
    mla_mia_collected *one;
    assert_int_equal(mla_mia_collect(&in, &cfg, &one), MLA_OK);
    int left_out = 0;
    for (size_t i = 0; i < (size_t)one->arrays.k * one->arrays.m; i++) left_out += one->arrays.shadow_in[i] == 0;
    assert_true(left_out > 0);
    for (int size = 2; size <= 3; size++) {
        rank_job jobs[MEM_MAX_RANKS];
        run_ranks(&in, &cfg, size, jobs);
        for (int r = 0; r < size; r++) {
            if (jobs[r].status) fail_msg("rank %d of %d: %s", r, size, jobs[r].message);
            assert_true(r == 0 ? jobs[r].out != NULL : jobs[r].out == NULL); /* rank 0 alone collects */
        }
        assert_same_arrays(&one->arrays, &jobs[0].out->arrays);
        assert_int_equal(jobs[0].out->target_train_size, one->target_train_size);
        mla_mia_collected_free(jobs[0].out);
    }
    mla_set_threads(threads);
    mla_mia_collected_free(one);
    mla_dataset_free(ds);
}

static void test_rank_failure_reaches_rank_0(void **state) {
    (void)state;
    mla_dataset *ds = tiny_data(200, 9);
    mla_mia_inputs in = {.data = ds};
    mla_mia_audit_config cfg = tiny_config(MLA_MIA_SPLIT4, 3);
    cfg.train_model = gappy_train;
    fail_model = 2; /* shadow 1: rank 1's */
    rank_job jobs[2];
    run_ranks(&in, &cfg, 2, jobs);
    fail_model = -1;
    assert_int_equal(jobs[0].status, MLA_ERR_INVALID);
    assert_null(jobs[0].out);
    assert_non_null(strstr(jobs[0].message, "rank 1: shadow 1: model 2 refuses to train"));
    assert_int_equal(jobs[1].status, MLA_ERR_INVALID);
    assert_non_null(strstr(jobs[1].message, "shadow 1: model 2 refuses"));
    /* Keeping shadows writes files: one process only. */
    mem_box *box = mem_box_create(2);
    mla_transport t = mem_box_endpoint(box, 0);
    cfg.transport = &t;
    cfg.keep_dir = "/tmp";
    mla_mia_collected *col;
    assert_int_equal(mla_mia_collect(&in, &cfg, &col), MLA_ERR_UNSUPPORTED);
    assert_non_null(strstr(mla_last_error(), "one process"));
    mem_box_free(box);
    mla_dataset_free(ds);
}

int main(void) {
    mla_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split4_layout),
        cmocka_unit_test(test_shadows_protocol_samples_own_datasets),
        cmocka_unit_test(test_lira_online_balanced),
        cmocka_unit_test(test_early_stopping_validation_outside_the_audit),
        cmocka_unit_test(test_parallel_matches_one_thread),
        cmocka_unit_test(test_own_target_balanced_and_checked),
        cmocka_unit_test(test_bad_configs_refused),
        cmocka_unit_test(test_release_label),
        cmocka_unit_test(test_release_noise_reproducible),
        cmocka_unit_test(test_released_arrays_round_trip),
        cmocka_unit_test(test_ranks_match_one_process),
        cmocka_unit_test(test_rank_failure_reaches_rank_0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
