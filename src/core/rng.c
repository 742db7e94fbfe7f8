/* xoshiro256** (Blackman & Vigna), seeded with splitmix64. */
#include "mlaudit/core.h"

#include <string.h>

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void mla_rng_seed(mla_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0;
}

mla_rng mla_rng_fork(const mla_rng *r, uint64_t stream) {
    mla_rng out;
    uint64_t x = r->s[0] ^ rotl(r->s[1], 17) ^ rotl(r->s[2], 31) ^ rotl(r->s[3], 47);
    x ^= splitmix64(&stream);
    mla_rng_seed(&out, x);
    return out;
}

uint64_t mla_rng_u64(mla_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mla_rng_uniform(mla_rng *r) { return (double)(mla_rng_u64(r) >> 11) * 0x1.0p-53; }

double mla_rng_normal(mla_rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * mla_rng_uniform(r) - 1.0;
        v = 2.0 * mla_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double m = sqrt(-2.0 * log(s) / s);
    r->spare = v * m;
    r->has_spare = 1;
    return u * m;
}

uint64_t mla_rng_below(mla_rng *r, uint64_t n) {
    /* Rejection sampling removes modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = mla_rng_u64(r);
    while (x >= limit);
    return x % n;
}

void mla_rng_shuffle(mla_rng *r, int32_t *a, int32_t n) {
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = (int32_t)mla_rng_below(r, (uint64_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

void mla_rng_permutation(mla_rng *r, int32_t *out, int32_t n) {
    for (int32_t i = 0; i < n; i++) out[i] = i;
    mla_rng_shuffle(r, out, n);
}

double mla_rng_gamma(mla_rng *r, double shape) {
    if (shape < 1.0) {
        /* Boost: Gamma(a) = Gamma(a + 1) * U^(1/a). */
        double u = mla_rng_uniform(r);
        return mla_rng_gamma(r, shape + 1.0) * pow(u > 0 ? u : 1e-300, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = mla_rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0);
        v = v * v * v;
        double u = mla_rng_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

double mla_rng_beta(mla_rng *r, double a, double b) {
    double x = mla_rng_gamma(r, a), y = mla_rng_gamma(r, b);
    return x + y > 0 ? x / (x + y) : 0.5;
}

void mla_rng_pack(const mla_rng *r, int64_t out[6]) {
    for (int i = 0; i < 4; i++) memcpy(&out[i], &r->s[i], 8);
    out[4] = r->has_spare;
    memcpy(&out[5], &r->spare, 8);
}

void mla_rng_unpack(const int64_t in[6], mla_rng *r) {
    for (int i = 0; i < 4; i++) memcpy(&r->s[i], &in[i], 8);
    r->has_spare = (int)in[4];
    memcpy(&r->spare, &in[5], 8);
}
