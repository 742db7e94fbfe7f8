/* Private: the pieces of the kNN search engine shared by knn_index.c and knn_int8.c. */
#ifndef MLAUDIT_KNN_IMPL_H
#define MLAUDIT_KNN_IMPL_H

#include "mlaudit/knn.h"

#include <stdint.h>

/* The int8 engine packs rows in panels of this many rows. */
#define MLA_KNN_PANEL 32

/* 8-bit pixel data prepared for the integer engine, in the layout of the kernel family
 * that packed it (isa): groups of g = 4 dimensions per row for AVX-512 VNNI, g = 2 for
 * AVX2. */
typedef struct {
    int n, d;
    int isa;             /* MLA_ISA_AVX512 (VNNI) or MLA_ISA_AVX2 */
    int g, ng;           /* dimensions per group, and groups per row: ceil(d / g) */
    int panels;          /* ceil(n / MLA_KNN_PANEL) */
    uint8_t *packed;     /* [panel][ng][MLA_KNN_PANEL][g] pixel values, zero padded */
    int32_t *base;       /* per row (padded): see knn_int8.c */
} mla_knn_int8_rows;

/* The pixel value v in 0..255 that x encodes (x == v / 255.0f or v * (1.0f / 255)),
 * or -1 if x is not such a value. */
static inline int mla_knn_pixel_value(float x) {
    if (!(x >= 0.0f && x <= 1.0f)) return -1;
    int v = (int)(x * 255.0f + 0.5f);
    if (x == (float)v / 255.0f || x == (float)v * (1.0f / 255.0f)) return v;
    return -1;
}

/* The integer engine's family on this CPU (and under MLA_ISA, mlaudit/core.h):
 * MLA_ISA_AVX512 with AVX-512 VNNI, MLA_ISA_AVX2 with AVX2, else MLA_ISA_PORTABLE (none:
 * the float engine serves pixel data too). */
mla_isa mla_knn_int8_isa(void);
/* 1 if this CPU runs the integer engine (mla_knn_int8_isa() is not portable). */
int mla_knn_int8_supported(void);

/* Packs n x d rows if every value is a pixel (mla_knn_pixel_value >= 0); otherwise
 * returns MLA_OK with out->packed NULL. MLA_ERR_NOMEM on allocation failure. */
mla_status mla_knn_int8_pack(const float *x, int n, int d, mla_knn_int8_rows *out);
void mla_knn_int8_release(mla_knn_int8_rows *r);

/* Exact Euclidean top k of m pixel queries against the packed rows; writes indices
 * and distances (in [0,1]-pixel units) like mla_knn_search. */
mla_status mla_knn_int8_search(const mla_knn_int8_rows *r, const float *queries, int m, int k, int32_t *idx,
                               float *dist);

#endif
