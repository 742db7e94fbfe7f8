/* Benchmark helper: the training step alone (forward and backward on a random batch, no
 * data pipeline, no optimizer, no evaluation) of a preset on 1x28x28 (or 784) inputs, so
 * that a kernel change can be timed without an epoch's evaluation around it. On a shared
 * machine the CPU time (the whole process's, user + system, per step) is the steadier figure.
 * Usage: mla_nn_step_bench MODEL [THREADS [STEPS [BATCH]]]   (defaults 2, 10, 128)
 * Prints one JSON line: kernels, median and best wall milliseconds per step, CPU ms per step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlaudit/core.h"
#include "mlaudit/nn.h"
#include "bench_util.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: mla_nn_step_bench MODEL [THREADS [STEPS [BATCH]]]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2, steps = argc > 3 ? atoi(argv[3]) : 10;
    int batch = argc > 4 ? atoi(argv[4]) : 128;
    const char *spec = mla_preset_spec(argv[1]);
    if (!spec || threads < 1 || steps < 1 || steps > 1000 || batch < 1) {
        fprintf(stderr, "mla_nn_step_bench: unknown preset or bad count\n");
        return 2;
    }
    mla_set_threads(threads);
    mla_shape in = strstr(argv[1], "mlp") ? (mla_shape){784, 1, 1} : (mla_shape){1, 28, 28};
    mla_net *net;
    if (mla_net_create(spec, in, 10, 1, &net)) {
        fprintf(stderr, "mla_nn_step_bench: %s\n", mla_last_error());
        return 1;
    }
    size_t nx = (size_t)batch * 784;
    float *x = malloc(nx * sizeof(float)), *dout = malloc((size_t)batch * 10 * sizeof(float));
    double *wall = malloc((size_t)steps * sizeof(double));
    mla_rng rng;
    mla_rng_seed(&rng, 3);
    for (size_t i = 0; i < nx; i++) x[i] = (float)mla_rng_uniform(&rng);
    for (int i = 0; i < batch * 10; i++) dout[i] = (float)(0.01 * mla_rng_normal(&rng));
    double cpu0 = 0;
    for (int s = -1; s < steps; s++) { /* step -1 warms up (first-touch of the buffers) */
        if (s == 0) cpu0 = bench_cpu_seconds();
        double t0 = mla_seconds();
        const float *y;
        mla_net_zero_grads(net);
        if (mla_net_forward(net, x, batch, true, &y) || mla_net_backward(net, dout, NULL)) {
            fprintf(stderr, "mla_nn_step_bench: %s\n", mla_last_error());
            return 1;
        }
        if (s >= 0) wall[s] = mla_seconds() - t0;
    }
    double cpu = (bench_cpu_seconds() - cpu0) / steps;
    qsort(wall, (size_t)steps, sizeof *wall, bench_cmp_double);
    printf("{\"model\":\"%s\",\"kernels\":\"%s\",\"threads\":%d,\"batch\":%d,\"steps\":%d,\"wall_ms_median\":%.2f,"
           "\"wall_ms_best\":%.2f,\"cpu_ms\":%.2f}\n",
           argv[1], mla_nn_kernels_name(), threads, batch, steps, 1e3 * wall[steps / 2], 1e3 * wall[0], 1e3 * cpu);
    mla_net_free(net);
    free(x), free(dout), free(wall);
    return 0;
}
