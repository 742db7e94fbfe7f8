/* The training flags shared by the commands that train nets: one table drives the
 * flag parsing, the JSON record and its reading back. */
#include "train_flags.h"

#include <cjson/cJSON.h>
#include <math.h>

#include "mlaudit/dp.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One training flag: its name on the command line and in the JSON record (NULL:
 * not recorded), where its value and seen flag live in train_flags, its range, and
 * whether 0 means "off" (accepted from JSON although below the flag's minimum). */
typedef struct {
    const char *flag, *key;
    cli_kind kind;
    size_t value, seen;
    double min, max;
    bool zero_off;
    unsigned group; /* 0: always present */
} field;

#define F(flag, key, kind, member, min, max, zero_off, group)                                                  \
    {flag, key, kind, offsetof(train_flags, member), offsetof(train_flags, member##_seen), min, max, zero_off, group}

/* In the order of the help text; owned[] slots follow the string fields' order. */
static const field FIELDS[] = {
    F("model", "model", CLI_STR, model, 0, 0, false, 0),
    F("model-spec", "model_spec", CLI_STR, spec_file, 0, 0, false, 0),
    F("epochs", "epochs", CLI_INT, epochs, 1, 100000, false, 0),
    F("batch", "batch", CLI_INT, batch, 1, 1 << 20, false, 0),
    F("optimizer", "optimizer", CLI_STR, optimizer, 0, 0, false, 0),
    F("lr", "lr", CLI_DOUBLE, lr, 1e-12, 100, false, 0),
    F("momentum", "momentum", CLI_DOUBLE, momentum, 0, 0.999999, false, 0),
    F("nesterov", "nesterov", CLI_FLAG, nesterov, 0, 0, false, 0),
    F("lr-schedule", "schedule", CLI_STR, schedule, 0, 0, false, 0),
    F("lr-step", "lr_step", CLI_INT, lr_step, 1, 100000, false, 0),
    F("lr-gamma", "lr_gamma", CLI_DOUBLE, lr_gamma, 1e-9, 1, false, 0),
    F("subset", "subset", CLI_INT, subset, 1, 1L << 31, true, TRAIN_FLAGS_SUBSET),
    F("seed", "seed", CLI_INT, seed, 0, 1e18, false, 0),
    F("threads", NULL, CLI_INT, threads, 1, 1024, true, 0),
    F("weight-decay", "weight_decay", CLI_DOUBLE, weight_decay, 0, 10, false, 0),
    F("dropout", "dropout", CLI_DOUBLE, dropout, 0, 0.99, false, 0),
    F("augment", "augment", CLI_FLAG, augment, 0, 0, false, 0),
    F("mixup", "mixup", CLI_DOUBLE, mixup, 1e-6, 100, true, 0),
    F("label-smoothing", "label_smoothing", CLI_DOUBLE, label_smoothing, 0, 0.99, false, 0),
    F("val-fraction", "val_fraction", CLI_DOUBLE, val_fraction, 1e-6, 0.9, true, TRAIN_FLAGS_VALIDATION),
    F("early-stop", "early_stop", CLI_INT, early_stop, 1, 100000, true, TRAIN_FLAGS_VALIDATION),
    /* ranges checked by train_flags_check, for messages of their own */
    F("dp-clip", "dp_clip", CLI_DOUBLE, dp_clip, -1e300, 1e300, true, TRAIN_FLAGS_DP),
    F("dp-sigma", "dp_sigma", CLI_DOUBLE, dp_sigma, 0, 1e6, true, TRAIN_FLAGS_DP),
    F("dp-epsilon", "dp_epsilon", CLI_DOUBLE, dp_epsilon, -1e300, 1e300, true, TRAIN_FLAGS_DP),
    F("dp-delta", "dp_delta", CLI_DOUBLE, dp_delta, -1e300, 1e300, true, TRAIN_FLAGS_DP),
    F("dp-sampling", "dp_sampling", CLI_STR, dp_sampling, 0, 0, false, TRAIN_FLAGS_DP),
    F("dp-orders", "dp_orders", CLI_STR, dp_orders, 0, 0, false, TRAIN_FLAGS_DP),
    F("force", NULL, CLI_FLAG, force, 0, 0, false, TRAIN_FLAGS_DP),
};
#undef F
enum { N_FIELDS = sizeof FIELDS / sizeof *FIELDS };
_Static_assert(N_FIELDS <= TRAIN_FLAGS_MAX_OPTS, "raise TRAIN_FLAGS_MAX_OPTS");

static void *value_of(const train_flags *f, const field *d) { return (char *)f + d->value; }
static bool *seen_of(const train_flags *f, const field *d) { return (bool *)((char *)f + d->seen); }

void train_flags_init(train_flags *f) {
    *f = (train_flags){.optimizer = "adam", .schedule = "constant", .epochs = 10, .batch = 128,
                       .lr_step = 10, .lr_gamma = 0.1, .dp_sampling = "poisson",
                       .dp_orders = "tf"};
}

void train_flags_free(train_flags *f) {
    for (size_t i = 0; i < sizeof f->owned / sizeof *f->owned; i++) free(f->owned[i]), f->owned[i] = NULL;
}

int train_flags_opts(train_flags *f, unsigned groups, cli_opt *opts) {
    int n = 0;
    for (int i = 0; i < N_FIELDS; i++) {
        const field *d = &FIELDS[i];
        if (d->group && !(d->group & groups)) continue;
        opts[n++] = (cli_opt){d->flag, d->kind, value_of(f, d), d->min, d->max, seen_of(f, d)};
    }
    return n;
}

/* ---- help ---- */

#define USAGE_MODEL                                                                                          \
    "  --model NAME        a preset (see 'mlaudit models') or a JSON spec file\n"                            \
    "  --model-spec FILE   a JSON architecture spec (same as --model FILE)\n"                                \
    "  --epochs N          passes over the training set (default 10)\n"                                      \
    "  --batch N           minibatch size (default 128)\n"                                                   \
    "  --optimizer NAME    adam | sgd (default adam)\n"                                                      \
    "  --lr X              learning rate (default 1e-3 for adam, 0.01 for sgd)\n"                            \
    "  --momentum X        SGD momentum (default 0.9)\n"                                                     \
    "  --nesterov          SGD with Nesterov momentum\n"                                                     \
    "  --lr-schedule S     constant | step | cosine (default constant)\n"                                    \
    "  --lr-step N         step schedule: epochs between decays (default 10)\n"                              \
    "  --lr-gamma X        step schedule: decay factor (default 0.1)\n"
#define USAGE_SUBSET "  --subset N          train on a seeded stratified subset of N training images\n"
#define USAGE_SEED                                                                                           \
    "  --seed N            seeds weights, shuffling, dropout and the data splits (default 0)\n"              \
    "  --threads N         threads for BLAS and OpenMP (default: all cores)\n"
#define USAGE_REG                                                                                            \
    "\n"                                                                                                     \
    "Regularisation (membership-inference defences):\n"                                                      \
    "  --weight-decay X    L2 penalty added to the gradient (default 0)\n"                                   \
    "  --dropout P         set every dropout layer of the model to rate P\n"                                 \
    "  --augment           random shifts (+-2 px; +-4 px and horizontal flips for RGB)\n"                    \
    "  --mixup ALPHA       mixup with lambda ~ Beta(ALPHA, ALPHA) and soft targets\n"                        \
    "  --label-smoothing E targets (1-E) one-hot + E/classes\n"
#define USAGE_VALIDATION                                                                                     \
    "  --val-fraction F    hold out a seeded fraction F of the training images for validation\n"             \
    "  --early-stop N      stop after N epochs without a better validation loss and keep the\n"              \
    "                      best epoch's weights (needs --val-fraction)\n"

#define USAGE_DP                                                                                             \
    "\n"                                                                                                     \
    "Differential privacy (DP-SGD: per-sample clipping and Gaussian noise):\n"                               \
    "  --dp-clip C         clip every sample's gradient to L2 norm C (default 1 with DP)\n"                  \
    "  --dp-sigma S        noise multiplier: N(0, (S C)^2) added to the clipped sum\n"                       \
    "  --dp-epsilon E      solve the noise multiplier for (E, delta) over the planned steps\n"              \
    "  --dp-delta D        delta (default min(1e-5, the largest power of ten below 1/N))\n"                 \
    "  --dp-sampling S     poisson (each image joins a step with probability batch/N; the\n"               \
    "                      accountant's assumption) | shuffle (fixed batches; epsilon only\n"              \
    "                      indicative) (default poisson)\n"                                                 \
    "  --dp-orders SET     the accountant's Renyi orders: tf (default; TF Privacy's) |\n"           \
    "                      opacus (1.1..10.9 by 0.1, 12..63) | int (2..64)\n"                              \
    "  --force             accept --dp-delta >= 1/N\n"

const char *train_flags_usage(unsigned groups) {
    static const char *const text[8] = {
        USAGE_MODEL USAGE_SEED USAGE_REG,
        USAGE_MODEL USAGE_SUBSET USAGE_SEED USAGE_REG,
        USAGE_MODEL USAGE_SEED USAGE_REG USAGE_VALIDATION,
        USAGE_MODEL USAGE_SUBSET USAGE_SEED USAGE_REG USAGE_VALIDATION,
        USAGE_MODEL USAGE_SEED USAGE_REG USAGE_DP,
        USAGE_MODEL USAGE_SUBSET USAGE_SEED USAGE_REG USAGE_DP,
        USAGE_MODEL USAGE_SEED USAGE_REG USAGE_VALIDATION USAGE_DP,
        USAGE_MODEL USAGE_SUBSET USAGE_SEED USAGE_REG USAGE_VALIDATION USAGE_DP,
    };
    return text[groups & (TRAIN_FLAGS_SUBSET | TRAIN_FLAGS_VALIDATION | TRAIN_FLAGS_DP)];
}

/* ---- checks, config, net, indices ---- */

void train_flags_check(const char *cmd, const train_flags *f) {
    if (!f->model && !f->spec_file)
        cli_die("%s: --model or --model-spec is required (see 'mlaudit %s --help')", cmd, cmd);
    if (f->model && f->spec_file) cli_die("%s: give --model or --model-spec, not both", cmd);
    if (f->early_stop && !f->val_fraction) cli_die("%s: --early-stop needs --val-fraction", cmd);
    if (!train_flags_dp_on(f)) return;
    mla_dpsgd_sampling sampling;
    if (f->dp_clip_seen && !(f->dp_clip > 0)) cli_die("%s: --dp-clip must be positive, got %g", cmd, f->dp_clip);
    if (f->dp_sigma_seen && f->dp_epsilon_seen)
        cli_die("%s: give --dp-sigma or --dp-epsilon, not both (--dp-epsilon solves sigma)", cmd);
    if (!f->dp_sigma_seen && !f->dp_epsilon_seen) cli_die("%s: DP-SGD needs --dp-sigma or --dp-epsilon", cmd);
    if (f->dp_epsilon_seen && !(f->dp_epsilon > 0)) cli_die("%s: --dp-epsilon must be positive, got %g", cmd, f->dp_epsilon);
    if (f->dp_delta_seen && !(f->dp_delta > 0 && f->dp_delta < 1))
        cli_die("%s: --dp-delta must be in (0, 1), got %g", cmd, f->dp_delta);
    if (mla_dpsgd_sampling_parse(f->dp_sampling, &sampling))
        cli_die("%s: --dp-sampling must be poisson or shuffle, got '%s'", cmd, f->dp_sampling);
    mla_dp_orders orders;
    if (mla_dp_orders_parse(f->dp_orders, &orders))
        cli_die("%s: --dp-orders must be tf, opacus or int, got '%s'", cmd, f->dp_orders);
    if (f->mixup) cli_die("%s: --mixup mixes samples and voids DP-SGD's per-sample clipping; drop one", cmd);
}

mla_train_config train_flags_config(const char *cmd, const train_flags *f) {
    mla_train_config cfg = mla_train_defaults();
    mla_opt_kind kind;
    mla_sched_kind sched;
    cli_check(mla_opt_kind_parse(f->optimizer, &kind));
    cli_check(mla_sched_kind_parse(f->schedule, &sched));
    cfg.opt = mla_opt_defaults(kind);
    if (f->lr_seen) cfg.opt.lr = (float)f->lr;
    if (f->momentum_seen) cfg.opt.momentum = (float)f->momentum;
    if (f->nesterov && kind != MLA_OPT_SGD) cli_die("%s: --nesterov applies to --optimizer sgd", cmd);
    cfg.opt.nesterov = f->nesterov;
    cfg.opt.weight_decay = (float)f->weight_decay;
    cfg.epochs = (int)f->epochs;
    cfg.batch = (int)f->batch;
    cfg.seed = (uint64_t)f->seed;
    cfg.schedule = sched;
    cfg.step_size = (int)f->lr_step;
    cfg.gamma = (float)f->lr_gamma;
    cfg.augment = f->augment;
    cfg.mixup_alpha = (float)f->mixup;
    cfg.label_smoothing = (float)f->label_smoothing;
    cfg.patience = (int)f->early_stop;
    return cfg;
}

mla_net *train_flags_build_net(const char *cmd, const train_flags *f, const char *model_override,
                               const mla_dataset *ds, uint64_t seed) {
    char *spec;
    cli_check(mla_spec_resolve(model_override ? model_override : f->model ? f->model : f->spec_file, &spec));
    mla_shape in;
    mla_dataset_shape(ds, &in.c, &in.h, &in.w);
    mla_net *net;
    mla_status s = mla_net_create(spec, in, mla_dataset_classes(ds), seed, &net);
    free(spec);
    cli_check(s);
    if (f->dropout_seen) {
        int changed;
        cli_check(mla_net_set_dropout(net, (float)f->dropout, &changed));
        if (!changed) cli_die("%s: --dropout given but model %s has no dropout layer", cmd, mla_net_name(net));
    }
    return net;
}

int32_t *train_flags_subset(const train_flags *f, const mla_dataset *ds, int *n) {
    *n = mla_dataset_count(ds);
    if (!f->subset) return NULL;
    if (f->subset > *n)
        cli_die("--subset %ld is larger than the %d training images of %s", f->subset, *n, mla_dataset_name(ds));
    int32_t *idx = malloc((size_t)f->subset * sizeof *idx);
    if (!idx) cli_die("out of memory");
    cli_check(mla_stratified_indices(mla_dataset_labels(ds), *n, mla_dataset_classes(ds), (int)f->subset,
                                     (uint64_t)f->seed, idx));
    *n = (int)f->subset;
    return idx;
}

int32_t *train_flags_hold_out(const train_flags *f, int32_t **idx, int *n, int *n_val) {
    *n_val = 0;
    if (!f->val_fraction) return NULL;
    int k = (int)(f->val_fraction * *n + 0.5);
    if (k < 1 || k >= *n)
        cli_die("--val-fraction %g leaves no validation or no training images", f->val_fraction);
    int sizes[2] = {*n - k, k};
    int32_t *parts[2];
    /* a stream of its own ("validat"), apart from the subset's and the shuffling's */
    cli_check(mla_split_indices(*n, sizes, 2, (uint64_t)f->seed ^ 0x76616c69646174ULL, parts));
    if (*idx) {
        for (int p = 0; p < 2; p++)
            for (int i = 0; i < sizes[p]; i++) parts[p][i] = (*idx)[parts[p][i]];
        free(*idx);
    }
    *idx = parts[0];
    *n = sizes[0];
    *n_val = k;
    return parts[1];
}

/* ---- the JSON record ---- */

/* The shortest decimal that reads back as x (0.01f is 0.01, not 0.0099999998). */
static double float_decimal(float x) {
    char text[32];
    for (int digits = 1; digits <= 9; digits++) { /* 9 digits always read back */
        snprintf(text, sizeof text, "%.*g", digits, (double)x);
        if ((float)strtod(text, NULL) == x) break;
    }
    return strtod(text, NULL);
}

/* The learning rate and momentum training uses: the flag's, else the optimizer's default. */
static void effective_opt(const train_flags *f, double *lr, double *momentum) {
    *lr = f->lr, *momentum = f->momentum;
    mla_opt_kind kind;
    if (mla_opt_kind_parse(f->optimizer, &kind) != MLA_OK) return;
    mla_opt_config d = mla_opt_defaults(kind);
    if (!f->lr_seen) *lr = float_decimal(d.lr);
    if (!f->momentum_seen) *momentum = float_decimal(d.momentum);
}

/* Adds one field to o; returns false when out of memory. */
static bool add_field(cJSON *o, const train_flags *f, const field *d, double lr, double momentum) {
    const void *v = value_of(f, d);
    char num[32];
    if (d->group == TRAIN_FLAGS_DP && !train_flags_dp_on(f)) return true;
    switch (d->kind) {
    case CLI_STR:
        return *(const char *const *)v == NULL || cJSON_AddStringToObject(o, d->key, *(const char *const *)v);
    case CLI_INT: /* exact integer text: cJSON would print a long through a double */
        snprintf(num, sizeof num, "%ld", *(const long *)v);
        return cJSON_AddRawToObject(o, d->key, num);
    case CLI_DOUBLE: {
        double x = d->value == offsetof(train_flags, lr)         ? lr
                   : d->value == offsetof(train_flags, momentum) ? momentum
                                                                 : *(const double *)v;
        if (d->value == offsetof(train_flags, dropout) && !f->dropout_seen) return true;
        return cJSON_AddNumberToObject(o, d->key, x);
    }
    case CLI_FLAG:
        return cJSON_AddBoolToObject(o, d->key, *(const bool *)v);
    }
    return false;
}

char *train_flags_to_json(const train_flags *f, const char *dataset) { return train_flags_to_json_dp(f, dataset, NULL); }

/* train_dp_json's object without the keys the record holds already (clip, sampling). */
static cJSON *dp_result_json(const train_dp *dp) {
    cJSON *o = train_dp_json(dp);
    if (!o) return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(o, "clip");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "sampling");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "orders");
    return o;
}

char *train_flags_to_json_dp(const train_flags *f, const char *dataset, const train_dp *dp) {
    cJSON *o = cJSON_CreateObject();
    bool ok = o && (!dataset || cJSON_AddStringToObject(o, "dataset", dataset));
    double lr, momentum;
    effective_opt(f, &lr, &momentum);
    for (int i = 0; ok && i < N_FIELDS; i++)
        if (FIELDS[i].key) ok = add_field(o, f, &FIELDS[i], lr, momentum);
    if (ok && dp && dp->dp) {
        cJSON *r = dp_result_json(dp);
        ok = r && cJSON_AddItemToObject(o, "dp_result", r);
        if (!ok) cJSON_Delete(r);
    }
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

/* The owned[] slot of a string field (the order of the string fields in FIELDS). */
static int owned_slot(const field *d) {
    int slot = 0;
    for (const field *e = FIELDS; e != d; e++) slot += e->kind == CLI_STR;
    return slot;
}

/* Checks item against d's type and range and stores it into t. */
static mla_status read_field(train_flags *t, const field *d, const cJSON *item) {
    void *v = value_of(t, d);
    if (d->kind == CLI_STR) {
        if (!cJSON_IsString(item) || !*item->valuestring)
            return mla_error(MLA_ERR_FORMAT, "training record: \"%s\" must be a non-empty string", d->key);
        char *copy = strdup(item->valuestring);
        if (!copy) return MLA_ERR_NOMEM;
        t->owned[owned_slot(d)] = copy;
        *(const char **)v = copy;
    } else if (d->kind == CLI_FLAG) {
        if (!cJSON_IsBool(item)) return mla_error(MLA_ERR_FORMAT, "training record: \"%s\" must be true or false", d->key);
        *(bool *)v = cJSON_IsTrue(item);
    } else {
        double x = cJSON_IsNumber(item) ? item->valuedouble : NAN;
        if (!isfinite(x) || (d->kind == CLI_INT && x != floor(x)))
            return mla_error(MLA_ERR_FORMAT, "training record: \"%s\" must be %s", d->key,
                             d->kind == CLI_INT ? "an integer" : "a number");
        if ((x < d->min || x > d->max) && !(d->zero_off && x == 0))
            return mla_error(MLA_ERR_FORMAT, "training record: \"%s\" is %.12g, outside [%.12g, %.12g]", d->key, x, d->min,
                             d->max);
        if (d->kind == CLI_INT) *(long *)v = (long)x;
        else *(double *)v = x;
    }
    *seen_of(t, d) = true;
    return MLA_OK;
}

mla_status train_flags_from_json(train_flags *f, const char *json) {
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return mla_error(MLA_ERR_FORMAT, "training record: not a JSON object");
    }
    train_flags t = *f, scratch; /* values of flags already set are checked into scratch, then dropped */
    train_flags_init(&scratch);
    bool model_set = f->model_seen || f->spec_file_seen;
    mla_status s = MLA_OK;
    for (int i = 0; !s && i < N_FIELDS; i++) {
        const field *d = &FIELDS[i];
        const cJSON *item = d->key ? cJSON_GetObjectItemCaseSensitive(o, d->key) : NULL;
        bool is_model = d->value == offsetof(train_flags, model) || d->value == offsetof(train_flags, spec_file);
        if (item) s = read_field(*seen_of(f, d) || (is_model && model_set) ? &scratch : &t, d, item);
    }
    train_flags_free(&scratch);
    cJSON_Delete(o);
    if (s) {
        for (size_t i = 0; i < sizeof t.owned / sizeof *t.owned; i++)
            if (t.owned[i] != f->owned[i]) free(t.owned[i]);
        return s;
    }
    *f = t;
    return MLA_OK;
}

/* ---- DP-SGD ---- */

bool train_flags_dp_on(const train_flags *f) { return f->dp_clip_seen || f->dp_sigma_seen || f->dp_epsilon_seen; }

/* min(1e-5, 1/n rounded down to a power of ten) */
/* min(1e-5, the largest power of ten strictly below 1/n): 1/n itself (n = 100,000)
 * would fail the delta < 1/N rule below. */
static double default_delta(int n) {
    double d = pow(10, floor(log10(1.0 / n)));
    if (d >= 1.0 / n) d /= 10;
    return d < 1e-5 ? d : 1e-5;
}

bool train_flags_dp_plan(const char *cmd, train_flags *f, int n, train_dp *out) {
    *out = (train_dp){0};
    if (!train_flags_dp_on(f)) return false;
    cli_check(mla_dpsgd_sampling_parse(f->dp_sampling, &out->sampling));
    cli_check(mla_dp_orders_parse(f->dp_orders, &out->orders));
    out->clip = f->dp_clip_seen ? f->dp_clip : 1.0;
    out->delta = f->dp_delta_seen ? f->dp_delta : default_delta(n);
    if (out->delta >= 1.0 / n && !f->force)
        cli_die("%s: --dp-delta %g is not below 1/N = %g for %d training images (a mechanism that leaks one "
                "image outright meets it); use a smaller delta or --force",
                cmd, out->delta, 1.0 / n, n);
    mla_dp_plan(f->batch, n, f->epochs, &out->q, &out->planned_steps);
    out->sigma = f->dp_sigma;
    if (f->dp_epsilon_seen)
        cli_check(mla_error_prefix(mla_dp_sigma_for(out->q, f->dp_epsilon, out->planned_steps, out->delta,
                                                    out->orders, 0.01, &out->sigma),
                                   "%s: --dp-epsilon %g", cmd, f->dp_epsilon));
    f->dp_sigma = out->sigma, f->dp_delta = out->delta, f->dp_clip = out->clip;
    return true;
}

bool train_flags_dp(const char *cmd, train_flags *f, const mla_net *net, int n, mla_train_config *cfg,
                    train_dp *out) {
    if (!train_flags_dp_plan(cmd, f, n, out)) return false;
    mla_dpsgd_config dc = {out->clip, out->sigma, out->sampling, (int)f->batch, (uint64_t)f->seed};
    cli_check(mla_dpsgd_create(&dc, net, n, &out->dp));
    cfg->hook = mla_dpsgd_hook(out->dp);
    return true;
}

cJSON *train_dp_epsilon_json(const train_dp *dp, long steps) {
    mla_dp_epsilon e = {0, 0, 0, 0};
    bool noisy = dp->sigma > 0;
    if (noisy && mla_dp_epsilon_of(dp->q, dp->sigma, steps, dp->delta, dp->orders, &e)) noisy = false;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (noisy) {
        cJSON_AddNumberToObject(o, "epsilon", e.epsilon);
        cJSON_AddNumberToObject(o, "epsilon_classic", e.epsilon_classic);
        cJSON_AddNumberToObject(o, "order", e.order);
    } else { /* no noise: no privacy */
        cJSON_AddNullToObject(o, "epsilon");
        cJSON_AddNullToObject(o, "epsilon_classic");
        cJSON_AddNullToObject(o, "order");
    }
    cJSON_AddNumberToObject(o, "delta", dp->delta);
    cJSON_AddNumberToObject(o, "sigma", dp->sigma);
    cJSON_AddNumberToObject(o, "clip", dp->clip);
    cJSON_AddNumberToObject(o, "q", dp->q);
    cJSON_AddNumberToObject(o, "steps", (double)steps);
    cJSON_AddStringToObject(o, "sampling", mla_dpsgd_sampling_name(dp->sampling));
    cJSON_AddStringToObject(o, "orders", mla_dp_orders_name(dp->orders));
    return o;
}

double train_dp_epsilon(const train_dp *dp, long steps) {
    mla_dp_epsilon e;
    if (!(dp->sigma > 0)) return INFINITY;
    return mla_dp_epsilon_of(dp->q, dp->sigma, steps, dp->delta, dp->orders, &e) ? NAN : e.epsilon;
}

cJSON *train_dp_json(const train_dp *dp) { return train_dp_epsilon_json(dp, mla_dpsgd_state_of(dp->dp)->steps); }

void train_dp_free(train_dp *dp) {
    mla_dpsgd_free(dp->dp);
    dp->dp = NULL;
}
