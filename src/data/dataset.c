/* The dataset object: creation, accessors, batches and subsets. */
#include "data/data_impl.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Batches smaller than this many floats are gathered on one thread: below it the
 * cost of waking threads exceeds the copy. */
#define BATCH_PARALLEL_MIN ((size_t)1 << 15)

mla_status data_create(int n, int c, int h, int w, int is_float, int classes, mla_dataset **out) {
    *out = NULL;
    if (n < 0 || c < 1 || h < 1 || w < 1)
        return mla_error(MLA_ERR_SHAPE, "bad dataset shape %d x %d x %d x %d", n, c, h, w);
    if ((int64_t)c * h > INT_MAX || (int64_t)c * h * w > INT_MAX)
        return mla_error(MLA_ERR_SHAPE, "image of %d x %d x %d is too large", c, h, w);
    if (classes < 1 || classes > DATA_MAX_CLASSES)
        return mla_error(MLA_ERR_INVALID, "bad class count %d", classes);
    mla_dataset *ds = mla_alloc(1, sizeof *ds);
    if (!ds) return MLA_ERR_NOMEM;
    size_t total = (size_t)n * (size_t)(c * h * w);
    ds->n = n, ds->c = c, ds->h = h, ds->w = w, ds->classes = classes;
    if (is_float) ds->f32 = mla_alloc_aligned(total, sizeof(float));
    else ds->u8 = mla_alloc_aligned(total, 1);
    ds->labels = mla_alloc((size_t)n, sizeof(int32_t));
    if ((!ds->f32 && !ds->u8) || !ds->labels) {
        mla_dataset_free(ds);
        return MLA_ERR_NOMEM;
    }
    *out = ds;
    return MLA_OK;
}

void data_set_name(mla_dataset *ds, const char *name) {
    snprintf(ds->name, sizeof ds->name, "%s", name ? name : "");
}

void data_base_name(const char *path, char *buf, size_t size) {
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/') end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/') start--;
    size_t len = end - start;
    if (len >= size) len = size - 1;
    memcpy(buf, path + start, len);
    buf[len] = 0;
    if (!strcmp(buf, "/")) buf[0] = 0;
}

void data_parent_name(const char *path, char *buf, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) {
        buf[0] = 0;
        return;
    }
    char parent[DATA_PATH_MAX];
    size_t len = (size_t)(slash - path);
    if (len >= sizeof parent) len = sizeof parent - 1;
    memcpy(parent, path, len);
    parent[len] = 0;
    data_base_name(parent, buf, size);
}

mla_status data_check_labels(const int32_t *labels, int n, int classes, const char *file) {
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return mla_error(MLA_ERR_FORMAT, "%s: label %d at index %d is outside 0..%d", file,
                             (int)labels[i], i, classes - 1);
    return MLA_OK;
}

mla_status mla_dataset_from_memory(int n, int c, int h, int w, const uint8_t *u8, const float *f32,
                                   const int32_t *labels, int classes, mla_dataset **out) {
    *out = NULL;
    if ((u8 == NULL) == (f32 == NULL))
        return mla_error(MLA_ERR_INVALID, "dataset from memory: give exactly one of u8 and f32 pixels");
    if (n > 0 && !labels) return mla_error(MLA_ERR_INVALID, "dataset from memory: no labels");
    mla_dataset *ds;
    mla_status s = data_create(n, c, h, w, f32 != NULL, classes, &ds);
    if (s) return s;
    if (n > 0 && (s = data_check_labels(labels, n, classes, "dataset from memory"))) {
        mla_dataset_free(ds);
        return s;
    }
    size_t total = (size_t)n * (size_t)(c * h * w);
    if (u8) memcpy(ds->u8, u8, total);
    else memcpy(ds->f32, f32, total * sizeof(float));
    if (n > 0) memcpy(ds->labels, labels, (size_t)n * sizeof(int32_t));
    data_set_name(ds, "memory");
    *out = ds;
    return MLA_OK;
}

void mla_dataset_free(mla_dataset *ds) {
    if (!ds) return;
    free(ds->u8);
    free(ds->f32);
    free(ds->labels);
    free(ds);
}

int mla_dataset_count(const mla_dataset *ds) { return ds->n; }
int mla_dataset_dim(const mla_dataset *ds) { return ds->c * ds->h * ds->w; }
int mla_dataset_classes(const mla_dataset *ds) { return ds->classes; }
const char *mla_dataset_name(const mla_dataset *ds) { return ds->name; }
const int32_t *mla_dataset_labels(const mla_dataset *ds) { return ds->labels; }
const uint8_t *mla_dataset_pixels_u8(const mla_dataset *ds) { return ds->u8; }
const float *mla_dataset_pixels_f32(const mla_dataset *ds) { return ds->f32; }

void mla_dataset_shape(const mla_dataset *ds, int *c, int *h, int *w) {
    if (c) *c = ds->c;
    if (h) *h = ds->h;
    if (w) *w = ds->w;
}

/* Rows ahead of the one converted whose bytes are prefetched: a shuffled batch's rows lie
 * anywhere in the images (47 MB for MNIST's), so each row's first lines missed the
 * caches before the hardware prefetcher caught on: the mlp's batch of 128 (Fashion-MNIST,
 * one core, x86-64-v3 build) took 72-84 us, 48-58 with three rows ahead (six: the same).
 * Prefetching changes no value. */
enum { GATHER_AHEAD = 3 };

static void prefetch_row(const uint8_t *row, size_t dim) {
    for (size_t j = 0; j < dim; j += 64) __builtin_prefetch(row + j);
}

/* Rows are independent, so the result is the same bits for any thread count. */
static void gather_u8(const uint8_t *src, size_t dim, const int32_t *idx, int first, int n,
                      float *out, int parallel) {
    const float scale = 1.0f / 255.0f;
#pragma omp parallel for schedule(static) if (parallel)
    for (int i = 0; i < n; i++) {
        if (idx && i + GATHER_AHEAD < n) prefetch_row(src + (size_t)idx[i + GATHER_AHEAD] * dim, dim);
        const uint8_t *s = src + (size_t)(idx ? idx[i] : first + i) * dim;
        float *d = out + (size_t)i * dim;
        for (size_t j = 0; j < dim; j++) d[j] = (float)s[j] * scale;
    }
}

static void gather_f32(const float *src, size_t dim, const int32_t *idx, int first, int n,
                       float *out, int parallel) {
#pragma omp parallel for schedule(static) if (parallel)
    for (int i = 0; i < n; i++) {
        const float *s = src + (size_t)(idx ? idx[i] : first + i) * dim;
        memcpy(out + (size_t)i * dim, s, dim * sizeof(float));
    }
}

void mla_dataset_batch(const mla_dataset *ds, const int32_t *idx, int first, int n, float *out,
                       int32_t *labels) {
    if (n <= 0) return;
    size_t dim = (size_t)mla_dataset_dim(ds);
    int parallel = (size_t)n * dim >= BATCH_PARALLEL_MIN;
    if (ds->u8) gather_u8(ds->u8, dim, idx, first, n, out, parallel);
    else gather_f32(ds->f32, dim, idx, first, n, out, parallel);
    if (labels)
        for (int i = 0; i < n; i++) labels[i] = ds->labels[idx ? idx[i] : first + i];
}

mla_status mla_dataset_select(const mla_dataset *ds, const int32_t *idx, int n, mla_dataset **out) {
    *out = NULL;
    if (n < 0 || (n > 0 && !idx)) return mla_error(MLA_ERR_INVALID, "dataset select: bad index list");
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= ds->n)
            return mla_error(MLA_ERR_INVALID, "dataset select: index %d at position %d is outside 0..%d",
                             (int)idx[i], i, ds->n - 1);
    mla_dataset *sub;
    mla_status s = data_create(n, ds->c, ds->h, ds->w, ds->f32 != NULL, ds->classes, &sub);
    if (s) return s;
    size_t dim = (size_t)mla_dataset_dim(ds);
    for (int i = 0; i < n; i++) {
        size_t from = (size_t)idx[i] * dim, to = (size_t)i * dim;
        if (ds->u8) memcpy(sub->u8 + to, ds->u8 + from, dim);
        else memcpy(sub->f32 + to, ds->f32 + from, dim * sizeof(float));
        sub->labels[i] = ds->labels[idx[i]];
    }
    data_set_name(sub, ds->name);
    *out = sub;
    return MLA_OK;
}

mla_status mla_dataset_concat(const mla_dataset *a, const mla_dataset *b, mla_dataset **out) {
    *out = NULL;
    if (a->c != b->c || a->h != b->h || a->w != b->w)
        return mla_error(MLA_ERR_SHAPE, "cannot join datasets of images %d x %d x %d and %d x %d x %d", a->c, a->h,
                         a->w, b->c, b->h, b->w);
    if ((a->f32 == NULL) != (b->f32 == NULL))
        return mla_error(MLA_ERR_INVALID, "cannot join a dataset of 8-bit pixels with one of float pixels");
    if ((int64_t)a->n + b->n > INT_MAX) return mla_error(MLA_ERR_SHAPE, "joined dataset too large");
    mla_dataset *ds;
    int classes = a->classes > b->classes ? a->classes : b->classes;
    mla_status s = data_create(a->n + b->n, a->c, a->h, a->w, a->f32 != NULL, classes, &ds);
    if (s) return s;
    size_t dim = (size_t)mla_dataset_dim(a), na = (size_t)a->n * dim, nb = (size_t)b->n * dim;
    if (a->u8) {
        memcpy(ds->u8, a->u8, na);
        memcpy(ds->u8 + na, b->u8, nb);
    } else {
        memcpy(ds->f32, a->f32, na * sizeof(float));
        memcpy(ds->f32 + na, b->f32, nb * sizeof(float));
    }
    memcpy(ds->labels, a->labels, (size_t)a->n * sizeof(int32_t));
    memcpy(ds->labels + a->n, b->labels, (size_t)b->n * sizeof(int32_t));
    data_set_name(ds, a->name);
    *out = ds;
    return MLA_OK;
}
