/* Bar charts: one bar per category and series (grouped side by side), optional
 * value labels and a horizontal reference line. */
#include "plot/plot_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_ANGLE (40 * PLOT_PI / 180)

typedef struct {
    const char *const *categories;
    int n_cat;
    const mla_plot_bar_series *series;
    int n_series;
    const mla_plot_bar_opts *o;
} bar_input;

/* A category's label: given, or its index written into buf. */
static const char *category_label(const bar_input *in, int i, char *buf, size_t size) {
    if (in->categories && in->categories[i]) return in->categories[i];
    snprintf(buf, size, "%d", i);
    return buf;
}

static mla_status check_input(const char *path, const bar_input *in) {
    if (in->n_cat < 1)
        return mla_error(MLA_ERR_INVALID, "%s: a bar chart needs at least one category", path);
    if (in->n_series < 1 || !in->series)
        return mla_error(MLA_ERR_INVALID, "%s: a bar chart needs at least one series", path);
    for (int j = 0; j < in->n_series; j++)
        if (!in->series[j].values)
            return mla_error(MLA_ERR_INVALID, "%s: bar series %d has no values", path, j);
    if (in->o->y.log_scale)
        return mla_error(MLA_ERR_INVALID, "%s: log scale is not supported for bar charts", path);
    if (in->o->value_format && !format_is_valid(in->o->value_format))
        return mla_error(MLA_ERR_INVALID,
                         "%s: value_format \"%s\" must hold one floating conversion like %%.2f",
                         path, in->o->value_format);
    return MLA_OK;
}

/* The value axis: fixed, or from 0 to the data with headroom away from 0. */
static mla_status value_scale(const char *path, const bar_input *in, double length,
                              plot_scale *sy) {
    plot_extent e = {0};
    for (int j = 0; j < in->n_series; j++)
        for (int i = 0; i < in->n_cat; i++) extent_add(&e, in->series[j].values[i], 0);
    if (!e.any) return mla_error(MLA_ERR_INVALID, "%s: no finite bar values", path);
    if (in->o->ref_line) extent_add(&e, in->o->ref_value, 0);
    mla_plot_axis axis = in->o->y;
    if (!(isfinite(axis.min) && isfinite(axis.max) && axis.min < axis.max)) {
        double lo = fmin(0, e.lo), hi = fmax(0, e.hi);
        if (hi == lo) hi = 1;
        double pad = (hi - lo) * (in->o->value_labels ? 0.1 : 0.05);
        axis.min = lo < 0 ? lo - pad : lo;
        axis.max = hi > 0 ? hi + pad : hi;
    }
    return scale_setup(sy, &axis, e, 1, length, 0, path);
}

static double max_label_width(cairo_t *cr, const bar_input *in) {
    char buf[16];
    text_font(cr, PLOT_TICK_SIZE, 0);
    double w = 0;
    for (int i = 0; i < in->n_cat; i++)
        w = fmax(w, text_width(cr, category_label(in, i, buf, sizeof buf)));
    return w;
}

/* Lays out the chart; slants the category labels when they do not fit their slot,
 * making room for them below and to the left. */
static plot_rect bar_layout(plot_canvas *c, const bar_input *in, plot_scale *sx,
                            plot_scale *sy, double right, int *slanted) {
    const mla_plot_bar_opts *o = in->o;
    plot_rect r = chart_layout(c, o->frame.title, sx, o->x_title, sy, o->y.title, right);
    double label_w = max_label_width(c->cr, in), tick_h = text_height(c->cr);
    *slanted = label_w > 0.92 * (r.x1 - r.x0) / in->n_cat;
    if (*slanted) {
        double band = (r.x1 - r.x0) / in->n_cat;
        double reach_left = label_w * cos(LABEL_ANGLE) - band / 2 - r.x0 + 8;
        if (reach_left > 0) r.x0 += reach_left;
        double drop = label_w * sin(LABEL_ANGLE) + tick_h * cos(LABEL_ANGLE);
        r.y1 -= fmin(drop - tick_h, 0.4 * c->height);
    }
    sx->p0 = r.x0;
    sx->p1 = r.x1;
    sy->p0 = r.y1;
    sy->p1 = r.y0;
    return r;
}

/* Every category is labelled when the labels fit; slanted labels closer than
 * their own height are thinned to every k-th, each marked with a tick. */
static void draw_category_labels(cairo_t *cr, const bar_input *in, plot_rect r, int slanted) {
    char buf[16];
    double band = (r.x1 - r.x0) / in->n_cat;
    text_font(cr, PLOT_TICK_SIZE, 0);
    int stride = slanted ? (int)ceil(1.15 * text_height(cr) / sin(LABEL_ANGLE) / band) : 1;
    if (stride < 1) stride = 1;
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    for (int i = 0; i < in->n_cat; i += stride) {
        const char *s = category_label(in, i, buf, sizeof buf);
        double x = r.x0 + (i + 0.5) * band, y = r.y1 + 6;
        if (slanted) text_draw(cr, s, x + 4, y, 1, 0, LABEL_ANGLE);
        else text_draw(cr, s, x, y, 0.5, 0, 0);
        if (stride > 1) {
            cairo_move_to(cr, floor(x) + 0.5, r.y1);
            cairo_line_to(cr, floor(x) + 0.5, r.y1 + 4);
        }
    }
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
}

/* Marks a filled rectangle in the occupancy grid. */
static void occ_rect(occupancy *occ, double x0, double y0, double x1, double y1) {
    for (double x = fmin(x0, x1); x <= fmax(x0, x1); x += 4) occ_segment(occ, x, y0, x, y1);
    occ_segment(occ, fmax(x0, x1), y0, fmax(x0, x1), y1);
}

/* Draws (draw != 0) and/or marks (occ != NULL) the value written over a bar. */
static void trace_value_label(cairo_t *cr, int draw, occupancy *occ, const mla_plot_bar_opts *o,
                              double v, double x, double top, double bar_w) {
    char text[48];
    format_value(text, sizeof text, o->value_format, v);
    double size = 11;
    text_font(cr, size, 0);
    while (size > 7 && text_width(cr, text) > bar_w * 1.2 + 4) text_font(cr, --size, 0);
    double h = text_height(cr), w = text_width(cr, text);
    double y = v >= 0 ? top - 2 : top + 2;
    if (occ) occ_rect(occ, x - w / 2, y, x + w / 2, v >= 0 ? y - h : y + h);
    if (!draw) return;
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text_draw(cr, text, x, y, 0.5, v >= 0 ? 1 : 0, 0);
}

static void trace_bars(cairo_t *cr, int draw, occupancy *occ, const bar_input *in, plot_rect r,
                       const plot_scale *sy) {
    double band = (r.x1 - r.x0) / in->n_cat, bar_w = band * 0.8 / in->n_series;
    double base = fmin(fmax(scale_map(sy, 0), r.y0), r.y1);
    for (int j = 0; j < in->n_series; j++) {
        const mla_plot_bar_series *s = &in->series[j];
        for (int i = 0; i < in->n_cat; i++) {
            double v = s->values[i];
            if (!isfinite(v)) continue;
            double x = r.x0 + i * band + band * 0.1 + j * bar_w;
            double top = fmin(fmax(scale_map(sy, v), r.y0), r.y1);
            if (occ) occ_rect(occ, x, top, x + bar_w, base);
            if (draw) {
                set_rgb(cr, plot_color(s->color > 0 ? s->color - 1 : j));
                cairo_rectangle(cr, x, fmin(top, base), bar_w, fabs(base - top));
                cairo_fill(cr);
            }
            if (in->o->value_labels)
                trace_value_label(cr, draw, occ, in->o, v, x + bar_w / 2, top, bar_w);
        }
    }
}

static const plot_rgb REF_COLOR = {0.25, 0.25, 0.25};

static void trace_reference(cairo_t *cr, occupancy *occ, const mla_plot_bar_opts *o,
                            plot_rect r, const plot_scale *sy) {
    double y = scale_map(sy, o->ref_value);
    if (!o->ref_line || !isfinite(o->ref_value) || y < r.y0 - 0.5 || y > r.y1 + 0.5) return;
    if (occ) occ_segment(occ, r.x0, y, r.x1, y);
    if (!cr) return;
    double dash[] = {6, 4};
    cairo_set_dash(cr, dash, 2, 0);
    set_rgb(cr, REF_COLOR);
    cairo_set_line_width(cr, 1.5);
    cairo_move_to(cr, r.x0, y);
    cairo_line_to(cr, r.x1, y);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
}

/* Named series as boxes, then the reference line when it has a label. */
static int legend_entries(const bar_input *in, legend_entry *e) {
    int n = 0;
    for (int j = 0; j < in->n_series; j++)
        if (in->series[j].name)
            e[n++] = (legend_entry){in->series[j].name,
                                    plot_color(in->series[j].color > 0 ? in->series[j].color - 1
                                                                      : j),
                                    LEGEND_BOX, 0, 0};
    if (in->o->ref_line && in->o->ref_label)
        e[n++] = (legend_entry){in->o->ref_label, REF_COLOR, LEGEND_LINE, 1, 0};
    return n;
}

/* What the layout and marking callbacks of legend_place need. */
typedef struct {
    const bar_input *in;
    cairo_t *cr;
    plot_scale sx, *sy;
    plot_rect r;
    int slanted;
} bar_chart;

static plot_rect bar_layout_cb(plot_canvas *c, void *ctx, double right) {
    bar_chart *bc = ctx;
    bc->r = bar_layout(c, bc->in, &bc->sx, bc->sy, right, &bc->slanted);
    return bc->r;
}

static void bar_mark(void *ctx, occupancy *occ) {
    bar_chart *bc = ctx;
    trace_bars(bc->cr, 0, occ, bc->in, bc->r, bc->sy);
    trace_reference(NULL, occ, bc->in->o, bc->r, bc->sy);
}

static void render(plot_canvas *c, const bar_input *in, plot_scale *sy, legend_entry *entries,
                   int n_entries) {
    const mla_plot_bar_opts *o = in->o;
    bar_chart bc;
    memset(&bc, 0, sizeof bc);
    bc.in = in;
    bc.cr = c->cr;
    bc.sx.hi = 1;
    bc.sy = sy;
    plot_rect r;
    mla_plot_legend pos = legend_place(c, entries, n_entries, o->legend, bar_layout_cb, bar_mark,
                                       &bc, &r);
    chart_draw_axes(c, r, o->frame.title, &bc.sx, o->x_title, sy, o->y.title, 0);
    draw_category_labels(c->cr, in, r, bc.slanted);
    cairo_save(c->cr);
    trace_bars(c->cr, 1, NULL, in, r, sy);
    trace_reference(c->cr, NULL, o, r, sy);
    cairo_restore(c->cr);
    legend_draw(c, r, entries, n_entries, pos);
}

mla_status mla_plot_bars(const char *path, const char *const *categories, int n_categories,
                         const mla_plot_bar_series *series, int n_series,
                         const mla_plot_bar_opts *opts) {
    static const mla_plot_bar_opts defaults;
    bar_input in = {categories, n_categories, series, n_series, opts ? opts : &defaults};
    double w, h;
    mla_status s = plot_check_path(path);
    if (!s) s = check_input(path, &in);
    if (!s) s = plot_frame_size(path, &in.o->frame, &w, &h);
    plot_scale sy;
    if (!s) s = value_scale(path, &in, h - 120, &sy);
    if (s) return s;
    legend_entry *entries = mla_alloc((size_t)n_series + 1, sizeof *entries);
    if (!entries) return MLA_ERR_NOMEM;
    plot_canvas c;
    if ((s = canvas_open(&c, path, w, h))) {
        free(entries);
        return s;
    }
    render(&c, &in, &sy, entries, legend_entries(&in, entries));
    free(entries);
    return canvas_close(&c);
}
