/*  test_ident - a node's durable term and match ids. Each test works in a
    fresh temporary directory and removes it.
*/
#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ident.h"

static void s_tmpdir (char *dir, size_t size)
{
    snprintf (dir, size, "/tmp/rally-ident-XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (dir));
}

static void s_write (const char *dir, const char *text)
{
    char path[128];
    snprintf (path, sizeof (path), "%s/" IDENT_FILE, dir);
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fputs (text, file);
    fclose (file);
}

static void s_rmdir (const char *dir)
{
    char path[128];
    snprintf (path, sizeof (path), "%s/" IDENT_FILE, dir);
    unlink (path);
    rmdir (dir);
}

START_TEST (test_fresh_and_kept)
{
    char dir[64], reason[160] = "";
    s_tmpdir (dir, sizeof (dir));
    ident_t *ident = ident_new (dir, reason, sizeof (reason));
    ck_assert_msg (ident, "ident_new: %s", reason);
    ck_assert_uint_eq (ident_term (ident), 0);
    ck_assert_uint_eq (ident_matches (ident), 0);
    ck_assert_int_eq (ident_raise (ident, 7, 0), 0);
    ck_assert_int_eq (ident_raise (ident, 3, 128), 0);     //  term stays 7
    ck_assert_uint_eq (ident_term (ident), 7);
    ck_assert_uint_eq (ident_matches (ident), 128);
    ident_destroy (&ident);
    ident_destroy (&ident);
    ck_assert_ptr_null (ident);

    //  What was raised is there after a restart, never lower.
    ident = ident_new (dir, reason, sizeof (reason));
    ck_assert_msg (ident, "ident_new again: %s", reason);
    ck_assert_uint_eq (ident_term (ident), 7);
    ck_assert_uint_eq (ident_matches (ident), 128);
    ck_assert_int_eq (ident_raise (ident, 1, 1), 0);
    ck_assert_uint_eq (ident_term (ident), 7);
    ident_destroy (&ident);
    s_rmdir (dir);
}
END_TEST

START_TEST (test_memory_only)
{
    char reason[160] = "";
    ident_t *ident = ident_new ("", reason, sizeof (reason));
    ck_assert_ptr_nonnull (ident);
    ck_assert_int_eq (ident_raise (ident, 5, 9), 0);
    ck_assert_uint_eq (ident_term (ident), 5);
    ck_assert_uint_eq (ident_matches (ident), 9);
    ident_destroy (&ident);
}
END_TEST

//  A write that fails leaves the values where they were: nothing may act
//  on a term or an id that is not on disk.
START_TEST (test_write_fails)
{
    char dir[64], reason[160] = "";
    s_tmpdir (dir, sizeof (dir));
    ident_t *ident = ident_new (dir, reason, sizeof (reason));
    ck_assert_ptr_nonnull (ident);
    ck_assert_int_eq (ident_raise (ident, 2, 64), 0);
    s_rmdir (dir);                  //  the directory is gone
    ck_assert_int_eq (ident_raise (ident, 3, 128), -1);
    ck_assert_uint_eq (ident_term (ident), 2);
    ck_assert_uint_eq (ident_matches (ident), 64);
    ident_destroy (&ident);
}
END_TEST

START_TEST (test_malformed_refused)
{
    const char *bad[] = {
        "",
        "rally-node-state 2\nterm 1\nmatches 1\n",
        "rally-node-state 1\nterm x\nmatches 1\n",
        "rally-node-state 1\nterm 1\n",
        "rally-node-state 1\nterm -1\nmatches 1\n",
        "rally-node-state 1\nterm 1\nmatches 4294967295\n",
        "rally-node-state 1\nterm 99999999999999999999\nmatches 1\n",
        "rally-node-state 1\nterm 9007199254740992\nmatches 1\n",
        "rally-node-state 1\nterm 9223372036854775807\nmatches 1\n",
        "rally-node-state 1\nterm 1\nmatches 1\nmore\n",
        "rally-node-state 1\nmatches 1\nterm 1\n",
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        char dir[64], reason[160] = "";
        s_tmpdir (dir, sizeof (dir));
        s_write (dir, bad[i]);
        ident_t *ident = ident_new (dir, reason, sizeof (reason));
        ck_assert_msg (!ident, "file %zu was taken", i);
        ck_assert_msg (strstr (reason, IDENT_FILE), "reason: %s", reason);
        s_rmdir (dir);
    }
    char dir[64], reason[160] = "";
    s_tmpdir (dir, sizeof (dir));
    //  The last term a broker grants (rally_term.h), and the last id.
    s_write (dir, "rally-node-state 1\nterm 9007199254740991\nmatches "
             "4294967294\n");
    ident_t *ident = ident_new (dir, reason, sizeof (reason));
    ck_assert_msg (ident, "ident_new: %s", reason);
    ck_assert_uint_eq (ident_term (ident), (UINT64_C (1) << 53) - 1);
    ck_assert_uint_eq (ident_matches (ident), UINT32_MAX - 1);
    ident_destroy (&ident);
    s_rmdir (dir);
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *s = suite_create ("ident");
    TCase *tc = tcase_create ("ident");
    tcase_add_test (tc, test_fresh_and_kept);
    tcase_add_test (tc, test_memory_only);
    tcase_add_test (tc, test_write_fails);
    tcase_add_test (tc, test_malformed_refused);
    suite_add_tcase (s, tc);
    return s;
}
