/* Generated presets: the CIFAR-style ResNet family (depth 6n + 2, He et al. 2016; and
 * its group-norm variants resnetN-gn for DP-SGD) and
 * EfficientNet-B0 (Tan & Le 2019) scaled for 28-32 pixel inputs. They are built
 * as JSON specs, so `mlaudit models --show` prints them like any other preset. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/zoo.h"

static cJSON *layer(const char *type) {
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "type", type);
    return l;
}

static cJSON *conv(int filters, int kernel, int stride, int pad) {
    cJSON *l = layer("conv2d");
    cJSON_AddNumberToObject(l, "filters", filters);
    cJSON_AddNumberToObject(l, "kernel", kernel);
    if (stride != 1) cJSON_AddNumberToObject(l, "stride", stride);
    if (pad) cJSON_AddNumberToObject(l, "pad", pad);
    cJSON_AddBoolToObject(l, "bias", 0);
    return l;
}

static char *finish(cJSON *root) {
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

static cJSON *spec_root(const char *name, const char *description, cJSON **layers) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "name", name);
    cJSON_AddStringToObject(root, "description", description);
    *layers = cJSON_AddArrayToObject(root, "layers");
    return root;
}

/* ---- ResNet-(6n+2): three stages of n basic blocks, 16/32/64 channels ---- */

/* The normalisation after each convolution: batch norm, or (for the DP-SGD variants,
 * whose per-sample gradients batch norm would mix) group norm with MLA_ZOO_GN_GROUPS
 * groups. */
static cJSON *norm(bool group) {
    if (!group) return layer("batchnorm");
    cJSON *l = layer("groupnorm");
    cJSON_AddNumberToObject(l, "groups", MLA_ZOO_GN_GROUPS);
    return l;
}

static cJSON *basic_block(int cin, int cout, int stride, bool gn) {
    cJSON *block = layer("residual");
    cJSON *body = cJSON_AddArrayToObject(block, "body");
    cJSON_AddItemToArray(body, conv(cout, 3, stride, 1));
    cJSON_AddItemToArray(body, norm(gn));
    cJSON_AddItemToArray(body, layer("relu"));
    cJSON_AddItemToArray(body, conv(cout, 3, 1, 1));
    cJSON_AddItemToArray(body, norm(gn));
    if (stride != 1 || cin != cout) {
        cJSON *sc = cJSON_AddArrayToObject(block, "shortcut");
        cJSON_AddItemToArray(sc, conv(cout, 1, stride, 0));
        cJSON_AddItemToArray(sc, norm(gn));
    }
    return block;
}

char *mla_zoo_resnet(int depth, bool gn) {
    if (depth < 8 || (depth - 2) % 6 != 0 || depth > 2000) return NULL;
    int n = (depth - 2) / 6;
    char name[32], description[768];
    snprintf(name, sizeof name, "resnet%d%s", depth, gn ? "-gn" : "");
    if (gn)
        snprintf(description, sizeof description,
                 "CIFAR-style ResNet-%d (He et al. 2016) with group norm (Wu & He 2018, %d groups, as De et al. "
                 "2022 for DP-SGD) in place of every batch norm, so samples stay "
                 "independent and DP-SGD can train it: 3x3 conv 16 + GN + ReLU, three stages of %d basic blocks "
                 "(16, 32, 64 channels, stride 2 entering stages 2 and 3, 1x1 conv + GN shortcut on a shape "
                 "change), global average pooling, dense classes. Bias-free convolutions.",
                 depth, MLA_ZOO_GN_GROUPS, n);
    else
        snprintf(description, sizeof description,
                 "CIFAR-style ResNet-%d (He et al. 2016): 3x3 conv 16 + BN + ReLU, three stages of %d basic blocks "
                 "(16, 32, 64 channels, stride 2 entering stages 2 and 3, 1x1 conv + BN shortcut on a shape "
                 "change), global average pooling, dense classes. Bias-free convolutions%s.",
                 depth, n, depth == 20 ? " (matches the PyTorch peer's resnet20 layer for layer)" : "");
    cJSON *layers, *root = spec_root(name, description, &layers);
    cJSON_AddItemToArray(layers, conv(16, 3, 1, 1));
    cJSON_AddItemToArray(layers, norm(gn));
    cJSON_AddItemToArray(layers, layer("relu"));
    int cin = 16;
    static const int widths[3] = {16, 32, 64};
    for (int s = 0; s < 3; s++)
        for (int b = 0; b < n; b++) {
            cJSON_AddItemToArray(layers, basic_block(cin, widths[s], s > 0 && b == 0 ? 2 : 1, gn));
            cJSON_AddItemToArray(layers, layer("relu"));
            cin = widths[s];
        }
    cJSON_AddItemToArray(layers, layer("gap"));
    cJSON *dense = layer("dense");
    cJSON_AddStringToObject(dense, "units", "classes");
    cJSON_AddItemToArray(layers, dense);
    return finish(root);
}

/* ---- EfficientNet-B0 ---- */

/* One MBConv block: 1x1 expansion (skipped when expand == 1), depthwise k x k,
 * squeeze-and-excitation (a quarter of the block's input channels), 1x1 projection;
 * batch norm after each convolution, SiLU after the first two; identity residual
 * when the shapes allow. */
static cJSON *mbconv(int cin, int cout, int expand, int kernel, int stride) {
    int mid = cin * expand, squeeze = cin / 4 > 0 ? cin / 4 : 1;
    cJSON *seq = cJSON_CreateArray();
    if (expand != 1) {
        cJSON_AddItemToArray(seq, conv(mid, 1, 1, 0));
        cJSON_AddItemToArray(seq, layer("batchnorm"));
        cJSON_AddItemToArray(seq, layer("silu"));
    }
    cJSON *dw = layer("dwconv2d");
    cJSON_AddNumberToObject(dw, "kernel", kernel);
    if (stride != 1) cJSON_AddNumberToObject(dw, "stride", stride);
    cJSON_AddNumberToObject(dw, "pad", kernel / 2);
    cJSON_AddBoolToObject(dw, "bias", 0);
    cJSON_AddItemToArray(seq, dw);
    cJSON_AddItemToArray(seq, layer("batchnorm"));
    cJSON_AddItemToArray(seq, layer("silu"));
    cJSON *se = layer("se");
    cJSON_AddNumberToObject(se, "units", squeeze);
    cJSON_AddItemToArray(seq, se);
    cJSON_AddItemToArray(seq, conv(cout, 1, 1, 0));
    cJSON_AddItemToArray(seq, layer("batchnorm"));
    if (stride != 1 || cin != cout) return seq; /* caller splices the layers in */
    cJSON *block = layer("residual");
    cJSON_AddItemToObject(block, "body", seq);
    return block;
}

static void add_block(cJSON *layers, cJSON *block) {
    if (!cJSON_IsArray(block)) {
        cJSON_AddItemToArray(layers, block);
        return;
    }
    while (cJSON_GetArraySize(block) > 0) cJSON_AddItemToArray(layers, cJSON_DetachItemFromArray(block, 0));
    cJSON_Delete(block);
}

char *mla_zoo_efficientnet_b0(void) {
    /* expand ratio, output channels, repeats, first stride, kernel (the B0 table). */
    static const int stages[7][5] = {{1, 16, 1, 1, 3},  {6, 24, 2, 2, 3},  {6, 40, 2, 2, 5}, {6, 80, 3, 2, 3},
                                     {6, 112, 3, 1, 5}, {6, 192, 4, 2, 5}, {6, 320, 1, 1, 3}};
    cJSON *layers, *root = spec_root(
        "efficientnet-b0",
        "EfficientNet-B0 (Tan & Le 2019): stem 3x3 conv 32, seven MBConv stages (expansion, depthwise conv, "
        "squeeze-and-excitation, SiLU, projection, batch norm, identity residual where shapes allow), 1x1 conv 1280, "
        "global average pooling, dropout 0.2, dense classes. Scaled for 28-32 pixel inputs: the stem has stride 1 "
        "instead of 2 (so 28x28 reaches 2x2 at the last stages instead of vanishing) and stochastic depth is left out.",
        &layers);
    cJSON_AddItemToArray(layers, conv(32, 3, 1, 1));
    cJSON_AddItemToArray(layers, layer("batchnorm"));
    cJSON_AddItemToArray(layers, layer("silu"));
    int cin = 32;
    for (int s = 0; s < 7; s++)
        for (int r = 0; r < stages[s][2]; r++) {
            add_block(layers, mbconv(cin, stages[s][1], stages[s][0], stages[s][4], r == 0 ? stages[s][3] : 1));
            cin = stages[s][1];
        }
    cJSON_AddItemToArray(layers, conv(1280, 1, 1, 0));
    cJSON_AddItemToArray(layers, layer("batchnorm"));
    cJSON_AddItemToArray(layers, layer("silu"));
    cJSON_AddItemToArray(layers, layer("gap"));
    cJSON *drop = layer("dropout");
    cJSON_AddNumberToObject(drop, "rate", 0.2);
    cJSON_AddItemToArray(layers, drop);
    cJSON *dense = layer("dense");
    cJSON_AddStringToObject(dense, "units", "classes");
    cJSON_AddItemToArray(layers, dense);
    return finish(root);
}

char *mla_zoo_generate(const char *name) {
    int depth, used = 0;
    if (sscanf(name, "resnet%d%n", &depth, &used) == 1) {
        if (!name[used]) return mla_zoo_resnet(depth, false);
        if (!strcmp(name + used, "-gn")) return mla_zoo_resnet(depth, true);
    }
    if (!strcmp(name, "efficientnet-b0")) return mla_zoo_efficientnet_b0();
    return NULL;
}
