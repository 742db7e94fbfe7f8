/* mlaudit fl: federated averaging from the command line, in one process or over MPI
 * (mpirun -np P mlaudit fl ... --backend mpi). The library (fl.h) does the work; this
 * file parses, loads, partitions, reports and saves. Under MPI only rank 0 prints and
 * writes; an error on any rank ends the whole job. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fl_report.h"
#include "mlaudit/dpsgd.h"
#include "mlaudit/fl.h"
#include "train_flags.h"
#include "train_report.h"

enum { FL_GROUPS = TRAIN_FLAGS_SUBSET | TRAIN_FLAGS_DP };

typedef struct {
    train_flags f;
    const char *data, *partition, *weighting, *backend, *out, *plots, *checkpoint, *resume;
    long clients, rounds, local_epochs, min_clients;
    double fraction, drop_prob;
    bool json, compare_central, keep_client_state;
    mla_transport mpi;    /* size 0: local backend */
    train_dp dp;             /* the DP plan per client (dp.dp stays NULL) */
} fl_args;

static const char *fl_usage(void) {
    static const char head[] =
        "usage: mlaudit fl --data DATA --model NAME|SPEC.json --clients N --rounds R --local-epochs E [flags]\n"
        "       mpirun -np P mlaudit fl ... --backend mpi\n"
        "\n"
        "Federated averaging (FedAvg, McMahan et al. 2017): DATA's training images are split\n"
        "into N clients; every round a fraction F of them (at least one) trains E local epochs\n"
        "from the global model with the training flags below, and the global model becomes the\n"
        "average of their parameters (and batch-norm statistics), weighted by sample count.\n"
        "Each client's optimizer state is fresh every round unless --keep-client-state. Same\n"
        "seed: the same bits for any --threads and any number of MPI ranks.\n"
        "\n"
        "  --data DATA         mnist | fashion-mnist | cifar10:DIR | cifar100:DIR | npy:DIR | DIR of IDX files\n"
        "  --clients N         clients (at most one per training image)\n"
        "  --rounds R          communication rounds\n"
        "  --local-epochs E    local epochs per round (default 1); the central baseline is E x R epochs\n"
        "  --fraction F        clients taken per round: max(1, floor(F N)), F in (0, 1] (default 1)\n"
        "  --partition P       iid (equal disjoint parts) | dirichlet:ALPHA (label skew, Hsu et al.\n"
        "                      2019; ALPHA > 0, small = skewed) | shards:S (S label-sorted shards per\n"
        "                      client, McMahan et al.) (default iid)\n"
        "  --weighting W       samples | uniform: the average's client weights (default samples)\n"
        "  --drop-prob P       a taken client fails before reporting with probability P, in [0, 1)\n"
        "  --min-clients K     a round needs K reports, else it is retried (default 1)\n"
        "  --keep-client-state each client's optimizer state carries over to its next round\n"
        "                      (memory for N optimizer states; --backend local only)\n"
        "  --backend B         local | mpi (run under mpirun: clients dealt to ranks, rank 0 averages)\n"
        "  --compare-central   also train the central baseline (E x R epochs on the clients' pooled\n"
        "                      data, same flags) and report both\n"
        "  --checkpoint PATH   write the global model and history after every round (atomically)\n"
        "  --resume PATH       continue from such a checkpoint (same flags; --rounds may grow; any\n"
        "                      number of ranks)\n"
        "  --out FILE          save the global model (.safetensors, as 'mlaudit train' does)\n"
        "  --plots DIR         history.csv, fl_curve.png, fl_loss.png and label_hist.png\n"
        "  --json              one JSON line per round, then one JSON object with the results\n"
        "\n"
        "Local training (every client; --epochs does not apply: use --local-epochs and --rounds;\n"
        "with DP-SGD each client clips and adds noise to its own updates):\n";
    static char *text;
    if (text) return text;
    const char *mid = train_flags_usage(FL_GROUPS);
    size_t len = strlen(head) + strlen(mid) + 1;
    if (!(text = malloc(len))) cli_die("out of memory");
    snprintf(text, len, "%s%s", head, mid);
    return text;
}

static void parse_fl(fl_args *a, int argc, char **argv) {
    *a = (fl_args){.partition = "iid", .weighting = "samples", .backend = "local", .local_epochs = 1,
                   .min_clients = 1, .fraction = 1};
    train_flags_init(&a->f);
    bool clients_seen = false, rounds_seen = false;
    cli_opt opts[TRAIN_FLAGS_MAX_OPTS + 20] = {
        {"data", CLI_STR, &a->data, 0, 0, NULL},
        {"clients", CLI_INT, &a->clients, -1e9, 1e9, &clients_seen},
        {"rounds", CLI_INT, &a->rounds, 1, 1e6, &rounds_seen},
        {"local-epochs", CLI_INT, &a->local_epochs, 1, 1e6, NULL},
        {"fraction", CLI_DOUBLE, &a->fraction, -1e300, 1e300, NULL},
        {"partition", CLI_STR, &a->partition, 0, 0, NULL},
        {"weighting", CLI_STR, &a->weighting, 0, 0, NULL},
        {"drop-prob", CLI_DOUBLE, &a->drop_prob, -1e300, 1e300, NULL},
        {"min-clients", CLI_INT, &a->min_clients, -1e9, 1e9, NULL},
        {"backend", CLI_STR, &a->backend, 0, 0, NULL},
        {"compare-central", CLI_FLAG, &a->compare_central, 0, 0, NULL},
        {"checkpoint", CLI_STR, &a->checkpoint, 0, 0, NULL},
        {"resume", CLI_STR, &a->resume, 0, 0, NULL},
        {"out", CLI_STR, &a->out, 0, 0, NULL},
        {"plots", CLI_STR, &a->plots, 0, 0, NULL},
        {"json", CLI_FLAG, &a->json, 0, 0, NULL},
        {"keep-client-state", CLI_FLAG, &a->keep_client_state, 0, 0, NULL},
    };
    int n = 17;
    n += train_flags_opts(&a->f, FL_GROUPS, opts + n);
    cli_parse("fl", fl_usage(), argc, argv, opts, n);
    if (!a->data) cli_die("fl: --data is required (see 'mlaudit fl --help')");
    train_flags_check("fl", &a->f);
    if (!clients_seen || !rounds_seen) cli_die("fl: --clients and --rounds are required (see 'mlaudit fl --help')");
    if (a->clients < 1) cli_die("fl: --clients must be at least 1, got %ld", a->clients);
    if (a->f.epochs_seen) cli_die("fl: --epochs does not apply; use --local-epochs E and --rounds R");
    if (!(a->fraction > 0 && a->fraction <= 1)) cli_die("fl: --fraction must be in (0, 1], got %g", a->fraction);
    if (!(a->drop_prob >= 0 && a->drop_prob < 1)) cli_die("fl: --drop-prob must be in [0, 1), got %g", a->drop_prob);
    int m = mla_fl_clients_per_round((int)a->clients, a->fraction);
    if (a->min_clients < 1 || a->min_clients > m)
        cli_die("fl: --min-clients must be in [1, %d] (the clients taken per round: --fraction %g of %ld), got %ld",
                m, a->fraction, a->clients, a->min_clients);
    if (strcmp(a->weighting, "samples") && strcmp(a->weighting, "uniform"))
        cli_die("fl: --weighting must be samples or uniform, got '%s'", a->weighting);
    mla_fl_partition p;
    if (mla_fl_partition_parse(a->partition, &p)) cli_die("fl: --partition: %s", mla_last_error());
    if (strcmp(a->backend, "local") && strcmp(a->backend, "mpi"))
        cli_die("fl: --backend must be local or mpi, got '%s'", a->backend);
    if (!strcmp(a->backend, "mpi") && a->keep_client_state)
        cli_die("fl: --keep-client-state needs --backend local (clients move between ranks from round to round)");
    if (!strcmp(a->backend, "mpi") && !mla_mpi_built())
        cli_die("fl: --backend mpi: this build has no MPI support (install openmpi-bin and libopenmpi-dev, "
                "e.g. scripts/deps.sh mpi, and rebuild)");
    if (!strcmp(a->backend, "mpi") && !mla_mpi_launched())
        cli_die("fl: --backend mpi must be started by mpirun: mpirun -np P mlaudit fl ... --backend mpi");
}

/* ---- DP-SGD per client ---- */

static mla_status dp_create(void *user, const mla_net *net, int n, uint64_t seed, void **state,
                            const mla_train_hook **hook) {
    const fl_args *a = user;
    mla_dpsgd_config dc = {a->dp.clip, a->dp.sigma, a->dp.sampling, (int)a->f.batch, seed};
    mla_dpsgd *dp;
    mla_status s = mla_dpsgd_create(&dc, net, n, &dp);
    if (s) return s;
    *state = dp;
    *hook = mla_dpsgd_hook(dp);
    return MLA_OK;
}

static void dp_destroy(void *user, void *state) {
    (void)user;
    mla_dpsgd_free(state);
}

/* ---- the run ---- */

static mla_status on_round(void *user, const mla_fl_round_stats *st, const int32_t *reported, mla_net *global) {
    (void)global;
    const fl_args *a = user;
    if (!a->json) {
        fl_round_print(st);
        return MLA_OK;
    }
    cJSON *o = fl_round_json(st, reported);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) return mla_error(MLA_ERR_NOMEM, "out of memory formatting JSON");
    puts(text);
    fflush(stdout);
    free(text);
    return MLA_OK;
}

static mla_dataset *load_split(const char *spec, mla_split split) {
    mla_dataset *ds;
    cli_check(mla_dataset_load(spec, split, &ds));
    return ds;
}

/* Dies; under MPI after the message, every rank of the job ends too. */
static _Noreturn void fl_fail(const fl_args *a, mla_status s) {
    if (s == MLA_ERR_INTERRUPTED && a->checkpoint)
        fprintf(stderr, "mlaudit: training interrupted; the last checkpoint %s is intact: continue with --resume %s\n",
                a->checkpoint, a->checkpoint);
    else if (a->mpi.size > 1)
        fprintf(stderr, "mlaudit: rank %d: %s\n", a->mpi.rank, mla_last_error());
    else
        fprintf(stderr, "mlaudit: %s\n", mla_last_error());
    if (a->mpi.size) mla_mpi_abort(1);
    exit(1);
}

/* The union of the clients' indices (the members of the federation), client after client. */
static const int32_t *pooled(const mla_fl_clients *c) { return mla_fl_client_indices(c, 0); }

/* The central baseline's data: the clients' union in the order of the training pool
 * (pool NULL: 0..n_pool-1), so that when the clients cover the pool the baseline is
 * exactly `mlaudit train` with the same flags and E x R epochs. Caller frees. */
static int32_t *central_indices(const int32_t *pool, int n_pool, const mla_fl_clients *c, int dataset_n) {
    uint8_t *member = calloc((size_t)dataset_n, 1);
    int32_t *out = malloc((size_t)mla_fl_clients_total(c) * sizeof *out);
    if (!member || !out) cli_die("out of memory");
    for (int i = 0; i < mla_fl_clients_total(c); i++) member[pooled(c)[i]] = 1;
    int n = 0;
    for (int i = 0; i < n_pool; i++)
        if (member[pool ? pool[i] : i]) out[n++] = pool ? pool[i] : i;
    free(member);
    return out;
}

typedef struct {
    double test_accuracy, test_loss, train_accuracy, seconds;
} central_result;

static central_result run_central(fl_args *a, const mla_dataset *tr, const mla_dataset *te, const int32_t *pool,
                                  int n_pool, const mla_fl_clients *c, const mla_train_config *local) {
    mla_train_config cfg = *local;
    cfg.epochs = (int)(a->local_epochs * a->rounds);
    cfg.seed = (uint64_t)a->f.seed;
    cfg.stop = cli_stop_flag();
    mla_net *net = train_flags_build_net("fl", &a->f, NULL, tr, (uint64_t)a->f.seed);
    int n = mla_fl_clients_total(c);
    train_flags f = a->f; /* the central run's DP plan: E x R epochs on the pooled data */
    f.epochs = cfg.epochs;
    train_dp dp;
    train_flags_dp("fl", &f, net, n, &cfg, &dp);
    int32_t *idx = central_indices(pool, n_pool, c, mla_dataset_count(tr));
    mla_train_stats st;
    cli_check(mla_train(net, tr, idx, n, &cfg, &st));
    mla_eval_result etr, ete;
    cli_check(mla_evaluate(net, tr, idx, n, 500, &etr, NULL, NULL));
    free(idx);
    cli_check(mla_evaluate(net, te, NULL, mla_dataset_count(te), 500, &ete, NULL, NULL));
    train_dp_free(&dp);
    mla_net_free(net);
    return (central_result){ete.accuracy, ete.loss, etr.accuracy, st.train_seconds};
}

static void save_global(const fl_args *a, const mla_net *net, const mla_dataset *tr) {
    train_flags f = a->f;
    f.epochs = a->local_epochs * a->rounds; /* the central equivalent */
    f.epochs_seen = true;
    char *training = train_flags_to_json(&f, mla_dataset_name(tr));
    cJSON *fed = cJSON_CreateObject();
    if (!training || !fed) cli_die("out of memory");
    cJSON_AddNumberToObject(fed, "clients", (double)a->clients);
    cJSON_AddNumberToObject(fed, "rounds", (double)a->rounds);
    cJSON_AddNumberToObject(fed, "local_epochs", (double)a->local_epochs);
    cJSON_AddNumberToObject(fed, "fraction", a->fraction);
    cJSON_AddStringToObject(fed, "partition", a->partition);
    cJSON_AddStringToObject(fed, "weighting", a->weighting);
    cJSON_AddNumberToObject(fed, "drop_prob", a->drop_prob);
    cJSON_AddNumberToObject(fed, "min_clients", (double)a->min_clients);
    cJSON_AddBoolToObject(fed, "keep_client_state", a->keep_client_state);
    char *fed_text = cJSON_PrintUnformatted(fed);
    cJSON_Delete(fed);
    if (!fed_text) cli_die("out of memory");
    mla_meta meta[] = {{"dataset", mla_dataset_name(tr)}, {"mlaudit.training", training},
                       {"mlaudit.federated", fed_text}};
    mla_status s = mla_net_save(net, a->out, meta, 3);
    free(training);
    free(fed_text);
    cli_check(s);
}

typedef struct {
    const mla_fl_clients *clients;
    const mla_dataset *tr, *te;
    const mla_fl_result *res;
    int64_t *hist;
    mla_eval_result etr, ete;
    const central_result *central;
    double dp_epsilon_steps;
} fl_outcome;

static void report(const fl_args *a, const mla_net *net, const fl_outcome *o) {
    int k = mla_net_classes(net), n = mla_fl_clients_total(o->clients);
    if (!a->json) {
        printf("federated %s on %s: %ld clients (%s), %d rounds x %ld local epochs, %d pooled images, %.2f s\n",
               mla_net_name(net), mla_dataset_name(o->tr), a->clients, a->partition, o->res->rounds_run,
               a->local_epochs, n, o->res->seconds);
        printf("global model: train accuracy %.4f loss %.4f | test accuracy %.4f loss %.4f | gap %.4f\n",
               o->etr.accuracy, o->etr.loss, o->ete.accuracy, o->ete.loss, o->etr.accuracy - o->ete.accuracy);
        if (o->central)
            printf("central baseline (%ld epochs): train accuracy %.4f | test accuracy %.4f loss %.4f, %.2f s\n",
                   a->local_epochs * a->rounds, o->central->train_accuracy, o->central->test_accuracy,
                   o->central->test_loss, o->central->seconds);
        if (a->dp.sigma > 0 || train_flags_dp_on(&a->f))
            printf("DP-SGD per client: epsilon %.4g at delta %g for a client in every round (%.0f steps)\n",
                   train_dp_epsilon(&a->dp, (long)o->dp_epsilon_steps), a->dp.delta, o->dp_epsilon_steps);
        if (a->out) printf("saved %s\n", a->out);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", mla_net_name(net));
    cJSON_AddStringToObject(j, "dataset", mla_dataset_name(o->tr));
    cJSON_AddNumberToObject(j, "clients", (double)a->clients);
    cJSON_AddNumberToObject(j, "rounds", o->res->rounds_run);
    cJSON_AddNumberToObject(j, "local_epochs", (double)a->local_epochs);
    cJSON_AddNumberToObject(j, "fraction", a->fraction);
    cJSON_AddNumberToObject(j, "clients_per_round", mla_fl_clients_per_round((int)a->clients, a->fraction));
    cJSON_AddStringToObject(j, "partition", a->partition);
    cJSON_AddStringToObject(j, "weighting", a->weighting);
    cJSON_AddNumberToObject(j, "drop_prob", a->drop_prob);
    cJSON_AddNumberToObject(j, "min_clients", (double)a->min_clients);
    cJSON_AddBoolToObject(j, "keep_client_state", a->keep_client_state);
    cJSON_AddNumberToObject(j, "seed", (double)a->f.seed);
    cJSON_AddStringToObject(j, "backend", a->backend);
    cJSON_AddNumberToObject(j, "ranks", a->mpi.size ? a->mpi.size : 1);
    cJSON_AddNumberToObject(j, "threads", mla_get_threads());
    cJSON_AddNumberToObject(j, "resumed_from", o->res->resumed_from);
    cJSON_AddNumberToObject(j, "train_size", n);
    cJSON_AddNumberToObject(j, "test_size", (double)o->ete.n);
    cJSON_AddNumberToObject(j, "seconds", o->res->seconds);
    cJSON_AddNumberToObject(j, "samples", (double)o->res->samples);
    cJSON_AddNumberToObject(j, "train_accuracy", o->etr.accuracy);
    cJSON_AddNumberToObject(j, "train_loss", o->etr.loss);
    cJSON_AddNumberToObject(j, "test_accuracy", o->ete.accuracy);
    cJSON_AddNumberToObject(j, "test_loss", o->ete.loss);
    cJSON_AddNumberToObject(j, "gap_accuracy", o->etr.accuracy - o->ete.accuracy);
    cJSON *sizes = cJSON_AddArrayToObject(j, "client_sizes");
    for (int c = 0; c < (int)a->clients; c++)
        cJSON_AddItemToArray(sizes, cJSON_CreateNumber(mla_fl_client_size(o->clients, c)));
    cJSON_AddItemToObject(j, "label_histogram", fl_histogram_json(o->hist, (int)a->clients, k));
    if (o->central) {
        cJSON *c = cJSON_AddObjectToObject(j, "central");
        cJSON_AddNumberToObject(c, "epochs", (double)(a->local_epochs * a->rounds));
        cJSON_AddNumberToObject(c, "train_accuracy", o->central->train_accuracy);
        cJSON_AddNumberToObject(c, "test_accuracy", o->central->test_accuracy);
        cJSON_AddNumberToObject(c, "test_loss", o->central->test_loss);
        cJSON_AddNumberToObject(c, "train_seconds", o->central->seconds);
    }
    if (train_flags_dp_on(&a->f))
        cJSON_AddItemToObject(j, "dp_per_client", train_dp_epsilon_json(&a->dp, (long)o->dp_epsilon_steps));
    if (a->out) cJSON_AddStringToObject(j, "out", a->out);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) cli_die("out of memory formatting JSON");
    puts(text);
    free(text);
}

static mla_fl_config fl_config(fl_args *a, const mla_dataset *te, const mla_fl_hook_factory *hook) {
    mla_fl_config cfg = mla_fl_defaults();
    cfg.rounds = (int)a->rounds;
    cfg.local_epochs = (int)a->local_epochs;
    cfg.fraction = a->fraction;
    cfg.weighting = strcmp(a->weighting, "uniform") ? MLA_FL_WEIGHT_SAMPLES : MLA_FL_WEIGHT_UNIFORM;
    cfg.drop_prob = a->drop_prob;
    cfg.min_clients = (int)a->min_clients;
    cfg.seed = (uint64_t)a->f.seed;
    cfg.threads = mla_get_threads();
    cfg.dropout = a->f.dropout_seen ? (float)a->f.dropout : -1;
    cfg.keep_client_state = a->keep_client_state;
    cfg.train = train_flags_config("fl", &a->f);
    cfg.train.stop = cli_stop_flag();
    cfg.hook = hook;
    cfg.test = te;
    cfg.on_round = on_round;
    cfg.user = a;
    cfg.checkpoint_path = a->checkpoint;
    cfg.resume_path = a->resume;
    return cfg;
}

/* Class names of the dataset for the histogram's columns (NULL when it has none). */
static const char **class_names(const mla_dataset *ds, int k) {
    const char **names = calloc((size_t)k, sizeof *names);
    if (!names) cli_die("out of memory");
    for (int c = 0; c < k; c++)
        if (!(names[c] = mla_dataset_class_name(ds, c))) {
            free(names);
            return NULL;
        }
    return names;
}

int cmd_fl(int argc, char **argv) {
    fl_args a;
    parse_fl(&a, argc, argv);
    mla_set_threads((int)a.f.threads);
    mla_dataset *tr = load_split(a.data, MLA_SPLIT_TRAIN), *te = load_split(a.data, MLA_SPLIT_TEST);
    int n_pool;
    int32_t *pool = train_flags_subset(&a.f, tr, &n_pool);
    mla_fl_partition p;
    cli_check(mla_fl_partition_parse(a.partition, &p));
    mla_fl_clients *clients;
    mla_status s = mla_fl_partition_make(&p, mla_dataset_labels(tr), mla_dataset_classes(tr), pool, n_pool,
                                         (int)a.clients, (uint64_t)a.f.seed, &clients);
    if (s) cli_die("fl: %s", mla_last_error());
    mla_net *global = train_flags_build_net("fl", &a.f, NULL, tr, (uint64_t)a.f.seed);
    cli_check(mla_check_compatible(global, te));
    /* DP-SGD: one plan for every client (all clients have the same size), E x R epochs
     * for a client taken every round. */
    train_flags fdp = a.f;
    fdp.epochs = a.local_epochs * a.rounds;
    int n_client = mla_fl_client_size(clients, 0);
    bool dp_on = train_flags_dp_plan("fl", &fdp, n_client, &a.dp);
    if (dp_on) cli_check(mla_dpsgd_check_net(global));
    a.f.dp_sigma = fdp.dp_sigma, a.f.dp_delta = fdp.dp_delta, a.f.dp_clip = fdp.dp_clip;
    char dp_id[160];
    snprintf(dp_id, sizeof dp_id, "dpsgd:clip=%.9g,sigma=%.9g,%s", a.dp.clip, a.dp.sigma,
             mla_dpsgd_sampling_name(a.dp.sampling));
    mla_fl_hook_factory hook = {&a, dp_create, dp_destroy, dp_id};
    mla_fl_config cfg = fl_config(&a, te, dp_on ? &hook : NULL);
    if (a.plots) make_dir(a.plots);
    if (!strcmp(a.backend, "mpi")) {
        s = mla_mpi_open(NULL, NULL, "fl", &a.mpi);
        if (s) cli_die("fl: %s", mla_last_error());
        cfg.transport = &a.mpi;
    }
    bool root = a.mpi.rank == 0;
    if (!root) a.json = false, cfg.on_round = NULL;
    mla_fl_result res;
    s = mla_fl_run(global, tr, clients, &cfg, &res);
    if (s) fl_fail(&a, s);
    /* The final model's figures: every rank evaluates its share of the batches. */
    fl_outcome o = {.clients = clients, .tr = tr, .te = te, .res = &res};
    const mla_transport *t = a.mpi.size ? &a.mpi : NULL;
    s = mla_fl_evaluate(global, tr, pooled(clients), mla_fl_clients_total(clients), 500, t, &o.etr);
    /* The test figures: the last round's evaluation of this same model (batch 500, the
     * same bits), or, when no round has run, a new one. */
    if (!s && res.rounds_run > 0)
        o.ete = (mla_eval_result){.n = mla_dataset_count(te),
                                  .accuracy = root ? res.history[res.rounds_run - 1].test_accuracy : 0,
                                  .loss = root ? res.history[res.rounds_run - 1].test_loss : 0};
    else if (!s)
        s = mla_fl_evaluate(global, te, NULL, mla_dataset_count(te), 500, t, &o.ete);
    if (s) fl_fail(&a, s);
    if (root) {
        o.dp_epsilon_steps = (double)a.local_epochs * a.rounds * ((n_client + a.f.batch - 1) / a.f.batch);
        int k = mla_net_classes(global);
        o.hist = malloc((size_t)a.clients * k * sizeof *o.hist);
        if (!o.hist) cli_die("out of memory");
        mla_fl_label_histogram(clients, mla_dataset_labels(tr), k, o.hist);
        central_result central;
        if (a.compare_central) {
            central = run_central(&a, tr, te, pool, n_pool, clients, &cfg.train);
            o.central = &central;
        }
        if (a.out) save_global(&a, global, tr);
        if (a.plots) {
            const char **names = class_names(tr, k);
            fl_write_plots(a.plots, res.history, res.rounds_run, o.central ? central.test_accuracy : NAN, o.hist,
                           (int)a.clients, k, names);
            free(names);
        }
        report(&a, global, &o);
        free(o.hist);
    }
    if (a.mpi.size) mla_mpi_close(&a.mpi);
    mla_fl_result_free(&res);
    mla_fl_clients_free(clients);
    mla_net_free(global);
    free(pool);
    mla_dataset_free(tr);
    mla_dataset_free(te);
    train_flags_free(&a.f);
    return 0;
}
