/*  test_repl - the replication codec: round trips, rejections, hashes. */
#include "rally_repl.h"

#include "check_main.h"
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Helpers

static void s_token (uint8_t *token, uint32_t seed)
{
    for (int i = 0; i < RALLY_TOKEN_SIZE; i++)
        token[i] = (uint8_t) (seed * 31 + i * 17 + (seed >> 8));
}

//  Fills buf with n copies of the string unit, NUL-terminated.
static void s_repeat (char *buf, const char *unit, size_t n)
{
    buf[0] = 0;
    for (size_t i = 0; i < n; i++)
        strcat (buf, unit);
}

//  Sets a name buffer as add_* and the decoder leave it: zero after the
//  name, so that records compare with memcmp.
static void s_name (char *buf, const char *name)
{
    memset (buf, 0, RALLY_NAME_BUF);
    strcpy (buf, name);
}

//  A match whose every field is in range and differs with i.
static void s_match_fill (rally_match_rec_t *m, uint32_t i)
{
    m->id = i + 1;
    m->tick = 4000000000u - i;
    m->phase = i % 4;
    m->paused_phase = (i + 1) % 4;
    m->countdown = i * 7;
    m->serve = i % 2;
    m->points_played = i * 3;
    m->score[0] = i % 100;
    m->score[1] = 99 - i % 100;
    m->winner = (int32_t) (i % 3) - 1;
    m->ball[0] = RALLY_COORD_LIMIT - 1 - (int32_t) i;
    m->ball[1] = -(RALLY_COORD_LIMIT - 1);
    m->ball[2] = -(int32_t) i;
    m->ball[3] = 127;
    m->paddles[0] = -32768;
    m->paddles[1] = 65536 + (int32_t) i;
    m->intents[0] = -1;
    m->intents[1] = (int32_t) (i % 3) - 1;
    s_repeat (m->names[0], "\xc3\xa9", 16);     //  32 bytes, 16 points
    snprintf (m->names[1], sizeof (m->names[1]), "player %u", i);
    m->seated = i % 4;
    s_token (m->tokens[0], 2 * i);
    s_token (m->tokens[1], 2 * i + 1);
    m->lost = (i + 2) % 4;
    m->ended = i % 5 ? 0 : UINT64_MAX - i;
}

static void s_player_fill (rally_player_rec_t *p, uint32_t i)
{
    s_token (p->token, 100000 + i);
    snprintf (p->name, sizeof (p->name), "p%u \xf0\x9f\x98\x80", i);
    p->state = i % 3;
    p->match = i % 7 ? i / 2 + 1 : 0;
    p->side = (int32_t) (i % 3) - 1;
    p->ticket = i % 2 ? 0 : 0x8000000000000000ull + i;
}

//  A diff of a few records of each list, every header field telling.
static rally_repl_t *s_diff_new (void)
{
    rally_repl_t *repl = rally_repl_new (RALLY_REPL_DIFF);
    ck_assert_ptr_nonnull (repl);
    repl->from.term = UINT64_MAX;
    repl->from.node = 255;
    repl->seq = 0x123456789abcdefull;
    repl->base_hash = 0xfeedfacecafebeefull;
    repl->hash = 1;
    repl->ticks = 0x100000000ull;
    repl->next_match = UINT32_MAX;
    repl->next_ticket = 77;
    for (uint32_t i = 0; i < 3; i++)
        s_match_fill (rally_repl_add_match (repl), i);
    for (uint32_t i = 0; i < 4; i++)
        s_player_fill (rally_repl_add_player (repl), i);
    rally_repl_add_gone_match (repl, 1);
    rally_repl_add_gone_match (repl, UINT32_MAX);
    uint8_t token[RALLY_TOKEN_SIZE];
    s_token (token, 9);
    rally_repl_add_gone_player (repl, token);
    s_token (token, 10);
    rally_repl_add_gone_player (repl, token);
    return repl;
}

static void s_assert_equal (const rally_repl_t *a, const rally_repl_t *b)
{
    ck_assert_int_eq (a->kind, b->kind);
    ck_assert_uint_eq (a->from.term, b->from.term);
    ck_assert_uint_eq (a->from.node, b->from.node);
    ck_assert_uint_eq (a->seq, b->seq);
    ck_assert_uint_eq (a->base_hash, b->base_hash);
    ck_assert_uint_eq (a->hash, b->hash);
    ck_assert_uint_eq (a->ticks, b->ticks);
    ck_assert_uint_eq (a->next_match, b->next_match);
    ck_assert_uint_eq (a->next_ticket, b->next_ticket);
    ck_assert_uint_eq (a->match_count, b->match_count);
    ck_assert_uint_eq (a->player_count, b->player_count);
    ck_assert_uint_eq (a->gone_match_count, b->gone_match_count);
    ck_assert_uint_eq (a->gone_player_count, b->gone_player_count);
    //  Both sides' records come from add_*, zeroed, so padding matches.
    if (a->match_count)
        ck_assert (memcmp (a->matches, b->matches,
                           a->match_count * sizeof (a->matches[0])) == 0);
    if (a->player_count)
        ck_assert (memcmp (a->players, b->players,
                           a->player_count * sizeof (a->players[0])) == 0);
    if (a->gone_match_count)
        ck_assert (memcmp (a->gone_matches, b->gone_matches,
                           a->gone_match_count * sizeof (uint32_t)) == 0);
    if (a->gone_player_count)
        ck_assert (memcmp (a->gone_players, b->gone_players,
                           a->gone_player_count * RALLY_TOKEN_SIZE) == 0);
}

//  Encodes repl, decodes it into a fresh message, asserts the two are
//  equal; returns the frame's size.
static size_t s_round_trip (const rally_repl_t *repl)
{
    zframe_t *frame = rally_repl_encode (repl);
    ck_assert_ptr_nonnull (frame);
    rally_repl_t *back = rally_repl_new (RALLY_REPL_SNAPSHOT);
    char reason[200] = "unset";
    int rc = rally_repl_decode (back, zframe_data (frame), zframe_size (frame),
                                reason, sizeof (reason));
    ck_assert_msg (rc == 0, "rejected: %s", reason);
    s_assert_equal (repl, back);
    size_t size = zframe_size (frame);
    rally_repl_destroy (&back);
    zframe_destroy (&frame);
    return size;
}

//  Asserts that data does not decode, with a reason containing word.
static void s_reject_bytes (const void *data, size_t size, const char *word)
{
    rally_repl_t *repl = rally_repl_new (RALLY_REPL_DIFF);
    char reason[200] = "unset";
    int rc = rally_repl_decode (repl, (const uint8_t *) data, size, reason,
                                sizeof (reason));
    ck_assert_msg (rc == -1, "accepted, expected '%s'", word);
    ck_assert_msg (strstr (reason, word) != NULL, "reason '%s' lacks '%s'",
                   reason, word);
    rally_repl_destroy (&repl);
}

//  A valid encoding, unpacked, for a test to break in place and repack.
typedef struct {
    zframe_t *frame;
    msgpack_unpacked up;
} tree_t;

static msgpack_object *s_tree (tree_t *tree, const rally_repl_t *repl)
{
    tree->frame = rally_repl_encode (repl);
    ck_assert_ptr_nonnull (tree->frame);
    msgpack_unpacked_init (&tree->up);
    size_t off = 0;
    const char *data = (const char *) zframe_data (tree->frame);
    ck_assert_int_eq (msgpack_unpack_next (&tree->up, data,
                                           zframe_size (tree->frame), &off),
                      MSGPACK_UNPACK_SUCCESS);
    return &tree->up.data;
}

//  The top map's entry for key.
static msgpack_object_kv *s_entry (msgpack_object *top, const char *key)
{
    for (uint32_t i = 0; i < top->via.map.size; i++) {
        msgpack_object_kv *kv = &top->via.map.ptr[i];
        if (kv->key.via.str.size == strlen (key)
            && memcmp (kv->key.via.str.ptr, key, strlen (key)) == 0)
            return kv;
    }
    ck_abort_msg ("no key '%s'", key);
    return NULL;
}

//  Item k of element i of the list key.
static msgpack_object *s_item (msgpack_object *top, const char *key,
                               uint32_t i, uint32_t k)
{
    msgpack_object *elem = &s_entry (top, key)->val.via.array.ptr[i];
    return &elem->via.array.ptr[k];
}

static void s_set_int (msgpack_object *o, int64_t value)
{
    o->type = value < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER
                        : MSGPACK_OBJECT_POSITIVE_INTEGER;
    o->via.i64 = value;
}

static void s_set_str (msgpack_object *o, const char *s, size_t len)
{
    o->type = MSGPACK_OBJECT_STR;
    o->via.str.ptr = s;
    o->via.str.size = (uint32_t) len;
}

//  Repacks the broken tree and asserts it is refused with word.
static void s_reject_tree (tree_t *tree, const char *word)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_object (&pk, tree->up.data);
    s_reject_bytes (sbuf.data, sbuf.size, word);
    msgpack_sbuffer_destroy (&sbuf);
    msgpack_unpacked_destroy (&tree->up);
    zframe_destroy (&tree->frame);
}

static uint32_t s_xorshift (uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

//  --------------------------------------------------------------------------
//  Round trips

START_TEST (round_trip_diff)
{
    rally_repl_t *repl = s_diff_new ();
    s_round_trip (repl);
    //  An empty diff: a tick where nothing but the globals moved.
    rally_repl_reset (repl, RALLY_REPL_DIFF);
    repl->from.node = 1;
    repl->next_match = 1;
    s_round_trip (repl);
    rally_repl_destroy (&repl);
    rally_repl_destroy (&repl);     //  safe twice
    ck_assert_ptr_null (repl);
}
END_TEST

START_TEST (round_trip_big_snapshot)
{
    rally_repl_t *repl = rally_repl_new (RALLY_REPL_SNAPSHOT);
    repl->from.term = 3;
    repl->from.node = 2;
    repl->seq = 99999;
    repl->hash = UINT64_MAX;
    repl->ticks = 99999;
    repl->next_match = 1001;
    repl->next_ticket = 5000;
    for (uint32_t i = 0; i < 1000; i++)
        s_match_fill (rally_repl_add_match (repl), i);
    for (uint32_t i = 0; i < 2000; i++) {
        rally_player_rec_t *p = rally_repl_add_player (repl);
        s_player_fill (p, i);
        s_repeat (p->name, "\xf0\x9f\x98\x80", 8);  //  the longest name
    }
    ck_assert_uint_ge (repl->match_cap, 1000);
    size_t size = s_round_trip (repl);
    ck_assert_uint_lt (size, RALLY_REPL_MAX_BYTES);
    ck_assert_uint_gt (size, 1000 * 100 + 2000 * 50);

    //  Reset keeps the room, and the next message reuses it.
    rally_match_rec_t *matches = repl->matches;
    size_t cap = repl->match_cap;
    rally_repl_reset (repl, RALLY_REPL_DIFF);
    ck_assert_uint_eq (repl->match_count, 0);
    ck_assert_uint_eq (repl->player_count, 0);
    ck_assert_uint_eq (repl->hash, 0);
    ck_assert_uint_eq (repl->from.node, 0);
    ck_assert_int_eq (repl->kind, RALLY_REPL_DIFF);
    ck_assert_uint_eq (repl->match_cap, cap);
    ck_assert_ptr_eq (rally_repl_add_match (repl), matches);
    rally_repl_destroy (&repl);
}
END_TEST

START_TEST (decode_reuses_and_resets)
{
    //  Decoding into a message that held more leaves nothing behind.
    rally_repl_t *big = s_diff_new ();
    rally_repl_t *small = rally_repl_new (RALLY_REPL_SNAPSHOT);
    small->from.node = 4;
    small->next_match = 2;
    s_match_fill (rally_repl_add_match (small), 0);
    zframe_t *frame = rally_repl_encode (small);
    ck_assert_ptr_nonnull (frame);
    char reason[200];
    ck_assert_int_eq (rally_repl_decode (big, zframe_data (frame),
                                         zframe_size (frame), reason,
                                         sizeof (reason)), 0);
    s_assert_equal (small, big);
    zframe_destroy (&frame);
    rally_repl_destroy (&small);
    rally_repl_destroy (&big);
}
END_TEST

START_TEST (wire_keys_in_order)
{
    rally_repl_t *repl = s_diff_new ();
    tree_t tree;
    msgpack_object *top = s_tree (&tree, repl);
    const char *keys[] = { "v", "type", "term", "node", "seq", "base_hash",
                           "hash", "ticks", "next_match", "next_ticket",
                           "matches", "players", "gone_matches",
                           "gone_players" };
    ck_assert_int_eq (top->type, MSGPACK_OBJECT_MAP);
    ck_assert_uint_eq (top->via.map.size, 14);
    for (uint32_t i = 0; i < 14; i++) {
        const msgpack_object *k = &top->via.map.ptr[i].key;
        ck_assert_uint_eq (k->via.str.size, strlen (keys[i]));
        ck_assert (memcmp (k->via.str.ptr, keys[i], strlen (keys[i])) == 0);
    }
    //  Records are arrays by position: 17 items a match, 6 a player.
    msgpack_object *match = &s_entry (top, "matches")->val.via.array.ptr[0];
    ck_assert_uint_eq (match->via.array.size, 17);
    ck_assert_uint_eq (match->via.array.ptr[0].via.u64, 1);        //  id
    ck_assert_uint_eq (match->via.array.ptr[16].via.u64, UINT64_MAX); //  ended
    msgpack_object *player = &s_entry (top, "players")->val.via.array.ptr[1];
    ck_assert_uint_eq (player->via.array.size, 6);
    ck_assert_int_eq (player->via.array.ptr[0].type, MSGPACK_OBJECT_BIN);
    ck_assert_int_eq (player->via.array.ptr[4].via.i64, 0);        //  side
    msgpack_unpacked_destroy (&tree.up);
    zframe_destroy (&tree.frame);
    rally_repl_destroy (&repl);
}
END_TEST

START_TEST (decode_any_order)
{
    //  The same map with its entries reversed decodes to the same thing.
    rally_repl_t *repl = s_diff_new ();
    tree_t tree;
    msgpack_object *top = s_tree (&tree, repl);
    msgpack_object_kv *kv = top->via.map.ptr;
    for (uint32_t i = 0, j = top->via.map.size - 1; i < j; i++, j--) {
        msgpack_object_kv swap = kv[i];
        kv[i] = kv[j];
        kv[j] = swap;
    }
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_object (&pk, *top);
    rally_repl_t *back = rally_repl_new (RALLY_REPL_DIFF);
    char reason[200];
    ck_assert_int_eq (rally_repl_decode (back, (const uint8_t *) sbuf.data,
                                         sbuf.size, reason, sizeof (reason)),
                      0);
    s_assert_equal (repl, back);
    rally_repl_destroy (&back);
    msgpack_sbuffer_destroy (&sbuf);
    msgpack_unpacked_destroy (&tree.up);
    zframe_destroy (&tree.frame);
    rally_repl_destroy (&repl);
}
END_TEST

//  --------------------------------------------------------------------------
//  Rejections: framing

START_TEST (reject_framing)
{
    s_reject_bytes ("", 0, "empty");
    s_reject_bytes (NULL, 0, "empty");
    size_t size = RALLY_REPL_MAX_BYTES + 1;
    uint8_t *big = (uint8_t *) calloc (1, size);
    big[0] = 0xdb;
    s_reject_bytes (big, size, "too large");
    free (big);

    //  Each claims billions of items or bytes; the pre-walk refuses them
    //  before msgpack-c could allocate a thing.
    s_reject_bytes ("\xdd\xff\xff\xff\xff", 5, "truncated");
    s_reject_bytes ("\xdf\xff\xff\xff\xff", 5, "truncated");
    s_reject_bytes ("\xc6\xff\xff\xff\xff", 5, "truncated");
    s_reject_bytes ("\x81\xa7matches\xdd\xff\xff\xff\xff", 14,
                    "exceeds the bytes left");
    s_reject_bytes ("\xc1", 1, "invalid");
    s_reject_bytes ("\x93\x01\x02\x03", 4, "not a map");
}
END_TEST

START_TEST (reject_truncated_and_trailing)
{
    rally_repl_t *repl = s_diff_new ();
    zframe_t *frame = rally_repl_encode (repl);
    ck_assert_ptr_nonnull (frame);
    size_t size = zframe_size (frame);
    for (size_t cut = 1; cut < size; cut++)
        s_reject_bytes (zframe_data (frame), cut, "truncated");
    uint8_t *buf = (uint8_t *) malloc (2 * size);
    memcpy (buf, zframe_data (frame), size);
    buf[size] = 0xc0;
    s_reject_bytes (buf, size + 1, "trailing");
    memcpy (buf + size, zframe_data (frame), size);    //  two messages
    s_reject_bytes (buf, 2 * size, "trailing");
    free (buf);
    zframe_destroy (&frame);
    rally_repl_destroy (&repl);
}
END_TEST

START_TEST (reject_too_deep)
{
    //  A ball item that is itself an array: five levels of containers.
    rally_repl_t *repl = s_diff_new ();
    tree_t tree;
    msgpack_object *top = s_tree (&tree, repl);
    msgpack_object *ball = s_item (top, "matches", 0, 9);
    msgpack_object inner = ball->via.array.ptr[0];
    ball->via.array.ptr[0].type = MSGPACK_OBJECT_ARRAY;
    ball->via.array.ptr[0].via.array.size = 1;
    ball->via.array.ptr[0].via.array.ptr = &inner;
    s_reject_tree (&tree, "nested too deep");
    rally_repl_destroy (&repl);
}
END_TEST

//  --------------------------------------------------------------------------
//  Rejections: schema

START_TEST (reject_header)
{
    rally_repl_t *repl = s_diff_new ();
    tree_t tree;
    msgpack_object *top;

    top = s_tree (&tree, repl);
    s_set_int (&s_entry (top, "v")->val, 2);
    s_reject_tree (&tree, "unsupported protocol version 2");
    top = s_tree (&tree, repl);
    s_set_str (&s_entry (top, "type")->val, "ping", 4);
    s_reject_tree (&tree, "unknown replication type 'ping'");
    top = s_tree (&tree, repl);
    s_set_int (&s_entry (top, "type")->val, 1);
    s_reject_tree (&tree, "field 'type' must be a string");
    top = s_tree (&tree, repl);
    s_set_int (&s_entry (top, "node")->val, 0);
    s_reject_tree (&tree, "field 'node' out of range: 0 < 1");
    top = s_tree (&tree, repl);
    s_set_int (&s_entry (top, "node")->val, 256);
    s_reject_tree (&tree, "field 'node' out of range: 256 > 255");
    top = s_tree (&tree, repl);
    s_set_int (&s_entry (top, "next_match")->val, 0);
    s_reject_tree (&tree, "field 'next_match' out of range: 0 < 1");
    top = s_tree (&tree, repl);
    s_set_int (&s_entry (top, "next_match")->val, 0x100000000ll);
    s_reject_tree (&tree, "field 'next_match' out of range");
    top = s_tree (&tree, repl);
    s_set_int (&s_entry (top, "seq")->val, -1);
    s_reject_tree (&tree, "field 'seq' must be an unsigned integer");
    top = s_tree (&tree, repl);
    s_set_int (&s_entry (top, "matches")->val, 0);
    s_reject_tree (&tree, "field 'matches' must be an array");

    //  Missing, unknown, duplicate and non-string keys.
    top = s_tree (&tree, repl);
    top->via.map.ptr[6] = top->via.map.ptr[--top->via.map.size];
    s_reject_tree (&tree, "missing field 'hash'");
    top = s_tree (&tree, repl);
    s_set_str (&s_entry (top, "hash")->key, "hush", 4);
    s_reject_tree (&tree, "unexpected field 'hush'");
    top = s_tree (&tree, repl);
    s_set_str (&s_entry (top, "hash")->key, "seq", 3);
    s_reject_tree (&tree, "duplicate field 'seq'");
    top = s_tree (&tree, repl);
    s_set_str (&s_entry (top, "type")->key, "v", 1);
    s_reject_tree (&tree, "duplicate field 'v'");
    top = s_tree (&tree, repl);
    s_set_int (&s_entry (top, "hash")->key, 7);
    s_reject_tree (&tree, "not a string");
    rally_repl_destroy (&repl);
}
END_TEST

START_TEST (reject_records)
{
    rally_repl_t *repl = s_diff_new ();
    tree_t tree;
    msgpack_object *top;
    static const char long_name[] = "123456789012345678901234567890123";

    //  A match record one item short, one not an array.
    top = s_tree (&tree, repl);
    s_entry (top, "matches")->val.via.array.ptr[2].via.array.size = 16;
    s_reject_tree (&tree, "match record 2 must be an array of 17 items");
    top = s_tree (&tree, repl);
    s_set_int (&s_entry (top, "matches")->val.via.array.ptr[0], 1);
    s_reject_tree (&tree, "match record 0 must be an array of 17 items");
    top = s_tree (&tree, repl);
    s_entry (top, "players")->val.via.array.ptr[3].via.array.size = 7;
    s_reject_tree (&tree, "player record 3 must be an array of 6 items");

    //  Items out of range, by position.
    struct {
        uint32_t item;
        int64_t value;
        const char *word;
    } bad_match[] = {
        { 0, 0, "match record 1: field 'id' out of range: 0 < 1" },
        { 1, 0x100000000ll, "match record 1: field 'tick' out of range" },
        { 2, 4, "match record 1: field 'phase' out of range: 4 > 3" },
        { 3, 4, "match record 1: field 'paused_phase' out of range" },
        { 4, -1, "match record 1: field 'countdown' must be an unsigned" },
        { 5, 2, "match record 1: field 'serve' out of range: 2 > 1" },
        { 8, -2, "match record 1: field 'winner' out of range: -2 < -1" },
        { 13, 4, "match record 1: field 'seated' out of range: 4 > 3" },
        { 15, 4, "match record 1: field 'lost' out of range: 4 > 3" },
        { 16, -5, "match record 1: field 'ended' must be an unsigned" },
        { 7, 0, "match record 1: field 'score' must be an array of 2" },
    };
    for (size_t i = 0; i < sizeof (bad_match) / sizeof (bad_match[0]); i++) {
        top = s_tree (&tree, repl);
        s_set_int (s_item (top, "matches", 1, bad_match[i].item),
                   bad_match[i].value);
        s_reject_tree (&tree, bad_match[i].word);
    }
    //  Inside the fixed arrays: the last item of each.
    struct {
        uint32_t item;
        int64_t value;
        const char *word;
    } bad_inner[] = {
        { 7, 100, "field 'score' out of range: 100 > 99" },
        { 9, RALLY_COORD_LIMIT, "field 'ball' out of range" },
        { 10, -RALLY_COORD_LIMIT, "field 'paddles' out of range" },
        { 11, 2, "field 'intents' out of range: 2 > 1" },
    };
    for (size_t i = 0; i < sizeof (bad_inner) / sizeof (bad_inner[0]); i++) {
        top = s_tree (&tree, repl);
        msgpack_object *array = s_item (top, "matches", 0, bad_inner[i].item);
        s_set_int (&array->via.array.ptr[array->via.array.size - 1],
                   bad_inner[i].value);
        s_reject_tree (&tree, bad_inner[i].word);
    }
    top = s_tree (&tree, repl);
    s_item (top, "matches", 0, 9)->via.array.size = 3;
    s_reject_tree (&tree, "match record 0: field 'ball' must be an array of 4");

    //  Names and tokens.
    top = s_tree (&tree, repl);
    s_set_str (&s_item (top, "matches", 0, 12)->via.array.ptr[1], long_name,
               33);
    s_reject_tree (&tree, "field 'names' must be 1..32 bytes, not 33");
    top = s_tree (&tree, repl);
    s_set_str (&s_item (top, "matches", 0, 12)->via.array.ptr[0], "", 0);
    s_reject_tree (&tree, "field 'names' must be 1..32 bytes, not 0");
    top = s_tree (&tree, repl);
    s_set_str (s_item (top, "players", 0, 1), "a\0b", 3);
    s_reject_tree (&tree, "player record 0: field 'name' contains a NUL");
    top = s_tree (&tree, repl);
    s_set_str (s_item (top, "players", 2, 1), "\xed\xa0\x80", 3);
    s_reject_tree (&tree, "player record 2: field 'name' is not valid UTF-8");
    top = s_tree (&tree, repl);
    s_item (top, "players", 0, 0)->via.bin.size = 15;
    s_reject_tree (&tree, "player record 0: field 'token' must be 16 bytes, "
                          "not 15");
    top = s_tree (&tree, repl);
    s_set_str (s_item (top, "players", 0, 0), "0123456789abcdef", 16);
    s_reject_tree (&tree, "player record 0: field 'token' must be bin");
    top = s_tree (&tree, repl);
    s_item (top, "matches", 2, 14)->via.array.ptr[1].via.bin.size = 8;
    s_reject_tree (&tree, "match record 2: field 'tokens' must be 16 bytes");

    //  Player items.
    top = s_tree (&tree, repl);
    s_set_int (s_item (top, "players", 1, 2), 3);
    s_reject_tree (&tree, "player record 1: field 'state' out of range: 3 > 2");
    top = s_tree (&tree, repl);
    s_set_int (s_item (top, "players", 1, 4), 2);
    s_reject_tree (&tree, "player record 1: field 'side' out of range: 2 > 1");
    top = s_tree (&tree, repl);
    s_set_int (s_item (top, "players", 1, 3), 0x100000000ll);
    s_reject_tree (&tree, "player record 1: field 'match' out of range");

    //  The gone lists.
    top = s_tree (&tree, repl);
    s_set_int (&s_entry (top, "gone_matches")->val.via.array.ptr[1], 0);
    s_reject_tree (&tree,
                   "gone_matches item 1: field 'id' out of range: 0 < 1");
    top = s_tree (&tree, repl);
    s_entry (top, "gone_players")->val.via.array.ptr[0].via.bin.size = 17;
    s_reject_tree (&tree,
                   "gone_players item 0: field 'token' must be 16 bytes");
    rally_repl_destroy (&repl);
}
END_TEST

START_TEST (reject_snapshot_rules)
{
    //  A diff relabelled a snapshot: it has a base and gone lists.
    rally_repl_t *repl = s_diff_new ();
    tree_t tree;
    msgpack_object *top = s_tree (&tree, repl);
    s_set_str (&s_entry (top, "type")->val, "snapshot", 8);
    s_reject_tree (&tree, "a snapshot must have base_hash 0");
    top = s_tree (&tree, repl);
    s_set_str (&s_entry (top, "type")->val, "snapshot", 8);
    s_set_int (&s_entry (top, "base_hash")->val, 0);
    s_reject_tree (&tree, "a snapshot must have empty gone_matches");
    top = s_tree (&tree, repl);
    s_set_str (&s_entry (top, "type")->val, "snapshot", 8);
    s_set_int (&s_entry (top, "base_hash")->val, 0);
    s_entry (top, "gone_matches")->val.via.array.size = 0;
    s_reject_tree (&tree, "gone_players");
    //  With both lists empty it is a valid snapshot.
    top = s_tree (&tree, repl);
    s_set_str (&s_entry (top, "type")->val, "snapshot", 8);
    s_set_int (&s_entry (top, "base_hash")->val, 0);
    s_entry (top, "gone_matches")->val.via.array.size = 0;
    s_entry (top, "gone_players")->val.via.array.size = 0;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_object (&pk, *top);
    char reason[200];
    rally_repl_t *back = rally_repl_new (RALLY_REPL_DIFF);
    ck_assert_int_eq (rally_repl_decode (back, (const uint8_t *) sbuf.data,
                                         sbuf.size, reason, sizeof (reason)),
                      0);
    ck_assert_int_eq (back->kind, RALLY_REPL_SNAPSHOT);
    ck_assert_uint_eq (back->match_count, 3);
    rally_repl_destroy (&back);
    msgpack_sbuffer_destroy (&sbuf);
    msgpack_unpacked_destroy (&tree.up);
    zframe_destroy (&tree.frame);
    rally_repl_destroy (&repl);
}
END_TEST

START_TEST (encoder_refuses)
{
    rally_repl_t *repl = s_diff_new ();
    ck_assert_uint_gt (s_round_trip (repl), 0);
    zframe_t *frame;

#define S_REFUSED(change, undo) \
    do { \
        change; \
        frame = rally_repl_encode (repl); \
        ck_assert_msg (frame == NULL, "encoder accepted: %s", #change); \
        undo; \
    } while (0)

    S_REFUSED (repl->kind = (rally_repl_kind_t) 0,
               repl->kind = RALLY_REPL_DIFF);
    S_REFUSED (repl->kind = RALLY_REPL_SNAPSHOT, repl->kind = RALLY_REPL_DIFF);
    S_REFUSED (repl->from.node = 0, repl->from.node = 3);
    S_REFUSED (repl->next_match = 0, repl->next_match = 1);
    S_REFUSED (repl->matches[1].phase = 4, repl->matches[1].phase = 0);
    S_REFUSED (repl->matches[2].score[1] = 100, repl->matches[2].score[1] = 0);
    S_REFUSED (repl->matches[0].ball[3] = RALLY_COORD_LIMIT,
               repl->matches[0].ball[3] = 0);
    S_REFUSED (repl->matches[0].winner = 2, repl->matches[0].winner = 0);
    S_REFUSED (repl->matches[0].id = 0, repl->matches[0].id = 1);
    S_REFUSED (repl->matches[0].names[1][0] = 0,
               s_name (repl->matches[0].names[1], "b"));
    S_REFUSED (memset (repl->matches[0].names[0], 'x', RALLY_NAME_BUF),
               s_name (repl->matches[0].names[0], "a"));
    S_REFUSED (strcpy (repl->players[0].name, "\xff"),
               s_name (repl->players[0].name, "a"));
    S_REFUSED (repl->players[3].state = 3, repl->players[3].state = 0);
    S_REFUSED (repl->players[3].side = -2, repl->players[3].side = 0);
    S_REFUSED (repl->gone_matches[0] = 0, repl->gone_matches[0] = 1);
    ck_assert_uint_gt (s_round_trip (repl), 0);

    //  A snapshot needs base_hash 0 and no gone lists.
    rally_repl_t *snap = rally_repl_new (RALLY_REPL_SNAPSHOT);
    snap->from.node = 1;
    snap->next_match = 1;
    ck_assert_uint_gt (s_round_trip (snap), 0);
    snap->base_hash = 1;
    ck_assert_ptr_null (rally_repl_encode (snap));
    snap->base_hash = 0;
    rally_repl_add_gone_match (snap, 5);
    ck_assert_ptr_null (rally_repl_encode (snap));

    //  More than RALLY_REPL_MAX_BYTES of records.
    rally_repl_reset (snap, RALLY_REPL_SNAPSHOT);
    snap->from.node = 1;
    snap->next_match = 1;
    for (uint32_t i = 0; i < 40000; i++)
        s_match_fill (rally_repl_add_match (snap), i);
    ck_assert_ptr_null (rally_repl_encode (snap));
    rally_repl_destroy (&snap);
    rally_repl_destroy (&repl);
#undef S_REFUSED
}
END_TEST

//  Flips bytes of a valid diff at random (a fixed seed, so a failure
//  repeats). The decoder must never crash or read out of bounds, must give
//  a reason when it refuses, and anything it accepts must re-encode and
//  decode to the same message.
START_TEST (mutations)
{
    uint32_t seed = 2463534242u;
    rally_repl_t *repl = s_diff_new ();
    zframe_t *frame = rally_repl_encode (repl);
    ck_assert_ptr_nonnull (frame);
    size_t size = zframe_size (frame);
    uint8_t *buf = (uint8_t *) malloc (size);
    rally_repl_t *back = rally_repl_new (RALLY_REPL_DIFF);
    uint32_t rounds = 20000, accepted = 0;
    for (uint32_t round = 0; round < rounds; round++) {
        memcpy (buf, zframe_data (frame), size);
        uint32_t flips = 1 + s_xorshift (&seed) % 3;
        for (uint32_t i = 0; i < flips; i++)
            buf[s_xorshift (&seed) % size] = (uint8_t) s_xorshift (&seed);
        char reason[200] = "";
        if (rally_repl_decode (back, buf, size, reason, sizeof (reason)) == 0) {
            s_round_trip (back);
            accepted++;
        }
        else
            ck_assert_msg (reason[0], "refused without a reason");
    }
    //  Some flips land in values and stay valid; most break the schema.
    ck_assert_uint_gt (accepted, 0);
    ck_assert_uint_lt (accepted, rounds);
    rally_repl_destroy (&back);
    free (buf);
    zframe_destroy (&frame);
    rally_repl_destroy (&repl);
}
END_TEST

//  --------------------------------------------------------------------------
//  Hashes

//  The hash as schema/README.md specifies it, written out independently:
//  FNV-1a 64 over the canonical bytes, then the splitmix64 finalizer.
typedef struct {
    uint8_t bytes[512];
    size_t size;
} canon_t;

static void s_le (canon_t *c, uint64_t value, size_t width)
{
    for (size_t i = 0; i < width; i++)
        c->bytes[c->size++] = (uint8_t) (value >> (8 * i));
}

static void s_raw (canon_t *c, const void *data, size_t size)
{
    memcpy (c->bytes + c->size, data, size);
    c->size += size;
}

static void s_text (canon_t *c, const char *s)
{
    s_le (c, strlen (s), 1);
    s_raw (c, s, strlen (s));
}

static uint64_t s_reference (const canon_t *c)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < c->size; i++) {
        h ^= c->bytes[i];
        h *= 0x100000001b3ull;
    }
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

START_TEST (hash_matches_the_spec)
{
    rally_match_rec_t m;
    memset (&m, 0, sizeof (m));
    s_match_fill (&m, 5);
    canon_t c = { .size = 0 };
    s_le (&c, 0x01, 1);
    s_le (&c, m.id, 4);
    s_le (&c, m.tick, 4);
    s_le (&c, m.phase, 4);
    s_le (&c, m.paused_phase, 4);
    s_le (&c, m.countdown, 4);
    s_le (&c, m.serve, 4);
    s_le (&c, m.points_played, 4);
    s_le (&c, m.score[0], 4);
    s_le (&c, m.score[1], 4);
    s_le (&c, (uint32_t) m.winner, 4);
    for (int i = 0; i < 4; i++)
        s_le (&c, (uint32_t) m.ball[i], 4);
    for (int i = 0; i < 2; i++)
        s_le (&c, (uint32_t) m.paddles[i], 4);
    for (int i = 0; i < 2; i++)
        s_le (&c, (uint32_t) m.intents[i], 4);
    s_text (&c, m.names[0]);
    s_text (&c, m.names[1]);
    s_le (&c, m.seated, 4);
    s_raw (&c, m.tokens[0], RALLY_TOKEN_SIZE);
    s_raw (&c, m.tokens[1], RALLY_TOKEN_SIZE);
    s_le (&c, m.lost, 4);
    s_le (&c, m.ended, 8);
    ck_assert_uint_eq (rally_repl_match_hash (&m), s_reference (&c));

    rally_player_rec_t p;
    memset (&p, 0, sizeof (p));
    s_player_fill (&p, 8);
    c.size = 0;
    s_le (&c, 0x02, 1);
    s_raw (&c, p.token, RALLY_TOKEN_SIZE);
    s_text (&c, p.name);
    s_le (&c, p.state, 4);
    s_le (&c, p.match, 4);
    s_le (&c, (uint32_t) p.side, 4);
    s_le (&c, p.ticket, 8);
    ck_assert_uint_eq (rally_repl_player_hash (&p), s_reference (&c));

    c.size = 0;
    s_le (&c, 0x03, 1);
    s_le (&c, 0x0102030405060708ull, 8);
    s_le (&c, 0xa0b0c0d0u, 4);
    s_le (&c, 42, 8);
    ck_assert_uint_eq (rally_repl_globals_hash (0x0102030405060708ull,
                                                0xa0b0c0d0u, 42),
                       s_reference (&c));
}
END_TEST

START_TEST (hash_every_field)
{
    rally_match_rec_t base;
    memset (&base, 0, sizeof (base));
    s_match_fill (&base, 6);
    uint64_t h = rally_repl_match_hash (&base);

    //  An equal record built apart, and one that went over the wire.
    rally_match_rec_t twin;
    memset (&twin, 0xee, sizeof (twin));    //  padding and slack differ
    s_match_fill (&twin, 6);
    ck_assert_uint_eq (rally_repl_match_hash (&twin), h);
    rally_repl_t *repl = rally_repl_new (RALLY_REPL_SNAPSHOT);
    repl->from.node = 1;
    repl->next_match = 8;
    *rally_repl_add_match (repl) = base;
    zframe_t *frame = rally_repl_encode (repl);
    char reason[200];
    ck_assert_int_eq (rally_repl_decode (repl, zframe_data (frame),
                                         zframe_size (frame), reason,
                                         sizeof (reason)), 0);
    ck_assert_uint_eq (rally_repl_match_hash (&repl->matches[0]), h);
    zframe_destroy (&frame);
    rally_repl_destroy (&repl);

#define S_CHANGES(change) \
    do { \
        rally_match_rec_t m = base; \
        change; \
        ck_assert_msg (rally_repl_match_hash (&m) != h, "same hash: %s", \
                       #change); \
    } while (0)

    S_CHANGES (m.id++);
    S_CHANGES (m.tick++);
    S_CHANGES (m.phase ^= 1);
    S_CHANGES (m.paused_phase ^= 1);
    S_CHANGES (m.countdown++);
    S_CHANGES (m.serve ^= 1);
    S_CHANGES (m.points_played++);
    S_CHANGES (m.score[0]++);
    S_CHANGES (m.score[1]--);
    S_CHANGES (m.winner = m.winner ? 0 : 1);
    for (int i = 0; i < 4; i++)
        S_CHANGES (m.ball[i]++);
    for (int i = 0; i < 2; i++) {
        S_CHANGES (m.paddles[i]--);
        S_CHANGES (m.intents[i] = m.intents[i] ? 0 : 1);
        S_CHANGES (m.names[i][0] = 'Z');
        S_CHANGES (m.names[i][strlen (m.names[i]) - 1] = 0);
        S_CHANGES (m.tokens[i][RALLY_TOKEN_SIZE - 1] ^= 0x80);
        S_CHANGES (m.tokens[i][0] ^= 1);
    }
    S_CHANGES (m.seated ^= 2);
    S_CHANGES (m.lost ^= 1);
    S_CHANGES (m.ended ^= 1ull << 63);
#undef S_CHANGES
    //  A character moved from one name to the other: the lengths differ.
    rally_match_rec_t left = base, right = base;
    strcpy (left.names[0], "ab");
    strcpy (left.names[1], "c");
    strcpy (right.names[0], "a");
    strcpy (right.names[1], "bc");
    ck_assert_uint_ne (rally_repl_match_hash (&left),
                       rally_repl_match_hash (&right));

    rally_player_rec_t p0;
    memset (&p0, 0, sizeof (p0));
    s_player_fill (&p0, 3);
    uint64_t ph = rally_repl_player_hash (&p0);
    rally_player_rec_t p = p0;
    p.token[7] ^= 4;
    ck_assert_uint_ne (rally_repl_player_hash (&p), ph);
    p = p0;
    strcat (p.name, "x");
    ck_assert_uint_ne (rally_repl_player_hash (&p), ph);
    p = p0;
    p.state = (p.state + 1) % 3;
    ck_assert_uint_ne (rally_repl_player_hash (&p), ph);
    p = p0;
    p.match++;
    ck_assert_uint_ne (rally_repl_player_hash (&p), ph);
    p = p0;
    p.side = p.side == 1 ? -1 : p.side + 1;
    ck_assert_uint_ne (rally_repl_player_hash (&p), ph);
    p = p0;
    p.ticket++;
    ck_assert_uint_ne (rally_repl_player_hash (&p), ph);
    //  Bytes after a name's terminator are not part of it.
    p = p0;
    memset (p.name + strlen (p.name) + 1, 'q',
            RALLY_NAME_BUF - strlen (p.name) - 1);
    ck_assert_uint_eq (rally_repl_player_hash (&p), ph);

    ck_assert_uint_ne (rally_repl_globals_hash (1, 1, 1),
                       rally_repl_globals_hash (1, 1, 2));
    ck_assert_uint_ne (rally_repl_globals_hash (2, 1, 1),
                       rally_repl_globals_hash (1, 1, 1));
    ck_assert_uint_ne (rally_repl_globals_hash (1, 2, 1),
                       rally_repl_globals_hash (1, 1, 1));
}
END_TEST

START_TEST (hash_kinds_and_sums)
{
    //  All-zero records of each kind, and zero globals: kinds never meet.
    rally_match_rec_t m;
    rally_player_rec_t p;
    memset (&m, 0, sizeof (m));
    memset (&p, 0, sizeof (p));
    uint64_t hm = rally_repl_match_hash (&m);
    uint64_t hp = rally_repl_player_hash (&p);
    uint64_t hg = rally_repl_globals_hash (0, 0, 0);
    ck_assert_uint_ne (hm, hp);
    ck_assert_uint_ne (hm, hg);
    ck_assert_uint_ne (hp, hg);

    //  A state's hash is a sum: any order gives it, and one record's change
    //  moves it by that record's difference.
    rally_repl_t *repl = s_diff_new ();
    uint64_t forward = 0, backward = 0;
    for (size_t i = 0; i < repl->match_count; i++)
        forward += rally_repl_match_hash (&repl->matches[i]);
    for (size_t i = repl->match_count; i-- > 0;)
        backward += rally_repl_match_hash (&repl->matches[i]);
    ck_assert_uint_eq (forward, backward);
    uint64_t old = rally_repl_match_hash (&repl->matches[1]);
    repl->matches[1].tick++;
    uint64_t updated = forward - old;
    updated += rally_repl_match_hash (&repl->matches[1]);
    uint64_t again = 0;
    for (size_t i = 0; i < repl->match_count; i++)
        again += rally_repl_match_hash (&repl->matches[i]);
    ck_assert_uint_eq (updated, again);
    ck_assert_uint_ne (again, forward);

    //  Consecutive ids, the likeliest neighbours, spread over all 64 bits:
    //  over 256 hashes every bit is set at least once and clear once.
    uint64_t ones = 0, zeros = 0;
    for (uint32_t i = 1; i <= 256; i++) {
        memset (&m, 0, sizeof (m));
        m.id = i;
        uint64_t h = rally_repl_match_hash (&m);
        ones |= h;
        zeros |= ~h;
    }
    ck_assert_uint_eq (ones, UINT64_MAX);
    ck_assert_uint_eq (zeros, UINT64_MAX);
    rally_repl_destroy (&repl);
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *suite = suite_create ("rally_repl");
    TCase *round = tcase_create ("round_trip");
    tcase_add_test (round, round_trip_diff);
    tcase_add_test (round, round_trip_big_snapshot);
    tcase_add_test (round, decode_reuses_and_resets);
    tcase_add_test (round, wire_keys_in_order);
    tcase_add_test (round, decode_any_order);
    suite_add_tcase (suite, round);

    TCase *framing = tcase_create ("framing");
    tcase_add_test (framing, reject_framing);
    tcase_add_test (framing, reject_truncated_and_trailing);
    tcase_add_test (framing, reject_too_deep);
    tcase_add_test (framing, mutations);
    tcase_set_timeout (framing, 20);
    suite_add_tcase (suite, framing);

    TCase *schema = tcase_create ("schema");
    tcase_add_test (schema, reject_header);
    tcase_add_test (schema, reject_records);
    tcase_add_test (schema, reject_snapshot_rules);
    tcase_add_test (schema, encoder_refuses);
    suite_add_tcase (suite, schema);

    TCase *hashes = tcase_create ("hashes");
    tcase_add_test (hashes, hash_matches_the_spec);
    tcase_add_test (hashes, hash_every_field);
    tcase_add_test (hashes, hash_kinds_and_sums);
    suite_add_tcase (suite, hashes);
    return suite;
}
