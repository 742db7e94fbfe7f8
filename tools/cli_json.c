/* JSON helpers shared by the subcommands (cli_json.h). */
#include "cli_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void cli_json_num(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

double cli_short_float(float v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", v);
    return strtod(buf, NULL);
}
