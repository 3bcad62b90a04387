/* Declarations shared by the Check test executables. */
#ifndef GS_TEST_RUNNER_H
#define GS_TEST_RUNNER_H

#include <check.h>

/* The module's suite; defined once per test executable. */
Suite *gs_test_suite(void);

#endif
