/* Seeded index sets: stratified subsets and disjoint splits. */
#include "data/data_impl.h"

#include <stdlib.h>
#include <string.h>

/* Per-class quotas: floor(k * count / n), then the leftover units to the classes
 * with the largest remainders (ties to the lower class), so they sum to exactly k.
 * A class never gets more than it holds, since k <= n. */
static void class_quotas(const int *counts, int classes, int n, int k, int *quota, int64_t *rem) {
    int assigned = 0;
    for (int c = 0; c < classes; c++) {
        int64_t share = (int64_t)k * counts[c];
        quota[c] = (int)(share / n);
        rem[c] = share % n;
        assigned += quota[c];
    }
    for (; assigned < k; assigned++) {
        int best = -1;
        for (int c = 0; c < classes; c++)
            if (rem[c] > 0 && (best < 0 || rem[c] > rem[best])) best = c;
        quota[best]++;
        rem[best] = 0;
    }
}

/* Indices grouped by class (a counting sort); starts[c] is where class c begins. */
static void group_by_class(const int32_t *labels, int n, int classes, const int *counts, int *starts,
                           int *fill, int32_t *grouped) {
    starts[0] = 0;
    for (int c = 1; c <= classes; c++) starts[c] = starts[c - 1] + counts[c - 1];
    for (int i = 0; i < n; i++) grouped[starts[labels[i]] + fill[labels[i]]++] = i;
}

static mla_status check_stratify_args(const int32_t *labels, int n, int classes, int k) {
    if (n < 0 || classes < 1 || k < 0 || (n > 0 && !labels))
        return mla_error(MLA_ERR_INVALID, "stratified subset: bad arguments (n %d, classes %d, k %d)", n, classes, k);
    if (k > n) return mla_error(MLA_ERR_INVALID, "stratified subset: asked for %d samples of %d", k, n);
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return mla_error(MLA_ERR_INVALID, "stratified subset: label %d at index %d is outside 0..%d",
                             (int)labels[i], i, classes - 1);
    return MLA_OK;
}

mla_status mla_stratified_indices(const int32_t *labels, int n, int classes, int k, uint64_t seed, int32_t *out) {
    mla_status s = check_stratify_args(labels, n, classes, k);
    if (!s && k > 0 && !out) s = mla_error(MLA_ERR_INVALID, "stratified subset: no output array");
    if (s || k == 0) return s;
    int *counts = mla_alloc((size_t)classes, sizeof *counts);
    int *quota = mla_alloc((size_t)classes, sizeof *quota);
    int *starts = mla_alloc((size_t)classes + 1, sizeof *starts);
    int *fill = mla_alloc((size_t)classes, sizeof *fill);
    int64_t *rem = mla_alloc((size_t)classes, sizeof *rem);
    int32_t *grouped = mla_alloc((size_t)n, sizeof *grouped);
    if (!counts || !quota || !starts || !fill || !rem || !grouped) {
        s = MLA_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < n; i++) counts[labels[i]]++;
    class_quotas(counts, classes, n, k, quota, rem);
    group_by_class(labels, n, classes, counts, starts, fill, grouped);
    mla_rng rng;
    mla_rng_seed(&rng, seed);
    int filled = 0;
    for (int c = 0; c < classes; c++) {
        int32_t *group = grouped + starts[c];
        for (int j = 0; j < quota[c]; j++) { /* partial Fisher-Yates: quota[c] draws without replacement */
            int r = j + (int)mla_rng_below(&rng, (uint64_t)(counts[c] - j));
            int32_t t = group[j];
            group[j] = group[r];
            group[r] = t;
            out[filled++] = group[j];
        }
    }
    mla_rng_shuffle(&rng, out, k);
done:
    free(counts);
    free(quota);
    free(starts);
    free(fill);
    free(rem);
    free(grouped);
    return s;
}

mla_status mla_split_indices(int n, const int *sizes, int parts, uint64_t seed, int32_t **parts_out) {
    if (n < 0 || parts < 0 || (parts > 0 && (!sizes || !parts_out)))
        return mla_error(MLA_ERR_INVALID, "split: bad arguments (n %d, parts %d)", n, parts);
    int64_t total = 0;
    for (int i = 0; i < parts; i++) {
        parts_out[i] = NULL;
        if (sizes[i] < 0) return mla_error(MLA_ERR_INVALID, "split: part %d has negative size %d", i, sizes[i]);
        total += sizes[i];
    }
    if (total > n) return mla_error(MLA_ERR_INVALID, "split: parts add up to %lld but there are only %d samples", (long long)total, n);
    int32_t *perm = mla_alloc((size_t)n, sizeof *perm);
    if (!perm) return MLA_ERR_NOMEM;
    mla_rng rng;
    mla_rng_seed(&rng, seed);
    mla_rng_permutation(&rng, perm, n);
    for (int i = 0, at = 0; i < parts; at += sizes[i], i++) {
        parts_out[i] = mla_alloc((size_t)sizes[i], sizeof(int32_t));
        if (!parts_out[i]) {
            for (int j = 0; j < i; j++) free(parts_out[j]), parts_out[j] = NULL;
            free(perm);
            return MLA_ERR_NOMEM;
        }
        memcpy(parts_out[i], perm + at, (size_t)sizes[i] * sizeof(int32_t));
    }
    free(perm);
    return MLA_OK;
}
