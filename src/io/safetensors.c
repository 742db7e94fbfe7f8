/* The .safetensors format: an 8-byte little-endian header length, a JSON header,
 * then raw little-endian tensor data (see include/mlaudit/safetensors.h).
 *
 * The writer builds the header with cJSON (integers go in as raw text so offsets
 * beyond 2^31 print exactly), pads it with spaces to a multiple of 8 bytes and
 * writes everything through an atomic file. The reader loads the whole file and
 * validates every field before any pointer into the data is handed out.
 */
#include "mlaudit/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Tensor bytes are copied as they lie in memory, so the host must be little-endian. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "safetensors.c assumes a little-endian host (x86-64)");

#define ST_MAX_FILE_SIZE ((size_t)16 << 30)   /* 16 GiB */
#define ST_MAX_HEADER_SIZE ((uint64_t)100000000) /* the limit Python's safetensors has */
#define ST_MAX_EXACT_INT ((double)(1ULL << 53))
#define ST_METADATA_KEY "__metadata__"

static const struct {
    const char *name;
    size_t size;
} DTYPES[] = {
    [MLA_ST_F32] = {"F32", 4}, [MLA_ST_I32] = {"I32", 4}, [MLA_ST_I64] = {"I64", 8},
    [MLA_ST_U8] = {"U8", 1},   [MLA_ST_F64] = {"F64", 8},
};
#define N_DTYPES ((int)(sizeof DTYPES / sizeof DTYPES[0]))

const char *mla_st_dtype_name(mla_st_dtype d) {
    return (int)d >= 0 && (int)d < N_DTYPES ? DTYPES[d].name : "?";
}

/* Number of elements of a shape, or -1 if a dimension is negative or the product
 * (times the largest element size) would not fit in int64. */
static int64_t shape_elements(const int64_t *shape, int ndim) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] != 0 && n > (INT64_MAX / 8) / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

/* ------------------------------------------------------------------ writer -- */

static cJSON *raw_int(int64_t v) {
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, v);
    return cJSON_CreateRaw(text);
}

/* Checks one tensor given to the writer; returns its byte count in *bytes. */
static mla_status check_write_tensor(const char *path, const mla_st_tensor *t, int i,
                                     int64_t *bytes) {
    if (!t->name || !*t->name)
        return mla_error(MLA_ERR_INVALID, "%s: tensor %d has no name", path, i);
    if (strcmp(t->name, ST_METADATA_KEY) == 0)
        return mla_error(MLA_ERR_INVALID, "%s: tensor name '%s' is reserved", path, t->name);
    if ((int)t->dtype < 0 || (int)t->dtype >= N_DTYPES)
        return mla_error(MLA_ERR_INVALID, "%s: tensor '%s': unknown dtype %d", path, t->name,
                         (int)t->dtype);
    if (t->ndim < 0 || t->ndim > MLA_ST_MAX_DIMS)
        return mla_error(MLA_ERR_INVALID, "%s: tensor '%s': %d dims (0..%d allowed)", path,
                         t->name, t->ndim, MLA_ST_MAX_DIMS);
    int64_t n = shape_elements(t->shape, t->ndim);
    if (n < 0)
        return mla_error(MLA_ERR_INVALID, "%s: tensor '%s': negative or overflowing shape", path,
                         t->name);
    *bytes = n * (int64_t)DTYPES[t->dtype].size;
    if (*bytes > 0 && !t->data)
        return mla_error(MLA_ERR_INVALID, "%s: tensor '%s': no data", path, t->name);
    return MLA_OK;
}

/* Adds {"dtype":..,"shape":[..],"data_offsets":[begin,end]} under t->name. */
static int add_tensor_entry(cJSON *root, const mla_st_tensor *t, int64_t begin, int64_t end) {
    cJSON *e = cJSON_CreateObject(), *shape = cJSON_CreateArray(), *offs = cJSON_CreateArray();
    if (!e || !shape || !offs) {
        cJSON_Delete(e);
        cJSON_Delete(shape);
        cJSON_Delete(offs);
        return 0;
    }
    cJSON_AddItemToObject(root, t->name, e);
    cJSON_AddStringToObject(e, "dtype", DTYPES[t->dtype].name);
    cJSON_AddItemToObject(e, "shape", shape);
    cJSON_AddItemToObject(e, "data_offsets", offs);
    for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(shape, raw_int(t->shape[d]));
    cJSON_AddItemToArray(offs, raw_int(begin));
    cJSON_AddItemToArray(offs, raw_int(end));
    /* cJSON_Add* report failure only through missing children: count them. */
    return cJSON_GetArraySize(shape) == t->ndim && cJSON_GetArraySize(offs) == 2 &&
           cJSON_GetObjectItemCaseSensitive(e, "dtype") != NULL;
}

static mla_status add_metadata(const char *path, cJSON *root, const mla_st_meta *meta,
                               int n_meta) {
    if (n_meta == 0) return MLA_OK;
    cJSON *m = cJSON_AddObjectToObject(root, ST_METADATA_KEY);
    if (!m) return mla_error(MLA_ERR_NOMEM, "%s: out of memory building the header", path);
    for (int i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value)
            return mla_error(MLA_ERR_INVALID, "%s: metadata entry %d has a NULL key or value",
                             path, i);
        if (cJSON_GetObjectItemCaseSensitive(m, meta[i].key))
            return mla_error(MLA_ERR_INVALID, "%s: metadata key '%s' given twice", path,
                             meta[i].key);
        if (!cJSON_AddStringToObject(m, meta[i].key, meta[i].value))
            return mla_error(MLA_ERR_NOMEM, "%s: out of memory building the header", path);
    }
    return MLA_OK;
}

/* Builds the header JSON text (unpadded); the caller frees *text with cJSON_free. */
static mla_status build_header(const char *path, const mla_st_tensor *tensors, int n_tensors,
                               const mla_st_meta *meta, int n_meta, char **text) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return mla_error(MLA_ERR_NOMEM, "%s: out of memory building the header", path);
    mla_status s = add_metadata(path, root, meta, n_meta);
    int64_t offset = 0;
    for (int i = 0; s == MLA_OK && i < n_tensors; i++) {
        int64_t bytes = 0;
        s = check_write_tensor(path, &tensors[i], i, &bytes);
        if (s) break;
        if (cJSON_GetObjectItemCaseSensitive(root, tensors[i].name))
            s = mla_error(MLA_ERR_INVALID, "%s: tensor name '%s' given twice", path,
                          tensors[i].name);
        else if (bytes > INT64_MAX - offset)
            s = mla_error(MLA_ERR_INVALID, "%s: tensors too large in total", path);
        else if (!add_tensor_entry(root, &tensors[i], offset, offset + bytes))
            s = mla_error(MLA_ERR_NOMEM, "%s: out of memory building the header", path);
        offset += bytes;
    }
    if (s == MLA_OK && !(*text = cJSON_PrintUnformatted(root)))
        s = mla_error(MLA_ERR_NOMEM, "%s: out of memory printing the header", path);
    cJSON_Delete(root);
    return s;
}

static size_t tensor_bytes(const mla_st_tensor *t) {
    return (size_t)shape_elements(t->shape, t->ndim) * DTYPES[t->dtype].size;
}

/* Writes length prefix, padded header and data to fp; returns 0 on a short write. */
static int write_body(FILE *fp, const char *header, const mla_st_tensor *tensors,
                      int n_tensors) {
    size_t len = strlen(header), padded = (len + 7) / 8 * 8;
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++) prefix[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(prefix, 1, 8, fp) == 8 && fwrite(header, 1, len, fp) == len;
    for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', fp) != EOF;
    for (int i = 0; ok && i < n_tensors; i++) {
        size_t n = tensor_bytes(&tensors[i]);
        ok = n == 0 || fwrite(tensors[i].data, 1, n, fp) == n;
    }
    return ok;
}

mla_status mla_st_write(const char *path, const mla_st_tensor *tensors, int n_tensors,
                        const mla_st_meta *meta, int n_meta) {
    if (!path) return mla_error(MLA_ERR_INVALID, "safetensors: no output path");
    if (n_tensors < 0 || n_meta < 0 || (n_tensors > 0 && !tensors) || (n_meta > 0 && !meta))
        return mla_error(MLA_ERR_INVALID, "%s: bad tensor or metadata list", path);
    char *header = NULL;
    mla_status s = build_header(path, tensors, n_tensors, meta, n_meta, &header);
    if (s) return s;
    mla_atomic_file *f;
    s = mla_atomic_open(path, &f);
    if (s == MLA_OK) {
        if (write_body(mla_atomic_stream(f), header, tensors, n_tensors)) {
            s = mla_atomic_commit(f);
        } else {
            s = mla_error(MLA_ERR_IO, "%s: write failed: %s", path, strerror(errno));
            mla_atomic_abort(f);
        }
    }
    cJSON_free(header);
    return s;
}

/* ------------------------------------------------------------------ reader -- */

struct mla_st_file {
    char *buf;            /* the whole file */
    cJSON *header;        /* parsed header; owns the names and metadata strings */
    cJSON *metadata;      /* borrowed from header, or NULL */
    int n;
    mla_st_tensor *tensors; /* header order */
    const mla_st_tensor **by_name; /* sorted by name, for mla_st_find */
};

/* What a parse step needs to say where an error is. */
typedef struct {
    const char *path;
    const char *data;     /* start of the data section */
    uint64_t data_size;
} st_ctx;

/* A JSON number that is a non-negative integer exactly representable in a double. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0) || d > ST_MAX_EXACT_INT || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static mla_status parse_dtype(const st_ctx *c, const char *name, const cJSON *e,
                              mla_st_dtype *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!cJSON_IsString(v))
        return mla_error(MLA_ERR_FORMAT, "%s: tensor '%s': missing or non-string dtype", c->path,
                         name);
    for (int d = 0; d < N_DTYPES; d++)
        if (strcmp(v->valuestring, DTYPES[d].name) == 0) {
            *out = (mla_st_dtype)d;
            return MLA_OK;
        }
    return mla_error(MLA_ERR_FORMAT, "%s: unsupported dtype %.32s for tensor '%s'", c->path,
                     v->valuestring, name);
}

static mla_status parse_shape(const st_ctx *c, const char *name, const cJSON *e,
                              mla_st_tensor *t) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "shape");
    if (!cJSON_IsArray(v))
        return mla_error(MLA_ERR_FORMAT, "%s: tensor '%s': missing or non-array shape", c->path,
                         name);
    int n = cJSON_GetArraySize(v);
    if (n > MLA_ST_MAX_DIMS)
        return mla_error(MLA_ERR_FORMAT, "%s: tensor '%s': %d dims (at most %d supported)",
                         c->path, name, n, MLA_ST_MAX_DIMS);
    t->ndim = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, v) {
        uint64_t dim;
        if (!json_uint(d, &dim))
            return mla_error(MLA_ERR_FORMAT,
                             "%s: tensor '%s': shape[%d] is not a non-negative integer",
                             c->path, name, t->ndim);
        t->shape[t->ndim++] = (int64_t)dim;
    }
    if (shape_elements(t->shape, t->ndim) < 0)
        return mla_error(MLA_ERR_FORMAT, "%s: tensor '%s': shape product overflows", c->path,
                         name);
    return MLA_OK;
}

static mla_status parse_offsets(const st_ctx *c, const char *name, const cJSON *e,
                                const mla_st_tensor *t, uint64_t range[2]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 ||
        !json_uint(cJSON_GetArrayItem(v, 0), &range[0]) ||
        !json_uint(cJSON_GetArrayItem(v, 1), &range[1]))
        return mla_error(MLA_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets must be two non-negative integers",
                         c->path, name);
    if (range[0] > range[1])
        return mla_error(MLA_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                         "] begin after end",
                         c->path, name, range[0], range[1]);
    if (range[1] > c->data_size)
        return mla_error(MLA_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                         "] outside the %" PRIu64 "-byte data section",
                         c->path, name, range[0], range[1], c->data_size);
    uint64_t want = (uint64_t)shape_elements(t->shape, t->ndim) * DTYPES[t->dtype].size;
    if (range[1] - range[0] != want)
        return mla_error(MLA_ERR_FORMAT,
                         "%s: tensor '%s': %" PRIu64 " data bytes but its shape needs %" PRIu64,
                         c->path, name, range[1] - range[0], want);
    return MLA_OK;
}

static mla_status parse_tensor(const st_ctx *c, const cJSON *e, mla_st_tensor *t,
                               uint64_t range[2]) {
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return mla_error(MLA_ERR_FORMAT, "%s: tensor '%s': entry is not an object", c->path,
                         name);
    memset(t, 0, sizeof *t);
    t->name = name;
    mla_status s = parse_dtype(c, name, e, &t->dtype);
    if (!s) s = parse_shape(c, name, e, t);
    if (!s) s = parse_offsets(c, name, e, t, range);
    if (!s) t->data = c->data + range[0];
    return s;
}

static mla_status check_metadata(const st_ctx *c, const cJSON *m) {
    if (!cJSON_IsObject(m))
        return mla_error(MLA_ERR_FORMAT, "%s: %s is not an object", c->path, ST_METADATA_KEY);
    const cJSON *v;
    cJSON_ArrayForEach(v, m) {
        if (!cJSON_IsString(v))
            return mla_error(MLA_ERR_FORMAT, "%s: metadata '%s' is not a string", c->path,
                             v->string);
    }
    return MLA_OK;
}

/* ---- overlap and duplicate checks, on index arrays sorted with qsort ---- */

typedef struct {
    uint64_t begin, end;
    int index;
} st_range;

static int cmp_range(const void *a, const void *b) {
    const st_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Tensors may leave gaps between them but no byte may belong to two of them
 * (empty tensors occupy no bytes and never overlap). Sorts ranges in place. */
static mla_status check_overlaps(const st_ctx *c, const mla_st_file *f, st_range *r) {
    qsort(r, (size_t)f->n, sizeof *r, cmp_range);
    uint64_t covered = 0;
    int last = -1;
    for (int i = 0; i < f->n; i++) {
        if (r[i].begin == r[i].end) continue;
        if (r[i].begin < covered)
            return mla_error(MLA_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", c->path,
                             f->tensors[last].name, f->tensors[r[i].index].name);
        covered = r[i].end;
        last = r[i].index;
    }
    return MLA_OK;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const mla_st_tensor *const *)a)->name,
                  (*(const mla_st_tensor *const *)b)->name);
}

/* Fills f->by_name and refuses duplicate names (cJSON keeps both copies of a key). */
static mla_status sort_names(const st_ctx *c, mla_st_file *f) {
    for (int i = 0; i < f->n; i++) f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_tensor_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            return mla_error(MLA_ERR_FORMAT, "%s: tensor '%s' appears twice in the header",
                             c->path, f->by_name[i]->name);
    return MLA_OK;
}

/* ---- reading ---- */

static int only_whitespace(const char *p, const char *end) {
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') return 0;
    return 1;
}

/* Validates the length prefix and parses the JSON header; sets c->data/data_size. */
static mla_status parse_header(st_ctx *c, const char *buf, size_t size, cJSON **out) {
    if (size < 8)
        return mla_error(MLA_ERR_FORMAT, "%s: truncated: %zu bytes, no 8-byte header length",
                         c->path, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | (unsigned char)buf[i];
    if (n > size - 8)
        return mla_error(MLA_ERR_FORMAT,
                         "%s: header length %" PRIu64 " exceeds the %zu bytes after it", c->path,
                         n, size - 8);
    if (n > ST_MAX_HEADER_SIZE)
        return mla_error(MLA_ERR_FORMAT, "%s: header length %" PRIu64 " over the %" PRIu64
                         "-byte limit", c->path, n, ST_MAX_HEADER_SIZE);
    const char *json = buf + 8, *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)n, &end, 0);
    if (!root || !end || end > json + n || !only_whitespace(end, json + n)) {
        cJSON_Delete(root);
        return mla_error(MLA_ERR_FORMAT, "%s: header is not valid JSON (near byte %td)", c->path,
                         (end && end >= json ? end - json : 0) + 8);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mla_error(MLA_ERR_FORMAT, "%s: header is not a JSON object", c->path);
    }
    c->data = json + n;
    c->data_size = size - 8 - n;
    *out = root;
    return MLA_OK;
}

/* Parses every header entry into f->tensors and checks the set as a whole. */
static mla_status parse_entries(const st_ctx *c, mla_st_file *f) {
    int count = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, f->header) count += strcmp(e->string, ST_METADATA_KEY) != 0;
    f->tensors = mla_alloc((size_t)count + 1, sizeof *f->tensors);
    f->by_name = mla_alloc((size_t)count + 1, sizeof *f->by_name);
    st_range *ranges = mla_alloc((size_t)count + 1, sizeof *ranges);
    mla_status s = f->tensors && f->by_name && ranges ? MLA_OK : MLA_ERR_NOMEM;
    cJSON_ArrayForEach(e, f->header) {
        if (s) break;
        if (strcmp(e->string, ST_METADATA_KEY) == 0) {
            if (f->metadata)
                s = mla_error(MLA_ERR_FORMAT, "%s: %s appears twice", c->path, ST_METADATA_KEY);
            else if (!(s = check_metadata(c, e)))
                f->metadata = (cJSON *)e;
            continue;
        }
        uint64_t range[2] = {0, 0};
        s = parse_tensor(c, e, &f->tensors[f->n], range);
        ranges[f->n] = (st_range){range[0], range[1], f->n};
        f->n++;
    }
    if (!s) s = check_overlaps(c, f, ranges);
    if (!s) s = sort_names(c, f);
    free(ranges);
    return s;
}

mla_status mla_st_read(const char *path, mla_st_file **out) {
    *out = NULL;
    if (!path) return mla_error(MLA_ERR_INVALID, "safetensors: no input path");
    mla_st_file *f = mla_alloc(1, sizeof *f);
    if (!f) return MLA_ERR_NOMEM;
    size_t size;
    mla_status s = mla_read_file(path, ST_MAX_FILE_SIZE, &f->buf, &size);
    st_ctx c = {path, NULL, 0};
    if (!s) s = parse_header(&c, f->buf, size, &f->header);
    if (!s) s = parse_entries(&c, f);
    if (s) {
        mla_st_free(f);
        return s;
    }
    *out = f;
    return MLA_OK;
}

void mla_st_free(mla_st_file *f) {
    if (!f) return;
    cJSON_Delete(f->header);
    free(f->tensors);
    free(f->by_name);
    free(f->buf);
    free(f);
}

int mla_st_count(const mla_st_file *f) { return f->n; }

const mla_st_tensor *mla_st_at(const mla_st_file *f, int i) {
    return i >= 0 && i < f->n ? &f->tensors[i] : NULL;
}

const mla_st_tensor *mla_st_find(const mla_st_file *f, const char *name) {
    int lo = 0, hi = f->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *mla_st_meta_get(const mla_st_file *f, const char *key) {
    if (!f->metadata) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->metadata, key);
    return v ? v->valuestring : NULL;
}
