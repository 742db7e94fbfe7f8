/* Speed of the robustness audit's two heavy parts, on the dknn preset with seeded random
 * weights (speed does not depend on the weights), printing one JSON line:
 *   mla_robust_bench dknn THREADS N_TRAIN N_QUERY [DATA] [LAYERS]
 *     exact DkNN: activations of N_TRAIN training images at LAYERS (default
 *     relu1,relu2,relu3,logits), the index over them, then N_QUERY test images'
 *     activations and their k = 75 nearest training images at every layer; seconds of
 *     each stage and the search's GFLOP/s (2 * N_TRAIN * N_QUERY * sum of layer sizes),
 *     the rows per query and layer whose distance the kNN index's projection engine
 *     computed in full, and each stage's CPU seconds (user + system, all threads).
 *   mla_robust_bench dknn-check THREADS N_TRAIN N_QUERY [LAYERS]
 *     the kNN index's projection engine against its float engine (brute force) on the
 *     same activations: mismatching neighbours or distances per layer (0 expected).
 *   mla_robust_bench pgd THREADS N_IMAGES BATCH STEPS [DATA]
 *     PGD L_inf (eps 0.3, step 0.01, random start) on N_IMAGES test images in batches of
 *     BATCH: adversarial examples a second.
 * DATA defaults to mnist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "classic/knn_impl.h" /* mla_knn_proj_exact_count: the projection screen's efficiency */
#include "mlaudit/robust.h"

/* Images a forward pass when gathering activations: the dknn preset's forward costs a
 * quarter less CPU an image at 1,000 than at 250 (bigger products per layer). */
#define BATCH 1000

static void die(const char *what) {
    fprintf(stderr, "mla_robust_bench: %s: %s\n", what, mla_last_error());
    exit(1);
}

/* User + system CPU seconds of the process so far (all threads): on a shared machine a
 * stage's CPU time says more than its wall time. */
static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
}

static mla_net *dknn_net(void) {
    mla_net *net;
    if (mla_net_create(mla_preset_spec("dknn"), (mla_shape){1, 28, 28}, 10, 1, &net)) die("net");
    return net;
}

static float *images(const mla_dataset *ds, int n, int32_t *y) {
    if (n > mla_dataset_count(ds)) {
        fprintf(stderr, "mla_robust_bench: %d images asked, the split has %d\n", n, mla_dataset_count(ds));
        exit(2);
    }
    float *x = mla_alloc((size_t)n * mla_dataset_dim(ds), sizeof(float));
    if (!x) die("images");
    mla_dataset_batch(ds, NULL, 0, n, x, y);
    return x;
}

static int bench_dknn(int n_train, int n_query, const char *data, const char *layer_list) {
    mla_dataset *train, *test;
    if (mla_dataset_load(data, MLA_SPLIT_TRAIN, &train) || mla_dataset_load(data, MLA_SPLIT_TEST, &test)) die(data);
    char *copy = strdup(layer_list), *layers[64];
    int L = 0;
    for (char *t = strtok(copy, ","); t && L < 64; t = strtok(NULL, ",")) layers[L++] = t;
    mla_net *net = dknn_net();
    int32_t *y = mla_alloc((size_t)n_train, sizeof(int32_t));
    float *xt = images(train, n_train, y), *xq = images(test, n_query, NULL), *ft[64], *fq[64];
    int dims[64];
    double t0 = mla_seconds(), c0 = cpu_seconds();
    if (mla_net_layer_features(net, xt, n_train, (const char *const *)layers, L, BATCH, ft, dims)) die("features");
    double t1 = mla_seconds(), c1 = cpu_seconds();
    mla_dknn *d;
    mla_dknn_options opt = mla_dknn_defaults();
    if (mla_dknn_create_owned(ft, dims, L, y, n_train, 10, &opt, &d)) die("index");
    double t2 = mla_seconds(), c2 = cpu_seconds();
    if (mla_net_layer_features(net, xq, n_query, (const char *const *)layers, L, BATCH, fq, dims)) die("features");
    double t3 = mla_seconds(), c3 = cpu_seconds();
    int32_t *nb = mla_alloc((size_t)n_query * L * opt.k, sizeof(int32_t));
    if (!nb || mla_dknn_neighbors(d, (const float *const *)fq, n_query, nb, NULL)) die("search");
    double t4 = mla_seconds(), c4 = cpu_seconds();
    double width = 0;
    for (int l = 0; l < L; l++) width += dims[l];
    printf("{\"bench\": \"dknn\", \"threads\": %d, \"n_train\": %d, \"n_query\": %d, \"layers\": \"%s\", "
           "\"features\": %.0f, \"train_features_seconds\": %.3f, \"index_seconds\": %.3f, "
           "\"query_features_seconds\": %.3f, \"search_seconds\": %.3f, \"search_gflops\": %.1f, "
           "\"exact_rows_per_query_layer\": %.1f, \"cpu_seconds\": [%.1f, %.1f, %.1f, %.1f]}\n",
           mla_get_threads(), n_train, n_query, layer_list, width, t1 - t0, t2 - t1, t3 - t2, t4 - t3,
           2.0 * n_train * n_query * width / (t4 - t3) / 1e9, (double)mla_knn_proj_exact_count() / n_query / L,
           c1 - c0, c2 - c1, c3 - c2, c4 - c3);
    for (int l = 0; l < L; l++) free(fq[l]);
    free(nb), free(xt), free(xq), free(y), free(copy);
    mla_dknn_free(d);
    mla_net_free(net);
    mla_dataset_free(train), mla_dataset_free(test);
    return 0;
}

/* The projection engine against the float engine on real activations: neighbours and
 * distances must agree bit for bit (prints the mismatches, exits 1 on any). */
static int check_dknn(int n_train, int n_query, const char *layer_list) {
    mla_dataset *train, *test;
    if (mla_dataset_load("mnist", MLA_SPLIT_TRAIN, &train) || mla_dataset_load("mnist", MLA_SPLIT_TEST, &test)) die("mnist");
    char *copy = strdup(layer_list), *layers[64];
    int L = 0, k = mla_dknn_defaults().k;
    for (char *t = strtok(copy, ","); t && L < 64; t = strtok(NULL, ",")) layers[L++] = t;
    mla_net *net = dknn_net();
    float *xt = images(train, n_train, NULL), *xq = images(test, n_query, NULL), *ft[64], *fq[64];
    int dims[64];
    if (mla_net_layer_features(net, xt, n_train, (const char *const *)layers, L, 250, ft, dims) ||
        mla_net_layer_features(net, xq, n_query, (const char *const *)layers, L, 250, fq, dims))
        die("features");
    int32_t *a = mla_alloc((size_t)n_query * k, sizeof(int32_t)), *b = mla_alloc((size_t)n_query * k, sizeof(int32_t));
    float *da = mla_alloc((size_t)n_query * k, sizeof(float)), *db = mla_alloc((size_t)n_query * k, sizeof(float));
    long bad = 0;
    for (int l = 0; l < L; l++) {
        mla_knn_index *ix;
        if (mla_knn_index_create(ft[l], n_train, dims[l], MLA_KNN_EUCLIDEAN, &ix)) die("index");
        if (mla_knn_search(ix, fq[l], n_query, k, a, da)) die("search");
        mla_knn_index_set_engine(ix, MLA_KNN_ENGINE_FLOAT);
        if (mla_knn_search(ix, fq[l], n_query, k, b, db)) die("search");
        long diff = 0;
        for (size_t i = 0; i < (size_t)n_query * k; i++) diff += a[i] != b[i] || da[i] != db[i];
        printf("{\"check\": \"%s\", \"dims\": %d, \"projected_dims\": %d, \"mismatches\": %ld}\n", layers[l], dims[l],
               mla_knn_index_projected_dims(ix), diff);
        bad += diff;
        mla_knn_index_free(ix);
        free(ft[l]), free(fq[l]);
    }
    free(a), free(b), free(da), free(db), free(xt), free(xq), free(copy);
    mla_net_free(net);
    mla_dataset_free(train), mla_dataset_free(test);
    return bad != 0;
}

static int bench_pgd(int n, int batch, int steps, const char *data) {
    mla_dataset *test;
    if (mla_dataset_load(data, MLA_SPLIT_TEST, &test)) die(data);
    mla_net *net = dknn_net();
    int32_t *y = mla_alloc((size_t)n, sizeof(int32_t));
    float *x = images(test, n, y), *adv = mla_alloc((size_t)n * 784, sizeof(float));
    mla_adv_model m = mla_adv_model_net(net);
    mla_adv_config c = mla_adv_defaults(MLA_ADV_PGD);
    c.eps = 0.3f, c.step = 0.01f, c.iterations = steps, c.batch = batch, c.seed = 1;
    double t0 = mla_seconds();
    if (!adv || mla_adv_run(&m, &c, x, y, NULL, n, adv)) die("pgd");
    double t = mla_seconds() - t0;
    printf("{\"bench\": \"pgd\", \"tool\": \"mlaudit\", \"threads\": %d, \"images\": %d, \"batch\": %d, \"steps\": %d, "
           "\"seconds\": %.3f, \"images_per_second\": %.2f}\n",
           mla_get_threads(), n, batch, steps, t, n / t);
    free(x), free(y), free(adv);
    mla_net_free(net);
    mla_dataset_free(test);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "dknn")) {
        mla_set_threads(atoi(argv[2]));
        return bench_dknn(atoi(argv[3]), atoi(argv[4]), argc > 5 ? argv[5] : "mnist",
                          argc > 6 ? argv[6] : "relu1,relu2,relu3,logits");
    }
    if (argc >= 5 && !strcmp(argv[1], "dknn-check")) {
        mla_set_threads(atoi(argv[2]));
        return check_dknn(atoi(argv[3]), atoi(argv[4]), argc > 5 ? argv[5] : "relu1,relu2,relu3,logits");
    }
    if (argc >= 6 && !strcmp(argv[1], "pgd")) {
        mla_set_threads(atoi(argv[2]));
        return bench_pgd(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), argc > 6 ? argv[6] : "mnist");
    }
    fprintf(stderr, "usage: mla_robust_bench dknn THREADS N_TRAIN N_QUERY [DATA] [LAYERS]\n"
                    "       mla_robust_bench dknn-check THREADS N_TRAIN N_QUERY [LAYERS]\n"
                    "       mla_robust_bench pgd THREADS N_IMAGES BATCH STEPS [DATA]\n");
    return 2;
}
