/* mlaudit features: what the classical models see of an image.
 *
 * Pipelines, named by a spec string:
 *   "raw"         every pixel, scaled to [0, 1] (8-bit v becomes v / 255.0f)
 *   "raw:T"       the pixels whose training variance (on the [0, 1] scale) exceeds T;
 *                 "raw:0" drops the constant pixels
 *   "engineered"  the hand-made set below (single-channel images)
 *   "pca:S"       PCA of the raw pixels keeping the fewest components that explain
 *                 more than the share S of the variance, 0 < S < 1 ("pca:0.95")
 *   "pca:N"       PCA keeping N components (an integer >= 1, "pca:187")
 * A pipeline is fitted on training images, then transforms any images of the same
 * shape; it saves to its own file so that a model can be used on new images.
 *
 * The engineered set. Pixel convention: value 0 is "white" (the background: in
 * Fashion-MNIST and MNIST the background pixels are exactly 0 and the garment or
 * stroke is the higher values, displayed as ink on paper), so "non-white" means
 * value > 0 and "light grey" means 1..122 on the 0..255 scale. For an h x w image,
 * in this order:
 *   6      share of pixels in each grey band: 0; 1-46; 47-93; 94-168; 169-205; 206-255
 *   h      share of non-white pixels in each row (top to bottom)
 *   w      share of non-white pixels in each column (left to right)
 *   2      share of rows, then of columns, that are completely white
 *   2 x 10 for each block below: share of non-white pixels, then of light-grey pixels
 * 84 features for 28 x 28. Blocks are half-open row and column ranges, using integer
 * division (28 x 28 values in brackets, inclusive):
 *   0..8  a 3 x 3 grid, row-major from the top left: rows [0, h/3), [h/3, 2h/3),
 *         [2h/3, h) (0-8, 9-17, 18-27) crossed with the same cuts of the columns
 *   9     the centre: rows [h/4, 3h/4) x columns [w/4, 3w/4) (rows 7-20, columns 7-20)
 */
#ifndef MLAUDIT_FEATURES_H
#define MLAUDIT_FEATURES_H

#include "mlaudit/core.h"
#include "mlaudit/pca.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLA_ENGINEERED_BLOCKS 10

/* n images of c x h x w pixels, given either as 8-bit values (u8) or as floats in
 * [0, 1] (f32): exactly one of the two is non-NULL. Borrowed by the calls below. */
typedef struct {
    int n, c, h, w;
    const uint8_t *u8;
    const float *f32;
} mla_images;

/* ---- the engineered set ---- */
int mla_engineered_count(int h, int w);   /* 6 + h + w + 2 + 20 */
/* Block b (0..9) of an h x w image as half-open ranges. */
void mla_engineered_block(int b, int h, int w, int *row0, int *row1, int *col0, int *col1);
/* Writes the name of feature i ("band_1_46", "row_03", "col_10", "white_rows",
 * "block4_nonwhite", "block9_light", ...) into buf; returns buf. */
const char *mla_engineered_name(int i, int h, int w, char *buf, size_t size);
/* The set for n single-channel 8-bit images (n x count floats into out). */
void mla_engineered_features(const uint8_t *pixels, int n, int h, int w, float *out);

/* ---- pipelines ---- */
typedef struct mla_features mla_features;

/* Parses spec (see above). *out owns the pipeline; free with mla_features_free. */
mla_status mla_features_create(const char *spec, mla_features **out);
void mla_features_free(mla_features *f);

mla_status mla_features_fit(mla_features *f, const mla_images *train);
/* Features per image once fitted. */
int mla_features_dim(const mla_features *f);
/* n x dim floats into out; the images must have the fitted shape. */
mla_status mla_features_transform(const mla_features *f, const mla_images *images, float *out);

const char *mla_features_spec(const mla_features *f);       /* borrowed */
/* The fitted PCA of a "pca:" pipeline (NULL otherwise); borrowed. */
const mla_pca *mla_features_pca(const mla_features *f);
/* For "raw:T": the kept pixel indices (count in *n_kept); NULL for other pipelines. */
const int32_t *mla_features_kept_pixels(const mla_features *f, int *n_kept);

/* One file per fitted pipeline (atomic write; load validates everything). */
mla_status mla_features_save(const mla_features *f, const char *path);
mla_status mla_features_load(const char *path, mla_features **out);

#ifdef __cplusplus
}
#endif
#endif
