/* Feature pipelines and the engineered feature set (features.h). */
#include "mlaudit/features.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FEATURES_MAGIC "MLAFEAT1"
#define MAX_SPEC 64
#define MAX_PIXELS 10000000

typedef enum { KIND_RAW, KIND_ENGINEERED, KIND_PCA } pipeline_kind;

struct mla_features {
    char spec[MAX_SPEC];
    pipeline_kind kind;
    double threshold;      /* raw:T (NaN for plain raw) */
    double share;          /* pca:S (0 when a count is given) */
    int pca_count;         /* pca:N */
    int fitted, c, h, w;   /* input shape once fitted */
    int32_t *kept;         /* raw:T: kept pixel indices */
    int n_kept;
    mla_pca *pca;
};

/* ---- the engineered set ---- */

static const int band_low[6] = {0, 1, 47, 94, 169, 206}; /* band b covers band_low[b]..band_low[b+1]-1 */

int mla_engineered_count(int h, int w) { return 6 + h + w + 2 + 2 * MLA_ENGINEERED_BLOCKS; }

void mla_engineered_block(int b, int h, int w, int *row0, int *row1, int *col0, int *col1) {
    if (b < 9) {
        int r = b / 3, c = b % 3;
        *row0 = r * h / 3;
        *row1 = (r + 1) * h / 3;
        *col0 = c * w / 3;
        *col1 = (c + 1) * w / 3;
        return;
    }
    *row0 = h / 4;
    *row1 = 3 * h / 4;
    *col0 = w / 4;
    *col1 = 3 * w / 4;
}

const char *mla_engineered_name(int i, int h, int w, char *buf, size_t size) {
    static const char *const bands[6] = {"band_0", "band_1_46", "band_47_93", "band_94_168", "band_169_205", "band_206_255"};
    if (i < 6)
        snprintf(buf, size, "%s", bands[i]);
    else if (i < 6 + h)
        snprintf(buf, size, "row_%02d", i - 6);
    else if (i < 6 + h + w)
        snprintf(buf, size, "col_%02d", i - 6 - h);
    else if (i < 6 + h + w + 2)
        snprintf(buf, size, "%s", i == 6 + h + w ? "white_rows" : "white_cols");
    else {
        int j = i - (6 + h + w + 2);
        snprintf(buf, size, "block%d_%s", j / 2, j % 2 ? "light" : "nonwhite");
    }
    return buf;
}

static int band_of(int v) {
    int b = 0;
    while (b < 5 && v >= band_low[b + 1]) b++;
    return b;
}

/* Share of non-white and of light-grey (1..122) pixels in block b. */
static void block_shares(const uint8_t *img, int h, int w, int b, float *nonwhite, float *light) {
    int r0, r1, c0, c1, dark = 0, pale = 0;
    mla_engineered_block(b, h, w, &r0, &r1, &c0, &c1);
    for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++) {
            int v = img[r * w + c];
            dark += v > 0;
            pale += v >= 1 && v <= 122;
        }
    float area = (float)((r1 - r0) * (c1 - c0));
    *nonwhite = area > 0 ? (float)dark / area : 0.0f;
    *light = area > 0 ? (float)pale / area : 0.0f;
}

static void engineered_one(const uint8_t *img, int h, int w, float *out) {
    int bands[6] = {0}, white_rows = 0, white_cols = 0;
    float *rows = out + 6, *cols = out + 6 + h;
    for (int c = 0; c < w; c++) cols[c] = 0;
    for (int r = 0; r < h; r++) {
        int count = 0;
        for (int c = 0; c < w; c++) {
            int v = img[r * w + c];
            bands[band_of(v)]++;
            count += v > 0;
            cols[c] += v > 0;
        }
        rows[r] = (float)count / (float)w;
        white_rows += count == 0;
    }
    for (int c = 0; c < w; c++) {
        white_cols += cols[c] == 0;
        cols[c] /= (float)h;
    }
    for (int b = 0; b < 6; b++) out[b] = (float)bands[b] / (float)(h * w);
    out[6 + h + w] = (float)white_rows / (float)h;
    out[6 + h + w + 1] = (float)white_cols / (float)w;
    float *blocks = out + 6 + h + w + 2;
    for (int b = 0; b < MLA_ENGINEERED_BLOCKS; b++) block_shares(img, h, w, b, &blocks[2 * b], &blocks[2 * b + 1]);
}

void mla_engineered_features(const uint8_t *pixels, int n, int h, int w, float *out) {
    int count = mla_engineered_count(h, w);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) engineered_one(pixels + (size_t)i * h * w, h, w, out + (size_t)i * count);
}

/* ---- spec parsing ---- */

static int parse_number(const char *s, double *out) {
    char *end = NULL;
    errno = 0;
    *out = strtod(s, &end);
    return !errno && *s && !*end && isfinite(*out);
}

static mla_status parse_spec(const char *spec, mla_features *f) {
    double v = 0;
    if (!strcmp(spec, "raw")) {
        f->kind = KIND_RAW;
        f->threshold = NAN;
    } else if (!strncmp(spec, "raw:", 4) && parse_number(spec + 4, &v) && v >= 0) {
        f->kind = KIND_RAW;
        f->threshold = v;
    } else if (!strcmp(spec, "engineered")) {
        f->kind = KIND_ENGINEERED;
    } else if (!strncmp(spec, "pca:", 4) && parse_number(spec + 4, &v) && v > 0) {
        f->kind = KIND_PCA;
        if (v < 1)
            f->share = v;
        else if (v == floor(v) && v <= MAX_PIXELS && !strchr(spec + 4, '.'))
            f->pca_count = (int)v;
        else
            return mla_error(MLA_ERR_INVALID, "feature set '%s': pca: takes a share in (0, 1) or a whole number of components", spec);
    } else {
        return mla_error(MLA_ERR_INVALID, "unknown feature set '%s' (raw, raw:T, engineered, pca:SHARE, pca:N)", spec);
    }
    return MLA_OK;
}

mla_status mla_features_create(const char *spec, mla_features **out) {
    *out = NULL;
    if (!spec || strlen(spec) >= MAX_SPEC) return mla_error(MLA_ERR_INVALID, "feature set: missing or overlong spec");
    mla_features *f = mla_alloc(1, sizeof *f);
    if (!f) return MLA_ERR_NOMEM;
    mla_status st = parse_spec(spec, f);
    if (st != MLA_OK) {
        free(f);
        return st;
    }
    snprintf(f->spec, sizeof f->spec, "%s", spec);
    *out = f;
    return MLA_OK;
}

void mla_features_free(mla_features *f) {
    if (!f) return;
    free(f->kept);
    mla_pca_free(f->pca);
    free(f);
}

const char *mla_features_spec(const mla_features *f) { return f->spec; }
const mla_pca *mla_features_pca(const mla_features *f) { return f->pca; }

const int32_t *mla_features_kept_pixels(const mla_features *f, int *n_kept) {
    if (n_kept) *n_kept = f->kept ? f->n_kept : 0;
    return f->kept;
}

int mla_features_dim(const mla_features *f) {
    if (!f->fitted) return 0;
    switch (f->kind) {
    case KIND_RAW: return f->kept ? f->n_kept : f->c * f->h * f->w;
    case KIND_ENGINEERED: return mla_engineered_count(f->h, f->w);
    case KIND_PCA: return mla_pca_components(f->pca);
    }
    return 0;
}

/* ---- fitting and transforming ---- */

static mla_status check_images(const char *spec, const mla_images *im) {
    if (!im || im->n < 1 || im->c < 1 || im->h < 1 || im->w < 1 || (size_t)im->c * im->h * im->w > MAX_PIXELS)
        return mla_error(MLA_ERR_SHAPE, "features %s: no images or a bad image shape", spec);
    if (!im->u8 == !im->f32) return mla_error(MLA_ERR_INVALID, "features %s: give exactly one of 8-bit or float pixels", spec);
    return MLA_OK;
}

/* Images as [0, 1] floats (n x pixels): 8-bit v becomes v / 255.0f. */
static void raw_pixels(const mla_images *im, float *out) {
    size_t count = (size_t)im->n * im->c * im->h * im->w;
    if (im->f32)
        memcpy(out, im->f32, count * sizeof(float));
    else
        for (size_t i = 0; i < count; i++) out[i] = (float)im->u8[i] / 255.0f;
}

static float *raw_copy(const mla_images *im) {
    float *x = mla_alloc((size_t)im->n * im->c * im->h * im->w, sizeof(float));
    if (x) raw_pixels(im, x);
    return x;
}

/* The pixels whose variance over x (n x d) exceeds the threshold. */
static mla_status select_pixels(mla_features *f, const float *x, int n, int d) {
    f->kept = mla_alloc((size_t)d, sizeof(int32_t));
    if (!f->kept) return MLA_ERR_NOMEM;
    f->n_kept = 0;
    for (int j = 0; j < d; j++) {
        double mean = 0, sq = 0;
        for (int i = 0; i < n; i++) mean += x[(size_t)i * d + j];
        mean /= n;
        for (int i = 0; i < n; i++) sq += (x[(size_t)i * d + j] - mean) * (x[(size_t)i * d + j] - mean);
        if (sq / n > f->threshold) f->kept[f->n_kept++] = j;
    }
    if (f->n_kept == 0) return mla_error(MLA_ERR_INVALID, "features %s: no pixel has a variance above %g", f->spec, f->threshold);
    return MLA_OK;
}

static mla_status fit_pca(mla_features *f, const float *x, int n, int d) {
    mla_status st = mla_pca_fit(x, n, d, &f->pca);
    if (st != MLA_OK) return st;
    if (f->share > 0) return mla_pca_keep_variance(f->pca, f->share);
    if (f->pca_count > d) return mla_error(MLA_ERR_INVALID, "features %s: %d components asked of %d pixels", f->spec, f->pca_count, d);
    return mla_pca_keep(f->pca, f->pca_count);
}

mla_status mla_features_fit(mla_features *f, const mla_images *train) {
    mla_status st = check_images(f->spec, train);
    if (st != MLA_OK) return st;
    if (f->kind == KIND_ENGINEERED && train->c != 1)
        return mla_error(MLA_ERR_SHAPE, "features engineered: needs single-channel images (got %d channels)", train->c);
    free(f->kept);
    f->kept = NULL;
    mla_pca_free(f->pca);
    f->pca = NULL;
    f->fitted = 0;
    int d = train->c * train->h * train->w;
    int needs_pixels = f->kind == KIND_PCA || (f->kind == KIND_RAW && !isnan(f->threshold));
    float *x = needs_pixels ? raw_copy(train) : NULL;
    if (needs_pixels && !x) return MLA_ERR_NOMEM;
    if (f->kind == KIND_PCA) st = fit_pca(f, x, train->n, d);
    if (f->kind == KIND_RAW && x) st = select_pixels(f, x, train->n, d);
    free(x);
    if (st != MLA_OK) return st;
    f->c = train->c;
    f->h = train->h;
    f->w = train->w;
    f->fitted = 1;
    return MLA_OK;
}

/* 8-bit pixels of images given as floats (rounded from the [0, 1] scale). */
static uint8_t *as_bytes(const mla_images *im) {
    size_t count = (size_t)im->n * im->c * im->h * im->w;
    uint8_t *b = mla_alloc(count, 1);
    for (size_t i = 0; b && i < count; i++) {
        float v = im->f32[i] * 255.0f;
        b[i] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : (int)lrintf(v));
    }
    return b;
}

static mla_status transform_engineered(const mla_images *im, float *out) {
    if (im->u8) {
        mla_engineered_features(im->u8, im->n, im->h, im->w, out);
        return MLA_OK;
    }
    uint8_t *b = as_bytes(im);
    if (!b) return MLA_ERR_NOMEM;
    mla_engineered_features(b, im->n, im->h, im->w, out);
    free(b);
    return MLA_OK;
}

static mla_status transform_selected(const mla_features *f, const mla_images *im, float *out) {
    int d = im->c * im->h * im->w;
    for (int i = 0; i < im->n; i++)
        for (int j = 0; j < f->n_kept; j++) {
            size_t src = (size_t)i * d + f->kept[j];
            out[(size_t)i * f->n_kept + j] = im->u8 ? (float)im->u8[src] / 255.0f : im->f32[src];
        }
    return MLA_OK;
}

mla_status mla_features_transform(const mla_features *f, const mla_images *images, float *out) {
    if (!f->fitted) return mla_error(MLA_ERR_INVALID, "features %s: transform before fit", f->spec);
    mla_status st = check_images(f->spec, images);
    if (st != MLA_OK) return st;
    if (images->c != f->c || images->h != f->h || images->w != f->w)
        return mla_error(MLA_ERR_SHAPE, "features %s: images are %dx%dx%d, the pipeline was fitted on %dx%dx%d", f->spec,
                         images->c, images->h, images->w, f->c, f->h, f->w);
    if (f->kind == KIND_ENGINEERED) return transform_engineered(images, out);
    if (f->kind == KIND_RAW && f->kept) return transform_selected(f, images, out);
    if (f->kind == KIND_RAW) {
        raw_pixels(images, out);
        return MLA_OK;
    }
    float *x = raw_copy(images);
    if (!x) return MLA_ERR_NOMEM;
    st = mla_pca_transform(f->pca, x, images->n, out);
    free(x);
    return st;
}

/* ---- files: magic, int32 spec length, spec, int32 c, h, w, then raw:T's kept list or the PCA ---- */

static mla_status write_pipeline(const mla_features *f, FILE *fp) {
    int32_t len = (int32_t)strlen(f->spec), shape[3] = {f->c, f->h, f->w};
    if (fwrite(FEATURES_MAGIC, 8, 1, fp) != 1 || fwrite(&len, 4, 1, fp) != 1 || fwrite(f->spec, 1, (size_t)len, fp) != (size_t)len ||
        fwrite(shape, sizeof shape, 1, fp) != 1)
        return mla_error(MLA_ERR_IO, "write failed");
    if (f->kept && (fwrite(&f->n_kept, 4, 1, fp) != 1 || fwrite(f->kept, 4, (size_t)f->n_kept, fp) != (size_t)f->n_kept))
        return mla_error(MLA_ERR_IO, "write failed");
    return f->pca ? mla_pca_write(f->pca, fp) : MLA_OK;
}

mla_status mla_features_save(const mla_features *f, const char *path) {
    if (!f->fitted) return mla_error(MLA_ERR_INVALID, "%s: cannot save an unfitted feature pipeline", path);
    mla_atomic_file *af = NULL;
    mla_status st = mla_atomic_open(path, &af);
    if (st != MLA_OK) return st;
    st = write_pipeline(f, mla_atomic_stream(af));
    if (st != MLA_OK) {
        mla_atomic_abort(af);
        return mla_error_prefix(st, "%s", path);
    }
    return mla_atomic_commit(af);
}

static mla_status read_kept(FILE *fp, mla_features *f) {
    int d = f->c * f->h * f->w;
    if (fread(&f->n_kept, 4, 1, fp) != 1 || f->n_kept < 1 || f->n_kept > d)
        return mla_error(MLA_ERR_FORMAT, "corrupt kept-pixel count");
    f->kept = mla_alloc((size_t)f->n_kept, sizeof(int32_t));
    if (!f->kept) return MLA_ERR_NOMEM;
    if (fread(f->kept, 4, (size_t)f->n_kept, fp) != (size_t)f->n_kept) return mla_error(MLA_ERR_FORMAT, "truncated kept-pixel list");
    for (int j = 0; j < f->n_kept; j++)
        if (f->kept[j] < 0 || f->kept[j] >= d || (j > 0 && f->kept[j] <= f->kept[j - 1]))
            return mla_error(MLA_ERR_FORMAT, "corrupt kept-pixel list");
    return MLA_OK;
}

static mla_status read_body(FILE *fp, mla_features *f) {
    int32_t shape[3];
    if (fread(shape, sizeof shape, 1, fp) != 1) return mla_error(MLA_ERR_FORMAT, "truncated image shape");
    if (shape[0] < 1 || shape[1] < 1 || shape[2] < 1 || (int64_t)shape[0] * shape[1] * shape[2] > MAX_PIXELS)
        return mla_error(MLA_ERR_FORMAT, "corrupt image shape");
    f->c = shape[0];
    f->h = shape[1];
    f->w = shape[2];
    if (f->kind == KIND_ENGINEERED && f->c != 1) return mla_error(MLA_ERR_FORMAT, "engineered pipeline with %d channels", f->c);
    mla_status st = MLA_OK;
    if (f->kind == KIND_RAW && !isnan(f->threshold)) st = read_kept(fp, f);
    if (f->kind == KIND_PCA) {
        st = mla_pca_read(fp, &f->pca);
        if (st == MLA_OK && mla_pca_dim(f->pca) != f->c * f->h * f->w)
            st = mla_error(MLA_ERR_FORMAT, "PCA of %d features for %d pixels", mla_pca_dim(f->pca), f->c * f->h * f->w);
    }
    if (st == MLA_OK && fgetc(fp) != EOF) st = mla_error(MLA_ERR_FORMAT, "trailing bytes");
    f->fitted = st == MLA_OK;
    return st;
}

static mla_status read_pipeline(FILE *fp, mla_features **out) {
    char magic[8], spec[MAX_SPEC];
    int32_t len;
    if (fread(magic, 8, 1, fp) != 1 || memcmp(magic, FEATURES_MAGIC, 8) != 0)
        return mla_error(MLA_ERR_FORMAT, "not an mlaudit feature-pipeline file");
    if (fread(&len, 4, 1, fp) != 1 || len < 1 || len >= MAX_SPEC || fread(spec, 1, (size_t)len, fp) != (size_t)len)
        return mla_error(MLA_ERR_FORMAT, "corrupt spec");
    spec[len] = '\0';
    mla_status st = mla_features_create(spec, out);
    if (st != MLA_OK) return mla_error_prefix(MLA_ERR_FORMAT, "corrupt spec");
    st = read_body(fp, *out);
    if (st != MLA_OK) {
        mla_features_free(*out);
        *out = NULL;
    }
    return st;
}

mla_status mla_features_load(const char *path, mla_features **out) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return mla_error(MLA_ERR_IO, "%s: cannot open", path);
    mla_status st = read_pipeline(fp, out);
    fclose(fp);
    return st == MLA_OK ? MLA_OK : mla_error_prefix(st, "%s", path);
}
