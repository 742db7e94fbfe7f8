/* Byte-flip and truncation sweeps over small IDX (plain and gzip) and .npy files:
 * every mutant must load cleanly or fail with a status and a message naming the
 * file, never crash or leak (this runs under ASan + UBSan in `make test`). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "data/data_test_util.h"
#include "mlaudit/data.h"

static const unsigned char MASKS[] = {0x01, 0x20, 0x80, 0xff};
#define NMASKS (sizeof MASKS / sizeof MASKS[0])

typedef struct {
    char *dir, *img, *lab; /* the file under test is `img` or `lab` */
} fuzz_files;

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = malloc(1 << 16);
    *n = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

typedef mla_status (*loader)(const char *img, const char *lab, mla_dataset **out);

/* Loads one mutant; any outcome but a crash is acceptable, and errors must name a file. */
static int load_mutant(loader load, const char *img, const char *lab, const char *victim) {
    mla_dataset *ds = NULL;
    mla_status s = load(img, lab, &ds);
    if (s == MLA_OK) {
        assert_non_null(ds);
        assert_true(mla_dataset_count(ds) > 0);
        for (int i = 0; i < mla_dataset_count(ds); i++)
            assert_true(mla_dataset_labels(ds)[i] >= 0 && mla_dataset_labels(ds)[i] < mla_dataset_classes(ds));
        mla_dataset_free(ds);
        return 0;
    }
    assert_null(ds);
    if (!strstr(mla_last_error(), victim) && !strstr(mla_last_error(), img) && !strstr(mla_last_error(), lab))
        fail_msg("error without a file name: %s", mla_last_error());
    return 1;
}

/* Rewrites `victim` with each byte flipped by each mask, then truncated at each
 * length, loading after every change. Returns how many mutants failed. */
static int sweep(loader load, const char *img, const char *lab, const char *victim, size_t limit) {
    size_t n;
    unsigned char *orig = read_all(victim, &n), *buf = malloc(n);
    int failures = 0;
    for (size_t i = 0; i < n && i < limit; i++)
        for (size_t m = 0; m < NMASKS; m++) {
            memcpy(buf, orig, n);
            buf[i] ^= MASKS[m];
            assert_int_equal(write_bytes(victim, buf, n, 0), 0);
            failures += load_mutant(load, img, lab, victim);
        }
    for (size_t len = 0; len < n; len++) {
        assert_int_equal(write_bytes(victim, orig, len, 0), 0);
        failures += load_mutant(load, img, lab, victim);
    }
    assert_int_equal(write_bytes(victim, orig, n, 0), 0);
    assert_int_equal(load_mutant(load, img, lab, victim), 0); /* the original still loads */
    free(orig);
    free(buf);
    return failures;
}

static void write_idx_pair(const char *img, const char *lab, int gz) {
    uint8_t px[3 * 4 * 4], labels[3] = {1, 9, 0};
    for (int i = 0; i < 48; i++) px[i] = (uint8_t)(i * 5);
    assert_int_equal(write_idx_images(img, 0x803, 3, 4, 4, px, sizeof px, gz), 0);
    assert_int_equal(write_idx_labels(lab, 0x801, 3, labels, sizeof labels, gz), 0);
}

static void test_fuzz_idx_plain_and_gzip(void **state) {
    (void)state;
    char *dir = make_tmpdir(), *img = join(dir, "img"), *lab = join(dir, "lab");
    for (int gz = 0; gz < 2; gz++) {
        write_idx_pair(img, lab, gz);
        int bad = sweep(mla_dataset_load_idx, img, lab, img, 1 << 16);
        bad += sweep(mla_dataset_load_idx, img, lab, lab, 1 << 16);
        assert_true(bad > 100); /* the sweep did reach the validation */
    }
    free(img);
    free(lab);
    rm_tree(dir);
    free(dir);
}

static void test_fuzz_npy_header(void **state) {
    (void)state;
    char *dir = make_tmpdir(), *img = join(dir, "x.npy"), *lab = join(dir, "y.npy");
    float x[2 * 3] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
    int64_t xs[2] = {2, 3}, ys[1] = {2};
    int32_t y[2] = {1, 0};
    assert_int_equal(mla_npy_write_f32(img, x, 2, xs), MLA_OK);
    assert_int_equal(mla_npy_write_i32(lab, y, 1, ys), MLA_OK);
    int bad = sweep(mla_dataset_load_npy, img, lab, img, 64); /* the preamble and header */
    bad += sweep(mla_dataset_load_npy, img, lab, lab, 64);
    assert_true(bad > 100);
    free(img);
    free(lab);
    rm_tree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz_idx_plain_and_gzip),
        cmocka_unit_test(test_fuzz_npy_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
