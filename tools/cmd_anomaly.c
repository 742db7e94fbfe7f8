/* mlaudit anomaly: one-class anomaly detection from the command line. Parses flags,
 * loads the data, calls mla_anomaly_run (anomaly.h) and writes anomaly.json,
 * scores.csv and the figures (anomaly_report.h); no detection logic lives here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly_report.h"
#include "cli.h"
#include "mlaudit/anomaly.h"
#include "train_report.h"

#define MAX_METHODS 16

static const char anomaly_usage[] =
    "usage: mlaudit anomaly --data DATA --method M[,M2,...] --out DIR [flags]\n"
    "\n"
    "One-class anomaly detection: each method learns from normal training images only and\n"
    "scores every test image (higher = more anomalous); AUROC and AUPR (anomalies positive)\n"
    "and F1 per class, mean and standard deviation over seeds. Several methods in one run\n"
    "share the same splits. The protocol is printed with every result.\n"
    "\n"
    "Protocol:\n"
    "  --data DATA         mnist | fashion-mnist | cifar10:DIR | npy:DIR | DIR (as train)\n"
    "  --protocol P        one-out (default; ADe-GAN's, GPND's): class c is the anomaly, the\n"
    "                      other classes are normal; one-in (Deep SVDD's, GeoTrans's): class c\n"
    "                      is normal, the others are anomalies. Either way anomalies never\n"
    "                      enter training or validation, and the test set is the test split\n"
    "  --class C           a class number, or all (default: every class, one after another)\n"
    "  --seeds S           runs per class with seeds SEED..SEED+S-1 (default 1)\n"
    "  --val-fraction F    normal training images held out for validation (default 0.1;\n"
    "                      stratified by label, seeded): the F1 threshold and methods' calibration\n"
    "  --subset N          train on at most N normal images (stratified, seeded; default all)\n"
    "  --test-subset N     score N test images (stratified; the same for every seed; default all)\n"
    "Methods (--method, a comma list; the first is reported at the top level of anomaly.json):\n"
    "%s"
    "Method settings (0 or absent: each method's default):\n"
    "  --epochs E --batch B --lr X   training of the trained methods (ae: 10, 128, 1e-3;\n"
    "                      dsvdd: the same pretraining, then E epochs at 1e-4; adegan: 3,\n"
    "                      16, 2e-4; ganomaly: 5, 64, 2e-4)\n"
    "  --latent L          bottleneck of ae, knn-ae, dsvdd (default 32)\n"
    "  --k K               neighbours of knn, knn-ae: the score is the k-th distance (default 1)\n"
    "  --patterns N --noise-dim D --noise-sigma S --alpha A --beta B --gamma G\n"
    "  --stage1-epochs E --info-weight W --code-scale S --score both|recon|pattern\n"
    "  --recon-trains e|ge --recon-code soft|hard\n"
    "                      ADe-GAN: n_c (>= 2, default 10), d (16), sigma (0.3), the loss\n"
    "                      weights (1, 1, 10; none negative), stage-1 epochs, the weight of\n"
    "                      L_sl in stage 1 (InfoGAN's code term on G and E; default 1; 0:\n"
    "                      stage 1 is adversarial only), the scale of z_c's one-hot in G's\n"
    "                      input (default 1), score terms, which nets L_recon\n"
    "                      trains (default ge: G and E), the pattern code G(E(x)) gets\n"
    "                      (default soft: E's softmax; hard: its arg-max one-hot)\n"
    "Run and output:\n"
    "  --seed S            splits and training (default 0); same seed and threads, same bits\n"
    "  --threads N         threads (default: all cores)\n"
    "  --out DIR           write anomaly.json, scores.csv (one row per method, class, seed and\n"
    "                      test image), roc.png and score_hist.png (first class and seed), and\n"
    "                      the methods' own figures\n"
    "  --json              print anomaly.json's object on stdout instead of the table\n";

typedef struct {
    const char *data, *method, *protocol, *cls, *out, *score, *recon_trains, *recon_code;
    long seeds, subset, test_subset, epochs, batch, latent, k, patterns, noise_dim, stage1, seed, threads;
    double val_fraction, lr, sigma, alpha, beta, gamma, info, code_scale;
    bool json;
} anomaly_args;

/* The usage text with one line per registered method. */
static char *usage_text(void) {
    static char methods[2048], text[8192];
    size_t len = 0;
    const mla_anomaly_method *const *m = mla_anomaly_methods();
    for (int i = 0; m[i] && len < sizeof methods; i++)
        len += (size_t)snprintf(methods + len, sizeof methods - len, "  %-19s %s\n", m[i]->name, m[i]->summary);
    snprintf(text, sizeof text, anomaly_usage, methods);
    return text;
}

static anomaly_args parse(int argc, char **argv) {
    /* ADe-GAN's and kNN's defaults come from the library's, so help and code agree. */
    const mla_anomaly_config d = mla_anomaly_defaults();
    const mla_adegan_config *g = &d.adegan;
    anomaly_args a = {.protocol = "one-out", .cls = "all", .seeds = 1, .val_fraction = 0.1, .k = d.k,
                      .patterns = g->patterns, .noise_dim = g->noise_dim, .sigma = g->noise_sigma, .alpha = g->alpha,
                      .beta = g->beta, .gamma = g->gamma, .info = g->info_weight, .code_scale = g->code_scale, .score = g->score,
                      .recon_trains = g->recon_trains, .recon_code = g->recon_code};
    cli_opt opts[] = {
        {"data", CLI_STR, &a.data, 0, 0, NULL},
        {"method", CLI_STR, &a.method, 0, 0, NULL},
        {"protocol", CLI_STR, &a.protocol, 0, 0, NULL},
        {"class", CLI_STR, &a.cls, 0, 0, NULL},
        {"seeds", CLI_INT, &a.seeds, 1, 100, NULL},
        {"val-fraction", CLI_DOUBLE, &a.val_fraction, 1e-6, 0.9, NULL},
        {"subset", CLI_INT, &a.subset, 1, 100000000, NULL},
        {"test-subset", CLI_INT, &a.test_subset, 2, 100000000, NULL},
        {"epochs", CLI_INT, &a.epochs, 1, 100000, NULL},
        {"batch", CLI_INT, &a.batch, 1, 100000, NULL},
        {"lr", CLI_DOUBLE, &a.lr, 1e-12, 10, NULL},
        {"latent", CLI_INT, &a.latent, 1, 100000, NULL},
        {"k", CLI_INT, &a.k, 1, 100000, NULL},
        {"patterns", CLI_INT, &a.patterns, 2, 1000, NULL},
        {"noise-dim", CLI_INT, &a.noise_dim, 1, 100000, NULL},
        {"noise-sigma", CLI_DOUBLE, &a.sigma, 1e-9, 1e6, NULL},
        {"alpha", CLI_DOUBLE, &a.alpha, 0, 1e6, NULL},
        {"beta", CLI_DOUBLE, &a.beta, 0, 1e6, NULL},
        {"gamma", CLI_DOUBLE, &a.gamma, 0, 1e6, NULL},
        {"stage1-epochs", CLI_INT, &a.stage1, 0, 100000, NULL},
        {"info-weight", CLI_DOUBLE, &a.info, 0, 1e6, NULL},
        {"code-scale", CLI_DOUBLE, &a.code_scale, 1e-6, 1e6, NULL},
        {"score", CLI_STR, &a.score, 0, 0, NULL},
        {"recon-trains", CLI_STR, &a.recon_trains, 0, 0, NULL},
        {"recon-code", CLI_STR, &a.recon_code, 0, 0, NULL},
        {"seed", CLI_INT, &a.seed, 0, 9e15, NULL},
        {"threads", CLI_INT, &a.threads, 0, 4096, NULL},
        {"out", CLI_STR, &a.out, 0, 0, NULL},
        {"json", CLI_FLAG, &a.json, 0, 0, NULL},
    };
    cli_parse("anomaly", usage_text(), argc, argv, opts, sizeof opts / sizeof *opts);
    if (!a.data || !a.method) cli_die("anomaly: --data and --method are required (see 'mlaudit anomaly --help')");
    if (!a.out && !a.json) cli_die("anomaly: nothing to write: give --out DIR and/or --json");
    if (strcmp(a.score, "both") && strcmp(a.score, "recon") && strcmp(a.score, "pattern"))
        cli_die("anomaly: --score must be both, recon or pattern, got '%s'", a.score);
    if (strcmp(a.recon_trains, "e") && strcmp(a.recon_trains, "ge"))
        cli_die("anomaly: --recon-trains must be e or ge, got '%s'", a.recon_trains);
    if (strcmp(a.recon_code, "soft") && strcmp(a.recon_code, "hard"))
        cli_die("anomaly: --recon-code must be soft or hard, got '%s'", a.recon_code);
    return a;
}

/* --method's list resolved against the registry; dies naming the available methods. */
static int methods_of(const char *list, const mla_anomaly_method **out, char **copy) {
    *copy = strdup(list);
    if (!*copy) cli_die("out of memory");
    int n = 0;
    for (char *tok = strtok(*copy, ","); tok; tok = strtok(NULL, ",")) {
        if (n == MAX_METHODS) cli_die("anomaly: --method lists more than %d methods", MAX_METHODS);
        cli_check(mla_anomaly_method_find(tok, &out[n]));
        for (int i = 0; i < n; i++)
            if (out[i] == out[n]) cli_die("anomaly: --method lists '%s' twice", tok);
        n++;
    }
    if (!n) cli_die("anomaly: --method is empty");
    return n;
}

/* --class: "all" -> -1, else an integer (the range is checked against the data). */
static int class_of(const char *text) {
    if (!strcmp(text, "all")) return -1;
    char *end;
    long c = strtol(text, &end, 10);
    if (!*text || *end || c < 0 || c > 65535) cli_die("anomaly: --class must be a class number or all, got '%s'", text);
    return (int)c;
}

static mla_anomaly_config config_of(const anomaly_args *a) {
    mla_anomaly_config c = mla_anomaly_defaults();
    c.seed = (uint64_t)a->seed, c.threads = (int)a->threads, c.epochs = (int)a->epochs, c.batch = (int)a->batch;
    c.lr = (float)a->lr, c.latent = (int)a->latent, c.k = (int)a->k;
    c.adegan.patterns = (int)a->patterns, c.adegan.noise_dim = (int)a->noise_dim;
    c.adegan.noise_sigma = (float)a->sigma, c.adegan.alpha = (float)a->alpha, c.adegan.beta = (float)a->beta;
    c.adegan.gamma = (float)a->gamma, c.adegan.stage1_epochs = (int)a->stage1, c.adegan.score = a->score;
    c.adegan.info_weight = (float)a->info, c.adegan.code_scale = (float)a->code_scale;
    c.adegan.recon_trains = a->recon_trains, c.adegan.recon_code = a->recon_code;
    c.figures_dir = a->out;
    return c;
}

static void on_run(void *user, const char *method, int cls, int seed_index) {
    (void)user;
    fprintf(stderr, "anomaly: %s, class %d, seed index %d\n", method, cls, seed_index);
}

static mla_status on_epoch(void *user, const char *method, int epoch, int epochs, double loss) {
    (void)user;
    fprintf(stderr, "anomaly: %s epoch %d/%d loss %.6g\n", method, epoch, epochs, loss);
    return MLA_OK;
}

int cmd_anomaly(int argc, char **argv) {
    anomaly_args a = parse(argc, argv);
    const mla_anomaly_method *methods[MAX_METHODS];
    char *method_copy;
    int n_methods = methods_of(a.method, methods, &method_copy);
    mla_anomaly_protocol_config pc = mla_anomaly_protocol_defaults();
    cli_check(mla_anomaly_protocol_parse(a.protocol, &pc.protocol));
    pc.cls = class_of(a.cls), pc.seeds = (int)a.seeds, pc.val_fraction = a.val_fraction;
    pc.subset = (int)a.subset, pc.test_subset = (int)a.test_subset;
    pc.on_run = on_run;
    mla_anomaly_config cfg = config_of(&a);
    cfg.progress = on_epoch;

    mla_dataset *train, *test;
    cli_check(mla_dataset_load(a.data, MLA_SPLIT_TRAIN, &train));
    cli_check(mla_dataset_load(a.data, MLA_SPLIT_TEST, &test));
    /* bad input (class, one-class data, shapes) fails here, before any file is written */
    mla_anomaly_split check;
    cli_check(mla_anomaly_split_make(train, test, &pc, pc.cls < 0 ? 0 : pc.cls, cfg.seed, cfg.seed, &check));
    int n_train = check.n_train;
    mla_anomaly_split_free(&check);
    if (cfg.k > n_train)
        cli_die("anomaly: k = %d exceeds the %d normal training images of class %d", cfg.k, n_train, pc.cls < 0 ? 0 : pc.cls);
    if (a.out) make_dir(a.out);

    mla_anomaly_result r;
    cli_check(mla_anomaly_run(train, test, &pc, &cfg, methods, n_methods, &r));
    anomaly_report_info info = {mla_dataset_name(test), mla_dataset_classes(train), &cfg, a.method};
    cJSON *o = anomaly_report_json(&r, &info);
    char *text = o ? cJSON_Print(o) : NULL;
    size_t len = text ? strlen(text) : 0;
    char *line = text ? malloc(len + 2) : NULL;
    if (!line) cli_die("out of memory formatting JSON");
    memcpy(line, text, len);
    memcpy(line + len, "\n", 2);
    if (a.out) {
        anomaly_report_files(a.out, &r, test, cfg.seed);
        char path[4096];
        snprintf(path, sizeof path, "%s/anomaly.json", a.out);
        cli_check(mla_write_file_atomic(path, line, len + 1));
    }
    if (a.json) fputs(line, stdout);
    else anomaly_report_text(stdout, &r, &info);
    free(line);
    free(text);
    cJSON_Delete(o);
    mla_anomaly_result_free(&r);
    mla_dataset_free(train);
    mla_dataset_free(test);
    free(method_copy);
    return 0;
}
