/*  rally_args - the command line, read the same way by every Rally program.

    A program lists its flags in a table, each pointing at where its value
    goes, and rally_args_parse walks argv once. A flag's value may follow it
    ("--tick-hz 60") or be joined to it ("--tick-hz=60"). Numbers are checked
    against their range as they are read, so a program never runs with a
    value it did not ask for. The first problem is said on stderr, in the
    same words in every program, and the exit status for it is always
    RALLY_ARGS_USAGE.
*/
#ifndef RALLY_ARGS_H_INCLUDED
#define RALLY_ARGS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RALLY_ARGS_USAGE    2   //  exit status for a bad command line
#define RALLY_ARGS_LIST_MAX 8   //  values a repeatable flag may take

typedef enum {
    RALLY_ARG_SWITCH = 1,       //  bool: present or not, takes no value
    RALLY_ARG_STRING,           //  const char *: any non-empty text
    RALLY_ARG_UINT,             //  uint32_t: decimal, in [min, max]
    RALLY_ARG_U64,              //  uint64_t: decimal
    RALLY_ARG_FRACTION,         //  double: in [0, 1]
    RALLY_ARG_LIST              //  rally_args_list_t: a repeatable string
} rally_arg_kind_t;

typedef struct {
    const char *items[RALLY_ARGS_LIST_MAX];
    size_t count;
} rally_args_list_t;

typedef struct {
    const char *name;           //  "--tick-hz"
    const char *alias;          //  a short form such as "-h", or NULL
    rally_arg_kind_t kind;
    void *target;               //  where the value goes, by kind above
    uint32_t min, max;          //  RALLY_ARG_UINT only
    bool *given;                //  set when the flag appears; may be NULL
} rally_arg_t;

//  Table rows, one macro for each kind of flag.
#define RALLY_ARGS_SWITCH(flag, alias, target) \
    { flag, alias, RALLY_ARG_SWITCH, target, 0, 0, NULL }
#define RALLY_ARGS_STRING(flag, target) \
    { flag, NULL, RALLY_ARG_STRING, target, 0, 0, NULL }
#define RALLY_ARGS_UINT(flag, target, min, max, given) \
    { flag, NULL, RALLY_ARG_UINT, target, min, max, given }
#define RALLY_ARGS_U64(flag, target) \
    { flag, NULL, RALLY_ARG_U64, target, 0, 0, NULL }
#define RALLY_ARGS_FRACTION(flag, target) \
    { flag, NULL, RALLY_ARG_FRACTION, target, 0, 0, NULL }
#define RALLY_ARGS_LIST(flag, target) \
    { flag, NULL, RALLY_ARG_LIST, target, 0, 0, NULL }

//  Reads argv against the count flags of table. Words that do not start
//  with '-' go, in order, to positional (up to positional_max of them);
//  with positional_max 0 any such word is an error. Returns 0, or
//  RALLY_ARGS_USAGE having said why on stderr, prefixed with program.
int rally_args_parse (const char *program, const rally_arg_t *table,
                      size_t count, int argc, char **argv,
                      const char **positional, size_t positional_max);

//  Says "program: why" and "program: try --help" on stderr; returns
//  RALLY_ARGS_USAGE. For what a program checks after parsing.
int rally_args_fail (const char *program, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Checks an endpoint that what (a flag's name) gave, by the rules of
//  rally_parse_endpoint. Returns 0, or RALLY_ARGS_USAGE having said why.
int rally_args_endpoint (const char *program, const char *what,
                         const char *endpoint);

#endif
