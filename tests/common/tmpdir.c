/* The tests' temporary folder (tmpdir.h). */
#include "common/tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

char test_tmpdir[64];

int test_tmpdir_create(const char *tag) {
    snprintf(test_tmpdir, sizeof test_tmpdir, "/tmp/mla_%s_XXXXXX", tag);
    return mkdtemp(test_tmpdir) ? 0 : -1;
}

int test_tmpdir_remove(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

const char *test_tmp_path(const char *name) {
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", test_tmpdir, name);
    return p;
}
