/* The architecture presets shipped with the tool (the presets folder, embedded at build
 * time by cmake/embed_presets.cmake) and spec resolution. */
#include <stdlib.h>
#include <string.h>

#include "mlaudit/nn.h"
#include "nn/zoo.h"

typedef struct {
    const char *name;
    const char *spec;
} preset;
extern const preset mla_presets_table[];

/* Generated presets listed by name; their specs are built on first use and kept
 * for the life of the process (so mla_preset_spec can return a borrowed string). */
static const char *const generated[] = {"resnet20", "resnet32", "resnet56", "resnet20-gn", "efficientnet-b0"};
#define N_GENERATED (sizeof generated / sizeof *generated)
static char *generated_specs[N_GENERATED];

const char *const *mla_preset_names(void) {
    static const char *names[64];
    if (!names[0]) {
        int i = 0;
        for (; mla_presets_table[i].name && i < 63 - (int)N_GENERATED; i++) names[i] = mla_presets_table[i].name;
        for (size_t g = 0; g < N_GENERATED; g++) names[i++] = generated[g];
        names[i] = NULL;
    }
    return names;
}

const char *mla_preset_spec(const char *name) {
    for (int i = 0; mla_presets_table[i].name; i++)
        if (!strcmp(mla_presets_table[i].name, name)) return mla_presets_table[i].spec;
    for (size_t g = 0; g < N_GENERATED; g++)
        if (!strcmp(generated[g], name)) {
            if (!generated_specs[g]) generated_specs[g] = mla_zoo_generate(name);
            return generated_specs[g];
        }
    return NULL;
}

mla_status mla_spec_resolve(const char *name_or_path, char **spec_out) {
    *spec_out = NULL;
    const char *spec = mla_preset_spec(name_or_path);
    if (spec) {
        *spec_out = strdup(spec);
        return *spec_out ? MLA_OK : mla_error(MLA_ERR_NOMEM, "out of memory");
    }
    char *family = mla_zoo_generate(name_or_path); /* e.g. resnet44, any 6n + 2 */
    if (family) {
        *spec_out = family;
        return MLA_OK;
    }
    if (!strchr(name_or_path, '/') && !strstr(name_or_path, ".json")) {
        char list[512] = "";
        const char *const *names = mla_preset_names();
        for (int i = 0; names[i]; i++) {
            strncat(list, names[i], sizeof list - strlen(list) - 3);
            if (names[i + 1]) strcat(list, ", ");
        }
        return mla_error(MLA_ERR_INVALID,
                         "unknown model '%s' (presets: %s; resnetN or resnetN-gn for any depth N = 6n+2; or a path to a JSON spec)",
                         name_or_path, list);
    }
    size_t size;
    mla_status s = mla_read_file(name_or_path, 1 << 24, spec_out, &size);
    return s ? mla_error_prefix(s, "model spec") : MLA_OK;
}
