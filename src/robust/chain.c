/* Models built from parts of nets: a net's prefix up to a named layer (the trunk of a
 * head on that layer), and the chained model head(trunk(x)) that attacks follow
 * (robust.h). Both use only the nn module's public interface: the prefix is a new net
 * from the truncated spec with the kept tensors copied by name. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/robust.h"

/* Copies every tensor of dst from the tensor of src with the same name. */
static mla_status copy_by_name(mla_net *dst, const mla_net *src) {
    float *dp = mla_net_params(dst);
    const float *sp = mla_net_params((mla_net *)src);
    int ns = mla_net_tensor_count(src);
    for (int i = 0; i < mla_net_tensor_count(dst); i++) {
        mla_tensor_info d, s;
        mla_status st = mla_net_tensor_info(dst, i, &d);
        int j = 0;
        for (; !st && j < ns; j++)
            if (!(st = mla_net_tensor_info(src, j, &s)) && !strcmp(s.name, d.name)) break;
        if (st) return st;
        if (j == ns || s.count != d.count)
            return mla_error(MLA_ERR_INVALID, "prefix: tensor %s not found in the net", d.name);
        memcpy(dp + d.offset, sp + s.offset, d.count * sizeof(float));
    }
    return MLA_OK;
}

mla_status mla_net_prefix(const mla_net *net, const char *layer, mla_net **out) {
    *out = NULL;
    int at = -1;
    for (int i = 0; mla_net_layer_name(net, i); i++)
        if (!strcmp(mla_net_layer_name(net, i), layer)) at = i;
    if (at < 0) {
        char list[1024] = "";
        for (int i = 0; mla_net_layer_name(net, i); i++) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", mla_net_layer_name(net, i));
        }
        return mla_error(MLA_ERR_INVALID, "unknown layer '%s' (layers: %s)", layer, list);
    }
    cJSON *spec = cJSON_Parse(mla_net_spec(net));
    cJSON *layers = spec ? cJSON_GetObjectItemCaseSensitive(spec, "layers") : NULL;
    if (!cJSON_IsArray(layers)) {
        cJSON_Delete(spec);
        return mla_error(MLA_ERR_FORMAT, "prefix: the net's spec has no layer list");
    }
    while (cJSON_GetArraySize(layers) > at + 1) cJSON_DeleteItemFromArray(layers, at + 1);
    char *text = cJSON_PrintUnformatted(spec);
    cJSON_Delete(spec);
    if (!text) return MLA_ERR_NOMEM;
    mla_net *p;
    mla_status s = mla_net_create(text, mla_net_input_shape(net), mla_net_classes(net), 0, &p);
    free(text);
    if (!s && (s = copy_by_name(p, net))) mla_net_free(p);
    if (!s) *out = p;
    return s;
}

/* ---- the chained model ---- */

struct mla_adv_chain {
    mla_net *trunk, *head;
    float *dfeat;   /* d loss / d trunk output of the last batch */
    int cap;        /* samples dfeat holds */
    int n;          /* the last forward's batch */
};

mla_status mla_adv_chain_create(mla_net *trunk, mla_net *head, mla_adv_chain **out) {
    *out = NULL;
    mla_shape a = mla_net_output_shape(trunk), b = mla_net_input_shape(head);
    if (a.c != b.c || a.h != b.h || a.w != b.w)
        return mla_error(MLA_ERR_INVALID, "chain: the trunk gives %dx%dx%d, the head takes %dx%dx%d", a.c, a.h, a.w,
                         b.c, b.h, b.w);
    mla_adv_chain *c = mla_alloc(1, sizeof *c);
    if (!c) return MLA_ERR_NOMEM;
    c->trunk = trunk, c->head = head;
    *out = c;
    return MLA_OK;
}

void mla_adv_chain_free(mla_adv_chain *c) {
    if (!c) return;
    free(c->dfeat);
    free(c);
}

static mla_status chain_forward(void *user, const float *x, int n, const float **logits) {
    mla_adv_chain *c = user;
    const float *f;
    mla_status s = mla_net_forward(c->trunk, x, n, false, &f);
    if (!s) s = mla_net_forward(c->head, f, n, false, logits);
    c->n = n;
    return s;
}

/* Backward of one net without parameter gradients; the frozen flag is restored. */
static mla_status frozen_backward(mla_net *net, const float *dout, float *dx) {
    bool frozen = mla_net_frozen(net);
    mla_net_set_frozen(net, true);
    mla_status s = mla_net_backward(net, dout, dx);
    mla_net_set_frozen(net, frozen);
    return s;
}

static mla_status chain_backward(void *user, const float *dlogits, float *dx) {
    mla_adv_chain *c = user;
    if (c->n > c->cap) {
        free(c->dfeat);
        c->dfeat = mla_alloc((size_t)c->n * mla_shape_size(mla_net_input_shape(c->head)), sizeof(float));
        c->cap = c->dfeat ? c->n : 0;
        if (!c->dfeat) return MLA_ERR_NOMEM;
    }
    mla_status s = frozen_backward(c->head, dlogits, c->dfeat);
    return s ? s : frozen_backward(c->trunk, c->dfeat, dx);
}

mla_adv_model mla_adv_model_chain(mla_adv_chain *c) {
    return (mla_adv_model){.user = c, .dim = mla_shape_size(mla_net_input_shape(c->trunk)),
                           .classes = mla_shape_size(mla_net_output_shape(c->head)), .forward = chain_forward,
                           .backward = chain_backward};
}
