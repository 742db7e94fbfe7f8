/* Saving and loading nets as .safetensors: one F32 tensor per layer parameter or
 * buffer, named "<layer>.<suffix>", with the spec, input shape and class count in
 * the header's __metadata__ so the file alone rebuilds the net. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/safetensors.h"
#include "nn/layer.h"

#define MODEL_FORMAT "mlaudit-model-1"

typedef struct {
    mla_st_tensor *t;
    char (*names)[160];
    int n, cap;
} tensor_list;

/* Walks the layers in flat-vector order, calling visit for every tensor. */
typedef mla_status (*tensor_visit)(const mla_layer *l, const mla_tensor_desc *d, void *user);

static mla_status walk_tensors(const mla_seq *seq, tensor_visit visit, void *user) {
    for (int i = 0; i < seq->n; i++) {
        const mla_layer *l = &seq->layers[i];
        for (int k = 0; k < l->n_tensors; k++) {
            mla_status s = visit(l, &l->tensors[k], user);
            if (s) return s;
        }
        mla_status s = l->body ? walk_tensors(l->body, visit, user) : MLA_OK;
        if (!s && l->shortcut) s = walk_tensors(l->shortcut, visit, user);
        if (s) return s;
    }
    return MLA_OK;
}

typedef struct {
    tensor_list list;
    const float *params;
} save_ctx;

static mla_status count_tensor(const mla_layer *l, const mla_tensor_desc *d, void *user) {
    (void)l;
    (void)d;
    ((tensor_list *)user)->cap++;
    return MLA_OK;
}

static mla_status add_tensor(const mla_layer *l, const mla_tensor_desc *d, void *user) {
    save_ctx *c = user;
    int i = c->list.n++;
    snprintf(c->list.names[i], sizeof c->list.names[i], "%s.%s", l->name, d->suffix);
    mla_st_tensor *t = &c->list.t[i];
    t->name = c->list.names[i];
    t->dtype = MLA_ST_F32;
    t->ndim = d->ndim;
    for (int k = 0; k < d->ndim; k++) t->shape[k] = d->dims[k];
    t->data = c->params + d->offset;
    return MLA_OK;
}

mla_status mla_net_save(const mla_net *net, const char *path, const mla_meta *extra, int n_extra) {
    const mla_seq *seq = mla_net_seq(net);
    save_ctx c = {{0}, mla_net_params((mla_net *)net)};
    walk_tensors(seq, count_tensor, &c.list);
    c.list.t = mla_alloc((size_t)c.list.cap + 1, sizeof *c.list.t);
    c.list.names = mla_alloc((size_t)c.list.cap + 1, sizeof *c.list.names);
    mla_st_meta *meta = mla_alloc((size_t)n_extra + 4, sizeof *meta);
    mla_status s = c.list.t && c.list.names && meta ? MLA_OK : MLA_ERR_NOMEM;
    if (!s) {
        walk_tensors(seq, add_tensor, &c);
        char input[64], classes[32];
        mla_shape in = mla_net_input_shape(net);
        snprintf(input, sizeof input, "%d,%d,%d", in.c, in.h, in.w);
        snprintf(classes, sizeof classes, "%d", mla_net_classes(net));
        meta[0] = (mla_st_meta){"format", MODEL_FORMAT};
        meta[1] = (mla_st_meta){"spec", mla_net_spec(net)};
        meta[2] = (mla_st_meta){"input", input};
        meta[3] = (mla_st_meta){"classes", classes};
        for (int i = 0; i < n_extra; i++) meta[4 + i] = (mla_st_meta){extra[i].key, extra[i].value};
        s = mla_st_write(path, c.list.t, c.list.n, meta, 4 + n_extra);
    }
    free(c.list.t);
    free(c.list.names);
    free(meta);
    return s;
}

typedef struct {
    const mla_st_file *file;
    const char *path;
    float *params;
    int found;
} load_ctx;

static mla_status load_tensor(const mla_layer *l, const mla_tensor_desc *d, void *user) {
    load_ctx *c = user;
    char name[160];
    snprintf(name, sizeof name, "%s.%s", l->name, d->suffix);
    const mla_st_tensor *t = mla_st_find(c->file, name);
    if (!t) return mla_error(MLA_ERR_FORMAT, "%s: tensor '%s' is missing", c->path, name);
    if (t->dtype != MLA_ST_F32)
        return mla_error(MLA_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32", c->path, name,
                         mla_st_dtype_name(t->dtype));
    bool same = t->ndim == d->ndim;
    size_t count = 1;
    for (int k = 0; same && k < d->ndim; k++) {
        same = t->shape[k] == d->dims[k];
        count *= (size_t)d->dims[k];
    }
    if (!same) return mla_error(MLA_ERR_FORMAT, "%s: tensor '%s' has the wrong shape for the model's spec", c->path, name);
    memcpy(c->params + d->offset, t->data, count * sizeof(float));
    c->found++;
    return MLA_OK;
}

static mla_status parse_input(const char *path, const char *text, mla_shape *in) {
    int c, h, w, used = 0;
    if (!text || sscanf(text, "%d,%d,%d%n", &c, &h, &w, &used) != 3 || text[used] || c < 1 || h < 1 || w < 1 ||
        c > 65536 || h > 65536 || w > 65536)
        return mla_error(MLA_ERR_FORMAT, "%s: metadata 'input' must be C,H,W", path);
    *in = (mla_shape){c, h, w};
    return MLA_OK;
}

static mla_status fill_from_file(mla_net *net, const mla_st_file *f, const char *path) {
    load_ctx c = {f, path, mla_net_params(net), 0};
    mla_status s = walk_tensors(mla_net_seq(net), load_tensor, &c);
    if (!s && c.found != mla_st_count(f))
        s = mla_error(MLA_ERR_FORMAT, "%s: holds %d tensors but the model's spec has %d", path, mla_st_count(f), c.found);
    return s;
}

mla_status mla_net_load(const char *path, mla_net **out, const char *meta_key, char **meta_value) {
    *out = NULL;
    if (meta_value) *meta_value = NULL;
    mla_st_file *f;
    mla_status s = mla_st_read(path, &f);
    if (s) return s;
    const char *format = mla_st_meta_get(f, "format"), *spec = mla_st_meta_get(f, "spec");
    const char *classes_text = mla_st_meta_get(f, "classes");
    mla_shape in;
    int classes = 0;
    if (!format || strcmp(format, MODEL_FORMAT) || !spec)
        s = mla_error(MLA_ERR_FORMAT, "%s: not an mlaudit model (no '%s' spec in the metadata)", path, MODEL_FORMAT);
    if (!s) s = parse_input(path, mla_st_meta_get(f, "input"), &in);
    if (!s && (!classes_text || sscanf(classes_text, "%d", &classes) != 1 || classes < 1 || classes > 1000000))
        s = mla_error(MLA_ERR_FORMAT, "%s: metadata 'classes' must be a positive integer", path);
    mla_net *net = NULL;
    if (!s) {
        s = mla_net_create(spec, in, classes, 0, &net);
        if (s) mla_error_prefix(s, "%s: its spec", path);
    }
    if (!s) s = fill_from_file(net, f, path);
    if (!s && meta_key && meta_value && mla_st_meta_get(f, meta_key)) {
        *meta_value = strdup(mla_st_meta_get(f, meta_key));
        if (!*meta_value) s = mla_error(MLA_ERR_NOMEM, "out of memory");
    }
    mla_st_free(f);
    if (s) {
        mla_net_free(net);
        return s;
    }
    *out = net;
    return MLA_OK;
}
