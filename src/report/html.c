/* The HTML page builder: one growing buffer, escaping, base64 figures. */
#include "mlaudit/report.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct mla_html {
    char *buf;
    size_t len, cap;
    mla_status status;   /* the first failure, kept */
};

static const char STYLE[] =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;"
    "padding:0 1em;color:#222;line-height:1.45}\n"
    "h1{font-size:1.7em;border-bottom:2px solid #1f77b4;padding-bottom:.2em}\n"
    "h2{font-size:1.3em;margin-top:1.6em;color:#1f4e79}\n"
    "h3{font-size:1.1em}\n"
    ".tbl{overflow-x:auto}\n"
    "table{border-collapse:collapse;margin:.8em 0;font-size:.85em}\n"
    "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\n"
    "th{background:#eef3f8}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "tr.hl td{font-weight:bold;background:#fff7e0}\n"
    "caption{caption-side:top;text-align:left;font-weight:bold;padding-bottom:.3em}\n"
    ".note{border-left:4px solid #1f77b4;background:#f4f8fc;padding:.6em 1em;margin:1em 0}\n"
    ".note b{display:block;margin-bottom:.3em}\n"
    "figure{margin:1em 0}\n"
    "figure img{max-width:100%;height:auto;border:1px solid #ddd}\n"
    "figcaption{font-size:.9em;color:#555}\n"
    ".summary{font-size:1.05em;background:#fafafa;border:1px solid #e0e0e0;padding:.8em 1em}\n";

static mla_status append_n(mla_html *h, const char *s, size_t n) {
    if (h->status != MLA_OK) return h->status;
    if (h->len + n + 1 > h->cap) {
        size_t cap = h->cap ? h->cap : 4096;
        while (h->len + n + 1 > cap) cap *= 2;
        char *b = realloc(h->buf, cap);
        if (!b) return h->status = mla_error(MLA_ERR_NOMEM, "html page: out of memory (%zu bytes)", cap);
        h->buf = b;
        h->cap = cap;
    }
    memcpy(h->buf + h->len, s, n);
    h->len += n;
    h->buf[h->len] = '\0';
    return MLA_OK;
}

static mla_status append(mla_html *h, const char *s) { return append_n(h, s, strlen(s)); }

/* Appends s escaped, without an intermediate copy. */
static mla_status append_escaped(mla_html *h, const char *s) {
    for (const char *p = s ? s : ""; *p; p++) {
        const char *e = NULL;
        switch (*p) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&#39;"; break;
        default: break;
        }
        mla_status s2 = e ? append(h, e) : append_n(h, p, 1);
        if (s2 != MLA_OK) return s2;
    }
    return h->status;
}

char *mla_html_escape(const char *s) {
    mla_html h = {0};
    if (append(&h, "") != MLA_OK || append_escaped(&h, s) != MLA_OK) {
        free(h.buf);
        return NULL;
    }
    return h.buf;
}

char *mla_base64(const void *data, size_t n) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *d = data;
    char *out = mla_alloc((n + 2) / 3 * 4 + 1, 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        if (i + 1 < n) v |= (uint32_t)d[i + 1] << 8;
        if (i + 2 < n) v |= d[i + 2];
        out[o++] = T[v >> 18 & 63];
        out[o++] = T[v >> 12 & 63];
        out[o++] = i + 1 < n ? T[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? T[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

mla_status mla_html_create(const char *title, mla_html **out) {
    *out = NULL;
    mla_html *h = mla_alloc(1, sizeof *h);
    if (!h) return MLA_ERR_NOMEM;
    append(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    append_escaped(h, title);
    append(h, "</title>\n<style>\n");
    append(h, STYLE);
    append(h, "</style>\n</head>\n<body>\n<h1>");
    append_escaped(h, title);
    append(h, "</h1>\n");
    if (h->status != MLA_OK) {
        mla_status s = h->status;
        mla_html_free(h);
        return s;
    }
    *out = h;
    return MLA_OK;
}

void mla_html_free(mla_html *h) {
    if (!h) return;
    free(h->buf);
    free(h);
}

mla_status mla_html_heading(mla_html *h, int level, const char *text) {
    char tag[8];
    level = level < 2 ? 2 : level > 4 ? 4 : level;
    snprintf(tag, sizeof tag, "h%d>", level);
    append(h, "<");
    append(h, tag);
    append_escaped(h, text);
    append(h, "</");
    append(h, tag);
    return append(h, "\n");
}

mla_status mla_html_paragraph(mla_html *h, const char *fmt, ...) {
    if (h->status != MLA_OK) return h->status;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *text = n >= 0 ? mla_alloc((size_t)n + 1, 1) : NULL;
    if (!text) {
        va_end(ap2);
        return h->status = n < 0 ? mla_error(MLA_ERR_INVALID, "html paragraph: bad format") : MLA_ERR_NOMEM;
    }
    vsnprintf(text, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    append(h, "<p>");
    append_escaped(h, text);
    free(text);
    return append(h, "</p>\n");
}

mla_status mla_html_note(mla_html *h, const char *title, const char *text) {
    append(h, "<div class=\"note\">");
    if (title) {
        append(h, "<b>");
        append_escaped(h, title);
        append(h, "</b>");
    }
    append_escaped(h, text);
    return append(h, "</div>\n");
}

mla_status mla_html_raw(mla_html *h, const char *html) { return append(h, html ? html : ""); }

mla_status mla_html_table(mla_html *h, const char *const *header, int cols, const char *const *cells, int rows,
                          const mla_html_table_opts *opts) {
    if (h->status != MLA_OK) return h->status;
    if (cols < 1 || rows < 0 || !header || (rows > 0 && !cells))
        return h->status = mla_error(MLA_ERR_INVALID, "html table: %d columns, %d rows", cols, rows);
    mla_html_table_opts o = opts ? *opts : (mla_html_table_opts){0};
    append(h, "<div class=\"tbl\"><table>\n");
    if (o.caption) {
        append(h, "<caption>");
        append_escaped(h, o.caption);
        append(h, "</caption>\n");
    }
    append(h, "<thead><tr>");
    for (int c = 0; c < cols; c++) {
        append(h, "<th>");
        append_escaped(h, header[c]);
        append(h, "</th>");
    }
    append(h, "</tr></thead>\n<tbody>\n");
    for (int r = 0; r < rows; r++) {
        append(h, o.highlight_row == r + 1 ? "<tr class=\"hl\">" : "<tr>");
        for (int c = 0; c < cols; c++) {
            append(h, o.numeric_from > 0 && c >= o.numeric_from ? "<td class=\"num\">" : "<td>");
            append_escaped(h, cells[(size_t)r * (size_t)cols + (size_t)c]);
            append(h, "</td>");
        }
        append(h, "</tr>\n");
    }
    return append(h, "</tbody>\n</table></div>\n");
}

mla_status mla_html_figure_png_data(mla_html *h, const void *png, size_t n, const char *alt, const char *caption) {
    if (h->status != MLA_OK) return h->status;
    char *b64 = mla_base64(png, n);
    if (!b64) return h->status = MLA_ERR_NOMEM;
    append(h, "<figure><img alt=\"");
    append_escaped(h, alt);
    append(h, "\" src=\"data:image/png;base64,");
    append(h, b64);
    free(b64);
    append(h, "\">");
    if (caption) {
        append(h, "<figcaption>");
        append_escaped(h, caption);
        append(h, "</figcaption>");
    }
    return append(h, "</figure>\n");
}

mla_status mla_html_figure_png(mla_html *h, const char *png_path, const char *alt, const char *caption) {
    if (h->status != MLA_OK) return h->status;
    char *data = NULL;
    size_t n = 0;
    mla_status s = mla_read_file(png_path, (size_t)64 << 20, &data, &n);
    if (s != MLA_OK) return h->status = s;
    s = mla_html_figure_png_data(h, data, n, alt, caption);
    free(data);
    return s;
}

mla_status mla_html_finish(mla_html *h, char **out, size_t *len) {
    *out = NULL;
    append(h, "</body>\n</html>\n");
    if (h->status != MLA_OK) return h->status;
    *out = h->buf;
    if (len) *len = h->len;
    h->buf = NULL;
    h->len = h->cap = 0;
    h->status = MLA_ERR_INVALID; /* finished: only mla_html_free remains */
    return MLA_OK;
}

mla_status mla_html_write(mla_html *h, const char *path) {
    char *text = NULL;
    size_t n = 0;
    mla_status s = mla_html_finish(h, &text, &n);
    if (s != MLA_OK) return s;
    s = mla_write_file_atomic(path, text, n);
    free(text);
    return s;
}
