/*  rally_args - the command line, read the same way by every Rally program. */
#include "rally_args.h"
#include "rally_parse.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rally_args_fail (const char *program, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "%s: ", program);
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n%s: try --help\n", program);
    va_end (args);
    return RALLY_ARGS_USAGE;
}

int rally_args_endpoint (const char *program, const char *what,
                         const char *endpoint)
{
    char reason[256];
    if (rally_parse_endpoint (endpoint, reason, sizeof (reason)))
        return rally_args_fail (program, "%s: %s", what, reason);
    return 0;
}

//  The table entry that arg names, and where its joined value starts
//  ("--flag=value"), or NULL.
static const rally_arg_t *s_find (const rally_arg_t *table, size_t count,
                                  const char *arg, const char **joined)
{
    *joined = NULL;
    for (size_t i = 0; i < count; i++) {
        const rally_arg_t *a = &table[i];
        if (a->alias && strcmp (arg, a->alias) == 0)
            return a;
        size_t len = strlen (a->name);
        if (strncmp (arg, a->name, len) == 0) {
            if (arg[len] == 0)
                return a;
            if (arg[len] == '=') {
                *joined = arg + len + 1;
                return a;
            }
        }
    }
    return NULL;
}

static int s_fraction (const char *text, double *value)
{
    char *end;
    errno = 0;
    double v = strtod (text, &end);
    if (errno || end == text || *end || !(v >= 0 && v <= 1))
        return -1;          //  the negated test also refuses NaN
    *value = v;
    return 0;
}

//  Stores value for flag a; returns 0 or the usage exit status.
static int s_store (const char *program, const rally_arg_t *a,
                    const char *value)
{
    if (!*value)
        return rally_args_fail (program, "%s needs a value", a->name);
    switch (a->kind) {
        case RALLY_ARG_STRING:
            *(const char **) a->target = value;
            return 0;
        case RALLY_ARG_UINT:
            if (rally_parse_u32 (value, a->min, a->max, (uint32_t *) a->target))
                return rally_args_fail (program, "%s must be %u..%u, not '%s'",
                                        a->name, a->min, a->max, value);
            return 0;
        case RALLY_ARG_U64:
            if (rally_parse_u64 (value, (uint64_t *) a->target))
                return rally_args_fail (program, "%s must be a number, not '%s'",
                                        a->name, value);
            return 0;
        case RALLY_ARG_FRACTION:
            if (s_fraction (value, (double *) a->target))
                return rally_args_fail (program, "%s must be 0..1, not '%s'",
                                        a->name, value);
            return 0;
        case RALLY_ARG_LIST: {
            rally_args_list_t *list = (rally_args_list_t *) a->target;
            if (list->count == RALLY_ARGS_LIST_MAX)
                return rally_args_fail (program, "%s: at most %d of them",
                                        a->name, RALLY_ARGS_LIST_MAX);
            list->items[list->count++] = value;
            return 0;
        }
        default:
            assert (false);
            return RALLY_ARGS_USAGE;
    }
}

int rally_args_parse (const char *program, const rally_arg_t *table,
                      size_t count, int argc, char **argv,
                      const char **positional, size_t positional_max)
{
    size_t positionals = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-') {
            if (positionals == positional_max)
                return rally_args_fail (program, "unexpected '%s'", arg);
            positional[positionals++] = arg;
            continue;
        }
        const char *joined;
        const rally_arg_t *a = s_find (table, count, arg, &joined);
        if (!a)
            return rally_args_fail (program, "unknown flag '%s'", arg);
        if (a->given)
            *a->given = true;
        if (a->kind == RALLY_ARG_SWITCH) {
            if (joined)
                return rally_args_fail (program, "%s takes no value", a->name);
            *(bool *) a->target = true;
            continue;
        }
        const char *value = joined;
        if (!value)
            value = i + 1 < argc? argv[++i]: "";
        int rc = s_store (program, a, value);
        if (rc)
            return rc;
    }
    return 0;
}
