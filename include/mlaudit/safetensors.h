/* mlaudit safetensors: reading and writing the .safetensors file format.
 *
 * Layout: 8-byte little-endian header length N, then N bytes of JSON
 *   {"__metadata__": {"key": "string value", ...},
 *    "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...}
 * then the raw little-endian tensor data; offsets are relative to the end of the
 * header. Other tools (Python's safetensors, PyTorch) read what this writes.
 *
 * The reader trusts nothing: header length vs file size, JSON validity, dtypes,
 * shapes (non-negative, product without overflow, matching the byte range),
 * offsets inside the data section and not overlapping. A bad file gets
 * MLA_ERR_FORMAT with a message naming the file and the problem.
 */
#ifndef MLAUDIT_SAFETENSORS_H
#define MLAUDIT_SAFETENSORS_H

#include "mlaudit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLA_ST_MAX_DIMS 8

typedef enum { MLA_ST_F32 = 0, MLA_ST_I32, MLA_ST_I64, MLA_ST_U8, MLA_ST_F64 } mla_st_dtype;

typedef struct {
    const char *name;          /* borrowed by the writer; owned by the reader's file */
    mla_st_dtype dtype;
    int ndim;
    int64_t shape[MLA_ST_MAX_DIMS];
    const void *data;          /* little-endian values, product(shape) of them */
} mla_st_tensor;

typedef struct {
    const char *key;
    const char *value;
} mla_st_meta;

/* Writes tensors and metadata to path atomically (temporary file, then rename).
 * Tensors are laid out in the order given, back to back; the header is compact
 * JSON with "__metadata__" first (omitted when n_meta is 0), padded with spaces
 * to a multiple of 8 bytes. Everything is borrowed for the call only.
 * Errors: MLA_ERR_INVALID for an empty, duplicate or reserved ("__metadata__")
 * tensor name, an unknown dtype, ndim outside 0..MLA_ST_MAX_DIMS, a negative
 * dimension, NULL data for a non-empty tensor, a NULL or duplicate metadata key;
 * MLA_ERR_IO when the file cannot be written (path is left untouched). */
mla_status mla_st_write(const char *path, const mla_st_tensor *tensors, int n_tensors,
                        const mla_st_meta *meta, int n_meta);

/* A file read into memory and validated. */
typedef struct mla_st_file mla_st_file;

/* Reads and validates the whole file (at most 16 GiB; header at most 10^8 bytes, as in Python's safetensors).
 * Tensors may leave unused gaps in the data section but never share a byte;
 * duplicate names are refused. On success *out owns everything the accessors
 * below hand out; free it with mla_st_free. On failure *out is NULL and the
 * status is MLA_ERR_IO (cannot read) or MLA_ERR_FORMAT (bad content). */
mla_status mla_st_read(const char *path, mla_st_file **out);
void mla_st_free(mla_st_file *f); /* NULL is fine */

int mla_st_count(const mla_st_file *f);
/* The i-th tensor in header order; borrowed, valid while f lives. Its data may be
 * unaligned: copy with memcpy. */
const mla_st_tensor *mla_st_at(const mla_st_file *f, int i);
/* The tensor called name, or NULL. */
const mla_st_tensor *mla_st_find(const mla_st_file *f, const char *name);
/* A metadata value, or NULL if absent; borrowed. */
const char *mla_st_meta_get(const mla_st_file *f, const char *key);
const char *mla_st_dtype_name(mla_st_dtype d); /* "F32", ... */

#ifdef __cplusplus
}
#endif
#endif
