/* The choice between the engine's matrix kernels and OpenBLAS for dense layers, and
 * the parallel transpose the dense forward uses (see nn/gemm.h). */
#include "nn/gemm.h"

#include <omp.h>
#include <stdatomic.h>
#include <string.h>

#include "nn/blas.h"

static int forced_mode = -1;

void mla_dense_kernels_force(int mode) { forced_mode = mode < 0 ? -1 : mode > 0; }

/* OpenBLAS's 256-bit kernel sets (AVX2: Haswell, Zen; AVX: Sandybridge), which it runs
 * on an AVX-512 CPU when OPENBLAS_CORETYPE names one or when it does not know the CPU. */
static bool openblas_runs_256_bit_kernels(void) {
    const char *core = openblas_get_corename();
    return core && (!strcmp(core, "Haswell") || !strcmp(core, "Zen") || !strcmp(core, "Sandybridge"));
}

bool mla_dense_own_kernels(void) {
#if defined(__AVX512F__)
    /* Asked three times per dense layer and step: OpenBLAS's answer is read once. */
    static atomic_int openblas_256 = -1;
    if (forced_mode >= 0) return forced_mode == 1;
    int known = atomic_load_explicit(&openblas_256, memory_order_relaxed);
    if (known < 0) {
        known = openblas_runs_256_bit_kernels();
        atomic_store_explicit(&openblas_256, known, memory_order_relaxed);
    }
    return known == 1;
#else
    (void)openblas_runs_256_bit_kernels;
    return false;
#endif
}

#if defined(__AVX512F__)
void mla_transpose_parallel(const float *m, int rows, int cols, float *t) {
    int blocks = (rows + 15) / 16;
#pragma omp parallel for schedule(static) if (blocks > 1 && (size_t)rows * cols >= 16384)
    for (int b = 0; b < blocks; b++) mla_transpose_rows16(m, rows, cols, 16 * b, t);
}
#endif
