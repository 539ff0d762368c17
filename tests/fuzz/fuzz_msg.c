/*  fuzz_msg - rally_msg_decode, the decoder of every message that is not
    replication: whatever a player, a broker, rallyctl or another node
    sends, the results pages included.

    Promise checked: what the decoder accepts, the encoder takes back, and
    decoding that again gives the same struct, byte for byte.
*/
#include "fuzz.h"
#include "rally_msg.h"

#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv)
{
    return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static rally_msg_t first, again;
    char reason[RALLY_REASON_BUF];
    if (rally_msg_decode (&first, data, size, reason, sizeof (reason))) {
        FUZZ_CHECK (strlen (reason) > 0);
        return 0;
    }
    zframe_t *frame = rally_msg_encode (&first);
    FUZZ_CHECK (frame);
    int rc = rally_msg_decode (&again, zframe_data (frame),
                               zframe_size (frame), reason, sizeof (reason));
    FUZZ_CHECK (rc == 0);
    FUZZ_CHECK (memcmp (&first, &again, sizeof (first)) == 0);
    zframe_destroy (&frame);
    return 0;
}
