/* mlaudit fl: federated learning by federated averaging (FedAvg, McMahan et al. 2017).
 *
 * Clients. A training set is split into N clients; a client is a list of dataset
 * indices (a view: no pixel is copied). Partitions of a pool of n indices (the
 * training indices, in the order given), all seeded:
 *   IID        a seeded permutation of the pool cut into N consecutive parts of
 *              floor(n / N) indices each; the n mod N left over join no client.
 *   DIRICHLET  label skew after Hsu, Qi and Brown (2019): every client gets
 *              m = floor(n / N) indices; client i's class proportions are
 *              q_i ~ Dir(alpha p), p the pool's class frequencies (classes absent
 *              from the pool get weight 0), drawn for i = 0..N-1 in order as
 *              normalised Gamma(alpha p_k) variates. Each class's indices are
 *              shuffled; then m passes each give every client (in order 0..N-1)
 *              one index: its class drawn from q_i restricted to the classes with
 *              indices left (renormalised; when q_i puts no mass there, the classes
 *              left are weighted by how many indices they have left), the index
 *              being the next of that class. Disjoint; alpha -> inf tends to IID,
 *              alpha -> 0 to one class per client.
 *   SHARDS     McMahan et al.: the pool stably sorted by label, cut into N * S
 *              shards of floor(n / (N S)) consecutive indices (the rest joins no
 *              client); a seeded permutation of the shards gives client i the
 *              shards perm[i S .. i S + S), concatenated in that order.
 *
 * Rounds. Round r (0-based) takes m = max(1, floor(F N + 1e-9)) clients (F the
 * fraction), drawn without replacement and sorted by client id. A taken client fails
 * before reporting with probability P (--drop-prob): one uniform draw per taken
 * client, in id order, after the choice. When at least K (min_clients) survive, the
 * survivors train E local epochs each from the global model and their parameters are
 * averaged; otherwise the round is retried (attempt a + 1: a fresh choice and fresh
 * draws) up to max_attempts times. The streams, from the seed s: root = seed(s);
 * round r's attempt a draws from fork(fork(fork(root, 2), r), a), the choice being
 * the first m of mla_rng_permutation(N) then the drop draws; client c's local
 * training in round r uses the train seed u64(fork(fork(fork(root, 3), r), c)) and
 * the net's dropout stream fork(seed(train seed), 4) (mla_fl_client_streams). The
 * partition draws from fork(root, 1). Nothing depends on the thread count or the
 * number of MPI ranks, so neither changes a bit.
 *
 * Averaging. The whole flat parameter vector (nn.h: trainable parameters AND buffers
 * such as batch-norm running statistics) of the survivors S is averaged:
 *   global[j] = (float)( (sum_{i in S, in id order} (double)w_i * v_i[j]) / sum w_i )
 * with w_i the client's sample count (MLA_FL_WEIGHT_SAMPLES) or 1 (UNIFORM), the sum
 * accumulated in double in client-id order. That one fixed order is why the result is
 * the same for any thread count and any rank count: threads train clients side by
 * side (each client's local training on one thread, its result added in id order),
 * and across MPI ranks each rank sends each of its clients' vectors to rank 0, which
 * adds them in id order (the choice documented in fedavg.c).
 *
 * Local training is mla_train (train.h) on the client's indices with the shared
 * training config: epochs = E, seed = the client's train seed; the optimizer is
 * created by mla_train, so its state is per client and reset every round (unless
 * keep_client_state: then each client's optimizer state carries over). Memory:
 * the global model, a double accumulator the size of the parameter vector (plus a
 * receive buffer on MPI rank 0), and one model (with mla_train's optimizer) per
 * worker thread.
 */
#ifndef MLAUDIT_FL_H
#define MLAUDIT_FL_H

#include <stdbool.h>

#include "mlaudit/train.h"
#include "mlaudit/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- partitions ---- */
typedef enum { MLA_FL_IID = 0, MLA_FL_DIRICHLET, MLA_FL_SHARDS } mla_fl_partition_kind;
typedef struct {
    mla_fl_partition_kind kind;
    double alpha;   /* DIRICHLET: > 0 */
    int shards;     /* SHARDS: shards per client, >= 1 */
} mla_fl_partition;

/* "iid", "dirichlet:ALPHA" (ALPHA > 0) or "shards:S" (S >= 1); MLA_ERR_INVALID
 * naming the text otherwise. */
mla_status mla_fl_partition_parse(const char *text, mla_fl_partition *out);

/* N clients, each a list of dataset indices. Owned: mla_fl_clients_free. */
typedef struct mla_fl_clients mla_fl_clients;

/* Partitions the pool pool[0..n) (dataset indices; NULL: 0..n-1) whose labels are
 * labels[pool[i]] (labels indexes the dataset; each in [0, classes)) into `clients`
 * clients as the header says, from fork(seed(seed), 1). Fails (MLA_ERR_INVALID)
 * when clients < 1, when a client would get no index (n < clients, or n < clients *
 * shards), or on a bad alpha / shard count. */
mla_status mla_fl_partition_make(const mla_fl_partition *p, const int32_t *labels, int classes, const int32_t *pool,
                                 int n, int clients, uint64_t seed, mla_fl_clients **out);
void mla_fl_clients_free(mla_fl_clients *c);
int mla_fl_clients_count(const mla_fl_clients *c);
int mla_fl_client_size(const mla_fl_clients *c, int client);
/* Borrowed, mla_fl_client_size(c, client) indices; valid while c lives. */
const int32_t *mla_fl_client_indices(const mla_fl_clients *c, int client);
/* Total indices over all clients (the union's size: the clients are disjoint). */
int mla_fl_clients_total(const mla_fl_clients *c);
/* counts[client * classes + k]: how many of the client's indices have label k. */
void mla_fl_label_histogram(const mla_fl_clients *c, const int32_t *labels, int classes, int64_t *counts);
/* q ~ Dir(conc[0..k)) as normalised Gamma(conc[j]) draws (conc[j] = 0 gives q[j] = 0);
 * when every draw underflows to 0 the mass goes to one class with positive
 * concentration, chosen uniformly. At least one conc[j] > 0. */
void mla_fl_dirichlet(mla_rng *r, const double *conc, int k, double *q);

/* ---- rounds ---- */
/* How many clients a round takes: max(1, floor(fraction * clients + 1e-9)). */
int mla_fl_clients_per_round(int clients, double fraction);
/* Round `round`'s attempt `attempt`: writes the m taken client ids (sorted) to taken
 * and for each whether it drops (1) or reports (0) to dropped. MLA_ERR_INVALID unless
 * 1 <= m <= clients; MLA_ERR_NOMEM. */
mla_status mla_fl_select(uint64_t seed, int round, int attempt, int clients, int m, double drop_prob,
                         int32_t *taken, uint8_t *dropped);
/* The local-training seed of `client` in `round`, and the dropout stream its net
 * starts that training with (net_rng may be NULL). */
void mla_fl_client_streams(uint64_t seed, int round, int client, uint64_t *train_seed, mla_rng *net_rng);
/* acc[j] += (double)w * v[j] for j < count. */
void mla_fl_accumulate(double *acc, const float *v, double w, size_t count);
/* out[j] = (float)(acc[j] / total_weight). */
void mla_fl_finish(const double *acc, double total_weight, float *out, size_t count);

typedef enum { MLA_FL_WEIGHT_SAMPLES = 0, MLA_FL_WEIGHT_UNIFORM } mla_fl_weighting;

/* What one completed round looked like (passed to on_round; kept in the result). */
typedef struct {
    int round;               /* 0-based */
    int attempts;            /* 1 + retries */
    int taken;               /* clients chosen in the completed attempt */
    int reported;            /* of them, those that reported (were averaged) */
    long samples;            /* the reporting clients' sample count */
    double train_loss;       /* sample-weighted mean of their last local epoch's loss */
    double test_accuracy, test_loss; /* the new global model on the test set; NaN without one */
    double seconds;          /* the round's wall time, evaluation included */
} mla_fl_round_stats;

/* One client's training hook (DP-SGD, per client): created before, destroyed after
 * each local training. id names the hook's settings in the checkpoint fingerprint. */
typedef struct {
    void *user;
    mla_status (*create)(void *user, const mla_net *net, int n, uint64_t seed, void **state,
                         const mla_train_hook **hook);
    void (*destroy)(void *user, void *state);
    const char *id;
} mla_fl_hook_factory;

typedef struct {
    int rounds;              /* R >= 1 */
    int local_epochs;        /* E >= 1 */
    double fraction;         /* F in (0, 1] */
    mla_fl_weighting weighting;
    double drop_prob;        /* P in [0, 1) */
    int min_clients;         /* K in [1, clients per round] */
    int max_attempts;        /* retries of a round before giving up; 0 -> 100 */
    uint64_t seed;
    int threads;             /* workers training clients side by side; <= 0: mla_get_threads() */
    float dropout;           /* < 0: the spec's rates; else every dropout layer's rate in workers */
    /* Keep each client's optimizer state (moments, step count) from one of its rounds to
     * the next instead of starting it afresh: memory for N optimizer states, saved in
     * checkpoints; one process only (MLA_ERR_UNSUPPORTED with a transport of size > 1). */
    bool keep_client_state;
    /* Local training: epochs, seed, hook, optimizer and checkpoint fields are set per
     * client (the latter left empty), the callbacks are not called, and a validation set,
     * early stopping, a hook or an optimizer given here are refused; everything else
     * (optimizer settings, batch, schedule over the E local epochs, regularisers, stop
     * flag) applies to every client. */
    mla_train_config train;
    const mla_fl_hook_factory *hook;   /* NULL: none */
    const mla_dataset *test;           /* evaluated after every round when not NULL; under a
                                          transport every rank passes the same set and
                                          evaluates its share (mla_fl_evaluate) */
    int eval_batch;                    /* 0 -> 500 */
    /* After every round, on rank 0, once its checkpoint is written (may be NULL), with
     * the reporting clients' ids (st->reported of them; borrowed for the call); non-OK
     * stops the run (the round stays in the checkpoint). */
    mla_status (*on_round)(void *user, const mla_fl_round_stats *st, const int32_t *reported, mla_net *global);
    void *user;
    const char *checkpoint_path;       /* written atomically after every round (rank 0) */
    const char *resume_path;           /* continue from such a checkpoint (read by rank 0) */
    const mla_transport *transport; /* transport.h; NULL: one process */
} mla_fl_config;

/* Defaults: 10 rounds, 1 local epoch, fraction 1, sample weighting, no drops,
 * min_clients 1, seed 0, threads 0, dropout -1, client state reset, mla_train_defaults(). */
mla_fl_config mla_fl_defaults(void);

typedef struct {
    int rounds_run;                /* counting those before a resume */
    int resumed_from;              /* rounds done when the run started (0: fresh) */
    mla_fl_round_stats *history;   /* rounds_run entries (rank 0; owned: mla_fl_result_free,
                                      after a failed run too) */
    double seconds;                /* this call's wall time */
    long samples;                  /* samples trained by this call: rank 0 counts every rank's
                                      reporting clients, another rank its own */
} mla_fl_result;
void mla_fl_result_free(mla_fl_result *r);

/* Runs cfg->rounds rounds of FedAvg on global (the starting model; on rank 0 it is
 * broadcast to the others first) with the clients' indices into train. On return
 * every rank's global holds the final model. Fails with MLA_ERR_INVALID on a bad
 * config (naming the field), MLA_ERR_INTERRUPTED when the stop flag was raised (the
 * last checkpoint stays intact), or a local training's / transport's error prefixed
 * with the round and client. A round whose every attempt has fewer than K reports
 * fails with MLA_ERR_INVALID. Resuming checks the checkpoint's fingerprint (model,
 * partition, every setting but the round count, which may grow) and names the first
 * setting that differs. */
mla_status mla_fl_run(mla_net *global, const mla_dataset *train, const mla_fl_clients *clients,
                      const mla_fl_config *cfg, mla_fl_result *res);

/* mla_evaluate (train.h; no probabilities or predictions) over the ranks of t: every
 * rank calls it with the same net, data, idx, n and batch; each evaluates a contiguous
 * block of the batches and rank 0 adds their terms in batch order, so every rank's *res
 * has exactly the bits mla_evaluate gives one process at the same thread count. t NULL
 * or of size 1: mla_evaluate itself. */
mla_status mla_fl_evaluate(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int batch,
                           const mla_transport *t, mla_eval_result *res);

/* ---- membership audits of federated models (fl_mia.c) ----
 * A trainer for mia.h's extension point (mla_mia_audit_config.train_model, with
 * train_user = an mla_fl_mia): each model the audit trains is trained by FedAvg
 * instead of mla_train. Its training indices idx[0..n) are partitioned into `clients`
 * clients (mla_fl_partition_make with the model's seed tc->seed); mla_fl_run then runs
 * fl's rounds with fl.seed = tc->seed and fl.train = *tc (epochs, seed, callbacks
 * replaced as mla_fl_run does), one process. The partition's remainder (n mod N for
 * IID and Dirichlet; what the shards leave) joins no client: those entries of trained
 * are cleared, so the audit counts them as not seen (the target's are not evaluated).
 * Model 0 (the target) keeps its partition in target_clients for per-client figures.
 * With shadows_central, the shadows (model >= 1) train by mla_train for
 * local_epochs x rounds epochs on all their indices: the study's central baseline.
 * DP-SGD (tc->hook) and early stopping are refused (MLA_ERR_UNSUPPORTED). Threads:
 * fl's bits do not depend on the thread count, so shadows trained side by side give a
 * one-process run's bits. */
typedef struct {
    mla_fl_config fl;              /* rounds, local_epochs, fraction, weighting, threads, dropout;
                                      the rest is set per model (test, checkpoints, callbacks unset) */
    mla_fl_partition partition;
    int clients;                   /* N >= 1 */
    bool shadows_central;
    mla_fl_clients *target_clients; /* written by model 0's training; owned: mla_fl_mia_clear */
} mla_fl_mia;

mla_status mla_fl_mia_train(void *user, int model, mla_net *net, const mla_dataset *ds, const int32_t *idx, int n,
                            const mla_train_config *tc, uint8_t *trained, mla_train_stats *st);
/* Frees target_clients (the struct itself is the caller's). */
void mla_fl_mia_clear(mla_fl_mia *f);

#ifdef __cplusplus
}
#endif
#endif
