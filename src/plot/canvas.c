/* The plot canvas: a cairo surface that ends up, atomically, as a PNG or an SVG
 * file; plus text and colour helpers every renderer uses. */
#include "plot/plot_impl.h"

#include <cairo-svg.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef __SANITIZE_ADDRESS__
/* fontconfig, under cairo's toy text API, makes a few one-time allocations it
 * never frees (about 1 KB, not growing with the number of plots). Every program
 * that draws text would fail LeakSanitizer for them, so ASan builds of the
 * library tell LSan to ignore that library's allocations. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }
#endif

/* ------------------------------------------------------------------ output -- */

static int has_extension(const char *path, const char *ext) {
    size_t n = strlen(path), e = strlen(ext);
    return n > e && strcasecmp(path + n - e, ext) == 0;
}

mla_status plot_check_path(const char *path) {
    if (!path || !*path) return mla_error(MLA_ERR_INVALID, "plot: empty output path");
    if (!has_extension(path, ".png") && !has_extension(path, ".svg"))
        return mla_error(MLA_ERR_INVALID, "%s: unknown plot format (use .png or .svg)", path);
    return MLA_OK;
}

mla_status plot_frame_size(const char *path, const mla_plot_frame *f, double *w, double *h) {
    int fw = f && f->width ? f->width : PLOT_DEFAULT_W;
    int fh = f && f->height ? f->height : PLOT_DEFAULT_H;
    if (fw < 100 || fh < 100 || fw > PLOT_MAX_SIDE || fh > PLOT_MAX_SIDE)
        return mla_error(MLA_ERR_INVALID, "%s: figure size %d x %d outside 100..%d", path, fw, fh,
                         PLOT_MAX_SIDE);
    *w = fw;
    *h = fh;
    return MLA_OK;
}

static cairo_status_t write_stream(void *closure, const unsigned char *data, unsigned int n) {
    return fwrite(data, 1, n, (FILE *)closure) == n ? CAIRO_STATUS_SUCCESS
                                                      : CAIRO_STATUS_WRITE_ERROR;
}

mla_status canvas_open(plot_canvas *c, const char *path, double width, double height) {
    memset(c, 0, sizeof *c);
    mla_status s = plot_check_path(path);
    if (s) return s;
    if (!(width >= 1 && height >= 1 && width <= PLOT_MAX_SIDE && height <= PLOT_MAX_SIDE))
        return mla_error(MLA_ERR_INVALID, "%s: figure size %.0f x %.0f outside 1..%d", path,
                         width, height, PLOT_MAX_SIDE);
    c->path = path;
    c->is_svg = has_extension(path, ".svg");
    c->width = width;
    c->height = height;
    if ((s = mla_atomic_open(path, &c->file))) return s;
    if (c->is_svg)
        c->surface = cairo_svg_surface_create_for_stream(write_stream, mla_atomic_stream(c->file),
                                                         width, height);
    else
        c->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)ceil(width),
                                                (int)ceil(height));
    c->cr = cairo_create(c->surface);
    if (cairo_status(c->cr) != CAIRO_STATUS_SUCCESS) {
        canvas_abort(c);
        return mla_error(MLA_ERR_NOMEM, "%s: cannot create a %.0f x %.0f canvas", path, width,
                         height);
    }
    cairo_set_source_rgb(c->cr, 1, 1, 1);
    cairo_paint(c->cr);
    return MLA_OK;
}

static void canvas_release(plot_canvas *c) {
    if (c->cr) cairo_destroy(c->cr);
    if (c->surface) cairo_surface_destroy(c->surface);
    c->cr = NULL;
    c->surface = NULL;
}

void canvas_abort(plot_canvas *c) {
    canvas_release(c);
    if (c->file) mla_atomic_abort(c->file);
    c->file = NULL;
}

mla_status canvas_close(plot_canvas *c) {
    cairo_status_t st = cairo_status(c->cr);
    cairo_destroy(c->cr);
    c->cr = NULL;
    if (st == CAIRO_STATUS_SUCCESS) {
        if (c->is_svg) cairo_surface_finish(c->surface); /* flushes the SVG to the stream */
        else st = cairo_surface_write_to_png_stream(c->surface, write_stream,
                                                     mla_atomic_stream(c->file));
    }
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(c->surface);
    canvas_release(c);
    if (st != CAIRO_STATUS_SUCCESS) {
        canvas_abort(c);
        return mla_error(MLA_ERR_IO, "%s: cannot render the plot: %s", c->path,
                         cairo_status_to_string(st));
    }
    mla_status s = mla_atomic_commit(c->file);
    c->file = NULL;
    return s;
}

/* -------------------------------------------------------------------- text -- */

void text_font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, PLOT_FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

double text_width(cairo_t *cr, const char *s) {
    if (!s || !*s) return 0;
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

double text_height(cairo_t *cr) {
    cairo_font_extents_t e;
    cairo_font_extents(cr, &e);
    return e.ascent + e.descent;
}

/* Moves to the baseline origin of s so that its box's (ax, ay) point is at the
 * current origin (the caller has translated and rotated). */
static void move_to_anchor(cairo_t *cr, const char *s, double ax, double ay) {
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double w = text_width(cr, s), h = fe.ascent + fe.descent;
    cairo_move_to(cr, -ax * w, -ay * h + fe.ascent);
}

void text_draw(cairo_t *cr, const char *s, double x, double y, double ax, double ay,
               double angle) {
    if (!s || !*s) return;
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, -angle);
    move_to_anchor(cr, s, ax, ay);
    cairo_show_text(cr, s);
    cairo_restore(cr);
}

void text_draw_halo(cairo_t *cr, const char *s, double x, double y, double ax, double ay) {
    if (!s || !*s) return;
    cairo_save(cr);
    cairo_translate(cr, x, y);
    move_to_anchor(cr, s, ax, ay);
    cairo_text_path(cr, s);
    cairo_pattern_t *ink = cairo_get_source(cr);
    cairo_pattern_reference(ink);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_set_line_width(cr, 3.5);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_stroke_preserve(cr);
    cairo_set_source(cr, ink);
    cairo_pattern_destroy(ink);
    cairo_fill(cr);
    cairo_restore(cr);
}

/* Accepts "text%[flags][width][.precision]{e,E,f,F,g,G}text" with "%%" allowed. */
int format_is_valid(const char *fmt) {
    if (!fmt) return 0;
    int conversions = 0;
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') continue;
        if (p[1] == '%') {
            p++;
            continue;
        }
        p++;
        while (*p && strchr("-+ #0", *p)) p++;
        for (int i = 0; i < 2 && isdigit((unsigned char)*p); i++) p++;
        if (*p == '.') {
            p++;
            for (int i = 0; i < 2 && isdigit((unsigned char)*p); i++) p++;
        }
        if (!*p || !strchr("eEfFgG", *p)) return 0;
        conversions++;
    }
    return conversions == 1;
}

void format_value(char *out, size_t size, const char *fmt, double v) {
    if (!format_is_valid(fmt)) fmt = "%.3g";
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(out, size, fmt, v);
#pragma GCC diagnostic pop
}

/* ----------------------------------------------------------------- colours -- */

static plot_rgb hex(unsigned v) {
    return (plot_rgb){((v >> 16) & 255) / 255.0, ((v >> 8) & 255) / 255.0, (v & 255) / 255.0};
}

static const unsigned TAB20[20] = {
    0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22,
    0x17becf, /* tab10; then tab20's light shades in the same order */
    0xaec7e8, 0xffbb78, 0x98df8a, 0xff9896, 0xc5b0d5, 0xc49c94, 0xf7b6d2, 0xc7c7c7, 0xdbdb8d,
    0x9edae5,
};

/* Beyond 20: hues spaced by the golden angle, medium saturation and value. */
static plot_rgb golden_hue(int i) {
    double h = fmod(i * 137.508, 360.0) / 60.0, s = 0.65, v = 0.8;
    double c = v * s, x = c * (1 - fabs(fmod(h, 2.0) - 1)), m = v - c;
    double r = 0, g = 0, b = 0;
    switch ((int)h % 6) {
    case 0: r = c, g = x; break;
    case 1: r = x, g = c; break;
    case 2: g = c, b = x; break;
    case 3: g = x, b = c; break;
    case 4: r = x, b = c; break;
    default: r = c, b = x; break;
    }
    return (plot_rgb){r + m, g + m, b + m};
}

plot_rgb plot_color(int index) {
    if (index < 0) index = 0;
    return index < 20 ? hex(TAB20[index]) : golden_hue(index);
}

void mla_plot_palette(int i, double rgb[3]) {
    plot_rgb c = plot_color(i);
    rgb[0] = c.r;
    rgb[1] = c.g;
    rgb[2] = c.b;
}

/* Piecewise-linear colour maps through evenly spaced stops (from matplotlib's
 * viridis, Blues and RdBu_r, with a pure white centre for the signed map). */
static const unsigned VIRIDIS[] = {0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c,
                                   0x22a884, 0x44bf70, 0x7ad151, 0xbddf26, 0xfde725};
static const unsigned BLUES[] = {0xf7fbff, 0xdeebf7, 0xc6dbef, 0x9ecae1, 0x6baed6,
                                 0x4292c6, 0x2171b5, 0x08519c, 0x08306b};
static const unsigned SIGNED[] = {0x053061, 0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xffffff,
                                  0xfddbc7, 0xf4a582, 0xd6604d, 0xb2182b, 0x67001f};
static const unsigned GRAY[] = {0x000000, 0xffffff};

static plot_rgb stops_color(const unsigned *stops, int n, double t) {
    double pos = t * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1) return hex(stops[n - 1]);
    double f = pos - i;
    plot_rgb a = hex(stops[i]), b = hex(stops[i + 1]);
    return (plot_rgb){a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

#define STOPS(a) a, (int)(sizeof a / sizeof a[0])

plot_rgb cmap_color(mla_plot_cmap cmap, double t) {
    t = isnan(t) ? 0 : t < 0 ? 0 : t > 1 ? 1 : t;
    switch (cmap) {
    case MLA_CMAP_BLUES: return stops_color(STOPS(BLUES), t);
    case MLA_CMAP_SIGNED: return stops_color(STOPS(SIGNED), t);
    case MLA_CMAP_GRAY: return stops_color(STOPS(GRAY), t);
    default: return stops_color(STOPS(VIRIDIS), t);
    }
}

void set_rgb(cairo_t *cr, plot_rgb c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

plot_rgb contrast_text(plot_rgb c) {
    double luminance = 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
    return luminance > 0.5 ? (plot_rgb){0, 0, 0} : (plot_rgb){1, 1, 1};
}
