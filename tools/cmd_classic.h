/* The classical-model subcommands (cmd_classic.c) and their figures (classic_plots.c). */
#ifndef MLAUDIT_CMD_CLASSIC_H
#define MLAUDIT_CMD_CLASSIC_H

#include "mlaudit/metrics.h"
#include "mlaudit/pca.h"

#include <stdint.h>

int cmd_classic(int argc, char **argv);
int cmd_pca(int argc, char **argv);
int cmd_explore(int argc, char **argv);

/* Each writes DIR/NAME.png (and .svg for charts), creating DIR if needed, and dies
 * with a message on failure. `names` are the class names. */
void classic_plot_confusion(const char *dir, const int64_t *cm, int classes, const char *const *names, const char *title);
void classic_plot_per_class(const char *dir, const double *sensitivity, int classes, const char *const *names,
                            const char *title);
/* The CV tuning curve: mean held-out accuracy against the axis with the most values,
 * one line per combination of the other axes. */
void classic_plot_cv(const char *dir, const mla_cv_result *cv, const char *title);

/* The PCA figures: scree, cumulative explained variance, the first components as
 * images, the training rows on PC1-PC2 (x: n x d floats, labels), and originals vs
 * reconstructions of one image per class with several component counts. */
void classic_plot_pca(const char *dir, const mla_pca *pca, double share, const float *x, const int32_t *labels, int n,
                      int classes, const char *const *names, int h, int w);

/* Feature importances as an h x w heat map (DIR/importances.png, .svg): feature j is pixel
 * pixels[j] (NULL: pixel j, with d == h * w); pixels without a feature are 0. */
void classic_plot_importances(const char *dir, const double *importance, int d, const int32_t *pixels, int h, int w,
                              const char *title);

/* Mean and standard-deviation images, overall then per class (each classes + 1
 * images of h x w doubles). */
void classic_plot_pixel_stats(const char *dir, const double *mean, const double *sd, int classes,
                              const char *const *names, int h, int w);

#endif
