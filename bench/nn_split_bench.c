/* Benchmark helper: a training step of a preset on real batches, timed part by part (the
 * batch gather from the dataset, forward, loss, backward, the optimizer's Adam update),
 * as mla_train runs them, so that the whole epoch's split is seen, not only the kernels'.
 * Like mla_train, the Adam update runs inside the backward where layers fuse it
 * (nn/optim_fused.h): "backward" then includes their update and "adam" is the rest.
 * Batches follow one shuffled order of the training split; the first 20 steps warm up.
 * On a shared machine the tenth percentiles are the steadier figures.
 * Usage: mla_nn_split_bench MODEL [THREADS [STEPS [DATA]]]   (defaults 2, 300, fashion-mnist)
 * Prints one JSON line: per part the median and tenth-percentile microseconds, and the CPU
 * microseconds per step (the whole process's, user + system). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlaudit/core.h"
#include "mlaudit/data.h"
#include "mlaudit/nn.h"
#include "mlaudit/train.h"
#include "bench_util.h"
#include "nn/optim_fused.h"

enum { BATCH = 128, WARM = 20, PARTS = 6 };

static int fail(const char *what) {
    fprintf(stderr, "mla_nn_split_bench: %s\n", what);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: mla_nn_split_bench MODEL [THREADS [STEPS [DATA]]]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2, steps = argc > 3 ? atoi(argv[3]) : 300;
    const char *data = argc > 4 ? argv[4] : "fashion-mnist";
    const char *spec = mla_preset_spec(argv[1]);
    if (!spec || threads < 1 || steps < 1 || steps > 100000) return fail("unknown preset or bad count");
    mla_set_threads(threads);
    mla_dataset *ds;
    if (mla_dataset_load(data, MLA_SPLIT_TRAIN, &ds)) return fail(mla_last_error());
    int c, h, w, n = mla_dataset_count(ds), k = mla_dataset_classes(ds);
    mla_dataset_shape(ds, &c, &h, &w);
    mla_net *net;
    mla_opt_config oc = mla_opt_defaults(MLA_OPT_ADAM);
    mla_optimizer *opt;
    if (n < BATCH || mla_net_create(spec, (mla_shape){c, h, w}, k, 1, &net)) return fail(mla_last_error());
    if (mla_optimizer_create(&oc, net, &opt)) return fail(mla_last_error());
    mla_net_set_keep_activations(net, false); /* as mla_train */
    int32_t *order = malloc((size_t)n * sizeof *order), *labels = malloc(BATCH * sizeof *labels);
    float *dlogits = malloc((size_t)BATCH * k * sizeof(float));
    double *t[PARTS];
    for (int p = 0; p < PARTS; p++) t[p] = malloc((size_t)steps * sizeof(double));
    mla_rng rng;
    mla_rng_seed(&rng, 1);
    mla_rng_permutation(&rng, order, n);
    mla_net_zero_grads(net);
    double cpu0 = 0;
    for (int s = -WARM; s < steps; s++) {
        if (s == 0) cpu0 = bench_cpu_seconds();
        int first = (int)((long)(s + WARM) * BATCH % (n - BATCH + 1));
        double t0 = mla_seconds();
        float *x;
        const float *logits;
        if (mla_net_input_buffer(net, BATCH, &x)) return fail(mla_last_error());
        mla_dataset_batch(ds, order + first, 0, BATCH, x, labels);
        double t1 = mla_seconds();
        if (mla_net_forward(net, x, BATCH, true, &logits)) return fail(mla_last_error());
        double t2 = mla_seconds();
        mla_loss_softmax_ce(logits, BATCH, k, labels, NULL, dlogits, NULL);
        double t3 = mla_seconds();
        mla_opt_fused *fused = mla_optimizer_fuse_begin(opt, net); /* as mla_train's plain step */
        if (fused ? mla_net_backward_fused(net, dlogits, fused) : mla_net_backward(net, dlogits, NULL))
            return fail(mla_last_error());
        double t4 = mla_seconds();
        if (fused)
            mla_optimizer_fuse_end(opt, net);
        else
            mla_optimizer_step_and_zero_grads(opt, net);
        double t5 = mla_seconds();
        if (s < 0) continue;
        double at[PARTS] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0};
        for (int p = 0; p < PARTS; p++) t[p][s] = at[p];
    }
    double cpu = (bench_cpu_seconds() - cpu0) / steps;
    static const char *const names[PARTS] = {"gather", "forward", "loss", "backward", "adam", "step"};
    printf("{\"model\":\"%s\",\"kernels\":\"%s\",\"threads\":%d,\"batch\":%d,\"steps\":%d", argv[1],
           mla_nn_kernels_name(), threads, BATCH, steps);
    for (int p = 0; p < PARTS; p++) {
        qsort(t[p], (size_t)steps, sizeof(double), bench_cmp_double);
        printf(",\"%s_us_median\":%.0f,\"%s_us_p10\":%.0f", names[p], 1e6 * t[p][steps / 2], names[p],
               1e6 * t[p][steps / 10]);
    }
    printf(",\"cpu_us\":%.0f}\n", 1e6 * cpu);
    for (int p = 0; p < PARTS; p++) free(t[p]);
    free(order), free(labels), free(dlogits);
    mla_optimizer_free(opt);
    mla_net_free(net);
    mla_dataset_free(ds);
    return 0;
}
