/* PCA by eigendecomposition of the covariance (pca.h). */
#include "mlaudit/pca.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS (OpenMP build). */
void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);

#define CHUNK 2048           /* rows centred at a time */
#define PCA_MAGIC "MLAPCA01"
#define PCA_MAX_DIM 100000

struct mla_pca {
    int d, available, kept;
    double *mean;      /* d */
    double *variance;  /* d, decreasing */
    double *ratio;     /* d */
    double *vectors;   /* available x d, double */
    float *basis;      /* kept x d, float copy of the first kept vectors */
};

void mla_pca_free(mla_pca *p) {
    if (!p) return;
    free(p->mean);
    free(p->variance);
    free(p->ratio);
    free(p->vectors);
    free(p->basis);
    free(p);
}

static mla_pca *pca_alloc(int d, int available) {
    mla_pca *p = mla_alloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d;
    p->available = available;
    p->mean = mla_alloc((size_t)d, sizeof(double));
    p->variance = mla_alloc((size_t)d, sizeof(double));
    p->ratio = mla_alloc((size_t)d, sizeof(double));
    p->vectors = mla_alloc((size_t)available * d, sizeof(double));
    if (!p->mean || !p->variance || !p->ratio || !p->vectors) {
        mla_pca_free(p);
        return NULL;
    }
    return p;
}

static void column_mean(const float *x, int n, int d, double *mean) {
    memset(mean, 0, (size_t)d * sizeof *mean);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mean[j] += x[(size_t)i * d + j];
    for (int j = 0; j < d; j++) mean[j] /= n;
}

/* cov (d x d, upper triangle) = centred x^T x / (n - 1). */
static mla_status covariance(const float *x, int n, int d, const double *mean, double *cov) {
    double *block = mla_alloc((size_t)CHUNK * d, sizeof(double));
    if (!block) return MLA_ERR_NOMEM;
    for (int first = 0; first < n; first += CHUNK) {
        int rows = n - first < CHUNK ? n - first : CHUNK;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < d; j++) block[(size_t)i * d + j] = x[(size_t)(first + i) * d + j] - mean[j];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, rows, 1.0 / (n - 1), block, d, first ? 1.0 : 0.0, cov, d);
    }
    free(block);
    return MLA_OK;
}

/* Eigenvectors into p->vectors (decreasing eigenvalue, sign-fixed) and variances. */
static mla_status eigen(double *cov, int d, mla_pca *p) {
    double *w = mla_alloc((size_t)d, sizeof(double)), *z = mla_alloc((size_t)d * d, sizeof(double));
    lapack_int *support = mla_alloc(2 * (size_t)d, sizeof(lapack_int)), found = 0;
    mla_status st = w && z && support ? MLA_OK : MLA_ERR_NOMEM;
    if (st == MLA_OK) {
        /* The tridiagonal reduction is thousands of small level-2 calls; with more than
         * one BLAS thread their fork/join costs 15x the work (measured: 17 s vs 1 s). */
        int threads = openblas_get_num_threads();
        openblas_set_num_threads(1);
        lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'A', 'U', d, cov, d, 0, 0, 0, 0, 0.0, &found, w, z, d,
                                         support);
        openblas_set_num_threads(threads);
        if (info != 0 || found != d) st = mla_error(MLA_ERR_INVALID, "pca: eigendecomposition failed (LAPACK info %d)", (int)info);
    }
    for (int c = 0; st == MLA_OK && c < d; c++) {
        int src = d - 1 - c, big = 0;
        for (int i = 0; i < d; i++)
            if (fabs(z[(size_t)i * d + src]) > fabs(z[(size_t)big * d + src])) big = i;
        double sign = z[(size_t)big * d + src] < 0 ? -1.0 : 1.0;
        for (int i = 0; i < d; i++) p->vectors[(size_t)c * d + i] = sign * z[(size_t)i * d + src];
        p->variance[c] = w[src] > 0 ? w[src] : 0.0;
    }
    free(w);
    free(z);
    free(support);
    return st;
}

static void fill_ratios(mla_pca *p) {
    double total = 0;
    for (int c = 0; c < p->d; c++) total += p->variance[c];
    for (int c = 0; c < p->d; c++) p->ratio[c] = total > 0 ? p->variance[c] / total : 0.0;
}

mla_status mla_pca_fit(const float *x, int n, int d, mla_pca **out) {
    *out = NULL;
    if (n < 2 || d < 1 || d > PCA_MAX_DIM) return mla_error(MLA_ERR_SHAPE, "pca: needs at least 2 rows and 1..%d features, got %d x %d", PCA_MAX_DIM, n, d);
    for (size_t i = 0; i < (size_t)n * d; i++)
        if (!isfinite(x[i])) return mla_error(MLA_ERR_INVALID, "pca: value %zu of the data is not finite", i);
    mla_pca *p = pca_alloc(d, d);
    double *cov = mla_alloc((size_t)d * d, sizeof(double));
    mla_status st = p && cov ? MLA_OK : MLA_ERR_NOMEM;
    if (st == MLA_OK) {
        column_mean(x, n, d, p->mean);
        st = covariance(x, n, d, p->mean, cov);
    }
    if (st == MLA_OK) st = eigen(cov, d, p);
    if (st == MLA_OK) {
        fill_ratios(p);
        st = mla_pca_keep(p, d);
    }
    free(cov);
    if (st != MLA_OK) {
        mla_pca_free(p);
        return st;
    }
    *out = p;
    return MLA_OK;
}

mla_status mla_pca_keep(mla_pca *p, int components) {
    if (components < 1 || components > p->available)
        return mla_error(MLA_ERR_INVALID, "pca: %d components requested, %d available", components, p->available);
    float *basis = mla_alloc((size_t)components * p->d, sizeof(float));
    if (!basis) return MLA_ERR_NOMEM;
    for (size_t i = 0; i < (size_t)components * p->d; i++) basis[i] = (float)p->vectors[i];
    free(p->basis);
    p->basis = basis;
    p->kept = components;
    return MLA_OK;
}

int mla_pca_components_for_variance(const mla_pca *p, double share) {
    double cumulative = 0;
    for (int c = 0; c < p->d; c++) {
        cumulative += p->ratio[c];
        if (cumulative > share) return c + 1;
    }
    return p->d;
}

mla_status mla_pca_keep_variance(mla_pca *p, double share) {
    if (!(share > 0 && share < 1)) return mla_error(MLA_ERR_INVALID, "pca: variance share %g outside (0, 1)", share);
    int c = mla_pca_components_for_variance(p, share);
    return mla_pca_keep(p, c < p->available ? c : p->available);
}

int mla_pca_dim(const mla_pca *p) { return p->d; }
int mla_pca_components(const mla_pca *p) { return p->kept; }
const double *mla_pca_mean(const mla_pca *p) { return p->mean; }
const double *mla_pca_explained_variance(const mla_pca *p) { return p->variance; }
const double *mla_pca_explained_variance_ratio(const mla_pca *p) { return p->ratio; }
const float *mla_pca_basis(const mla_pca *p) { return p->basis; }

mla_status mla_pca_transform(const mla_pca *p, const float *x, int n, float *out) {
    int d = p->d;
    float *block = mla_alloc((size_t)CHUNK * d, sizeof(float));
    if (!block) return MLA_ERR_NOMEM;
    for (int first = 0; first < n; first += CHUNK) {
        int rows = n - first < CHUNK ? n - first : CHUNK;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < d; j++) block[(size_t)i * d + j] = (float)(x[(size_t)(first + i) * d + j] - p->mean[j]);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, p->kept, d, 1.0f, block, d, p->basis, d, 0.0f,
                    out + (size_t)first * p->kept, p->kept);
    }
    free(block);
    return MLA_OK;
}

mla_status mla_pca_inverse_transform(const mla_pca *p, const float *scores, int n, float *out) {
    if (n < 1) return MLA_OK;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, p->d, p->kept, 1.0f, scores, p->kept, p->basis, p->d,
                0.0f, out, p->d);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < p->d; j++) out[(size_t)i * p->d + j] += (float)p->mean[j];
    return MLA_OK;
}

/* ---- stream format: magic, int32 d, int32 kept, mean[d], variance[d], vectors[kept x d] (doubles) ---- */

mla_status mla_pca_write(const mla_pca *p, FILE *fp) {
    int32_t head[2] = {p->d, p->kept};
    size_t d = (size_t)p->d, kd = (size_t)p->kept * d;
    if (fwrite(PCA_MAGIC, 8, 1, fp) != 1 || fwrite(head, sizeof head, 1, fp) != 1 || fwrite(p->mean, 8, d, fp) != d ||
        fwrite(p->variance, 8, d, fp) != d || fwrite(p->vectors, 8, kd, fp) != kd)
        return mla_error(MLA_ERR_IO, "pca: write failed");
    return MLA_OK;
}

static mla_status check_loaded(const mla_pca *p) {
    for (int c = 0; c < p->d; c++) {
        if (!isfinite(p->mean[c]) || !(p->variance[c] >= 0) || !isfinite(p->variance[c]))
            return mla_error(MLA_ERR_FORMAT, "pca: corrupt mean or variance %d", c);
        if (c > 0 && p->variance[c] > p->variance[c - 1])
            return mla_error(MLA_ERR_FORMAT, "pca: corrupt variances (not decreasing at %d)", c);
    }
    for (size_t i = 0; i < (size_t)p->available * p->d; i++)
        if (!isfinite(p->vectors[i]) || fabs(p->vectors[i]) > 1.0 + 1e-6)
            return mla_error(MLA_ERR_FORMAT, "pca: corrupt component entry %zu", i);
    return MLA_OK;
}

mla_status mla_pca_read(FILE *fp, mla_pca **out) {
    *out = NULL;
    char magic[8];
    int32_t head[2];
    if (fread(magic, 8, 1, fp) != 1 || memcmp(magic, PCA_MAGIC, 8) != 0)
        return mla_error(MLA_ERR_FORMAT, "pca: missing or wrong PCA section");
    if (fread(head, sizeof head, 1, fp) != 1) return mla_error(MLA_ERR_FORMAT, "pca: truncated header");
    if (head[0] < 1 || head[0] > PCA_MAX_DIM || head[1] < 1 || head[1] > head[0])
        return mla_error(MLA_ERR_FORMAT, "pca: corrupt header (%d features, %d components)", head[0], head[1]);
    mla_pca *p = pca_alloc(head[0], head[1]);
    if (!p) return MLA_ERR_NOMEM;
    size_t d = (size_t)p->d, kd = (size_t)p->available * d;
    mla_status st = MLA_OK;
    if (fread(p->mean, 8, d, fp) != d || fread(p->variance, 8, d, fp) != d || fread(p->vectors, 8, kd, fp) != kd)
        st = mla_error(MLA_ERR_FORMAT, "pca: truncated (expected %d components of %d features)", head[1], head[0]);
    if (st == MLA_OK) st = check_loaded(p);
    if (st == MLA_OK) {
        fill_ratios(p);
        st = mla_pca_keep(p, p->available);
    }
    if (st != MLA_OK) {
        mla_pca_free(p);
        return st;
    }
    *out = p;
    return MLA_OK;
}
