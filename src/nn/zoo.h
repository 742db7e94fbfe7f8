/* Private: presets generated in code (zoo.c). Each returns a new JSON spec string
 * (caller frees) or NULL when the name or depth is not one of the family:
 * resnetN, resnetN-gn (N = 6n + 2), efficientnet-b0. */
#ifndef MLAUDIT_NN_ZOO_H
#define MLAUDIT_NN_ZOO_H

#include <stdbool.h>

/* Groups of the resnetN-gn presets' group norms: divides 16, 32 and 64 channels (1, 2
 * and 4 channels a group), the count De et al. 2022 used for DP-SGD (Kurakin et al. 2022
 * also trade batch norm for group norm). */
#define MLA_ZOO_GN_GROUPS 16

/* depth = 6n + 2, n >= 1; gn: group norm (resnetN-gn) instead of batch norm (resnetN). */
char *mla_zoo_resnet(int depth, bool gn);
char *mla_zoo_efficientnet_b0(void);
char *mla_zoo_generate(const char *name);

#endif
