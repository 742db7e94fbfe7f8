/* Client partitions (IID, Dirichlet label skew, label-sorted shards) as index views,
 * and their label histograms. Definitions: include/mlaudit/fl.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/fl.h"

struct mla_fl_clients {
    int n_clients;
    int *start;     /* n_clients + 1 offsets into idx */
    int32_t *idx;   /* every client's indices, client after client */
};

mla_status mla_fl_partition_parse(const char *text, mla_fl_partition *out) {
    memset(out, 0, sizeof *out);
    if (!text) return mla_error(MLA_ERR_INVALID, "no partition given");
    char *end;
    if (!strcmp(text, "iid")) {
        out->kind = MLA_FL_IID;
        return MLA_OK;
    }
    if (!strncmp(text, "dirichlet:", 10)) {
        out->kind = MLA_FL_DIRICHLET;
        out->alpha = strtod(text + 10, &end);
        if (end == text + 10 || *end || !(out->alpha > 0) || !isfinite(out->alpha))
            return mla_error(MLA_ERR_INVALID, "partition '%s': the Dirichlet alpha must be a number > 0", text);
        return MLA_OK;
    }
    if (!strncmp(text, "shards:", 7)) {
        out->kind = MLA_FL_SHARDS;
        long s = strtol(text + 7, &end, 10);
        if (end == text + 7 || *end || s < 1 || s > 1000000)
            return mla_error(MLA_ERR_INVALID, "partition '%s': the shards per client must be an integer >= 1", text);
        out->shards = (int)s;
        return MLA_OK;
    }
    return mla_error(MLA_ERR_INVALID, "unknown partition '%s' (iid, dirichlet:ALPHA or shards:S)", text);
}

void mla_fl_clients_free(mla_fl_clients *c) {
    if (!c) return;
    free(c->start);
    free(c->idx);
    free(c);
}

int mla_fl_clients_count(const mla_fl_clients *c) { return c->n_clients; }
int mla_fl_client_size(const mla_fl_clients *c, int client) { return c->start[client + 1] - c->start[client]; }
const int32_t *mla_fl_client_indices(const mla_fl_clients *c, int client) { return c->idx + c->start[client]; }
int mla_fl_clients_total(const mla_fl_clients *c) { return c->start[c->n_clients]; }

void mla_fl_label_histogram(const mla_fl_clients *c, const int32_t *labels, int classes, int64_t *counts) {
    memset(counts, 0, (size_t)c->n_clients * classes * sizeof *counts);
    for (int i = 0; i < c->n_clients; i++)
        for (int j = c->start[i]; j < c->start[i + 1]; j++) counts[(size_t)i * classes + labels[c->idx[j]]]++;
}

void mla_fl_dirichlet(mla_rng *r, const double *conc, int k, double *q) {
    double sum = 0;
    for (int j = 0; j < k; j++) sum += q[j] = conc[j] > 0 ? mla_rng_gamma(r, conc[j]) : 0;
    if (sum > 0) {
        for (int j = 0; j < k; j++) q[j] /= sum;
        return;
    }
    int positive = 0; /* every draw underflowed (tiny concentrations): one class takes all */
    for (int j = 0; j < k; j++) positive += conc[j] > 0;
    uint64_t pick = mla_rng_below(r, (uint64_t)positive);
    for (int j = 0; j < k; j++) q[j] = conc[j] > 0 && pick-- == 0 ? 1 : 0;
}

/* A clients object with `n_clients` clients of `each` indices (start filled). */
static mla_status clients_alloc(int n_clients, int each, mla_fl_clients **out) {
    mla_fl_clients *c = mla_alloc(1, sizeof *c);
    if (!c) return MLA_ERR_NOMEM;
    c->n_clients = n_clients;
    c->start = mla_alloc((size_t)n_clients + 1, sizeof *c->start);
    c->idx = mla_alloc((size_t)n_clients * each + 1, sizeof *c->idx);
    if (!c->start || !c->idx) {
        mla_fl_clients_free(c);
        return MLA_ERR_NOMEM;
    }
    for (int i = 0; i <= n_clients; i++) c->start[i] = i * each;
    *out = c;
    return MLA_OK;
}

static int32_t pool_at(const int32_t *pool, int i) { return pool ? pool[i] : i; }

static mla_status make_iid(const int32_t *pool, int n, int n_clients, mla_rng *r, mla_fl_clients **out) {
    int each = n / n_clients;
    int32_t *perm = mla_alloc((size_t)n, sizeof *perm);
    mla_status s = perm ? clients_alloc(n_clients, each, out) : MLA_ERR_NOMEM;
    if (!s) {
        mla_rng_permutation(r, perm, n);
        for (int i = 0; i < n_clients * each; i++) (*out)->idx[i] = pool_at(pool, perm[i]);
    }
    free(perm);
    return s;
}

/* Pool indices grouped by class: by_class[first[k] .. first[k + 1]) holds class k's, in
 * pool order. first has classes + 1 entries. */
static mla_status group_by_class(const int32_t *labels, int classes, const int32_t *pool, int n, int32_t **by_class,
                                 int **first) {
    *by_class = mla_alloc((size_t)n, sizeof **by_class);
    *first = mla_alloc((size_t)classes + 1, sizeof **first);
    int *fill = mla_alloc((size_t)classes + 1, sizeof *fill);
    if (!*by_class || !*first || !fill) {
        free(fill);
        return MLA_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) (*first)[labels[pool_at(pool, i)] + 1]++;
    for (int k = 0; k < classes; k++) (*first)[k + 1] += (*first)[k];
    memcpy(fill, *first, (size_t)classes * sizeof *fill);
    for (int i = 0; i < n; i++) (*by_class)[fill[labels[pool_at(pool, i)]]++] = pool_at(pool, i);
    free(fill);
    return MLA_OK;
}

static mla_status make_shards(const int32_t *labels, int classes, const int32_t *pool, int n, int n_clients,
                              int per_client, mla_rng *r, mla_fl_clients **out) {
    long n_shards = (long)n_clients * per_client;
    int size = (int)(n / n_shards);
    int32_t *sorted = NULL, *perm = mla_alloc((size_t)n_shards, sizeof *perm);
    int *first = NULL;
    mla_status s = perm ? group_by_class(labels, classes, pool, n, &sorted, &first) : MLA_ERR_NOMEM;
    if (!s) s = clients_alloc(n_clients, per_client * size, out);
    if (!s) {
        mla_rng_permutation(r, perm, (int32_t)n_shards);
        int32_t *dst = (*out)->idx;
        for (long j = 0; j < n_shards; j++, dst += size) memcpy(dst, sorted + (size_t)perm[j] * size, size * sizeof *dst);
    }
    free(sorted);
    free(first);
    free(perm);
    return s;
}

/* Draws a class from q over the classes with indices left (left[k] > 0); falls back to
 * weights left[k] when q has no mass there. */
static int draw_class(mla_rng *r, const double *q, const int *left, int classes) {
    double mass = 0;
    for (int k = 0; k < classes; k++) mass += left[k] > 0 ? q[k] : 0;
    bool by_count = !(mass > 0);
    if (by_count)
        for (int k = 0; k < classes; k++) mass += left[k];
    double u = mla_rng_uniform(r) * mass, acc = 0;
    int last = -1;
    for (int k = 0; k < classes; k++) {
        if (left[k] <= 0) continue;
        acc += by_count ? left[k] : q[k];
        last = k;
        if (u < acc) return k;
    }
    return last; /* rounding at the top end */
}

static mla_status make_dirichlet(const int32_t *labels, int classes, const int32_t *pool, int n, int n_clients,
                                 double alpha, mla_rng *r, mla_fl_clients **out) {
    int each = n / n_clients;
    int32_t *by_class = NULL;
    int *first = NULL, *left = mla_alloc((size_t)classes, sizeof *left), *next = mla_alloc((size_t)classes, sizeof *next);
    double *conc = mla_alloc((size_t)classes, sizeof *conc), *q = mla_alloc((size_t)n_clients * classes, sizeof *q);
    mla_status s = left && next && conc && q ? group_by_class(labels, classes, pool, n, &by_class, &first) : MLA_ERR_NOMEM;
    if (!s) s = clients_alloc(n_clients, each, out);
    if (!s) {
        for (int k = 0; k < classes; k++) {
            left[k] = first[k + 1] - first[k];
            next[k] = first[k];
            conc[k] = alpha * left[k] / n;
            mla_rng_shuffle(r, by_class + first[k], left[k]);
        }
        for (int i = 0; i < n_clients; i++) mla_fl_dirichlet(r, conc, classes, q + (size_t)i * classes);
        for (int j = 0; j < each; j++)
            for (int i = 0; i < n_clients; i++) {
                int k = draw_class(r, q + (size_t)i * classes, left, classes);
                left[k]--;
                (*out)->idx[(size_t)i * each + j] = by_class[next[k]++];
            }
    }
    free(by_class);
    free(first);
    free(left);
    free(next);
    free(conc);
    free(q);
    return s;
}

mla_status mla_fl_partition_make(const mla_fl_partition *p, const int32_t *labels, int classes, const int32_t *pool,
                                 int n, int clients, uint64_t seed, mla_fl_clients **out) {
    *out = NULL;
    if (clients < 1) return mla_error(MLA_ERR_INVALID, "clients must be at least 1, got %d", clients);
    if (n < clients)
        return mla_error(MLA_ERR_INVALID, "%d clients but only %d training images: every client needs one", clients, n);
    if (classes < 1) return mla_error(MLA_ERR_INVALID, "no classes");
    for (int i = 0; i < n; i++) {
        int32_t y = labels[pool_at(pool, i)];
        if (y < 0 || y >= classes) return mla_error(MLA_ERR_INVALID, "label %d outside [0, %d)", (int)y, classes);
    }
    mla_rng root, r;
    mla_rng_seed(&root, seed);
    r = mla_rng_fork(&root, 1);
    switch (p->kind) {
    case MLA_FL_IID:
        return make_iid(pool, n, clients, &r, out);
    case MLA_FL_DIRICHLET:
        if (!(p->alpha > 0) || !isfinite(p->alpha))
            return mla_error(MLA_ERR_INVALID, "the Dirichlet alpha must be > 0, got %g", p->alpha);
        return make_dirichlet(labels, classes, pool, n, clients, p->alpha, &r, out);
    case MLA_FL_SHARDS:
        if (p->shards < 1) return mla_error(MLA_ERR_INVALID, "shards per client must be at least 1, got %d", p->shards);
        if ((long)clients * p->shards > n)
            return mla_error(MLA_ERR_INVALID, "%d clients x %d shards need at least %ld training images, got %d",
                             clients, p->shards, (long)clients * p->shards, n);
        return make_shards(labels, classes, pool, n, clients, p->shards, &r, out);
    }
    return mla_error(MLA_ERR_INVALID, "unknown partition kind %d", (int)p->kind);
}
