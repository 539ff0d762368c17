/*  test_args - the command line reader every program shares. */
#include "rally_args.h"

#include "check_main.h"
#include <stdlib.h>
#include <string.h>

//  Every kind of flag, as a program would declare them.
typedef struct {
    const char *text;
    uint32_t number;
    bool number_given;
    uint64_t big;
    double fraction;
    bool on;
    rally_args_list_t list;
    const char *words[2];
} flags_t;

static int s_parse (flags_t *f, const char **words)
{
    memset (f, 0, sizeof (*f));
    const rally_arg_t table[] = {
        RALLY_ARGS_STRING ("--text", &f->text),
        RALLY_ARGS_UINT ("--number", &f->number, 10, 240, &f->number_given),
        RALLY_ARGS_U64 ("--big", &f->big),
        RALLY_ARGS_FRACTION ("--fraction", &f->fraction),
        RALLY_ARGS_SWITCH ("--on", "-o", &f->on),
        RALLY_ARGS_LIST ("--list", &f->list),
    };
    char *argv[32] = { "prog" };
    int argc = 1;
    while (words[argc - 1])
        argv[argc] = (char *) words[argc - 1], argc++;
    return rally_args_parse ("prog", table, sizeof (table) / sizeof (table[0]),
                             argc, argv, f->words, 2);
}

#define S_PARSE(f, ...) s_parse (f, (const char *[]) { __VA_ARGS__, NULL })

START_TEST (values_separate_and_joined)
{
    flags_t f;
    ck_assert_int_eq (S_PARSE (&f, "--text", "hello", "--number=60",
                               "--big", "18446744073709551615",
                               "--fraction=0.25", "-o", "status"), 0);
    ck_assert_str_eq (f.text, "hello");
    ck_assert_uint_eq (f.number, 60);
    ck_assert (f.number_given);
    ck_assert_uint_eq (f.big, UINT64_MAX);
    ck_assert_double_eq (f.fraction, 0.25);
    ck_assert (f.on);
    ck_assert_str_eq (f.words[0], "status");
    ck_assert_ptr_null (f.words[1]);
}
END_TEST

START_TEST (absent_flags_leave_their_targets)
{
    flags_t f;
    ck_assert_int_eq (S_PARSE (&f, "--on"), 0);
    ck_assert_ptr_null (f.text);
    ck_assert (!f.number_given);
    ck_assert_uint_eq (f.list.count, 0);
}
END_TEST

START_TEST (lists_repeat_up_to_their_limit)
{
    flags_t f;
    ck_assert_int_eq (S_PARSE (&f, "--list", "a", "--list=b"), 0);
    ck_assert_uint_eq (f.list.count, 2);
    ck_assert_str_eq (f.list.items[1], "b");
    const char *words[2 * RALLY_ARGS_LIST_MAX + 3];
    for (int i = 0; i <= RALLY_ARGS_LIST_MAX; i++) {
        words[2 * i] = "--list";
        words[2 * i + 1] = "x";
    }
    words[2 * RALLY_ARGS_LIST_MAX + 2] = NULL;
    ck_assert_int_eq (s_parse (&f, words), RALLY_ARGS_USAGE);
}
END_TEST

START_TEST (bad_command_lines_are_refused)
{
    flags_t f;
    ck_assert_int_eq (S_PARSE (&f, "--nope"), RALLY_ARGS_USAGE);
    ck_assert_int_eq (S_PARSE (&f, "--textual", "x"), RALLY_ARGS_USAGE);
    ck_assert_int_eq (S_PARSE (&f, "--text"), RALLY_ARGS_USAGE);
    ck_assert_int_eq (S_PARSE (&f, "--text="), RALLY_ARGS_USAGE);
    ck_assert_int_eq (S_PARSE (&f, "--on=yes"), RALLY_ARGS_USAGE);
    ck_assert_int_eq (S_PARSE (&f, "a", "b", "c"), RALLY_ARGS_USAGE);
}
END_TEST

START_TEST (numbers_are_strict)
{
    flags_t f;
    const char *bad_uint[] = { "9", "241", "60x", " 60", "-60", "+60", "",
                               "99999999999999999999" };
    for (size_t i = 0; i < sizeof (bad_uint) / sizeof (bad_uint[0]); i++)
        ck_assert_msg (S_PARSE (&f, "--number", bad_uint[i]) == RALLY_ARGS_USAGE,
                       "--number '%s' was taken", bad_uint[i]);
    ck_assert_int_eq (S_PARSE (&f, "--number", "10"), 0);
    ck_assert_int_eq (S_PARSE (&f, "--number", "240"), 0);

    const char *bad_big[] = { "-1", "1e3", "18446744073709551616", "0x10" };
    for (size_t i = 0; i < sizeof (bad_big) / sizeof (bad_big[0]); i++)
        ck_assert_msg (S_PARSE (&f, "--big", bad_big[i]) == RALLY_ARGS_USAGE,
                       "--big '%s' was taken", bad_big[i]);

    const char *bad_fraction[] = { "-0.1", "1.01", "nan", "inf", "half" };
    for (size_t i = 0; i < sizeof (bad_fraction) / sizeof (bad_fraction[0]); i++)
        ck_assert_msg (S_PARSE (&f, "--fraction", bad_fraction[i])
                       == RALLY_ARGS_USAGE,
                       "--fraction '%s' was taken", bad_fraction[i]);
    ck_assert_int_eq (S_PARSE (&f, "--fraction", "1"), 0);
    ck_assert_double_eq (f.fraction, 1.0);
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *suite = suite_create ("args");
    TCase *tc = tcase_create ("parse");
    tcase_add_test (tc, values_separate_and_joined);
    tcase_add_test (tc, absent_flags_leave_their_targets);
    tcase_add_test (tc, lists_repeat_up_to_their_limit);
    tcase_add_test (tc, bad_command_lines_are_refused);
    tcase_add_test (tc, numbers_are_strict);
    suite_add_tcase (suite, tc);
    return suite;
}
