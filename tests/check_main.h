/*  check_main - what each Check suite gives the shared main. */
#ifndef CHECK_MAIN_H_INCLUDED
#define CHECK_MAIN_H_INCLUDED

#include <check.h>

//  The suite's tests, grouped in test cases.
Suite *rally_test_suite (void);

#endif
