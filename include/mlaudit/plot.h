/* mlaudit plot: figures for reports, drawn with cairo.
 *
 * Five primitives: line charts (learning curves, ROC curves), bar charts
 * (per-class accuracy), scatter plots (2-D embeddings coloured by class), heat
 * maps (confusion matrices) and image grids (samples, GAN outputs, principal
 * components). Each call renders one figure to `path`; the format follows the
 * extension: ".png" or ".svg" (case-insensitive). The file is written atomically.
 *
 * Conventions:
 *  - Data comes as plain arrays with counts; every pointer is borrowed for the
 *    duration of the call only. The module keeps nothing after it returns.
 *  - Every options struct works zero-initialised (`mla_plot_line_opts o = {0};`)
 *    and a NULL options pointer means all defaults. 0 always means "default".
 *  - Non-finite values (NaN, inf) are skipped: a line breaks at them, a bar or a
 *    scatter point is not drawn, a heat-map cell is grey, an image pixel magenta.
 *    Values <= 0 on a log axis are skipped the same way.
 *  - Colours: series / classes / bar groups use the tab10 palette (tab20 when a
 *    scatter has more than 10 classes, then golden-angle hues beyond 20).
 *  - Errors: MLA_ERR_INVALID for bad arguments (no series, counts < 0, NULL
 *    arrays, nothing finite to draw, unknown extension), MLA_ERR_IO when the file
 *    cannot be written; the message names the path. Nothing is left at `path` on
 *    failure.
 */
#ifndef MLAUDIT_PLOT_H
#define MLAUDIT_PLOT_H

#include "mlaudit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The figure as a whole. */
typedef struct {
    int width, height;   /* pixels (SVG: points); 0 -> 800 x 600. Image grids size
                            themselves from their tiles and ignore these. */
    const char *title;   /* above the plot; NULL -> none */
} mla_plot_frame;

/* One axis of a line chart or scatter plot (and the value axis of a bar chart). */
typedef struct {
    const char *title;   /* axis title; NULL -> none */
    double min, max;     /* fixed range when min < max; otherwise fitted to the data
                            (with a small margin, on "nice" tick values) */
    int log_scale;       /* 1: base-10 logarithmic (ROC curves at low FPR) */
} mla_plot_axis;

typedef enum {
    MLA_LEGEND_AUTO = 0,   /* an inside corner free of data, else OUTSIDE (also when
                              the legend is too tall to fit inside) */
    MLA_LEGEND_TOP_LEFT,
    MLA_LEGEND_TOP_RIGHT,
    MLA_LEGEND_BOTTOM_LEFT,
    MLA_LEGEND_BOTTOM_RIGHT,
    MLA_LEGEND_OUTSIDE,    /* to the right of the plot area; names longer than 30% of
                              the figure width are cut with an ellipsis */
    MLA_LEGEND_NONE
} mla_plot_legend;

/* Palette colour i (tab10 for i < 10, tab20's light shades for 10..19, then
 * golden-angle hues) as r, g, b in [0, 1]. */
void mla_plot_palette(int i, double rgb[3]);

/* ------------------------------------------------------------- line chart -- */

typedef struct {
    const char *name;    /* legend entry; NULL -> not in the legend (the legend is
                            drawn when at least one series has a name) */
    const double *x, *y; /* n points, joined in the given order */
    int n;
    int markers;         /* 1: a marker at each point */
    int dashed;          /* 1: dashed line */
    int color;           /* palette index + 1; 0 -> the series' own index */
} mla_plot_series;

typedef struct {
    mla_plot_frame frame;
    mla_plot_axis x, y;
    int diagonal;        /* 1: a dashed grey y = x reference line (ROC chance level) */
    mla_plot_legend legend;
} mla_plot_line_opts;

/* Draws n_series (>= 1) series; a series may have n = 0 as long as some series
 * has a finite point. */
mla_status mla_plot_lines(const char *path, const mla_plot_series *series, int n_series,
                          const mla_plot_line_opts *opts);

/* -------------------------------------------------------------- bar chart -- */

/* One group of bars: one value per category. Several series draw grouped bars
 * side by side within each category. */
typedef struct {
    const char *name;       /* legend entry; NULL -> none */
    const double *values;   /* n_categories values; a non-finite value draws no bar */
    int color;              /* palette index + 1; 0 -> the series' own index */
} mla_plot_bar_series;

typedef struct {
    mla_plot_frame frame;
    const char *x_title;    /* under the category labels; NULL -> none */
    mla_plot_axis y;        /* fitted ranges always include 0; log_scale is refused */
    int value_labels;       /* 1: write each value above its bar */
    const char *value_format; /* printf format for one double, e.g. "%.2f"; NULL -> "%.3g" */
    int ref_line;           /* 1: a dashed horizontal line at ref_value (e.g. chance) */
    double ref_value;
    const char *ref_label;  /* text written at the line's right end; NULL -> none */
    mla_plot_legend legend;
} mla_plot_bar_opts;

/* categories: n_categories labels (long ones are drawn slanted, and thinned to
 * every k-th when even slanted they would overlap); NULL -> 0, 1, ... */
mla_status mla_plot_bars(const char *path, const char *const *categories, int n_categories,
                         const mla_plot_bar_series *series, int n_series,
                         const mla_plot_bar_opts *opts);

/* ---------------------------------------------------------------- scatter -- */

/* Text placed at data coordinates, centred (e.g. a class name at its class mean). */
typedef struct {
    const char *text;
    double x, y;
} mla_plot_text;

typedef struct {
    mla_plot_frame frame;
    mla_plot_axis x, y;
    const char *const *class_names; /* n_classes legend names; NULL -> no legend */
    int n_classes;                  /* 0 -> max(cls) + 1 */
    double point_radius;            /* pixels; 0 -> 2.5 */
    double opacity;                 /* of the points, (0, 1]; 0 -> 0.7 */
    const mla_plot_text *texts;     /* n_texts labels drawn over the points */
    int n_texts;
    mla_plot_legend legend;
} mla_plot_scatter_opts;

/* n points (x[i], y[i]) coloured by class cls[i] (>= 0); cls NULL -> all class 0.
 * At most 1000 classes; later classes are drawn over earlier ones. */
mla_status mla_plot_scatter(const char *path, const double *x, const double *y,
                            const int32_t *cls, int n, const mla_plot_scatter_opts *opts);

/* --------------------------------------------------------------- heat map -- */

typedef enum {
    MLA_CMAP_VIRIDIS = 0,   /* perceptually uniform, dark (low) to yellow (high) */
    MLA_CMAP_BLUES,         /* white (low) to dark blue (high) */
    MLA_CMAP_SIGNED,        /* blue (negative) - white (0) - red (positive); the
                               range is made symmetric: [-m, m] */
    MLA_CMAP_GRAY           /* black (low) to white (high) */
} mla_plot_cmap;

typedef struct {
    mla_plot_frame frame;
    const char *x_title, *y_title;  /* e.g. "predicted", "true"; NULL -> none */
    const char *const *row_labels;  /* rows labels; NULL -> 0, 1, ... */
    const char *const *col_labels;  /* cols labels (long ones slanted); NULL -> 0, 1, ... */
    double vmin, vmax;              /* colour range when vmin < vmax; else data min..max */
    mla_plot_cmap cmap;
    int show_values;                /* 1: write each value in its cell (black or white,
                                       whichever reads better on the cell colour) */
    const char *value_format;       /* printf format for one double; NULL -> "%.3g"
                                       (counts: "%.0f") */
    int no_colorbar;                /* 1: omit the colour scale */
} mla_plot_heatmap_opts;

/* values: rows x cols, row-major; row 0 is drawn at the top (as a confusion
 * matrix is read). 1 <= rows, cols <= 2000; cells are square. Labels too dense to
 * read are thinned; cell values too small to read are left out. */
mla_status mla_plot_heatmap(const char *path, const double *values, int rows, int cols,
                            const mla_plot_heatmap_opts *opts);

/* ------------------------------------------------------------- image grid -- */

typedef enum {
    MLA_PIXELS_F32 = 0,   /* float, [0, 1] (clamped) unless the signed map is used */
    MLA_PIXELS_U8         /* 0..255 */
} mla_pixel_type;

/* n images stored one after another, each channels x height x width (CHW, as
 * datasets and networks hold them). channels is 1 (grayscale) or 3 (RGB). */
typedef struct {
    const void *pixels;
    mla_pixel_type type;
    int n, channels, height, width;
} mla_plot_images;

typedef struct {
    mla_plot_frame frame;   /* only the title is used */
    int rows, cols;         /* grid shape; 0 -> fitted (cols = ceil(sqrt(n)) when both
                               are 0); rows * cols must hold n */
    int scale;              /* integer upscaling (nearest neighbour); 0 -> the largest
                               factor keeping the grid about 1000 px wide, at least 1 */
    const char *const *tile_captions; /* n captions under the tiles (entries may be
                                         NULL); NULL -> none */
    const char *const *row_captions;  /* rows captions left of the rows; NULL -> none */
    int signed_map;         /* 1: single-channel float values as blue-white-red, each
                               image scaled by its own max |value| (principal components) */
    int signed_shared_scale;/* with signed_map: one scale, the max |value| of all images */
} mla_plot_grid_opts;

/* Up to 100000 images of at most 4096 x 4096; the canvas (tiles, gaps, captions)
 * may be at most 16384 px on a side. Only rows with a caption make room for one. */
mla_status mla_plot_image_grid(const char *path, const mla_plot_images *images,
                               const mla_plot_grid_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
