/* NumPy .npy files: "\x93NUMPY", version byte pair, little-endian header length
 * (2 bytes in 1.0, 4 bytes in 2.0/3.0), a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (N, H, W), } padded with
 * spaces and a newline, then the C-order data. */
#include "data/data_impl.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_DIMS 8
#define NPY_MAX_HEADER (1u << 20)
#define NPY_ALIGN 64

typedef struct {
    char kind;  /* 'u', 'i', 'f', 'b' */
    int size;   /* bytes per item */
} npy_dtype;

typedef struct {
    char descr[32];
    npy_dtype dtype;
    int fortran;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
} npy_header;

/* ---- header dict parsing: a cursor over the text ---- */
typedef struct {
    const char *p, *end;
    const char *path;
} cursor;

static void skip_space(cursor *c) {
    while (c->p < c->end && isspace((unsigned char)*c->p)) c->p++;
}

static int accept(cursor *c, char ch) {
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static mla_status bad_header(const cursor *c, const char *problem) {
    return mla_error(MLA_ERR_FORMAT, "%s: bad .npy header: %s", c->path, problem);
}

/* A quoted Python string without escapes, copied into buf. */
static mla_status parse_string(cursor *c, char *buf, size_t size) {
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return bad_header(c, "expected a quoted string");
    char quote = *c->p++;
    const char *start = c->p;
    while (c->p < c->end && *c->p != quote && *c->p != '\\') c->p++;
    if (c->p >= c->end || *c->p != quote) return bad_header(c, "unterminated or escaped string");
    size_t len = (size_t)(c->p - start);
    c->p++;
    if (len >= size) return bad_header(c, "string too long");
    memcpy(buf, start, len);
    buf[len] = 0;
    return MLA_OK;
}

static mla_status parse_bool(cursor *c, int *out) {
    skip_space(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && !memcmp(c->p, "True", 4)) *out = 1, c->p += 4;
    else if (left >= 5 && !memcmp(c->p, "False", 5)) *out = 0, c->p += 5;
    else return bad_header(c, "fortran_order must be True or False");
    return MLA_OK;
}

static mla_status parse_dim(cursor *c, int64_t *out) {
    skip_space(c);
    if (c->p >= c->end || !isdigit((unsigned char)*c->p)) return bad_header(c, "shape entries must be non-negative integers");
    int64_t v = 0;
    while (c->p < c->end && isdigit((unsigned char)*c->p)) {
        if (v > (INT64_MAX - 9) / 10) return bad_header(c, "shape entry too large");
        v = v * 10 + (*c->p++ - '0');
    }
    if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 longs */
    *out = v;
    return MLA_OK;
}

/* A tuple of integers: (), (3,), (3, 4) or (3, 4,). */
static mla_status parse_shape(cursor *c, npy_header *h) {
    if (!accept(c, '(')) return bad_header(c, "shape must be a tuple");
    h->ndim = 0;
    while (!accept(c, ')')) {
        if (h->ndim == NPY_MAX_DIMS) return bad_header(c, "more than 8 dimensions");
        mla_status s = parse_dim(c, &h->shape[h->ndim++]);
        if (s) return s;
        if (!accept(c, ',')) {
            if (!accept(c, ')')) return bad_header(c, "expected ',' or ')' in shape");
            break;
        }
    }
    return MLA_OK;
}

static mla_status parse_entry(cursor *c, npy_header *h, unsigned *seen) {
    char key[32];
    mla_status s = parse_string(c, key, sizeof key);
    if (s) return s;
    if (!accept(c, ':')) return bad_header(c, "expected ':' after a key");
    if (!strcmp(key, "descr")) {
        skip_space(c);
        if (c->p < c->end && *c->p == '[')
            return mla_error(MLA_ERR_UNSUPPORTED, "%s: structured dtypes are not supported", c->path);
        s = parse_string(c, h->descr, sizeof h->descr), *seen |= 1;
    } else if (!strcmp(key, "fortran_order")) {
        s = parse_bool(c, &h->fortran), *seen |= 2;
    } else if (!strcmp(key, "shape")) {
        s = parse_shape(c, h), *seen |= 4;
    } else {
        return mla_error(MLA_ERR_FORMAT, "%s: bad .npy header: unexpected key '%s'", c->path, key);
    }
    return s;
}

static mla_status parse_dict(const char *text, size_t len, const char *path, npy_header *h) {
    cursor c = {text, text + len, path};
    unsigned seen = 0;
    if (!accept(&c, '{')) return bad_header(&c, "expected '{'");
    while (!accept(&c, '}')) {
        mla_status s = parse_entry(&c, h, &seen);
        if (s) return s;
        if (!accept(&c, ',')) {
            if (!accept(&c, '}')) return bad_header(&c, "expected ',' or '}'");
            break;
        }
    }
    skip_space(&c);
    if (c.p != c.end) return bad_header(&c, "text after the closing '}'");
    if (seen != 7) return bad_header(&c, "needs the keys 'descr', 'fortran_order' and 'shape'");
    return MLA_OK;
}

/* '<f4', '|u1', '<i8', ... Big-endian and non-numeric types are refused. */
static mla_status parse_descr(const char *path, const char *descr, npy_dtype *t) {
    char order = descr[0];
    if (order && strchr("<>|=", order) && strchr("uifb", descr[1]) && isdigit((unsigned char)descr[2]) &&
        (descr[3] == 0 || (isdigit((unsigned char)descr[3]) && descr[4] == 0))) {
        t->kind = descr[1];
        t->size = atoi(descr + 2);
        int valid = t->kind == 'f' ? (t->size == 4 || t->size == 8)
                                   : (t->size == 1 || t->size == 2 || t->size == 4 || t->size == 8);
        if (t->kind == 'b') valid = t->size == 1;
        if (order == '>' && t->size > 1)
            return mla_error(MLA_ERR_UNSUPPORTED,
                             "%s: big-endian dtype '%s' is not supported; save with arr.astype('<%c%d')", path,
                             descr, t->kind, t->size);
        if (valid) return MLA_OK;
    }
    return mla_error(MLA_ERR_UNSUPPORTED, "%s: unsupported dtype '%s'", path, descr);
}

static uint32_t le_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads the preamble and the header dict, leaving f at the start of the data. */
static mla_status npy_read_header(data_file *f, npy_header *h) {
    unsigned char pre[12];
    memset(h, 0, sizeof *h);
    mla_status s = data_file_read(f, pre, 8, "the .npy preamble");
    if (s) return s;
    if (memcmp(pre, "\x93NUMPY", 6) != 0) return mla_error(MLA_ERR_FORMAT, "%s: not a .npy file (bad magic)", f->path);
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return mla_error(MLA_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported", f->path, major, minor);
    size_t len_bytes = major == 1 ? 2 : 4;
    if ((s = data_file_read(f, pre + 8, len_bytes, "the .npy header length"))) return s;
    uint32_t hlen = major == 1 ? (uint32_t)pre[8] | (uint32_t)pre[9] << 8 : le_u32(pre + 8);
    if (hlen > NPY_MAX_HEADER || (f->fp && hlen > f->size - f->pos))
        return mla_error(MLA_ERR_FORMAT, "%s: .npy header length %u exceeds the file or the %u-byte limit",
                         f->path, hlen, NPY_MAX_HEADER);
    char *text = mla_alloc(hlen + 1, 1);
    if (!text) return MLA_ERR_NOMEM;
    s = data_file_read(f, text, hlen, "the .npy header");
    if (!s && memchr(text, 0, hlen)) s = mla_error(MLA_ERR_FORMAT, "%s: bad .npy header: NUL byte", f->path);
    if (!s) s = parse_dict(text, hlen, f->path, h);
    free(text);
    if (!s) s = parse_descr(f->path, h->descr, &h->dtype);
    if (!s && h->fortran)
        s = mla_error(MLA_ERR_UNSUPPORTED, "%s: Fortran-order arrays are not supported; save with np.ascontiguousarray", f->path);
    return s;
}

/* Number of items in the shape, refusing products the file cannot hold. */
static mla_status npy_item_count(data_file *f, const npy_header *h, uint64_t *count) {
    uint64_t n = 1, limit = UINT64_MAX / 16;
    for (int i = 0; i < h->ndim; i++) {
        if (h->shape[i] != 0 && n > limit / (uint64_t)h->shape[i])
            return mla_error(MLA_ERR_FORMAT, "%s: shape too large", f->path);
        n *= (uint64_t)h->shape[i];
    }
    char what[64];
    snprintf(what, sizeof what, "%llu items of '%s'", (unsigned long long)n, h->descr);
    *count = n;
    return data_file_check_payload(f, n * (uint64_t)h->dtype.size, what);
}

/* ---- labels ---- */
static int64_t label_at(const unsigned char *raw, npy_dtype t, size_t i) {
    const unsigned char *p = raw + i * (size_t)t.size;
    int64_t v = 0;
    if (t.kind == 'u' || t.kind == 'b') {
        uint64_t u = 0;
        memcpy(&u, p, (size_t)t.size); /* little-endian host */
        return u > INT64_MAX ? INT64_MAX : (int64_t)u;
    }
    switch (t.size) {
    case 1: { int8_t x; memcpy(&x, p, 1); v = x; break; }
    case 2: { int16_t x; memcpy(&x, p, 2); v = x; break; }
    case 4: { int32_t x; memcpy(&x, p, 4); v = x; break; }
    default: memcpy(&v, p, 8); break;
    }
    return v;
}

static mla_status convert_labels(const char *path, const unsigned char *raw, npy_dtype t, int n, int32_t *out,
                                 int *max_label) {
    *max_label = -1;
    for (int i = 0; i < n; i++) {
        int64_t v = label_at(raw, t, (size_t)i);
        if (v < 0) return mla_error(MLA_ERR_FORMAT, "%s: negative label %lld at index %d", path, (long long)v, i);
        if (v >= DATA_MAX_CLASSES)
            return mla_error(MLA_ERR_FORMAT, "%s: label %lld at index %d is above the limit of %d classes", path,
                             (long long)v, i, DATA_MAX_CLASSES);
        out[i] = (int32_t)v;
        if (v > *max_label) *max_label = (int)v;
    }
    return MLA_OK;
}

static mla_status labels_from_file(data_file *f, int32_t **labels, int *n, int *max_label) {
    npy_header h;
    uint64_t count = 0;
    mla_status s = npy_read_header(f, &h);
    if (s) return s;
    if (h.dtype.kind == 'f') return mla_error(MLA_ERR_FORMAT, "%s: labels must be integers, not '%s'", f->path, h.descr);
    if (!(h.ndim == 1 || (h.ndim == 2 && h.shape[1] == 1)) || h.shape[0] < 1 || h.shape[0] > INT_MAX)
        return mla_error(MLA_ERR_SHAPE, "%s: labels must be shaped (N,) or (N, 1) with N >= 1", f->path);
    if ((s = npy_item_count(f, &h, &count))) return s;
    unsigned char *raw = mla_alloc(count, (size_t)h.dtype.size);
    int32_t *out = mla_alloc(count, sizeof(int32_t));
    if (!raw || !out) s = MLA_ERR_NOMEM;
    if (!s) s = data_file_read(f, raw, count * (size_t)h.dtype.size, "the labels");
    if (!s) s = data_file_expect_end(f);
    if (!s) s = convert_labels(f->path, raw, h.dtype, (int)count, out, max_label);
    free(raw);
    if (s) {
        free(out);
        return s;
    }
    *labels = out;
    *n = (int)count;
    return MLA_OK;
}

mla_status data_npy_read_labels(const char *path, int32_t **labels, int *n, int *max_label) {
    data_file f;
    *labels = NULL;
    *n = 0;
    mla_status s = data_file_open(&f, path);
    if (!s) s = labels_from_file(&f, labels, n, max_label);
    data_file_close(&f);
    return s;
}

/* ---- images ---- */
/* (N,D) -> 1x1xD, (N,H,W) -> 1xHxW, (N,C,H,W) -> CxHxW. (N,H,W,C) with C in 1..4
 * and H > 4 is recognised as channel-last (Keras' layout) and transposed. */
static mla_status image_geometry(const char *path, const npy_header *h, int *chw, int *channel_last) {
    *channel_last = 0;
    if (h->ndim < 2 || h->ndim > 4)
        return mla_error(MLA_ERR_SHAPE, "%s: images must be shaped (N,D), (N,H,W) or (N,C,H,W), not %d-D", path, h->ndim);
    for (int i = 0; i < h->ndim; i++)
        if (h->shape[i] < 1 || h->shape[i] > INT_MAX)
            return mla_error(MLA_ERR_SHAPE, "%s: image dimension %d is %lld", path, i, (long long)h->shape[i]);
    chw[0] = 1, chw[1] = 1, chw[2] = (int)h->shape[h->ndim - 1];
    if (h->ndim >= 3) chw[1] = (int)h->shape[h->ndim - 2];
    if (h->ndim == 4) chw[0] = (int)h->shape[1];
    if (h->ndim == 4 && h->shape[3] <= 4 && h->shape[1] > 4) {
        *channel_last = 1;
        chw[0] = (int)h->shape[3], chw[1] = (int)h->shape[1], chw[2] = (int)h->shape[2];
    }
    return MLA_OK;
}

static mla_status check_finite(const char *path, const float *x, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (!isfinite(x[i])) return mla_error(MLA_ERR_FORMAT, "%s: pixel %zu is not finite", path, i);
    return MLA_OK;
}

/* Reads image by image, moving channel-last pixels into channel-major order. */
static mla_status read_channel_last(data_file *f, mla_dataset *ds, size_t item) {
    size_t dim = (size_t)mla_dataset_dim(ds), plane = (size_t)ds->h * ds->w;
    unsigned char *tmp = mla_alloc(dim, item);
    if (!tmp) return MLA_ERR_NOMEM;
    mla_status s = MLA_OK;
    for (int i = 0; !s && i < ds->n; i++) {
        s = data_file_read(f, tmp, dim * item, "the images");
        unsigned char *dst = ds->u8 ? ds->u8 + (size_t)i * dim : (unsigned char *)(ds->f32 + (size_t)i * dim);
        for (size_t p = 0; !s && p < plane; p++)
            for (int ch = 0; ch < ds->c; ch++)
                memcpy(dst + ((size_t)ch * plane + p) * item, tmp + (p * (size_t)ds->c + ch) * item, item);
    }
    free(tmp);
    return s;
}

static mla_status images_from_file(data_file *f, mla_dataset **out) {
    npy_header h;
    uint64_t count = 0;
    int chw[3] = {1, 1, 1}, channel_last = 0;
    mla_status s = npy_read_header(f, &h);
    if (s) return s;
    int is_float = h.dtype.kind == 'f' && h.dtype.size == 4;
    if (!is_float && !(h.dtype.kind == 'u' && h.dtype.size == 1))
        return mla_error(MLA_ERR_UNSUPPORTED, "%s: images must be uint8 ('|u1') or float32 ('<f4'), not '%s'", f->path,
                         h.descr);
    if ((s = npy_item_count(f, &h, &count))) return s;
    if ((s = image_geometry(f->path, &h, chw, &channel_last))) return s;
    mla_dataset *ds;
    /* classes is provisional; the caller sets it from the labels */
    if ((s = data_create((int)h.shape[0], chw[0], chw[1], chw[2], is_float, 1, &ds))) return s;
    void *dst = is_float ? (void *)ds->f32 : (void *)ds->u8;
    if (channel_last) s = read_channel_last(f, ds, (size_t)h.dtype.size);
    else s = data_file_read(f, dst, (size_t)count * (size_t)h.dtype.size, "the images");
    if (!s) s = data_file_expect_end(f);
    if (!s && is_float) s = check_finite(f->path, ds->f32, (size_t)count);
    if (s) {
        mla_dataset_free(ds);
        return s;
    }
    *out = ds;
    return MLA_OK;
}

mla_status mla_dataset_load_npy(const char *images_path, const char *labels_path, mla_dataset **out) {
    *out = NULL;
    data_file f;
    mla_dataset *ds = NULL;
    int32_t *labels = NULL;
    int n = 0, max_label = -1;
    mla_status s = data_file_open(&f, images_path);
    if (!s) s = images_from_file(&f, &ds);
    data_file_close(&f);
    if (!s) s = data_npy_read_labels(labels_path, &labels, &n, &max_label);
    if (!s && n != ds->n)
        s = mla_error(MLA_ERR_SHAPE, "%s: holds %d labels but %s holds %d images", labels_path, n, images_path, ds->n);
    if (s) {
        free(labels);
        mla_dataset_free(ds);
        return s;
    }
    free(ds->labels);
    ds->labels = labels;
    ds->classes = max_label + 1;
    char name[64];
    data_parent_name(images_path, name, sizeof name);
    data_set_name(ds, name[0] ? name : "npy");
    *out = ds;
    return MLA_OK;
}

/* ---- a whole array ---- */
/* Item i of raw as an int64; MLA_ERR_FORMAT for a uint64 above INT64_MAX. */
static mla_status int_item(const char *path, const unsigned char *raw, npy_dtype t, uint64_t i, int64_t *out) {
    if (t.kind == 'u' && t.size == 8) {
        uint64_t u;
        memcpy(&u, raw + i * 8, 8);
        if (u > INT64_MAX)
            return mla_error(MLA_ERR_FORMAT, "%s: uint64 value %llu at index %llu is above the int64 range", path,
                             (unsigned long long)u, (unsigned long long)i);
    }
    int64_t v = label_at(raw, t, (size_t)i);
    *out = t.kind == 'b' ? v != 0 : v;
    return MLA_OK;
}

/* Widens the `count` raw items at the start of buf (8 bytes per item of room) to
 * f64 or i64 in place, last item first so no item is overwritten before it is read. */
static mla_status widen_items(const char *path, void *buf, npy_dtype t, uint64_t count) {
    const unsigned char *raw = buf;
    for (uint64_t i = count; i-- > 0;) {
        if (t.kind == 'f' && t.size == 4) {
            float x;
            memcpy(&x, raw + i * 4, 4);
            ((double *)buf)[i] = x;
        } else if (t.kind != 'f') {
            int64_t v = 0;
            mla_status s = int_item(path, raw, t, i, &v);
            if (s) return s;
            ((int64_t *)buf)[i] = v;
        }
    }
    return MLA_OK;
}

static mla_status array_from_file(data_file *f, mla_npy_array *out) {
    npy_header h;
    uint64_t count = 0;
    mla_status s = npy_read_header(f, &h);
    if (!s) s = npy_item_count(f, &h, &count); /* the declared size against the file's, before allocating */
    if (s) return s;
    void *buf = mla_alloc((size_t)count, 8);
    if (!buf) return mla_error_prefix(MLA_ERR_NOMEM, "%s", f->path);
    s = data_file_read(f, buf, (size_t)count * (size_t)h.dtype.size, "the array");
    if (!s) s = data_file_expect_end(f);
    if (!s) s = widen_items(f->path, buf, h.dtype, count);
    if (s) {
        free(buf);
        return s;
    }
    out->ndim = h.ndim;
    memcpy(out->shape, h.shape, sizeof h.shape);
    out->count = (int64_t)count;
    if (h.dtype.kind == 'f') out->f64 = buf;
    else out->i64 = buf;
    return MLA_OK;
}

mla_status mla_npy_read(const char *path, mla_npy_array *out) {
    memset(out, 0, sizeof *out);
    data_file f;
    mla_status s = data_file_open(&f, path);
    if (!s) s = array_from_file(&f, out);
    data_file_close(&f);
    return s;
}

void mla_npy_array_free(mla_npy_array *a) {
    if (!a) return;
    free(a->f64);
    free(a->i64);
    memset(a, 0, sizeof *a);
}

/* ---- writing ---- */
/* The header dict padded with spaces and a newline so the data starts on a
 * 64-byte boundary, as NumPy writes it. */
static mla_status npy_header_text(const char *path, const char *descr, int ndim, const int64_t *shape, char *buf,
                                  size_t size, size_t *len) {
    char dims[NPY_MAX_DIMS * 24 + 8] = "";
    size_t used = 0;
    for (int i = 0; i < ndim; i++)
        used += (size_t)snprintf(dims + used, sizeof dims - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (ndim == 1) snprintf(dims + used, sizeof dims - used, ",");
    int n = snprintf(buf, size, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
    if (n < 0 || (size_t)n + NPY_ALIGN >= size) return mla_error(MLA_ERR_INVALID, "%s: .npy header too long", path);
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    memset(buf + n, ' ', padded - total);
    buf[padded - 10 - 1] = '\n';
    *len = padded - 10;
    return MLA_OK;
}

static mla_status npy_write(const char *path, const char *descr, const void *data, size_t item, int ndim,
                            const int64_t *shape) {
    if (ndim < 0 || ndim > NPY_MAX_DIMS || (ndim > 0 && !shape))
        return mla_error(MLA_ERR_INVALID, "%s: .npy arrays have 0 to %d dimensions, not %d", path, NPY_MAX_DIMS, ndim);
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && count > (UINT64_MAX / 16) / (uint64_t)shape[i]))
            return mla_error(MLA_ERR_INVALID, "%s: bad shape entry %lld", path, (long long)shape[i]);
        count *= (uint64_t)shape[i];
    }
    if (count > 0 && !data) return mla_error(MLA_ERR_INVALID, "%s: no data to write", path);
    char header[512];
    size_t hlen = 0;
    mla_status s = npy_header_text(path, descr, ndim, shape, header, sizeof header, &hlen);
    if (s) return s;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    mla_atomic_file *af;
    if ((s = mla_atomic_open(path, &af))) return s;
    FILE *fp = mla_atomic_stream(af);
    size_t bytes = (size_t)count * item;
    if (fwrite(pre, 1, sizeof pre, fp) != sizeof pre || fwrite(header, 1, hlen, fp) != hlen ||
        (bytes && fwrite(data, 1, bytes, fp) != bytes)) {
        mla_atomic_abort(af);
        return mla_error(MLA_ERR_IO, "%s: write failed", path);
    }
    return mla_atomic_commit(af);
}

mla_status mla_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape) {
    return npy_write(path, "<f4", data, sizeof(float), ndim, shape);
}

mla_status mla_npy_write_i32(const char *path, const int32_t *data, int ndim, const int64_t *shape) {
    return npy_write(path, "<i4", data, sizeof(int32_t), ndim, shape);
}

mla_status mla_npy_write_f64(const char *path, const double *data, int ndim, const int64_t *shape) {
    return npy_write(path, "<f8", data, sizeof(double), ndim, shape);
}

mla_status mla_npy_write_u8(const char *path, const uint8_t *data, int ndim, const int64_t *shape) {
    return npy_write(path, "|u1", data, 1, ndim, shape);
}
