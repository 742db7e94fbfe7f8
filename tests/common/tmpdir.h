/* A temporary folder for a test executable's files: created by a cmocka group setup,
 * removed with everything in it by the group teardown. */
#ifndef MLAUDIT_TESTS_TMPDIR_H
#define MLAUDIT_TESTS_TMPDIR_H

extern char test_tmpdir[64];

/* Creates /tmp/mla_<tag>_XXXXXX into test_tmpdir; 0 on success (a cmocka setup's value). */
int test_tmpdir_create(const char *tag);
/* Removes test_tmpdir and everything in it; 0 on success. */
int test_tmpdir_remove(void);
/* "<test_tmpdir>/<name>" in one of four rotating buffers (valid for the next three calls). */
const char *test_tmp_path(const char *name);

#endif
