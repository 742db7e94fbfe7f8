/* Tests of the safetensors reader and writer: round trips, the exact bytes of a
 * tiny file, files in the layout Python's safetensors writes, hostile files, and
 * a byte-flip fuzz loop that must never crash (run under ASan by `make test`). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tmpdir.h"
#include "mlaudit/safetensors.h"

static int setup(void **state) {
    (void)state;
    return test_tmpdir_create("st");
}

static int teardown(void **state) {
    (void)state;
    return test_tmpdir_remove();
}

/* Writes raw bytes (plain stdio: the fuzz loop writes hundreds of files). */
static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* Writes a file from an explicit 64-bit length prefix, header text and data. */
static void write_raw_file(const char *path, uint64_t prefix, const char *header,
                           const void *data, size_t data_len) {
    size_t hlen = strlen(header);
    unsigned char *buf = malloc(8 + hlen + data_len + 1);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(prefix >> (8 * i));
    memcpy(buf + 8, header, hlen);
    if (data_len) memcpy(buf + 8 + hlen, data, data_len);
    write_bytes(path, buf, 8 + hlen + data_len);
    free(buf);
}

/* A well-formed file: the prefix is the header's real length. */
static void write_file(const char *path, const char *header, const void *data, size_t len) {
    write_raw_file(path, strlen(header), header, data, len);
}

static void test_round_trip(void **state) {
    (void)state;
    float w[2][3] = {{1.5f, -2.0f, 3.25f}, {0.0f, 1e-30f, -7.0f}};
    int32_t labels[4] = {0, -1, 2147483647, -2147483647 - 1};
    int64_t big[2] = {INT64_MAX, -5};
    uint8_t bytes[5] = {0, 1, 128, 254, 255};
    double d = 3.141592653589793;
    mla_st_tensor t[] = {
        {.name = "layer.0.weight", .dtype = MLA_ST_F32, .ndim = 2, .shape = {2, 3}, .data = w},
        {.name = "labels", .dtype = MLA_ST_I32, .ndim = 1, .shape = {4}, .data = labels},
        {.name = "big", .dtype = MLA_ST_I64, .ndim = 2, .shape = {1, 2}, .data = big},
        {.name = "bytes", .dtype = MLA_ST_U8, .ndim = 1, .shape = {5}, .data = bytes},
        {.name = "scalar", .dtype = MLA_ST_F64, .ndim = 0, .data = &d},
        {.name = "empty", .dtype = MLA_ST_F32, .ndim = 2, .shape = {0, 4}, .data = NULL},
    };
    mla_st_meta meta[] = {{"format", "pt"}, {"spec", "{\"layers\": [\"dense\"]}"}};
    const char *path = test_tmp_path("round.safetensors");
    assert_int_equal(mla_st_write(path, t, 6, meta, 2), MLA_OK);

    mla_st_file *f;
    assert_int_equal(mla_st_read(path, &f), MLA_OK);
    assert_int_equal(mla_st_count(f), 6);
    for (int i = 0; i < 6; i++) {
        const mla_st_tensor *r = mla_st_at(f, i); /* header order = write order */
        assert_string_equal(r->name, t[i].name);
        assert_int_equal(r->dtype, t[i].dtype);
        assert_int_equal(r->ndim, t[i].ndim);
        for (int k = 0; k < r->ndim; k++) assert_int_equal(r->shape[k], t[i].shape[k]);
        assert_ptr_equal(mla_st_find(f, t[i].name), r);
    }
    assert_memory_equal(mla_st_find(f, "layer.0.weight")->data, w, sizeof w);
    assert_memory_equal(mla_st_find(f, "labels")->data, labels, sizeof labels);
    assert_memory_equal(mla_st_find(f, "big")->data, big, sizeof big);
    assert_memory_equal(mla_st_find(f, "bytes")->data, bytes, sizeof bytes);
    assert_memory_equal(mla_st_find(f, "scalar")->data, &d, sizeof d);
    assert_null(mla_st_find(f, "nope"));
    assert_null(mla_st_at(f, 6));
    assert_string_equal(mla_st_meta_get(f, "format"), "pt");
    assert_string_equal(mla_st_meta_get(f, "spec"), "{\"layers\": [\"dense\"]}");
    assert_null(mla_st_meta_get(f, "absent"));
    assert_string_equal(mla_st_dtype_name(MLA_ST_I64), "I64");
    mla_st_free(f);
}

/* The exact bytes of a tiny file: metadata first, compact JSON, space padding. */
static void test_golden_bytes(void **state) {
    (void)state;
    float v[2] = {1.0f, -2.0f};
    mla_st_tensor t = {.name = "a", .dtype = MLA_ST_F32, .ndim = 1, .shape = {2}, .data = v};
    mla_st_meta m = {"k", "v"};
    const char *path = test_tmp_path("golden.safetensors");
    assert_int_equal(mla_st_write(path, &t, 1, &m, 1), MLA_OK);

    const char json[] =
        "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
        "\"data_offsets\":[0,8]}}";
    size_t jl = sizeof json - 1;           /* 79 */
    size_t padded = (jl + 7) / 8 * 8;      /* 80 */
    unsigned char want[8 + 80 + 8];
    assert_int_equal(padded, 80);
    memset(want, 0, sizeof want);
    want[0] = 80;
    memcpy(want + 8, json, jl);
    memset(want + 8 + jl, ' ', padded - jl);
    const unsigned char data[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};
    memcpy(want + 8 + padded, data, 8);

    char *got;
    size_t n;
    assert_int_equal(mla_read_file(path, 1 << 20, &got, &n), MLA_OK);
    assert_int_equal(n, sizeof want);
    assert_memory_equal(got, want, sizeof want);
    free(got);

    /* No metadata: no __metadata__ key at all; an empty file list is still valid. */
    assert_int_equal(mla_st_write(path, NULL, 0, NULL, 0), MLA_OK);
    assert_int_equal(mla_read_file(path, 1 << 20, &got, &n), MLA_OK);
    assert_int_equal(n, 16);
    assert_memory_equal(got, "\x08\0\0\0\0\0\0\0{}      ", 16);
    free(got);
}

/* The layout Python's safetensors (save_file) produces: no __metadata__ unless
 * given, tensors sorted by its own rule, keys in any order, space padding. */
static void test_reads_python_layout(void **state) {
    (void)state;
    const char *header =
        "{\"bias\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
        "\"weight\":{\"shape\":[2, 2],\"data_offsets\":[16,32],\"dtype\":\"F32\"}} "
        "           ";
    unsigned char data[32];
    double bias[2] = {0.5, -0.25};
    float weight[4] = {1, 2, 3, 4};
    memcpy(data, bias, 16);
    memcpy(data + 16, weight, 16);
    const char *path = test_tmp_path("python.safetensors");
    write_file(path, header, data, sizeof data);

    mla_st_file *f;
    assert_int_equal(mla_st_read(path, &f), MLA_OK);
    assert_int_equal(mla_st_count(f), 2);
    assert_null(mla_st_meta_get(f, "format"));
    const mla_st_tensor *w = mla_st_find(f, "weight");
    assert_non_null(w);
    assert_int_equal(w->dtype, MLA_ST_F32);
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[0], 2);
    assert_int_equal(w->shape[1], 2);
    float got[4];
    memcpy(got, w->data, sizeof got);
    assert_memory_equal(got, weight, sizeof got);
    const mla_st_tensor *b = mla_st_find(f, "bias");
    assert_memory_equal(b->data, bias, sizeof bias);
    assert_string_equal(mla_st_at(f, 0)->name, "bias");
    mla_st_free(f);

    /* Metadata placed after the tensors is found too. */
    const char *h2 =
        "{\"x\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
        "\"__metadata__\":{\"format\":\"pt\"}}";
    write_file(path, h2, "abc", 3);
    assert_int_equal(mla_st_read(path, &f), MLA_OK);
    assert_string_equal(mla_st_meta_get(f, "format"), "pt");
    assert_memory_equal(mla_st_find(f, "x")->data, "abc", 3);
    mla_st_free(f);
}

typedef struct {
    const char *what;
    const char *header;
    size_t data_len;
    const char *message; /* a piece of the expected error message */
} hostile_case;

static const hostile_case HOSTILE[] = {
    {"invalid JSON", "{\"a\":{\"dtype\":\"F32\",", 0, "not valid JSON"},
    {"trailing garbage", "{} x", 0, "not valid JSON"},
    {"not an object", "[1, 2]", 0, "not a JSON object"},
    {"entry not an object", "{\"a\":3}", 0, "'a': entry is not an object"},
    {"offsets out of range", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 3,
     "'a': data_offsets [0, 4] outside"},
    {"begin after end", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[3,1]}}", 4,
     "'a': data_offsets"},
    {"offsets not integers", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0.5,1]}}",
     4, "'a': data_offsets must be"},
    {"overlap",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
     8, "'a' and 'b' overlap"},
    {"shape/bytes mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
     "'a': 8 data bytes but its shape needs 12"},
    {"negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0,
     "'a': shape[0] is not a non-negative integer"},
    {"fractional dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,0]}}", 0,
     "'a': shape[1]"},
    {"overflowing dims",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
     "\"data_offsets\":[0,0]}}",
     0, "'a': shape product overflows"},
    {"too many dims",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
     "'a': 9 dims"},
    {"unsupported dtype", "{\"w\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2,
     "unsupported dtype BF16 for tensor 'w'"},
    {"dtype not a string", "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "'w': missing or non-string dtype"},
    {"missing shape", "{\"w\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1,
     "'w': missing or non-array shape"},
    {"non-string metadata", "{\"__metadata__\":{\"epochs\":5}}", 0,
     "metadata 'epochs' is not a string"},
    {"metadata not an object", "{\"__metadata__\":[\"x\"]}", 0, "__metadata__ is not an object"},
    {"duplicate name",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
     "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
     2, "'a' appears twice"},
};

static void expect_format_error(const char *path, const char *piece) {
    mla_st_file *f = (mla_st_file *)0x1;
    assert_int_equal(mla_st_read(path, &f), MLA_ERR_FORMAT);
    assert_null(f);
    if (!strstr(mla_last_error(), path) || !strstr(mla_last_error(), piece))
        fail_msg("message '%s' lacks '%s' or '%s'", mla_last_error(), path, piece);
}

static void test_hostile_headers(void **state) {
    (void)state;
    static const char zeros[16];
    const char *path = test_tmp_path("hostile.safetensors");
    for (size_t i = 0; i < sizeof HOSTILE / sizeof HOSTILE[0]; i++) {
        write_file(path, HOSTILE[i].header, zeros, HOSTILE[i].data_len);
        expect_format_error(path, HOSTILE[i].message);
    }
}

static void test_hostile_lengths(void **state) {
    (void)state;
    const char *path = test_tmp_path("length.safetensors");
    write_bytes(path, "\x10\0\0\0", 4); /* truncated length prefix */
    expect_format_error(path, "truncated");
    write_bytes(path, "", 0);
    expect_format_error(path, "truncated");
    write_raw_file(path, 100, "{}", NULL, 0); /* longer than the file */
    expect_format_error(path, "header length 100 exceeds");
    write_raw_file(path, UINT64_MAX, "{}", NULL, 0);
    expect_format_error(path, "header length 18446744073709551615 exceeds");
    write_raw_file(path, UINT64_MAX - 7, "{}", NULL, 0);
    expect_format_error(path, "exceeds");
    write_raw_file(path, 0, "{}", NULL, 0); /* empty header */
    expect_format_error(path, "not valid JSON");
    write_raw_file(path, 1, "{}", NULL, 0); /* header cut inside the JSON */
    expect_format_error(path, "not valid JSON");
    /* A missing file is an i/o error, named. */
    mla_st_file *f;
    assert_int_equal(mla_st_read(test_tmp_path("missing.safetensors"), &f), MLA_ERR_IO);
    assert_non_null(strstr(mla_last_error(), "missing.safetensors"));
}

static void test_writer_refuses_bad_input(void **state) {
    (void)state;
    float x = 1;
    const char *path = test_tmp_path("bad.safetensors");
    mla_st_tensor t[2] = {
        {.name = "a", .dtype = MLA_ST_F32, .ndim = 1, .shape = {1}, .data = &x},
        {.name = "a", .dtype = MLA_ST_F32, .ndim = 1, .shape = {1}, .data = &x},
    };
    assert_int_equal(mla_st_write(path, t, 2, NULL, 0), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "'a' given twice"));
    t[1].name = "b";
    t[1].shape[0] = -3;
    assert_int_equal(mla_st_write(path, t, 2, NULL, 0), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "'b'"));
    t[1].shape[0] = 1;
    t[1].dtype = (mla_st_dtype)42;
    assert_int_equal(mla_st_write(path, t, 2, NULL, 0), MLA_ERR_INVALID);
    t[1].dtype = MLA_ST_F32;
    t[1].name = "__metadata__";
    assert_int_equal(mla_st_write(path, t, 2, NULL, 0), MLA_ERR_INVALID);
    mla_st_meta m[2] = {{"k", "v"}, {"k", "w"}};
    assert_int_equal(mla_st_write(path, t, 1, m, 2), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "'k' given twice"));
    assert_int_equal(access(path, F_OK), -1); /* nothing half-written */
    assert_int_equal(mla_st_write("/nonexistent-dir/x.safetensors", t, 1, NULL, 0), MLA_ERR_IO);
    assert_non_null(strstr(mla_last_error(), "/nonexistent-dir/x.safetensors"));
}

/* Reads a (possibly corrupt) file; on success touches every data byte so ASan
 * catches any pointer the validation let through. */
static void read_and_touch(const char *path) {
    mla_st_file *f;
    mla_status s = mla_st_read(path, &f);
    assert_true(s == MLA_OK || s == MLA_ERR_FORMAT);
    if (s) return;
    unsigned sum = 0;
    for (int i = 0; i < mla_st_count(f); i++) {
        const mla_st_tensor *t = mla_st_at(f, i);
        int64_t n = 1;
        for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
        size_t bytes = (size_t)n * (t->dtype == MLA_ST_U8 ? 1 : t->dtype <= MLA_ST_I32 ? 4 : 8);
        for (size_t k = 0; k < bytes; k++) sum += ((const unsigned char *)t->data)[k];
        assert_ptr_equal(mla_st_find(f, t->name), t);
    }
    (void)sum;
    mla_st_free(f);
}

static void test_byte_flip_fuzz(void **state) {
    (void)state;
    float w[6] = {1, 2, 3, 4, 5, 6};
    int64_t idx[3] = {7, 8, 9};
    mla_st_tensor t[] = {
        {.name = "w", .dtype = MLA_ST_F32, .ndim = 2, .shape = {2, 3}, .data = w},
        {.name = "idx", .dtype = MLA_ST_I64, .ndim = 1, .shape = {3}, .data = idx},
    };
    mla_st_meta m = {"format", "pt"};
    const char *src = test_tmp_path("fuzz-src.safetensors");
    assert_int_equal(mla_st_write(src, t, 2, &m, 1), MLA_OK);
    char *orig;
    size_t n;
    assert_int_equal(mla_read_file(src, 1 << 20, &orig, &n), MLA_OK);
    char *buf = malloc(n);
    assert_non_null(buf);
    char fuzz[256];
    snprintf(fuzz, sizeof fuzz, "%s", test_tmp_path("fuzz.safetensors"));
    static const unsigned char flips[] = {0x01, 0x20, 0xff}; /* digits, case and spaces, bytes */
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t k = 0; k < sizeof flips; k++) {
            memcpy(buf, orig, n);
            buf[pos] ^= (char)flips[k];
            write_bytes(fuzz, buf, n);
            read_and_touch(fuzz);
        }
        write_bytes(fuzz, orig, pos); /* every truncation too */
        read_and_touch(fuzz);
    }
    free(buf);
    free(orig);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_golden_bytes),
        cmocka_unit_test(test_reads_python_layout),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_hostile_lengths),
        cmocka_unit_test(test_writer_refuses_bad_input),
        cmocka_unit_test(test_byte_flip_fuzz),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
