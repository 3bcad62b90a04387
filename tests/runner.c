/* Shared Check runner: every tests/test_<module>.c defines gs_test_suite(). */
#include <check.h>
#include <stdlib.h>

#include "runner.h"

int main(void)
{
    SRunner *sr = srunner_create(gs_test_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
