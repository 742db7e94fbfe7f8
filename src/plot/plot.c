/* Placeholder entry points so code written against plot.h links while the
 * renderers are being written; each reports MLA_ERR_UNSUPPORTED. */
#include "mlaudit/plot.h"

static mla_status not_yet(const char *path) {
    return mla_error(MLA_ERR_UNSUPPORTED, "%s: plotting not implemented yet", path ? path : "?");
}

void mla_plot_palette(int i, double rgb[3]) {
    (void)i;
    rgb[0] = rgb[1] = rgb[2] = 0;
}

mla_status mla_plot_lines(const char *path, const mla_plot_series *series, int n_series,
                          const mla_plot_line_opts *opts) {
    (void)series, (void)n_series, (void)opts;
    return not_yet(path);
}

mla_status mla_plot_bars(const char *path, const char *const *categories, int n_categories,
                         const mla_plot_bar_series *series, int n_series,
                         const mla_plot_bar_opts *opts) {
    (void)categories, (void)n_categories, (void)series, (void)n_series, (void)opts;
    return not_yet(path);
}

mla_status mla_plot_scatter(const char *path, const double *x, const double *y,
                            const int32_t *cls, int n, const mla_plot_scatter_opts *opts) {
    (void)x, (void)y, (void)cls, (void)n, (void)opts;
    return not_yet(path);
}

mla_status mla_plot_heatmap(const char *path, const double *values, int rows, int cols,
                            const mla_plot_heatmap_opts *opts) {
    (void)values, (void)rows, (void)cols, (void)opts;
    return not_yet(path);
}

mla_status mla_plot_image_grid(const char *path, const mla_plot_images *images,
                               const mla_plot_grid_opts *opts) {
    (void)images, (void)opts;
    return not_yet(path);
}
