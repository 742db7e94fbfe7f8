/* xoshiro256** (Blackman & Vigna), seeded with splitmix64; normals by the polar
 * method (one at a time) or by the Ziggurat (arrays). */
#include "mlaudit/core.h"

#include <pthread.h>
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

/* One xoshiro256** step on s[4]: inlined into the array fills. */
static inline uint64_t xoshiro_next(uint64_t *restrict s) {
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

uint64_t mla_rng_u64(mla_rng *r) { return xoshiro_next(r->s); }

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

/* ---- Ziggurat normals (Marsaglia & Tsang 2000, in Doornik's 2005 form ZIGNOR: 128
 * boxes, the box index and the uniform from separate bits, so they are independent).
 * Exact: a box's rectangle part is accepted at once (98.8% of draws, one 64-bit draw,
 * a multiply and a compare), the wedges by rejection against the density, and the
 * bottom box's tail beyond R by Marsaglia's tail method, unbounded. */
enum { ZIG_C = 128 };
static const double ZIG_R = 3.442619855899, ZIG_V = 9.91256303526217e-3;
static double zig_x[ZIG_C + 1], zig_ratio[ZIG_C];
static pthread_once_t zig_once = PTHREAD_ONCE_INIT;

/* zig_x[i]: the right edge of box i (zig_x[0] = V / f(R), the bottom box's width as a
 * rectangle of area V); zig_ratio[i] = x[i+1] / x[i], the part of box i that lies
 * under the curve whatever the height. */
static void zig_init(void) {
    double f = exp(-0.5 * ZIG_R * ZIG_R);
    zig_x[0] = ZIG_V / f;
    zig_x[1] = ZIG_R;
    zig_x[ZIG_C] = 0;
    for (int i = 2; i < ZIG_C; i++) {
        zig_x[i] = sqrt(-2 * log(ZIG_V / zig_x[i - 1] + f));
        f = exp(-0.5 * zig_x[i] * zig_x[i]);
    }
    for (int i = 0; i < ZIG_C; i++) zig_ratio[i] = zig_x[i + 1] / zig_x[i];
}

/* Uniform in (0, 1]: log() of it is finite. */
static inline double open_uniform(uint64_t *s) { return (double)((xoshiro_next(s) >> 11) + 1) * 0x1.0p-53; }

/* The slow paths of one draw whose first try, u in [-1, 1) and box i, missed the
 * rectangle; draws again until accepted. */
static double zig_slow(uint64_t *s, double u, int i) {
    for (;;) {
        if (i == 0) { /* the tail beyond R (Marsaglia 1964) */
            double x, y;
            do {
                x = log(open_uniform(s)) / ZIG_R;
                y = log(open_uniform(s));
            } while (-2 * y < x * x);
            return u < 0 ? x - ZIG_R : ZIG_R - x;
        }
        double x = u * zig_x[i];
        double f0 = exp(-0.5 * (zig_x[i] * zig_x[i] - x * x));
        double f1 = exp(-0.5 * (zig_x[i + 1] * zig_x[i + 1] - x * x));
        if (f1 + open_uniform(s) * (f0 - f1) < 1.0) return x; /* under the curve in the wedge */
        uint64_t b = xoshiro_next(s);
        u = (double)(b >> 11) * 0x1.0p-52 - 1.0;
        i = (int)(b & (ZIG_C - 1));
        if (fabs(u) < zig_ratio[i]) return u * zig_x[i];
    }
}

/* Blocks of this many draws: the 64-bit draws first, from eight xoshiro256** lanes
 * side by side (one vector register a step: a single generator's serial chain took
 * most of the time), then the rectangle test on the whole block (vectorised: gathers
 * from the tables), then the few misses in order, each drawing on from the caller's
 * own stream. */
enum { ZIG_BLOCK = 256, ZIG_LANES = 8 };

/* b[0..m) (m a multiple of ZIG_LANES) from the lanes, state st[word][lane]. */
static void xoshiro_lanes(uint64_t (*restrict st)[ZIG_LANES], uint64_t *restrict b, int m) {
    for (int j = 0; j < m; j += ZIG_LANES)
        for (int l = 0; l < ZIG_LANES; l++) {
            uint64_t s0 = st[0][l], s1 = st[1][l], s2 = st[2][l], s3 = st[3][l];
            b[j + l] = rotl(s1 * 5, 7) * 9;
            uint64_t t = s1 << 17;
            s2 ^= s0;
            s3 ^= s1;
            s1 ^= s2;
            s0 ^= s3;
            s2 ^= t;
            st[0][l] = s0, st[1][l] = s1, st[2][l] = s2, st[3][l] = rotl(s3, 45);
        }
}

/* The rectangle test on m draws b: o[k] the candidate, miss[k] whether it failed
 * (then o[k] is replaced); returns the number of misses. 64-bit lanes throughout,
 * so that the loop vectorises (gathers from the tables). */
static int64_t zig_rectangles(const uint64_t *restrict b, double *restrict o, int64_t *restrict miss, int m) {
    int64_t misses = 0;
    for (int k = 0; k < m; k++) {
        double u = (double)(int64_t)(b[k] >> 11) * 0x1.0p-52 - 1.0; /* top 53 bits: [-1, 1) */
        int64_t i = (int64_t)(b[k] & (ZIG_C - 1));                  /* low 7 bits: the box */
        o[k] = u * zig_x[i];
        miss[k] = !(fabs(u) < zig_ratio[i]);
        misses += miss[k];
    }
    return misses;
}

void mla_rng_normals(mla_rng *r, double *out, size_t n) {
    pthread_once(&zig_once, zig_init);
    /* r takes one step, so that the next call forks other lanes; the lanes are
     * forks of it, and the slow paths draw on r itself. */
    mla_rng_u64(r);
    uint64_t lanes[4][ZIG_LANES], b[ZIG_BLOCK];
    for (int l = 0; l < ZIG_LANES; l++) {
        mla_rng f = mla_rng_fork(r, (uint64_t)l);
        for (int w = 0; w < 4; w++) lanes[w][l] = f.s[w];
    }
    int64_t miss[ZIG_BLOCK];
    uint64_t s[4];
    memcpy(s, r->s, sizeof s);
    for (size_t k0 = 0; k0 < n; k0 += ZIG_BLOCK) {
        int m = n - k0 < ZIG_BLOCK ? (int)(n - k0) : ZIG_BLOCK;
        double *o = out + k0;
        xoshiro_lanes(lanes, b, (m + ZIG_LANES - 1) / ZIG_LANES * ZIG_LANES);
        int64_t misses = zig_rectangles(b, o, miss, m);
        for (int k = 0; misses && k < m; k++)
            if (miss[k]) {
                o[k] = zig_slow(s, (double)(b[k] >> 11) * 0x1.0p-52 - 1.0, (int)(b[k] & (ZIG_C - 1)));
                misses--;
            }
    }
    memcpy(r->s, s, sizeof s);
}
