#include "common/toy_data.h"

#include <stdlib.h>

mla_dataset *toy_bars(int n) {
    enum { H = 8, W = 8, K = 3 };
    uint8_t *px = malloc((size_t)n * H * W);
    int32_t *y = malloc((size_t)n * sizeof *y);
    mla_dataset *ds = NULL;
    if (px && y) {
        mla_rng r;
        mla_rng_seed(&r, 77);
        for (int i = 0; i < n; i++) {
            y[i] = i % K;
            for (int p = 0; p < H * W; p++) {
                int bright = (p / W) / 3 == y[i];
                px[i * H * W + p] = (uint8_t)(bright ? 150 + mla_rng_below(&r, 100) : mla_rng_below(&r, 120));
            }
        }
        if (mla_dataset_from_memory(n, 1, H, W, px, NULL, y, K, &ds)) ds = NULL;
    }
    free(px), free(y);
    return ds;
}

mla_dataset *toy_quarters(int n, uint64_t seed) {
    uint8_t *px = malloc((size_t)n * 16);
    int32_t *y = malloc((size_t)n * sizeof *y);
    mla_dataset *ds = NULL;
    if (px && y) {
        mla_rng r;
        mla_rng_seed(&r, seed);
        for (int i = 0; i < n; i++) {
            y[i] = (int32_t)mla_rng_below(&r, 3);
            for (int j = 0; j < 16; j++) px[i * 16 + j] = (uint8_t)(mla_rng_below(&r, 100) + (j / 4 == y[i] ? 120 : 0));
        }
        if (mla_dataset_from_memory(n, 1, 4, 4, px, NULL, y, 3, &ds)) ds = NULL;
    }
    free(px), free(y);
    return ds;
}
