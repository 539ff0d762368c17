/*  check_main - the one main of every Check suite.

    Each tests/test_*.c defines rally_test_suite (); this runs it and exits
    non-zero if any test failed, which is all CTest looks at.
*/
#include "check_main.h"

#include <stdlib.h>

int main (void)
{
    SRunner *runner = srunner_create (rally_test_suite ());
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed? EXIT_FAILURE: EXIT_SUCCESS;
}
