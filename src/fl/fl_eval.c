/* mla_evaluate split over the ranks of a transport (fl.h).
 *
 * Why this gives mla_evaluate's bits: mla_evaluate adds, batch after batch in order,
 * the double (float mean loss x b) and the batch's correct count. Here the batches are
 * the same (the same `batch`, from the same first image), each rank evaluates a
 * contiguous block of them one batch per mla_evaluate call, and rank 0 adds the
 * per-batch terms in batch order. A one-batch call returns loss = (f x b) / b, which is
 * exactly f (f x b is exact in a double: 24 bits times at most 31), so the term f x b
 * is recovered exactly; the correct count is accuracy x b rounded. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fl/fl_impl.h"

typedef struct {
    double correct, loss; /* one batch's correct count and its loss term (mean x size) */
} batch_terms;

/* Batch j's terms, j in [0, n_batches): images idx[j*batch ..] (or j*batch .. when idx is NULL). */
static mla_status eval_batch(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int batch, int j,
                             int32_t *scratch, batch_terms *out) {
    int first = j * batch, b = n - first < batch ? n - first : batch;
    const int32_t *ids = idx ? idx + first : scratch;
    if (!idx)
        for (int i = 0; i < b; i++) scratch[i] = first + i;
    mla_eval_result e;
    mla_status s = mla_evaluate(net, ds, ids, b, b, &e, NULL, NULL);
    if (s) return s;
    out->correct = nearbyint(e.accuracy * b);
    out->loss = e.loss * b;
    return MLA_OK;
}

/* Rank r's block of batches: [nb r / P, nb (r + 1) / P). */
static int block_start(int n_batches, int rank, int size) { return (int)((long)n_batches * rank / size); }

mla_status mla_fl_evaluate(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int batch,
                           const mla_transport *t, mla_eval_result *res) {
    if (!t || t->size <= 1) return mla_evaluate(net, ds, idx, n, batch, res, NULL, NULL);
    memset(res, 0, sizeof *res);
    mla_status s = mla_check_compatible(net, ds);
    if (s) return s;
    if (batch < 1) return mla_error(MLA_ERR_INVALID, "batch size must be at least 1, got %d", batch);
    if (n < 0) return mla_error(MLA_ERR_INVALID, "cannot evaluate %d images", n);
    int n_batches = (n + batch - 1) / batch;
    int lo = block_start(n_batches, t->rank, t->size), hi = block_start(n_batches, t->rank + 1, t->size);
    batch_terms *terms = mla_alloc((size_t)n_batches + 1, sizeof *terms);
    int32_t *scratch = mla_alloc((size_t)batch, sizeof *scratch);
    if (!terms || !scratch) s = MLA_ERR_NOMEM;
    for (int j = lo; !s && j < hi; j++) s = eval_batch(net, ds, idx, n, batch, j, scratch, &terms[j]);
    if (!s && t->rank != 0 && hi > lo) s = t->send(t->user, terms + lo, (size_t)(hi - lo) * sizeof *terms, 0);
    for (int r = 1; !s && t->rank == 0 && r < t->size; r++) {
        int a = block_start(n_batches, r, t->size), b = block_start(n_batches, r + 1, t->size);
        if (b > a) s = t->recv(t->user, terms + a, (size_t)(b - a) * sizeof *terms, r);
    }
    double sums[2] = {0, 0}; /* correct, loss: added in batch order, as mla_evaluate does */
    for (int j = 0; !s && t->rank == 0 && j < n_batches; j++) sums[0] += terms[j].correct, sums[1] += terms[j].loss;
    if (!s) s = t->bcast(t->user, sums, sizeof sums);
    if (!s) {
        res->n = n;
        res->accuracy = n ? sums[0] / n : 0;
        res->loss = n ? sums[1] / n : 0;
    }
    free(terms);
    free(scratch);
    return s;
}
