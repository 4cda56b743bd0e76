/* check.h - the CHECK macro and pass / fail counters of the C test programs (one program per
 * executable, so the counters are the program's own). */
#ifndef PDBN_TESTS_CHECK_H
#define PDBN_TESTS_CHECK_H

#include <stdio.h>

static int n_pass, n_fail;

/* Counts a check; prints the file, line and a printf-style message when it fails. */
#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (cond) {                                                                           \
            n_pass++;                                                                         \
        } else {                                                                              \
            n_fail++;                                                                         \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                       \
            printf(__VA_ARGS__);                                                              \
            printf("\n");                                                                     \
        }                                                                                     \
    } while (0)

#endif
