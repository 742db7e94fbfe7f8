/* Federated checkpoints: the global parameters, the rounds done and their history in
 * one .safetensors file (the engine's writer, atomic), with the run's fingerprint. */
#include <stdlib.h>
#include <string.h>

#include "fl/fl_impl.h"
#include "mlaudit/safetensors.h"

#define FL_CHECKPOINT_FORMAT "mlaudit-fl-checkpoint-1"
#define HISTORY_COLS 9

void fl_fingerprint(const mla_net *global, const mla_fl_clients *clients, const mla_fl_config *cfg, char *buf,
                    size_t size) {
    /* The training fingerprint hashes the spec and every client's indices (client
     * after client; sizes follow from the count, all partitions giving equal sizes). */
    mla_train_config tc = fl_local_config(cfg);
    tc.seed = cfg->seed;
    char train[768];
    mla_train_fingerprint(global, &tc, mla_fl_client_indices(clients, 0), mla_fl_clients_total(clients), train,
                          sizeof train);
    snprintf(buf, size, "%s clients=%d fraction=%.17g weighting=%d drop=%.17g min_clients=%d max_attempts=%d "
             "dropout=%.9g hook=%s keep_client_state=%d",
             train, mla_fl_clients_count(clients), cfg->fraction, (int)cfg->weighting, cfg->drop_prob,
             cfg->min_clients, cfg->max_attempts, cfg->dropout, cfg->hook && cfg->hook->id ? cfg->hook->id : "none",
             cfg->keep_client_state);
}

static void pack_history(const mla_fl_round_stats *h, int n, double *out) {
    for (int r = 0; r < n; r++) {
        double *o = out + (size_t)r * HISTORY_COLS;
        o[0] = h[r].round, o[1] = h[r].attempts, o[2] = h[r].taken, o[3] = h[r].reported;
        o[4] = (double)h[r].samples, o[5] = h[r].train_loss, o[6] = h[r].test_accuracy, o[7] = h[r].test_loss;
        o[8] = h[r].seconds;
    }
}

static void unpack_history(const double *in, int n, mla_fl_round_stats *h) {
    for (int r = 0; r < n; r++) {
        const double *o = in + (size_t)r * HISTORY_COLS;
        h[r] = (mla_fl_round_stats){.round = (int)o[0], .attempts = (int)o[1], .taken = (int)o[2],
                                    .reported = (int)o[3], .samples = (long)o[4], .train_loss = o[5],
                                    .test_accuracy = o[6], .test_loss = o[7], .seconds = o[8]};
    }
}

mla_status fl_checkpoint_save(const char *path, const fl_run *x, int rounds_done, const mla_fl_round_stats *history,
                              const char *fingerprint) {
    double *hist = mla_alloc((size_t)rounds_done * HISTORY_COLS + 1, sizeof *hist);
    if (!hist) return MLA_ERR_NOMEM;
    pack_history(history, rounds_done, hist);
    int64_t done = rounds_done, n_clients = mla_fl_clients_count(x->clients);
    mla_st_tensor t[5] = {
        {"params", MLA_ST_F32, 1, {(int64_t)x->count}, mla_net_params(x->global)},
        {"rounds_done", MLA_ST_I64, 1, {1}, &done},
        {"history", MLA_ST_F64, 2, {rounds_done, HISTORY_COLS}, hist},
        {"client_opt", MLA_ST_F32, 2, {n_clients, (int64_t)x->opt_size}, x->client_opt},
        {"client_steps", MLA_ST_I64, 1, {n_clients}, x->client_steps},
    };
    mla_st_meta meta[] = {{"format", FL_CHECKPOINT_FORMAT}, {"fingerprint", fingerprint},
                          {"spec", mla_net_spec(x->global)}};
    mla_status s = mla_st_write(path, t, x->client_opt ? 5 : 3, meta, 3);
    free(hist);
    return s ? mla_error_prefix(s, "federated checkpoint") : MLA_OK;
}

/* The first setting (key=value token other than the spec-and-data hash) that differs
 * between two fingerprints, as the message. */
static mla_status mismatch(const char *path, const char *have, const char *want) {
    const char *a = have, *b = want;
    while (*a && *b) {
        size_t la = strcspn(a, " "), lb = strcspn(b, " ");
        if ((la != lb || strncmp(a, b, la)) && strncmp(a, "spec=", 5))
            return mla_error(MLA_ERR_INVALID,
                             "%s: written by a federated run with %.*s, this run has %.*s: resume with the "
                             "settings it was written with",
                             path, (int)la, a, (int)lb, b);
        a += la + (a[la] == ' ');
        b += lb + (b[lb] == ' ');
    }
    return mla_error(MLA_ERR_INVALID,
                     "%s: written by a federated run with another model, data or partition: resume with the "
                     "settings it was written with",
                     path);
}

/* The clients' optimizer states of a keep_client_state run, checked against x. */
static mla_status load_client_opt(const mla_st_file *f, const char *path, fl_run *x) {
    const mla_st_tensor *o = mla_st_find(f, "client_opt"), *st = mla_st_find(f, "client_steps");
    int64_t n = mla_fl_clients_count(x->clients);
    if (!o || o->dtype != MLA_ST_F32 || o->ndim != 2 || o->shape[0] != n || o->shape[1] != (int64_t)x->opt_size ||
        !st || st->dtype != MLA_ST_I64 || st->ndim != 1 || st->shape[0] != n)
        return mla_error(MLA_ERR_FORMAT, "%s: federated checkpoint lacks the clients' optimizer states", path);
    memcpy(x->client_opt, o->data, (size_t)n * x->opt_size * sizeof(float));
    memcpy(x->client_steps, st->data, (size_t)n * sizeof(int64_t));
    return MLA_OK;
}

mla_status fl_checkpoint_load(const char *path, fl_run *x, int *rounds_done, mla_fl_round_stats *history,
                              int max_rounds, const char *fingerprint) {
    mla_net *global = x->global;
    mla_st_file *f;
    mla_status s = mla_st_read(path, &f);
    if (s) return s;
    const char *format = mla_st_meta_get(f, "format"), *fp = mla_st_meta_get(f, "fingerprint");
    const mla_st_tensor *params = mla_st_find(f, "params"), *done = mla_st_find(f, "rounds_done"),
                        *hist = mla_st_find(f, "history");
    int64_t d = -1;
    if (done && done->dtype == MLA_ST_I64 && done->ndim == 1 && done->shape[0] == 1) memcpy(&d, done->data, sizeof d);
    if (!format || strcmp(format, FL_CHECKPOINT_FORMAT))
        s = mla_error(MLA_ERR_FORMAT, "%s: not an mlaudit federated checkpoint", path);
    else if (!fp || strcmp(fp, fingerprint))
        s = mismatch(path, fp ? fp : "", fingerprint);
    else if (!params || params->dtype != MLA_ST_F32 || params->ndim != 1 ||
             params->shape[0] != (int64_t)mla_net_param_count(global) || d < 0 || !hist ||
             hist->dtype != MLA_ST_F64 || hist->ndim != 2 || hist->shape[0] != d || hist->shape[1] != HISTORY_COLS)
        s = mla_error(MLA_ERR_FORMAT, "%s: federated checkpoint is corrupt", path);
    else if (d > max_rounds)
        s = mla_error(MLA_ERR_INVALID, "%s: %lld rounds are done already, more than the %d asked for", path,
                      (long long)d, max_rounds);
    if (!s) {
        memcpy(mla_net_params(global), params->data, mla_net_param_count(global) * sizeof(float));
        double *h = mla_alloc((size_t)d * HISTORY_COLS + 1, sizeof *h);
        if (!h) s = MLA_ERR_NOMEM;
        else {
            memcpy(h, hist->data, (size_t)d * HISTORY_COLS * sizeof *h);
            unpack_history(h, (int)d, history);
            free(h);
        }
        *rounds_done = (int)d;
    }
    if (!s && x->client_opt) s = load_client_opt(f, path, x);
    mla_st_free(f);
    return s;
}
