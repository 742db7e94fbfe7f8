/* Private: presets generated in code (zoo.c). Each returns a new JSON spec string
 * (caller frees) or NULL when the name or depth is not one of the family. */
#ifndef MLAUDIT_NN_ZOO_H
#define MLAUDIT_NN_ZOO_H

char *mla_zoo_resnet(int depth);   /* depth = 6n + 2, n >= 1 */
char *mla_zoo_efficientnet_b0(void);
char *mla_zoo_generate(const char *name);

#endif
