/* mlaudit mia: the membership-inference audit from the command line. Parses flags,
 * loads data, calls the library (mla_mia_collect, mla_mia_attack_arrays) and writes
 * the outputs (report.h); no audit logic lives here. With --backend mpi (run by
 * mpirun) every rank loads the same inputs and trains its share of the shadows; rank 0
 * alone prints and writes, and an error on any rank ends the whole job. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "mlaudit/mia.h"
#include "mlaudit/report.h"
#include "mlaudit/transport.h"
#include "mia_fl.h"
#include "train_flags.h"

static const char mia_usage_head[] =
    "usage: mlaudit mia --data DATA --model NAME [flags]            (train a target and audit it)\n"
    "       mpirun -np P mlaudit mia --data DATA --model NAME [flags] --backend mpi\n"
    "       mlaudit mia --data DATA --target MODEL.safetensors --members FILE --nonmembers FILE [flags]\n"
    "       mlaudit mia --from DIR [flags]                           (audit your own models' outputs)\n"
    "\n"
    "Membership-inference audit: trains a target and K shadow models as the protocol says,\n"
    "runs every attack, and reports AUC, advantage and TPR at FPR 0.1% / 1% with exact 95%\n"
    "intervals for each.\n"
    "\n"
    "Protocol:\n"
    "  --data DATA         mnist | fashion-mnist | cifar10:DIR | cifar100:DIR | npy:DIR | DIR;\n"
    "                      its training and test splits are pooled (indices: training first)\n"
    "  --protocol P        split4 (default): four equal parts, target on D_train vs D_test,\n"
    "                      shadows on halves of D'; shadows: MIA-BAD's shadow datasets drawn\n"
    "                      from D'; lira: a candidate pool, target and shadows on random halves\n"
    "  --shadows K         shadow models (default 4)\n"
    "  --shadow-model NAME the shadows' architecture (default: the target's)\n"
    "  --shadow-data DATA  the shadows' dataset (default: DATA; same image shape and classes)\n"
    "  --shadow-fraction F shadows protocol: share of D' in each shadow's dataset (default 0.5)\n"
    "  --pool N            split4/shadows: samples pooled (default all); lira: candidates\n"
    "                      (default half of the data)\n"
    "  --population N      lira: RMIA's population of samples no model saw (default pool/2)\n"
    "  --offline           lira: shadows train on a disjoint pool, never on the candidates\n"
    "  --parallel N        train N shadows at once, one thread each (default 1: one after\n"
    "                      another with every thread); only outputs are kept in memory\n"
    "  --keep-shadows DIR  also save every shadow model there\n"
    "  --backend B         local (default) | mpi: run under mpirun -np P; shadow s trains on\n"
    "                      rank s mod P on one thread, rank 0 trains the target, gathers the\n"
    "                      shadows' outputs and writes everything: the bits of one process\n"
    "                      with --threads 1 (or --parallel N) and the same rank-0 --threads\n"
    "  --early-stop N      every model stops after N epochs without a better validation\n"
    "                      loss and keeps its best epoch; all validate on the same images,\n"
    "                      drawn from samples the protocol leaves unused (not --target)\n"
    "  --val-size N        those validation images (default 1000)\n"
    "  --release POLICY    what the target (and so the attacker's shadows) releases:\n"
    "                      none (default: the full softmax) | topk:K (the K largest,\n"
    "                      renormalised) | topk:K:raw | round:D | label (one-hot argmax) |\n"
    "                      noise:S (N(0, S^2) on the logits) | reverse-sigmoid:BETA,GAMMA;\n"
    "                      every attack sees only the released rows\n"
    "  --target FILE       audit a trained model (.safetensors) instead of training one;\n"
    "                      shadows train as its recorded settings say unless flags are given\n"
    "                      (a DP-SGD target: its noise multiplier and clip; --dp-sigma S\n"
    "                      gives DP shadows to any target)\n"
    "  --members FILE      its members: indices into DATA (.npy of ints, or one per line)\n"
    "  --nonmembers FILE   its non-members (the larger list is subsampled to the smaller)\n"
    "  --shadow-pool FILE  the shadows' data (default: every sample not named)\n"
    "  --from DIR          no training: score the arrays in DIR (target_probs.npy or\n"
    "                      target_logits.npy or target_phi.npy, shadow_*.npy, labels.npy,\n"
    "                      shadow_in.npy, target_in.npy, population.npy; see the README)\n"
    "\n"
    "Attacks:\n"
    "  --attacks LIST      all (default) or a comma list of: random, correctness, loss,\n"
    "                      confidence, entropy, modified_entropy, shadow_sample, shadow_batch,\n"
    "                      lira_online, lira_online_fixed, lira_offline, lira_offline_fixed,\n"
    "                      rmia_offline, similarity, label_augment\n"
    "  --batch-sizes LIST  MIA-BAD batch sizes (default 8,16,32,64,128,256)\n"
    "  --attack-model M    mlp (default) | logreg\n"
    "  --attack-features F sorted (softmax sorted + loss, default) | raw (one model per class)\n"
    "  --attack-hidden N   attack MLP hidden units (default 64)\n"
    "  --attack-epochs N   attack model epochs (default 80)\n"
    "  --rmia-a X          RMIA's a (default 0.3)\n"
    "  --rmia-gamma X      RMIA's gamma (default 1)\n"
    "  --aug-radius R      label-only attack: shifts in [-R, R]^2 (default 1; 0: off)\n"
    "  --aug-flips         and horizontal flips (default for 3-channel images)\n"
    "\n"
    "Output:\n"
    "  --out DIR           mia.json, scores.csv, roc.csv, roc.png, roc_log.png, loss_hist.png,\n"
    "                      batch.png and report.html (one self-contained page)\n"
    "  --save-arrays DIR   the collected outputs in --from's format, to re-score later\n"
    "  --json              print mia.json on stdout\n"
    "\n"
    "Training of the target and the shadows (as 'mlaudit train'):\n";

typedef struct {
    train_flags tf;
    const char *data, *protocol, *shadow_model, *shadow_data, *keep, *target, *members, *nonmembers, *shadow_pool;
    const char *from, *attacks, *batch_sizes, *attack_model, *attack_features, *out, *save_arrays, *release;
    const char *backend;
    mla_transport mpi;           /* size 0: --backend local */
    char release_text[64];       /* the parsed policy's canonical spelling */
    long shadows, parallel, pool, population, attack_hidden, attack_epochs, aug_radius, early_stop, val_size;
    double shadow_fraction, rmia_a, rmia_gamma;
    bool offline, aug_flips, json;
    mia_fl_flags fl;             /* --train fl and its flags */
} mia_args;

static void parse_mia(int argc, char **argv, mia_args *a) {
    memset(a, 0, sizeof *a);
    train_flags_init(&a->tf);
    a->protocol = "split4", a->batch_sizes = "8,16,32,64,128,256", a->attack_model = "mlp";
    a->attack_features = "sorted", a->shadows = 4, a->parallel = 1, a->attack_hidden = 64, a->attack_epochs = 80;
    a->aug_radius = 1, a->shadow_fraction = 0.5, a->rmia_a = 0.3, a->rmia_gamma = 1, a->attacks = "all";
    a->backend = "local";
    cli_opt opts[48 + MIA_FL_OPTS + TRAIN_FLAGS_MAX_OPTS] = {
        {"data", CLI_STR, &a->data, 0, 0, NULL},
        {"protocol", CLI_STR, &a->protocol, 0, 0, NULL},
        {"shadows", CLI_INT, &a->shadows, 1, 1024, NULL},
        {"shadow-model", CLI_STR, &a->shadow_model, 0, 0, NULL},
        {"shadow-data", CLI_STR, &a->shadow_data, 0, 0, NULL},
        {"shadow-fraction", CLI_DOUBLE, &a->shadow_fraction, 1e-6, 1, NULL},
        {"pool", CLI_INT, &a->pool, 8, 1L << 30, NULL},
        {"population", CLI_INT, &a->population, 1, 1L << 30, NULL},
        {"offline", CLI_FLAG, &a->offline, 0, 0, NULL},
        {"parallel", CLI_INT, &a->parallel, 1, 1024, NULL},
        {"keep-shadows", CLI_STR, &a->keep, 0, 0, NULL},
        {"target", CLI_STR, &a->target, 0, 0, NULL},
        {"members", CLI_STR, &a->members, 0, 0, NULL},
        {"nonmembers", CLI_STR, &a->nonmembers, 0, 0, NULL},
        {"shadow-pool", CLI_STR, &a->shadow_pool, 0, 0, NULL},
        {"from", CLI_STR, &a->from, 0, 0, NULL},
        {"attacks", CLI_STR, &a->attacks, 0, 0, NULL},
        {"batch-sizes", CLI_STR, &a->batch_sizes, 0, 0, NULL},
        {"attack-model", CLI_STR, &a->attack_model, 0, 0, NULL},
        {"attack-features", CLI_STR, &a->attack_features, 0, 0, NULL},
        {"attack-hidden", CLI_INT, &a->attack_hidden, 1, 65536, NULL},
        {"attack-epochs", CLI_INT, &a->attack_epochs, 1, 100000, NULL},
        {"rmia-a", CLI_DOUBLE, &a->rmia_a, 0, 1, NULL},
        {"rmia-gamma", CLI_DOUBLE, &a->rmia_gamma, 1e-9, 1e9, NULL},
        {"aug-radius", CLI_INT, &a->aug_radius, 0, 8, NULL},
        {"aug-flips", CLI_FLAG, &a->aug_flips, 0, 0, NULL},
        {"out", CLI_STR, &a->out, 0, 0, NULL},
        {"save-arrays", CLI_STR, &a->save_arrays, 0, 0, NULL},
        {"json", CLI_FLAG, &a->json, 0, 0, NULL},
        {"release", CLI_STR, &a->release, 0, 0, NULL},
        {"early-stop", CLI_INT, &a->early_stop, 1, 100000, NULL},
        {"val-size", CLI_INT, &a->val_size, 1, 1L << 30, NULL},
        {"backend", CLI_STR, &a->backend, 0, 0, NULL},
    };
    int n = 33;
    n += mia_fl_opts(&a->fl, opts + n);
    n += train_flags_opts(&a->tf, TRAIN_FLAGS_DP, opts + n);
    static char usage[sizeof mia_usage_head + 12288];
    snprintf(usage, sizeof usage, "%s%s%s", mia_usage_head, train_flags_usage(TRAIN_FLAGS_DP), mia_fl_usage);
    cli_parse("mia", usage, argc, argv, opts, n);
}

/* ---- checks ---- */

static void check_args(mia_args *a) {
    mia_fl_check(&a->fl, a->target || a->from, train_flags_dp_on(&a->tf), a->early_stop > 0, a->tf.epochs_seen);
    bool mpi = !strcmp(a->backend, "mpi");
    if (!mpi && strcmp(a->backend, "local")) cli_die("mia: --backend must be local or mpi, got '%s'", a->backend);
    if (mpi && a->from) cli_die("mia: --backend mpi deals shadow models to ranks; --from trains none");
    if (mpi && a->keep) cli_die("mia: --keep-shadows needs --backend local (under MPI only rank 0 writes)");
    if (mpi && a->parallel > 1)
        cli_die("mia: --parallel needs --backend local (under MPI each rank trains its shadows on one thread)");
    if (a->from) {
        if (a->data || a->target || a->tf.model_seen || a->tf.spec_file_seen)
            cli_die("mia: --from scores saved arrays; it takes no --data, --target or --model");
        if (a->save_arrays) cli_die("mia: --save-arrays saves what an audit collects; --from reads arrays already saved");
        if (a->release)
            cli_die("mia: --release applies as the audit collects the models' outputs; --from arrays are scored as "
                    "saved (released.npy marks released rows)");
        return;
    }
    if (!a->data) cli_die("mia: --data is required (see 'mlaudit mia --help')");
    if (a->target) {
        if (!a->members || !a->nonmembers) cli_die("mia: --target needs --members and --nonmembers");
        if (a->tf.model_seen || a->tf.spec_file_seen)
            cli_die("mia: --target is the model to audit; give the shadows' architecture with --shadow-model");
        if (a->early_stop || a->val_size)
            cli_die("mia: --early-stop applies to a target mia trains (an own target's shadows have no validation set)");
        if (a->tf.dp_epsilon_seen)
            cli_die("mia: with --target the shadows train with a noise multiplier (--dp-sigma; default: the target's "
                    "recorded one), not --dp-epsilon: the target's budget is already spent");
        return;
    }
    if (a->members || a->nonmembers || a->shadow_pool) cli_die("mia: --members, --nonmembers and --shadow-pool go with --target");
    if (a->val_size && !a->early_stop) cli_die("mia: --val-size goes with --early-stop");
    if (a->early_stop && !a->val_size) a->val_size = 1000;
    if (a->offline && strcmp(a->protocol, "lira")) cli_die("mia: --offline applies to --protocol lira");
    if (a->population && strcmp(a->protocol, "lira")) cli_die("mia: --population applies to --protocol lira");
    train_flags_check("mia", &a->tf);
}

/* The batch sizes: a comma list of integers >= 1. */
static int parse_batch_sizes(const char *list, int *out, int max) {
    int n = 0;
    if (!strcmp(list, "none") || !*list) return 0;
    for (const char *p = list; *p;) {
        char *end;
        long b = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || b < 1 || b > 1 << 20)
            cli_die("mia: --batch-sizes must be a comma list of sizes >= 1, got '%s'", list);
        if (n == max) cli_die("mia: --batch-sizes lists more than %d sizes", max);
        out[n++] = (int)b;
        p = *end ? end + 1 : end;
    }
    return n;
}

static mla_mia_config attack_config(const mia_args *a, int *sizes, int max) {
    mla_mia_config c = mla_mia_defaults();
    c.attacks = a->attacks;
    c.rmia_a = a->rmia_a, c.rmia_gamma = a->rmia_gamma;
    c.n_batch_sizes = parse_batch_sizes(a->batch_sizes, sizes, max);
    c.batch_sizes = sizes;
    c.seed = (uint64_t)a->tf.seed;
    c.attack.seed = (uint64_t)a->tf.seed;
    c.attack.hidden = (int)a->attack_hidden, c.attack.epochs = (int)a->attack_epochs;
    if (!strcmp(a->attack_model, "mlp")) c.attack.model = MLA_ATTACK_MODEL_MLP;
    else if (!strcmp(a->attack_model, "logreg")) c.attack.model = MLA_ATTACK_MODEL_LOGREG;
    else cli_die("mia: --attack-model must be mlp or logreg, got '%s'", a->attack_model);
    if (!strcmp(a->attack_features, "sorted")) c.attack.features = MLA_ATTACK_FEATURES_SORTED;
    else if (!strcmp(a->attack_features, "raw")) c.attack.features = MLA_ATTACK_FEATURES_RAW;
    else cli_die("mia: --attack-features must be sorted or raw, got '%s'", a->attack_features);
    return c;
}

/* ---- inputs ---- */

/* The dataset's training and test splits joined (training first). */
static mla_dataset *load_pooled(const char *spec) {
    mla_dataset *tr, *te, *all;
    cli_check(mla_dataset_load(spec, MLA_SPLIT_TRAIN, &tr));
    cli_check(mla_dataset_load(spec, MLA_SPLIT_TEST, &te));
    cli_check(mla_dataset_concat(tr, te, &all));
    mla_dataset_free(tr);
    mla_dataset_free(te);
    return all;
}

/* Indices from a .npy array of integers or a text file with one per line. */
static int32_t *load_indices(const char *flag, const char *path, int *n) {
    size_t len = strlen(path);
    int32_t *idx = NULL;
    if (len > 4 && !strcmp(path + len - 4, ".npy")) {
        mla_npy_array a;
        cli_check(mla_npy_read(path, &a));
        if (!a.i64 || a.ndim != 1) cli_die("--%s %s: expected a 1-d array of integers", flag, path);
        idx = malloc((size_t)(a.count ? a.count : 1) * sizeof *idx);
        if (!idx) cli_die("out of memory");
        for (int64_t i = 0; i < a.count; i++) {
            if (a.i64[i] < 0 || a.i64[i] > INT32_MAX) cli_die("--%s %s: index %lld is out of range", flag, path, (long long)a.i64[i]);
            idx[i] = (int32_t)a.i64[i];
        }
        *n = (int)a.count;
        mla_npy_array_free(&a);
    } else {
        char *text;
        size_t size;
        cli_check(mla_read_file(path, (size_t)1 << 30, &text, &size));
        idx = malloc((size / 2 + 1) * sizeof *idx);
        if (!idx) cli_die("out of memory");
        *n = 0;
        int line = 1;
        for (char *p = text; *p;) {
            while (*p == ' ' || *p == '\t' || *p == '\r') p++;
            if (*p == '\n') {
                p++, line++;
                continue;
            }
            if (!*p) break;
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p || v < 0 || v > INT32_MAX || (*end && *end != '\n' && *end != '\r' && *end != ' '))
                cli_die("--%s %s: line %d is not a sample index", flag, path, line);
            idx[(*n)++] = (int32_t)v;
            p = end;
        }
        free(text);
    }
    if (*n < 1) cli_die("--%s %s: no indices", flag, path);
    return idx;
}

/* ---- progress ---- */

typedef struct {
    cli_progress bar;
    int model, models;
    char extra[96];
} mia_progress;

static void on_model(void *user, int model, int models, double seconds) {
    mia_progress *p = user;
    (void)model;
    p->model++, p->models = models;
    snprintf(p->extra, sizeof p->extra, "model %d/%d done (%.1f s)", p->model, models, seconds);
    cli_progress_update(&p->bar, (long)p->model * 1000, p->extra);
}

static void on_batch(void *user, int epoch, long done, long total, float loss) {
    mia_progress *p = user;
    char extra[96];
    snprintf(extra, sizeof extra, "model %d/%d epoch %d loss %.4f", p->model + 1, p->models, epoch + 1, loss);
    cli_progress_update(&p->bar, (long)p->model * 1000 + (total > 0 ? 1000 * done / total : 0), extra);
}

/* ---- the audit ---- */

static void make_dir_for(const char *dir) {
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) cli_die("%s exists and is not a folder", dir);
        return;
    }
    if (mkdir(dir, 0777) != 0) cli_die("cannot create folder %s", dir);
}

typedef struct {
    mla_dataset *data, *shadow_data;
    mla_net *target;
    int32_t *members, *nonmembers, *shadow_pool;
    char *shadow_spec, *target_spec;
    mla_release release;
    train_dp dp_plan;            /* with --dp-*: the target's plan (no hook of its own) */
    mla_dpsgd_config dp;         /* what every model's hook starts from */
    cJSON *target_dp;            /* own target trained with DP-SGD: its record's dp_result */
    mla_fl_mia fl;               /* --train fl: the federated trainer */
} audit_inputs;

/* How many images the protocol's target trains on (for DP-SGD's q and delta). */
static int planned_target_size(const mia_args *a, int n_data) {
    if (!strcmp(a->protocol, "lira")) {
        int pool = a->pool ? (int)a->pool : n_data / 2;
        return (pool - pool % 2) / 2;
    }
    return (a->pool ? (int)a->pool : n_data) / 4;
}

/* DP-SGD for the target and every shadow, planned for the target's training set. */
static void dp_config(mia_args *a, audit_inputs *in, mla_mia_audit_config *cfg) {
    int n = planned_target_size(a, mla_dataset_count(in->data));
    if (n < 1 || !train_flags_dp_plan("mia", &a->tf, n, &in->dp_plan)) return;
    in->dp = (mla_dpsgd_config){in->dp_plan.clip, in->dp_plan.sigma, in->dp_plan.sampling, (int)a->tf.batch,
                                (uint64_t)a->tf.seed};
    cfg->dp = &in->dp;
}

/* The record's "dp_result" (the target's own accounting), when it has the fields
 * mia.json's settings.dp reports; NULL otherwise. */
static cJSON *record_dp_result(const char *record) {
    cJSON *o = cJSON_Parse(record), *r = cJSON_DetachItemFromObjectCaseSensitive(o, "dp_result");
    cJSON_Delete(o);
    const char *need[] = {"epsilon", "delta", "sigma", "steps"};
    for (size_t i = 0; r && i < sizeof need / sizeof *need; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, need[i]);
        if (!cJSON_IsNumber(v) && !(i == 0 && cJSON_IsNull(v))) cJSON_Delete(r), r = NULL;
    }
    return r;
}

/* DP-SGD shadows for an own target: they follow the target's recipe, so its noise
 * multiplier, clip and sampling (from the record, or the flags given) with each
 * shadow's own sampling rate (batch / its training size). The shadows need no budget of
 * their own, so sigma is taken as it is rather than solved from an epsilon. */
static void own_target_dp(mia_args *a, audit_inputs *in, mla_mia_audit_config *cfg) {
    train_flags *f = &a->tf;
    if (!train_flags_dp_on(f)) return;
    f->dp_epsilon_seen = false; /* the record holds the epsilon solved for the target: the sigma is the recipe */
    if (!f->dp_sigma_seen) cli_die("mia: DP-SGD shadows for --target need --dp-sigma (the target's record has none)");
    if (f->dp_clip_seen && !(f->dp_clip > 0)) cli_die("mia: --dp-clip must be positive, got %g", f->dp_clip);
    mla_dpsgd_sampling sampling;
    if (mla_dpsgd_sampling_parse(f->dp_sampling, &sampling))
        cli_die("mia: --dp-sampling must be poisson or shuffle, got '%s'", f->dp_sampling);
    in->dp = (mla_dpsgd_config){f->dp_clip_seen ? f->dp_clip : 1.0, f->dp_sigma, sampling, (int)f->batch,
                                (uint64_t)f->seed};
    f->dp_clip = in->dp.clip, f->dp_clip_seen = true;
    cfg->dp = &in->dp;
}

/* Fills the shadows' training flags from the target's record where not given. */
static void own_target(mia_args *a, audit_inputs *in, mla_mia_inputs *mi, mla_mia_audit_config *cfg) {
    char *record = NULL;
    cli_check(mla_net_load(a->target, &in->target, "mlaudit.training", &record));
    if (record) cli_check(mla_error_prefix(train_flags_from_json(&a->tf, record), "%s", a->target));
    if (record) in->target_dp = record_dp_result(record);
    a->tf.early_stop = 0, a->tf.val_fraction = 0; /* the shadows have no validation set: they train every epoch */
    free(record);
    cli_check(mla_check_compatible(in->target, in->data));
    mi->target = in->target;
    mi->members = in->members = load_indices("members", a->members, &mi->n_members);
    mi->nonmembers = in->nonmembers = load_indices("nonmembers", a->nonmembers, &mi->n_nonmembers);
    if (a->shadow_pool) mi->shadow_pool = in->shadow_pool = load_indices("shadow-pool", a->shadow_pool, &mi->n_shadow_pool);
    cfg->protocol = MLA_MIA_OWN_TARGET;
    if (!a->shadow_model) {
        in->shadow_spec = strdup(mla_net_spec(in->target));
        if (!in->shadow_spec) cli_die("out of memory");
    }
}

static mla_mia_audit_config audit_config(mia_args *a, audit_inputs *in, mla_mia_inputs *mi, mia_progress *prog) {
    mla_mia_audit_config cfg = mla_mia_audit_defaults();
    in->data = load_pooled(a->data);
    mi->data = in->data;
    if (a->shadow_data) mi->shadow_data = in->shadow_data = load_pooled(a->shadow_data);
    if (a->target) own_target(a, in, mi, &cfg);
    else cli_check(mla_mia_protocol_parse(a->protocol, &cfg.protocol));
    cfg.train = train_flags_config("mia", &a->tf);
    if (!a->target) dp_config(a, in, &cfg);
    else own_target_dp(a, in, &cfg);
    cfg.train.patience = (int)a->early_stop, cfg.val_size = (int)a->val_size;
    cfg.train.stop = cli_stop_flag();
    if (!a->target) {
        cli_check(mla_spec_resolve(a->tf.model ? a->tf.model : a->tf.spec_file, &in->target_spec));
        cfg.target.spec_json = in->target_spec;
    }
    if (a->shadow_model) cli_check(mla_spec_resolve(a->shadow_model, &in->shadow_spec));
    cfg.shadow.spec_json = in->shadow_spec;
    cfg.target.dropout = cfg.shadow.dropout = a->tf.dropout_seen ? (float)a->tf.dropout : -1.0f;
    cfg.shadows = (int)a->shadows, cfg.parallel = (int)a->parallel, cfg.seed = (uint64_t)a->tf.seed;
    cfg.shadow_fraction = a->shadow_fraction, cfg.pool = (int)a->pool, cfg.population = (int)a->population;
    cfg.offline = a->offline;
    int c;
    mla_dataset_shape(in->data, &c, NULL, NULL);
    cfg.aug_radius = (int)a->aug_radius;
    cfg.aug_flips = a->aug_flips || c == 3;
    cfg.keep_dir = a->keep;
    if (a->release) {
        cli_check(mla_release_parse(a->release, mla_dataset_classes(in->data), &in->release));
        snprintf(a->release_text, sizeof a->release_text, "%s", in->release.text);
        cfg.release = &in->release;
    }
    if (a->keep) make_dir_for(a->keep);
    if (mia_fl_on(&a->fl))
        mia_fl_config(&a->fl, (uint64_t)a->tf.seed, a->tf.dropout_seen ? (float)a->tf.dropout : -1.0f, &in->fl, &cfg);
    cfg.on_model = on_model, cfg.on_batch = on_batch, cfg.user = prog;
    cfg.stop = cfg.train.stop;
    if (a->mpi.size) cfg.transport = &a->mpi;
    if (a->mpi.rank > 0) cfg.on_model = NULL, cfg.on_batch = NULL;
    return cfg;
}

static void free_inputs(audit_inputs *in) {
    mla_dataset_free(in->data), mla_dataset_free(in->shadow_data);
    mla_net_free(in->target);
    free(in->members), free(in->nonmembers), free(in->shadow_pool), free(in->shadow_spec), free(in->target_spec);
    cJSON_Delete(in->target_dp);
    mla_fl_mia_clear(&in->fl);
}

/* The target's losses on evaluated members and non-members (loss_hist.png). */
static void split_losses(const mla_mia_arrays *arr, double **mem, int64_t *nm, double **non, int64_t *nn) {
    *mem = malloc((size_t)arr->m * sizeof(double)), *non = malloc((size_t)arr->m * sizeof(double));
    if (!*mem || !*non) cli_die("out of memory");
    *nm = *nn = 0;
    for (int i = 0; arr->truth && i < arr->m; i++) {
        if (arr->truth[i] < 0) continue;
        double loss;
        if (arr->target_py) loss = -log(fmax(arr->target_py[i], 1e-300));
        else if (arr->target_probs) loss = -mla_mia_logpy_from_probs(arr->target_probs + (size_t)i * arr->classes,
                                                                    arr->classes, arr->labels[i]);
        else loss = log1p(exp(-arr->target_phi[i]));
        if (arr->truth[i]) (*mem)[(*nm)++] = loss;
        else (*non)[(*nn)++] = loss;
    }
}

/* The audit's settings for mia.json; dp (taken over, may be NULL) is the target's
 * DP-SGD accounting. */
static char *settings_json(const mia_args *a, cJSON *dp, const mla_mia_collected *col) {
    char *training = a->from ? NULL : train_flags_to_json(&a->tf, a->data);
    cJSON *o = training ? cJSON_Parse(training) : cJSON_CreateObject();
    free(training);
    if (!o) cli_die("out of memory");
    if (dp) cJSON_AddItemToObject(o, "dp", dp);
    if (a->early_stop) { /* mia's own flags, not the record's validation hold-out */
        cJSON_DeleteItemFromObjectCaseSensitive(o, "early_stop");
        cJSON_DeleteItemFromObjectCaseSensitive(o, "val_fraction");
        cJSON_AddNumberToObject(o, "early_stop", (double)a->early_stop);
        cJSON_AddNumberToObject(o, "val_size", (double)a->val_size);
    }
    if (col && col->target_epochs_run) {
        cJSON_AddNumberToObject(o, "target_epochs_run", col->target_epochs_run);
        cJSON_AddNumberToObject(o, "target_epoch_kept", col->target_epoch_kept);
    }
    if (!a->from) mia_fl_settings(&a->fl, o);
    cJSON_AddStringToObject(o, "attacks", a->attacks);
    cJSON_AddStringToObject(o, "batch_sizes", a->batch_sizes);
    cJSON_AddStringToObject(o, "attack_model", a->attack_model);
    cJSON_AddStringToObject(o, "attack_features", a->attack_features);
    cJSON_AddNumberToObject(o, "attack_hidden", (double)a->attack_hidden);
    cJSON_AddNumberToObject(o, "attack_epochs", (double)a->attack_epochs);
    cJSON_AddNumberToObject(o, "rmia_a", a->rmia_a);
    cJSON_AddNumberToObject(o, "rmia_gamma", a->rmia_gamma);
    if (!a->from) {
        cJSON_AddNumberToObject(o, "aug_radius", (double)a->aug_radius);
        cJSON_AddNumberToObject(o, "parallel", (double)a->parallel);
        cJSON_AddStringToObject(o, "backend", a->backend);
        if (a->mpi.size) cJSON_AddNumberToObject(o, "ranks", a->mpi.size);
        if (a->pool) cJSON_AddNumberToObject(o, "pool", (double)a->pool);
        if (a->shadow_data) cJSON_AddStringToObject(o, "shadow_data", a->shadow_data);
        if (a->target) cJSON_AddStringToObject(o, "target_file", a->target);
        cJSON_AddBoolToObject(o, "offline", a->offline);
        cJSON_AddStringToObject(o, "release", a->release ? a->release_text : "none");
    } else {
        cJSON_AddStringToObject(o, "from", a->from);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) cli_die("out of memory");
    return text;
}

/* A plain-text table of the attacks, for a terminal. */
static void print_table(const mla_mia_result *r) {
    if (!r->ground_truth) {
        printf("no ground truth (target_in.npy): %d attacks scored the samples; see scores.csv\n", r->n_attacks);
        return;
    }
    printf("target: train accuracy %.4f, test accuracy %.4f, gap %.4f (correctness baseline (1+gap)/2 = %.4f)\n",
           r->train_accuracy, r->test_accuracy, r->gap_accuracy, (1 + r->gap_accuracy) / 2);
    printf("%-20s %7s %7s %7s %10s %19s %10s %19s %8s\n", "attack", "auc", "bal_acc", "acc", "tpr@0.1%", "95% CI",
           "tpr@1%", "95% CI", "excluded");
    for (int i = 0; i < r->n_attacks; i++) {
        const mla_score_summary *s = &r->attacks[i].summary;
        printf("%-20s %7.4f %7.4f %7.4f %10.4f [%.4f, %.4f] %10.4f [%.4f, %.4f] %8lld\n", r->attacks[i].name, s->auc,
               s->balanced_accuracy, s->accuracy, s->tpr_at_fpr[0], s->ci95_lo[0], s->ci95_hi[0], s->tpr_at_fpr[1],
               s->ci95_lo[1], s->ci95_hi[1], (long long)s->excluded);
    }
}

static void print_dp(const cJSON *dp) {
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(dp, "epsilon");
    double delta = cJSON_GetObjectItemCaseSensitive(dp, "delta")->valuedouble;
    double sigma = cJSON_GetObjectItemCaseSensitive(dp, "sigma")->valuedouble;
    double steps = cJSON_GetObjectItemCaseSensitive(dp, "steps")->valuedouble;
    if (cJSON_IsNumber(eps))
        printf("target trained with DP-SGD: epsilon %.4g at delta %g (sigma %.4g, %.0f steps)\n", eps->valuedouble, delta,
               sigma, steps);
    else printf("target trained with DP-SGD clipping but no noise: no privacy guarantee (%.0f steps)\n", steps);
}

static void write_outputs(const mia_args *a, const mla_mia_arrays *arr, const mla_mia_result *r,
                          mla_mia_report_info *info, cJSON *dp, const mla_mia_collected *col) {
    double *mem, *non;
    split_losses(arr, &mem, &info->n_member_loss, &non, &info->n_nonmember_loss);
    info->member_loss = mem, info->nonmember_loss = non;
    if (dp && !a->json) print_dp(dp);
    char *settings = settings_json(a, dp, col);
    info->settings_json = settings;
    if (a->out) {
        cli_check(mla_mia_report_write(a->out, r, info));
    }
    if (a->json) {
        char *json;
        cli_check(mla_mia_report_json(r, info, &json));
        fputs(json, stdout);
        fputc('\n', stdout);
        free(json);
    } else {
        print_table(r);
        if (a->out) printf("wrote %s/report.html\n", a->out);
    }
    free(settings), free(mem), free(non);
}

static int audit_from(mia_args *a, const mla_mia_config *mc, double start) {
    mla_mia_loaded *loaded;
    cli_check(mla_mia_arrays_load(a->from, &loaded));
    if (!loaded->arrays.truth && !a->out)
        cli_die("mia: %s has no target_in.npy, so the attacks can only score the samples: give --out DIR for "
                "scores.csv", a->from);
    mla_mia_result *r;
    cli_check(mla_mia_attack_arrays(&loaded->arrays, mc, &r));
    mla_mia_report_info info = {.protocol = "from-arrays", .shadows = loaded->arrays.k, .seed = (uint64_t)a->tf.seed,
                                .threads = mla_get_threads(), .seconds_target = NAN, .seconds_shadows = NAN,
                                .seconds_attacks = r->seconds_attacks};
    info.seconds_total = mla_seconds() - start;
    write_outputs(a, &loaded->arrays, r, &info, NULL, NULL);
    mla_mia_result_free(r);
    mla_mia_loaded_free(loaded);
    return 0;
}

/* Under MPI: this rank's error, then every rank of the job ends. */
static _Noreturn void mpi_fail(const mia_args *a, mla_status s) {
    if (s == MLA_ERR_INTERRUPTED) fprintf(stderr, "mlaudit: rank %d: audit interrupted: nothing was written\n", a->mpi.rank);
    else fprintf(stderr, "mlaudit: rank %d: %s\n", a->mpi.rank, mla_last_error());
    mla_mpi_abort(1);
    exit(1);
}

int cmd_mia(int argc, char **argv) {
    double start = mla_seconds();
    mia_args a;
    parse_mia(argc, argv, &a);
    check_args(&a);
    if (!strcmp(a.backend, "mpi") && mla_mpi_open(NULL, NULL, "mia", &a.mpi)) cli_die("mia: %s", mla_last_error());
    bool root = a.mpi.rank == 0;
    mla_set_threads((int)a.tf.threads);
    int sizes[64];
    mla_mia_config mc = attack_config(&a, sizes, 64);
    cli_check(mla_mia_config_check(&mc));
    if (a.save_arrays && root) make_dir_for(a.save_arrays);
    if (a.from) {
        int rc = audit_from(&a, &mc, start);
        train_flags_free(&a.tf);
        return rc;
    }
    audit_inputs in = {0};
    mla_mia_inputs mi = {0};
    mia_progress prog = {0};
    mla_mia_audit_config cfg = audit_config(&a, &in, &mi, &prog);
    prog.models = (int)a.shadows + 1;
    if (root) cli_progress_start(&prog.bar, "mia", (long)prog.models * 1000);
    mla_mia_collected *col;
    mla_status s = mla_mia_collect(&mi, &cfg, &col);
    if (root) cli_progress_end(&prog.bar);
    if (s && a.mpi.size) mpi_fail(&a, s);
    if (s == MLA_ERR_INTERRUPTED) cli_die("audit interrupted: nothing was written");
    cli_check(s);
    if (!root) { /* its shadows are on rank 0, which writes everything */
        mla_mpi_close(&a.mpi);
        free_inputs(&in);
        train_flags_free(&a.tf);
        return 0;
    }
    if (a.save_arrays) cli_check(mla_mia_arrays_save(a.save_arrays, &col->arrays));
    mla_mia_result *r;
    cli_check(mla_mia_attack_arrays(&col->arrays, &mc, &r));
    char shadow_name[64] = "";
    mla_mia_report_info info = {.protocol = a.target ? "own-target" : a.protocol, .dataset = mla_dataset_name(in.data),
                                .target_model = a.target ? a.target : a.tf.model ? a.tf.model : a.tf.spec_file,
                                .shadow_model = a.shadow_model ? a.shadow_model : a.target ? shadow_name : NULL,
                                .shadows = (int)a.shadows, .seed = (uint64_t)a.tf.seed, .threads = mla_get_threads(),
                                .seconds_target = col->seconds_target, .seconds_shadows = col->seconds_shadows,
                                .seconds_attacks = r->seconds_attacks};
    if (a.target) snprintf(shadow_name, sizeof shadow_name, "%s", mla_net_name(in.target));
    if (!info.shadow_model) info.shadow_model = info.target_model;
    info.seconds_total = mla_seconds() - start;
    cJSON *target_dp = a.target ? in.target_dp : cfg.dp ? train_dp_epsilon_json(&in.dp_plan, col->target_dp_steps) : NULL;
    in.target_dp = NULL; /* write_outputs takes it over */
    char *per_client = in.fl.target_clients ? mia_fl_per_client(&in.fl, col, r, in.data, a.json) : NULL;
    info.extra_json = per_client;
    write_outputs(&a, &col->arrays, r, &info, target_dp, col);
    if (per_client && a.out) mia_fl_write_clients(&in.fl, a.out);
    free(per_client);
    mla_mia_result_free(r);
    mla_mia_collected_free(col);
    free_inputs(&in);
    train_flags_free(&a.tf);
    if (a.mpi.size) mla_mpi_close(&a.mpi);
    return 0;
}
