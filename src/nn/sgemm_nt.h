/* Library-internal, shared with other modules (the kNN index of src/classic): the
 * product C = A B^T of two row-major float matrices whose rows are feature vectors,
 * A (m x k) and B (n x k), C (m x n, leading dimension ldc), as fast as this machine
 * allows: on the engine's AVX-512 8 x 32 kernel (nn/gemm.h) where mla_dense_own_kernels()
 * says OpenBLAS runs 256-bit kernels, else (the AVX2 family included) OpenBLAS's sgemm.
 *
 * Own kernels: B is packed transposed, 32 rows and KC columns at a time, by OpenMP over
 * the 32-row blocks; A's rows go 8 at a time. Every C element is a float32 sum of its k
 * products in a fixed order (KC-long runs of fused multiply-adds, added in turn), so the
 * result does not depend on the thread count, and its error obeys the usual bound for
 * float32 dot products, |c - exact| <= gamma_k sum_l |a_l b_l| (gamma_k = k u / (1 - k u)). */
#ifndef MLAUDIT_NN_SGEMM_NT_H
#define MLAUDIT_NN_SGEMM_NT_H

#include <stdbool.h>

void mla_sgemm_nt(int m, int n, int k, const float *a, const float *b, float *c, int ldc);

/* Tests only: true forces the own kernels (where built), false OpenBLAS's sgemm, for one call. */
void mla_sgemm_nt_with(bool own, int m, int n, int k, const float *a, const float *b, float *c, int ldc);

#endif
