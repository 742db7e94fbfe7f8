/* Tests of release.h: every policy on hand-made rows (exact values), ties, seeds, and
 * every refusal of the parser and of apply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "mlaudit/nn.h"
#include "mlaudit/release.h"

static mla_release parsed(const char *text, int classes) {
    mla_release r;
    assert_int_equal(mla_release_parse(text, classes, &r), MLA_OK);
    return r;
}

static void apply_ok(const char *text, const float *p, int n, int c, float *out) {
    mla_release r = parsed(text, c);
    assert_int_equal(mla_release_apply(&r, NULL, p, n, c, 0, out), MLA_OK);
}

/* ---- parsing ---- */

static void test_parse_kinds(void **state) {
    (void)state;
    mla_release r = parsed("none", 10);
    assert_int_equal(r.kind, MLA_RELEASE_NONE);
    assert_false(mla_release_active(&r));
    assert_false(mla_release_active(NULL));
    r = parsed("topk:3", 10);
    assert_int_equal(r.kind, MLA_RELEASE_TOPK);
    assert_int_equal(r.k, 3);
    assert_true(r.renormalise);
    assert_string_equal(r.text, "topk:3");
    assert_true(mla_release_active(&r));
    r = parsed("topk:10:raw", 10);
    assert_int_equal(r.k, 10);
    assert_false(r.renormalise);
    assert_string_equal(r.text, "topk:10:raw");
    r = parsed("round:0", 10);
    assert_int_equal(r.kind, MLA_RELEASE_ROUND);
    assert_int_equal(r.decimals, 0);
    assert_int_equal(parsed("round:8", 10).decimals, 8);
    assert_int_equal(parsed("label", 2).kind, MLA_RELEASE_LABEL);
    r = parsed("noise:0.5", 10);
    assert_int_equal(r.kind, MLA_RELEASE_NOISE);
    assert_true(r.sigma == 0.5);
    assert_string_equal(r.text, "noise:0.5");
    r = parsed("reverse-sigmoid:0.5,2", 10);
    assert_int_equal(r.kind, MLA_RELEASE_REVERSE_SIGMOID);
    assert_true(r.beta == 0.5 && r.gamma == 2);
    assert_string_equal(r.text, "reverse-sigmoid:0.5,2");
}

static void refused(const char *text, int classes, const char *needle) {
    mla_release r;
    memset(&r, 0x5a, sizeof r);
    assert_int_equal(mla_release_parse(text, classes, &r), MLA_ERR_INVALID);
    if (!strstr(mla_last_error(), needle)) fail_msg("'%s': message '%s' lacks '%s'", text, mla_last_error(), needle);
    assert_int_equal(r.kind, MLA_RELEASE_NONE); /* zeroed on error */
    assert_int_equal(r.k, 0);
}

static void test_parse_refusals(void **state) {
    (void)state;
    refused("topk:0", 10, "--release topk:0: K must be 1..10");
    refused("topk:11", 10, "--release topk:11: K must be 1..10");
    refused("topk:-1", 10, "K must be 1..10");
    refused("topk:x", 10, "K must be 1..10");
    refused("topk:2.5", 10, "K must be 1..10");
    refused("topk:", 10, "K must be 1..10");
    refused("topk:2:rwa", 10, "--release topk:2:rwa: expected topk:K or topk:K:raw");
    refused("topk", 10, "--release topk: topk needs an argument");
    refused("round:9", 10, "--release round:9: D must be 0..8");
    refused("round:-1", 10, "D must be 0..8");
    refused("round:1x", 10, "D must be 0..8");
    refused("noise:0", 10, "--release noise:0: S must be a finite number > 0");
    refused("noise:-1", 10, "S must be");
    refused("noise:nan", 10, "S must be");
    refused("noise:inf", 10, "S must be");
    refused("noise:", 10, "S must be");
    refused("reverse-sigmoid:1", 10, "--release reverse-sigmoid:1: expected reverse-sigmoid:BETA,GAMMA");
    refused("reverse-sigmoid:0,1", 10, "BETA > 0 and GAMMA > 0");
    refused("reverse-sigmoid:1,0", 10, "BETA > 0 and GAMMA > 0");
    refused("reverse-sigmoid:1,x", 10, "BETA > 0 and GAMMA > 0");
    refused("reverse-sigmoid", 10, "needs an argument");
    refused("label:1", 10, "--release label:1: label takes no argument");
    refused("none:1", 10, "none takes no argument");
    refused("nope", 10, "--release nope: unknown kind (none, topk:K[:raw], round:D, label, noise:S, "
                        "reverse-sigmoid:BETA,GAMMA)");
    refused("", 10, "unknown kind");
    refused("Label", 10, "unknown kind");
    refused("label", 1, "needs 2 or more classes");
    refused("topk:1:raw:raw", 10, "expected topk:K or topk:K:raw");
    refused("round:11111111111111111111111111111111111111111111111111111", 10, "too long");
    mla_release r;
    assert_int_equal(mla_release_parse(NULL, 10, &r), MLA_ERR_INVALID);
}

/* ---- each policy ---- */

static void test_none_copies(void **state) {
    (void)state;
    const float p[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    float out[4];
    apply_ok("none", p, 1, 4, out);
    assert_memory_equal(out, p, sizeof p);
}

static void test_topk(void **state) {
    (void)state;
    const float p[8] = {0.1f, 0.4f, 0.2f, 0.3f, /* row 2: ties */ 0.25f, 0.25f, 0.25f, 0.25f};
    float out[8];
    apply_ok("topk:2", p, 2, 4, out);
    double kept = (double)0.4f + (double)0.3f;
    const float want[8] = {0, (float)(0.4f / kept), 0, (float)(0.3f / kept), 0.5f, 0.5f, 0, 0};
    assert_memory_equal(out, want, sizeof want);
    apply_ok("topk:2:raw", p, 2, 4, out);
    const float raw[8] = {0, 0.4f, 0, 0.3f, 0.25f, 0.25f, 0, 0};
    assert_memory_equal(out, raw, sizeof raw);
    apply_ok("topk:1", p, 2, 4, out); /* top-1 renormalised is the one-hot of the argmax */
    const float one[8] = {0, 1, 0, 0, 1, 0, 0, 0};
    assert_memory_equal(out, one, sizeof one);
    apply_ok("topk:4:raw", p, 2, 4, out); /* K = C keeps everything */
    assert_memory_equal(out, p, sizeof p);
    /* ties at the cut: the lower index wins */
    const float q[4] = {0.2f, 0.3f, 0.2f, 0.3f};
    apply_ok("topk:3:raw", q, 1, 4, out);
    const float cut[4] = {0.2f, 0.3f, 0, 0.3f};
    assert_memory_equal(out, cut, sizeof cut);
}

static void test_round(void **state) {
    (void)state;
    const float p[2] = {0.123456f, 0.876544f};
    float out[3];
    apply_ok("round:2", p, 1, 2, out);
    assert_true(out[0] == (float)(12 / 100.0) && out[1] == (float)(88 / 100.0));
    apply_ok("round:4", p, 1, 2, out);
    assert_true(out[0] == (float)(1235 / 10000.0) && out[1] == (float)(8765 / 10000.0));
    apply_ok("round:8", p, 1, 2, out);
    assert_true(out[0] == (float)(round((double)p[0] * 1e8) / 1e8));
    /* the rounded row need not sum to 1: more (halves go up) ... */
    const float half[2] = {0.5f, 0.5f};
    apply_ok("round:0", half, 1, 2, out);
    assert_true(out[0] == 1 && out[1] == 1);
    /* ... or nothing at all */
    const float flat[3] = {0.3f, 0.3f, 0.4f};
    apply_ok("round:0", flat, 1, 3, out);
    assert_true(out[0] == 0 && out[1] == 0 && out[2] == 0);
}

static void test_label(void **state) {
    (void)state;
    const float p[6] = {0.2f, 0.5f, 0.3f, /* tie */ 0.4f, 0.2f, 0.4f};
    float out[6];
    apply_ok("label", p, 2, 3, out);
    const float want[6] = {0, 1, 0, 1, 0, 0};
    assert_memory_equal(out, want, sizeof want);
}

/* What noise:S must give for row `row` of a call with this seed (release.h). */
static void noise_expected(const float *z, int c, double sigma, uint64_t seed, int row, float *out) {
    mla_rng base, r;
    mla_rng_seed(&base, seed);
    r = mla_rng_fork(&base, (uint64_t)row);
    float zz[8];
    for (int j = 0; j < c; j++) zz[j] = (float)((double)z[j] + sigma * mla_rng_normal(&r));
    mla_softmax_rows(zz, 1, c, out);
}

static void test_noise_seeded(void **state) {
    (void)state;
    const float z[8] = {1, 2, 3, 4, 1, 2, 3, 4}; /* two equal rows */
    float p[8], out[8], again[8], other[8], want[4];
    mla_softmax_rows(z, 2, 4, p);
    mla_release r = parsed("noise:0.5", 4);
    assert_int_equal(mla_release_apply(&r, z, p, 2, 4, 42, out), MLA_OK);
    for (int row = 0; row < 2; row++) {
        noise_expected(z + row * 4, 4, 0.5, 42, row, want);
        assert_memory_equal(out + row * 4, want, sizeof want);
        double sum = 0;
        for (int j = 0; j < 4; j++) sum += out[row * 4 + j];
        assert_true(fabs(sum - 1) < 1e-6);
    }
    assert_true(memcmp(out, out + 4, 4 * sizeof(float)) != 0); /* rows draw their own noise */
    assert_int_equal(mla_release_apply(&r, z, p, 2, 4, 42, again), MLA_OK);
    assert_memory_equal(out, again, sizeof out); /* same seed, same bits */
    assert_int_equal(mla_release_apply(&r, z, p, 2, 4, 43, other), MLA_OK);
    assert_true(memcmp(out, other, sizeof out) != 0);
    /* row 0 alone is row 0 of the pair: rows are independent of each other */
    assert_int_equal(mla_release_apply(&r, z, p, 1, 4, 42, again), MLA_OK);
    assert_memory_equal(out, again, 4 * sizeof(float));
    /* noise reads the logits only */
    assert_int_equal(mla_release_apply(&r, z, NULL, 1, 4, 42, again), MLA_OK);
    assert_memory_equal(out, again, 4 * sizeof(float));
}

static void test_reverse_sigmoid(void **state) {
    (void)state;
    float out[2];
    /* BETA 0.5, GAMMA 2 on (0.8, 0.2): sigmoid(2 logit 0.8) = 0.64 / 0.68 = 16/17, so
     * r = (15/68, -15/68) and u = (39.4/68, 28.6/68), which sums to 1. */
    const float p[2] = {0.8f, 0.2f};
    apply_ok("reverse-sigmoid:0.5,2", p, 1, 2, out);
    assert_float_equal(out[0], 39.4 / 68, 1e-7);
    assert_float_equal(out[1], 28.6 / 68, 1e-7);
    /* GAMMA 1: sigmoid(logit q) = q, so u = (1 - BETA) p + BETA / 2; BETA 1 flattens. */
    apply_ok("reverse-sigmoid:1,1", p, 1, 2, out);
    assert_true(out[0] == 0.5f && out[1] == 0.5f);
    /* BETA 3: u = 1.5 - 2p = (-0.1, 1.1), clipped to (0, 1): the order reverses. */
    const float q[2] = {0.8f, 0.2f};
    apply_ok("reverse-sigmoid:3,1", q, 1, 2, out);
    assert_true(out[0] == 0 && out[1] == 1);
    /* exact zeros and ones are clipped to 1e-9 for the logit only */
    const float hard[2] = {1, 0};
    apply_ok("reverse-sigmoid:1,1", hard, 1, 2, out);
    assert_true(out[0] == 0.5f && out[1] == 0.5f);
    /* a uniform row is a fixed point */
    const float u[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    float o4[4];
    apply_ok("reverse-sigmoid:0.7,0.3", u, 1, 4, o4);
    assert_memory_equal(o4, u, sizeof u);
}

/* ---- apply's refusals ---- */

static void test_apply_refusals(void **state) {
    (void)state;
    const float p[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    float out[4];
    mla_release none = parsed("none", 4), noise = parsed("noise:1", 4), top = parsed("topk:4", 4);
    assert_int_equal(mla_release_apply(&noise, NULL, p, 1, 4, 0, out), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "needs the logits"));
    assert_int_equal(mla_release_apply(&none, p, NULL, 1, 4, 0, out), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "needs the probabilities"));
    assert_int_equal(mla_release_apply(&none, NULL, p, 1, 1, 0, out), MLA_ERR_INVALID);
    assert_int_equal(mla_release_apply(&none, NULL, p, -1, 4, 0, out), MLA_ERR_INVALID);
    assert_int_equal(mla_release_apply(&none, NULL, p, 1, 4, 0, NULL), MLA_ERR_INVALID);
    assert_int_equal(mla_release_apply(NULL, NULL, p, 1, 4, 0, out), MLA_ERR_INVALID);
    assert_int_equal(mla_release_apply(&top, NULL, p, 1, 3, 0, out), MLA_ERR_INVALID); /* parsed for 4 */
    assert_non_null(strstr(mla_last_error(), "K must be 1..3"));
    assert_int_equal(mla_release_apply(&none, NULL, NULL, 0, 4, 0, NULL), MLA_OK); /* no rows */
    const float bad[2] = {NAN, 0.5f};
    mla_release rs = parsed("reverse-sigmoid:1,1", 2);
    assert_int_equal(mla_release_apply(&rs, NULL, bad, 1, 2, 0, out), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "row 0 holds a non-finite probability"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_kinds),   cmocka_unit_test(test_parse_refusals), cmocka_unit_test(test_none_copies),
        cmocka_unit_test(test_topk),          cmocka_unit_test(test_round),          cmocka_unit_test(test_label),
        cmocka_unit_test(test_noise_seeded),  cmocka_unit_test(test_reverse_sigmoid),
        cmocka_unit_test(test_apply_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
