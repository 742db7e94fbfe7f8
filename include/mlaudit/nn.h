/* mlaudit nn: neural networks built from JSON architecture specs, trained on CPU.
 *
 * Shapes. Data are float32 batches in NCHW: n samples, each C x H x W, contiguous,
 * sample-major. A per-sample shape is an mla_shape; dense features are C x 1 x 1.
 *
 * Specs. A net is a sequence of layers described by JSON:
 *   {"name": "cnn", "layers": [
 *      {"type": "conv2d", "filters": 32, "kernel": 3, "stride": 1, "pad": 0, "bias": true},
 *      {"type": "relu"}, {"type": "maxpool", "kernel": 2},
 *      {"type": "residual", "body": [...layers...], "shortcut": [...layers...]},
 *      {"type": "flatten"}, {"type": "dense", "units": "classes"}]}
 * "classes" as a unit/filter count means the class count bound at build time, so one
 * spec serves any dataset. Layer types and their keys are listed by mla_layer_types()
 * and in docs/specs.md. Each layer may carry "name"; unnamed layers are called by
 * their position ("3", or "5.body.1" inside a residual block).
 *
 * Parameters. All of a net's numbers live in ONE flat float buffer: first every
 * trainable parameter, then every non-trainable buffer (batch-norm running
 * statistics). Copying, averaging or saving a model is one call on that vector.
 * Gradients live in a second flat buffer the size of the trainable part.
 *
 * Passes. mla_net_forward() runs a batch and keeps every layer's activations;
 * mla_net_backward() takes d(loss)/d(output) for that batch, ADDS the parameter
 * gradients into the gradient buffer, and optionally writes d(loss)/d(input): the
 * input gradient for adversarial attacks, and the link for chaining two nets
 * (generator -> discriminator: feed D's input gradient to G's backward).
 *
 * Threads: mla_set_threads() (core.h) governs OpenMP loops and OpenBLAS alike. With
 * the same seed and thread count every result is bit-for-bit reproducible. The count may
 * change between passes. Distinct nets may run concurrently, one per thread of the
 * caller's own OpenMP region (clients trained side by side); each then runs on one thread
 * and gives a one-thread run's bits. One net is never used by two threads at once.
 */
#ifndef MLAUDIT_NN_H
#define MLAUDIT_NN_H

#include <stdbool.h>

#include "mlaudit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int c, h, w;
} mla_shape;

static inline int mla_shape_size(mla_shape s) { return s.c * s.h * s.w; }

typedef struct mla_net mla_net;

/* ---- building ---- */
/* Builds a net from a JSON spec for per-sample input shape `input` and `classes`
 * outputs, with freshly initialised weights (PyTorch's default initialisation)
 * drawn from seed. Errors name the layer at fault ("layer 3 (conv2d): ..."). */
mla_status mla_net_create(const char *spec_json, mla_shape input, int classes, uint64_t seed, mla_net **out);
void mla_net_free(mla_net *net);

/* Presets shipped with the tool: names, NULL-terminated (borrowed), and the JSON
 * spec of one (borrowed; NULL if unknown). */
/* The matrix kernels conv2d and dense run on in this process (see mla_isa in core.h):
 * "avx512", "avx2" or "portable", with ", dense on OpenBLAS" where dense layers leave
 * their products to OpenBLAS. Constant string. */
const char *mla_nn_kernels_name(void);

const char *const *mla_preset_names(void);
const char *mla_preset_spec(const char *name);
/* A spec from a preset name or, failing that, a path to a JSON file. *spec_out is
 * newly allocated (free()). */
mla_status mla_spec_resolve(const char *name_or_path, char **spec_out);
/* The layer types a spec may use, NULL-terminated; borrowed. */
const char *const *mla_layer_types(void);

/* ---- introspection ---- */
mla_shape mla_net_input_shape(const mla_net *net);
mla_shape mla_net_output_shape(const mla_net *net);
int mla_net_classes(const mla_net *net);
const char *mla_net_spec(const mla_net *net);      /* the JSON it was built from; borrowed */
const char *mla_net_name(const mla_net *net);      /* the spec's "name", or "custom" */
/* Multiply-accumulates of one forward pass of one sample in the convolutions and
 * dense layers (pooling, normalisation and activations are not counted). */
double mla_net_forward_macs(const mla_net *net);
/* FLOPs of one training step per sample: 2 per MAC for the forward pass, the
 * weight gradient and the input gradient, less the first layer's input gradient,
 * which training does not compute. */
double mla_net_train_flops(const mla_net *net);
/* A human-readable table of layers, shapes and parameter counts (caller frees). */
char *mla_net_summary(const mla_net *net);

/* ---- parameters as one flat vector ---- */
size_t mla_net_param_count(const mla_net *net);      /* trainable + buffers */
size_t mla_net_trainable_count(const mla_net *net);  /* the first part of the vector */
float *mla_net_params(mla_net *net);                 /* borrowed, param_count floats */
float *mla_net_grads(mla_net *net);                  /* borrowed, trainable_count floats */
void mla_net_zero_grads(mla_net *net);
/* The named tensors that make up the flat vector, in the order they sit there
 * (trainable ones first, in layer order; then buffers). Names are
 * "<layer>.<weight|bias|running_mean|running_var|...>", as saved in model files. */
typedef struct {
    char name[160];
    int ndim;
    int dims[4];
    size_t offset;   /* into mla_net_params() */
    size_t count;    /* floats */
    bool trainable;
} mla_tensor_info;
int mla_net_tensor_count(const mla_net *net);
/* Fills *out for tensor i (0 <= i < count), in flat-vector order. */
mla_status mla_net_tensor_info(const mla_net *net, int i, mla_tensor_info *out);
/* Copies all parameters (trainable and buffers) between nets of the same spec. */
mla_status mla_net_copy_params(mla_net *dst, const mla_net *src);
/* A frozen net still passes gradients to its input but neither accumulates
 * parameter gradients nor lets an optimizer change it. */
void mla_net_set_frozen(mla_net *net, bool frozen);
bool mla_net_frozen(const mla_net *net);
/* Sets the rate of every dropout layer (rate in [0, 0.99]); returns how many
 * layers it changed through *count (may be NULL). */
mla_status mla_net_set_dropout(mla_net *net, float rate, int *count);
/* The net's own random stream (dropout masks); borrowed, for checkpoints. */
mla_rng *mla_net_rng(mla_net *net);

/* ---- passes ---- */
/* Runs n samples (n x input size floats, copied) in training (dropout on, batch norm
 * uses and updates batch statistics) or evaluation mode. *out (n x output size) is
 * borrowed: valid until the next forward. */
mla_status mla_net_forward(mla_net *net, const float *x, int n, bool train, const float **out);
/* The net's own input buffer, room for n samples (borrowed; valid until the net is
 * freed or a larger buffer is asked for). A forward given this pointer as x runs on it
 * without the copy: write a batch straight into it (saves one pass over the batch).
 * Asking for it ends the last forward's pass (no backward until the next forward). */
mla_status mla_net_input_buffer(mla_net *net, int n, float **buf);
/* Backward through the last forward's batch. dout: n x output size. Adds parameter
 * gradients (unless frozen); writes n x input size floats to dx unless dx is NULL. */
mla_status mla_net_backward(mla_net *net, const float *dout, float *dx);
/* Per-sample L2 norms of the parameter gradient for the last forward's batch, given
 * dout (n x output size): norms[i] = ||d loss_i / d theta||. Leaves the gradient
 * buffer as it was. Refused (MLA_ERR_UNSUPPORTED) when batch norm ran in training
 * mode, since samples are then not independent. */
mla_status mla_net_per_sample_grad_norms(mla_net *net, const float *dout, float *norms);
/* Chooses each sample's weight from the per-sample norms (as mla_net_per_sample_grad_norms
 * gives them): writes weights[0..n); a non-OK status is returned by the caller. */
typedef mla_status (*mla_sample_weigh_fn)(void *user, const float *norms, int n, float *weights);
/* A backward that weighs each sample by its gradient's norm (DP-SGD's clipping): runs
 * the per-sample norms pass on dout (n x output size, the last forward's batch), asks
 * weigh for weights w_i, and adds sum_i w_i g_i to the gradient buffer (unless frozen),
 * g_i sample i's parameter gradient for dout's row i: what mla_net_backward adds given
 * dout with row i scaled by w_i, up to rounding. No second pass through the net where
 * every layer with parameters allows it (dense, conv2d, groupnorm, and residual blocks
 * of these: Bu et al. 2022's book-keeping): each forms its share from its input and
 * the output gradient the norms pass left, conv2d from each sample's weight gradient
 * formed in that pass and kept, as far as the net's per-sample memory allows (else
 * formed again), groupnorm from the per-sample sums of that pass. Other nets
 * (depthwise or transposed convs, squeeze-and-excitation, batch norm in evaluation
 * mode) get that second backward. Same refusals as mla_net_per_sample_grad_norms. */
mla_status mla_net_backward_weighted(mla_net *net, const float *dout, mla_sample_weigh_fn weigh, void *user);
/* Memory mla_net_backward_weighted may keep between its passes (default
 * MLA_PER_SAMPLE_MEMORY_DEFAULT bytes; 0: keep nothing, recompute). */
#define MLA_PER_SAMPLE_MEMORY_DEFAULT ((size_t)64 << 20)
void mla_net_set_per_sample_memory(mla_net *net, size_t bytes);
/* The activations a named layer produced in the last forward: *data (n x size
 * floats) is borrowed until the next forward. "input" names the net's input. Refused
 * for the layers a forward without keep-activations skipped (below). */
mla_status mla_net_activation(const mla_net *net, const char *layer, const float **data, mla_shape *shape,
                              int *n);
/* Whether forwards keep every layer's activations for mla_net_activation (on by
 * default). Off, a conv2d -> relu -> maxpool, which runs fused sample by sample, writes
 * only the pool's output: the conv's and the relu's, which no pass reads, are skipped
 * (a tenth of the cnn preset's step), and mla_net_activation refuses those two layers
 * until a forward runs with it on. mla_train and mla_evaluate turn it off for their own
 * passes and restore it. */
void mla_net_set_keep_activations(mla_net *net, bool keep);
bool mla_net_keep_activations(const mla_net *net);
/* The name of the i-th top-level layer (for listing); NULL past the end. */
const char *mla_net_layer_name(const mla_net *net, int i);

/* ---- losses: each returns the mean loss over n samples and writes d(mean)/d(input) ----
 * Softmax losses support up to 4096 classes (NaN beyond). */
/* Softmax cross-entropy on logits (n x k). Hard labels (targets NULL) or soft target
 * distributions (labels NULL, targets n x k). dlogits may be NULL; probs (n x k) may be NULL. */
float mla_loss_softmax_ce(const float *logits, int n, int k, const int32_t *labels, const float *targets,
                          float *dlogits, float *probs);
/* Binary cross-entropy on logits against targets in [0, 1] (count values). */
float mla_loss_bce_logits(const float *logits, const float *targets, size_t count, float *dlogits);
/* Mean squared error over count values (mean over all values). */
float mla_loss_mse(const float *pred, const float *target, size_t count, float *dpred);
/* KL(target || softmax(logits)) per sample, averaged over n; target rows sum to 1. */
float mla_loss_kl_softmax(const float *logits, const float *target, int n, int k, float *dlogits);
/* Per-sample cross-entropy losses (n values) and softmax outputs, no gradient. */
void mla_softmax_rows(const float *logits, int n, int k, float *probs);

/* ---- optimizers ---- */
typedef enum { MLA_OPT_SGD = 0, MLA_OPT_ADAM } mla_opt_kind;
typedef struct {
    mla_opt_kind kind;
    float lr;
    float momentum;      /* SGD */
    bool nesterov;       /* SGD */
    float beta1, beta2, eps; /* Adam */
    float weight_decay;  /* L2 added to the gradient (PyTorch's weight_decay) */
    bool decoupled;      /* Adam: AdamW-style decay instead */
} mla_opt_config;
/* Defaults: SGD lr 0.01 momentum 0.9; Adam lr 1e-3, betas 0.9/0.999, eps 1e-8. */
mla_opt_config mla_opt_defaults(mla_opt_kind kind);
mla_status mla_opt_kind_parse(const char *name, mla_opt_kind *out);

typedef struct mla_optimizer mla_optimizer;
/* An optimizer over net's trainable parameters (state sized to them). */
mla_status mla_optimizer_create(const mla_opt_config *cfg, const mla_net *net, mla_optimizer **out);
void mla_optimizer_free(mla_optimizer *opt);
/* One update of net's parameters from its gradient buffer (no-op when frozen). The
 * update flushes subnormal numbers to zero (on x86, for its own duration; the caller's
 * floating-point mode is restored): moments of parameters whose gradient stays zero
 * decay into that range, where arithmetic is two orders of magnitude slower. */
void mla_optimizer_step(mla_optimizer *opt, mla_net *net);
/* The same update, after which the gradient buffer is all zeros (as after
 * mla_net_zero_grads), cleared in the update's own pass over memory: a training loop
 * that zeroes once before its first backward needs no sweep of its own per step. */
void mla_optimizer_step_and_zero_grads(mla_optimizer *opt, mla_net *net);
void mla_optimizer_set_lr(mla_optimizer *opt, float lr);
/* The optimizer's state as a flat vector (moments, step count), for checkpoints. */
size_t mla_optimizer_state_size(const mla_optimizer *opt);
float *mla_optimizer_state(mla_optimizer *opt);
long mla_optimizer_steps(const mla_optimizer *opt);
void mla_optimizer_set_steps(mla_optimizer *opt, long steps);

typedef enum { MLA_SCHED_CONSTANT = 0, MLA_SCHED_STEP, MLA_SCHED_COSINE } mla_sched_kind;
mla_status mla_sched_kind_parse(const char *name, mla_sched_kind *out);
/* The learning rate for `epoch` (0-based) of `epochs`: step multiplies by gamma
 * every step_size epochs; cosine anneals from base to 0 over the run. */
float mla_lr_at(mla_sched_kind kind, float base, int epoch, int epochs, int step_size, float gamma);

/* ---- files ---- */
typedef struct {
    const char *key, *value;
} mla_meta;
/* Saves parameters, buffers and the spec (plus the input shape and class count) to
 * a .safetensors file, atomically; extra metadata pairs are added. Tensor names are
 * "<layer>.<weight|bias|running_mean|running_var>". */
mla_status mla_net_save(const mla_net *net, const char *path, const mla_meta *extra, int n_extra);
/* Rebuilds a net from a file written by mla_net_save and checks every tensor
 * against the spec. *meta_value, if not NULL, receives a copy of the metadata
 * entry meta_key (or NULL); free() it. */
mla_status mla_net_load(const char *path, mla_net **out, const char *meta_key, char **meta_value);

#ifdef __cplusplus
}
#endif
#endif
