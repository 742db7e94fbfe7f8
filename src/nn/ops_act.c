/* Elementwise activations: relu, leaky_relu, sigmoid, tanh, silu (swish). Each
 * keeps its forward and its derivative side by side. */
#include <math.h>

#include "nn/blas.h"
#include "nn/layer.h"
#include "nn/mathf.h"

static mla_status act_parse(mla_layer *l, const cJSON *j, int classes) {
    (void)classes;
    return mla_spec_keys(l, j, NULL);
}

static mla_status leaky_parse(mla_layer *l, const cJSON *j, int classes) {
    (void)classes;
    static const char *const keys[] = {"alpha", NULL};
    mla_status s = mla_spec_keys(l, j, keys);
    if (!s) s = mla_spec_num(l, j, "alpha", 0.01, 0.0, 1.0, &l->alpha);
    return s;
}

static mla_status act_setup(mla_layer *l) {
    l->out = l->in;
    return MLA_OK;
}

/* d/dv of v * sigmoid(v) = sigmoid(v) (1 + v (1 - sigmoid(v))) */
static inline float silu_slope(float v) {
    float sg = mla_sigmoidf(v);
    return sg * (1.0f + v * (1.0f - sg));
}

/* Defines forward(x -> y) and backward(dy, x, y -> dx) loops for one activation. */
#define ACTIVATION(NAME, FWD, BWD)                                                                             \
    static void NAME##_forward(mla_layer *l, const float *x, float *y, int n, mla_ctx *ctx) {                \
        (void)ctx;                                                                                             \
        const float alpha = l->alpha;                                                                          \
        (void)alpha;                                                                                           \
        long count = (long)n * mla_shape_size(l->in);                                                          \
        _Pragma("omp parallel for schedule(static) if (count > MLA_PAR_MIN)") for (long i = 0; i < count;    \
                                                                                  i++) {                       \
            float v = x[i];                                                                                    \
            y[i] = (FWD);                                                                                      \
        }                                                                                                      \
    }                                                                                                          \
    static void NAME##_backward(mla_layer *l, const float *x, const float *y, const float *dy, float *dx,     \
                                int n0, int n, mla_ctx *ctx) {                                                 \
        (void)ctx;                                                                                             \
        if (!dx) return;                                                                                       \
        const float alpha = l->alpha;                                                                          \
        (void)alpha;                                                                                           \
        long size = mla_shape_size(l->in), start = (long)n0 * size, count = (long)n * size;                   \
        _Pragma("omp parallel for schedule(static) if (count > MLA_PAR_MIN)") for (long i = start;           \
                                                                                  i < start + count; i++) {    \
            float v = x[i], o = y[i], g = dy[i];                                                               \
            (void)v;                                                                                           \
            (void)o;                                                                                           \
            dx[i] = (BWD);                                                                                     \
        }                                                                                                      \
    }

ACTIVATION(relu, v > 0 ? v : 0.0f, v > 0 ? g : 0.0f)
ACTIVATION(leaky, v > 0 ? v : alpha * v, v > 0 ? g : alpha * g)
ACTIVATION(sigm, mla_sigmoidf(v), g * o * (1.0f - o))
ACTIVATION(tanh, tanhf(v), g * (1.0f - o * o))
ACTIVATION(silu, v * mla_sigmoidf(v), g * silu_slope(v))

const mla_op mla_op_relu = {"relu", act_parse, act_setup, NULL, relu_forward, relu_backward,
                            NULL, NULL, false, false, NULL};
const mla_op mla_op_leaky_relu = {"leaky_relu", leaky_parse, act_setup, NULL, leaky_forward, leaky_backward,
                                  NULL, NULL, false, false, NULL};
const mla_op mla_op_sigmoid = {"sigmoid", act_parse, act_setup, NULL, sigm_forward, sigm_backward,
                               NULL, NULL, false, false, NULL};
const mla_op mla_op_tanh = {"tanh", act_parse, act_setup, NULL, tanh_forward, tanh_backward,
                            NULL, NULL, false, false, NULL};
const mla_op mla_op_silu = {"silu", act_parse, act_setup, NULL, silu_forward, silu_backward,
                            NULL, NULL, false, false, NULL};
