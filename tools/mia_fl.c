/* mlaudit mia --train fl (mia_fl.h): flags, the trainer's config, the per-client report. */
#include "mia_fl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char mia_fl_usage[] =
    "\n"
    "Federated target (FedAvg, as 'mlaudit fl'):\n"
    "  --train T           central (default: mla_train) | fl: the target (and the shadows)\n"
    "                      train by FedAvg over their training samples split into clients;\n"
    "                      members are the union of the target's clients' data (a partition's\n"
    "                      remainder is not evaluated); mia.json gains per_client figures\n"
    "  --clients N         clients per model\n"
    "  --rounds R          rounds\n"
    "  --local-epochs E    local epochs per round (default 1)\n"
    "  --fraction F        clients taken per round, F in (0, 1] (default 1)\n"
    "  --partition P       iid (default) | dirichlet:ALPHA | shards:S\n"
    "  --weighting W       samples (default) | uniform\n"
    "  --shadow-train S    fl (default with --train fl) | central: the shadows train E x R\n"
    "                      epochs on their data with mla_train (the study's central baseline)\n";

int mia_fl_opts(mia_fl_flags *f, cli_opt *opts) {
    memset(f, 0, sizeof *f);
    f->train = "central", f->shadow_train = "fl", f->partition = "iid", f->weighting = "samples";
    f->local_epochs = 1, f->fraction = 1;
    cli_opt o[MIA_FL_OPTS] = {
        {"train", CLI_STR, &f->train, 0, 0, NULL},
        {"shadow-train", CLI_STR, &f->shadow_train, 0, 0, &f->shadow_train_seen},
        {"clients", CLI_INT, &f->clients, -1e9, 1e9, &f->clients_seen},
        {"rounds", CLI_INT, &f->rounds, 1, 1e6, &f->rounds_seen},
        {"local-epochs", CLI_INT, &f->local_epochs, 1, 1e6, &f->local_epochs_seen},
        {"fraction", CLI_DOUBLE, &f->fraction, -1e300, 1e300, &f->fraction_seen},
        {"partition", CLI_STR, &f->partition, 0, 0, &f->partition_seen},
        {"weighting", CLI_STR, &f->weighting, 0, 0, &f->weighting_seen},
    };
    memcpy(opts, o, sizeof o);
    return MIA_FL_OPTS;
}

bool mia_fl_on(const mia_fl_flags *f) { return !strcmp(f->train, "fl"); }

void mia_fl_check(const mia_fl_flags *f, bool own_target, bool dp, bool early_stop, bool epochs_seen) {
    if (strcmp(f->train, "fl") && strcmp(f->train, "central"))
        cli_die("mia: --train must be central or fl, got '%s'", f->train);
    if (!mia_fl_on(f)) {
        if (f->clients_seen || f->rounds_seen || f->local_epochs_seen || f->fraction_seen || f->partition_seen ||
            f->weighting_seen || f->shadow_train_seen)
            cli_die("mia: --clients, --rounds, --local-epochs, --fraction, --partition, --weighting and "
                    "--shadow-train go with --train fl");
        return;
    }
    if (!f->clients_seen || !f->rounds_seen) cli_die("mia: --train fl needs --clients N and --rounds R");
    if (f->clients < 1) cli_die("mia: --clients must be at least 1, got %ld", f->clients);
    if (!(f->fraction > 0 && f->fraction <= 1)) cli_die("mia: --fraction must be in (0, 1], got %g", f->fraction);
    if (strcmp(f->shadow_train, "fl") && strcmp(f->shadow_train, "central"))
        cli_die("mia: --shadow-train must be fl or central, got '%s'", f->shadow_train);
    if (strcmp(f->weighting, "samples") && strcmp(f->weighting, "uniform"))
        cli_die("mia: --weighting must be samples or uniform, got '%s'", f->weighting);
    mla_fl_partition p;
    if (mla_fl_partition_parse(f->partition, &p)) cli_die("mia: --partition: %s", mla_last_error());
    if (own_target) cli_die("mia: --train fl trains the target; --target audits one already trained");
    if (dp) cli_die("mia: --train fl takes no DP-SGD flags (not supported in the federated audit yet)");
    if (early_stop) cli_die("mia: --train fl takes no --early-stop");
    if (epochs_seen) cli_die("mia: with --train fl, --epochs does not apply; use --local-epochs E and --rounds R");
}

void mia_fl_config(const mia_fl_flags *f, uint64_t seed, float dropout, mla_fl_mia *t, mla_mia_audit_config *cfg) {
    memset(t, 0, sizeof *t);
    t->fl = mla_fl_defaults();
    t->fl.rounds = (int)f->rounds, t->fl.local_epochs = (int)f->local_epochs, t->fl.fraction = f->fraction;
    t->fl.weighting = strcmp(f->weighting, "uniform") ? MLA_FL_WEIGHT_SAMPLES : MLA_FL_WEIGHT_UNIFORM;
    t->fl.seed = seed, t->fl.dropout = dropout;
    cli_check(mla_fl_partition_parse(f->partition, &t->partition));
    t->clients = (int)f->clients;
    t->shadows_central = !strcmp(f->shadow_train, "central");
    cfg->train_model = mla_fl_mia_train, cfg->train_user = t;
}

void mia_fl_settings(const mia_fl_flags *f, void *settings) {
    cJSON *o = settings;
    cJSON_AddStringToObject(o, "train", f->train);
    if (!mia_fl_on(f)) return;
    cJSON_DeleteItemFromObjectCaseSensitive(o, "epochs"); /* --epochs does not apply */
    cJSON_AddNumberToObject(o, "clients", (double)f->clients);
    cJSON_AddNumberToObject(o, "rounds", (double)f->rounds);
    cJSON_AddNumberToObject(o, "local_epochs", (double)f->local_epochs);
    cJSON_AddNumberToObject(o, "fraction", f->fraction);
    cJSON_AddStringToObject(o, "partition", f->partition);
    cJSON_AddStringToObject(o, "weighting", f->weighting);
    cJSON_AddStringToObject(o, "shadow_train", f->shadow_train);
}

/* group[i]: the target's client holding sample i (a data position and member), else -1. */
static int32_t *client_groups(const mla_fl_clients *c, const mla_mia_collected *col, const mla_dataset *data) {
    int count = mla_dataset_count(data), m = col->arrays.m;
    int32_t *owner = malloc((size_t)count * sizeof *owner), *group = malloc((size_t)m * sizeof *group);
    if (!owner || !group) cli_die("out of memory");
    for (int i = 0; i < count; i++) owner[i] = -1;
    for (int k = 0; k < mla_fl_clients_count(c); k++)
        for (int j = 0; j < mla_fl_client_size(c, k); j++) owner[mla_fl_client_indices(c, k)[j]] = k;
    for (int i = 0; i < m; i++)
        group[i] = i < col->n_data && col->arrays.truth[i] == 1 ? owner[col->arrays.sample_index[i]] : -1;
    free(owner);
    return group;
}

static cJSON *summary_json(const mla_score_summary *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "auc", s->auc);
    cJSON_AddNumberToObject(o, "advantage", s->advantage);
    for (int f = 0; f < MLA_SCORE_N_FPR; f++) {
        char key[64];
        snprintf(key, sizeof key, "tpr_at_fpr_%g", mla_score_fprs[f]);
        cJSON_AddNumberToObject(o, key, s->tpr_at_fpr[f]);
        snprintf(key, sizeof key, "ci95_at_fpr_%g", mla_score_fprs[f]);
        double ci[2] = {s->ci95_lo[f], s->ci95_hi[f]};
        cJSON_AddItemToObject(o, key, cJSON_CreateDoubleArray(ci, 2));
    }
    cJSON_AddNumberToObject(o, "n_members", (double)s->n_pos);
    cJSON_AddNumberToObject(o, "n_nonmembers", (double)s->n_neg);
    return o;
}

char *mia_fl_per_client(const mla_fl_mia *t, const mla_mia_collected *col, const mla_mia_result *r,
                        const mla_dataset *data, bool quiet) {
    int n = mla_fl_clients_count(t->target_clients);
    int32_t *group = client_groups(t->target_clients, col, data);
    mla_score_summary *sum = malloc((size_t)n * sizeof *sum), *loss = malloc((size_t)n * sizeof *loss);
    if (!sum || !loss) cli_die("out of memory");
    cJSON *root = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(root, "per_client");
    for (int k = 0; k < n; k++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "client", k);
        cJSON_AddNumberToObject(c, "size", mla_fl_client_size(t->target_clients, k));
        cJSON_AddObjectToObject(c, "attacks");
        cJSON_AddItemToArray(list, c);
    }
    bool have_loss = false;
    for (int a = 0; a < r->n_attacks; a++) {
        if (!r->attacks[a].scores || !strcmp(r->attacks[a].name, "random")) continue;
        cli_check(mla_mia_group_summaries(r, r->attacks[a].name, group, n, sum));
        if (!strcmp(r->attacks[a].name, "loss")) memcpy(loss, sum, (size_t)n * sizeof *sum), have_loss = true;
        for (int k = 0; k < n; k++)
            cJSON_AddItemToObject(cJSON_GetObjectItem(cJSON_GetArrayItem(list, k), "attacks"), r->attacks[a].name,
                                  summary_json(&sum[k]));
    }
    int worst = -1;
    for (int k = 0; have_loss && k < n; k++)
        if (!isnan(loss[k].auc) && (worst < 0 || loss[k].auc > loss[worst].auc)) worst = k;
    if (worst >= 0) {
        cJSON *w = cJSON_AddObjectToObject(root, "leakiest_client");
        cJSON_AddNumberToObject(w, "client", worst);
        cJSON_AddStringToObject(w, "by", "loss auc");
        cJSON_AddNumberToObject(w, "auc", loss[worst].auc);
    }
    if (!quiet && have_loss) {
        printf("per client (loss attack: its members vs every non-member):\n%-7s %8s %7s %10s %19s\n", "client",
               "members", "auc", "tpr@1%", "95% CI");
        for (int k = 0; k < n; k++)
            printf("%-7d %8lld %7.4f %10.4f [%.4f, %.4f]\n", k, (long long)loss[k].n_pos, loss[k].auc,
                   loss[k].tpr_at_fpr[1], loss[k].ci95_lo[1], loss[k].ci95_hi[1]);
        if (worst >= 0) printf("client %d leaks most (loss AUC %.4f)\n", worst, loss[worst].auc);
    }
    char *text = cJSON_PrintUnformatted(root);
    if (!text) cli_die("out of memory");
    cJSON_Delete(root), free(group), free(sum), free(loss);
    return text;
}

void mia_fl_write_clients(const mla_fl_mia *t, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/clients.csv", dir);
    mla_atomic_file *f;
    cli_check(mla_atomic_open(path, &f));
    FILE *out = mla_atomic_stream(f);
    fputs("index,client\n", out);
    for (int k = 0; k < mla_fl_clients_count(t->target_clients); k++)
        for (int j = 0; j < mla_fl_client_size(t->target_clients, k); j++)
            fprintf(out, "%d,%d\n", mla_fl_client_indices(t->target_clients, k)[j], k);
    cli_check(mla_atomic_commit(f));
}
