/* Private to src/data: the dataset struct and the helpers its loaders share.
 *
 * data_file reads a file that may be gzip-compressed (detected by its magic bytes,
 * not its name) through one interface, and knows how many payload bytes the file
 * can hold, so loaders refuse absurd declared sizes before they allocate. */
#ifndef MLA_DATA_IMPL_H
#define MLA_DATA_IMPL_H

#include <zlib.h>

#include "mlaudit/data.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "src/data reads and writes little-endian files assuming a little-endian host"
#endif

/* Labels above this are refused (they would make classes absurdly large). */
#define DATA_MAX_CLASSES 65536
#define DATA_PATH_MAX 4096

struct mla_dataset {
    int n, c, h, w;
    int classes;
    uint8_t *u8;     /* n x (c*h*w) pixels, or NULL for float data */
    float *f32;      /* n x (c*h*w) pixels, or NULL for 8-bit data */
    int32_t *labels; /* n labels in [0, classes) */
    char name[64];
};

/* A new dataset with room for n images of c x h x w, 8-bit or float; pixels are
 * uninitialised, labels zero. Refuses n < 0, a dimension < 1, or c*h*w > INT_MAX. */
mla_status data_create(int n, int c, int h, int w, int is_float, int classes, mla_dataset **out);
void data_set_name(mla_dataset *ds, const char *name);
/* The last component of path (trailing slashes ignored) into buf; "" for "/" or "". */
void data_base_name(const char *path, char *buf, size_t size);
/* The base name of the folder holding path ("" when path has no folder part). */
void data_parent_name(const char *path, char *buf, size_t size);
/* MLA_ERR_FORMAT naming `file` unless every label is in [0, classes). */
mla_status data_check_labels(const int32_t *labels, int n, int classes, const char *file);

typedef struct {
    FILE *fp;          /* plain file, or NULL */
    gzFile gz;         /* gzip file, or NULL */
    const char *path;  /* borrowed for the life of the data_file */
    uint64_t size;     /* bytes on disk */
    uint64_t pos;      /* uncompressed bytes consumed */
} data_file;

/* Copies path into buf if it exists, else path + ".gz" if that exists; otherwise
 * MLA_ERR_IO naming path. */
mla_status data_find_file(const char *path, char *buf, size_t size);
/* Opens path (plain or gzip by magic bytes). Must be a regular file. */
mla_status data_file_open(data_file *f, const char *path);
void data_file_close(data_file *f);
/* Reads exactly n bytes; a short read is MLA_ERR_FORMAT "PATH: truncated (WHAT)". */
mla_status data_file_read(data_file *f, void *buf, size_t n, const char *what);
/* Checks that `need` more bytes is what the file holds: exactly (plain files, so
 * truncation and trailing bytes are caught before allocating) or at most what a
 * gzip file of this size can inflate to (deflate's ratio is at most 1032:1).
 * `what` describes the declaration for the message (e.g. "60000 images of 28x28"). */
mla_status data_file_check_payload(data_file *f, uint64_t need, const char *what);
/* MLA_ERR_FORMAT "PATH: N trailing bytes" unless the file is fully consumed
 * (for gzip, also surfaces a bad CRC or a truncated stream). */
mla_status data_file_expect_end(data_file *f);

/* Reads the labels of a .npy file as int32 (any integer dtype, shape (N,) or (N,1),
 * values in [0, DATA_MAX_CLASSES)). *labels is the caller's to free. */
mla_status data_npy_read_labels(const char *path, int32_t **labels, int *n, int *max_label);

#endif
