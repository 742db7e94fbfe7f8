/* Small synthetic datasets the C tests share (the same bits wherever they are used). */
#ifndef MLAUDIT_TESTS_TOY_DATA_H
#define MLAUDIT_TESTS_TOY_DATA_H

#include "mlaudit/data.h"

/* n images of 1 x 8 x 8, label i % 3: a bright bar in rows 0-2, 3-5 or 6-7 (pixels
 * 150 + U[0, 100)), noise U[0, 120) elsewhere; one stream seeded 77. NULL on failure. */
mla_dataset *toy_bars(int n);

/* n images of 1 x 4 x 4, labels drawn from 3 classes: the brightest row of four tells
 * the class (U[0, 100) + 120 there, U[0, 100) elsewhere); one stream seeded `seed`.
 * NULL on failure. */
mla_dataset *toy_quarters(int n, uint64_t seed);

#endif
