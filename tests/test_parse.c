/*  test_parse - numbers and endpoints, as flags, files and environment
    give them. */
#include "rally_parse.h"
#include "check_main.h"

#include <string.h>

START_TEST (parse_u32_is_strict)
{
    uint32_t value = 0;
    ck_assert_int_eq (rally_parse_u32 ("42", 1, 100, &value), 0);
    ck_assert_uint_eq (value, 42);
    ck_assert_int_eq (rally_parse_u32 ("0", 1, 100, &value), -1);
    ck_assert_int_eq (rally_parse_u32 ("101", 1, 100, &value), -1);
    ck_assert_int_eq (rally_parse_u32 ("-1", 0, 100, &value), -1);
    ck_assert_int_eq (rally_parse_u32 (" 4", 0, 100, &value), -1);
    ck_assert_int_eq (rally_parse_u32 ("4 ", 0, 100, &value), -1);
    ck_assert_int_eq (rally_parse_u32 ("", 0, 100, &value), -1);
    ck_assert_int_eq (rally_parse_u32 ("99999999999999999999", 0, UINT32_MAX,
                                       &value), -1);
    ck_assert_uint_eq (value, 42);

    uint64_t big = 7;
    ck_assert_int_eq (rally_parse_u64 ("18446744073709551615", &big), 0);
    ck_assert_uint_eq (big, UINT64_MAX);
    ck_assert_int_eq (rally_parse_u64 ("18446744073709551616", &big), -1);
    ck_assert_int_eq (rally_parse_u64 ("-1", &big), -1);
    ck_assert_uint_eq (big, UINT64_MAX);
}
END_TEST

START_TEST (endpoints_zeromq_would_take_wrongly_are_refused)
{
    const char *good[] = {
        "tcp://127.0.0.1:5600", "tcp://*:5600", "tcp://broker:5600",
        "tcp://node-1.rally_net:1", "tcp://[::1]:65535", "tcp://0.0.0.0:80",
        "tcp://127.0.0.1:*",
        "ipc:///tmp/rally.sock", "inproc://rally",
    };
    const char *bad[] = {
        "", "127.0.0.1:5600", "udp://127.0.0.1:5600", "tcp://", "ipc://",
        "tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:65536", "tcp://127.0.0.1:99999", "tcp://:5600",
        "tcp://256.1.1.1:5600", "tcp://1.2.3:5600", "tcp://1.2.3.4.5:5600",
        "tcp://1..2.3:5600", "tcp://127.0.0.1:5600 ", "tcp://a b:5600",
        "tcp://127.0.0.1:+80", "tcp://host/x:80", "tcp://[::g]:80",
    };
    char reason[256];
    for (size_t i = 0; i < sizeof (good) / sizeof (good[0]); i++)
        ck_assert_msg (rally_parse_endpoint (good[i], reason, sizeof (reason)) == 0,
                       "'%s' refused: %s", good[i], reason);
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        reason[0] = 0;
        ck_assert_msg (rally_parse_endpoint (bad[i], reason, sizeof (reason)) == -1,
                       "'%s' taken", bad[i]);
        ck_assert_msg (reason[0], "'%s' refused without a reason", bad[i]);
    }
    char longest[300];
    memset (longest, 'a', sizeof (longest) - 1);
    memcpy (longest, "ipc://", 6);
    longest[sizeof (longest) - 1] = 0;
    ck_assert_int_eq (rally_parse_endpoint (longest, reason, sizeof (reason)), -1);
    ck_assert_int_eq (rally_parse_endpoint (NULL, reason, sizeof (reason)), -1);
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *suite = suite_create ("parse");
    TCase *tc = tcase_create ("parse");
    tcase_add_test (tc, parse_u32_is_strict);
    tcase_add_test (tc, endpoints_zeromq_would_take_wrongly_are_refused);
    suite_add_tcase (suite, tc);
    return suite;
}
