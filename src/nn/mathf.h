/* Private: float exp and the logistic function as straight-line code the compiler can
 * vectorise (libm's expf is an opaque call, one element at a time, and was a fifth of
 * EfficientNet's training time through SiLU and squeeze-and-excitation).
 *
 * mla_expf: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial
 * for e^r (Cephes' expf coefficients) and 2^n put into the exponent bits. Relative error
 * about 1 ulp (under 8e-8 on a grid of 1/64 from -87 to 88, as for libm's; the test in
 * tests/nn/test_gradcheck.c allows 2e-7) for x in [-87.3, 88.7]; above it +inf, below it
 * 0 (results that would be subnormal are flushed, which sigmoid and SiLU cannot tell
 * apart); NaN stays NaN. */
#ifndef MLAUDIT_NN_MATHF_H
#define MLAUDIT_NN_MATHF_H

#include <stdint.h>

static inline float mla_expf(float x) {
    const float hi = 88.72283f, lo = -87.33654f;
    float xc = x > hi ? hi : x;
    xc = xc < lo ? lo : xc;
    /* n = round(x / ln2): adding and subtracting 1.5 * 2^23 rounds to an integer. */
    const float magic = 12582912.0f;
    float n = (xc * 1.44269504088896341f + magic) - magic;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* n is in [-126, 128] and 2^128 is not a float: for n > 0 scale by 2^(n-1), then 2. */
    int32_t e = (int32_t)n;
    float twice = e > 0 ? 2.0f : 1.0f;
    e = e > 0 ? e - 1 : e;
    union {
        int32_t i;
        float f;
    } scale;
    scale.i = (e + 127) << 23;
    float out = p * twice * scale.f;
    out = x > hi ? __builtin_inff() : out;
    out = x < lo ? 0.0f : out;
    return x != x ? x : out;
}

/* 1 / (1 + e^-x) */
static inline float mla_sigmoidf(float x) { return 1.0f / (1.0f + mla_expf(-x)); }

#endif
