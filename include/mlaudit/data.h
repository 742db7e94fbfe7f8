/* mlaudit datasets: image classification data in memory, its loaders and splits.
 *
 * A dataset is n labelled images of shape C x H x W (NCHW, channel-major within an
 * image), held either as 8-bit pixels (IDX, CIFAR, uint8 .npy) or as float32
 * (float .npy). Pixels reach a network through mla_dataset_batch(), which scales
 * 8-bit values to [0, 1] and copies float data as it is.
 *
 * Sources:
 *   IDX (MNIST, Fashion-MNIST): train-images-idx3-ubyte / train-labels-idx1-ubyte,
 *     t10k-... for the test split; plain or gzip (".gz" appended).
 *   CIFAR-10 binary: data_batch_1..5.bin (train), test_batch.bin (test);
 *     records of 1 label byte + 3072 pixel bytes.
 *   CIFAR-100 binary: train.bin, test.bin; records of coarse + fine label bytes +
 *     3072 pixel bytes (the fine label is used).
 *   NumPy: a folder with x_train.npy, y_train.npy, x_test.npy, y_test.npy; images
 *     uint8 or float32 shaped (N,H,W), (N,C,H,W) or (N,D); labels any integer dtype.
 *
 * Every header, count and size is validated before it is trusted; failures return
 * MLA_ERR_FORMAT / MLA_ERR_IO with a message naming the file and the problem.
 */
#ifndef MLAUDIT_DATA_H
#define MLAUDIT_DATA_H

#include "mlaudit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mla_dataset mla_dataset;

typedef enum { MLA_SPLIT_TRAIN = 0, MLA_SPLIT_TEST = 1 } mla_split;

/* Loads one split of a dataset named by spec:
 *   "mnist", "fashion-mnist"  resolved as a folder named so under $MLAUDIT_DATA, then
 *                             the tool's data folder ($MLA_DATA_DIR or ./data), then
 *                             /usr/share/datasets;
 *   "cifar10:DIR", "cifar100:DIR", "npy:DIR", "idx:DIR", or a plain DIR of IDX files.
 * On success *out owns a new dataset (free with mla_dataset_free). */
mla_status mla_dataset_load(const char *spec, mla_split split, mla_dataset **out);

/* Loaders for one source each (what mla_dataset_load dispatches to). */
mla_status mla_dataset_load_idx(const char *images_path, const char *labels_path, mla_dataset **out);
mla_status mla_dataset_load_cifar(const char *dir, int classes /* 10 or 100 */, mla_split split,
                                  mla_dataset **out);
mla_status mla_dataset_load_npy(const char *images_path, const char *labels_path, mla_dataset **out);

/* A dataset from memory: copies pixels (exactly one of u8 / f32 non-NULL) and labels. */
mla_status mla_dataset_from_memory(int n, int c, int h, int w, const uint8_t *u8, const float *f32,
                                   const int32_t *labels, int classes, mla_dataset **out);
void mla_dataset_free(mla_dataset *ds);

int mla_dataset_count(const mla_dataset *ds);
void mla_dataset_shape(const mla_dataset *ds, int *c, int *h, int *w); /* any may be NULL */
int mla_dataset_dim(const mla_dataset *ds);      /* c * h * w */
int mla_dataset_classes(const mla_dataset *ds);  /* 10 for MNIST; max label + 1 for .npy */
const char *mla_dataset_name(const mla_dataset *ds); /* e.g. "fashion-mnist"; borrowed */
/* Borrowed views, valid while ds lives. pixels_u8 is NULL for float data and
 * pixels_f32 is NULL for 8-bit data. */
const int32_t *mla_dataset_labels(const mla_dataset *ds);
const uint8_t *mla_dataset_pixels_u8(const mla_dataset *ds);
const float *mla_dataset_pixels_f32(const mla_dataset *ds);

/* Gathers images idx[0..n) into out (n x dim floats, [0,1] for 8-bit data) and, if
 * labels is not NULL, their labels. idx NULL means samples first..first+n. */
void mla_dataset_batch(const mla_dataset *ds, const int32_t *idx, int first, int n, float *out,
                       int32_t *labels);

/* A new dataset holding the samples idx[0..n) of ds, in that order (copies). */
mla_status mla_dataset_select(const mla_dataset *ds, const int32_t *idx, int n, mla_dataset **out);

/* ---- seeded index sets ---- */
/* k indices drawn without replacement so that each class keeps its share of the
 * labels (largest-remainder rounding; exactly k in all), in shuffled order.
 * Fails if k > n. Writes k indices to out. */
mla_status mla_stratified_indices(const int32_t *labels, int n, int classes, int k, uint64_t seed,
                                  int32_t *out);
/* Cuts a seeded permutation of 0..n-1 into consecutive parts of the given sizes
 * (sum(sizes) <= n); parts[i] receives sizes[i] indices. Disjoint by construction. */
mla_status mla_split_indices(int n, const int *sizes, int parts, uint64_t seed, int32_t **parts_out);

/* ---- NumPy .npy files ---- */
/* Writes a C-order float32 array atomically (format version 1.0). */
mla_status mla_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape);
mla_status mla_npy_write_i32(const char *path, const int32_t *data, int ndim, const int64_t *shape);

#ifdef __cplusplus
}
#endif
#endif
