/* mlaudit robust: the robustness audit from the command line. Parses flags, loads the
 * model and data, calls mla_robust_audit_runs (robust.h: one or several runs, each an
 * attack and what it goes through, on one index) and writes robust.json, examples.npy,
 * indices.npy and the figures per run; no audit logic lives here. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"
#include "mlaudit/plot.h"
#include "mlaudit/robust.h"
#include "train_report.h"

static const char robust_usage[] =
    "usage: mlaudit robust --model M.safetensors --data DATA [flags]\n"
    "\n"
    "Robustness audit: white-box attacks on the model (the DNN) and their effect on the DNN,\n"
    "a kNN on one of its layers and a Deep kNN (Papernot & McDaniel 2018) over several,\n"
    "side by side. The kNN reference set is DATA's training split; the DkNN's calibration\n"
    "set (per class, seeded) comes from the test split and is removed from the evaluation.\n"
    "\n"
    "  --model FILE        a model saved by 'mlaudit train ... --out FILE' (e.g. of the dknn preset)\n"
    "  --data DATA         mnist | fashion-mnist | npy:DIR | ... (as train)\n"
    "Attack (on the DNN, pixels in [0, 1], clipped):\n"
    "  --attack LIST       fgsm | bim (default) | pgd | pgd-l2 | cw, or a comma list of them:\n"
    "                      several runs on ONE index, calibration and clean pass (see Runs)\n"
    "  --eps LIST          eps, or a comma list for an accuracy-vs-eps curve (the first one\n"
    "                      gives the top-level figures and examples.npy); L_inf attacks take\n"
    "                      (0, 1]; pgd-l2 an L2 radius > 0; cw ignores it. Defaults: fgsm\n"
    "                      and bim 0.25 (the DkNN paper's), pgd 0.3, pgd-l2 2\n"
    "  --step S            bim / pgd / pgd-l2 step (defaults 0.01, 0.01, 0.1)\n"
    "  --iterations N      bim / pgd / pgd-l2 steps (defaults 100, 40, 40)\n"
    "  --targeted          aim every image at a seeded random class other than its label\n"
    "  --cw-c C --cw-search N --cw-iterations N --cw-lr LR --cw-kappa K\n"
    "                      C&W L2: initial c (0.01), binary-search steps (6), Adam steps per\n"
    "                      search step (100), learning rate (0.01), margin (0)\n"
    "  --through LIST      what the attack's gradients follow: dnn (default); dknnb or\n"
    "                      dknnb-cl: the net up to --dknnb-layer and a DkNNB on it (AdvKNN: a\n"
    "                      dense + softmax head trained on the training set's --k-neighbour labels at\n"
    "                      that layer; dknnb-cl with consistency learning, lambda CE + KL);\n"
    "                      sw: Sitawarin & Wagner's attack on the DkNN (steps toward the mean\n"
    "                      activations, at --layers, of the --sw-guides training images of\n"
    "                      another class nearest at the last layer; untargeted)\n"
    "  --dknnb-layer NAME  the DkNNB's layer (default relu3, the study's layer 3)\n"
    "  --dknnb-lambda L    CL's weight on CE (default 0.3)\n"
    "  --dknnb-epochs N    DkNNB training epochs (Adam 1e-3, batch 128; default 20)\n"
    "  --sw-guides M       guide images per image for --through sw (default 75)\n"
    "  --transfer FILE     a second model: its accuracy on the clean and adversarial images\n"
    "kNN / DkNN:\n"
    "  --layers LIST       DkNN layers (default relu1,relu2,relu3,logits: the dknn preset's)\n"
    "  --knn-layer NAME    the kNN's layer, one of --layers (default relu3 when listed, else\n"
    "                      the last of --layers)\n"
    "  --k K               neighbours (default 75)\n"
    "  --calibration N     DkNN calibration images, N / classes a class (default 750)\n"
    "  --normalize         L2-normalise the activations (cleverhans' option; off)\n"
    "  --center            then subtract the training activations' mean (off)\n"
    "  --trim-zeros        drop feature columns zero on every training image (off)\n"
    "  --threshold T       credibility below which the DkNN rejects an input (default 0.1)\n"
    "Subsets and run:\n"
    "  --train-subset N    index N training images (stratified, seeded; default all)\n"
    "  --test-subset N     evaluate N of the test images left (seeded; default all)\n"
    "  --seed S            calibration, subsets, random starts and targets (default 0)\n"
    "  --threads N         threads (default: all cores); same seed and threads, same bits\n"
    "  --batch N           images per forward / attack batch (default 100)\n"
    "Runs: every --attack item goes through every --through item, except an item written\n"
    "  ATTACK:THROUGH (e.g. bim:sw), which is that one run only. The attack flags above apply\n"
    "  to each attack (a flag not given: each attack's own default). With one run, --out DIR\n"
    "  gets its files; with several, DIR/ATTACK-THROUGH/ gets each run's (e.g. DIR/bim-dnn/):\n"
    "  the files and figures that run alone writes. --json then prints one object\n"
    "  {\"ATTACK-THROUGH\": that run's robust.json object, ...}. Each run's directory also\n"
    "  gets timing.json: {\"shared_s\": the index, calibration and clean pass, \"run_s\": the\n"
    "  run, \"runs\": how many runs shared the first} (not in robust.json: same seed and\n"
    "  threads, same robust.json). Each run's files are written as it ends, so a failed or\n"
    "  stopped invocation keeps the runs it finished, each complete.\n"
    "Output:\n"
    "  --out DIR           write robust.json, examples.npy (the adversarial images of the\n"
    "                      first eps, N x C x H x W), indices.npy (the test indices\n"
    "                      evaluated), credibility.png, acc_vs_l2.png and grid.png\n"
    "  --grid N            images in grid.png: each clean and adversarial, with its 5\n"
    "                      nearest training images per layer (default 4; 0: no grid)\n"
    "  --json              print robust.json's object on stdout\n";

typedef struct {
    const char *model, *data, *attack, *eps, *layers, *knn_layer, *out, *through, *dknnb_layer, *transfer;
    double step, cw_c, cw_lr, cw_kappa, threshold, dknnb_lambda;
    long iterations, cw_search, cw_iterations, k, calibration, train_subset, test_subset, seed, threads, batch;
    long dknnb_epochs, sw_guides, grid;
    bool targeted, normalize, center, trim_zeros, json;
    bool seen_step, seen_iter;
} robust_args;

/* Splits a comma list into at most max items, pointers into *copy (the caller frees it). */
static int split_list(const char *flag, const char *text, char **items, int max, char **copy_out) {
    char *copy = *copy_out = strdup(text);
    if (!copy) cli_die("out of memory");
    int n = 0;
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max) cli_die("robust: --%s has more than %d items", flag, max);
        items[n++] = tok;
    }
    if (!n) cli_die("robust: --%s is empty", flag);
    return n;
}

static robust_args parse(int argc, char **argv) {
    robust_args a = {.attack = "bim", .layers = "relu1,relu2,relu3,logits", .cw_c = 0.01, .cw_lr = 0.01,
                     .threshold = 0.1, .cw_search = 6, .cw_iterations = 100, .k = 75, .calibration = 750, .batch = 100,
                     .through = "dnn", .dknnb_layer = "relu3", .dknnb_lambda = 0.3, .dknnb_epochs = 20, .sw_guides = 75,
                     .grid = 4};
    cli_opt opts[] = {
        {"model", CLI_STR, &a.model, 0, 0, NULL},
        {"data", CLI_STR, &a.data, 0, 0, NULL},
        {"attack", CLI_STR, &a.attack, 0, 0, NULL},
        {"eps", CLI_STR, &a.eps, 0, 0, NULL},
        {"step", CLI_DOUBLE, &a.step, 1e-9, 1e9, &a.seen_step},
        {"iterations", CLI_INT, &a.iterations, 1, 1000000, &a.seen_iter},
        {"targeted", CLI_FLAG, &a.targeted, 0, 0, NULL},
        {"cw-c", CLI_DOUBLE, &a.cw_c, 1e-12, 1e12, NULL},
        {"cw-search", CLI_INT, &a.cw_search, 1, 100, NULL},
        {"cw-iterations", CLI_INT, &a.cw_iterations, 1, 1000000, NULL},
        {"cw-lr", CLI_DOUBLE, &a.cw_lr, 1e-12, 1e3, NULL},
        {"cw-kappa", CLI_DOUBLE, &a.cw_kappa, 0, 1e6, NULL},
        {"layers", CLI_STR, &a.layers, 0, 0, NULL},
        {"knn-layer", CLI_STR, &a.knn_layer, 0, 0, NULL},
        {"k", CLI_INT, &a.k, 1, 1000000, NULL},
        {"calibration", CLI_INT, &a.calibration, 1, 100000000, NULL},
        {"normalize", CLI_FLAG, &a.normalize, 0, 0, NULL},
        {"center", CLI_FLAG, &a.center, 0, 0, NULL},
        {"trim-zeros", CLI_FLAG, &a.trim_zeros, 0, 0, NULL},
        {"threshold", CLI_DOUBLE, &a.threshold, 0, 1, NULL},
        {"train-subset", CLI_INT, &a.train_subset, 1, 100000000, NULL},
        {"test-subset", CLI_INT, &a.test_subset, 1, 100000000, NULL},
        {"seed", CLI_INT, &a.seed, 0, 9e15, NULL},
        {"threads", CLI_INT, &a.threads, 0, 4096, NULL},
        {"batch", CLI_INT, &a.batch, 1, 1000000, NULL},
        {"out", CLI_STR, &a.out, 0, 0, NULL},
        {"through", CLI_STR, &a.through, 0, 0, NULL},
        {"dknnb-layer", CLI_STR, &a.dknnb_layer, 0, 0, NULL},
        {"dknnb-lambda", CLI_DOUBLE, &a.dknnb_lambda, 0, 1e6, NULL},
        {"dknnb-epochs", CLI_INT, &a.dknnb_epochs, 1, 100000, NULL},
        {"sw-guides", CLI_INT, &a.sw_guides, 1, 1000000, NULL},
        {"transfer", CLI_STR, &a.transfer, 0, 0, NULL},
        {"grid", CLI_INT, &a.grid, 0, 64, NULL},
        {"json", CLI_FLAG, &a.json, 0, 0, NULL},
    };
    cli_parse("robust", robust_usage, argc, argv, opts, sizeof opts / sizeof *opts);
    if (!a.model || !a.data) cli_die("robust: --model and --data are required (see 'mlaudit robust --help')");
    if (!a.out && !a.json) cli_die("robust: nothing to write: give --out DIR and/or --json");
    return a;
}

/* The attack's settings from the flags over its defaults; eps values parsed into eps. */
static mla_adv_config attack_config(const robust_args *a, const char *attack, float *eps, int *n_eps) {
    mla_adv_kind kind;
    cli_check(mla_adv_kind_parse(attack, &kind));
    mla_adv_config c = mla_adv_defaults(kind);
    if (a->seen_step) c.step = (float)a->step;
    if (a->seen_iter) c.iterations = (int)a->iterations;
    c.targeted = a->targeted;
    c.batch = (int)a->batch;
    c.seed = (uint64_t)a->seed;
    c.cw_c = (float)a->cw_c, c.cw_search = (int)a->cw_search, c.cw_iterations = (int)a->cw_iterations;
    c.cw_lr = (float)a->cw_lr, c.cw_kappa = (float)a->cw_kappa;
    *n_eps = 1;
    eps[0] = c.eps;
    if (a->eps) {
        char *items[64], *copy;
        *n_eps = split_list("eps", a->eps, items, 64, &copy);
        for (int i = 0; i < *n_eps; i++) {
            char *end;
            double v = strtod(items[i], &end);
            if (*end || end == items[i]) cli_die("robust: --eps: '%s' is not a number", items[i]);
            eps[i] = (float)v;
            bool linf = kind != MLA_ADV_PGD_L2 && kind != MLA_ADV_CW;
            if (!(v > 0) || (linf && v > 1) || !isfinite(v))
                cli_die("robust: --eps %s must be %s", items[i], linf ? "in (0, 1]" : "> 0");
        }
        free(copy);
    }
    return c;
}

/* {dnn, knn, dknn} plus dknnb when the attack went through one (dknnb not NaN-only). */
static cJSON *triple(double dnn, double knn, double dknn, const mla_robust_config *c, double dknnb) {
    cJSON *o = cJSON_CreateObject();
    cli_json_num(o, "dnn", dnn);
    cli_json_num(o, "knn", knn);
    cli_json_num(o, "dknn", dknn);
    if (c->through == MLA_THROUGH_DKNNB || c->through == MLA_THROUGH_DKNNB_CL) cli_json_num(o, "dknnb", dknnb);
    return o;
}

static cJSON *settings_json(const robust_args *a, const mla_robust_config *c, const mla_robust_result *r,
                            const mla_net *net) {
    cJSON *s = cJSON_CreateObject();
    const mla_adv_config *ac = &c->attack;
    cJSON_AddStringToObject(s, "model", mla_net_name(net));
    cJSON_AddStringToObject(s, "model_file", a->model);
    cJSON_AddStringToObject(s, "attack", mla_adv_kind_name(ac->kind));
    cJSON_AddStringToObject(s, "through", mla_robust_through_name(c->through));
    if (c->through == MLA_THROUGH_DKNNB || c->through == MLA_THROUGH_DKNNB_CL) {
        cJSON_AddStringToObject(s, "dknnb_layer", c->dknnb.layer);
        cJSON_AddNumberToObject(s, "dknnb_epochs", c->dknnb.epochs);
        if (c->through == MLA_THROUGH_DKNNB_CL) cli_json_num(s, "dknnb_lambda", cli_short_float(c->dknnb.lambda));
    }
    if (c->through == MLA_THROUGH_SW) cJSON_AddNumberToObject(s, "sw_guides", c->sw_guides);
    if (a->transfer) cJSON_AddStringToObject(s, "transfer_file", a->transfer);
    cli_json_num(s, "eps", cli_short_float(c->eps[0]));
    cJSON *eps = cJSON_AddArrayToObject(s, "eps_list");
    for (int i = 0; i < c->n_eps; i++) cJSON_AddItemToArray(eps, cJSON_CreateNumber(cli_short_float(c->eps[i])));
    cli_json_num(s, "step", cli_short_float(ac->step));
    cJSON_AddNumberToObject(s, "iterations", ac->kind == MLA_ADV_FGSM ? 1 : ac->iterations);
    cJSON_AddBoolToObject(s, "targeted", ac->targeted);
    if (ac->kind == MLA_ADV_CW) {
        cli_json_num(s, "cw_c", cli_short_float(ac->cw_c));
        cJSON_AddNumberToObject(s, "cw_search", ac->cw_search);
        cJSON_AddNumberToObject(s, "cw_iterations", ac->cw_iterations);
        cli_json_num(s, "cw_lr", cli_short_float(ac->cw_lr));
        cli_json_num(s, "cw_kappa", cli_short_float(ac->cw_kappa));
    }
    cJSON *layers = cJSON_AddArrayToObject(s, "layers");
    for (int i = 0; i < c->n_layers; i++) cJSON_AddItemToArray(layers, cJSON_CreateString(c->layers[i]));
    cJSON_AddStringToObject(s, "knn_layer", c->layers[c->knn_layer]);
    cJSON_AddNumberToObject(s, "k", c->dknn.k);
    cJSON_AddBoolToObject(s, "normalize", c->dknn.normalize);
    cJSON_AddBoolToObject(s, "center", c->dknn.center);
    cJSON_AddBoolToObject(s, "trim_zeros", c->dknn.trim_zeros);
    cJSON_AddNumberToObject(s, "calibration", r->n_calibration);
    cJSON_AddNumberToObject(s, "n_train", r->n_train);
    cJSON_AddNumberToObject(s, "n_eval", r->n_eval);
    cJSON_AddNumberToObject(s, "seed", (double)c->seed);
    cJSON_AddNumberToObject(s, "threads", mla_get_threads());
    return s;
}

static cJSON *result_json(const robust_args *a, const mla_robust_config *c, const mla_robust_result *r,
                          const mla_net *net, const char *dataset) {
    const mla_robust_point *p = &r->points[0];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dataset", dataset);
    cJSON *acc = cJSON_AddObjectToObject(o, "accuracy");
    cJSON_AddItemToObject(acc, "clean", triple(p->dnn.clean, p->knn.clean, p->dknn.clean, c, p->dknnb.clean));
    cJSON_AddItemToObject(acc, "adversarial",
                          triple(p->dnn.adversarial, p->knn.adversarial, p->dknn.adversarial, c, p->dknnb.adversarial));
    cJSON_AddItemToObject(o, "success_rate", triple(p->dnn.success_rate, p->knn.success_rate, p->dknn.success_rate, c,
                                                    p->dknnb.success_rate));
    if (c->transfer) {
        cJSON *t = cJSON_AddObjectToObject(o, "transfer");
        cli_json_num(t, "clean", p->transfer.clean);
        cli_json_num(t, "adversarial", p->transfer.adversarial);
        cli_json_num(t, "success_rate", p->transfer.success_rate);
    }
    const mla_perturbation *q = &p->perturbation;
    cJSON *l2 = cJSON_AddObjectToObject(o, "l2");
    cli_json_num(l2, "mean", q->l2_mean);
    cli_json_num(l2, "median", q->l2_median);
    cli_json_num(l2, "mean_successful", q->l2_mean_success);
    cli_json_num(l2, "median_successful", q->l2_median_success);
    cli_json_num(l2, "rescaled_advknn", p->l2_rescaled);
    cJSON *linf = cJSON_AddObjectToObject(o, "linf");
    cli_json_num(linf, "mean", q->linf_mean);
    cli_json_num(linf, "max", q->linf_max);
    cli_json_num(linf, "mean_successful", q->linf_mean_success);
    cJSON_AddNumberToObject(o, "n_successful", q->n_success);
    cJSON *cred = cJSON_AddObjectToObject(o, "credibility");
    cli_json_num(cred, "clean", r->credibility_clean);
    cli_json_num(cred, "adversarial", p->credibility);
    cJSON *rej = cJSON_AddObjectToObject(o, "rejection");
    cli_json_num(rej, "threshold", cli_short_float(c->credibility_threshold));
    cli_json_num(rej, "clean", r->rejected_clean);
    cli_json_num(rej, "adversarial", p->rejected);
    cli_json_num(rej, "accuracy_kept", r->accuracy_kept);
    cJSON *curve = cJSON_AddArrayToObject(o, "curve");
    for (int i = 0; i < r->n_points; i++) {
        const mla_robust_point *pt = &r->points[i];
        cJSON *e = cJSON_CreateObject();
        cli_json_num(e, "eps", cli_short_float(pt->eps));
        cJSON_AddItemToObject(e, "accuracy",
                              triple(pt->dnn.adversarial, pt->knn.adversarial, pt->dknn.adversarial, c, pt->dknnb.adversarial));
        cJSON_AddItemToObject(e, "success_rate", triple(pt->dnn.success_rate, pt->knn.success_rate,
                                                        pt->dknn.success_rate, c, pt->dknnb.success_rate));
        if (c->transfer) cli_json_num(e, "transfer", pt->transfer.adversarial);
        cli_json_num(e, "l2_rescaled_advknn", pt->l2_rescaled);
        cli_json_num(e, "l2_mean", pt->perturbation.l2_mean);
        cli_json_num(e, "linf_max", pt->perturbation.linf_max);
        cli_json_num(e, "credibility", pt->credibility);
        cJSON_AddItemToArray(curve, e);
    }
    cJSON_AddItemToObject(o, "settings", settings_json(a, c, r, net));
    return o;
}

/* credibility.png: histograms of the DkNN credibility, clean and adversarial (the
 * study's Figure 5), as fractions per tenth. */
static void plot_credibility(const char *path, const mla_robust_result *r) {
    double clean[10] = {0}, adv[10] = {0};
    const char *cats[10] = {"0-.1", ".1-.2", ".2-.3", ".3-.4", ".4-.5", ".5-.6", ".6-.7", ".7-.8", ".8-.9", ".9-1"};
    for (int i = 0; i < r->n_eval; i++) {
        int b = (int)(r->cred_clean[i] * 10), c = (int)(r->cred_adv[i] * 10);
        clean[b > 9 ? 9 : b] += 1.0 / r->n_eval;
        adv[c > 9 ? 9 : c] += 1.0 / r->n_eval;
    }
    mla_plot_bar_series s[2] = {{"clean", clean, 0}, {"adversarial", adv, 0}};
    mla_plot_bar_opts o = {.frame = {.title = "DkNN credibility"}, .x_title = "credibility",
                           .y = {.title = "fraction of images"}};
    cli_check(mla_plot_bars(path, cats, 10, s, 2, &o));
}

/* acc_vs_l2.png: adversarial accuracy of each classifier against the mean L2 of the
 * perturbations, one point per eps plus the clean point (the study's Figure 4). */
static void plot_acc_l2(const char *path, const mla_robust_result *r) {
    int n = r->n_points + 1;
    double *x = calloc((size_t)n, sizeof(double)), *y = calloc((size_t)3 * n, sizeof(double));
    if (!x || !y) cli_die("out of memory");
    const mla_robust_point *p0 = &r->points[0];
    y[0] = p0->dnn.clean, y[n] = p0->knn.clean, y[2 * n] = p0->dknn.clean;
    for (int i = 0; i < r->n_points; i++) {
        const mla_robust_point *p = &r->points[i];
        x[i + 1] = p->perturbation.l2_mean;
        y[i + 1] = p->dnn.adversarial, y[n + i + 1] = p->knn.adversarial, y[2 * n + i + 1] = p->dknn.adversarial;
    }
    mla_plot_series s[3] = {{"DNN", x, y, n, 1, 0, 0}, {"kNN", x, y + n, n, 1, 0, 0}, {"DkNN", x, y + 2 * n, n, 1, 0, 0}};
    mla_plot_line_opts o = {.frame = {.title = "Accuracy under attack"}, .x = {.title = "mean L2 of the perturbation"},
                            .y = {.title = "accuracy", .min = 0, .max = 1}};
    cli_check(mla_plot_lines(path, s, 3, &o));
    free(x);
    free(y);
}

/* grid.png: per recorded image a clean row and an adversarial row, each the image and
 * its 5 nearest training images at every layer (the study's Figure 3). */
static void plot_grid(const char *path, const mla_robust_result *r, const mla_robust_config *c,
                      const mla_dataset *train, const mla_dataset *test, mla_shape in) {
    int G = MLA_ROBUST_GRID_NEIGHBORS, cols = 1 + c->n_layers * G, rows = 2 * r->n_grid, dim = mla_shape_size(in);
    float *px = calloc((size_t)rows * cols * dim, sizeof(float));
    const char **tiles = calloc((size_t)rows * cols, sizeof(char *)), **rcap = calloc((size_t)rows, sizeof(char *));
    char (*names)[48] = calloc((size_t)rows, sizeof *names);
    if (!px || !tiles || !rcap || !names) cli_die("out of memory");
    for (int i = 0; i < r->n_grid; i++)
        for (int side = 0; side < 2; side++) {
            int row = 2 * i + side;
            float *t = px + (size_t)row * cols * dim;
            if (side) memcpy(t, r->examples + (size_t)i * dim, (size_t)dim * sizeof(float));
            else mla_dataset_batch(test, r->eval_idx + i, 0, 1, t, NULL);
            snprintf(names[row], sizeof names[row], "%s %d", side ? "adv" : "clean", r->eval_idx[i]);
            rcap[row] = names[row];
            const int32_t *nb = r->grid_nb + ((size_t)side * r->n_grid + i) * c->n_layers * G;
            for (int l = 0; l < c->n_layers; l++)
                for (int j = 0; j < G; j++) {
                    int32_t id = nb[l * G + j];
                    if (id >= 0) mla_dataset_batch(train, &id, 0, 1, t + (size_t)(1 + l * G + j) * dim, NULL);
                    if (j == 0 && row == 0) tiles[1 + l * G] = c->layers[l];
                }
        }
    mla_plot_images im = {px, MLA_PIXELS_F32, rows * cols, in.c, in.h, in.w};
    mla_plot_grid_opts o = {.frame = {.title = "Nearest training images per layer: clean and adversarial"},
                            .rows = rows, .cols = cols, .tile_captions = tiles, .row_captions = rcap};
    cli_check(mla_plot_image_grid(path, &im, &o));
    free(px), free(tiles), free(rcap), free(names);
}

/* The runs the flags ask for: every --attack item through every --through item, an
 * ATTACK:THROUGH item alone; each named "ATTACK-THROUGH" (the caller frees copies[0..1]). */
#define MAX_RUNS 64
typedef struct {
    const char *attack, *through;
    char name[64];
} run_spec;

static int plan_runs(const robust_args *a, run_spec *runs, char **copies) {
    char *atk[MAX_RUNS], *thr[MAX_RUNS];
    int na = split_list("attack", a->attack, atk, MAX_RUNS, &copies[0]);
    int nt = split_list("through", a->through, thr, MAX_RUNS, &copies[1]), n = 0;
    for (int i = 0; i < na; i++) {
        char *colon = strchr(atk[i], ':');
        if (colon) *colon = 0;
        for (int j = 0; j < (colon ? 1 : nt); j++) {
            if (n == MAX_RUNS) cli_die("robust: more than %d runs", MAX_RUNS);
            runs[n] = (run_spec){atk[i], colon ? colon + 1 : thr[j], ""};
            snprintf(runs[n].name, sizeof runs[n].name, "%s-%s", runs[n].attack, runs[n].through);
            for (int k = 0; k < n; k++)
                if (!strcmp(runs[k].name, runs[n].name)) cli_die("robust: the run %s is asked for twice", runs[n].name);
            n++;
        }
    }
    return n;
}

static void write_timing(const char *dir, double shared, double run, int runs) {
    char path[4096], text[160];
    snprintf(path, sizeof path, "%s/timing.json", dir);
    snprintf(text, sizeof text, "{\"shared_s\": %.1f, \"run_s\": %.1f, \"runs\": %d}\n", shared, run, runs);
    cli_check(mla_write_file_atomic(path, text, strlen(text)));
}

static void write_outputs(const char *dir, const char *json, const mla_robust_result *r, const mla_robust_config *c,
                          const mla_dataset *train, const mla_dataset *test, mla_shape in) {
    make_dir(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/examples.npy", dir);
    int64_t shape[4] = {r->n_eval, in.c, in.h, in.w};
    cli_check(mla_npy_write_f32(path, r->examples, 4, shape));
    snprintf(path, sizeof path, "%s/indices.npy", dir);
    cli_check(mla_npy_write_i32(path, r->eval_idx, 1, shape));
    snprintf(path, sizeof path, "%s/credibility.png", dir);
    plot_credibility(path, r);
    snprintf(path, sizeof path, "%s/acc_vs_l2.png", dir);
    plot_acc_l2(path, r);
    if (r->n_grid > 0) {
        snprintf(path, sizeof path, "%s/grid.png", dir);
        plot_grid(path, r, c, train, test, in);
    }
    snprintf(path, sizeof path, "%s/robust.json", dir);
    cli_check(mla_write_file_atomic(path, json, strlen(json)));
}

/* What write_run needs: the flags, the runs, and what --json prints at the end (all: the
 * runs' objects by name when there are several; line: the one run's robust.json). */
typedef struct {
    const robust_args *a;
    const mla_robust_config *cfgs;
    const run_spec *runs;
    int n_runs;
    const mla_net *net;
    const mla_dataset *train, *test;
    cJSON *all;
    char *line;
} run_writer;

/* mla_robust_audit_runs' callback: a run's files as soon as it ends, so an invocation
 * stopped later keeps the runs it finished (each folder complete). */
static mla_status write_run(void *user, int i, const mla_robust_result *r, const double *seconds) {
    run_writer *w = user;
    const robust_args *a = w->a;
    cJSON *o = result_json(a, &w->cfgs[i], r, w->net, mla_dataset_name(w->test));
    char *text = cJSON_PrintUnformatted(o);
    if (!text) cli_die("out of memory formatting JSON");
    size_t len = strlen(text);
    char *line = malloc(len + 2), dir[3000];
    if (!line) cli_die("out of memory");
    memcpy(line, text, len);
    memcpy(line + len, "\n", 2);
    free(text);
    if (a->out) {
        bool many = w->n_runs > 1;
        if (many) make_dir(a->out);
        if (snprintf(dir, sizeof dir, "%s%s%s", a->out, many ? "/" : "", many ? w->runs[i].name : "") >= (int)sizeof dir)
            cli_die("robust: --out %s is too long a path", a->out);
        write_outputs(dir, line, r, &w->cfgs[i], w->train, w->test, mla_net_input_shape(w->net));
        write_timing(dir, seconds[0], seconds[1 + i], w->n_runs);
    }
    if (w->all) {
        cJSON_AddItemToObject(w->all, w->runs[i].name, o);
        free(line);
    } else {
        cJSON_Delete(o);
        w->line = line;
    }
    return MLA_OK;
}

int cmd_robust(int argc, char **argv) {
    robust_args a = parse(argc, argv);
    mla_set_threads((int)a.threads);
    static run_spec runs[MAX_RUNS];
    static float eps[MAX_RUNS][64];
    char *run_text[2];
    int n_runs = plan_runs(&a, runs, run_text);
    mla_robust_config base = {.dknn = mla_dknn_defaults(), .calibration = (int)a.calibration,
                              .train_subset = (int)a.train_subset, .test_subset = (int)a.test_subset,
                              .seed = (uint64_t)a.seed, .credibility_threshold = (float)a.threshold,
                              .batch = (int)a.batch};
    char *layers[64], *layer_text;
    base.n_layers = split_list("layers", a.layers, layers, 64, &layer_text);
    base.layers = (const char *const *)layers;
    const char *knn = a.knn_layer ? a.knn_layer : NULL;
    base.knn_layer = base.n_layers - 1;
    for (int i = 0; i < base.n_layers; i++)
        if (knn ? !strcmp(layers[i], knn) : !strcmp(layers[i], "relu3")) base.knn_layer = i;
    if (knn && strcmp(layers[base.knn_layer], knn))
        cli_die("robust: --knn-layer %s is not one of --layers %s", knn, a.layers);
    base.dknn.k = (int)a.k;
    base.dknn.normalize = a.normalize, base.dknn.center = a.center, base.dknn.trim_zeros = a.trim_zeros;
    base.dknnb = mla_dknnb_defaults();
    base.dknnb.layer = a.dknnb_layer, base.dknnb.lambda = (float)a.dknnb_lambda;
    base.dknnb.epochs = (int)a.dknnb_epochs;
    base.dknnb.knn = base.dknn, base.dknnb.seed = (uint64_t)a.seed;
    base.sw_guides = (int)a.sw_guides, base.grid = (int)a.grid;
    static mla_robust_config cfgs[MAX_RUNS];
    for (int i = 0; i < n_runs; i++) {
        cfgs[i] = base;
        cfgs[i].attack = attack_config(&a, runs[i].attack, eps[i], &cfgs[i].n_eps);
        cfgs[i].eps = eps[i];
        cli_check(mla_robust_through_parse(runs[i].through, &cfgs[i].through));
    }

    mla_net *net;
    mla_dataset *train, *test;
    cli_check(mla_net_load(a.model, &net, NULL, NULL));
    mla_net *transfer = NULL;
    if (a.transfer) cli_check(mla_net_load(a.transfer, &transfer, NULL, NULL));
    for (int i = 0; i < n_runs; i++) cfgs[i].transfer = transfer;
    cli_check(mla_dataset_load(a.data, MLA_SPLIT_TRAIN, &train));
    cli_check(mla_dataset_load(a.data, MLA_SPLIT_TEST, &test));
    static mla_robust_result r[MAX_RUNS];
    run_writer w = {&a, cfgs, runs, n_runs, net, train, test, n_runs > 1 ? cJSON_CreateObject() : NULL, NULL};
    cli_check(mla_robust_audit_runs(net, train, test, cfgs, n_runs, r, NULL, write_run, &w));
    if (a.json && w.all) {
        char *text = cJSON_PrintUnformatted(w.all);
        if (!text) cli_die("out of memory formatting JSON");
        printf("%s\n", text);
        free(text);
    } else if (a.json) fputs(w.line, stdout);
    cJSON_Delete(w.all);
    free(w.line);
    for (int i = 0; i < n_runs; i++) mla_robust_result_free(&r[i]);
    mla_net_free(net);
    mla_net_free(transfer);
    mla_dataset_free(train);
    mla_dataset_free(test);
    free(layer_text);
    free(run_text[0]), free(run_text[1]);
    return 0;
}
