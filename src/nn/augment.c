/* Data augmentation and target mixing for the training loop. */
#include <string.h>

#include "nn/train_impl.h"

void mla_shift_image(const float *src, float *dst, mla_shape s, int dy, int dx, bool flip) {
    for (int c = 0; c < s.c; c++)
        for (int y = 0; y < s.h; y++) {
            float *row = dst + ((size_t)c * s.h + y) * s.w;
            int sy = y - dy;
            if (sy < 0 || sy >= s.h) {
                memset(row, 0, (size_t)s.w * sizeof(float));
                continue;
            }
            const float *in = src + ((size_t)c * s.h + sy) * s.w;
            for (int x = 0; x < s.w; x++) {
                int sx = x - dx;
                if (flip) sx = s.w - 1 - sx;
                row[x] = sx >= 0 && sx < s.w ? in[sx] : 0.0f;
            }
        }
}

void mla_augment_batch(float *x, int n, mla_shape s, mla_rng *rng, float *scratch) {
    int pad = s.c == 3 ? 4 : 2;
    size_t size = (size_t)mla_shape_size(s);
    for (int i = 0; i < n; i++) {
        int dy = (int)mla_rng_below(rng, 2 * pad + 1) - pad, dx = (int)mla_rng_below(rng, 2 * pad + 1) - pad;
        bool flip = s.c == 3 && mla_rng_below(rng, 2);
        float *img = x + (size_t)i * size;
        memcpy(scratch, img, size * sizeof(float));
        mla_shift_image(scratch, img, s, dy, dx, flip);
    }
}

void mla_smooth_targets(const int32_t *labels, int n, int k, float eps, float *targets) {
    float off = eps / (float)k, on = 1.0f - eps + off;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) targets[(size_t)i * k + j] = j == labels[i] ? on : off;
}

void mla_mixup_batch(float *x, float *targets, int n, int dim, int k, float alpha, mla_rng *rng, float *scratch,
                     int32_t *perm) {
    float lam = (float)mla_rng_beta(rng, alpha, alpha);
    mla_rng_permutation(rng, perm, n);
    /* scratch holds the batch before mixing, so x[perm[i]] is read unmixed. */
    memcpy(scratch, x, (size_t)n * dim * sizeof(float));
    for (int i = 0; i < n; i++) {
        const float *other = scratch + (size_t)perm[i] * dim;
        float *row = x + (size_t)i * dim;
        for (int d = 0; d < dim; d++) row[d] = lam * row[d] + (1.0f - lam) * other[d];
    }
    memcpy(scratch, targets, (size_t)n * k * sizeof(float));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++)
            targets[(size_t)i * k + j] = lam * targets[(size_t)i * k + j] + (1.0f - lam) * scratch[(size_t)perm[i] * k + j];
}
