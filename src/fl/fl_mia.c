/* FedAvg as the membership audit's trainer (fl.h: mla_fl_mia_train; mia.h's
 * mla_mia_train_fn). mia knows nothing of fl: it calls this through its extension
 * point, and this file only uses fl's public entry points. */
#include <stdlib.h>
#include <string.h>

#include "mlaudit/fl.h"

void mla_fl_mia_clear(mla_fl_mia *f) {
    if (!f) return;
    mla_fl_clients_free(f->target_clients);
    f->target_clients = NULL;
}

/* trained[j] = 1 iff idx[j] is some client's index (the clients are drawn from idx). */
static mla_status mark_trained(const mla_dataset *ds, const int32_t *idx, int n, const mla_fl_clients *c,
                               uint8_t *trained) {
    int count = mla_dataset_count(ds);
    int32_t *where = mla_alloc((size_t)count, sizeof *where);
    if (!where) return MLA_ERR_NOMEM;
    for (int j = 0; j < n; j++) where[idx[j]] = j, trained[j] = 0;
    for (int k = 0; k < mla_fl_clients_count(c); k++) {
        const int32_t *ci = mla_fl_client_indices(c, k);
        for (int i = 0; i < mla_fl_client_size(c, k); i++) trained[where[ci[i]]] = 1;
    }
    free(where);
    return MLA_OK;
}

static mla_status check(const mla_fl_mia *f, const mla_train_config *tc) {
    if (!f || f->clients < 1) return mla_error(MLA_ERR_INVALID, "--clients must be at least 1");
    if (tc->hook)
        return mla_error(MLA_ERR_UNSUPPORTED, "federated training in the membership audit takes no DP-SGD (yet)");
    if (tc->patience > 0 || tc->n_val > 0)
        return mla_error(MLA_ERR_UNSUPPORTED, "federated training in the membership audit takes no early stopping");
    return MLA_OK;
}

mla_status mla_fl_mia_train(void *user, int model, mla_net *net, const mla_dataset *ds, const int32_t *idx, int n,
                            const mla_train_config *tc, uint8_t *trained, mla_train_stats *st) {
    mla_fl_mia *f = user;
    mla_status s = check(f, tc);
    if (s) return s;
    if (model > 0 && f->shadows_central) {
        mla_train_config central = *tc;
        central.epochs = f->fl.local_epochs * f->fl.rounds;
        return mla_train(net, ds, idx, n, &central, st);
    }
    mla_fl_clients *clients = NULL;
    s = mla_fl_partition_make(&f->partition, mla_dataset_labels(ds), mla_dataset_classes(ds), idx, n, f->clients,
                              tc->seed, &clients);
    mla_fl_config fc = f->fl;
    fc.seed = tc->seed;
    fc.train = *tc;
    fc.train.on_batch = NULL, fc.train.on_epoch = NULL;
    fc.test = NULL, fc.on_round = NULL, fc.checkpoint_path = fc.resume_path = NULL, fc.transport = NULL;
    fc.hook = NULL;
    mla_fl_result res = {0};
    if (!s) s = mla_fl_run(net, ds, clients, &fc, &res);
    mla_fl_result_free(&res);
    if (!s) s = mark_trained(ds, idx, n, clients, trained);
    if (!s && model == 0) {
        mla_fl_clients_free(f->target_clients);
        f->target_clients = clients, clients = NULL;
    }
    mla_fl_clients_free(clients);
    if (!s) st->epochs_run = st->epoch_kept = 0;
    return s ? mla_error_prefix(s, "federated training") : MLA_OK;
}
