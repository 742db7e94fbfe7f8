/* Nets: building from a spec, the flat parameter vector, forward and backward
 * passes over a sequence of layers, activations by name, per-sample gradients. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layer.h"
#include "nn/reduce.h"

struct mla_net {
    char *spec;
    char name[64];
    mla_shape in, out;
    int classes;
    mla_seq seq;
    float *params, *grads;
    size_t n_params, n_trainable;
    float *work;         /* shared scratch, sized in net_reserve */
    float *input;        /* the last forward's input (a copy, or written there by the caller) */
    int input_cap;       /* samples input holds; kept when the layers' buffers are resized */
    int cap, n;          /* samples the layers' buffers hold / last forward's batch */
    int threads;         /* mla_get_threads() when the buffers were sized (per-thread scratch) */
    bool frozen, have_forward;
    bool keep_activations;  /* mla_net_set_keep_activations; on by default */
    bool kept_all;          /* the last forward ran with keep_activations on */
    bool dy_mapped;         /* a backward has mapped the layers' dy buffers (seq_prefault_dy) */
    double macs;
    mla_rng rng;
    /* Book-keeping (mla_net_backward_weighted): what layers keep from the norms pass,
     * one block for all of them, reused from step to step, and its limit. */
    float *kept;
    size_t kept_cap, kept_limit; /* bytes */
};

static const mla_op *const all_ops[] = {
    &mla_op_dense, &mla_op_conv2d, &mla_op_dwconv2d, &mla_op_convt2d, &mla_op_maxpool, &mla_op_avgpool,
    &mla_op_gap, &mla_op_batchnorm, &mla_op_groupnorm, &mla_op_dropout, &mla_op_flatten, &mla_op_reshape, &mla_op_relu,
    &mla_op_leaky_relu, &mla_op_sigmoid, &mla_op_tanh, &mla_op_silu, &mla_op_residual, &mla_op_se,
};
#define N_OPS (sizeof all_ops / sizeof *all_ops)

const char *const *mla_layer_types(void) {
    static const char *names[N_OPS + 1];
    for (size_t i = 0; i < N_OPS; i++) names[i] = all_ops[i]->type;
    names[N_OPS] = NULL;
    return names;
}

static const mla_op *find_op(const char *type) {
    for (size_t i = 0; i < N_OPS; i++)
        if (!strcmp(all_ops[i]->type, type)) return all_ops[i];
    return NULL;
}

/* ---- sequences ---- */

static mla_status parse_layer(mla_layer *l, const cJSON *j, const char *name, int classes) {
    snprintf(l->name, sizeof l->name, "%s", name);
    if (!cJSON_IsObject(j)) return mla_error(MLA_ERR_INVALID, "layer %s: expected a JSON object", name);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsString(type)) return mla_error(MLA_ERR_INVALID, "layer %s: missing \"type\"", name);
    const cJSON *given = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (given) {
        if (!cJSON_IsString(given) || !*given->valuestring || strlen(given->valuestring) >= sizeof l->name)
            return mla_error(MLA_ERR_INVALID, "layer %s: \"name\" must be a short non-empty string", name);
        snprintf(l->name, sizeof l->name, "%s", given->valuestring);
    }
    l->op = find_op(type->valuestring);
    if (!l->op) {
        char list[512] = "";
        for (size_t i = 0; i < N_OPS; i++) {
            strncat(list, all_ops[i]->type, sizeof list - strlen(list) - 3);
            if (i + 1 < N_OPS) strcat(list, ", ");
        }
        return mla_error(MLA_ERR_INVALID, "layer %s: unknown layer type '%s' (known: %s)", l->name,
                         type->valuestring, list);
    }
    return l->op->parse(l, j, classes);
}

mla_status mla_seq_parse(mla_seq *seq, const cJSON *arr, const char *prefix, int classes) {
    seq->layers = NULL;
    seq->n = 0;
    if (!cJSON_IsArray(arr)) return mla_error(MLA_ERR_INVALID, "%s: \"layers\" must be an array", prefix);
    int n = cJSON_GetArraySize(arr);
    if (n > 10000) return mla_error(MLA_ERR_INVALID, "%s: too many layers (%d)", prefix, n);
    seq->layers = mla_alloc((size_t)(n ? n : 1), sizeof *seq->layers);
    if (!seq->layers) return MLA_ERR_NOMEM;
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        char name[96];
        snprintf(name, sizeof name, "%s%s%d", prefix, *prefix ? "." : "", i);
        seq->n = i + 1;
        mla_status s = parse_layer(&seq->layers[i], item, name, classes);
        if (s) return s;
        i++;
    }
    return MLA_OK;
}

mla_status mla_seq_setup(mla_seq *seq, mla_shape in, mla_shape *out) {
    for (int i = 0; i < seq->n; i++) {
        mla_layer *l = &seq->layers[i];
        l->in = in;
        mla_status s = l->op->setup(l);
        if (s) return s;
        if (l->out.c <= 0 || l->out.h <= 0 || l->out.w <= 0)
            return mla_error(MLA_ERR_SHAPE, "layer %s (%s): input %dx%dx%d gives an empty output %dx%dx%d", l->name,
                             l->op->type, in.c, in.h, in.w, l->out.c, l->out.h, l->out.w);
        in = l->out;
    }
    for (int i = 0; i + 1 < seq->n; i++) {
        mla_layer *l = &seq->layers[i], *next = &seq->layers[i + 1];
        if (l->op == &mla_op_conv2d && next->op == &mla_op_batchnorm) l->stats_to = next;
    }
    /* The relu must not be the last layer: its dy would then be the caller's buffer. */
    for (int i = 0; i + 1 < seq->n - 1; i++) {
        mla_layer *l = &seq->layers[i], *next = &seq->layers[i + 1];
        if ((l->op == &mla_op_batchnorm || l->op == &mla_op_residual || l->op == &mla_op_dense) &&
            next->op == &mla_op_relu) {
            /* see bn_forward, residual_forward, dense_forward */
            l->fused_relu = next;
            next->fused_into_prev = true;
        }
        if (l->op == &mla_op_conv2d && next->op == &mla_op_relu) {
            l->fused_relu = next;
            next->fused_into_prev = true;
            mla_layer *pool = i + 2 < seq->n - 1 ? &seq->layers[i + 2] : NULL;
            if (pool && pool->op == &mla_op_maxpool) {
                l->fused_pool = pool;
                pool->fused_into_prev = true;
                l->output_optional = next->output_optional = true;
            }
        }
    }
    *out = in;
    return MLA_OK;
}

static void layer_free(mla_layer *l) {
    if (l->op && l->op->destroy) l->op->destroy(l);
    free(l->y);
    free(l->dy);
    free(l->cache);
}

void mla_seq_free(mla_seq *seq) {
    for (int i = 0; i < seq->n; i++) layer_free(&seq->layers[i]);
    free(seq->layers);
    seq->layers = NULL;
    seq->n = 0;
}

void mla_layer_add_tensor(mla_layer *l, const char *suffix, bool trainable, int ndim, int d0, int d1, int d2,
                          int d3) {
    mla_tensor_desc *t = &l->tensors[l->n_tensors++];
    t->suffix = suffix;
    t->trainable = trainable;
    t->ndim = ndim;
    t->dims[0] = d0;
    t->dims[1] = d1;
    t->dims[2] = d2;
    t->dims[3] = d3;
    size_t count = 1;
    for (int i = 0; i < ndim; i++) count *= (size_t)t->dims[i];
    /* Relative offset for now; mla_seq_layout makes it absolute. */
    if (trainable) {
        t->offset = l->n_trainable;
        l->n_trainable += count;
    } else {
        t->offset = l->n_buffers;
        l->n_buffers += count;
    }
}

static size_t seq_trainable(const mla_seq *seq);

/* Trainable floats of a layer, its residual branches included. */
static size_t layer_trainable(const mla_layer *l) {
    size_t n = l->n_trainable;
    if (l->body) n += seq_trainable(l->body);
    if (l->shortcut) n += seq_trainable(l->shortcut);
    return n;
}

static size_t seq_trainable(const mla_seq *seq) {
    size_t n = 0;
    for (int i = 0; i < seq->n; i++) n += layer_trainable(&seq->layers[i]);
    return n;
}

/* The index of the sequence's first layer with trainable parameters (n if none). */
static int seq_first_trainable(const mla_seq *seq) {
    int i = 0;
    while (i < seq->n && !layer_trainable(&seq->layers[i])) i++;
    return i;
}

/* Assigns each layer its place in the flat vector (trainable parts from *param_off,
 * buffers from *buffer_off) and returns the largest scratch any layer needs. */
void mla_seq_layout(mla_seq *seq, size_t *param_off, size_t *buffer_off, double *macs) {
    for (int i = 0; i < seq->n; i++) {
        mla_layer *l = &seq->layers[i];
        l->param_off = *param_off;
        l->buffer_off = *buffer_off;
        for (int t = 0; t < l->n_tensors; t++)
            l->tensors[t].offset += l->tensors[t].trainable ? l->param_off : l->buffer_off;
        *param_off += l->n_trainable;
        *buffer_off += l->n_buffers;
        *macs += l->macs;
        if (l->body) mla_seq_layout(l->body, param_off, buffer_off, macs);
        if (l->shortcut) mla_seq_layout(l->shortcut, param_off, buffer_off, macs);
    }
}

void mla_seq_init(mla_seq *seq, float *params, mla_rng *rng) {
    for (int i = 0; i < seq->n; i++) {
        mla_layer *l = &seq->layers[i];
        if (l->op->init) l->op->init(l, params, rng);
        if (l->body) mla_seq_init(l->body, params, rng);
        if (l->shortcut) mla_seq_init(l->shortcut, params, rng);
    }
}

/* flatten and reshape: y is x's numbers (the net's first one leaves them in x). */
static bool copy_op(const mla_layer *l) { return l->op == &mla_op_flatten || l->op == &mla_op_reshape; }

/* floats, then MLA_SLACK_FLOATS zeros (NULL when out of memory). */
static float *alloc_with_slack(size_t floats) {
    float *p = mla_alloc_aligned(floats + MLA_SLACK_FLOATS, sizeof(float));
    if (p) memset(p + floats, 0, MLA_SLACK_FLOATS * sizeof(float));
    return p;
}

mla_status mla_seq_reserve(mla_seq *seq, int n) {
    for (int i = 0; i < seq->n; i++) {
        mla_layer *l = &seq->layers[i];
        if (l->cap >= n) continue;
        size_t size = (size_t)mla_shape_size(l->out);
        free(l->y);
        free(l->dy);
        l->y = alloc_with_slack((size_t)n * size);
        l->dy = alloc_with_slack((size_t)n * size);
        if (!l->y || !l->dy) return MLA_ERR_NOMEM;
        /* Every forward writes y (but a net's first flatten or reshape: mla_net_forward);
         * dy is mapped by the first backward (seq_prefault_dy): evaluation never writes it. */
        if (!(i == 0 && copy_op(l))) mla_prefault(l->y, (size_t)n * size * sizeof(float));
        if (l->cache_bytes_per_sample) {
            free(l->cache);
            l->cache = mla_alloc((size_t)n, l->cache_bytes_per_sample);
            if (!l->cache) return MLA_ERR_NOMEM;
        }
        if (l->op->reserve) {
            mla_status s = l->op->reserve(l, n);
            if (s) return s;
        }
        l->cap = n;
    }
    return MLA_OK;
}

/* Maps the dy buffers of layers [first, n) and of their blocks' sequences (mla_prefault). */
static void seq_prefault_dy(mla_seq *seq, int first) {
    for (int i = first; i < seq->n; i++) {
        mla_layer *l = &seq->layers[i];
        mla_prefault(l->dy, (size_t)l->cap * (size_t)mla_shape_size(l->out) * sizeof(float));
        if (l->body) seq_prefault_dy(l->body, 0);
        if (l->shortcut) seq_prefault_dy(l->shortcut, 0);
    }
}

const float *mla_seq_input(const mla_seq *seq, int i, const float *x) {
    while (i > 0 && seq->layers[i - 1].y_is_input) i--;
    return i > 0 ? seq->layers[i - 1].y : x;
}

const float *mla_seq_output(const mla_seq *seq, const float *x) { return mla_seq_input(seq, seq->n, x); }


/* Layers [first, seq->n) on x, the input of layer first. */
static void seq_forward_from(mla_seq *seq, int first, const float *x, int n, mla_ctx *ctx) {
    for (int i = first; i < seq->n; i++) {
        mla_layer *l = &seq->layers[i];
        if (!l->fused_into_prev) l->op->forward(l, x, l->y, n, ctx);
        x = l->y;
    }
}

void mla_seq_forward(mla_seq *seq, const float *x, int n, mla_ctx *ctx) { seq_forward_from(seq, 0, x, n, ctx); }

/* The per-sample norms pass for a layer whose op has no formula (mla_op.ghost_norms
 * false): one single-sample backward per sample into the layer's part of ctx->grads
 * (a scratch vector in that pass), then the input gradient with no parameter
 * gradients. Batch norm in evaluation mode, depthwise and transposed convs, se. */
static void backward_per_sample(mla_layer *l, const float *x, const float *dy, float *dx, int n0, int n,
                                mla_ctx *ctx) {
    mla_ctx one = *ctx;
    one.sq_norms = NULL;
    one.param_grads = true;
    float *g = ctx->grads + l->param_off; /* the layer's trainable tensors, contiguous */
    for (int s = n0; s < n0 + n; s++) {
        memset(g, 0, l->n_trainable * sizeof(float));
        l->op->backward(l, x, l->y, dy, NULL, s, 1, &one);
        ctx->sq_norms[s] += mla_plane_sumsq(g, l->n_trainable);
    }
    if (!dx) return;
    one.param_grads = false;
    l->op->backward(l, x, l->y, dy, dx, n0, n, &one);
}

/* dy is the gradient of the sequence's output (the last layer's dy buffer, or for an
 * empty sequence the gradient to pass straight through to dx). */
void mla_seq_backward(mla_seq *seq, const float *x, const float *dy, float *dx, int n0, int n, mla_ctx *ctx) {
    if (seq->n == 0) return; /* identity: the caller (a residual block) passes dy on */
    /* With no input gradient wanted, the pass ends at the first layer with parameters,
     * which then computes no input gradient either: below it gradients would flow to
     * no one (for the mlp, whose flatten comes first, that is a fifth of a step). */
    int stop = 0;
    if (!dx) {
        if (!ctx->param_grads) return;
        stop = seq_first_trainable(seq);
    }
    for (int i = seq->n - 1; i >= stop; i--) {
        mla_layer *l = &seq->layers[i];
        if (l->fused_into_prev) continue;
        const float *lx = mla_seq_input(seq, i, x);
        float *ldx = i > stop ? seq->layers[i - 1].dy : dx;
        const float *ldy = i == seq->n - 1 ? dy : l->dy;
        if (ctx->sq_norms && l->n_trainable && !l->op->ghost_norms)
            backward_per_sample(l, lx, ldy, ldx, n0, n, ctx);
        else
            l->op->backward(l, lx, l->y, ldy, ldx, n0, n, ctx);
    }
}

/* ---- nets ---- */

static mla_status parse_spec(mla_net *net, const char *spec_json, int classes) {
    cJSON *root = cJSON_Parse(spec_json);
    if (!root) return mla_error(MLA_ERR_INVALID, "model spec: not valid JSON (near \"%.32s\")",
                                cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
    mla_status s = MLA_OK;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    snprintf(net->name, sizeof net->name, "%s", cJSON_IsString(name) ? name->valuestring : "custom");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (!cJSON_IsObject(root) || !layers)
        s = mla_error(MLA_ERR_INVALID, "model spec: expected an object with a \"layers\" array");
    else
        s = mla_seq_parse(&net->seq, layers, "", classes);
    if (!s && net->seq.n == 0) s = mla_error(MLA_ERR_INVALID, "model spec: \"layers\" is empty");
    cJSON_Delete(root);
    return s;
}

static mla_status net_layout(mla_net *net) {
    net->n_trainable = seq_trainable(&net->seq);
    size_t param_off = 0, buffer_off = net->n_trainable;
    net->macs = 0;
    mla_seq_layout(&net->seq, &param_off, &buffer_off, &net->macs);
    net->n_params = buffer_off;
    net->params = mla_alloc_aligned(net->n_params ? net->n_params : 1, sizeof(float));
    net->grads = mla_alloc_aligned(net->n_trainable ? net->n_trainable : 1, sizeof(float));
    if (!net->params || !net->grads) return MLA_ERR_NOMEM;
    memset(net->params, 0, net->n_params * sizeof(float));
    memset(net->grads, 0, net->n_trainable * sizeof(float));
    return MLA_OK;
}

mla_status mla_net_create(const char *spec_json, mla_shape input, int classes, uint64_t seed, mla_net **out) {
    *out = NULL;
    if (input.c <= 0 || input.h <= 0 || input.w <= 0)
        return mla_error(MLA_ERR_INVALID, "model input shape %dx%dx%d is empty", input.c, input.h, input.w);
    if (classes < 1) return mla_error(MLA_ERR_INVALID, "model needs at least one class, got %d", classes);
    mla_net *net = mla_alloc(1, sizeof *net);
    if (!net) return MLA_ERR_NOMEM;
    net->in = input;
    net->classes = classes;
    net->keep_activations = true;
    net->kept_limit = MLA_PER_SAMPLE_MEMORY_DEFAULT;
    net->spec = strdup(spec_json);
    mla_status s = net->spec ? MLA_OK : mla_error(MLA_ERR_NOMEM, "out of memory");
    if (!s) s = parse_spec(net, spec_json, classes);
    if (!s) s = mla_seq_setup(&net->seq, input, &net->out);
    if (!s) s = net_layout(net);
    if (s) {
        mla_net_free(net);
        return s;
    }
    mla_rng_seed(&net->rng, seed);
    mla_rng init_rng = mla_rng_fork(&net->rng, 1);
    mla_seq_init(&net->seq, net->params, &init_rng);
    *out = net;
    return MLA_OK;
}

void mla_net_free(mla_net *net) {
    if (!net) return;
    mla_seq_free(&net->seq);
    free(net->spec);
    free(net->params);
    free(net->grads);
    free(net->work);
    free(net->input);
    free(net->kept);
    free(net);
}

const mla_seq *mla_net_seq(const mla_net *net) { return &net->seq; }
mla_shape mla_net_input_shape(const mla_net *net) { return net->in; }
mla_shape mla_net_output_shape(const mla_net *net) { return net->out; }
int mla_net_classes(const mla_net *net) { return net->classes; }
const char *mla_net_spec(const mla_net *net) { return net->spec; }
const char *mla_net_name(const mla_net *net) { return net->name; }
double mla_net_forward_macs(const mla_net *net) { return net->macs; }
double mla_net_train_flops(const mla_net *net) {
    /* Training's backward stops at the first layer with parameters (mla_seq_backward);
     * a residual block there still passes gradients inside itself, so nothing is skipped. */
    int i = seq_first_trainable(&net->seq);
    const mla_layer *first = i < net->seq.n ? &net->seq.layers[i] : NULL;
    double skipped = first && !first->body ? first->macs : 0;
    return 2.0 * (3.0 * net->macs - skipped);
}
size_t mla_net_param_count(const mla_net *net) { return net->n_params; }
size_t mla_net_trainable_count(const mla_net *net) { return net->n_trainable; }
float *mla_net_params(mla_net *net) { return net->params; }
float *mla_net_grads(mla_net *net) { return net->grads; }
void mla_net_zero_grads(mla_net *net) { memset(net->grads, 0, net->n_trainable * sizeof(float)); }
void mla_net_set_frozen(mla_net *net, bool frozen) { net->frozen = frozen; }
void mla_net_set_keep_activations(mla_net *net, bool keep) { net->keep_activations = keep; }
bool mla_net_keep_activations(const mla_net *net) { return net->keep_activations; }
mla_rng *mla_net_rng(mla_net *net) { return &net->rng; }

static int seq_set_dropout(mla_seq *seq, float rate) {
    int count = 0;
    for (int i = 0; i < seq->n; i++) {
        mla_layer *l = &seq->layers[i];
        if (l->op == &mla_op_dropout) {
            l->rate = rate;
            count++;
        }
        if (l->body) count += seq_set_dropout(l->body, rate);
        if (l->shortcut) count += seq_set_dropout(l->shortcut, rate);
    }
    return count;
}

mla_status mla_net_set_dropout(mla_net *net, float rate, int *count) {
    if (!(rate >= 0 && rate <= 0.99f)) return mla_error(MLA_ERR_INVALID, "dropout rate must be in [0, 0.99], got %g", rate);
    int n = seq_set_dropout(&net->seq, rate);
    if (count) *count = n;
    return MLA_OK;
}
bool mla_net_frozen(const mla_net *net) { return net->frozen; }

mla_status mla_net_copy_params(mla_net *dst, const mla_net *src) {
    if (dst->n_params != src->n_params || dst->n_trainable != src->n_trainable)
        return mla_error(MLA_ERR_SHAPE, "cannot copy parameters: %zu vs %zu values", src->n_params, dst->n_params);
    memcpy(dst->params, src->params, src->n_params * sizeof(float));
    return MLA_OK;
}

static size_t seq_max_work(const mla_seq *seq) {
    size_t work = 0;
    for (int i = 0; i < seq->n; i++) {
        const mla_layer *l = &seq->layers[i];
        size_t w = l->work_floats;
        if (l->body && seq_max_work(l->body) > w) w = seq_max_work(l->body);
        if (l->shortcut && seq_max_work(l->shortcut) > w) w = seq_max_work(l->shortcut);
        if (w > work) work = w;
    }
    return work;
}

/* Forgets every layer's sizing, so the next reserve sizes all of them again. */
static void seq_forget_caps(mla_seq *seq) {
    for (int i = 0; i < seq->n; i++) {
        mla_layer *l = &seq->layers[i];
        l->cap = 0;
        if (l->body) seq_forget_caps(l->body);
        if (l->shortcut) seq_forget_caps(l->shortcut);
    }
}

/* Grows the input buffer to n samples; a buffer large enough is kept as it is, so what a
 * caller wrote through mla_net_input_buffer survives the layers' buffers being resized. */
static mla_status net_reserve_input(mla_net *net, int n) {
    if (n <= net->input_cap) return MLA_OK;
    free(net->input);
    net->input_cap = 0;
    net->input = alloc_with_slack((size_t)n * (size_t)mla_shape_size(net->in));
    if (!net->input) return MLA_ERR_NOMEM;
    mla_prefault(net->input, (size_t)n * (size_t)mla_shape_size(net->in) * sizeof(float));
    net->input_cap = n;
    return MLA_OK;
}

static mla_status net_reserve(mla_net *net, int n) {
    if (net->cap && net->threads != mla_get_threads()) { /* per-thread scratch is sized for the old count */
        seq_forget_caps(&net->seq);
        net->cap = 0;
    }
    if (n <= net->cap) return MLA_OK;
    mla_status s = mla_seq_reserve(&net->seq, n);
    if (s) return s;
    s = net_reserve_input(net, n);
    if (s) return s;
    /* Layers size their scratch for a batch of n in reserve(); take the largest. */
    size_t work = seq_max_work(&net->seq);
    free(net->work);
    net->work = mla_alloc_aligned(work ? work : 1, sizeof(float));
    if (!net->work) return MLA_ERR_NOMEM;
    mla_prefault(net->work, (work ? work : 1) * sizeof(float));
    memset(net->work, 0, (work ? work : 1) * sizeof(float)); /* layers' slack regions start as zeros */
    net->cap = n;
    net->threads = mla_get_threads();
    net->dy_mapped = false;
    return MLA_OK;
}

static mla_ctx net_ctx(mla_net *net, bool train) {
    mla_ctx ctx = {net->params, net->grads, net->work, train,
                   !net->frozen, net->keep_activations, &net->rng, NULL, NULL, NULL};
    return ctx;
}

mla_status mla_net_input_buffer(mla_net *net, int n, float **buf) {
    *buf = NULL;
    if (n <= 0) return mla_error(MLA_ERR_INVALID, "input buffer needs at least one sample, got %d", n);
    mla_status s = net_reserve_input(net, n);
    if (s) return s;
    net->have_forward = false; /* the buffer no longer holds the last forward's input */
    *buf = net->input;
    return MLA_OK;
}

mla_status mla_net_forward(mla_net *net, const float *x, int n, bool train, const float **out) {
    if (n <= 0) return mla_error(MLA_ERR_INVALID, "forward pass needs at least one sample, got %d", n);
    if (x == net->input && n > net->input_cap)
        return mla_error(MLA_ERR_INVALID, "forward pass on the net's input buffer for %d samples, but it holds %d",
                         n, net->input_cap);
    mla_status s = net_reserve(net, n);
    if (s) return s;
    if (x != net->input) memcpy(net->input, x, (size_t)n * (size_t)mla_shape_size(net->in) * sizeof(float));
    mla_ctx ctx = net_ctx(net, train);
    /* A first flatten or reshape would copy the input buffer to its own: the net's input
     * stays in place of its output instead (mla_seq_input). For the mlp preset the copy
     * was a serial 400 KB pass a step, which also left the whole batch in one core's
     * cache for the first dense layer's two threads. */
    mla_layer *first = net->seq.n > 1 ? &net->seq.layers[0] : NULL;
    bool through = first && copy_op(first);
    if (first) first->y_is_input = through;
    seq_forward_from(&net->seq, through ? 1 : 0, net->input, n, &ctx);
    net->kept_all = net->keep_activations;
    net->n = n;
    net->have_forward = true;
    *out = mla_seq_output(&net->seq, net->input);
    return MLA_OK;
}

/* Before the first backward on buffers of this size: their dy mapped in one call each. */
static void net_prefault_dy(mla_net *net) {
    if (net->dy_mapped) return;
    seq_prefault_dy(&net->seq, 0);
    net->dy_mapped = true;
}

/* The backward of the last forward; fused (optim_fused.h) or NULL. */
static mla_status net_backward(mla_net *net, const float *dout, float *dx, mla_opt_fused *fused) {
    if (!net->have_forward) return mla_error(MLA_ERR_INVALID, "backward pass without a forward pass");
    net_prefault_dy(net);
    mla_ctx ctx = net_ctx(net, true);
    ctx.fused = fused;
    mla_seq_backward(&net->seq, net->input, dout, dx, 0, net->n, &ctx);
    return MLA_OK;
}

mla_status mla_net_backward(mla_net *net, const float *dout, float *dx) { return net_backward(net, dout, dx, NULL); }

mla_status mla_net_backward_fused(mla_net *net, const float *dout, mla_opt_fused *f) {
    return net_backward(net, dout, NULL, f);
}

static bool seq_used_batch_stats(const mla_seq *seq) {
    for (int i = 0; i < seq->n; i++) {
        const mla_layer *l = &seq->layers[i];
        if (l->batch_stats_used) return true;
        if (l->body && seq_used_batch_stats(l->body)) return true;
        if (l->shortcut && seq_used_batch_stats(l->shortcut)) return true;
    }
    return false;
}

/* One batched backward in which each layer adds its share of every sample's squared
 * norm (mla_ctx.sq_norms): ops with mla_op.ghost_norms add their own (dense from its
 * input and output gradient, conv2d from each sample's weight gradient formed in its
 * own loop, groupnorm, residual by recursion); the others go through
 * backward_per_sample, sample by sample. Parameter gradients
 * of the fallback go to a scratch vector, so the net's are untouched. sq: net->n. */
static mla_status norms_pass(mla_net *net, const float *dout, double *sq) {
    if (!net->have_forward) return mla_error(MLA_ERR_INVALID, "per-sample gradients without a forward pass");
    if (seq_used_batch_stats(&net->seq))
        return mla_error(MLA_ERR_UNSUPPORTED,
                         "per-sample gradients are undefined after a training-mode batch norm pass (samples are "
                         "not independent); run the forward pass in evaluation mode");
    float *scratch = mla_alloc_aligned(net->n_trainable ? net->n_trainable : 1, sizeof(float));
    if (!scratch) return MLA_ERR_NOMEM;
    memset(sq, 0, (size_t)net->n * sizeof(double));
    mla_ctx ctx = net_ctx(net, true);
    ctx.grads = scratch;
    ctx.param_grads = true;
    ctx.sq_norms = sq;
    mla_seq_backward(&net->seq, net->input, dout, NULL, 0, net->n, &ctx);
    free(scratch);
    return MLA_OK;
}

mla_status mla_net_per_sample_grad_norms(mla_net *net, const float *dout, float *norms) {
    double *sq = mla_alloc(net->n > 0 ? (size_t)net->n : 1, sizeof(double));
    if (!sq) return MLA_ERR_NOMEM;
    mla_status s = norms_pass(net, dout, sq);
    for (int i = 0; !s && i < net->n; i++) norms[i] = (float)sqrt(sq[i]);
    free(sq);
    return s;
}

void mla_net_set_per_sample_memory(mla_net *net, size_t bytes) { net->kept_limit = bytes; }

/* Whether every layer with parameters has a weighted pass (mla_op.weighted), inside
 * residual blocks too. */
static bool seq_weighted(const mla_seq *seq) {
    for (int i = 0; i < seq->n; i++) {
        const mla_layer *l = &seq->layers[i];
        if (layer_trainable(l) && !l->op->weighted) return false;
        if (l->body && !seq_weighted(l->body)) return false;
        if (l->shortcut && !seq_weighted(l->shortcut)) return false;
    }
    return true;
}

/* Walks the layers in order (residual branches included) giving each whose op keeps
 * per-sample quantities room for n samples while *total stays within limit floats:
 * counts only (base NULL), or points l->kept into base. */
static void seq_kept(mla_seq *seq, int n, float *base, size_t limit, size_t *total) {
    for (int i = 0; i < seq->n; i++) {
        mla_layer *l = &seq->layers[i];
        size_t need = l->op->kept_floats && l->n_trainable ? l->op->kept_floats(l) * (size_t)n : 0;
        if (need && *total + need <= limit) {
            if (base) l->kept = base + *total;
            *total += need;
        }
        if (l->body) seq_kept(l->body, n, base, limit, total);
        if (l->shortcut) seq_kept(l->shortcut, n, base, limit, total);
    }
}

static void seq_kept_clear(mla_seq *seq) {
    for (int i = 0; i < seq->n; i++) {
        mla_layer *l = &seq->layers[i];
        l->kept = NULL;
        if (l->body) seq_kept_clear(l->body);
        if (l->shortcut) seq_kept_clear(l->shortcut);
    }
}

/* Gives layers room to keep per-sample quantities for n samples (mla_layer.kept), in
 * order while the total stays within the net's limit; the rest recompute. */
static mla_status kept_assign(mla_net *net, int n) {
    size_t total = 0, limit = net->kept_limit / sizeof(float);
    seq_kept(&net->seq, n, NULL, limit, &total);
    if (total > net->kept_cap) {
        free(net->kept);
        net->kept = mla_alloc_aligned(total, sizeof(float));
        net->kept_cap = net->kept ? total : 0;
        if (!net->kept) return MLA_ERR_NOMEM;
    }
    total = 0;
    seq_kept(&net->seq, n, net->kept, limit, &total);
    return MLA_OK;
}

/* The weighted pass over a sequence: each layer with parameters adds its share of
 * sum_i w_i g_i from its input and the output gradient the norms pass left in its dy
 * buffer (the sequence's last layer: dy), and from what it kept; a residual block
 * recurses into its branches. No input gradients. */
void mla_seq_weighted(mla_seq *seq, const float *x, const float *dy, int n0, int n, mla_ctx *ctx) {
    for (int i = 0; i < seq->n; i++) {
        mla_layer *l = &seq->layers[i];
        if (l->fused_into_prev || !layer_trainable(l)) continue;
        const float *lx = mla_seq_input(seq, i, x);
        const float *ldy = i == seq->n - 1 ? dy : l->dy;
        l->op->backward(l, lx, l->y, ldy, NULL, n0, n, ctx);
    }
}

static void weighted_pass(mla_net *net, const float *dout, const float *weights) {
    mla_ctx ctx = net_ctx(net, true);
    ctx.sample_weights = weights;
    mla_seq_weighted(&net->seq, net->input, dout, 0, net->n, &ctx);
}

/* Without a weighted pass for some layer: one backward of dout with row i scaled by w_i. */
static mla_status scaled_backward(mla_net *net, const float *dout, const float *weights) {
    size_t row = (size_t)mla_shape_size(net->out);
    float *scaled = mla_alloc((size_t)net->n * row, sizeof(float));
    if (!scaled) return MLA_ERR_NOMEM;
    for (int i = 0; i < net->n; i++)
        for (size_t j = 0; j < row; j++) scaled[(size_t)i * row + j] = dout[(size_t)i * row + j] * weights[i];
    mla_status s = mla_net_backward(net, scaled, NULL);
    free(scaled);
    return s;
}

mla_status mla_net_backward_weighted(mla_net *net, const float *dout, mla_sample_weigh_fn weigh, void *user) {
    int n = net->n;
    size_t rows = n > 0 ? (size_t)n : 1;
    bool weighted = seq_weighted(&net->seq) && !net->frozen;
    double *sq = mla_alloc(rows, sizeof(double));
    float *norms = mla_alloc(rows, sizeof(float)), *w = mla_alloc(rows, sizeof(float));
    mla_status s = sq && norms && w ? MLA_OK : MLA_ERR_NOMEM;
    if (!s && weighted) s = kept_assign(net, n);
    if (!s) s = norms_pass(net, dout, sq);
    if (!s) {
        for (int i = 0; i < n; i++) norms[i] = (float)sqrt(sq[i]);
        s = weigh(user, norms, n, w);
    }
    if (!s && weighted)
        weighted_pass(net, dout, w);
    else if (!s && !net->frozen)
        s = scaled_backward(net, dout, w);
    seq_kept_clear(&net->seq);
    free(sq);
    free(norms);
    free(w);
    return s;
}

static const mla_layer *find_layer(const mla_seq *seq, const char *name) {
    for (int i = 0; i < seq->n; i++) {
        const mla_layer *l = &seq->layers[i];
        if (!strcmp(l->name, name)) return l;
        const mla_layer *f = l->body ? find_layer(l->body, name) : NULL;
        if (!f && l->shortcut) f = find_layer(l->shortcut, name);
        if (f) return f;
    }
    return NULL;
}

mla_status mla_net_activation(const mla_net *net, const char *layer, const float **data, mla_shape *shape,
                              int *n) {
    if (!net->have_forward) return mla_error(MLA_ERR_INVALID, "no activations: run a forward pass first");
    if (!strcmp(layer, "input")) {
        *data = net->input;
        *shape = net->in;
    } else {
        const mla_layer *l = find_layer(&net->seq, layer);
        if (!l) return mla_error(MLA_ERR_INVALID, "no layer named '%s' in model %s", layer, net->name);
        if (l->output_optional && !net->kept_all)
            return mla_error(MLA_ERR_INVALID,
                             "layer '%s' (%s): activations not kept by the last forward (keep-activations was off)",
                             layer, l->op->type);
        *data = l->y_is_input ? net->input : l->y; /* only the net's first layer is */
        *shape = l->out;
    }
    *n = net->n;
    return MLA_OK;
}

const char *mla_net_layer_name(const mla_net *net, int i) {
    return i >= 0 && i < net->seq.n ? net->seq.layers[i].name : NULL;
}

/* ---- the summary table ---- */

static void summary_seq(const mla_seq *seq, int depth, char **buf, size_t *len, size_t *cap) {
    for (int i = 0; i < seq->n; i++) {
        const mla_layer *l = &seq->layers[i];
        char line[256];
        int k = snprintf(line, sizeof line, "%*s%-*s %-10s %4dx%-3dx%-3d -> %4dx%-3dx%-3d %10zu\n", depth * 2, "",
                         24 - depth * 2, l->name, l->op->type, l->in.c, l->in.h, l->in.w, l->out.c, l->out.h,
                         l->out.w, l->n_trainable);
        if (*len + (size_t)k + 1 > *cap) {
            size_t ncap = (*cap + (size_t)k + 1) * 2;
            char *nb = realloc(*buf, ncap);
            if (!nb) return;
            *buf = nb;
            *cap = ncap;
        }
        memcpy(*buf + *len, line, (size_t)k + 1);
        *len += (size_t)k;
        if (l->body) summary_seq(l->body, depth + 1, buf, len, cap);
        if (l->shortcut) summary_seq(l->shortcut, depth + 1, buf, len, cap);
    }
}

char *mla_net_summary(const mla_net *net) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    len = (size_t)snprintf(buf, cap, "%-24s %-10s %-14s    %-14s %10s\n", "layer", "type", "input", "output",
                           "params");
    summary_seq(&net->seq, 0, &buf, &len, &cap);
    char tail[160];
    int k = snprintf(tail, sizeof tail, "trainable parameters: %zu; buffers: %zu; forward MACs per sample: %.0f\n",
                     net->n_trainable, net->n_params - net->n_trainable, net->macs);
    char *nb = realloc(buf, len + (size_t)k + 1);
    if (!nb) return buf;
    memcpy(nb + len, tail, (size_t)k + 1);
    return nb;
}

/* ---- tensors in flat-vector order ---- */

typedef struct {
    int want, seen;
    bool trainable;      /* which part of the vector this pass walks */
    mla_tensor_info *out;
} tensor_walk;

static bool walk_for_tensor(const mla_seq *seq, tensor_walk *w) {
    for (int i = 0; i < seq->n; i++) {
        const mla_layer *l = &seq->layers[i];
        for (int k = 0; k < l->n_tensors; k++) {
            const mla_tensor_desc *d = &l->tensors[k];
            if (d->trainable != w->trainable) continue;
            if (w->seen++ != w->want) continue;
            if (w->out) {
                snprintf(w->out->name, sizeof w->out->name, "%s.%s", l->name, d->suffix);
                w->out->ndim = d->ndim;
                w->out->count = 1;
                for (int j = 0; j < 4; j++) {
                    w->out->dims[j] = j < d->ndim ? d->dims[j] : 0;
                    if (j < d->ndim) w->out->count *= (size_t)d->dims[j];
                }
                w->out->offset = d->offset;
                w->out->trainable = d->trainable;
            }
            return true;
        }
        if (l->body && walk_for_tensor(l->body, w)) return true;
        if (l->shortcut && walk_for_tensor(l->shortcut, w)) return true;
    }
    return false;
}

int mla_net_tensor_count(const mla_net *net) {
    tensor_walk a = {-1, 0, true, NULL}, b = {-1, 0, false, NULL};
    walk_for_tensor(&net->seq, &a);
    walk_for_tensor(&net->seq, &b);
    return a.seen + b.seen;
}

mla_status mla_net_tensor_info(const mla_net *net, int i, mla_tensor_info *out) {
    tensor_walk w = {i, 0, true, out};
    if (i >= 0 && walk_for_tensor(&net->seq, &w)) return MLA_OK;
    tensor_walk b = {i - w.seen, 0, false, out};
    if (i >= 0 && walk_for_tensor(&net->seq, &b)) return MLA_OK;
    return mla_error(MLA_ERR_INVALID, "tensor index %d out of range", i);
}
