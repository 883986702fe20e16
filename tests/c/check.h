/* The C tests' one assertion: counts checks and failures, reports each
 * failure with its place, and lets the test go on. Each test program
 * includes it once and prints `N passed, N failed` at the end. */
#ifndef CPIPE_TEST_CHECK_H
#define CPIPE_TEST_CHECK_H

#include <stdio.h>

static int failures, checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        checks++;                                                                    \
        if (!(cond)) {                                                               \
            failures++;                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#endif
