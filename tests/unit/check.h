/* check.h — a minimal test harness for the C unit tests: CHECK records failures and keeps
 * going; check_summary prints "N passed, N failed" and gives the exit code. */
#ifndef SLM_TESTS_CHECK_H
#define SLM_TESTS_CHECK_H
#include <stdio.h>

static int g_checks_passed, g_checks_failed;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) g_checks_passed++;                                            \
        else {                                                                  \
            g_checks_failed++;                                                  \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
        }                                                                       \
    } while (0)

static inline int check_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, g_checks_passed, g_checks_failed);
    return g_checks_failed ? 1 : 0;
}

#endif
