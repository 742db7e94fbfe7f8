/* Heat maps: a rows x cols matrix as coloured cells (row 0 on top), row and
 * column labels, optional values in the cells and a colour bar. */
#include "plot/plot_impl.h"

#include <math.h>
#include <string.h>

#define LABEL_ANGLE (40 * PLOT_PI / 180)
#define BAR_W 16.0

typedef struct {
    const double *v;
    int rows, cols;
    const mla_plot_heatmap_opts *o;
    double vmin, vmax;
} heat_input;

typedef struct {
    double x0, y0, cell;  /* top-left of the grid, square cell side */
    int slanted;          /* column labels drawn slanted */
    double label_size;    /* font size of row/column labels */
    double row_w;         /* width of the row labels and their gap */
} heat_layout;

static const char *axis_label(const char *const *labels, int i, char *buf, size_t size) {
    if (labels && labels[i]) return labels[i];
    snprintf(buf, size, "%d", i);
    return buf;
}

static double max_label_width(cairo_t *cr, const char *const *labels, int n) {
    char buf[16];
    double w = 0;
    for (int i = 0; i < n; i++) w = fmax(w, text_width(cr, axis_label(labels, i, buf, sizeof buf)));
    return w;
}

static mla_status check_input(const char *path, heat_input *in) {
    if (in->rows < 1 || in->cols < 1 || !in->v)
        return mla_error(MLA_ERR_INVALID, "%s: heat map needs a matrix of at least 1 x 1", path);
    if (in->rows > 2000 || in->cols > 2000)
        return mla_error(MLA_ERR_INVALID, "%s: heat map of %d x %d is too large (2000 max)",
                         path, in->rows, in->cols);
    const mla_plot_heatmap_opts *o = in->o;
    if (o->value_format && !format_is_valid(o->value_format))
        return mla_error(MLA_ERR_INVALID,
                         "%s: value_format \"%s\" must hold one floating conversion like %%.0f",
                         path, o->value_format);
    return MLA_OK;
}

/* The colour range: fixed, or the finite data's, symmetric for the signed map. */
static void value_range(heat_input *in) {
    const mla_plot_heatmap_opts *o = in->o;
    plot_extent e = {0};
    for (int i = 0; i < in->rows * in->cols; i++) extent_add(&e, in->v[i], 0);
    if (isfinite(o->vmin) && isfinite(o->vmax) && o->vmin < o->vmax) {
        in->vmin = o->vmin;
        in->vmax = o->vmax;
    } else {
        in->vmin = e.any ? e.lo : 0;
        in->vmax = e.any ? e.hi : 1;
    }
    if (o->cmap == MLA_CMAP_SIGNED) {
        double m = fmax(fabs(in->vmin), fabs(in->vmax));
        in->vmin = -m;
        in->vmax = m;
    }
    if (!(in->vmax > in->vmin)) in->vmax = in->vmin + 1;
}

static heat_layout layout(plot_canvas *c, const heat_input *in, double bar_space) {
    cairo_t *cr = c->cr;
    const mla_plot_heatmap_opts *o = in->o;
    heat_layout L = {0};
    text_font(cr, PLOT_AXIS_TITLE_SIZE, 0);
    double axis_h = text_height(cr);
    double top = 14 + title_space(c, o->frame.title);
    double left0 = 12 + (o->y_title ? axis_h + 8 : 0);
    double bottom0 = 12 + (o->x_title ? axis_h + 8 : 0);
    double avail_w = c->width - left0 - bar_space - 16, avail_h = c->height - top - bottom0;
    /* Labels shrink with the cells; two passes settle the size. */
    L.label_size = PLOT_TICK_SIZE;
    for (int pass = 0; pass < 2; pass++) {
        text_font(cr, L.label_size, 0);
        double row_w = max_label_width(cr, o->row_labels, in->rows) + 8;
        double col_w = max_label_width(cr, o->col_labels, in->cols), th = text_height(cr);
        double cell_guess = fmin((avail_w - row_w) / in->cols, (avail_h - th - 6) / in->rows);
        L.slanted = col_w > 0.95 * cell_guess;
        double drop = L.slanted ? col_w * sin(LABEL_ANGLE) + th * cos(LABEL_ANGLE) : th;
        drop = fmin(drop, 0.35 * c->height);
        L.row_w = row_w;
        L.cell = fmax(1, fmin((avail_w - row_w) / in->cols, (avail_h - drop - 6) / in->rows));
        L.x0 = left0 + row_w + fmax(0, (avail_w - row_w - L.cell * in->cols) / 2);
        L.y0 = top;
        if (pass == 0) L.label_size = fmax(8, fmin(PLOT_TICK_SIZE, L.cell * 0.8));
    }
    return L;
}

static plot_rgb cell_color(const heat_input *in, double v) {
    if (!isfinite(v)) return (plot_rgb){0.8, 0.8, 0.8};
    return cmap_color(in->o->cmap, (v - in->vmin) / (in->vmax - in->vmin));
}

/* Cell edges on whole pixels, so neighbouring cells meet without seams. */
static double edge(double origin, double cell, int k) { return round(origin + k * cell); }

static void draw_cells(cairo_t *cr, const heat_input *in, heat_layout L) {
    for (int i = 0; i < in->rows; i++)
        for (int j = 0; j < in->cols; j++) {
            set_rgb(cr, cell_color(in, in->v[(size_t)i * in->cols + j]));
            double x0 = edge(L.x0, L.cell, j), y0 = edge(L.y0, L.cell, i);
            cairo_rectangle(cr, x0, y0, edge(L.x0, L.cell, j + 1) - x0,
                            edge(L.y0, L.cell, i + 1) - y0);
            cairo_fill(cr);
        }
}

static void draw_values(cairo_t *cr, const heat_input *in, heat_layout L) {
    char text[48];
    double widest = 0, size = fmin(14, L.cell * 0.38);
    text_font(cr, size, 0);
    for (int i = 0; i < in->rows * in->cols; i++) {
        if (!isfinite(in->v[i])) continue;
        format_value(text, sizeof text, in->o->value_format, in->v[i]);
        widest = fmax(widest, text_width(cr, text));
    }
    if (widest > L.cell * 0.9) size *= L.cell * 0.9 / widest;
    if (size < 6) return; /* unreadable: the colours alone must do */
    text_font(cr, size, 0);
    for (int i = 0; i < in->rows; i++)
        for (int j = 0; j < in->cols; j++) {
            double v = in->v[(size_t)i * in->cols + j];
            if (!isfinite(v)) continue;
            format_value(text, sizeof text, in->o->value_format, v);
            set_rgb(cr, contrast_text(cell_color(in, v)));
            text_draw(cr, text, L.x0 + (j + 0.5) * L.cell, L.y0 + (i + 0.5) * L.cell, 0.5, 0.5,
                      0);
        }
}

static void draw_labels(plot_canvas *c, const heat_input *in, heat_layout L) {
    cairo_t *cr = c->cr;
    const mla_plot_heatmap_opts *o = in->o;
    char buf[16];
    text_font(cr, L.label_size, 0);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    /* Labels closer than their height are thinned to every k-th. */
    double th = text_height(cr);
    int row_step = (int)fmax(1, ceil(1.05 * th / L.cell));
    int col_step = (int)fmax(1, L.slanted ? ceil(1.15 * th / sin(LABEL_ANGLE) / L.cell) : 1);
    for (int i = 0; i < in->rows; i += row_step)
        text_draw(cr, axis_label(o->row_labels, i, buf, sizeof buf), L.x0 - 6,
                  L.y0 + (i + 0.5) * L.cell, 1, 0.5, 0);
    double y = L.y0 + in->rows * L.cell + 5;
    for (int j = 0; j < in->cols; j += col_step) {
        const char *s = axis_label(o->col_labels, j, buf, sizeof buf);
        double x = L.x0 + (j + 0.5) * L.cell;
        if (L.slanted) text_draw(cr, s, x + 4, y, 1, 0, LABEL_ANGLE);
        else text_draw(cr, s, x, y, 0.5, 0, 0);
    }
    text_font(cr, PLOT_AXIS_TITLE_SIZE, 0);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    if (o->x_title)
        text_draw(cr, o->x_title, L.x0 + in->cols * L.cell / 2, c->height - 10, 0.5, 1, 0);
    if (o->y_title)
        text_draw(cr, o->y_title, fmax(10, L.x0 - L.row_w - text_height(cr) - 4),
                  L.y0 + in->rows * L.cell / 2, 0.5, 0, PLOT_PI / 2);
}

/* The colour bar right of the grid, with ticks on its right. */
static void draw_colorbar(cairo_t *cr, const heat_input *in, heat_layout L, plot_scale *bar) {
    double x = L.x0 + in->cols * L.cell + 18, y0 = L.y0, y1 = L.y0 + in->rows * L.cell;
    int steps = (int)fmax(2, y1 - y0);
    for (int k = 0; k < steps; k++) {
        double t = (k + 0.5) / steps;
        set_rgb(cr, cmap_color(in->o->cmap, t));
        cairo_rectangle(cr, x, y1 - (k + 1) * (y1 - y0) / steps, BAR_W, (y1 - y0) / steps + 0.5);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, floor(x) + 0.5, floor(y0) + 0.5, BAR_W, floor(y1 - y0));
    bar->p0 = y1;
    bar->p1 = y0;
    text_font(cr, PLOT_TICK_SIZE - 1, 0);
    for (int i = 0; i < bar->n_ticks; i++) {
        double y = floor(scale_map(bar, bar->ticks[i])) + 0.5;
        cairo_move_to(cr, x + BAR_W, y);
        cairo_line_to(cr, x + BAR_W + 4, y);
    }
    cairo_stroke(cr);
    for (int i = 0; i < bar->n_ticks; i++)
        text_draw(cr, bar->labels[i], x + BAR_W + 7, scale_map(bar, bar->ticks[i]), 0, 0.5, 0);
}

mla_status mla_plot_heatmap(const char *path, const double *values, int rows, int cols,
                            const mla_plot_heatmap_opts *opts) {
    static const mla_plot_heatmap_opts defaults;
    heat_input in = {values, rows, cols, opts ? opts : &defaults, 0, 0};
    double w, h;
    mla_status s = plot_check_path(path);
    if (!s) s = check_input(path, &in);
    if (!s) s = plot_frame_size(path, &in.o->frame, &w, &h);
    if (s) return s;
    value_range(&in);
    plot_scale bar;
    mla_plot_axis range = {NULL, in.vmin, in.vmax, 0};
    plot_extent none = {0};
    if ((s = scale_setup(&bar, &range, none, 1, h - 160, 0, path))) return s;
    plot_canvas c;
    if ((s = canvas_open(&c, path, w, h))) return s;
    text_font(c.cr, PLOT_TICK_SIZE - 1, 0);
    double bar_space = in.o->no_colorbar ? 0 : 18 + BAR_W + 10 + scale_max_label_width(c.cr, &bar);
    heat_layout L = layout(&c, &in, bar_space);
    draw_cells(c.cr, &in, L);
    if (in.o->show_values) draw_values(c.cr, &in, L);
    draw_labels(&c, &in, L);
    if (!in.o->no_colorbar) draw_colorbar(c.cr, &in, L, &bar);
    draw_title(&c, in.o->frame.title);
    return canvas_close(&c);
}
