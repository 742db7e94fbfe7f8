/* Private: layers and the op table. One op = one file section holding its spec
 * keys, shape rule, forward and backward together (kann's op table). */
#ifndef MLAUDIT_NN_LAYER_H
#define MLAUDIT_NN_LAYER_H

#include <cjson/cJSON.h>

#include "mlaudit/nn.h"
#include "nn/optim_fused.h"

typedef struct mla_layer mla_layer;
typedef struct mla_seq mla_seq;

/* Every activation and gradient buffer of a net (and the net's input) ends with this
 * many zeroed floats, so that a kernel may load whole vectors past the end of a row
 * and drop those lanes (conv2d_gemm reads the last row of a sample so). */
#define MLA_SLACK_FLOATS 32

/* What a pass needs besides the layer: the flat buffers (gradients may be swapped
 * for a scratch buffer by per-sample passes), a shared workspace, the RNG. */
typedef struct {
    float *params;       /* the net's flat parameter vector */
    float *grads;        /* where parameter gradients accumulate */
    float *work;         /* shared scratch, at least the net's work_floats */
    bool train;
    bool param_grads;    /* false when frozen: skip parameter gradients */
    bool keep_all;       /* write outputs no pass reads (mla_layer.output_optional) too */
    mla_rng *rng;
    /* Per-sample norms pass (mla_net_per_sample_grad_norms), when not NULL: a backward
     * adds to sq_norms[s] the squared norm of sample s's gradient of the layer's own
     * parameters (s counts from the batch's sample 0) and accumulates nothing into grads.
     * Ops whose mla_op.ghost_norms is false are run for them by mla_seq_backward, one
     * sample at a time into grads (then a scratch vector), and must not see this set. */
    double *sq_norms;
    /* Weighted pass (mla_net_backward_weighted), when not NULL: the backward of an op
     * with mla_op.weighted, given dx NULL, adds sum_s sample_weights[s] g_s to grads,
     * g_s sample s's parameter gradient: what it adds with dy's row s scaled by
     * sample_weights[s]. It runs after a per-sample norms pass on the same forward and
     * output gradient, which left every layer's dy buffer as it wrote it, and, where
     * the layer's `kept` was set, what the op keeps there. */
    const float *sample_weights;
    /* The training step's optimizer update (nn/optim_fused.h), when not NULL: a layer may
     * claim a weight tensor and update it from its gradient instead of accumulating
     * that gradient. Set only for a whole-batch backward with neither of the above. */
    mla_opt_fused *fused;
} mla_ctx;

/* A named parameter tensor of a layer, located in the flat vector. */
typedef struct {
    const char *suffix;   /* "weight", "bias", "running_mean", "running_var" */
    int ndim;
    int dims[4];
    size_t offset;        /* into the flat vector */
    bool trainable;
} mla_tensor_desc;

#define MLA_MAX_TENSORS 6

typedef struct {
    const char *type;
    /* Reads the op's keys from j (unknown keys are errors); err names the layer. */
    mla_status (*parse)(mla_layer *l, const cJSON *j, int classes);
    /* Computes l->out from l->in, declares tensors (mla_layer_add_tensor) and the
     * scratch the op needs per sample / per batch. */
    mla_status (*setup)(mla_layer *l);
    /* Initialises the layer's parameters (fresh weights). */
    void (*init)(mla_layer *l, float *params, mla_rng *rng);
    /* y = f(x) for n samples. */
    void (*forward)(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx);
    /* For samples [n0, n0 + n) of the last forward: accumulates parameter
     * gradients (when ctx->param_grads) and writes dx (unless NULL). x, y, dy, dx
     * point at sample 0 of the batch. */
    void (*backward)(mla_layer *l, const float *x, const float *y, const float *dy, float *dx, int n0, int n,
                     mla_ctx *ctx);
    void (*destroy)(mla_layer *l);   /* optional: frees op-private memory */
    /* Optional: after y/dy/cache are sized for n samples, size op-private memory
     * and set l->work_floats (shared scratch) for a batch of n. */
    mla_status (*reserve)(mla_layer *l, int n);
    /* backward honours ctx->sq_norms (adds per-sample squared parameter-gradient norms
     * without forming the batch's gradient); ops with no parameters need not. */
    bool ghost_norms;
    /* backward honours ctx->sample_weights (book-keeping: the clipped sum from what the
     * norms pass left, no second pass through the net); ops with no parameters need not. */
    bool weighted;
    /* Optional: floats per sample the op would keep in the norms pass (into l->kept)
     * so that its weighted pass need not recompute them (conv2d: each sample's weight
     * and bias gradient). NULL: none. */
    size_t (*kept_floats)(const mla_layer *l);
} mla_op;

struct mla_layer {
    const mla_op *op;
    char name[96];
    mla_shape in, out;
    /* Hyperparameters (meaning per op). */
    int units, filters, kernel, stride, pad, out_pad, act, groups;
    bool bias;
    float alpha, rate, eps, momentum;
    mla_shape target;                 /* reshape */
    /* Parameters. */
    mla_tensor_desc tensors[MLA_MAX_TENSORS];
    int n_tensors;
    size_t n_trainable, n_buffers;    /* floats */
    size_t param_off, buffer_off;     /* where this layer's parts start in the flat vector */
    size_t work_floats;               /* shared scratch needed for a batch of cap samples (set in reserve) */
    int work_threads;                 /* threads the scratch was sized for (ops that split it per thread) */
    /* Set by mla_seq_setup on a conv2d followed by a relu (not the sequence's last layer):
     * the conv also writes the relu's output while each sample is in cache, and in the
     * backward pass derives its own output gradient from the relu's; the relu's passes
     * are skipped. When a max pool (again not last) follows the relu, the conv runs it
     * too, sample by sample, and in the backward pass routes the pool's output gradient
     * straight to its own (mla_maxpool_relu_backward_sample). Every fused layer's
     * activations hold what they would unfused, bit for bit, and so do the gradients
     * that leave the group (input and parameters); the gradients inside the group (the
     * conv's, relu's and pool's dy buffers) are not written. */
    struct mla_layer *fused_relu, *fused_pool;
    /* (A batchnorm or residual block followed by a relu, again not last, gets fused_relu
     * too: its forward writes the relu's output in the same pass as its own, and its
     * backward reads the relu's output gradient masked by its own output's sign; see
     * bn_forward and residual_forward.) */
    /* Set by mla_seq_setup on a conv2d followed by a batchnorm: in training passes the
     * conv leaves each sample's per-channel mean and sum of squared deviations in the
     * batchnorm's cache (mla_bn_sample_stats) while the sample is in cache, and the
     * batchnorm merges them instead of two passes of its own over the batch. */
    struct mla_layer *stats_to;
    bool sample_stats_ready;          /* batchnorm: the cache holds this forward's sample stats */
    bool fused_into_prev;             /* this layer's passes are done by an earlier layer */
    bool y_is_input;                  /* the last forward left y unwritten: the layer (a
                                         flatten or reshape, the net's first) copies, and its
                                         input holds the same numbers (mla_seq_input) */
    bool output_optional;             /* y is read by no pass, only by mla_net_activation (a
                                         conv2d and relu whose result goes straight into a
                                         fused pool): written only when ctx->keep_all */
    double macs;                      /* multiply-accumulates per sample (forward) */
    /* Activations for the current batch: y = output, dy = its gradient. */
    float *y, *dy;
    int cap;                          /* samples y/dy/caches have room for */
    void *cache;                      /* op-private (argmax, masks, stats, ...) */
    size_t cache_bytes_per_sample;
    bool batch_stats_used;            /* batchnorm ran in training mode last forward */
    mla_seq *body, *shortcut;         /* residual */
    /* Set by mla_net_backward_weighted for the norms pass and the weighted pass of one
     * step (room for the batch's op->kept_floats per sample; the net owns it), NULL
     * otherwise: where it is NULL the op recomputes what it would keep. */
    float *kept;
};

struct mla_seq {
    mla_layer *layers;
    int n;
};

/* Registers a tensor of l: trainable ones go into the trainable part of the flat
 * vector, the others (running statistics) into the buffer part. */
void mla_layer_add_tensor(mla_layer *l, const char *suffix, bool trainable, int ndim, int d0, int d1, int d2,
                          int d3);
/* Base pointer of tensor i of l in the flat vector. */
static inline float *mla_layer_tensor(const mla_layer *l, float *flat, int i) {
    return flat + l->tensors[i].offset;
}

/* Spec helpers: read an optional integer / number / bool key, checking type and
 * range; record an error naming the layer. "classes" is accepted for ints when
 * allow_classes. */
mla_status mla_spec_int(const mla_layer *l, const cJSON *j, const char *key, int def, int lo, int hi,
                        int classes, int *out);
mla_status mla_spec_num(const mla_layer *l, const cJSON *j, const char *key, double def, double lo, double hi,
                        float *out);
mla_status mla_spec_bool(const mla_layer *l, const cJSON *j, const char *key, bool def, bool *out);
/* Fails naming the first key of j not in the NULL-terminated list (plus "type", "name"). */
mla_status mla_spec_keys(const mla_layer *l, const cJSON *j, const char *const *allowed);
/* PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void mla_init_uniform(float *w, size_t n, int fan_in, mla_rng *rng);

/* A batchnorm's slots for the per-sample statistics of sample s: [channel][mean, M2]. */
double *mla_bn_sample_stats(mla_layer *bn, int s);

/* Sequences (used by the net and by residual blocks). */
mla_status mla_seq_parse(mla_seq *seq, const cJSON *arr, const char *prefix, int classes);
mla_status mla_seq_setup(mla_seq *seq, mla_shape in, mla_shape *out);
void mla_seq_free(mla_seq *seq);
mla_shape mla_seq_out_shape(const mla_seq *seq, mla_shape in);

/* Ops (one per layer type). */
extern const mla_op mla_op_dense, mla_op_conv2d, mla_op_dwconv2d, mla_op_convt2d, mla_op_maxpool,
    mla_op_avgpool, mla_op_gap, mla_op_batchnorm, mla_op_groupnorm, mla_op_dropout, mla_op_flatten,
    mla_op_reshape, mla_op_relu, mla_op_leaky_relu, mla_op_sigmoid, mla_op_tanh, mla_op_silu, mla_op_residual, mla_op_se;

/* Max pooling of sample s by pool (its y and argmax cache), from x = that sample's
 * input; for a conv2d that runs its fused pool sample by sample. */
void mla_maxpool_sample(mla_layer *pool, const float *x, int s);
/* The backward of relu -> pool for sample s, fused: dx (the relu's input gradient,
 * pool->in size) = the pool's output gradient routed to each argmax whose pooled
 * value is positive, zeros elsewhere: what maxpool's then relu's backward give. */
void mla_maxpool_relu_backward_sample(const mla_layer *pool, int s, float *dx);

/* The net's top-level sequence (for io.c's walk over tensors). */
const mla_seq *mla_net_seq(const mla_net *net);

/* Residual blocks need the net's sequence machinery (net.c). */
mla_status mla_seq_reserve(mla_seq *seq, int n);
void mla_seq_forward(mla_seq *seq, const float *x, int n, mla_ctx *ctx);
void mla_seq_backward(mla_seq *seq, const float *x, const float *dy, float *dx, int n0, int n, mla_ctx *ctx);
/* The weighted pass (ctx->sample_weights) of the sequence's layers with parameters,
 * after a norms pass: see mla_net_backward_weighted. */
void mla_seq_weighted(mla_seq *seq, const float *x, const float *dy, int n0, int n, mla_ctx *ctx);
const float *mla_seq_output(const mla_seq *seq, const float *x);
/* Maps the pages of [p, p + bytes) writable now, contents unchanged (whole pages inside
 * the range only; a no-op where the system has no MADV_POPULATE_WRITE). Buffers a
 * training step writes for the first time: on the 2-core EPYC guest a page fault costs
 * ~11 us and a populated page ~1 us (4 MiB: 11 ms touched, 1 ms populated), and the
 * mlp's first step took ~1,100 faults (11 ms, 2.6% of a one-epoch run). */
void mla_prefault(void *p, size_t bytes);

/* Layer i's input in the last forward (x, the sequence's input, for the first layer);
 * i == seq->n gives the sequence's output. Where a layer's y is its input's numbers
 * (mla_layer.y_is_input), its input. */
const float *mla_seq_input(const mla_seq *seq, int i, const float *x);
void mla_seq_layout(mla_seq *seq, size_t *param_off, size_t *buffer_off, double *macs);
void mla_seq_init(mla_seq *seq, float *params, mla_rng *rng);

/* im2col / col2im for one sample, channel-major rows: row (c*kh + i)*kw + j of col
 * holds x[c][oy*stride - pad + i][ox*stride - pad + j] for every (oy, ox), at
 * col + row * ldc + oy*ow + ox. col2im adds back into x (which it does not zero). */
void mla_im2col(const float *x, int c, int h, int w, int k, int stride, int pad, int oh, int ow, float *col,
                size_t ldc);
void mla_col2im(const float *col, size_t ldc, int c, int h, int w, int k, int stride, int pad, int oh, int ow,
                float *x);

#endif
