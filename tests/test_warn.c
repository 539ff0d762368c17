/*  test_warn - rate-limited warnings, with the time passed in. */
#include "rally_warn.h"
#include "check_main.h"

#include <string.h>

START_TEST (a_burst_then_silence_then_a_new_second)
{
    rally_warn_t warn;
    rally_warn_init (&warn, "test", 3);
    int64_t t = 5000;
    for (int i = 0; i < 3; i++)
        ck_assert (rally_warn (&warn, t + i, "bad %d", i));
    for (int i = 0; i < 100; i++)
        ck_assert (!rally_warn (&warn, t + 10 + i, "flood %d", i));
    ck_assert_uint_eq (warn.held, 100);

    //  A timer closes the second even when nothing more arrives.
    rally_warn_flush (&warn, t + 999);
    ck_assert_uint_eq (warn.held, 100);
    rally_warn_flush (&warn, t + 1000);
    ck_assert_uint_eq (warn.held, 0);
    ck_assert (rally_warn (&warn, t + 1001, "after"));
    ck_assert_uint_eq (warn.count, 1);
}
END_TEST

START_TEST (peer_ids_are_short_hex)
{
    char buf[RALLY_WARN_PEER_BUF];
    const uint8_t id[] = { 0x00, 0x8b, 0x45, 0x67, 0x01, 0xff, 0xee, 0xdd,
                           0xcc, 0xbb };
    rally_warn_peer (id, 3, buf);
    ck_assert_str_eq (buf, "008b45");
    rally_warn_peer (id, sizeof (id), buf);
    ck_assert_str_eq (buf, "008b456701ffeedd");
    rally_warn_peer (id, 0, buf);
    ck_assert_str_eq (buf, "");
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *suite = suite_create ("warn");
    TCase *tc = tcase_create ("warn");
    tcase_add_test (tc, a_burst_then_silence_then_a_new_second);
    tcase_add_test (tc, peer_ids_are_short_hex);
    suite_add_tcase (suite, tc);
    return suite;
}
