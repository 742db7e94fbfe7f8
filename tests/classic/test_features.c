/* Tests of features.h: the engineered set on hand-made images, pipelines, files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlaudit/features.h"

enum { H = 28, W = 28, COUNT = 84 };
#define ROW(r) (6 + (r))
#define COL(c) (6 + H + (c))
#define WHITE_ROWS (6 + H + W)
#define WHITE_COLS (6 + H + W + 1)
#define BLOCK(b) (6 + H + W + 2 + 2 * (b))

static int near(float a, double b) { return fabs(a - b) < 1e-6; }

static void test_count_names_and_blocks(void **state) {
    (void)state;
    char buf[32];
    assert_int_equal(mla_engineered_count(H, W), COUNT);
    assert_string_equal(mla_engineered_name(1, H, W, buf, sizeof buf), "band_1_46");
    assert_string_equal(mla_engineered_name(ROW(3), H, W, buf, sizeof buf), "row_03");
    assert_string_equal(mla_engineered_name(COL(27), H, W, buf, sizeof buf), "col_27");
    assert_string_equal(mla_engineered_name(WHITE_COLS, H, W, buf, sizeof buf), "white_cols");
    assert_string_equal(mla_engineered_name(BLOCK(9) + 1, H, W, buf, sizeof buf), "block9_light");
    int r0, r1, c0, c1;
    mla_engineered_block(4, H, W, &r0, &r1, &c0, &c1); /* the middle cell of the 3 x 3 grid */
    assert_true(r0 == 9 && r1 == 18 && c0 == 9 && c1 == 18);
    mla_engineered_block(8, H, W, &r0, &r1, &c0, &c1);
    assert_true(r0 == 18 && r1 == 28 && c0 == 18 && c1 == 28);
    mla_engineered_block(9, H, W, &r0, &r1, &c0, &c1);
    assert_true(r0 == 7 && r1 == 21 && c0 == 7 && c1 == 21);
}

static void test_blank_image(void **state) {
    (void)state;
    uint8_t img[H * W] = {0};
    float f[COUNT];
    mla_engineered_features(img, 1, H, W, f);
    assert_true(near(f[0], 1.0));
    for (int b = 1; b < 6; b++) assert_true(near(f[b], 0.0));
    for (int r = 0; r < H; r++) assert_true(near(f[ROW(r)], 0.0));
    assert_true(near(f[WHITE_ROWS], 1.0) && near(f[WHITE_COLS], 1.0));
    for (int b = 0; b < 20; b++) assert_true(near(f[BLOCK(0) + b], 0.0));
}

/* Rows 0-1 all 100 (band 94-168, light grey), one pixel 50 at (27, 27), one 200 at
 * (13, 13) (band 169-205, not light). */
static void test_hand_made_image(void **state) {
    (void)state;
    uint8_t img[2][H * W];
    memset(img, 0, sizeof img);
    for (int c = 0; c < W; c++) img[1][c] = img[1][W + c] = 100;
    img[1][27 * W + 27] = 50;
    img[1][13 * W + 13] = 200;
    float f[2][COUNT];
    mla_engineered_features(&img[0][0], 2, H, W, &f[0][0]);
    const float *g = f[1];
    assert_true(near(g[0], (784.0 - 58) / 784) && near(g[1], 0) && near(g[2], 1.0 / 784));
    assert_true(near(g[3], 56.0 / 784) && near(g[4], 1.0 / 784) && near(g[5], 0));
    assert_true(near(g[ROW(0)], 1) && near(g[ROW(1)], 1) && near(g[ROW(13)], 1.0 / 28) && near(g[ROW(27)], 1.0 / 28));
    assert_true(near(g[ROW(5)], 0));
    assert_true(near(g[COL(0)], 2.0 / 28) && near(g[COL(13)], 3.0 / 28) && near(g[COL(27)], 3.0 / 28));
    assert_true(near(g[WHITE_ROWS], 24.0 / 28) && near(g[WHITE_COLS], 0));
    /* block 0 (rows 0-8, cols 0-8): 18 of 81 non-white, all light */
    assert_true(near(g[BLOCK(0)], 18.0 / 81) && near(g[BLOCK(0) + 1], 18.0 / 81));
    /* block 4 (rows 9-17, cols 9-17): the 200 pixel, non-white but not light */
    assert_true(near(g[BLOCK(4)], 1.0 / 81) && near(g[BLOCK(4) + 1], 0));
    /* block 8 (rows 18-27, cols 18-27): the 50 pixel */
    assert_true(near(g[BLOCK(8)], 1.0 / 100) && near(g[BLOCK(8) + 1], 1.0 / 100));
    /* the centre (rows 7-20, cols 7-20): the 200 pixel */
    assert_true(near(g[BLOCK(9)], 1.0 / 196) && near(g[BLOCK(9) + 1], 0));
    assert_true(near(f[0][0], 1.0)); /* the first image is blank */
}

/* Three 2 x 2 images: pixel 0 constant, the others vary. */
static const uint8_t TINY[3 * 4] = {7, 0, 255, 10, 7, 51, 0, 20, 7, 102, 255, 30};

static void test_raw_and_variance_selection(void **state) {
    (void)state;
    mla_images im = {.n = 3, .c = 1, .h = 2, .w = 2, .u8 = TINY};
    mla_features *f = NULL;
    float out[12];
    assert_int_equal(mla_features_create("raw", &f), MLA_OK);
    assert_int_equal(mla_features_fit(f, &im), MLA_OK);
    assert_int_equal(mla_features_dim(f), 4);
    assert_int_equal(mla_features_transform(f, &im, out), MLA_OK);
    assert_true(out[2] == 255 / 255.0f && out[5] == 51 / 255.0f);
    mla_features_free(f);
    assert_int_equal(mla_features_create("raw:0", &f), MLA_OK);
    assert_int_equal(mla_features_fit(f, &im), MLA_OK);
    int kept = 0;
    const int32_t *which = mla_features_kept_pixels(f, &kept);
    assert_int_equal(kept, 3);
    assert_true(which[0] == 1 && which[1] == 2 && which[2] == 3);
    assert_int_equal(mla_features_transform(f, &im, out), MLA_OK);
    assert_true(out[0] == 0.0f && out[1] == 1.0f && out[3] == 51 / 255.0f);
    mla_features_free(f);
    /* pixel 3 varies least (variance 0.001 on the [0,1] scale); pixels 1 and 2 vary more */
    assert_int_equal(mla_features_create("raw:0.005", &f), MLA_OK);
    assert_int_equal(mla_features_fit(f, &im), MLA_OK);
    assert_int_equal(mla_features_dim(f), 2);
    mla_features_free(f);
}

static void test_bad_specs_and_shapes(void **state) {
    (void)state;
    mla_features *f = NULL;
    const char *bad[] = {"pixels", "pca:", "pca:0", "pca:1.5", "pca:-3", "raw:x", "raw:-1", "engineered:2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(mla_features_create(bad[i], &f), MLA_ERR_INVALID);
        assert_non_null(strstr(mla_last_error(), bad[i]));
        assert_null(f);
    }
    assert_int_equal(mla_features_create("engineered", &f), MLA_OK);
    uint8_t rgb[3 * 4] = {0};
    mla_images im = {.n = 1, .c = 3, .h = 2, .w = 2, .u8 = rgb};
    assert_int_equal(mla_features_fit(f, &im), MLA_ERR_SHAPE);
    mla_features_free(f);
    assert_int_equal(mla_features_create("raw", &f), MLA_OK);
    mla_images ok = {.n = 3, .c = 1, .h = 2, .w = 2, .u8 = TINY}, other = {.n = 1, .c = 1, .h = 4, .w = 1, .u8 = TINY};
    float out[4];
    assert_int_equal(mla_features_transform(f, &ok, out), MLA_ERR_INVALID); /* before fit */
    assert_int_equal(mla_features_fit(f, &ok), MLA_OK);
    assert_int_equal(mla_features_transform(f, &other, out), MLA_ERR_SHAPE);
    mla_features_free(f);
}

/* A pca pipeline saved and loaded transforms identically; a damaged file is refused with its name. */
static void test_pipeline_files(void **state) {
    (void)state;
    enum { N = 40, S = 4 };
    uint8_t pix[N * S * S];
    mla_rng r;
    mla_rng_seed(&r, 8);
    for (int i = 0; i < N * S * S; i++) pix[i] = (uint8_t)mla_rng_below(&r, 256);
    mla_images im = {.n = N, .c = 1, .h = S, .w = S, .u8 = pix};
    char path[] = "/tmp/mla_features_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const char *specs[] = {"pca:3", "pca:0.5", "raw:0.01", "engineered", "raw"};
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
        mla_features *f = NULL, *g = NULL;
        assert_int_equal(mla_features_create(specs[s], &f), MLA_OK);
        assert_int_equal(mla_features_fit(f, &im), MLA_OK);
        assert_int_equal(mla_features_save(f, path), MLA_OK);
        assert_int_equal(mla_features_load(path, &g), MLA_OK);
        assert_string_equal(mla_features_spec(g), specs[s]);
        int dim = mla_features_dim(f);
        assert_int_equal(mla_features_dim(g), dim);
        float *a = malloc((size_t)N * dim * sizeof *a), *b = malloc((size_t)N * dim * sizeof *b);
        assert_int_equal(mla_features_transform(f, &im, a), MLA_OK);
        assert_int_equal(mla_features_transform(g, &im, b), MLA_OK);
        assert_memory_equal(a, b, (size_t)N * dim * sizeof *a);
        free(a), free(b);
        mla_features_free(g);
        if (s == 0) assert_int_equal(mla_features_dim(f), 3);
        mla_features_free(f);
    }
    assert_int_equal(truncate(path, 20), 0); /* the "raw" file is 27 bytes: this cuts its image shape */
    mla_features *g = NULL;
    assert_int_equal(mla_features_load(path, &g), MLA_ERR_FORMAT);
    assert_non_null(strstr(mla_last_error(), path));
    unlink(path);
}

int main(void) {
    mla_set_threads(1); /* OpenMP barriers spin on a busy machine; one thread keeps the suite quick */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_names_and_blocks),
        cmocka_unit_test(test_blank_image),
        cmocka_unit_test(test_hand_made_image),
        cmocka_unit_test(test_raw_and_variance_selection),
        cmocka_unit_test(test_bad_specs_and_shapes),
        cmocka_unit_test(test_pipeline_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
