/*  fuzz_lobby - a follower's lobby fed diffs and snapshots, as off the
    wire: decoded by rally_repl_decode, then lobby_apply.

    Input: a sequence of frames, each [op][length, 2 bytes little-endian]
    [that many bytes] (the last may be short). Bits of op:
        1   fix the frame's hashes first, as a leader that hashes right
            would have sent them (base_hash the state held; hash what the
            state will hash to, found by applying it to a scratch copy), so
            that the fuzzer gets past the hash checks into the records;
        2   then, if the lobby holds a state it applied, lead on it: adopt,
            join two players, tick op >> 2 times, and ship a diff and a
            snapshot, as a node that is granted the lease would.
    Promises checked: no frame crashes the lobby, whatever it holds; a
    frame refused leaves a reason; a state applied can be led on, and the
    diff and snapshot made from it encode, decode and apply to a fresh
    follower, hash for hash.
*/
#include "fuzz.h"
#include "lobby.h"

#include <string.h>

static rally_repl_t *s_in, *s_out, *s_back;

int LLVMFuzzerInitialize (int *argc, char ***argv)
{
    s_in = rally_repl_new (RALLY_REPL_DIFF);
    s_out = rally_repl_new (RALLY_REPL_DIFF);
    s_back = rally_repl_new (RALLY_REPL_DIFF);
    return 0;
}

static lobby_t *s_lobby_new (void)
{
    lobby_config_t cfg;
    lobby_config_defaults (&cfg);
    lobby_t *lobby = lobby_new (&cfg);
    FUZZ_CHECK (lobby);
    return lobby;
}

static void s_drain (lobby_t *lobby)
{
    lobby_event_t event;
    while (lobby_next_event (lobby, &event))
        ;
}

//  A copy of what lobby holds, through its own snapshot.
static lobby_t *s_copy (lobby_t *lobby)
{
    lobby_t *copy = s_lobby_new ();
    lobby_snapshot (lobby, s_out);
    s_out->hash = lobby_hash (lobby);
    char reason[RALLY_REASON_BUF];
    FUZZ_CHECK (lobby_apply (copy, s_out, reason, sizeof (reason)) == 0);
    return copy;
}

//  Sets in's hashes to what applying it to lobby gives; false if it does
//  not apply at all.
static bool s_fix_hashes (lobby_t *lobby, bool held, rally_repl_t *in)
{
    char reason[RALLY_REASON_BUF];
    lobby_t *scratch = held && in->kind == RALLY_REPL_DIFF
                     ? s_copy (lobby) : s_lobby_new ();
    if (in->kind == RALLY_REPL_DIFF)
        in->base_hash = lobby_hash (scratch);
    int rc = lobby_apply (scratch, in, reason, sizeof (reason));
    in->hash = lobby_hash (scratch);
    lobby_destroy (&scratch);
    return rc == 0 || strstr (reason, "hashes to") != NULL;
}

//  Ships what lobby holds, and checks a fresh follower takes it.
static void s_ship (lobby_t *lobby, rally_repl_kind_t kind)
{
    char reason[RALLY_REASON_BUF];
    if (kind == RALLY_REPL_DIFF)
        lobby_diff (lobby, s_out);
    else
        lobby_snapshot (lobby, s_out);
    s_out->from.term = 1;       //  the origin is the node's, not the lobby's
    s_out->from.node = 1;
    zframe_t *frame = rally_repl_encode (s_out);
    FUZZ_CHECK (frame);
    FUZZ_CHECK (rally_repl_decode (s_back, zframe_data (frame),
                                   zframe_size (frame), reason,
                                   sizeof (reason)) == 0);
    zframe_destroy (&frame);
    if (kind == RALLY_REPL_SNAPSHOT) {
        lobby_t *follower = s_lobby_new ();
        FUZZ_CHECK (lobby_apply (follower, s_back, reason,
                                 sizeof (reason)) == 0);
        FUZZ_CHECK (lobby_hash (follower) == lobby_hash (lobby));
        lobby_destroy (&follower);
    }
}

static void s_lead (lobby_t *lobby, unsigned ticks, int64_t *now)
{
    lobby_adopt (lobby, *now);
    uint8_t token[RALLY_TOKEN_SIZE];
    char reason[RALLY_REASON_BUF];
    for (int i = 0; i < 2; i++) {
        memset (token, 0xf0 + i, sizeof (token));
        char name[16];
        snprintf (name, sizeof (name), "fuzz%d", i);
        lobby_join (lobby, name, token, token, sizeof (token), *now, reason,
                    sizeof (reason));
    }
    for (unsigned i = 0; i < ticks; i++) {
        *now += 17;
        lobby_tick (lobby, *now);
        s_drain (lobby);
        s_ship (lobby, RALLY_REPL_DIFF);
    }
    s_ship (lobby, RALLY_REPL_DIFF);
    s_ship (lobby, RALLY_REPL_SNAPSHOT);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    lobby_t *lobby = s_lobby_new ();
    bool held = true;           //  a state it applied (empty, at first)
    int64_t now = 1000000;
    char reason[RALLY_REASON_BUF];
    while (size >= 3) {
        uint8_t op = data[0];
        size_t len = data[1] | (size_t) data[2] << 8;
        data += 3;
        size -= 3;
        len = len < size ? len : size;
        const uint8_t *frame = data;
        data += len;
        size -= len;
        if (rally_repl_decode (s_in, frame, len, reason, sizeof (reason)))
            continue;
        if ((op & 1) && !s_fix_hashes (lobby, held, s_in))
            continue;
        reason[0] = 0;
        held = lobby_apply (lobby, s_in, reason, sizeof (reason)) == 0;
        FUZZ_CHECK (held || strlen (reason) > 0);
        s_drain (lobby);
        if (held && (op & 2))
            s_lead (lobby, op >> 2, &now);
    }
    lobby_destroy (&lobby);
    return 0;
}
