/* mlaudit train | eval | predict | models: neural networks from the command line. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mlaudit/data.h"
#include "mlaudit/nn.h"
#include "mlaudit/release.h"
#include "mlaudit/train.h"
#include "train_flags.h"
#include "train_report.h"

enum { TRAIN_GROUPS = TRAIN_FLAGS_SUBSET | TRAIN_FLAGS_VALIDATION | TRAIN_FLAGS_DP };

/* ---- shared pieces ---- */

static mla_dataset *load_split(const char *spec, mla_split split) {
    mla_dataset *ds;
    cli_check(mla_dataset_load(spec, split, &ds));
    return ds;
}

/* Prints a cJSON object on stdout as one line and frees it. */
static void print_json(cJSON *obj) {
    char *text = cJSON_PrintUnformatted(obj);
    if (!text) cli_die("out of memory formatting JSON");
    puts(text);
    free(text);
    cJSON_Delete(obj);
}

static void set_threads(long threads) { mla_set_threads((int)threads); }

static void progress_cb(void *user, int epoch, long done, long total, float loss) {
    (void)total;
    char extra[64];
    snprintf(extra, sizeof extra, "epoch %d loss %.4f", epoch + 1, loss);
    cli_progress_update(((train_history *)user)->bar, done, extra);
}

/* ---- train ---- */

/* The help of train: the module's training flags between train's own. Built once;
 * lives until exit. */
static const char *train_usage(void) {
    static const char head[] =
        "usage: mlaudit train --data DATA --model NAME|SPEC.json [flags]\n"
        "\n"
        "Trains a neural network on DATA's training split, evaluates it on the training\n"
        "and test splits, and saves it (.safetensors) when --out is given.\n"
        "\n"
        "  --data DATA         mnist | fashion-mnist | cifar10:DIR | cifar100:DIR | npy:DIR | DIR of IDX files\n";
    static const char tail[] =
        "\n"
        "Checkpoints:\n"
        "  --checkpoint PATH   where to write the training state (atomically)\n"
        "  --checkpoint-every N  write it every N epochs (default 1 when --checkpoint is given)\n"
        "  --resume PATH       continue an interrupted run from its checkpoint; with the same\n"
        "                      flags, seed and threads it ends with the same bits as an\n"
        "                      uninterrupted run (DP-SGD runs too: the checkpoint keeps the\n"
        "                      sampling and noise state, and epsilon counts every noisy step).\n"
        "                      Ctrl-C / SIGTERM stop after the current batch.\n"
        "\n"
        "Output:\n"
        "  --out FILE          save the trained model (.safetensors, written atomically); its\n"
        "                      metadata \"mlaudit.training\" records the training flags as JSON\n"
        "                      (with DP-SGD also \"dp_result\": the epsilon, delta, sigma, q and\n"
        "                      steps achieved)\n"
        "  --plots DIR         evaluate the test set after every epoch and write history.csv\n"
        "                      (with DP-SGD its epsilon column holds epsilon after each epoch),\n"
        "                      learning_curve.png, accuracy_curve.png, confusion.png and\n"
        "                      test_samples.png into DIR (evaluation time is not counted in\n"
        "                      train_seconds)\n"
        "  --json              print one JSON object with the results on stdout\n";
    static char *text;
    if (text) return text;
    const char *mid = train_flags_usage(TRAIN_GROUPS);
    size_t len = strlen(head) + strlen(mid) + strlen(tail) + 1;
    if (!(text = malloc(len))) cli_die("out of memory");
    snprintf(text, len, "%s%s%s", head, mid, tail);
    return text;
}

typedef struct {
    train_flags f;           /* the shared training flags */
    const char *data, *out, *plots, *checkpoint, *resume;
    long checkpoint_every;
    bool json;
    int val_n;               /* set after the split */
    train_dp dp;             /* dp.dp NULL without DP-SGD */
} train_args;

/* Parses into *a (train_flags keeps pointers into it, so it is filled in place). */
static void parse_train(train_args *a, int argc, char **argv) {
    *a = (train_args){0};
    train_flags_init(&a->f);
    cli_opt opts[TRAIN_FLAGS_MAX_OPTS + 8] = {
        {"data", CLI_STR, &a->data, 0, 0, NULL},
        {"checkpoint", CLI_STR, &a->checkpoint, 0, 0, NULL},
        {"checkpoint-every", CLI_INT, &a->checkpoint_every, 1, 100000, NULL},
        {"resume", CLI_STR, &a->resume, 0, 0, NULL},
        {"out", CLI_STR, &a->out, 0, 0, NULL},
        {"plots", CLI_STR, &a->plots, 0, 0, NULL},
        {"json", CLI_FLAG, &a->json, 0, 0, NULL},
    };
    int n = 7;
    n += train_flags_opts(&a->f, TRAIN_GROUPS, opts + n);
    cli_parse("train", train_usage(), argc, argv, opts, n);
    if (!a->data) cli_die("train: --data is required (see 'mlaudit train --help')");
    train_flags_check("train", &a->f);
    if (a->checkpoint_every && !a->checkpoint) cli_die("train: --checkpoint-every needs --checkpoint PATH");
    if (a->checkpoint && !a->checkpoint_every) a->checkpoint_every = 1;
}

static mla_train_config train_config(const train_args *a) {
    mla_train_config cfg = train_flags_config("train", &a->f);
    cfg.checkpoint_every = (int)a->checkpoint_every;
    cfg.checkpoint_path = a->checkpoint;
    cfg.resume_path = a->resume;
    return cfg;
}


/* Saves the net to a->out with the dataset's name and the training record. */
static void save_model(const train_args *a, const mla_net *net, const mla_dataset *tr) {
    char *training = train_flags_to_json_dp(&a->f, mla_dataset_name(tr), &a->dp);
    if (!training) cli_die("out of memory");
    mla_meta meta[] = {{"dataset", mla_dataset_name(tr)}, {"mlaudit.training", training}};
    mla_status s = mla_net_save(net, a->out, meta, 2);
    free(training);
    cli_check(s);
}

/* The DP line of the text report. */
static void print_dp(const train_dp *dp) {
    cJSON *o = train_dp_json(dp);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "epsilon"), *st = cJSON_GetObjectItemCaseSensitive(o, "steps");
    printf("DP-SGD (%s sampling, q %.4g, %.0f steps, clip %g, sigma %.4g): ", mla_dpsgd_sampling_name(dp->sampling),
           dp->q, st ? st->valuedouble : 0, dp->clip, dp->sigma);
    if (cJSON_IsNumber(e)) printf("epsilon %.4g at delta %g\n", e->valuedouble, dp->delta);
    else printf("no noise, no privacy guarantee (delta %g)\n", dp->delta);
    cJSON_Delete(o);
}

static void report_train(const train_args *a, const mla_net *net, const mla_dataset *tr, int n_train,
                         const mla_train_stats *st, const mla_eval_result *etr, const mla_eval_result *ete) {
    double sps = st->train_seconds > 0 ? st->samples / st->train_seconds : 0;
    if (!a->json) {
        printf("model %s on %s: %d training images, %ld epochs, %.2f s (%.0f samples/s)\n", mla_net_name(net),
               mla_dataset_name(tr), n_train, a->f.epochs, st->train_seconds, sps);
        printf("train accuracy %.4f loss %.4f | test accuracy %.4f loss %.4f | gap %.4f\n", etr->accuracy, etr->loss,
               ete->accuracy, ete->loss, etr->accuracy - ete->accuracy);
        if (st->epoch_kept != st->epochs_run || st->stopped_early)
            printf("kept the weights of epoch %d of %d%s\n", st->epoch_kept, st->epochs_run,
                   st->stopped_early ? " (stopped early)" : "");
        if (a->dp.dp) print_dp(&a->dp);
        if (a->out) printf("saved %s\n", a->out);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", mla_net_name(net));
    cJSON_AddStringToObject(o, "dataset", mla_dataset_name(tr));
    cJSON_AddNumberToObject(o, "epochs", (double)a->f.epochs);
    cJSON_AddNumberToObject(o, "batch", (double)a->f.batch);
    cJSON_AddStringToObject(o, "optimizer", a->f.optimizer);
    cJSON_AddNumberToObject(o, "seed", (double)a->f.seed);
    cJSON_AddNumberToObject(o, "threads", mla_get_threads());
    cJSON_AddStringToObject(o, "kernels", mla_nn_kernels_name()); /* which kernel family ran (MLA_ISA) */
    cJSON_AddNumberToObject(o, "parameters", (double)mla_net_trainable_count(net));
    cJSON_AddNumberToObject(o, "train_size", n_train);
    cJSON_AddNumberToObject(o, "test_size", (double)ete->n);
    cJSON_AddNumberToObject(o, "train_seconds", st->train_seconds);
    cJSON_AddNumberToObject(o, "samples_per_second", sps);
    cJSON_AddNumberToObject(o, "train_accuracy", etr->accuracy);
    cJSON_AddNumberToObject(o, "train_loss", etr->loss);
    cJSON_AddNumberToObject(o, "test_accuracy", ete->accuracy);
    cJSON_AddNumberToObject(o, "test_loss", ete->loss);
    cJSON_AddNumberToObject(o, "gap_accuracy", etr->accuracy - ete->accuracy);
    cJSON_AddNumberToObject(o, "gap_loss", ete->loss - etr->loss);
    cJSON_AddNumberToObject(o, "epochs_run", st->epochs_run);
    cJSON_AddNumberToObject(o, "epoch_kept", st->epoch_kept);
    cJSON_AddBoolToObject(o, "stopped_early", st->stopped_early);
    cJSON_AddNumberToObject(o, "val_size", a->f.val_fraction ? (double)a->val_n : 0);
    cJSON *reg = cJSON_AddObjectToObject(o, "regularisation");
    cJSON_AddNumberToObject(reg, "weight_decay", a->f.weight_decay);
    if (a->f.dropout_seen) cJSON_AddNumberToObject(reg, "dropout", a->f.dropout);
    cJSON_AddBoolToObject(reg, "augment", a->f.augment);
    cJSON_AddNumberToObject(reg, "mixup", a->f.mixup);
    cJSON_AddNumberToObject(reg, "label_smoothing", a->f.label_smoothing);
    cJSON_AddNumberToObject(reg, "early_stop", (double)a->f.early_stop);
    if (a->dp.dp) cJSON_AddItemToObject(o, "dp", train_dp_json(&a->dp));
    cJSON_AddNumberToObject(o, "forward_macs_per_sample", mla_net_forward_macs(net));
    cJSON_AddNumberToObject(o, "train_flops_per_sample", mla_net_train_flops(net));
    cJSON_AddNumberToObject(o, "train_gflops", st->train_seconds > 0 ? mla_net_train_flops(net) * st->samples /
                                                                           st->train_seconds / 1e9 : 0);
    if (a->out) cJSON_AddStringToObject(o, "out", a->out);
    print_json(o);
}

int cmd_train(int argc, char **argv) {
    train_args a;
    parse_train(&a, argc, argv);
    mla_train_config cfg = train_config(&a);
    set_threads(a.f.threads);
    mla_dataset *tr = load_split(a.data, MLA_SPLIT_TRAIN), *te = load_split(a.data, MLA_SPLIT_TEST);
    int n_train, n_val;
    int32_t *idx = train_flags_subset(&a.f, tr, &n_train);
    int32_t *val = train_flags_hold_out(&a.f, &idx, &n_train, &n_val);
    a.val_n = n_val;
    cfg.val_idx = val;
    cfg.n_val = n_val;
    mla_net *net = train_flags_build_net("train", &a.f, NULL, tr, (uint64_t)a.f.seed);
    cli_check(mla_check_compatible(net, te));
    train_flags_dp("train", &a.f, net, n_train, &cfg, &a.dp);
    cfg.stop = cli_stop_flag();
    if (a.plots) make_dir(a.plots);
    cli_progress bar;
    train_history hist;
    train_history_init(&hist, cfg.epochs, a.plots ? te : NULL, &bar);
    if (a.dp.dp) hist.dp = &a.dp;
    cli_progress_start(&bar, "train", (long)cfg.epochs * n_train);
    cfg.on_batch = progress_cb;
    cfg.on_epoch = train_history_epoch;
    cfg.user = &hist;
    mla_train_stats st;
    mla_status s = mla_train(net, tr, idx, n_train, &cfg, &st);
    cli_progress_end(&bar);
    if (s == MLA_ERR_INTERRUPTED) {
        if (a.checkpoint)
            cli_die("training interrupted; the last checkpoint %s is intact: continue with --resume %s", a.checkpoint,
                    a.checkpoint);
        cli_die("training interrupted (no --checkpoint was given, so nothing was saved)");
    }
    cli_check(s);
    mla_eval_result etr, ete;
    int32_t *pred = malloc((size_t)mla_dataset_count(te) * sizeof *pred);
    if (!pred) cli_die("out of memory");
    cli_check(mla_evaluate(net, tr, idx, n_train, 500, &etr, NULL, NULL));
    cli_check(mla_evaluate(net, te, NULL, mla_dataset_count(te), 500, &ete, NULL, pred));
    if (a.out) save_model(&a, net, tr);
    if (a.plots) write_train_plots(a.plots, &hist, te, pred, mla_net_classes(net));
    report_train(&a, net, tr, n_train, &st, &etr, &ete);
    train_history_free(&hist);
    free(pred);
    free(idx);
    free(val);
    train_dp_free(&a.dp);
    mla_net_free(net);
    mla_dataset_free(tr);
    mla_dataset_free(te);
    train_flags_free(&a.f);
    return 0;
}

/* ---- eval and predict ---- */

static const char eval_usage[] =
    "usage: mlaudit eval --model FILE --data DATA [--split test|train] [--batch N] [--threads N] [--json]\n"
    "\n"
    "Evaluates a saved model (.safetensors from 'mlaudit train') on a dataset split\n"
    "(default: test): accuracy and mean cross-entropy.\n";

static const char predict_usage[] =
    "usage: mlaudit predict --model FILE --data DATA --out PROBS.npy [--split test|train] [--batch N] [--threads N]\n"
    "                       [--release POLICY] [--seed N]\n"
    "\n"
    "Writes the model's softmax outputs for every image of the split (default: test),\n"
    "one row per image in dataset order, as a float32 .npy array of shape (n, classes).\n"
    "\n"
    "  --release POLICY  write what an API releasing POLICY would return instead:\n"
    "                    none | topk:K (the K largest, renormalised) | topk:K:raw | round:D\n"
    "                    (D decimals; rows may not sum to 1) | label (one-hot argmax) |\n"
    "                    noise:S (N(0, S^2) on the logits) | reverse-sigmoid:BETA,GAMMA\n"
    "  --seed N          noise:S's seed (default 0); row i draws from stream i\n";

typedef struct {
    const char *model, *data, *split, *out, *release;
    long batch, threads, seed;
    bool json;
} eval_args;

static eval_args parse_eval(const char *cmd, const char *usage, int argc, char **argv) {
    eval_args a = {.split = "test", .batch = 500};
    cli_opt opts[] = {
        {"model", CLI_STR, &a.model, 0, 0, NULL},   {"data", CLI_STR, &a.data, 0, 0, NULL},
        {"split", CLI_STR, &a.split, 0, 0, NULL},   {"batch", CLI_INT, &a.batch, 1, 1 << 20, NULL},
        {"threads", CLI_INT, &a.threads, 1, 1024, NULL}, {"json", CLI_FLAG, &a.json, 0, 0, NULL},
        {"out", CLI_STR, &a.out, 0, 0, NULL},       {"release", CLI_STR, &a.release, 0, 0, NULL},
        {"seed", CLI_INT, &a.seed, 0, 2147483647L, NULL},
    };
    int n_opts = sizeof opts / sizeof *opts;
    if (!strcmp(cmd, "eval")) n_opts -= 3; /* no --out, --release, --seed */
    cli_parse(cmd, usage, argc, argv, opts, n_opts);
    if (!a.model) cli_die("%s: --model is required (see 'mlaudit %s --help')", cmd, cmd);
    if (!a.data) cli_die("%s: --data is required (see 'mlaudit %s --help')", cmd, cmd);
    if (strcmp(a.split, "test") && strcmp(a.split, "train"))
        cli_die("%s: --split must be test or train, got '%s'", cmd, a.split);
    return a;
}

static void load_for_eval(const eval_args *a, mla_net **net, mla_dataset **ds) {
    set_threads(a->threads);
    cli_check(mla_net_load(a->model, net, NULL, NULL));
    *ds = load_split(a->data, strcmp(a->split, "test") ? MLA_SPLIT_TRAIN : MLA_SPLIT_TEST);
    cli_check(mla_check_compatible(*net, *ds));
}

int cmd_eval(int argc, char **argv) {
    eval_args a = parse_eval("eval", eval_usage, argc, argv);
    mla_net *net;
    mla_dataset *ds;
    load_for_eval(&a, &net, &ds);
    mla_eval_result r;
    cli_check(mla_evaluate(net, ds, NULL, mla_dataset_count(ds), (int)a.batch, &r, NULL, NULL));
    if (a.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", mla_net_name(net));
        cJSON_AddStringToObject(o, "model_file", a.model);
        cJSON_AddStringToObject(o, "dataset", mla_dataset_name(ds));
        cJSON_AddStringToObject(o, "split", a.split);
        cJSON_AddNumberToObject(o, "n", (double)r.n);
        cJSON_AddNumberToObject(o, "accuracy", r.accuracy);
        cJSON_AddNumberToObject(o, "loss", r.loss);
        print_json(o);
    } else {
        printf("%s on %s (%s, %ld images): accuracy %.4f loss %.4f\n", mla_net_name(net), mla_dataset_name(ds),
               a.split, r.n, r.accuracy, r.loss);
    }
    mla_net_free(net);
    mla_dataset_free(ds);
    return 0;
}

/* probs (the softmax of every image of ds) replaced by their release as --release
 * says; noise:S reads the logits, so they are computed again batch by batch. */
static void release_outputs(const eval_args *a, const mla_release *rel, mla_net *net, const mla_dataset *ds,
                            float *probs) {
    int n = mla_dataset_count(ds), k = mla_net_classes(net), batch = (int)a->batch;
    float *row = malloc((size_t)k * sizeof *row);
    int32_t *labels = malloc((size_t)batch * sizeof *labels);
    if (!row || !labels) cli_die("out of memory");
    mla_rng base;
    mla_rng_seed(&base, (uint64_t)a->seed);
    for (int i = 0; i < n; i += batch) {
        int b = n - i < batch ? n - i : batch;
        const float *logits = NULL;
        float *in;
        if (rel->kind == MLA_RELEASE_NOISE) {
            cli_check(mla_net_input_buffer(net, b, &in));
            mla_dataset_batch(ds, NULL, i, b, in, labels);
            cli_check(mla_net_forward(net, in, b, false, &logits));
        }
        for (int r = 0; r < b; r++) {
            float *p = probs + (size_t)(i + r) * k;
            mla_rng stream = mla_rng_fork(&base, (uint64_t)(i + r));
            cli_check(mla_release_apply(rel, logits ? logits + (size_t)r * k : NULL, p, 1, k, mla_rng_u64(&stream), row));
            memcpy(p, row, (size_t)k * sizeof *row);
        }
    }
    free(row), free(labels);
}

int cmd_predict(int argc, char **argv) {
    eval_args a = parse_eval("predict", predict_usage, argc, argv);
    if (!a.out) cli_die("predict: --out is required (see 'mlaudit predict --help')");
    mla_net *net;
    mla_dataset *ds;
    load_for_eval(&a, &net, &ds);
    int n = mla_dataset_count(ds), k = mla_net_classes(net);
    mla_release rel = {0};
    if (a.release) cli_check(mla_release_parse(a.release, k, &rel));
    float *probs = malloc((size_t)n * k * sizeof(float));
    if (!probs) cli_die("out of memory");
    mla_eval_result r;
    cli_check(mla_evaluate(net, ds, NULL, n, (int)a.batch, &r, probs, NULL));
    if (mla_release_active(&rel)) release_outputs(&a, &rel, net, ds, probs);
    int64_t shape[2] = {n, k};
    cli_check(mla_npy_write_f32(a.out, probs, 2, shape));
    if (a.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "out", a.out);
        cJSON_AddNumberToObject(o, "rows", n);
        cJSON_AddNumberToObject(o, "classes", k);
        cJSON_AddNumberToObject(o, "accuracy", r.accuracy);
        print_json(o);
    }
    free(probs);
    mla_net_free(net);
    mla_dataset_free(ds);
    return 0;
}

/* ---- models ---- */

static const char models_usage[] =
    "usage: mlaudit models [--show NAME] [--summary NAME --input C,H,W [--classes K]]\n"
    "\n"
    "Without flags, lists the architecture presets. --show prints a preset's JSON spec\n"
    "(copy it, change it, and pass the file to 'mlaudit train --model-spec'). --summary\n"
    "prints the layer table of a preset or spec file for an input shape.\n";

static void list_presets(void) {
    const char *const *names = mla_preset_names();
    for (int i = 0; names[i]; i++) {
        cJSON *spec = cJSON_Parse(mla_preset_spec(names[i]));
        const cJSON *d = spec ? cJSON_GetObjectItemCaseSensitive(spec, "description") : NULL;
        printf("%-16s %s\n", names[i], cJSON_IsString(d) ? d->valuestring : "");
        cJSON_Delete(spec);
    }
}

int cmd_models(int argc, char **argv) {
    const char *show = NULL, *summary = NULL, *input = "1,28,28";
    long classes = 10;
    cli_opt opts[] = {
        {"show", CLI_STR, &show, 0, 0, NULL},
        {"summary", CLI_STR, &summary, 0, 0, NULL},
        {"input", CLI_STR, &input, 0, 0, NULL},
        {"classes", CLI_INT, &classes, 1, 1000000, NULL},
    };
    cli_parse("models", models_usage, argc, argv, opts, sizeof opts / sizeof *opts);
    if (show) {
        const char *spec = mla_preset_spec(show);
        if (!spec) {
            char *dummy;
            cli_check(mla_spec_resolve(show, &dummy)); /* dies naming the presets */
            free(dummy);
            cli_die("'%s' is not a preset", show);
        }
        fputs(spec, stdout);
        return 0;
    }
    if (summary) {
        mla_shape in;
        int used = 0;
        if (sscanf(input, "%d,%d,%d%n", &in.c, &in.h, &in.w, &used) != 3 || input[used])
            cli_die("models: --input must be C,H,W (e.g. 3,32,32), got '%s'", input);
        char *spec;
        cli_check(mla_spec_resolve(summary, &spec));
        mla_net *net;
        mla_status s = mla_net_create(spec, in, (int)classes, 0, &net);
        free(spec);
        cli_check(s);
        char *table = mla_net_summary(net);
        if (table) fputs(table, stdout);
        free(table);
        mla_net_free(net);
        return 0;
    }
    list_presets();
    return 0;
}
