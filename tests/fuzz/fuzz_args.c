/*  fuzz_args - the command line: rally_args_parse, with a table that has
    every kind of flag, on argv words cut from the input at NUL bytes; and
    each word as an endpoint, through rally_parse_endpoint.

    Promises checked: what is taken is in range (a uint within its bounds,
    a fraction in 0..1, no more list items than the list holds, at most
    the positional words asked for); a refusal is the usage status; an
    endpoint taken is short, has no space, and names a transport Rally
    uses.
*/
#include "fuzz.h"
#include "rally_args.h"
#include "rally_msg.h"
#include "rally_parse.h"

#include <string.h>

#define S_WORDS_MAX 32

int LLVMFuzzerInitialize (int *argc, char ***argv)
{
    return 0;
}

static void s_endpoint (const char *word)
{
    char reason[RALLY_REASON_BUF] = "";
    if (rally_parse_endpoint (word, reason, sizeof (reason))) {
        FUZZ_CHECK (strlen (reason) > 0);
        return;
    }
    FUZZ_CHECK (strlen (word) <= RALLY_ENDPOINT_MAX);
    FUZZ_CHECK (!strchr (word, ' '));
    FUZZ_CHECK (strncmp (word, "tcp://", 6) == 0
                || strncmp (word, "ipc://", 6) == 0
                || strncmp (word, "inproc://", 9) == 0);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  The words, NUL-terminated in a copy of the input.
    char *copy = (char *) malloc (size + 1);
    FUZZ_CHECK (copy);
    memcpy (copy, data, size);
    copy[size] = 0;
    char *argv[S_WORDS_MAX + 2] = { (char *) "fuzz" };
    int argc = 1;
    for (size_t at = 0; at <= size && argc <= S_WORDS_MAX;
         at += strlen (copy + at) + 1)
        argv[argc++] = copy + at;

    bool help = false, tick_given = false;
    const char *name = NULL;
    uint32_t tick_hz = 60;
    uint64_t seed = 0;
    double loss = 0;
    rally_args_list_t brokers = { { NULL }, 0 };
    const rally_arg_t table[] = {
        RALLY_ARGS_SWITCH ("--help", "-h", &help),
        RALLY_ARGS_STRING ("--name", &name),
        RALLY_ARGS_UINT ("--tick-hz", &tick_hz, 10, 240, &tick_given),
        RALLY_ARGS_U64 ("--seed", &seed),
        RALLY_ARGS_FRACTION ("--loss", &loss),
        RALLY_ARGS_LIST ("--broker", &brokers),
    };
    const char *positional[2] = { NULL, NULL };
    int rc = rally_args_parse ("fuzz", table, sizeof (table) / sizeof (table[0]),
                               argc, argv, positional, 2);
    FUZZ_CHECK (rc == 0 || rc == RALLY_ARGS_USAGE);
    if (rc == 0) {
        FUZZ_CHECK (tick_hz >= 10 && tick_hz <= 240);
        FUZZ_CHECK (loss >= 0 && loss <= 1);
        FUZZ_CHECK (brokers.count <= RALLY_ARGS_LIST_MAX);
        FUZZ_CHECK (!name || *name);
        for (size_t i = 0; i < brokers.count; i++)
            FUZZ_CHECK (brokers.items[i] && *brokers.items[i]);
    }
    for (int i = 1; i < argc; i++)
        s_endpoint (argv[i]);
    free (copy);
    return 0;
}
