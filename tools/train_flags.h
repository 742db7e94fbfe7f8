/* The training flags shared by the commands that train nets (train, and the coming
 * mia and fl): one flag table, one mapping to mla_train_config, one stratified
 * subset and one validation hold-out, so every command trains the same way.
 *
 * A command declares a train_flags, calls train_flags_init, appends the table with
 * train_flags_opts to its own cli_opt array (which must have room for
 * TRAIN_FLAGS_MAX_OPTS more), parses, optionally fills the flags not given from a
 * saved model's record (train_flags_from_json), then calls train_flags_check and
 * the builders below. Bad flags die through cli_die: functions that take `cmd`
 * prefix the message with "cmd: ", train_flags_subset and train_flags_hold_out
 * name the flag only; library failures die with the library's message (cli_check).
 * train_flags_to_json / train_flags_from_json only return statuses. */
#ifndef MLAUDIT_TRAIN_FLAGS_H
#define MLAUDIT_TRAIN_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "mlaudit/data.h"
#include "mlaudit/dp.h"
#include "mlaudit/dpsgd.h"
#include "mlaudit/nn.h"
#include "mlaudit/train.h"

/* Every training flag's value, and which were set. A *_seen field is true when
 * the value was set explicitly: by its flag, or by train_flags_from_json; a field
 * whose *_seen is false holds train_flags_init's default. */
typedef struct {
    const char *model, *spec_file, *optimizer, *schedule; /* model / spec_file: NULL when not set */
    long epochs, batch, subset, seed, threads, lr_step, early_stop; /* subset, early_stop: 0 = off */
    double lr, momentum, weight_decay, lr_gamma, dropout, mixup, label_smoothing, val_fraction; /* 0 = off */
    bool nesterov, augment;
    /* DP-SGD (TRAIN_FLAGS_DP): 0 = not given; dp_sigma becomes the sigma used
     * (solved from dp_epsilon) once train_flags_dp ran */
    double dp_clip, dp_sigma, dp_epsilon, dp_delta;
    const char *dp_sampling, *dp_orders;
    bool force;
    bool dp_clip_seen, dp_sigma_seen, dp_epsilon_seen, dp_delta_seen, dp_sampling_seen, dp_orders_seen, force_seen;
    bool model_seen, spec_file_seen, optimizer_seen, schedule_seen;
    bool epochs_seen, batch_seen, subset_seen, seed_seen, threads_seen, lr_step_seen, early_stop_seen;
    bool lr_seen, momentum_seen, weight_decay_seen, lr_gamma_seen, dropout_seen, mixup_seen,
        label_smoothing_seen, val_fraction_seen;
    bool nesterov_seen, augment_seen;
    char *owned[6]; /* strings allocated by train_flags_from_json; train_flags_free frees them */
} train_flags;

/* Optional groups of flags, or-ed into `groups`; the rest are always present. */
enum {
    TRAIN_FLAGS_SUBSET = 1,     /* --subset */
    TRAIN_FLAGS_VALIDATION = 2, /* --val-fraction, --early-stop */
    TRAIN_FLAGS_DP = 4,         /* --dp-clip, --dp-sigma, --dp-epsilon, --dp-delta, --dp-sampling, --force */
};
#define TRAIN_FLAGS_MAX_OPTS 32 /* train_flags_opts never appends more */

/* Sets the defaults `mlaudit train` has always used: adam, constant schedule,
 * 10 epochs, batch 128, lr-step 10, lr-gamma 0.1, seed 0, all threads, every
 * regulariser off, nothing seen. */
void train_flags_init(train_flags *f);
/* Frees the strings train_flags_from_json allocated (f's string fields that point
 * to them become dangling: call it last). Safe on a flags struct that owns none. */
void train_flags_free(train_flags *f);

/* Appends the flags of `groups` to opts (room for TRAIN_FLAGS_MAX_OPTS entries),
 * each writing into f and setting its *_seen; returns how many were appended.
 * f must outlive the parse. */
int train_flags_opts(train_flags *f, unsigned groups, cli_opt *opts);
/* The help lines for the flags of `groups` (a static string ending in a newline):
 * model and optimisation flags, --seed and --threads, then a "Regularisation"
 * section. */
const char *train_flags_usage(unsigned groups);

/* Dies ("cmd: ...") unless exactly one of --model / --model-spec is set, when
 * --early-stop is set without --val-fraction, and on bad DP flags (--dp-clip <= 0,
 * --dp-sigma with --dp-epsilon, DP without either, --dp-delta outside (0, 1), an
 * unknown --dp-sampling, --mixup with DP). Call after every flag is final. */
void train_flags_check(const char *cmd, const train_flags *f);
/* The training config the flags describe (optimizer defaults, then the lr and
 * momentum if set). Dies on an unknown optimizer or schedule and on --nesterov
 * with an optimizer other than sgd. Callbacks, checkpoints and the validation set
 * are left at mla_train_defaults() for the caller to set. */
mla_train_config train_flags_config(const char *cmd, const train_flags *f);
/* Resolves model_override (if not NULL: a preset name, spec file or spec JSON
 * accepted by mla_spec_resolve) or else f's --model / --model-spec, creates the net
 * for ds's input shape and classes with `seed`, and applies --dropout if set.
 * Dies on a bad spec, and when --dropout is set but the net has no dropout layer.
 * The caller frees the net. */
mla_net *train_flags_build_net(const char *cmd, const train_flags *f, const char *model_override,
                               const mla_dataset *ds, uint64_t seed);
/* A seeded (f->seed) stratified subset of f->subset indices of ds, or NULL (use
 * all of ds) when no subset is set; *n receives the count either way. Dies if the
 * subset is larger than ds. The caller frees the array. */
int32_t *train_flags_subset(const train_flags *f, const mla_dataset *ds, int *n);
/* Moves round(f->val_fraction * *n) of the training indices into a new validation
 * array, drawn with mla_split_indices from a stream of f->seed of its own, and
 * returns it (the caller frees it); *idx (NULL meaning 0..*n-1) is replaced by the
 * remaining training indices (a new array; the old one is freed) and *n by their
 * count; *n_val receives the validation count. Returns NULL with *n_val = 0 and
 * nothing changed when no fraction is set. Dies if the fraction leaves no
 * validation or no training images. */
int32_t *train_flags_hold_out(const train_flags *f, int32_t **idx, int *n, int *n_val);

/* The training settings as one JSON object (the "mlaudit.training" metadata of a
 * saved model): dataset (if not NULL), model or model_spec, subset, seed,
 * optimizer, lr and momentum (the values used, defaults included), nesterov,
 * epochs, batch, schedule, lr_step, lr_gamma, weight_decay, dropout (only if set),
 * augment, mixup, label_smoothing, val_fraction, early_stop. --threads is not
 * recorded. Returns NULL when out of memory; the caller frees the string. */
char *train_flags_to_json(const train_flags *f, const char *dataset);
struct train_dp;
/* train_flags_to_json plus, when dp is not NULL and holds a hook, a "dp_result"
 * object with what the run achieved: epsilon, epsilon_classic, order (null without
 * noise), delta, sigma, q, steps (the noisy steps taken). train_flags_from_json
 * ignores it. */
char *train_flags_to_json_dp(const train_flags *f, const char *dataset, const struct train_dp *dp);
/* Fills from `json` (train_flags_to_json's form) every field whose *_seen is
 * false, and marks it seen; "model" / "model_spec" apply only when neither was
 * set. Unknown keys (dataset included) are ignored. Returns MLA_ERR_FORMAT naming
 * the key when the text is not a JSON object, or a known key's value (applied or
 * not) has the wrong type or is out of its flag's range (0 is accepted where it
 * means off); f is left unchanged then. Integers above 2^53 come back rounded
 * (JSON numbers are doubles). */
mla_status train_flags_from_json(train_flags *f, const char *json);

/* ---- DP-SGD ---- */

/* Whether any of --dp-clip, --dp-sigma, --dp-epsilon was given. */
bool train_flags_dp_on(const train_flags *f);

/* A DP-SGD run's hook and its accounting settings. */
typedef struct train_dp {
    mla_dpsgd *dp;
    double clip, sigma, delta, q;
    long planned_steps;        /* epochs * ceil(n / batch) */
    mla_dpsgd_sampling sampling;
    mla_dp_orders orders;      /* the accountant's orders (--dp-orders) */
} train_dp;

/* With DP on: the delta (--dp-delta, else min(1e-5, 1/n rounded down to a power of
 * ten)), which must be below 1/n unless --force; sigma (--dp-sigma, or solved with
 * mla_dp_sigma_for for --dp-epsilon over the planned steps at q = batch / n, over
 * --dp-orders' set, TF Privacy's by default); the hook for net (dies naming a batch-norm layer), put into
 * cfg->hook. f->dp_sigma / dp_delta / dp_clip receive the values used (for the
 * record). Returns false and changes nothing when DP is off. */
bool train_flags_dp(const char *cmd, train_flags *f, const mla_net *net, int n, mla_train_config *cfg,
                    train_dp *out);
/* The same plan (delta, q, planned steps, sigma) without creating a hook (out->dp stays
 * NULL): for commands that train several models, each with a hook of its own. */
bool train_flags_dp_plan(const char *cmd, train_flags *f, int n, train_dp *out);
/* The accounting of a plan after `steps` noisy steps, as train_dp_json's object. */
cJSON *train_dp_epsilon_json(const train_dp *dp, long steps);
/* The (improved) epsilon of the plan after `steps` noisy steps (TF Privacy's orders,
 * the plan's delta); INFINITY without noise. */
double train_dp_epsilon(const train_dp *dp, long steps);
/* The accounting after training, as the "dp" object of the JSON report: epsilon,
 * epsilon_classic, order, delta, sigma, clip, q, steps (taken), sampling; epsilon
 * null without noise. NULL when out of memory. */
cJSON *train_dp_json(const train_dp *dp);
void train_dp_free(train_dp *dp);

#endif
