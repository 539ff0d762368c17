/*  watchers: the spectator count, with injected time. */
#include "check_main.h"
#include "watchers.h"
#include <string.h>

START_TEST (count_fresh_spectators)
{
    watchers_t *w = watchers_new ();
    const uint8_t a[] = { 0, 1, 2, 3, 4 }, b[] = { 0, 1, 2, 3, 5 };
    ck_assert_uint_eq (watchers_count (w, 7, 0), 0);
    ck_assert (watchers_heard (w, a, sizeof a, 7, 0));
    ck_assert (watchers_heard (w, b, sizeof b, 7, 1000));
    ck_assert_uint_eq (watchers_count (w, 7, 1000), 2);
    ck_assert_uint_eq (watchers_count (w, 8, 1000), 0);
    //  The same spectator switching matches is counted once, where it is.
    ck_assert (watchers_heard (w, a, sizeof a, 8, 1500));
    ck_assert_uint_eq (watchers_count (w, 7, 1500), 1);
    ck_assert_uint_eq (watchers_count (w, 8, 1500), 1);
    //  Unheard for WATCHERS_FRESH_MS: gone.
    ck_assert_uint_eq (watchers_count (w, 7, 1000 + WATCHERS_FRESH_MS), 0);
    //  Listing only (match 0) counts nowhere.
    ck_assert (watchers_heard (w, b, sizeof b, 0, 5000));
    ck_assert_uint_eq (watchers_count (w, 0, 5000), 0);
    watchers_destroy (&w);
    ck_assert_ptr_null (w);
}
END_TEST

START_TEST (full_table_and_bad_ids)
{
    watchers_t *w = watchers_new ();
    uint8_t id[WATCHERS_PEER_MAX + 1] = { 0 };
    ck_assert (!watchers_heard (w, id, sizeof id, 1, 0));
    ck_assert (!watchers_heard (w, id, 0, 1, 0));
    //  More spectators than places: the stalest gives way.
    for (uint32_t i = 0; i < WATCHERS_MAX + 10; i++) {
        memcpy (id, &i, sizeof i);
        ck_assert (watchers_heard (w, id, 8, 1, (int64_t) i));
    }
    ck_assert_uint_eq (watchers_count (w, 1, WATCHERS_MAX + 10), WATCHERS_MAX);
    watchers_destroy (&w);
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *s = suite_create ("watchers");
    TCase *tc = tcase_create ("core");
    tcase_add_test (tc, count_fresh_spectators);
    tcase_add_test (tc, full_table_and_bad_ids);
    suite_add_tcase (s, tc);
    return s;
}
