/* Tests of the .npy readers (datasets and mla_npy_read) and writers: round trips
 * through the writer, files written by hand in every supported version and dtype,
 * and bad headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>

#include "data/data_test_util.h"
#include "mlaudit/data.h"

static void assert_error_mentions(const char *what) {
    if (!strstr(mla_last_error(), what)) fail_msg("error '%s' does not mention '%s'", mla_last_error(), what);
}

static char *tmp;

static int setup(void **state) {
    (void)state;
    tmp = make_tmpdir();
    return tmp ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    rm_tree(tmp);
    free(tmp);
    return 0;
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *buf = malloc(*n + 1);
    assert_int_equal(fread(buf, 1, *n, f), *n);
    fclose(f);
    buf[*n] = 0;
    return buf;
}

/* The writer's bytes follow the NumPy format: version 1.0, the header padded to 64
 * with a final newline, little-endian data right after. */
static void test_writer_format(void **state) {
    (void)state;
    char *path = join(tmp, "w.npy");
    float x[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-8f, 7.0f};
    int64_t shape[2] = {2, 3};
    assert_int_equal(mla_npy_write_f32(path, x, 2, shape), MLA_OK);
    size_t n;
    unsigned char *buf = read_all(path, &n);
    assert_memory_equal(buf, "\x93NUMPY\x01\x00", 8);
    size_t hlen = buf[8] | (size_t)buf[9] << 8;
    assert_int_equal((10 + hlen) % 64, 0);
    assert_int_equal(buf[10 + hlen - 1], '\n');
    assert_int_equal(n, 10 + hlen + sizeof x);
    char *header = strndup((char *)buf + 10, hlen);
    assert_non_null(strstr(header, "'descr': '<f4'"));
    assert_non_null(strstr(header, "'fortran_order': False"));
    assert_non_null(strstr(header, "'shape': (2, 3)"));
    assert_memory_equal(buf + 10 + hlen, x, sizeof x);
    free(header);
    free(buf);
    int32_t y[3] = {0, 7, -1};
    int64_t yshape[1] = {3};
    assert_int_equal(mla_npy_write_i32(path, y, 1, yshape), MLA_OK);
    buf = read_all(path, &n);
    assert_non_null(strstr((char *)buf + 10, "'descr': '<i4'"));
    assert_non_null(strstr((char *)buf + 10, "'shape': (3,)"));
    assert_memory_equal(buf + n - sizeof y, y, sizeof y);
    free(buf);
    int64_t bad[1] = {-1};
    assert_int_equal(mla_npy_write_i32(path, y, 1, bad), MLA_ERR_INVALID);
    assert_error_mentions(path);
    free(path);
    assert_int_equal(mla_npy_write_f32("/nonexistent/dir/x.npy", x, 2, shape), MLA_ERR_IO);
    assert_error_mentions("/nonexistent/dir/x.npy");
}

static void test_writer_round_trip_through_loader(void **state) {
    (void)state;
    char *xp = join(tmp, "rt_x.npy"), *yp = join(tmp, "rt_y.npy");
    float x[3 * 2 * 4];
    for (int i = 0; i < 24; i++) x[i] = (float)i / 7.0f - 1.0f;
    int32_t y[3] = {2, 0, 4};
    int64_t xs[3] = {3, 2, 4}, ys[1] = {3};
    assert_int_equal(mla_npy_write_f32(xp, x, 3, xs), MLA_OK);
    assert_int_equal(mla_npy_write_i32(yp, y, 1, ys), MLA_OK);
    mla_dataset *ds;
    assert_int_equal(mla_dataset_load_npy(xp, yp, &ds), MLA_OK);
    int c, h, w;
    mla_dataset_shape(ds, &c, &h, &w);
    assert_int_equal(mla_dataset_count(ds), 3);
    assert_true(c == 1 && h == 2 && w == 4);
    assert_int_equal(mla_dataset_classes(ds), 5);
    assert_null(mla_dataset_pixels_u8(ds));
    assert_memory_equal(mla_dataset_pixels_f32(ds), x, sizeof x);
    assert_memory_equal(mla_dataset_labels(ds), y, sizeof y);
    float out[8];
    mla_dataset_batch(ds, NULL, 2, 1, out, NULL); /* float data is copied, not scaled */
    assert_memory_equal(out, x + 16, sizeof out);
    mla_dataset_free(ds);
    free(xp);
    free(yp);
}

/* Writes labels 0..n-1 (mod 3) in the given integer dtype. */
static void write_labels(const char *path, const char *descr, int size, int n, int major) {
    unsigned char data[64] = {0};
    for (int i = 0; i < n; i++) data[i * size] = (unsigned char)(i % 3);
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%d,), }", descr, n);
    assert_int_equal(write_npy_raw(path, major, dict, data, (size_t)(n * size)), 0);
}

static void test_hand_written_uint8_shapes_and_label_dtypes(void **state) {
    (void)state;
    char *xp = join(tmp, "u8_x.npy"), *yp = join(tmp, "u8_y.npy");
    uint8_t px[4 * 2 * 3 * 5];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 3 + 1);
    const char *descrs[] = {"<i8", "<i4", "|u1", "<i2", "<u2", "<u4", "<u8", "|i1"};
    int sizes[] = {8, 4, 1, 2, 2, 4, 8, 1};
    struct { const char *shape; int c, h, w; } shapes[] = {
        {"(4, 30)", 1, 1, 30}, {"(4, 6, 5)", 1, 6, 5}, {"(4, 2, 3, 5)", 2, 3, 5}, {"(4,2,3,5,)", 2, 3, 5}};
    for (int s = 0; s < 4; s++) {
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '|u1', 'fortran_order': False, 'shape': %s, }", shapes[s].shape);
        assert_int_equal(write_npy_raw(xp, 1, dict, px, sizeof px), 0);
        for (int d = 0; d < 8; d++) {
            write_labels(yp, descrs[d], sizes[d], 4, 1 + d % 3);
            mla_dataset *ds;
            if (mla_dataset_load_npy(xp, yp, &ds) != MLA_OK) fail_msg("%s %s: %s", shapes[s].shape, descrs[d], mla_last_error());
            int c, h, w;
            mla_dataset_shape(ds, &c, &h, &w);
            assert_true(c == shapes[s].c && h == shapes[s].h && w == shapes[s].w);
            assert_memory_equal(mla_dataset_pixels_u8(ds), px, sizeof px);
            assert_int_equal(mla_dataset_classes(ds), 3);
            for (int i = 0; i < 4; i++) assert_int_equal(mla_dataset_labels(ds)[i], i % 3);
            mla_dataset_free(ds);
        }
    }
    free(xp);
    free(yp);
}

static void test_hand_written_float32_versions_2_and_3(void **state) {
    (void)state;
    char *xp = join(tmp, "f_x.npy"), *yp = join(tmp, "f_y.npy");
    float x[2 * 3 * 2 * 2];
    for (int i = 0; i < 24; i++) x[i] = (float)i * 0.125f;
    write_labels(yp, "<i8", 8, 2, 1);
    for (int major = 2; major <= 3; major++) {
        assert_int_equal(write_npy_raw(xp, major, "{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(2,3,2,2)}", x, sizeof x), 0);
        mla_dataset *ds;
        assert_int_equal(mla_dataset_load_npy(xp, yp, &ds), MLA_OK);
        int c, h, w;
        mla_dataset_shape(ds, &c, &h, &w);
        assert_true(c == 3 && h == 2 && w == 2);
        assert_memory_equal(mla_dataset_pixels_f32(ds), x, sizeof x);
        mla_dataset_free(ds);
    }
    free(xp);
    free(yp);
}

/* (N,H,W,C) as Keras stores CIFAR is transposed to channel-major. */
static void test_channel_last_is_transposed(void **state) {
    (void)state;
    char *xp = join(tmp, "hwc_x.npy"), *yp = join(tmp, "hwc_y.npy");
    enum { n = 2, H = 6, W = 5, C = 3 };
    uint8_t px[n * H * W * C];
    for (int i = 0; i < n * H * W * C; i++) px[i] = (uint8_t)(i * 7);
    assert_int_equal(write_npy_raw(xp, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 6, 5, 3), }", px, sizeof px), 0);
    write_labels(yp, "<i8", 8, n, 1);
    mla_dataset *ds;
    assert_int_equal(mla_dataset_load_npy(xp, yp, &ds), MLA_OK);
    int c, h, w;
    mla_dataset_shape(ds, &c, &h, &w);
    assert_true(c == C && h == H && w == W);
    const uint8_t *got = mla_dataset_pixels_u8(ds);
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < C; ch++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    assert_int_equal(got[((i * C + ch) * H + y) * W + x], px[((i * H + y) * W + x) * C + ch]);
    mla_dataset_free(ds);
    free(xp);
    free(yp);
}

static const float good_x[4] = {0.5f, 0.25f, 1.0f, 0.0f};

/* Writes x (shape (2, 2) float32) with `dict`, good labels, and expects `status`
 * with a message naming the file and `what`. */
static void expect_bad_images(const char *dict, int major, size_t bytes, mla_status status, const char *what) {
    char *xp = join(tmp, "bad_x.npy"), *yp = join(tmp, "bad_y.npy");
    float x[8] = {0.5f, 0.25f, 1.0f, 0.0f, 0, 0, 0, 0};
    assert_int_equal(write_npy_raw(xp, major, dict, x, bytes), 0);
    write_labels(yp, "<i8", 8, 2, 1);
    mla_dataset *ds = (mla_dataset *)1;
    if (mla_dataset_load_npy(xp, yp, &ds) != status) fail_msg("%s: got '%s'", dict, mla_last_error());
    assert_null(ds);
    assert_error_mentions(xp);
    assert_error_mentions(what);
    free(xp);
    free(yp);
}

static void test_bad_image_files(void **state) {
    (void)state;
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    expect_bad_images("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", 1, 16, MLA_ERR_UNSUPPORTED, "big-endian");
    expect_bad_images("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 1, 16, MLA_ERR_UNSUPPORTED, "Fortran");
    expect_bad_images(ok, 1, 12, MLA_ERR_FORMAT, "truncated");
    expect_bad_images(ok, 1, 20, MLA_ERR_FORMAT, "trailing");
    expect_bad_images(ok, 4, 16, MLA_ERR_UNSUPPORTED, "version 4.0");
    expect_bad_images("{'descr': '<f4', 'fortran_order': False}", 1, 16, MLA_ERR_FORMAT, "'shape'");
    expect_bad_images("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}", 1, 16, MLA_ERR_FORMAT, "'x'");
    expect_bad_images("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }", 1, 16, MLA_ERR_FORMAT, "shape");
    expect_bad_images("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2) ", 1, 16, MLA_ERR_FORMAT, "header");
    expect_bad_images("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), }", 1, 16, MLA_ERR_UNSUPPORTED, "float32");
    expect_bad_images("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 1), }", 1, 16, MLA_ERR_UNSUPPORTED, "dtype");
    expect_bad_images("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 1, 8, MLA_ERR_UNSUPPORTED, "structured");
    expect_bad_images("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 1, 8, MLA_ERR_SHAPE, "(N,D)");
    expect_bad_images("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4611686018427387904), }", 1, 16, MLA_ERR_FORMAT, "too large");
    expect_bad_images("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", 1, 0, MLA_ERR_SHAPE, "dimension 0 is 0");
    expect_bad_images("{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647), }", 1, 16,
                      MLA_ERR_FORMAT, "too large");
    expect_bad_images("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 1), }", 1, 16, MLA_ERR_FORMAT, "truncated");
    /* a header length beyond the file */
    char *xp = join(tmp, "len_x.npy"), *yp = join(tmp, "len_y.npy");
    unsigned char buf[40] = "\x93NUMPY\x01\x00\xff\x7f{'descr': '<f4'";
    assert_int_equal(write_bytes(xp, buf, sizeof buf, 0), 0);
    write_labels(yp, "<i8", 8, 2, 1);
    mla_dataset *ds;
    assert_int_equal(mla_dataset_load_npy(xp, yp, &ds), MLA_ERR_FORMAT);
    assert_error_mentions(xp);
    assert_error_mentions("header length");
    memcpy(buf, "PK\x03\x04", 4);
    assert_int_equal(write_bytes(xp, buf, sizeof buf, 0), 0);
    assert_int_equal(mla_dataset_load_npy(xp, yp, &ds), MLA_ERR_FORMAT);
    assert_error_mentions("not a .npy file");
    /* NaN pixels */
    float nan_x[4] = {0.5f, NAN, 1.0f, 0.0f};
    assert_int_equal(write_npy_raw(xp, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", nan_x, sizeof nan_x), 0);
    assert_int_equal(mla_dataset_load_npy(xp, yp, &ds), MLA_ERR_FORMAT);
    assert_error_mentions("not finite");
    free(xp);
    free(yp);
}

static void test_bad_label_files(void **state) {
    (void)state;
    char *xp = join(tmp, "lab_x.npy"), *yp = join(tmp, "lab_y.npy");
    assert_int_equal(write_npy_raw(xp, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", good_x, sizeof good_x), 0);
    mla_dataset *ds;
    int64_t neg[2] = {1, -3};
    assert_int_equal(write_npy_raw(yp, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", neg, sizeof neg), 0);
    assert_int_equal(mla_dataset_load_npy(xp, yp, &ds), MLA_ERR_FORMAT);
    assert_error_mentions(yp);
    assert_error_mentions("negative label -3 at index 1");
    int64_t huge[2] = {1, 1LL << 40};
    assert_int_equal(write_npy_raw(yp, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", huge, sizeof huge), 0);
    assert_int_equal(mla_dataset_load_npy(xp, yp, &ds), MLA_ERR_FORMAT);
    assert_error_mentions("limit");
    float fl[2] = {1, 0};
    assert_int_equal(write_npy_raw(yp, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", fl, sizeof fl), 0);
    assert_int_equal(mla_dataset_load_npy(xp, yp, &ds), MLA_ERR_FORMAT);
    assert_error_mentions("integers");
    write_labels(yp, "<i8", 8, 3, 1);
    assert_int_equal(mla_dataset_load_npy(xp, yp, &ds), MLA_ERR_SHAPE);
    assert_error_mentions(yp);
    assert_error_mentions(xp);
    int64_t col[2] = {1, 0}; /* (N, 1) is accepted */
    assert_int_equal(write_npy_raw(yp, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 1), }", col, sizeof col), 0);
    assert_int_equal(mla_dataset_load_npy(xp, yp, &ds), MLA_OK);
    assert_int_equal(mla_dataset_classes(ds), 2);
    mla_dataset_free(ds);
    assert_int_equal(write_npy_raw(yp, 1, "{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }", col, sizeof col), 0);
    assert_int_equal(mla_dataset_load_npy(xp, yp, &ds), MLA_ERR_UNSUPPORTED);
    assert_error_mentions("big-endian");
    free(xp);
    free(yp);
}

/* npy:DIR takes classes from both splits' labels, so train and test agree. */
static void test_npy_folder_spec(void **state) {
    (void)state;
    char *dir = join(tmp, "mydata");
    mkdir(dir, 0755);
    char *files[4] = {join(dir, "x_train.npy"), join(dir, "y_train.npy"), join(dir, "x_test.npy"), join(dir, "y_test.npy")};
    uint8_t px[3 * 4] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    int32_t ytr[3] = {0, 2, 1}, yte[2] = {4, 0};
    int64_t xs[2] = {3, 4}, ys[1] = {3}, xts[2] = {2, 4}, yts[1] = {2};
    assert_int_equal(write_npy_raw(files[0], 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 4), }", px, sizeof px), 0);
    assert_int_equal(mla_npy_write_i32(files[1], ytr, 1, ys), MLA_OK);
    float ft[8] = {0};
    assert_int_equal(mla_npy_write_f32(files[2], ft, 2, xts), MLA_OK);
    assert_int_equal(mla_npy_write_i32(files[3], yte, 1, yts), MLA_OK);
    (void)xs;
    char spec[4200];
    snprintf(spec, sizeof spec, "npy:%s", dir);
    mla_dataset *ds;
    assert_int_equal(mla_dataset_load(spec, MLA_SPLIT_TRAIN, &ds), MLA_OK);
    assert_int_equal(mla_dataset_count(ds), 3);
    assert_int_equal(mla_dataset_classes(ds), 5);
    assert_string_equal(mla_dataset_name(ds), "mydata");
    float out[4];
    mla_dataset_batch(ds, NULL, 2, 1, out, NULL);
    for (int j = 0; j < 4; j++) assert_true(out[j] == (float)px[8 + j] * (1.0f / 255.0f));
    mla_dataset_free(ds);
    assert_int_equal(mla_dataset_load(dir, MLA_SPLIT_TEST, &ds), MLA_OK); /* recognised without the prefix */
    assert_int_equal(mla_dataset_count(ds), 2);
    assert_int_equal(mla_dataset_classes(ds), 5);
    mla_dataset_free(ds);
    unlink(files[2]);
    assert_int_equal(mla_dataset_load(spec, MLA_SPLIT_TEST, &ds), MLA_ERR_IO);
    assert_error_mentions(files[2]);
    for (int i = 0; i < 4; i++) free(files[i]);
    free(dir);
}

/* ---- mla_npy_read ---- */

static void assert_array_shape(const mla_npy_array *a, int ndim, const int64_t *shape, int64_t count) {
    assert_int_equal(a->ndim, ndim);
    for (int i = 0; i < 8; i++) assert_int_equal(a->shape[i], i < ndim ? shape[i] : 0);
    assert_int_equal(a->count, count);
}

static void test_read_round_trips_through_writers(void **state) {
    (void)state;
    char *path = join(tmp, "rt.npy");
    float x[6] = {1.5f, -2.0f, -0.0f, 3.25f, 1e-8f, NAN};
    int64_t shape[2] = {2, 3};
    assert_int_equal(mla_npy_write_f32(path, x, 2, shape), MLA_OK);
    mla_npy_array a;
    assert_int_equal(mla_npy_read(path, &a), MLA_OK);
    assert_array_shape(&a, 2, shape, 6);
    assert_non_null(a.f64);
    assert_null(a.i64);
    for (int i = 0; i < 5; i++) assert_true(a.f64[i] == (double)x[i]);
    assert_true(signbit(a.f64[2]) && isnan(a.f64[5])); /* -0 and NaN kept as they are */
    mla_npy_array_free(&a);
    assert_null(a.f64);
    int32_t y[4] = {INT32_MIN, -1, 0, INT32_MAX};
    int64_t yshape[3] = {2, 1, 2};
    assert_int_equal(mla_npy_write_i32(path, y, 3, yshape), MLA_OK);
    assert_int_equal(mla_npy_read(path, &a), MLA_OK);
    assert_array_shape(&a, 3, yshape, 4);
    assert_null(a.f64);
    for (int i = 0; i < 4; i++) assert_int_equal(a.i64[i], y[i]);
    mla_npy_array_free(&a);
    /* a 0-d array holds one item; an empty one none */
    float one = 42.5f;
    assert_int_equal(mla_npy_write_f32(path, &one, 0, NULL), MLA_OK);
    assert_int_equal(mla_npy_read(path, &a), MLA_OK);
    assert_array_shape(&a, 0, NULL, 1);
    assert_true(a.f64[0] == 42.5);
    mla_npy_array_free(&a);
    int64_t empty[2] = {0, 3};
    assert_int_equal(mla_npy_write_i32(path, NULL, 2, empty), MLA_OK);
    assert_int_equal(mla_npy_read(path, &a), MLA_OK);
    assert_array_shape(&a, 2, empty, 0);
    assert_non_null(a.i64);
    mla_npy_array_free(&a);
    mla_npy_array_free(NULL);
    free(path);
}

/* Writes `bytes` of data under a header for dtype `descr` and shape text `shape`. */
static void write_typed(const char *path, int major, const char *descr, const char *shape, const void *data,
                        size_t bytes) {
    char dict[160];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    assert_int_equal(write_npy_raw(path, major, dict, data, bytes), 0);
}

static void read_ok(const char *path, mla_npy_array *a) {
    if (mla_npy_read(path, a) != MLA_OK) fail_msg("%s", mla_last_error());
}

static void test_read_hand_written_dtypes(void **state) {
    (void)state;
    char *path = join(tmp, "dt.npy");
    mla_npy_array a;
    double f8[3] = {0.1, -1e300, INFINITY};
    write_typed(path, 2, "<f8", "(3,)", f8, sizeof f8);
    read_ok(path, &a);
    assert_true(a.ndim == 1 && a.shape[0] == 3 && a.i64 == NULL);
    assert_memory_equal(a.f64, f8, sizeof f8);
    mla_npy_array_free(&a);
    int64_t i8[4] = {INT64_MIN, -1, 0, INT64_MAX};
    write_typed(path, 3, "<i8", "(2, 2)", i8, sizeof i8);
    read_ok(path, &a);
    assert_true(a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 2 && a.f64 == NULL);
    assert_memory_equal(a.i64, i8, sizeof i8);
    mla_npy_array_free(&a);
    uint8_t u1[5] = {0, 1, 127, 128, 255};
    write_typed(path, 1, "|u1", "(5,)", u1, sizeof u1);
    read_ok(path, &a);
    for (int i = 0; i < 5; i++) assert_int_equal(a.i64[i], u1[i]);
    mla_npy_array_free(&a);
    int8_t i1[3] = {-128, -1, 127};
    write_typed(path, 1, "|i1", "(3,)", i1, sizeof i1);
    read_ok(path, &a);
    assert_true(a.i64[0] == -128 && a.i64[1] == -1 && a.i64[2] == 127);
    mla_npy_array_free(&a);
    uint8_t b1[4] = {0, 1, 1, 0};
    write_typed(path, 1, "|b1", "(4,)", b1, sizeof b1);
    read_ok(path, &a);
    assert_true(a.f64 == NULL && a.i64[0] == 0 && a.i64[1] == 1 && a.i64[2] == 1 && a.i64[3] == 0);
    mla_npy_array_free(&a);
    int16_t i2[2] = {-32768, 32767};
    write_typed(path, 1, "<i2", "(2,)", i2, sizeof i2);
    read_ok(path, &a);
    assert_true(a.i64[0] == -32768 && a.i64[1] == 32767);
    mla_npy_array_free(&a);
    uint16_t u2[2] = {0, 65535};
    write_typed(path, 1, "<u2", "(2,)", u2, sizeof u2);
    read_ok(path, &a);
    assert_true(a.i64[0] == 0 && a.i64[1] == 65535);
    mla_npy_array_free(&a);
    uint32_t u4[2] = {0, UINT32_MAX};
    write_typed(path, 1, "<u4", "(2,)", u4, sizeof u4);
    read_ok(path, &a);
    assert_true(a.i64[1] == (int64_t)UINT32_MAX);
    mla_npy_array_free(&a);
    uint64_t u8[2] = {7, (uint64_t)INT64_MAX};
    write_typed(path, 1, "<u8", "(2,)", u8, sizeof u8);
    read_ok(path, &a);
    assert_true(a.i64[0] == 7 && a.i64[1] == INT64_MAX);
    mla_npy_array_free(&a);
    u8[1] = (uint64_t)INT64_MAX + 1;
    write_typed(path, 1, "<u8", "(2,)", u8, sizeof u8);
    assert_int_equal(mla_npy_read(path, &a), MLA_ERR_FORMAT);
    assert_error_mentions(path);
    assert_error_mentions("index 1");
    assert_true(a.f64 == NULL && a.i64 == NULL && a.count == 0);
    free(path);
}

static void expect_bad_array(const char *descr, const char *shape, int fortran, size_t bytes, mla_status status,
                             const char *what) {
    char *path = join(tmp, "bad.npy");
    double data[8] = {0};
    char dict[200];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr,
             fortran ? "True" : "False", shape);
    assert_int_equal(write_npy_raw(path, 1, dict, data, bytes), 0);
    mla_npy_array a;
    memset(&a, 0xff, sizeof a);
    if (mla_npy_read(path, &a) != status) fail_msg("%s: got '%s'", dict, mla_last_error());
    assert_true(a.f64 == NULL && a.i64 == NULL && a.ndim == 0 && a.count == 0);
    assert_error_mentions(path);
    assert_error_mentions(what);
    free(path);
}

static void test_read_bad_files(void **state) {
    (void)state;
    expect_bad_array("<f8", "(2, 2)", 0, 24, MLA_ERR_FORMAT, "truncated");
    expect_bad_array("<f8", "(2, 2)", 0, 40, MLA_ERR_FORMAT, "trailing");
    expect_bad_array("<i2", "(3,)", 0, 7, MLA_ERR_FORMAT, "trailing");
    expect_bad_array(">f8", "(2, 2)", 0, 32, MLA_ERR_UNSUPPORTED, "big-endian");
    expect_bad_array(">i4", "(2,)", 0, 8, MLA_ERR_UNSUPPORTED, "big-endian");
    expect_bad_array("<f8", "(2, 2)", 1, 32, MLA_ERR_UNSUPPORTED, "Fortran");
    expect_bad_array("<f2", "(2,)", 0, 4, MLA_ERR_UNSUPPORTED, "dtype");
    expect_bad_array("<c16", "(2,)", 0, 32, MLA_ERR_UNSUPPORTED, "dtype");
    expect_bad_array("<f8", "(1, 1, 1, 1, 1, 1, 1, 1, 1)", 0, 8, MLA_ERR_FORMAT, "8 dimensions");
    /* huge declared shapes are refused from the header, before any allocation (an
     * attempt would abort under AddressSanitizer) */
    expect_bad_array("<f8", "(1099511627776,)", 0, 64, MLA_ERR_FORMAT, "truncated");
    expect_bad_array("<f8", "(4294967296, 4294967296, 4294967296)", 0, 64, MLA_ERR_FORMAT, "too large");
    expect_bad_array("|b1", "(1152921504606846975,)", 0, 8, MLA_ERR_FORMAT, "truncated");
    mla_npy_array a;
    assert_int_equal(mla_npy_read("/nonexistent/x.npy", &a), MLA_ERR_IO);
    assert_error_mentions("/nonexistent/x.npy");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_format),
        cmocka_unit_test(test_writer_round_trip_through_loader),
        cmocka_unit_test(test_hand_written_uint8_shapes_and_label_dtypes),
        cmocka_unit_test(test_hand_written_float32_versions_2_and_3),
        cmocka_unit_test(test_channel_last_is_transposed),
        cmocka_unit_test(test_bad_image_files),
        cmocka_unit_test(test_bad_label_files),
        cmocka_unit_test(test_npy_folder_spec),
        cmocka_unit_test(test_read_round_trips_through_writers),
        cmocka_unit_test(test_read_hand_written_dtypes),
        cmocka_unit_test(test_read_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
