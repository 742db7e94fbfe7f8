/* Tests of the .npy reader and writers: round trips through the writer, files
 * written by hand in every supported version and dtype, and bad headers. */
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
