/* IDX files (MNIST, Fashion-MNIST): big-endian header, then unsigned bytes.
 *   images: magic 0x00000803, count, rows, cols, then count*rows*cols pixels
 *   labels: magic 0x00000801, count, then count labels */
#include "data/data_impl.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define IDX_CLASSES 10
/* Larger images than this are certainly a corrupt header. */
#define IDX_MAX_SIDE 65535u

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the header (magic + ndim counts) of an IDX file and checks its magic. */
static mla_status idx_read_header(data_file *f, uint32_t magic, int ndim, uint32_t *dims) {
    unsigned char head[16];
    size_t bytes = 4 + 4 * (size_t)ndim;
    mla_status s = data_file_read(f, head, bytes, "the IDX header");
    if (s) return s;
    uint32_t got = be32(head);
    if (got != magic)
        return mla_error(MLA_ERR_FORMAT, "%s: wrong magic 0x%08x (expected 0x%08x for IDX %s)", f->path, got,
                         magic, magic == IDX_IMAGES_MAGIC ? "images" : "labels");
    for (int i = 0; i < ndim; i++) dims[i] = be32(head + 4 + 4 * i);
    return MLA_OK;
}

/* Opens the images file and checks its declared size against the file. */
static mla_status idx_open_images(data_file *f, const char *path, uint32_t *dims) {
    mla_status s = data_file_open(f, path);
    if (s) return s;
    if ((s = idx_read_header(f, IDX_IMAGES_MAGIC, 3, dims))) return s;
    if (dims[0] == 0 || dims[0] > INT_MAX)
        return mla_error(MLA_ERR_FORMAT, "%s: bad image count %u", path, dims[0]);
    if (dims[1] == 0 || dims[2] == 0 || dims[1] > IDX_MAX_SIDE || dims[2] > IDX_MAX_SIDE ||
        (uint64_t)dims[1] * dims[2] > INT_MAX)
        return mla_error(MLA_ERR_FORMAT, "%s: bad image size %u x %u", path, dims[1], dims[2]);
    char what[96];
    snprintf(what, sizeof what, "%u images of %ux%u", dims[0], dims[1], dims[2]);
    return data_file_check_payload(f, (uint64_t)dims[0] * dims[1] * dims[2], what);
}

/* Opens the labels file and checks that it declares n labels and holds them. */
static mla_status idx_open_labels(data_file *f, const char *path, uint32_t n, const char *images_path) {
    uint32_t count = 0;
    mla_status s = data_file_open(f, path);
    if (s) return s;
    if ((s = idx_read_header(f, IDX_LABELS_MAGIC, 1, &count))) return s;
    if (count != n)
        return mla_error(MLA_ERR_FORMAT, "%s: holds %u labels but %s holds %u images", path, count,
                         images_path, n);
    char what[64];
    snprintf(what, sizeof what, "%u labels", count);
    return data_file_check_payload(f, count, what);
}

static mla_status idx_read_labels(data_file *f, mla_dataset *ds) {
    uint8_t *raw = mla_alloc((size_t)ds->n, 1);
    if (!raw) return MLA_ERR_NOMEM;
    mla_status s = data_file_read(f, raw, (size_t)ds->n, "the labels");
    if (!s) s = data_file_expect_end(f);
    for (int i = 0; !s && i < ds->n; i++) {
        if (raw[i] >= IDX_CLASSES)
            s = mla_error(MLA_ERR_FORMAT, "%s: label %u at index %d is outside 0..%d", f->path, raw[i], i,
                          IDX_CLASSES - 1);
        ds->labels[i] = raw[i];
    }
    free(raw);
    return s;
}

static mla_status idx_load(const char *images_path, const char *labels_path, mla_dataset **out) {
    data_file img, lab;
    uint32_t dims[3];
    mla_dataset *ds = NULL;
    memset(&lab, 0, sizeof lab);
    mla_status s = idx_open_images(&img, images_path, dims);
    if (!s) s = idx_open_labels(&lab, labels_path, dims[0], images_path);
    if (!s) s = data_create((int)dims[0], 1, (int)dims[1], (int)dims[2], 0, IDX_CLASSES, &ds);
    if (!s) s = data_file_read(&img, ds->u8, (size_t)dims[0] * dims[1] * dims[2], "the pixels");
    if (!s) s = data_file_expect_end(&img);
    if (!s) s = idx_read_labels(&lab, ds);
    data_file_close(&img);
    data_file_close(&lab);
    if (s) {
        mla_dataset_free(ds);
        return s;
    }
    char name[64];
    data_parent_name(images_path, name, sizeof name);
    data_set_name(ds, name[0] ? name : "idx");
    *out = ds;
    return MLA_OK;
}

mla_status mla_dataset_load_idx(const char *images_path, const char *labels_path, mla_dataset **out) {
    *out = NULL;
    char images[DATA_PATH_MAX], labels[DATA_PATH_MAX];
    mla_status s = data_find_file(images_path, images, sizeof images);
    if (!s) s = data_find_file(labels_path, labels, sizeof labels);
    if (!s) s = idx_load(images, labels, out);
    return s;
}
