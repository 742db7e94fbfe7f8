/* Scatter plots: points coloured by class (2-D embeddings, feature pairs), with
 * optional text labels at data coordinates (class names at class means). */
#include "plot/plot_impl.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    const double *x, *y;
    const int32_t *cls;
    int n;
    int n_classes;
    const mla_plot_scatter_opts *o;
} scatter_input;

static mla_status check_input(const char *path, scatter_input *in) {
    if (in->n < 1 || !in->x || !in->y)
        return mla_error(MLA_ERR_INVALID, "%s: a scatter plot needs at least one point", path);
    int max_cls = 0;
    for (int i = 0; in->cls && i < in->n; i++) {
        if (in->cls[i] < 0)
            return mla_error(MLA_ERR_INVALID, "%s: point %d has negative class %d", path, i,
                             (int)in->cls[i]);
        if (in->cls[i] > max_cls) max_cls = in->cls[i];
    }
    const mla_plot_scatter_opts *o = in->o;
    in->n_classes = o->n_classes > 0 ? o->n_classes : max_cls + 1;
    if (in->n_classes > 1000)
        return mla_error(MLA_ERR_INVALID, "%s: %d classes (at most 1000 can be coloured)", path,
                         in->n_classes);
    if (max_cls >= in->n_classes)
        return mla_error(MLA_ERR_INVALID, "%s: class %d outside the %d classes given", path,
                         max_cls, in->n_classes);
    if (o->n_texts < 0 || (o->n_texts > 0 && !o->texts))
        return mla_error(MLA_ERR_INVALID, "%s: bad text label list", path);
    if (o->opacity < 0 || o->opacity > 1 || o->point_radius < 0 || o->point_radius > 100)
        return mla_error(MLA_ERR_INVALID, "%s: opacity or point radius out of range", path);
    return MLA_OK;
}

static int legend_entries(const scatter_input *in, legend_entry *e) {
    if (!in->o->class_names) return 0;
    for (int k = 0; k < in->n_classes; k++)
        e[k] = (legend_entry){in->o->class_names[k] ? in->o->class_names[k] : "?",
                              plot_color(k), LEGEND_MARKER, 0, 0};
    return in->n_classes;
}

/* Pixel position of point i, or 0 when it is not drawable or far outside r. */
static int point_px(const scatter_input *in, int i, const plot_scale *sx, const plot_scale *sy,
                    plot_rect r, double slack, double *px, double *py) {
    if (!scale_ok(sx, in->x[i]) || !scale_ok(sy, in->y[i])) return 0;
    *px = scale_map(sx, in->x[i]);
    *py = scale_map(sy, in->y[i]);
    return isfinite(*px) && isfinite(*py) && *px >= r.x0 - slack && *px <= r.x1 + slack &&
           *py >= r.y0 - slack && *py <= r.y1 + slack;
}

static void draw_points(cairo_t *cr, const scatter_input *in, const plot_scale *sx,
                        const plot_scale *sy, plot_rect r) {
    double radius = in->o->point_radius > 0 ? in->o->point_radius : 2.5;
    double alpha = in->o->opacity > 0 ? in->o->opacity : 0.7;
    /* One path per class keeps the SVG small and the colours batched; classes are
     * drawn in order, so a later class lies over an earlier one. */
    for (int k = 0; k < in->n_classes; k++) {
        plot_rgb c = plot_color(k);
        cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
        for (int i = 0; i < in->n; i++) {
            double px, py;
            if ((in->cls ? in->cls[i] : 0) != k) continue;
            if (!point_px(in, i, sx, sy, r, radius, &px, &py)) continue;
            cairo_new_sub_path(cr);
            cairo_arc(cr, px, py, radius, 0, 2 * PLOT_PI);
        }
        cairo_fill(cr);
    }
}

/* Each text's pixel box, for drawing or marking. */
static int text_box(cairo_t *cr, const mla_plot_text *t, const plot_scale *sx,
                    const plot_scale *sy, double *px, double *py, double *w) {
    if (!t->text || !scale_ok(sx, t->x) || !scale_ok(sy, t->y)) return 0;
    *px = scale_map(sx, t->x);
    *py = scale_map(sy, t->y);
    *w = text_width(cr, t->text);
    return isfinite(*px) && isfinite(*py);
}

static void trace_texts(cairo_t *cr, int draw, occupancy *occ, const mla_plot_scatter_opts *o,
                        const plot_scale *sx, const plot_scale *sy) {
    text_font(cr, 13, 1);
    double h = text_height(cr);
    cairo_set_source_rgb(cr, 0.05, 0.05, 0.05);
    for (int i = 0; i < o->n_texts; i++) {
        double px, py, w;
        if (!text_box(cr, &o->texts[i], sx, sy, &px, &py, &w)) continue;
        if (draw) text_draw_halo(cr, o->texts[i].text, px, py, 0.5, 0.5);
        if (occ) occ_segment(occ, px - w / 2, py, px + w / 2, py), occ_point(occ, px, py - h / 2);
    }
}

/* What the layout and marking callbacks of legend_place need. */
typedef struct {
    const scatter_input *in;
    cairo_t *cr;
    plot_scale *sx, *sy;
    plot_rect r;
} scatter_chart;

static plot_rect scatter_layout(plot_canvas *c, void *ctx, double right) {
    scatter_chart *sc = ctx;
    const mla_plot_scatter_opts *o = sc->in->o;
    sc->r = chart_layout(c, o->frame.title, sc->sx, o->x.title, sc->sy, o->y.title, right);
    return sc->r;
}

static void scatter_mark(void *ctx, occupancy *occ) {
    scatter_chart *sc = ctx;
    for (int i = 0; i < sc->in->n; i++) {
        double px, py;
        if (point_px(sc->in, i, sc->sx, sc->sy, sc->r, 0, &px, &py)) occ_point(occ, px, py);
    }
    trace_texts(sc->cr, 0, occ, sc->in->o, sc->sx, sc->sy);
}

static void render(plot_canvas *c, const scatter_input *in, plot_scale *sx, plot_scale *sy,
                   const legend_entry *entries, int n_entries) {
    const mla_plot_scatter_opts *o = in->o;
    cairo_t *cr = c->cr;
    scatter_chart sc = {in, cr, sx, sy, {0, 0, 0, 0}};
    plot_rect r;
    mla_plot_legend pos = legend_place(c, entries, n_entries, o->legend, scatter_layout,
                                       scatter_mark, &sc, &r);
    chart_draw_axes(c, r, o->frame.title, sx, o->x.title, sy, o->y.title, 1);
    cairo_save(cr);
    cairo_rectangle(cr, r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0);
    cairo_clip(cr);
    draw_points(cr, in, sx, sy, r);
    trace_texts(cr, 1, NULL, o, sx, sy);
    cairo_restore(cr);
    legend_draw(c, r, entries, n_entries, pos);
}

mla_status mla_plot_scatter(const char *path, const double *x, const double *y,
                            const int32_t *cls, int n, const mla_plot_scatter_opts *opts) {
    static const mla_plot_scatter_opts defaults;
    scatter_input in = {x, y, cls, n, 0, opts ? opts : &defaults};
    double w, h;
    mla_status s = plot_check_path(path);
    if (!s) s = check_input(path, &in);
    if (!s) s = plot_frame_size(path, &in.o->frame, &w, &h);
    if (s) return s;
    plot_extent ex = {0}, ey = {0};
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]) || (in.o->x.log_scale && x[i] <= 0) ||
            (in.o->y.log_scale && y[i] <= 0))
            continue;
        extent_add(&ex, x[i], in.o->x.log_scale);
        extent_add(&ey, y[i], in.o->y.log_scale);
    }
    if (!ex.any) return mla_error(MLA_ERR_INVALID, "%s: no finite points to plot", path);
    plot_scale sx, sy;
    if ((s = scale_setup(&sx, &in.o->x, ex, 0, w - 150, 1, path))) return s;
    if ((s = scale_setup(&sy, &in.o->y, ey, 1, h - 120, 1, path))) return s;
    legend_entry *entries = mla_alloc((size_t)in.n_classes, sizeof *entries);
    if (!entries) return MLA_ERR_NOMEM;
    plot_canvas c;
    if ((s = canvas_open(&c, path, w, h))) {
        free(entries);
        return s;
    }
    render(&c, &in, &sx, &sy, entries, legend_entries(&in, entries));
    free(entries);
    return canvas_close(&c);
}
