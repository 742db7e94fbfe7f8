/* Federated averaging: client choice and failures per round, local training with
 * mla_train on worker nets (clients side by side, one thread each), the average in
 * client-id order, and the exchange between ranks through an mla_transport.
 *
 * How the global model stays byte-identical to one process for any rank count: the
 * average is a double sum taken in client-id order (fl.h). Rank 0 receives each of
 * the other ranks' clients as its own message (a report header, then the client's
 * flat float vector) exactly when that client's turn in the sum comes, so it adds the
 * same numbers in the same order as --backend local; an MPI_Reduce of per-rank
 * partial sums would add them in another order (rank by rank) and change the last
 * bits. Clients are dealt round-robin over the round's reporting clients (position
 * p to rank p mod P), which keeps every rank busy and lets a rank's sends be
 * received while rank 0 trains its next client. The new model is broadcast from rank
 * 0 after every round. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "fl/fl_impl.h"

mla_fl_config mla_fl_defaults(void) {
    mla_fl_config c = {0};
    c.rounds = 10;
    c.local_epochs = 1;
    c.fraction = 1;
    c.weighting = MLA_FL_WEIGHT_SAMPLES;
    c.min_clients = 1;
    c.dropout = -1;
    c.train = mla_train_defaults();
    return c;
}

void mla_fl_result_free(mla_fl_result *r) {
    free(r->history);
    r->history = NULL;
}

int mla_fl_clients_per_round(int clients, double fraction) {
    long m = (long)floor(fraction * clients + 1e-9);
    return m < 1 ? 1 : m > clients ? clients : (int)m;
}

/* fork(fork(fork(seed(seed), a), b), c) */
static mla_rng stream3(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    mla_rng root;
    mla_rng_seed(&root, seed);
    mla_rng x = mla_rng_fork(&root, a);
    x = mla_rng_fork(&x, b);
    return mla_rng_fork(&x, c);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

mla_status mla_fl_select(uint64_t seed, int round, int attempt, int clients, int m, double drop_prob, int32_t *taken,
                         uint8_t *dropped) {
    if (m < 1 || m > clients) return mla_error(MLA_ERR_INVALID, "cannot take %d of %d clients", m, clients);
    mla_rng r = stream3(seed, 2, (uint64_t)round, (uint64_t)attempt);
    int32_t *perm = mla_alloc((size_t)clients, sizeof *perm);
    if (!perm) return MLA_ERR_NOMEM;
    mla_rng_permutation(&r, perm, clients);
    memcpy(taken, perm, (size_t)m * sizeof *taken);
    free(perm);
    qsort(taken, (size_t)m, sizeof *taken, cmp_i32);
    for (int i = 0; i < m; i++) dropped[i] = mla_rng_uniform(&r) < drop_prob;
    return MLA_OK;
}

void mla_fl_client_streams(uint64_t seed, int round, int client, uint64_t *train_seed, mla_rng *net_rng) {
    mla_rng r = stream3(seed, 3, (uint64_t)round, (uint64_t)client);
    *train_seed = mla_rng_u64(&r);
    if (net_rng) {
        mla_rng t;
        mla_rng_seed(&t, *train_seed);
        *net_rng = mla_rng_fork(&t, 4);
    }
}

void mla_fl_accumulate(double *acc, const float *v, double w, size_t count) {
    for (size_t j = 0; j < count; j++) acc[j] += w * (double)v[j];
}

void mla_fl_finish(const double *acc, double total_weight, float *out, size_t count) {
    for (size_t j = 0; j < count; j++) out[j] = (float)(acc[j] / total_weight);
}

/* ---- configuration ---- */

static mla_status check_config(const mla_fl_config *cfg, int n_clients) {
    if (cfg->rounds < 1) return mla_error(MLA_ERR_INVALID, "rounds must be at least 1, got %d", cfg->rounds);
    if (cfg->local_epochs < 1)
        return mla_error(MLA_ERR_INVALID, "local epochs must be at least 1, got %d", cfg->local_epochs);
    if (!(cfg->fraction > 0 && cfg->fraction <= 1))
        return mla_error(MLA_ERR_INVALID, "the fraction of clients per round must be in (0, 1], got %g", cfg->fraction);
    if (!(cfg->drop_prob >= 0 && cfg->drop_prob < 1))
        return mla_error(MLA_ERR_INVALID, "the drop probability must be in [0, 1), got %g", cfg->drop_prob);
    if (cfg->weighting != MLA_FL_WEIGHT_SAMPLES && cfg->weighting != MLA_FL_WEIGHT_UNIFORM)
        return mla_error(MLA_ERR_INVALID, "unknown weighting %d", (int)cfg->weighting);
    int m = mla_fl_clients_per_round(n_clients, cfg->fraction);
    if (cfg->min_clients < 1 || cfg->min_clients > m)
        return mla_error(MLA_ERR_INVALID, "min clients must be in [1, %d] (the clients taken per round), got %d", m,
                         cfg->min_clients);
    if (cfg->max_attempts < 0) return mla_error(MLA_ERR_INVALID, "max attempts must not be negative");
    if (cfg->train.patience > 0 || cfg->train.n_val > 0)
        return mla_error(MLA_ERR_INVALID, "local training takes no validation set or early stopping");
    if (cfg->train.hook) return mla_error(MLA_ERR_INVALID, "local training hooks come from mla_fl_config.hook");
    if (cfg->train.optimizer) return mla_error(MLA_ERR_INVALID, "local optimizers are the run's own");
    const mla_transport *t = cfg->transport;
    if (t && (t->size < 1 || t->rank < 0 || t->rank >= t->size || !t->send || !t->recv || !t->bcast))
        return mla_error(MLA_ERR_INVALID, "malformed transport (rank %d of %d)", t->rank, t->size);
    if (t && t->size > 1 && cfg->keep_client_state)
        return mla_error(MLA_ERR_UNSUPPORTED, "keeping client optimizer state needs one process (clients move "
                                              "between ranks from round to round)");
    return MLA_OK;
}

/* ---- one client ---- */

/* Trains client `client` of round `round` on worker w from the global parameters;
 * fills its report. Runs on one thread (the caller's region). */
static mla_status train_client(fl_run *x, mla_net *w, mla_optimizer *opt, int round, int client, fl_report *rep) {
    const mla_fl_config *cfg = x->cfg;
    memcpy(mla_net_params(w), mla_net_params(x->global), x->count * sizeof(float));
    uint64_t seed;
    mla_fl_client_streams(cfg->seed, round, client, &seed, mla_net_rng(w));
    mla_train_config tc = fl_local_config(cfg);
    tc.seed = seed;
    float *kept = x->client_opt ? x->client_opt + (size_t)client * x->opt_size : NULL;
    if (kept) { /* the client's optimizer state from its last round (all zeros: fresh) */
        memcpy(mla_optimizer_state(opt), kept, x->opt_size * sizeof(float));
        mla_optimizer_set_steps(opt, (long)x->client_steps[client]);
        tc.optimizer = opt;
    }
    int n = mla_fl_client_size(x->clients, client);
    void *hook_state = NULL;
    mla_status s = MLA_OK;
    if (cfg->hook) s = cfg->hook->create(cfg->hook->user, w, n, seed, &hook_state, &tc.hook);
    mla_train_stats st;
    if (!s) s = mla_train(w, x->train, mla_fl_client_indices(x->clients, client), n, &tc, &st);
    if (cfg->hook && hook_state) cfg->hook->destroy(cfg->hook->user, hook_state);
    if (s) return s == MLA_ERR_INTERRUPTED ? s : mla_error_prefix(s, "round %d, client %d", round + 1, client);
    if (kept) {
        memcpy(kept, mla_optimizer_state(opt), x->opt_size * sizeof(float));
        x->client_steps[client] = mla_optimizer_steps(opt);
    }
#pragma omp atomic
    x->own_samples += (long)n * cfg->local_epochs;
    *rep = (fl_report){.client = client, .n = n, .loss = st.last_epoch_loss,
                       .weight = cfg->weighting == MLA_FL_WEIGHT_SAMPLES ? (double)n : 1.0};
    return MLA_OK;
}

/* ---- the sum in client order (rank 0) and the messages (other ranks) ---- */

static void add_report(fl_run *x, const fl_report *rep, const float *v) {
    mla_fl_accumulate(x->acc, v, rep->weight, x->count);
    x->total_weight += rep->weight;
    x->loss_sum += rep->loss * rep->n;
    x->samples += rep->n;
}

/* Rank 0: receives position x->next (another rank's client) and adds it. */
static mla_status recv_next(fl_run *x) {
    const mla_transport *t = x->cfg->transport;
    int from = x->next % t->size;
    fl_report rep;
    mla_status s = t->recv(t->user, &rep, sizeof rep, from);
    if (!s) s = t->recv(t->user, x->recv, x->count * sizeof(float), from);
    if (s) return s;
    if (rep.client != x->survivors[x->next])
        return mla_error(MLA_ERR_FORMAT, "rank %d sent client %d where client %d was due", from, (int)rep.client,
                         (int)x->survivors[x->next]);
    add_report(x, &rep, x->recv);
    x->next++;
    return MLA_OK;
}

/* Position p's result (this rank's client, trained on w) goes into the sum: rank 0
 * first adds every earlier position, then its own, then the other ranks' positions
 * up to its next own one (so their senders are freed before it trains again);
 * another rank sends it to rank 0. Called in position order. */
static mla_status deliver(fl_run *x, int p, const fl_report *rep, const mla_net *w) {
    const mla_transport *t = x->cfg->transport;
    const float *v = mla_net_params((mla_net *)w);
    if (x->rank != 0) {
        mla_status s = t->send(t->user, rep, sizeof *rep, 0);
        return s ? s : t->send(t->user, v, x->count * sizeof(float), 0);
    }
    mla_status s = MLA_OK;
    while (!s && x->next < p) s = recv_next(x);
    if (s) return s;
    add_report(x, rep, v);
    x->next = p + 1;
    while (!s && x->next < x->n_surv && x->next % x->size != 0) s = recv_next(x);
    return s;
}

/* Keeps the first error and its (thread-local) message. */
static void record_error(fl_run *x, mla_status s) {
#pragma omp critical(fl_error)
    if (!x->err) {
        x->err = s;
        snprintf(x->msg, sizeof x->msg, "%s", mla_last_error());
    }
}

/* This rank's clients of the round: positions rank, rank + size, ... of the survivors,
 * trained side by side (one thread each) and delivered in position order. */
static mla_status train_own(fl_run *x, int round) {
    int own = x->n_surv > x->rank ? (x->n_surv - x->rank + x->size - 1) / x->size : 0;
    int workers = own < x->n_workers ? own : x->n_workers;
    int saved = mla_get_threads();
    mla_set_threads(1); /* each client's training on one thread: the same bits for any count */
    x->err = MLA_OK;
#pragma omp parallel num_threads(workers > 0 ? workers : 1)
    {
        mla_net *w = x->workers[omp_get_thread_num()];
        mla_optimizer *opt = x->worker_opts ? x->worker_opts[omp_get_thread_num()] : NULL;
#pragma omp for ordered schedule(static, 1)
        for (int q = 0; q < own; q++) {
            int p = x->rank + q * x->size, failed;
            fl_report rep = {0};
#pragma omp atomic read
            failed = x->err;
            mla_status s = failed ? MLA_OK : train_client(x, w, opt, round, x->survivors[p], &rep);
            if (s) record_error(x, s);
#pragma omp ordered
            {
#pragma omp atomic read
                failed = x->err;
                if (!failed) {
                    s = deliver(x, p, &rep, w);
                    if (s) record_error(x, s);
                }
            }
        }
    }
    mla_set_threads(saved);
    if (x->err) return mla_error(x->err, "%s", x->msg);
    mla_status s = MLA_OK;
    while (!s && x->rank == 0 && x->next < x->n_surv) s = recv_next(x);
    return s;
}

/* ---- rounds ---- */

mla_train_config fl_local_config(const mla_fl_config *cfg) {
    mla_train_config tc = cfg->train;
    tc.epochs = cfg->local_epochs;
    tc.hook = NULL;
    tc.checkpoint_every = 0;
    tc.checkpoint_path = tc.resume_path = NULL;
    tc.on_batch = NULL;
    tc.on_epoch = NULL;
    tc.user = NULL;
    return tc;
}

/* Chooses round r's clients, retrying while fewer than K would report. */
static mla_status choose(fl_run *x, int r) {
    const mla_fl_config *cfg = x->cfg;
    int n_clients = mla_fl_clients_count(x->clients), tries = cfg->max_attempts ? cfg->max_attempts : 100;
    for (int a = 0; a < tries; a++) {
        mla_status s = mla_fl_select(cfg->seed, r, a, n_clients, x->n_taken, cfg->drop_prob, x->taken, x->dropped);
        if (s) return s;
        x->n_surv = 0;
        for (int i = 0; i < x->n_taken; i++)
            if (!x->dropped[i]) x->survivors[x->n_surv++] = x->taken[i];
        x->attempts = a + 1;
        if (x->n_surv >= cfg->min_clients) return MLA_OK;
    }
    return mla_error(MLA_ERR_INVALID,
                     "round %d: fewer than %d of the %d clients taken reported in each of %d attempts (drop "
                     "probability %g)",
                     r + 1, cfg->min_clients, x->n_taken, tries, cfg->drop_prob);
}

/* Every rank, once the new global model is everywhere: the round's figures, with the
 * test set's evaluation split over the ranks (rank 0 keeps them). */
static mla_status round_stats(fl_run *x, int r, double t0, mla_fl_round_stats *st) {
    const mla_fl_config *cfg = x->cfg;
    *st = (mla_fl_round_stats){.round = r, .attempts = x->attempts, .taken = x->n_taken, .reported = x->n_surv,
                               .samples = x->samples, .train_loss = x->loss_sum / (double)x->samples,
                               .test_accuracy = NAN, .test_loss = NAN};
    if (cfg->test) {
        mla_eval_result e;
        mla_status s = mla_fl_evaluate(x->global, cfg->test, NULL, mla_dataset_count(cfg->test),
                                       cfg->eval_batch > 0 ? cfg->eval_batch : 500, cfg->transport, &e);
        if (s) return mla_error_prefix(s, "round %d: test set", r + 1);
        st->test_accuracy = e.accuracy;
        st->test_loss = e.loss;
    }
    st->seconds = mla_seconds() - t0;
    return MLA_OK;
}

static mla_status bcast_params(fl_run *x) {
    const mla_transport *t = x->cfg->transport;
    return t ? t->bcast(t->user, mla_net_params(x->global), x->count * sizeof(float)) : MLA_OK;
}

/* Rank 0 once the round is complete: its history entry, then the checkpoint (so a
 * callback that stops the run leaves this round saved), then the callback. */
static mla_status record_round(fl_run *x, int r, const mla_fl_round_stats *st, mla_fl_result *res, const char *fp) {
    const mla_fl_config *cfg = x->cfg;
    res->history[r] = *st;
    res->rounds_run = r + 1;
    mla_status s = MLA_OK;
    if (cfg->checkpoint_path) s = fl_checkpoint_save(cfg->checkpoint_path, x, r + 1, res->history, fp);
    if (!s && cfg->on_round) s = cfg->on_round(cfg->user, &res->history[r], x->survivors, x->global);
    return s;
}

static mla_status run_round(fl_run *x, int r, mla_fl_result *res, const char *fp) {
    double t0 = mla_seconds();
    mla_status s = choose(x, r);
    if (s) return s;
    if (x->acc) memset(x->acc, 0, x->count * sizeof *x->acc);
    x->total_weight = x->loss_sum = 0;
    x->samples = 0;
    x->next = 0;
    s = train_own(x, r);
    if (!s && x->rank == 0) mla_fl_finish(x->acc, x->total_weight, mla_net_params(x->global), x->count);
    if (!s) s = bcast_params(x);
    mla_fl_round_stats st;
    if (!s) s = round_stats(x, r, t0, &st);
    if (!s && x->rank == 0) s = record_round(x, r, &st, res, fp);
    return s;
}

/* ---- setup ---- */

/* keep_client_state: an optimizer per worker, and every client's state (zeros: fresh). */
static mla_status make_client_state(fl_run *x) {
    x->worker_opts = mla_alloc((size_t)x->n_workers, sizeof *x->worker_opts);
    if (!x->worker_opts) return MLA_ERR_NOMEM;
    for (int i = 0; i < x->n_workers; i++) {
        mla_status s = mla_optimizer_create(&x->cfg->train.opt, x->workers[i], &x->worker_opts[i]);
        if (s) return s;
    }
    size_t n = (size_t)mla_fl_clients_count(x->clients);
    x->opt_size = mla_optimizer_state_size(x->worker_opts[0]);
    x->client_opt = mla_alloc(n * x->opt_size + 1, sizeof *x->client_opt);
    x->client_steps = mla_alloc(n, sizeof *x->client_steps);
    return x->client_opt && x->client_steps ? MLA_OK : MLA_ERR_NOMEM;
}

static mla_status make_workers(fl_run *x) {
    const mla_fl_config *cfg = x->cfg;
    int threads = cfg->threads > 0 ? cfg->threads : mla_get_threads();
    int per_rank = (x->n_taken + x->size - 1) / x->size;
    x->n_workers = threads < per_rank ? threads : per_rank;
    if (x->n_workers < 1) x->n_workers = 1;
    x->workers = mla_alloc((size_t)x->n_workers, sizeof *x->workers);
    if (!x->workers) return MLA_ERR_NOMEM;
    for (int i = 0; i < x->n_workers; i++) {
        mla_net *g = x->global;
        mla_status s = mla_net_create(mla_net_spec(g), mla_net_input_shape(g), mla_net_classes(g), 0, &x->workers[i]);
        if (!s && cfg->dropout >= 0) s = mla_net_set_dropout(x->workers[i], cfg->dropout, NULL);
        if (s) return s;
    }
    return cfg->keep_client_state ? make_client_state(x) : MLA_OK;
}

static mla_status run_alloc(fl_run *x) {
    int n_clients = mla_fl_clients_count(x->clients);
    x->taken = mla_alloc((size_t)n_clients, sizeof *x->taken);
    x->survivors = mla_alloc((size_t)n_clients, sizeof *x->survivors);
    x->dropped = mla_alloc((size_t)n_clients, 1);
    if (!x->taken || !x->survivors || !x->dropped) return MLA_ERR_NOMEM;
    if (x->rank == 0) {
        x->acc = mla_alloc_aligned(x->count, sizeof *x->acc);
        if (!x->acc) return MLA_ERR_NOMEM;
        if (x->size > 1 && !(x->recv = mla_alloc_aligned(x->count, sizeof *x->recv))) return MLA_ERR_NOMEM;
    }
    return make_workers(x);
}

static void run_free(fl_run *x) {
    for (int i = 0; x->workers && i < x->n_workers; i++) mla_net_free(x->workers[i]);
    for (int i = 0; x->worker_opts && i < x->n_workers; i++) mla_optimizer_free(x->worker_opts[i]);
    free(x->workers);
    free(x->worker_opts);
    free(x->client_opt);
    free(x->client_steps);
    free(x->acc);
    free(x->recv);
    free(x->taken);
    free(x->survivors);
    free(x->dropped);
}

/* Rank 0 resumes (or starts) and tells every rank the starting round and model. */
static mla_status start(fl_run *x, mla_fl_result *res, const char *fp) {
    const mla_fl_config *cfg = x->cfg;
    int64_t done = 0;
    mla_status s = MLA_OK;
    if (x->rank == 0) {
        res->history = mla_alloc((size_t)cfg->rounds, sizeof *res->history);
        if (!res->history) return MLA_ERR_NOMEM;
        if (cfg->resume_path) {
            int d = 0;
            s = fl_checkpoint_load(cfg->resume_path, x, &d, res->history, cfg->rounds, fp);
            done = d;
        }
    }
    if (s) return s;
    const mla_transport *t = cfg->transport;
    if (t) s = t->bcast(t->user, &done, sizeof done);
    if (!s) s = bcast_params(x);
    res->rounds_run = res->resumed_from = (int)done;
    return s;
}

mla_status mla_fl_run(mla_net *global, const mla_dataset *train, const mla_fl_clients *clients,
                      const mla_fl_config *cfg, mla_fl_result *res) {
    memset(res, 0, sizeof *res);
    mla_status s = check_config(cfg, mla_fl_clients_count(clients));
    if (!s) s = mla_check_compatible(global, train);
    if (s) return s;
    double t0 = mla_seconds();
    fl_run x = {.global = global, .train = train, .clients = clients, .cfg = cfg,
                .rank = cfg->transport ? cfg->transport->rank : 0, .size = cfg->transport ? cfg->transport->size : 1,
                .count = mla_net_param_count(global),
                .n_taken = mla_fl_clients_per_round(mla_fl_clients_count(clients), cfg->fraction)};
    char fp[1536];
    fl_fingerprint(global, clients, cfg, fp, sizeof fp);
    s = run_alloc(&x);
    if (!s) s = start(&x, res, fp);
    for (int r = res->rounds_run; !s && r < cfg->rounds; r++) s = run_round(&x, r, res, fp);
    if (x.rank != 0) res->rounds_run = s ? res->rounds_run : cfg->rounds;
    res->seconds = mla_seconds() - t0;
    res->samples = x.rank == 0 ? 0 : x.own_samples; /* rank 0: every rank's, from the rounds' reports */
    for (int r = res->resumed_from; x.rank == 0 && res->history && r < res->rounds_run; r++)
        res->samples += res->history[r].samples * cfg->local_epochs;
    run_free(&x);
    return s;
}
