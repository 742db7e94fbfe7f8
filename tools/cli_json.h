/* JSON helpers shared by the subcommands that write a result object (cJSON). */
#ifndef MLAUDIT_CLI_JSON_H
#define MLAUDIT_CLI_JSON_H

#include <cjson/cJSON.h>

/* Adds key: v, or key: null when v is not finite (NaN, +-inf). */
void cli_json_num(cJSON *o, const char *key, double v);
/* A float setting as the decimal it was given (0.1, not 0.10000000149011612). */
double cli_short_float(float v);

#endif
