/*  fuzz_repl - rally_repl_decode: a diff off a leader's PUB, a snapshot off
    its ROUTER, up to RALLY_REPL_MAX_BYTES.

    Promise checked: what the decoder accepts, the encoder takes back, and
    that frame decodes to a message that encodes to the very same bytes.
*/
#include "fuzz.h"
#include "rally_repl.h"

#include <string.h>

static rally_repl_t *s_first, *s_again;

int LLVMFuzzerInitialize (int *argc, char ***argv)
{
    //  Reused across inputs, as the node reuses its own.
    s_first = rally_repl_new (RALLY_REPL_DIFF);
    s_again = rally_repl_new (RALLY_REPL_DIFF);
    return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char reason[RALLY_REASON_BUF];
    if (rally_repl_decode (s_first, data, size, reason, sizeof (reason))) {
        FUZZ_CHECK (strlen (reason) > 0);
        return 0;
    }
    zframe_t *frame = rally_repl_encode (s_first);
    FUZZ_CHECK (frame);
    int rc = rally_repl_decode (s_again, zframe_data (frame),
                                zframe_size (frame), reason, sizeof (reason));
    FUZZ_CHECK (rc == 0);
    FUZZ_CHECK (s_again->kind == s_first->kind);
    FUZZ_CHECK (s_again->match_count == s_first->match_count);
    FUZZ_CHECK (s_again->player_count == s_first->player_count);
    zframe_t *twice = rally_repl_encode (s_again);
    FUZZ_CHECK (twice && zframe_eq (frame, twice));
    zframe_destroy (&frame);
    zframe_destroy (&twice);
    return 0;
}
