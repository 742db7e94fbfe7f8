/* mlaudit kNN: exact nearest-neighbour search, shared by the kNN classifier, Deep kNN
 * and the adversarial kNN attacks.
 *
 * An index holds n reference rows of d float32 features (row-major). A search returns,
 * for each of m queries, the k nearest rows in increasing distance, ties broken by the
 * smaller row index. The neighbours are exactly those of a double-precision brute
 * force over the same floats (up to distances equal to the last bit).
 *
 * Metrics:
 *   MLA_KNN_EUCLIDEAN  distance = sqrt(sum_l (a_l - b_l)^2)
 *   MLA_KNN_COSINE     distance = 1 - a.b / (|a| |b|); a zero vector has cosine 0 with
 *                      everything (distance 1).
 *
 * Engines (chosen per search, same answers):
 *   int8   Euclidean only. Used when every value of the index and of the queries is an
 *          8-bit pixel scaled to [0, 1] (v / 255.0f or v * (1.0f / 255), v in 0..255,
 *          as the datasets module produces) and the CPU has AVX-512 VNNI: all squared
 *          distances are computed exactly in integer arithmetic (v^2 units).
 *   float  float32 BLAS blocks give approximate distances with a proven error bound;
 *          every row that could belong to the top k within that bound is recomputed
 *          in double, and the top k is chosen from the recomputed distances.
 *   projection  Euclidean, wide rows (mla_knn_index_project below): a cheap proven
 *          lower bound per row, the exact double distance only for rows the bound
 *          cannot rule out; the same exact distances and order as the float engine.
 *
 * Threads: OpenMP over queries (mla_set_threads); the result does not depend on the
 * thread count.
 */
#ifndef MLAUDIT_KNN_H
#define MLAUDIT_KNN_H

#include "mlaudit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { MLA_KNN_EUCLIDEAN = 0, MLA_KNN_COSINE = 1 } mla_knn_metric;

typedef enum {
    MLA_KNN_ENGINE_AUTO = 0,   /* int8 where it applies, else projection if built, else float */
    MLA_KNN_ENGINE_FLOAT = 1,  /* always the float engine (tests, comparisons) */
} mla_knn_engine;

typedef struct mla_knn_index mla_knn_index;

/* An index over n rows of d features; x is copied (the caller keeps ownership of x).
 * Fails on n < 1, d < 1 or a non-finite value. *out owns the index; free with
 * mla_knn_index_free. */
mla_status mla_knn_index_create(const float *x, int n, int d, mla_knn_metric metric, mla_knn_index **out);
/* The same over rows the index takes over instead of copying (wide layers hold
 * gigabytes): on success x (from mla_alloc, mla_alloc_aligned or malloc) belongs to the
 * index and is freed with it; on failure it stays the caller's. */
mla_status mla_knn_index_adopt(float *x, int n, int d, mla_knn_metric metric, mla_knn_index **out);
void mla_knn_index_free(mla_knn_index *ix);
/* An uninitialised buffer of n x d floats for rows to hand to mla_knn_index_adopt (or
 * to free): 2 MiB aligned and, where the system offers them (Linux transparent huge
 * pages in madvise mode), backed by huge pages, so that filling gigabytes of features
 * takes few page faults and the search's scattered row reads few TLB misses. NULL
 * (with mla_error) on n < 0, d < 0, overflow or allocation failure. Free with free(). */
float *mla_knn_alloc_rows(int n, int d);

void mla_knn_index_set_engine(mla_knn_index *ix, mla_knn_engine engine);
int mla_knn_index_count(const mla_knn_index *ix);
int mla_knn_index_dim(const mla_knn_index *ix);
mla_knn_metric mla_knn_index_metric(const mla_knn_index *ix);
/* The rows as given to create or adopt (n x d); borrowed, valid while ix lives. */
const float *mla_knn_index_rows(const mla_knn_index *ix);
/* 1 if a search with 8-bit queries would use the exact integer engine. */
int mla_knn_index_uses_int8(const mla_knn_index *ix);
/* The exact integer engine's kernels on this CPU (and under MLA_ISA, core.h):
 * "avx512-vnni", "avx2" or "none" (pixel data then goes to the float engine). Constant. */
const char *mla_knn_exact_kernels(void);

/* The projection engine (Euclidean): a screen of `dims` orthonormal directions (the top
 * principal directions of a subsample of the rows, fewer if the rows span fewer) gives
 * every row a proven lower bound of its distance to a query from an m-wide product;
 * only rows whose bound is below the current k-th exact distance have their distance
 * computed in full. The neighbours are those of the float engine: the same exact
 * distances (double, from the float rows) and the same (distance, row) order. Building
 * costs about 2 n d dims flops (a double product), searching about 2 n dims flops a
 * query plus d for each row checked in full. The screen also keeps a bfloat16 copy of
 * the rows (2 bytes a feature: half the rows' own memory again) with a per-row bound of
 * its rounding error: a row the projection bound cannot rule out is measured against the
 * copy first and read in full only if the proven bound from it (the triangle
 * inequality, rounding covered) does not rule it out either. mla_knn_index_create
 * builds a screen of MLA_KNN_PROJ_DIMS directions itself for Euclidean, non-pixel indexes of at least
 * MLA_KNN_PROJ_MIN_ROWS rows of MLA_KNN_PROJ_MIN_DIM features; the engine is then used
 * under MLA_KNN_ENGINE_AUTO; a search whose first block of queries (up to 256) needs
 * more than n / 8 visited rows a query (rows without low-dimensional structure)
 * finishes on the float engine. mla_knn_index_project rebuilds it with dims directions
 * (0 removes it); fails for the cosine metric or on allocation.
 * Rounding: each bound subtracts margins derived from the magnitudes (the float32
 * product's error 2 (1.01 gamma_m + 2.01 u) |pq| |px|, u = 2^-24; the double
 * products' and sums' 16 sqrt(m) (d + m) 2^-53 (|q - c| + |x - c|)^2, c the centre; the
 * basis's departure from orthonormality, a Gershgorin bound delta), so a row is skipped
 * only if its exact double distance is provably above the k-th; the top k is then taken
 * by (exact distance, row) as in the float engine: ties to the smaller row. */
#define MLA_KNN_PROJ_DIMS 128
#define MLA_KNN_PROJ_MIN_ROWS 4096
#define MLA_KNN_PROJ_MIN_DIM 1024
mla_status mla_knn_index_project(mla_knn_index *ix, int dims);
/* The screen's directions; 0 if the index has none. */
int mla_knn_index_projected_dims(const mla_knn_index *ix);

/* The k nearest rows of each of m queries (m x d floats). Writes m x k row indices to
 * idx and, if dist is not NULL, m x k distances (in the metric's own units, see
 * above), nearest first. Fails if k < 1 or k > n, or a query value is not finite. */
mla_status mla_knn_search(const mla_knn_index *ix, const float *queries, int m, int k, int32_t *idx,
                          float *dist);

#ifdef __cplusplus
}
#endif
#endif
