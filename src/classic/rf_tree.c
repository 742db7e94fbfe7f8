/* The native random forest's pieces below the forest: feature binning and one CART tree
 * (Gini impurity, histogram split search, bootstrap weights). Contracts in rf_impl.h. */
#include "classic/rf_impl.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- binning ---- */

#define HASH_SLOTS 1024 /* > 4 x 256: short probes while collecting up to 257 distinct values */

typedef struct {
    uint32_t key[HASH_SLOTS];
    int16_t bin[HASH_SLOTS]; /* -1: empty slot */
} value_table;

static uint32_t float_key(float v) {
    uint32_t k;
    if (v == 0) v = 0.0f; /* -0 and +0 are one value */
    memcpy(&k, &v, sizeof k);
    return k;
}

/* murmur3's finaliser: float bit patterns of k / 255 differ mostly in their low bits */
static unsigned slot_of(uint32_t key) {
    key ^= key >> 16, key *= 0x85ebca6bu, key ^= key >> 13, key *= 0xc2b2ae35u, key ^= key >> 16;
    return key & (HASH_SLOTS - 1);
}

/* The slot holding key, or the empty slot where it belongs. */
static unsigned find_slot(const value_table *t, uint32_t key) {
    unsigned s = slot_of(key);
    while (t->bin[s] >= 0 && t->key[s] != key) s = (s + 1) & (HASH_SLOTS - 1);
    return s;
}

/* The distinct values of a column (into vals, unsorted); -1 when there are more than RF_MAX_BINS. */
static int collect_distinct(const float *col, int n, value_table *t, float *vals) {
    int count = 0;
    uint32_t last = float_key(col[0]) ^ 1u; /* matches no value */
    memset(t->bin, 0xff, sizeof t->bin);
    for (int i = 0; i < n; i++) {
        float v = col[i];
        uint32_t key = float_key(v);
        if (key == last) continue; /* runs of one value (background pixels) */
        last = key;
        unsigned s = find_slot(t, key);
        if (t->bin[s] >= 0) continue;
        if (count == RF_MAX_BINS) return -1;
        t->key[s] = key, t->bin[s] = 0;
        vals[count++] = v == 0 ? 0.0f : v;
    }
    return count;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* A threshold t with lo <= t < hi: the midpoint when it lies strictly below hi, else lo. */
static float between(float lo, float hi) {
    float mid = (float)(0.5 * ((double)lo + (double)hi));
    return mid >= lo && mid < hi ? mid : lo;
}

/* Column j with few values: one bin per value, looked up through the table (runs of one
 * value, such as a pixel's background zeros, skip the lookup). */
static void bin_exact(const float *x, int n, int j, value_table *t, float *vals, int count, rf_binned *b) {
    qsort(vals, (size_t)count, sizeof *vals, cmp_float);
    float *edges = b->edges + (size_t)j * RF_MAX_EDGES;
    for (int k = 0; k + 1 < count; k++) edges[k] = between(vals[k], vals[k + 1]);
    b->n_edges[j] = (int16_t)(count - 1);
    for (int k = 0; k < count; k++) {
        t->bin[find_slot(t, float_key(vals[k]))] = (int16_t)k;
        b->lo[(size_t)j * RF_MAX_BINS + k] = b->hi[(size_t)j * RF_MAX_BINS + k] = vals[k];
    }
    uint8_t *col = b->bins + (size_t)j * n, last_bin = 0;
    uint32_t last = float_key(vals[0]) ^ 1u; /* matches no value */
    for (int i = 0; i < n; i++) {
        uint32_t key = float_key(x[i]);
        if (key != last) last = key, last_bin = (uint8_t)t->bin[find_slot(t, key)];
        col[i] = last_bin;
    }
}

/* The number of edges below v (binary search). */
static int bin_of(const float *edges, int n_edges, float v) {
    int lo = 0, hi = n_edges;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (edges[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Column with many values: quantile edges (rf_impl.h), values binned by search. */
static void bin_quantiles(const float *x, int n, int j, float *sorted, rf_binned *b) {
    memcpy(sorted, x, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_float);
    float *edges = b->edges + (size_t)j * RF_MAX_EDGES;
    int count = 0, u = 0;
    for (int q = 1; q < RF_MAX_BINS; q++) {
        int k = (int)((int64_t)q * n / RF_MAX_BINS);
        if (k < 1) continue;
        float v = sorted[k - 1];
        if (u < k) u = k;
        while (u < n && !(sorted[u] > v)) u++; /* the first value above v */
        if (u == n) break;
        float e = between(v, sorted[u]);
        if (count == 0 || e > edges[count - 1]) edges[count++] = e;
    }
    b->n_edges[j] = (int16_t)count;
    uint8_t *col = b->bins + (size_t)j * n;
    float *lo = b->lo + (size_t)j * RF_MAX_BINS, *hi = b->hi + (size_t)j * RF_MAX_BINS;
    for (int k = 0; k <= count; k++) lo[k] = INFINITY, hi[k] = -INFINITY;
    for (int i = 0; i < n; i++) {
        float v = x[i];
        int k = bin_of(edges, count, v);
        col[i] = (uint8_t)k;
        lo[k] = fminf(lo[k], v), hi[k] = fmaxf(hi[k], v);
    }
}

void rf_binned_free(rf_binned *b) {
    if (!b) return;
    free(b->bins), free(b->row_bins), free(b->n_edges), free(b->edges), free(b->lo), free(b->hi);
    memset(b, 0, sizeof *b);
}

/* Features [g, g + width) of the rows as contiguous columns (width x n): each row's
 * group is one cache line read, where reading a column of x alone would miss on every row. */
enum { BIN_GROUP = 16 };
static void gather_columns(const float *x, int n, int d, int g, int width, float *cols) {
    for (int i = 0; i < n; i++) {
        const float *row = x + (size_t)i * d + g;
        for (int k = 0; k < width; k++) cols[(size_t)k * n + i] = row[k];
    }
}

/* The group's bins, just written column by column and still in cache, into row_bins. */
static void scatter_rows(rf_binned *b, int g, int width) {
    int n = b->n, d = b->d;
    for (int i = 0; i < n; i++) {
        uint8_t *row = b->row_bins + (size_t)i * d + g;
        for (int k = 0; k < width; k++) row[k] = b->bins[(size_t)(g + k) * n + i];
    }
}

mla_status rf_bin(const float *x, int n, int d, rf_binned *out) {
    memset(out, 0, sizeof *out);
    out->n = n, out->d = d;
    out->bins = mla_alloc((size_t)n * (size_t)d, 1);
    out->n_edges = mla_alloc((size_t)d, sizeof *out->n_edges);
    out->edges = mla_alloc((size_t)d * RF_MAX_EDGES, sizeof *out->edges);
    out->lo = mla_alloc((size_t)d * RF_MAX_BINS, sizeof *out->lo);
    out->hi = mla_alloc((size_t)d * RF_MAX_BINS, sizeof *out->hi);
    out->row_bins = mla_alloc((size_t)n * (size_t)d, 1);
    int threads = mla_get_threads(),
        failed = !out->bins || !out->row_bins || !out->n_edges || !out->edges || !out->lo || !out->hi;
    #pragma omp parallel num_threads(threads) if (!failed)
    {
        value_table *t = malloc(sizeof *t);
        float *vals = malloc(RF_MAX_BINS * sizeof *vals), *sorted = NULL;
        float *cols = malloc((size_t)BIN_GROUP * (size_t)n * sizeof *cols);
        if (!t || !vals || !cols) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int g = 0; g < d; g += BIN_GROUP) {
            if (!t || !vals || !cols) continue;
            int width = d - g < BIN_GROUP ? d - g : BIN_GROUP;
            gather_columns(x, n, d, g, width, cols);
            for (int k = 0; k < width; k++) {
                const float *col = cols + (size_t)k * n;
                int count = collect_distinct(col, n, t, vals);
                if (count >= 0) {
                    bin_exact(col, n, g + k, t, vals, count, out);
                    continue;
                }
                if (!sorted && !(sorted = malloc((size_t)n * sizeof *sorted))) {
                    #pragma omp atomic write
                    failed = 1;
                    break;
                }
                bin_quantiles(col, n, g + k, sorted, out);
            }
            scatter_rows(out, g, width);
        }
        free(t), free(vals), free(sorted), free(cols);
    }
    if (failed) {
        rf_binned_free(out);
        return mla_error(MLA_ERR_NOMEM, "rf: out of memory binning %d x %d features", n, d);
    }
    return MLA_OK;
}

/* ---- trees ---- */

void rf_tree_free(rf_tree *t) {
    if (!t) return;
    free(t->nodes), free(t->leaf_proba);
    memset(t, 0, sizeof *t);
}

const float *rf_tree_leaf(const rf_tree *t, const float *x, int classes) {
    const rf_node *nodes = t->nodes;
    int i = 0;
    while (nodes[i].feature >= 0) i = x[nodes[i].feature] <= nodes[i].threshold ? nodes[i].left : nodes[i].right;
    return t->leaf_proba + (size_t)nodes[i].left * (size_t)classes;
}

/* Each walk is a chain of dependent loads (node, feature value, next node): RF_WALKS chains
 * side by side keep the core busy where one would wait on each load. */
void rf_tree_leaves(const rf_tree *t, const float *x, int d, const int32_t *rows, int count, int32_t *leaf) {
    const rf_node *nodes = t->nodes;
    int i = 0;
    for (; i + RF_WALKS <= count; i += RF_WALKS) {
        const float *row[RF_WALKS];
        int32_t at[RF_WALKS];
        for (int r = 0; r < RF_WALKS; r++) row[r] = x + (size_t)rows[i + r] * (size_t)d, at[r] = 0;
        for (int moving = 1; moving;) {
            moving = 0;
            for (int r = 0; r < RF_WALKS; r++) {
                const rf_node *nd = &nodes[at[r]];
                if (nd->feature < 0) continue;
                at[r] = row[r][nd->feature] <= nd->threshold ? nd->left : nd->right;
                moving = 1;
            }
        }
        for (int r = 0; r < RF_WALKS; r++) leaf[i + r] = nodes[at[r]].left;
    }
    for (; i < count; i++) {
        const float *row = x + (size_t)rows[i] * (size_t)d;
        int32_t at = 0;
        while (nodes[at].feature >= 0) at = row[nodes[at].feature] <= nodes[at].threshold ? nodes[at].left : nodes[at].right;
        leaf[i] = nodes[at].left;
    }
}

double rf_gini(const int64_t *counts, int classes) {
    int64_t total = 0;
    double sq = 0;
    for (int k = 0; k < classes; k++) total += counts[k];
    if (!total) return 0;
    for (int k = 0; k < classes; k++) sq += (double)counts[k] * (double)counts[k];
    return 1.0 - sq / ((double)total * (double)total);
}

void rf_bootstrap(uint64_t seed, int tree, int n, int32_t *weight, mla_rng *rng) {
    mla_rng base;
    mla_rng_seed(&base, seed);
    *rng = mla_rng_fork(&base, (uint64_t)tree);
    memset(weight, 0, (size_t)n * sizeof *weight);
    for (int i = 0; i < n; i++) weight[mla_rng_below(rng, (uint64_t)n)]++;
}

/* A node waiting to be grown: items[lo, hi) at depth, to be linked as parent's child;
 * compact: its items index the worker's block (below), not the training rows. */
typedef struct {
    int lo, hi, depth, parent, is_right, compact;
} pending;

/* Where a node reads bins: bin of item row r, feature f = base[r * row_stride + f * col_stride]. */
typedef struct {
    const uint8_t *base;
    size_t row_stride, col_stride;
} bin_view;

/* Nodes of at most COMPACT_ROWS items copy their rows' bins into a row-major block of the
 * worker (784 KB for 784 features: it stays in L2) and their whole subtree reads from it:
 * deep in a tree, each feature's gather from the n-long columns would miss the cache once
 * per item (measured: 25% less time per tree than 0, 10% less than 256 rows). The tree is
 * grown depth first, so a subtree is finished before the next block is filled: one block
 * per worker suffices. */
enum { COMPACT_ROWS = 1024 };
/* Nodes with at least this many items per class split by histogram (split_by_histogram),
 * smaller ones by sorting their items by bin: about 5% less time per tree than either alone. */
enum { HIST_ITEMS_PER_CLASS = 32 };

typedef struct {
    int32_t y, w;
} rf_label_weight;

struct rf_work {
    int n, d, classes;
    rf_item *items;      /* n */
    int32_t *features;   /* d: the draw order, a permutation */
    uint8_t *block;      /* COMPACT_ROWS x d row-major bins of the current compact subtree */
    uint8_t *item_bin;   /* n: each item's bin in the feature being scanned */
    rf_label_weight *sorted; /* n: the items' labels and weights ordered by bin */
    int32_t bin_rows[RF_MAX_BINS];  /* items per bin, zero between uses */
    int32_t bin_start[RF_MAX_BINS]; /* each bin's run in sorted */
    int32_t *hist;       /* RF_MAX_BINS x classes counts, zero between uses (NULL: too many classes) */
    int64_t *node, *left, *right; /* classes each */
    pending *stack;
    int stack_cap;
    /* Features known to be constant on a node: a feature constant on a node is constant on
     * every node below it, so when drawn again there it is counted without a pass over the
     * items (the draws, and so the tree, are unchanged). known: stack_cap x words bitsets
     * parallel to the stack; current: the node being grown. */
    int words;
    uint64_t *known, *current;
};

void rf_work_free(rf_work *w) {
    if (!w) return;
    free(w->items), free(w->features), free(w->block), free(w->item_bin), free(w->sorted), free(w->hist);
    free(w->node), free(w->left), free(w->right), free(w->stack), free(w->known), free(w->current);
    free(w);
}

rf_work *rf_work_create(int n, int d, int classes) {
    rf_work *w = mla_alloc(1, sizeof *w);
    if (!w) return NULL;
    w->n = n, w->d = d, w->classes = classes;
    w->items = mla_alloc((size_t)n, sizeof *w->items);
    w->features = mla_alloc((size_t)d, sizeof *w->features);
    w->block = mla_alloc((size_t)COMPACT_ROWS * (size_t)d, 1);
    w->item_bin = mla_alloc((size_t)n, 1);
    if (classes <= 1024) w->hist = mla_alloc((size_t)RF_MAX_BINS * (size_t)classes, sizeof *w->hist);
    w->sorted = mla_alloc((size_t)n, sizeof *w->sorted);
    w->node = mla_alloc((size_t)classes, sizeof *w->node);
    w->left = mla_alloc((size_t)classes, sizeof *w->left);
    w->right = mla_alloc((size_t)classes, sizeof *w->right);
    w->stack_cap = 64;
    w->stack = mla_alloc((size_t)w->stack_cap, sizeof *w->stack);
    w->words = (d + 63) / 64;
    w->known = mla_alloc((size_t)w->stack_cap * (size_t)w->words, sizeof *w->known);
    w->current = mla_alloc((size_t)w->words, sizeof *w->current);
    if (!w->items || !w->features || !w->block || !w->item_bin || !w->sorted || !w->node || !w->left || !w->right ||
        !w->stack || !w->known || !w->current) {
        rf_work_free(w);
        return NULL;
    }
    for (int j = 0; j < d; j++) w->features[j] = j;
    return w;
}

/* Weighted class counts of items into counts; returns their total weight. */
static int64_t count_classes(const rf_item *items, int m, int classes, int64_t *counts) {
    int64_t total = 0;
    memset(counts, 0, (size_t)classes * sizeof *counts);
    for (int i = 0; i < m; i++) counts[items[i].y] += items[i].w, total += items[i].w;
    return total;
}

static int64_t sum_squares(const int64_t *counts, int classes) {
    int64_t sq = 0;
    for (int k = 0; k < classes; k++) sq += counts[k] * counts[k];
    return sq;
}

/* Counts the items per bin of column col (w->bin_rows), remembers each item's bin
 * (w->item_bin) and marks the non-empty bins in mask. */
static void count_bins(const uint8_t *col, size_t row_stride, const rf_item *items, int m, rf_work *w,
                       uint64_t mask[4]) {
    int32_t *rows = w->bin_rows;
    uint8_t *item_bin = w->item_bin;
    mask[0] = mask[1] = mask[2] = mask[3] = 0;
    for (int i = 0; i < m; i++) {
        int b = col[(size_t)items[i].row * row_stride];
        item_bin[i] = (uint8_t)b;
        rows[b]++;
        mask[b >> 6] |= (uint64_t)1 << (b & 63);
    }
}

/* The next non-empty bin at or after b (RF_MAX_BINS when none). */
static int next_bin(const uint64_t mask[4], int b) {
    while (b < RF_MAX_BINS) {
        uint64_t bits = mask[b >> 6] >> (b & 63);
        if (bits) return b + __builtin_ctzll(bits);
        b = (b | 63) + 1;
    }
    return RF_MAX_BINS;
}

/* Counting sort of the items' (label, weight) by bin into w->sorted; bin b's run starts at
 * w->bin_start[b]. Clears w->bin_rows. */
static void sort_by_bin(const rf_item *items, int m, const uint64_t mask[4], rf_work *w) {
    int at = 0;
    for (int b = next_bin(mask, 0); b < RF_MAX_BINS; b = next_bin(mask, b + 1)) {
        w->bin_start[b] = at, at += w->bin_rows[b];
        w->bin_rows[b] = 0;
    }
    for (int i = 0; i < m; i++) {
        int b = w->item_bin[i];
        w->sorted[w->bin_start[b]++] = (rf_label_weight){items[i].y, items[i].w};
    }
    /* bin_start[b] now ends bin b's run */
}

/* The node's statistics that every feature's scan starts from. */
typedef struct {
    const int64_t *counts; /* classes */
    int64_t total, sq;     /* weight, sum of squared class weights */
} node_stats;

/* Records the boundary after bin b (next: the following non-empty bin) when it beats *best. */
static void consider(const rf_binned *data, int f, int b, int next, int64_t sq_left, int64_t sq_right, int64_t w_left,
                     const node_stats *node, rf_split *best) {
    double proxy = (double)sq_left / (double)w_left + (double)sq_right / (double)(node->total - w_left);
    if (best->feature >= 0 && !(proxy > best->proxy)) return;
    size_t at = (size_t)f * RF_MAX_BINS;
    float thr = between(data->hi[at + b], data->lo[at + next]);
    *best = (rf_split){f, b, thr, proxy, proxy - (double)node->sq / (double)node->total};
}

/* Scans the boundaries of the bins in order; see rf_split_feature. */
static void scan_bins(const rf_binned *data, const uint64_t mask[4], int m, int f, int min_samples_leaf, int classes,
                      const node_stats *node, rf_work *w, rf_split *best) {
    int64_t *left = w->left, *right = w->right, sq_left = 0, sq_right = node->sq, w_left = 0;
    memset(left, 0, (size_t)classes * sizeof *left);
    memcpy(right, node->counts, (size_t)classes * sizeof *right);
    int i = 0;
    for (int b = next_bin(mask, 0), next; b < RF_MAX_BINS; b = next) {
        next = next_bin(mask, b + 1);
        if (next == RF_MAX_BINS) break; /* the last bin cannot go left */
        for (; i < w->bin_start[b]; i++) {
            int32_t y = w->sorted[i].y;
            int64_t v = w->sorted[i].w;
            sq_left += 2 * left[y] * v + v * v;
            sq_right += v * v - 2 * right[y] * v;
            left[y] += v, right[y] -= v, w_left += v;
        }
        if (i < min_samples_leaf || m - i < min_samples_leaf) continue;
        consider(data, f, b, next, sq_left, sq_right, w_left, node, best);
    }
}

/* Large nodes: one pass into per-bin class counts, then a scan over bins x classes (cheaper
 * than sorting the items once there are many more items than bins x classes). Same splits
 * as the sorted scan: the sums are exact integers either way. */
static int split_by_histogram(const rf_binned *data, const bin_view *v, const rf_item *items, int m, int f,
                              int min_samples_leaf, int classes, const node_stats *node, rf_work *w, rf_split *best) {
    const uint8_t *col = v->base + (size_t)f * v->col_stride;
    int32_t *hist = w->hist, *rows = w->bin_rows;
    uint64_t mask[4] = {0, 0, 0, 0};
    for (int i = 0; i < m; i++) {
        int b = col[(size_t)items[i].row * v->row_stride];
        hist[b * classes + items[i].y] += items[i].w;
        rows[b]++;
        mask[b >> 6] |= (uint64_t)1 << (b & 63);
    }
    int64_t *left = w->left, *right = w->right, sq_left = 0, sq_right = node->sq, w_left = 0;
    memset(left, 0, (size_t)classes * sizeof *left);
    memcpy(right, node->counts, (size_t)classes * sizeof *right);
    int m_left = 0, varying = 0;
    for (int b = next_bin(mask, 0), next; b < RF_MAX_BINS; b = next) {
        next = next_bin(mask, b + 1);
        int32_t *c = hist + (size_t)b * classes;
        if (next < RF_MAX_BINS) {
            varying = 1;
            for (int k = 0; k < classes; k++) {
                int64_t x = c[k];
                if (!x) continue;
                sq_left += 2 * left[k] * x + x * x;
                sq_right += x * x - 2 * right[k] * x;
                left[k] += x, right[k] -= x, w_left += x;
            }
            m_left += rows[b];
            if (m_left >= min_samples_leaf && m - m_left >= min_samples_leaf)
                consider(data, f, b, next, sq_left, sq_right, w_left, node, best);
        }
        memset(c, 0, (size_t)classes * sizeof *c);
        rows[b] = 0;
    }
    return varying;
}

/* rf_split_feature with the node's statistics computed once by the caller. */
static int split_feature(const rf_binned *data, const bin_view *v, const rf_item *items, int m, int f, int min_samples_leaf, int classes,
                         const node_stats *node, rf_work *w, rf_split *best) {
    if (w->hist && m >= HIST_ITEMS_PER_CLASS * classes)
        return split_by_histogram(data, v, items, m, f, min_samples_leaf, classes, node, w, best);
    uint64_t mask[4];
    count_bins(v->base + (size_t)f * v->col_stride, v->row_stride, items, m, w, mask);
    int first = next_bin(mask, 0);
    if (next_bin(mask, first + 1) == RF_MAX_BINS) {
        w->bin_rows[first] = 0;
        return 0;
    }
    sort_by_bin(items, m, mask, w);
    scan_bins(data, mask, m, f, min_samples_leaf, classes, node, w, best);
    return 1;
}

int rf_split_feature(const rf_binned *data, const rf_item *items, int m, int f, int min_samples_leaf, int classes,
                     rf_work *w, rf_split *best) {
    node_stats node = {w->node, count_classes(items, m, classes, w->node), 0};
    node.sq = sum_squares(w->node, classes);
    bin_view v = {data->bins, 1, (size_t)data->n};
    return split_feature(data, &v, items, m, f, min_samples_leaf, classes, &node, w, best);
}

/* Draws candidate features for a node (rf_grow's rule) and returns the best split (feature -1: none). */
static rf_split best_split(const rf_binned *data, const bin_view *v, const rf_item *items, int m,
                           const rf_settings *s, const node_stats *node, mla_rng *rng, rf_work *w) {
    rf_split best = {-1, -1, 0, 0, 0};
    int varying = 0, d = data->d;
    for (int drawn = 0; drawn < d && (drawn < s->max_features || !varying); drawn++) {
        int j = drawn + (int)mla_rng_below(rng, (uint64_t)(d - drawn));
        int32_t f = w->features[j];
        w->features[j] = w->features[drawn], w->features[drawn] = f;
        uint64_t bit = (uint64_t)1 << (f & 63);
        if (w->current[f >> 6] & bit) continue;
        if (split_feature(data, v, items, m, f, s->min_samples_leaf, s->classes, node, w, &best)) varying = 1;
        else w->current[f >> 6] |= bit;
    }
    return best;
}

/* Items with bin <= b first; returns how many. */
static int partition(const uint8_t *col, size_t row_stride, rf_item *items, int m, int b) {
    int i = 0, j = m - 1;
    while (i <= j) {
        if (col[(size_t)items[i].row * row_stride] <= b) {
            i++;
        } else {
            rf_item t = items[i];
            items[i] = items[j], items[j--] = t;
        }
    }
    return i;
}

/* Growable arrays of the tree under construction. */
typedef struct {
    int node_cap, leaf_cap;
} tree_caps;

static int add_node(rf_tree *t, tree_caps *caps) {
    if (t->n_nodes == caps->node_cap) {
        int cap = caps->node_cap ? 2 * caps->node_cap : 256;
        rf_node *p = realloc(t->nodes, (size_t)cap * sizeof *p);
        if (!p) return -1;
        t->nodes = p, caps->node_cap = cap;
    }
    return t->n_nodes++;
}

static int add_leaf(rf_tree *t, tree_caps *caps, const int64_t *counts, int64_t total, int classes) {
    if (t->n_leaves == caps->leaf_cap) {
        int cap = caps->leaf_cap ? 2 * caps->leaf_cap : 128;
        float *p = realloc(t->leaf_proba, (size_t)cap * (size_t)classes * sizeof *p);
        if (!p) return -1;
        t->leaf_proba = p, caps->leaf_cap = cap;
    }
    float *row = t->leaf_proba + (size_t)t->n_leaves * classes;
    for (int k = 0; k < classes; k++) row[k] = (float)((double)counts[k] / (double)total);
    return t->n_leaves++;
}

/* Pushes p with the current node's known constants. */
static int push(rf_work *w, int *top, pending p) {
    size_t words = (size_t)w->words;
    if (*top == w->stack_cap) {
        pending *s = realloc(w->stack, (size_t)w->stack_cap * 2 * sizeof *s);
        if (s) w->stack = s;
        uint64_t *k = s ? realloc(w->known, (size_t)w->stack_cap * 2 * words * sizeof *k) : NULL;
        if (!k) return -1;
        w->known = k, w->stack_cap *= 2;
    }
    memcpy(w->known + (size_t)*top * words, w->current, words * sizeof *w->current);
    w->stack[(*top)++] = p;
    return 0;
}

/* The in-bag rows as items, in row order; returns how many. */
static int gather_items(const int32_t *y, const int32_t *weight, int n, rf_item *items) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (weight[i] > 0) items[m++] = (rf_item){i, y[i], weight[i]};
    return m;
}

/* Copies the items' rows of bins into w->block and renumbers the items to their block rows. */
static void compact(const rf_binned *data, rf_item *items, int m, rf_work *w) {
    size_t d = (size_t)data->d;
    for (int i = 0; i < m; i++) {
        memcpy(w->block + (size_t)i * d, data->row_bins + (size_t)items[i].row * d, d);
        items[i].row = i;
    }
}

/* Grows the node just popped from the stack (items[p.lo, p.hi)); pushes its children. */
static int grow_node(const rf_binned *data, const rf_settings *s, mla_rng *rng, rf_work *w, rf_tree *t, tree_caps *caps,
                     int *top, double *importance) {
    pending p = w->stack[*top];
    memcpy(w->current, w->known + (size_t)*top * w->words, (size_t)w->words * sizeof *w->current);
    int id = add_node(t, caps);
    if (id < 0) return -1;
    if (p.parent >= 0) *(p.is_right ? &t->nodes[p.parent].right : &t->nodes[p.parent].left) = id;
    rf_item *items = w->items + p.lo;
    int m = p.hi - p.lo;
    int64_t total = count_classes(items, m, s->classes, w->node);
    node_stats node = {w->node, total, sum_squares(w->node, s->classes)};
    int leaf = (s->max_depth > 0 && p.depth >= s->max_depth) || m < 2 * s->min_samples_leaf || node.sq == total * total;
    rf_split split = {-1, -1, 0, 0, 0};
    if (!leaf && !p.compact && m <= COMPACT_ROWS) compact(data, items, m, w), p.compact = 1;
    bin_view v = {data->bins, 1, (size_t)data->n};
    if (p.compact) v = (bin_view){w->block, (size_t)data->d, 1};
    if (!leaf) split = best_split(data, &v, items, m, s, &node, rng, w);
    if (split.feature < 0) {
        int row = add_leaf(t, caps, w->node, total, s->classes);
        t->nodes[id] = (rf_node){-1, 0.0f, row, -1};
        return row < 0 ? -1 : 0;
    }
    int f = split.feature, mid = partition(v.base + (size_t)f * v.col_stride, v.row_stride, items, m, split.bin);
    t->nodes[id] = (rf_node){f, split.threshold, -1, -1};
    importance[f] += split.decrease;
    if (push(w, top, (pending){p.lo + mid, p.hi, p.depth + 1, id, 1, p.compact}) ||
        push(w, top, (pending){p.lo, p.lo + mid, p.depth + 1, id, 0, p.compact}))
        return -1;
    return 0;
}

mla_status rf_grow(const rf_binned *data, const int32_t *y, const int32_t *weight, const rf_settings *s, mla_rng *rng,
                   rf_work *w, rf_tree *tree, double *importance) {
    memset(tree, 0, sizeof *tree);
    tree_caps caps = {0, 0};
    int m = gather_items(y, weight, data->n, w->items), top = 0, failed = 0;
    for (int j = 0; j < data->d; j++) w->features[j] = j; /* the draws depend on the tree's rng alone */
    if (m == 0) return mla_error(MLA_ERR_INVALID, "rf: empty bootstrap sample");
    memset(w->current, 0, (size_t)w->words * sizeof *w->current);
    push(w, &top, (pending){0, m, 0, -1, 0, 0});
    while (top > 0 && !failed) {
        top--;
        failed = grow_node(data, s, rng, w, tree, &caps, &top, importance);
    }
    if (failed) {
        rf_tree_free(tree);
        return mla_error(MLA_ERR_NOMEM, "rf: out of memory growing a tree");
    }
    return MLA_OK;
}
