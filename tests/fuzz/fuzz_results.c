/*  fuzz_results - a results page from the leader (the answer to fetch),
    decoded and stored as a follower does, then served again as the leader
    does: results_since, then rally_msg_encode.

    Promises checked: every match the store took can be read back, and
    reads back as one of the versions stored for its id; what the store
    serves, in id order, always encodes as a page.
*/
#include "fuzz.h"
#include "rally_msg.h"
#include "results.h"

#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv)
{
    zsys_set_logstream (NULL);      //  a refused match is logged: quiet
    return 0;
}

//  True if got is one of the stored versions of its match in page.
static bool s_was_stored (const rally_msg_results_t *page, const bool *took,
                          const rally_result_t *got)
{
    for (uint32_t i = 0; i < page->count; i++)
        if (took[i] && memcmp (&page->results[i], got, sizeof (*got)) == 0)
            return true;
    return false;
}

static void s_serve (results_t *store)
{
    rally_msg_t *msg = (rally_msg_t *) calloc (1, sizeof (rally_msg_t));
    FUZZ_CHECK (msg);
    rally_msg_init (msg, RALLY_MSG_RESULTS);
    size_t count = 0;
    FUZZ_CHECK (results_since (store, 0, RALLY_RESULTS_MAX,
                               msg->u.results.results, &count) == 0);
    msg->u.results.count = (uint32_t) count;
    for (size_t i = 1; i < count; i++)
        FUZZ_CHECK (msg->u.results.results[i - 1].match
                    < msg->u.results.results[i].match);
    zframe_t *frame = rally_msg_encode (msg);
    FUZZ_CHECK (frame);
    zframe_destroy (&frame);
    free (msg);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static rally_msg_t msg;
    char reason[RALLY_REASON_BUF];
    if (rally_msg_decode (&msg, data, size, reason, sizeof (reason))
        || msg.type != RALLY_MSG_RESULTS)
        return 0;
    results_t *store = results_new (":memory:", reason, sizeof (reason));
    FUZZ_CHECK (store);
    const rally_msg_results_t *page = &msg.u.results;
    bool took[RALLY_RESULTS_MAX] = { false };
    for (uint32_t i = 0; i < page->count; i++)
        took[i] = results_store (store, &page->results[i]) == 0;
    for (uint32_t i = 0; i < page->count; i++) {
        rally_result_t got;
        if (!took[i])
            continue;
        FUZZ_CHECK (results_get (store, page->results[i].match, &got) == 0);
        FUZZ_CHECK (s_was_stored (page, took, &got));
    }
    s_serve (store);
    results_destroy (&store);
    return 0;
}
