/*  test_msg - the wire codec: round trips, every rejection, the helpers. */
#include "rally_msg.h"

#include "check_main.h"
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Helpers

static void s_token (uint8_t *token, uint8_t seed)
{
    for (int i = 0; i < RALLY_TOKEN_SIZE; i++)
        token[i] = (uint8_t) (seed + i * 17);
}

//  Fills buf with n copies of the string unit, NUL-terminated.
static void s_repeat (char *buf, const char *unit, size_t n)
{
    buf[0] = 0;
    for (size_t i = 0; i < n; i++)
        strcat (buf, unit);
}

//  Encodes msg, decodes it back, and asserts the two are equal; returns
//  the encoded frame's size.
static size_t s_round_trip (const rally_msg_t *msg)
{
    zframe_t *frame = rally_msg_encode (msg);
    ck_assert_ptr_nonnull (frame);
    rally_msg_t *back = (rally_msg_t *) malloc (sizeof (rally_msg_t));
    ck_assert_ptr_nonnull (back);
    memset (back, 0xa5, sizeof (*back));
    char reason[200] = "unset";
    int rc = rally_msg_decode (back, zframe_data (frame), zframe_size (frame),
                               reason, sizeof (reason));
    ck_assert_msg (rc == 0, "%s: %s", rally_msg_type_name (msg->type), reason);
    ck_assert_int_eq (back->type, msg->type);
    ck_assert_msg (memcmp (back, msg, sizeof (*msg)) == 0,
                   "%s does not round-trip", rally_msg_type_name (msg->type));
    size_t size = zframe_size (frame);
    zframe_destroy (&frame);
    free (back);
    return size;
}

//  Asserts that data does not decode, with a reason containing word.
static void s_reject_bytes (const void *data, size_t size, const char *word)
{
    rally_msg_t *msg = (rally_msg_t *) malloc (sizeof (rally_msg_t));
    ck_assert_ptr_nonnull (msg);
    char reason[200] = "unset";
    int rc = rally_msg_decode (msg, (const uint8_t *) data, size, reason,
                               sizeof (reason));
    ck_assert_msg (rc == -1, "accepted, expected '%s'", word);
    ck_assert_msg (strstr (reason, word) != NULL,
                   "reason '%s' lacks '%s'", reason, word);
    free (msg);
}

//  A hand-built message.
typedef struct {
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
} builder_t;

static void s_begin (builder_t *b)
{
    msgpack_sbuffer_init (&b->sbuf);
    msgpack_packer_init (&b->pk, &b->sbuf, msgpack_sbuffer_write);
}

static void s_str (builder_t *b, const char *s)
{
    msgpack_pack_str (&b->pk, strlen (s));
    msgpack_pack_str_body (&b->pk, s, strlen (s));
}

//  Map of entries pairs, starting with v = 1 and this type.
static void s_head (builder_t *b, size_t entries, const char *type)
{
    msgpack_pack_map (&b->pk, entries);
    s_str (b, "v");
    msgpack_pack_uint8 (&b->pk, 1);
    s_str (b, "type");
    s_str (b, type);
}

static void s_token_field (builder_t *b, size_t size)
{
    uint8_t token[32] = { 0 };
    s_str (b, "token");
    msgpack_pack_bin (&b->pk, size);
    msgpack_pack_bin_body (&b->pk, token, size);
}

static void s_reject (builder_t *b, const char *word)
{
    s_reject_bytes (b->sbuf.data, b->sbuf.size, word);
    msgpack_sbuffer_destroy (&b->sbuf);
}

static int s_accept (builder_t *b, rally_msg_t *msg)
{
    char reason[200] = "";
    int rc = rally_msg_decode (msg, (const uint8_t *) b->sbuf.data,
                               b->sbuf.size, reason, sizeof (reason));
    ck_assert_msg (rc == 0, "rejected: %s", reason);
    msgpack_sbuffer_destroy (&b->sbuf);
    return rc;
}

//  A valid join with this name, hand-packed (the encoder would refuse some).
static void s_join_named (builder_t *b, const char *name, size_t len)
{
    s_begin (b);
    s_head (b, 3, "join");
    s_str (b, "name");
    msgpack_pack_str (&b->pk, len);
    msgpack_pack_str_body (&b->pk, name, len);
}

//  A full state message with every field set to something telling.
static void s_state_full (rally_msg_t *msg)
{
    rally_msg_init (msg, RALLY_MSG_STATE);
    rally_msg_state_t *s = &msg->u.state;
    s->from.term = UINT64_MAX;
    s->from.node = 255;
    s->seq = 0x123456789abcdefull;
    s->match = UINT32_MAX;
    s->tick = 4000000000u;
    s->phase = RALLY_PHASE_OVER;
    s->score[0] = 99;
    s->score[1] = 0;
    s->ball[0] = RALLY_COORD_LIMIT - 1;
    s->ball[1] = -(RALLY_COORD_LIMIT - 1);
    s->ball[2] = -1;
    s->ball[3] = 127;
    s->paddles[0] = -32768;
    s->paddles[1] = 65536;
    s->intents[0] = -1;
    s->intents[1] = 1;
    s->serve = 1;
    s->countdown = UINT32_MAX;
    s->winner = -1;
    s->lost = 3;
    s->points = 99;
    s_repeat (s->names[0], "\xc3\xa9", 16);     //  32 bytes, 16 points
    strcpy (s->names[1], "b");
}

//  --------------------------------------------------------------------------
//  Round trips

START_TEST (round_trip_bare)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_WHERE);
    s_round_trip (&msg);
    rally_msg_init (&msg, RALLY_MSG_STATUS);
    s_round_trip (&msg);
}
END_TEST

START_TEST (round_trip_leader_and_hb)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_LEADER);
    msg.u.leader.from.term = UINT64_MAX;
    msg.u.leader.from.node = 0;
    s_repeat (msg.u.leader.game, "g", RALLY_ENDPOINT_MAX);
    strcpy (msg.u.leader.state, "tcp://127.0.0.1:5603");
    s_round_trip (&msg);

    rally_msg_init (&msg, RALLY_MSG_NODE_HB);
    rally_msg_node_hb_t *hb = &msg.u.node_hb;
    hb->from.term = 7;
    hb->from.node = 255;
    hb->role = RALLY_ROLE_LEADER;
    hb->seq = UINT64_MAX;
    hb->matches = UINT32_MAX;
    hb->players = 12345;
    strcpy (hb->game, "tcp://127.0.0.1:5602");
    s_repeat (hb->state, "s", RALLY_ENDPOINT_MAX);
    hb->want = UINT64_MAX - 1;
    hb->nonce = 0x0123456789abcdefull;
    hb->lag = 1u << 20;
    hb->behind = UINT32_MAX;
    s_round_trip (&msg);
    hb->want = 0;           //  asks nothing, a leader's lag
    hb->lag = 0;
    s_round_trip (&msg);
}
END_TEST

//  A lease as a broker sends it, every field telling.
static void s_lease_full (rally_msg_t *msg)
{
    rally_msg_init (msg, RALLY_MSG_LEASE);
    rally_msg_lease_t *l = &msg->u.lease;
    l->lease_term = UINT64_MAX - 2;
    l->holder = 255;
    l->ms = UINT32_MAX;
    l->nonce = 0xfedcba9876543210ull;
}

START_TEST (round_trip_replication_control)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_SYNC);
    msg.u.sync.from.term = 9;
    msg.u.sync.from.node = 255;
    msg.u.sync.seq = UINT64_MAX;
    s_round_trip (&msg);
    msg.u.sync.seq = 0;     //  a follower that has applied nothing yet
    msg.u.sync.from.node = 1;
    s_round_trip (&msg);

    rally_msg_init (&msg, RALLY_MSG_ACK);
    msg.u.ack.from.term = UINT64_MAX;
    msg.u.ack.from.node = 3;
    msg.u.ack.seq = 0x8000000000000001ull;
    s_round_trip (&msg);

    s_lease_full (&msg);
    s_round_trip (&msg);
    //  No grant from a broker that has granted nothing to anyone.
    msg.u.lease.holder = 0;
    msg.u.lease.ms = 0;
    msg.u.lease.lease_term = 0;
    s_round_trip (&msg);
}
END_TEST

START_TEST (round_trip_results)
{
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    rally_msg_init (msg, RALLY_MSG_FETCH);
    msg->u.fetch.from.term = 4;
    msg->u.fetch.from.node = 2;
    msg->u.fetch.after = UINT32_MAX;
    s_round_trip (msg);

    rally_msg_init (msg, RALLY_MSG_WATCH);
    s_round_trip (msg);         //  a spectator that only lists
    msg->u.watch.match = UINT32_MAX;
    s_round_trip (msg);

    rally_msg_init (msg, RALLY_MSG_HISTORY);
    s_round_trip (msg);
    snprintf (msg->u.history.name, sizeof (msg->u.history.name), "ann");
    msg->u.history.before = 77;
    s_round_trip (msg);
    rally_msg_init (msg, RALLY_MSG_STANDINGS);
    s_round_trip (msg);
    s_repeat (msg->u.standings.name, "\xc3\xa9", 16);
    s_round_trip (msg);
    rally_msg_init (msg, RALLY_MSG_BOARD);
    msg->u.board.from.node = 2;
    s_round_trip (msg);         //  nobody asked about, nobody on it
    msg->u.board.players = 12;
    snprintf (msg->u.board.own.name, sizeof (msg->u.board.own.name), "ann");
    msg->u.board.own.wins = UINT32_MAX;
    msg->u.board.count = RALLY_BOARD_MAX;
    for (uint32_t i = 0; i < RALLY_BOARD_MAX; i++) {
        rally_record_t *rec = &msg->u.board.top[i];
        snprintf (rec->name, sizeof (rec->name), "p%u", i);
        rec->wins = 20 - i;
        rec->losses = i;
        rec->forfeits = i / 2;
    }
    s_round_trip (msg);
    //  A record on the board must name someone.
    msg->u.board.top[3].name[0] = 0;
    ck_assert_ptr_null (rally_msg_encode (msg));

    rally_msg_init (msg, RALLY_MSG_BUSY);
    msg->u.busy.from.term = 9;
    msg->u.busy.from.node = 3;
    strcpy (msg->u.busy.code, "full");
    msg->u.busy.retry_ms = 1;
    s_round_trip (msg);
    msg->u.busy.retry_ms = RALLY_RETRY_MS_MAX;
    strcpy (msg->u.busy.reason, "the node has all the players it can take");
    s_round_trip (msg);
    msg->u.busy.retry_ms = 0;       //  a retry needs a time to retry at
    ck_assert_ptr_null (rally_msg_encode (msg));
    msg->u.busy.retry_ms = RALLY_RETRY_MS_MAX + 1;
    ck_assert_ptr_null (rally_msg_encode (msg));

    rally_msg_init (msg, RALLY_MSG_CROWD);
    msg->u.crowd.from.term = 9;
    msg->u.crowd.from.node = 3;
    msg->u.crowd.match = 1;
    s_round_trip (msg);
    msg->u.crowd.match = UINT32_MAX;
    msg->u.crowd.spectators = RALLY_SPECTATORS_MAX;
    msg->u.crowd.grace_ms = UINT32_MAX;
    s_round_trip (msg);
    //  The encoder refuses what the decoder would: no match 0, no more
    //  spectators than the limit.
    msg->u.crowd.spectators = RALLY_SPECTATORS_MAX + 1;
    ck_assert_ptr_null (rally_msg_encode (msg));
    msg->u.crowd.spectators = 0;
    msg->u.crowd.match = 0;
    ck_assert_ptr_null (rally_msg_encode (msg));

    rally_msg_init (msg, RALLY_MSG_RESULTS);
    msg->u.results.from.term = 5;
    msg->u.results.from.node = 1;
    s_round_trip (msg);         //  none after: an empty list
    msg->u.results.count = RALLY_RESULTS_MAX;
    for (uint32_t i = 0; i < RALLY_RESULTS_MAX; i++) {
        rally_result_t *r = &msg->u.results.results[i];
        r->match = i + 1;
        s_repeat (r->names[0], "\xc3\xa9", 16);
        strcpy (r->names[1], "b");
        r->score[0] = RALLY_SCORE_MAX;
        r->score[1] = i;
        r->winner = (int32_t) (i % 3) - 1;
        r->forfeit = i % 2;
        r->term = UINT64_MAX - i;
    }
    s_round_trip (msg);

    //  A result is checked like any field: a match id of 0 is refused.
    msg->u.results.results[3].match = 0;
    ck_assert_ptr_null (rally_msg_encode (msg));

    rally_msg_init (msg, RALLY_MSG_HAVE);
    rally_msg_have_t *have = &msg->u.have;
    have->from.term = UINT64_MAX;
    have->from.node = 255;
    have->lo = 1;
    have->hi = UINT32_MAX;
    s_round_trip (msg);         //  stores nothing
    have->top = UINT32_MAX;
    have->count = RALLY_HAVE_RANGES;
    for (uint32_t i = 0; i < RALLY_HAVE_RANGES; i++) {
        have->ranges[i].lo = 3 * i + 1;
        have->ranges[i].hi = 3 * i + 2;
    }
    have->ranges[RALLY_HAVE_RANGES - 1].hi = UINT32_MAX;
    s_round_trip (msg);
    have->ranges[5].lo = 0;     //  ids start at 1
    ck_assert_ptr_null (rally_msg_encode (msg));
    have->ranges[5].lo = 16;
    have->lo = 0;
    ck_assert_ptr_null (rally_msg_encode (msg));
    free (msg);
}
END_TEST

START_TEST (round_trip_lobby)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_JOIN);
    s_repeat (msg.u.join.name, "\xf0\x9f\x98\x80", 8);   //  32 bytes
    s_round_trip (&msg);

    rally_msg_init (&msg, RALLY_MSG_JOINED);
    msg.u.joined.from.term = 1;
    msg.u.joined.from.node = 1;
    s_token (msg.u.joined.token, 200);
    s_repeat (msg.u.joined.name, "z", RALLY_NAME_MAX);
    msg.u.joined.match = UINT32_MAX;
    s_round_trip (&msg);

    rally_msg_type_t token_types[] = { RALLY_MSG_RESUME, RALLY_MSG_REQUEUE,
                                       RALLY_MSG_LEAVE };
    for (int i = 0; i < 3; i++) {
        rally_msg_init (&msg, token_types[i]);
        s_token (msg.u.resume.token, (uint8_t) (i * 50));
        s_round_trip (&msg);
    }

    rally_msg_init (&msg, RALLY_MSG_QUEUED);
    msg.u.queued.from.term = 3;
    msg.u.queued.from.node = 9;
    msg.u.queued.position = UINT32_MAX;
    strcpy (msg.u.queued.name, "x");
    s_round_trip (&msg);
    msg.u.queued.position = 1;
    s_round_trip (&msg);
}
END_TEST

START_TEST (round_trip_match_and_input)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_MATCH);
    rally_msg_match_t *m = &msg.u.match;
    m->from.term = 2;
    m->from.node = 4;
    m->match = 1;
    m->side = RALLY_SIDE_RIGHT;
    m->points = 99;
    m->tick_hz = 240;
    strcpy (m->names[0], "left player");
    s_repeat (m->names[1], "r", RALLY_NAME_MAX);
    s_round_trip (&msg);
    m->tick_hz = 10;
    m->points = 1;
    m->side = RALLY_SIDE_LEFT;
    m->match = UINT32_MAX;
    s_round_trip (&msg);

    for (int32_t intent = -1; intent <= 1; intent++) {
        rally_msg_init (&msg, RALLY_MSG_INPUT);
        s_token (msg.u.input.token, 9);
        msg.u.input.intent = intent;
        s_round_trip (&msg);
    }
}
END_TEST

START_TEST (round_trip_ping_pong_error)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_PING);
    msg.u.ping.nonce = UINT64_MAX;
    s_round_trip (&msg);

    rally_msg_init (&msg, RALLY_MSG_PONG);
    msg.u.pong.from.term = 0;
    msg.u.pong.from.node = 0;
    msg.u.pong.nonce = 0x8000000000000000ull;
    s_round_trip (&msg);

    rally_msg_init (&msg, RALLY_MSG_ERROR);
    msg.u.error.from.node = 17;
    s_repeat (msg.u.error.code, "a_", RALLY_CODE_MAX / 2);
    s_repeat (msg.u.error.reason, "r", RALLY_REASON_MAX);
    s_round_trip (&msg);
    rally_msg_init (&msg, RALLY_MSG_ERROR);
    strcpy (msg.u.error.code, "no_leader");     //  an empty reason is allowed
    s_round_trip (&msg);
}
END_TEST

START_TEST (round_trip_state)
{
    rally_msg_t msg;
    s_state_full (&msg);
    s_round_trip (&msg);
    msg.u.state.winner = 1;
    msg.u.state.phase = RALLY_PHASE_SERVE;
    msg.u.state.ball[0] = -(RALLY_COORD_LIMIT - 1);
    s_round_trip (&msg);
}
END_TEST

START_TEST (round_trip_cluster_full)
{
    rally_msg_t *msg = (rally_msg_t *) malloc (sizeof (rally_msg_t));
    rally_msg_init (msg, RALLY_MSG_CLUSTER);
    s_round_trip (msg);     //  no nodes at all
    rally_msg_cluster_t *c = &msg->u.cluster;
    c->term = UINT64_MAX - 1;
    c->leader = 255;
    c->node_count = RALLY_STATUS_NODES_MAX;
    for (uint32_t i = 0; i < c->node_count; i++) {
        rally_node_info_t *n = &c->nodes[i];
        n->id = 240 + i;
        n->role = i == 15;
        n->term = UINT64_MAX - i;
        n->seq = i * 1000000007ull;
        n->age_ms = UINT32_MAX - i;
        n->matches = i;
        n->players = 2 * i;
        s_repeat (n->game, "G", RALLY_ENDPOINT_MAX);
        snprintf (n->state, sizeof (n->state), "tcp://10.0.0.%u:5603", i);
        n->lag = UINT64_MAX - 3 * i;
        n->behind = 7 * i;
    }
    c->lease_holder = 255;
    c->lease_term = UINT64_MAX;
    c->lease_ms = UINT32_MAX;
    size_t size = s_round_trip (msg);
    ck_assert_uint_lt (size, RALLY_MSG_MAX_BYTES);
    free (msg);
}
END_TEST

START_TEST (round_trip_matches_full)
{
    rally_msg_t *msg = (rally_msg_t *) malloc (sizeof (rally_msg_t));
    rally_msg_init (msg, RALLY_MSG_MATCHES);
    rally_msg_matches_t *m = &msg->u.matches;
    m->from.term = 5;
    m->from.node = 3;
    m->waiting = 1;
    m->total = 1000;
    s_round_trip (msg);     //  empty list
    m->count = RALLY_STATUS_MATCHES_MAX;
    for (uint32_t i = 0; i < m->count; i++) {
        rally_match_info_t *info = &m->matches[i];
        info->match = i + 1;
        info->tick = UINT32_MAX - i;
        info->phase = i % 4;
        info->score[0] = i % 100;
        info->score[1] = 99 - i % 100;
        s_repeat (info->names[0], "\xc3\xa9", 16);
        snprintf (info->names[1], sizeof (info->names[1]), "player %u", i);
    }
    size_t size = s_round_trip (msg);
    ck_assert_uint_lt (size, RALLY_MSG_MAX_BYTES);
    ck_assert_uint_gt (size, 64 * 80);
    free (msg);
}
END_TEST

START_TEST (wire_order_and_bytes)
{
    //  v, type, then fields in struct order, each in its smallest form.
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_PING);
    msg.u.ping.nonce = 42;
    zframe_t *frame = rally_msg_encode (&msg);
    ck_assert_ptr_nonnull (frame);
    const uint8_t expect[] = { 0x83, 0xa1, 'v', 0x01, 0xa4, 't', 'y', 'p',
                               'e', 0xa4, 'p', 'i', 'n', 'g', 0xa5, 'n',
                               'o', 'n', 'c', 'e', 0x2a };
    ck_assert_uint_eq (zframe_size (frame), sizeof (expect));
    ck_assert_mem_eq (zframe_data (frame), expect, sizeof (expect));
    zframe_destroy (&frame);
}
END_TEST

START_TEST (lease_keys)
{
    //  The origin's term and the lease's term are two keys, in table order.
    rally_msg_t msg;
    s_lease_full (&msg);
    msg.u.lease.from.term = 0;
    zframe_t *frame = rally_msg_encode (&msg);
    ck_assert_ptr_nonnull (frame);
    msgpack_unpacked up;
    msgpack_unpacked_init (&up);
    size_t off = 0;
    const char *data = (const char *) zframe_data (frame);
    ck_assert_int_eq (msgpack_unpack_next (&up, data, zframe_size (frame),
                                           &off),
                      MSGPACK_UNPACK_SUCCESS);
    const char *keys[] = { "v", "type", "term", "node", "lease_term",
                           "holder", "ms", "nonce" };
    const msgpack_object_map *map = &up.data.via.map;
    ck_assert_uint_eq (map->size, 8);
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *k = &map->ptr[i].key;
        ck_assert_uint_eq (k->via.str.size, strlen (keys[i]));
        ck_assert (memcmp (k->via.str.ptr, keys[i], strlen (keys[i])) == 0);
    }
    ck_assert_uint_eq (map->ptr[2].val.via.u64, 0);
    ck_assert_uint_eq (map->ptr[4].val.via.u64, UINT64_MAX - 2);
    msgpack_unpacked_destroy (&up);
    zframe_destroy (&frame);
}
END_TEST

START_TEST (decode_any_order_any_width)
{
    rally_msg_t msg;
    builder_t b;
    //  Fields before v and type, v as a uint64, nonce as a uint32.
    s_begin (&b);
    msgpack_pack_map (&b.pk, 3);
    s_str (&b, "nonce");
    msgpack_pack_uint32 (&b.pk, 7);
    s_str (&b, "type");
    s_str (&b, "ping");
    s_str (&b, "v");
    msgpack_pack_fix_uint64 (&b.pk, 1);
    s_accept (&b, &msg);
    ck_assert_int_eq (msg.type, RALLY_MSG_PING);
    ck_assert_uint_eq (msg.u.ping.nonce, 7);

    //  intent -1 as an int64, +1 as an int8 (a positive int to msgpack).
    s_begin (&b);
    s_head (&b, 4, "input");
    s_str (&b, "intent");
    msgpack_pack_fix_int64 (&b.pk, -1);
    s_token_field (&b, 16);
    s_accept (&b, &msg);
    ck_assert_int_eq (msg.u.input.intent, -1);
    s_begin (&b);
    s_head (&b, 4, "input");
    s_str (&b, "intent");
    msgpack_pack_fix_int8 (&b.pk, 1);
    s_token_field (&b, 16);
    s_accept (&b, &msg);
    ck_assert_int_eq (msg.u.input.intent, 1);
}
END_TEST

//  --------------------------------------------------------------------------
//  Rejections: framing

START_TEST (reject_empty_and_oversized)
{
    s_reject_bytes ("", 0, "empty");
    s_reject_bytes (NULL, 0, "empty");
    size_t size = RALLY_MSG_MAX_BYTES + 1;
    uint8_t *big = (uint8_t *) calloc (1, size);
    big[0] = 0xdb;      //  a str32 that claims all of it
    s_reject_bytes (big, size, "too large");
    free (big);
}
END_TEST

START_TEST (reject_every_truncation)
{
    rally_msg_t msg;
    s_state_full (&msg);
    zframe_t *frame = rally_msg_encode (&msg);
    ck_assert_ptr_nonnull (frame);
    size_t size = zframe_size (frame);
    for (size_t cut = 1; cut < size; cut++)
        s_reject_bytes (zframe_data (frame), cut, "truncated");
    zframe_destroy (&frame);
}
END_TEST

//  Flips bytes of valid frames at random (a fixed seed, so a failure
//  repeats). The decoder must never crash or read out of bounds, must give a
//  reason when it refuses, and anything it accepts must be a message the
//  encoder would write: the two agree on the schema.
static uint32_t s_xorshift (uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static void s_mutate (const rally_msg_t *msg, uint32_t rounds, uint32_t *seed)
{
    zframe_t *frame = rally_msg_encode (msg);
    ck_assert_ptr_nonnull (frame);
    size_t size = zframe_size (frame);
    uint8_t *buf = (uint8_t *) malloc (size);
    rally_msg_t *back = (rally_msg_t *) malloc (sizeof (rally_msg_t));
    ck_assert (buf && back);
    uint32_t accepted = 0;
    for (uint32_t round = 0; round < rounds; round++) {
        memcpy (buf, zframe_data (frame), size);
        uint32_t flips = 1 + s_xorshift (seed) % 3;
        for (uint32_t i = 0; i < flips; i++)
            buf[s_xorshift (seed) % size] = (uint8_t) s_xorshift (seed);
        char reason[200] = "";
        if (rally_msg_decode (back, buf, size, reason, sizeof (reason)) == 0) {
            s_round_trip (back);
            accepted++;
        }
        else
            ck_assert_msg (reason[0], "refused without a reason");
    }
    //  Some flips land in values and stay valid; most break the schema.
    ck_assert_uint_gt (accepted, 0);
    ck_assert_uint_lt (accepted, rounds);
    free (back);
    free (buf);
    zframe_destroy (&frame);
}

START_TEST (mutations)
{
    uint32_t seed = 2463534242u;
    rally_msg_t *msg = (rally_msg_t *) malloc (sizeof (rally_msg_t));
    ck_assert_ptr_nonnull (msg);
    s_state_full (msg);
    s_mutate (msg, 20000, &seed);

    rally_msg_init (msg, RALLY_MSG_CLUSTER);
    rally_msg_cluster_t *c = &msg->u.cluster;
    c->term = 7;
    c->leader = 2;
    c->node_count = 3;
    for (uint32_t i = 0; i < c->node_count; i++) {
        c->nodes[i].id = i + 1;
        c->nodes[i].role = i == 1;
        c->nodes[i].term = 7;
        snprintf (c->nodes[i].game, sizeof (c->nodes[i].game),
                  "tcp://10.0.0.%u:5602", i + 1);
        snprintf (c->nodes[i].state, sizeof (c->nodes[i].state),
                  "tcp://10.0.0.%u:5603", i + 1);
    }
    s_mutate (msg, 20000, &seed);

    s_lease_full (msg);
    s_mutate (msg, 5000, &seed);
    free (msg);
}
END_TEST

START_TEST (reject_trailing_bytes)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_PING);
    zframe_t *frame = rally_msg_encode (&msg);
    size_t size = zframe_size (frame);
    uint8_t buf[64];
    memcpy (buf, zframe_data (frame), size);
    buf[size] = 0x00;
    s_reject_bytes (buf, size + 1, "trailing");
    memcpy (buf + size, zframe_data (frame), size);    //  two messages
    s_reject_bytes (buf, 2 * size, "trailing");
    zframe_destroy (&frame);
}
END_TEST

START_TEST (reject_not_a_map)
{
    builder_t b;
    s_begin (&b);
    msgpack_pack_array (&b.pk, 3);
    msgpack_pack_int (&b.pk, 1);
    msgpack_pack_int (&b.pk, 2);
    msgpack_pack_int (&b.pk, 3);
    s_reject (&b, "not a map");
    s_reject_bytes ("\x07", 1, "not a map");
    s_reject_bytes ("\xc0", 1, "not a map");
    s_reject_bytes ("\xa3" "abc", 4, "not a map");
}
END_TEST

START_TEST (reject_hostile_headers)
{
    //  Each claims billions of items or bytes; none may be allocated.
    s_reject_bytes ("\xdd\xff\xff\xff\xff", 5, "truncated");
    s_reject_bytes ("\xdf\xff\xff\xff\xff", 5, "truncated");
    s_reject_bytes ("\xdb\xff\xff\xff\xff", 5, "truncated");
    s_reject_bytes ("\xc6\xff\xff\xff\xff", 5, "truncated");
    s_reject_bytes ("\xc9\xff\xff\xff\xff\x01", 6, "truncated");
    //  Inside a map, after a valid key.
    s_reject_bytes ("\x81\xa1v\xdd\xff\xff\xff\xff", 8, "count");
    s_reject_bytes ("\x81\xa1v\xdf\x00\x01\x00\x00", 8, "count");
    //  A count that fits the bytes but not as items: 3 items, 2 bytes.
    s_reject_bytes ("\x93\x01\x02", 3, "truncated");
    //  0xc1 is no msgpack type.
    s_reject_bytes ("\x81\xa1v\xc1", 4, "invalid");
    s_reject_bytes ("\xc1\xc1\xc1", 3, "invalid");
}
END_TEST

START_TEST (reject_too_deep)
{
    //  [[[[[1]]]]]: five containers.
    s_reject_bytes ("\x91\x91\x91\x91\x91\x01", 6, "deep");
    //  A ping whose nonce is [[[[1]]]]: the map makes five.
    builder_t b;
    s_begin (&b);
    s_head (&b, 3, "ping");
    s_str (&b, "nonce");
    for (int i = 0; i < 4; i++)
        msgpack_pack_array (&b.pk, 1);
    msgpack_pack_int (&b.pk, 1);
    s_reject (&b, "deep");
    //  Four levels are allowed through the pre-walk, then refused by type.
    s_begin (&b);
    s_head (&b, 3, "ping");
    s_str (&b, "nonce");
    for (int i = 0; i < 3; i++)
        msgpack_pack_array (&b.pk, 1);
    msgpack_pack_int (&b.pk, 1);
    s_reject (&b, "unsigned integer");
}
END_TEST

START_TEST (reject_too_many_objects)
{
    //  A map with 5000 nil items: within the bytes, beyond the object cap.
    builder_t b;
    s_begin (&b);
    s_head (&b, 3, "ping");
    s_str (&b, "nonce");
    msgpack_pack_array (&b.pk, 5000);
    for (int i = 0; i < 5000; i++)
        msgpack_pack_nil (&b.pk);
    s_reject (&b, "too many");
}
END_TEST

//  --------------------------------------------------------------------------
//  Rejections: schema

START_TEST (reject_header)
{
    builder_t b;
    s_begin (&b);
    s_head (&b, 2, "teleport");
    s_reject (&b, "unknown message type 'teleport'");

    s_begin (&b);
    msgpack_pack_map (&b.pk, 3);
    s_str (&b, "v");
    msgpack_pack_uint8 (&b.pk, 2);
    s_str (&b, "type");
    s_str (&b, "ping");
    s_str (&b, "nonce");
    msgpack_pack_uint8 (&b.pk, 1);
    s_reject (&b, "unsupported protocol version 2");

    s_begin (&b);
    msgpack_pack_map (&b.pk, 1);
    s_str (&b, "type");
    s_str (&b, "where");
    s_reject (&b, "missing field 'v'");

    s_begin (&b);
    msgpack_pack_map (&b.pk, 1);
    s_str (&b, "v");
    msgpack_pack_uint8 (&b.pk, 1);
    s_reject (&b, "missing field 'type'");

    s_begin (&b);
    msgpack_pack_map (&b.pk, 2);
    s_str (&b, "v");
    msgpack_pack_int (&b.pk, -1);
    s_str (&b, "type");
    s_str (&b, "where");
    s_reject (&b, "unsigned");

    s_begin (&b);
    msgpack_pack_map (&b.pk, 2);
    s_str (&b, "v");
    msgpack_pack_uint8 (&b.pk, 1);
    s_str (&b, "type");
    msgpack_pack_uint8 (&b.pk, 1);
    s_reject (&b, "string");

    //  A hostile type name is quoted printable and short.
    s_begin (&b);
    s_head (&b, 2, "\x01\x02" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    s_reject (&b, "'??aaaaaaaaaaaaaaaaaaaaaa...'");
}
END_TEST

START_TEST (reject_missing_extra_duplicate)
{
    builder_t b;
    s_begin (&b);
    s_head (&b, 2, "join");
    s_reject (&b, "missing field 'name'");

    s_begin (&b);
    s_head (&b, 4, "ping");
    s_str (&b, "nonce");
    msgpack_pack_uint8 (&b.pk, 1);
    s_str (&b, "x");
    msgpack_pack_uint8 (&b.pk, 2);
    s_reject (&b, "unexpected field 'x' in ping");

    s_begin (&b);
    s_head (&b, 3, "where");
    s_str (&b, "nonce");
    msgpack_pack_uint8 (&b.pk, 1);
    s_reject (&b, "unexpected field 'nonce' in where");

    s_begin (&b);
    s_head (&b, 4, "ping");
    s_str (&b, "nonce");
    msgpack_pack_uint8 (&b.pk, 1);
    s_str (&b, "nonce");
    msgpack_pack_uint8 (&b.pk, 1);
    s_reject (&b, "duplicate field 'nonce'");

    s_begin (&b);
    s_head (&b, 4, "ping");
    s_str (&b, "nonce");
    msgpack_pack_uint8 (&b.pk, 1);
    s_str (&b, "type");
    s_str (&b, "ping");
    s_reject (&b, "duplicate field 'type'");

    s_begin (&b);
    s_head (&b, 4, "ping");
    s_str (&b, "v");
    msgpack_pack_uint8 (&b.pk, 1);
    s_str (&b, "nonce");
    msgpack_pack_uint8 (&b.pk, 1);
    s_reject (&b, "duplicate field 'v'");

    //  A key that is not a string.
    s_begin (&b);
    s_head (&b, 3, "where");
    msgpack_pack_uint8 (&b.pk, 1);
    msgpack_pack_uint8 (&b.pk, 1);
    s_reject (&b, "not a string");
}
END_TEST

START_TEST (reject_wrong_types)
{
    builder_t b;
    s_begin (&b);
    s_head (&b, 3, "ping");
    s_str (&b, "nonce");
    s_str (&b, "one");
    s_reject (&b, "field 'nonce' must be an unsigned integer");

    s_begin (&b);
    s_head (&b, 3, "ping");
    s_str (&b, "nonce");
    msgpack_pack_double (&b.pk, 1.0);
    s_reject (&b, "unsigned integer");

    s_begin (&b);
    s_head (&b, 3, "join");
    s_str (&b, "name");
    msgpack_pack_bin (&b.pk, 3);
    msgpack_pack_bin_body (&b.pk, "bob", 3);
    s_reject (&b, "field 'name' must be a string");

    s_begin (&b);
    s_head (&b, 3, "resume");
    s_str (&b, "token");
    s_str (&b, "0123456789abcdef");
    s_reject (&b, "field 'token' must be bin");

    s_begin (&b);
    s_head (&b, 4, "input");
    s_token_field (&b, 16);
    s_str (&b, "intent");
    msgpack_pack_true (&b.pk);
    s_reject (&b, "field 'intent' must be an integer");

    //  A fixed array of the wrong length, and a scalar where one belongs.
    s_begin (&b);
    s_head (&b, 9, "match");
    s_str (&b, "term");
    msgpack_pack_uint8 (&b.pk, 1);
    s_str (&b, "node");
    msgpack_pack_uint8 (&b.pk, 1);
    s_str (&b, "match");
    msgpack_pack_uint8 (&b.pk, 1);
    s_str (&b, "side");
    msgpack_pack_uint8 (&b.pk, 1);
    s_str (&b, "points");
    msgpack_pack_uint8 (&b.pk, 11);
    s_str (&b, "tick_hz");
    msgpack_pack_uint8 (&b.pk, 60);
    s_str (&b, "names");
    msgpack_pack_array (&b.pk, 3);
    s_str (&b, "a");
    s_str (&b, "b");
    s_str (&b, "c");
    s_reject (&b, "field 'names' must be an array of 2");
}
END_TEST

START_TEST (reject_tokens)
{
    builder_t b;
    size_t sizes[] = { 0, 15, 17, 32 };
    for (int i = 0; i < 4; i++) {
        s_begin (&b);
        s_head (&b, 3, "leave");
        s_token_field (&b, sizes[i]);
        s_reject (&b, "16 bytes");
    }
}
END_TEST

START_TEST (reject_strings)
{
    builder_t b;
    char name[64];
    s_repeat (name, "n", RALLY_NAME_MAX + 1);
    s_join_named (&b, name, strlen (name));
    s_reject (&b, "field 'name' must be 1..32 bytes, not 33");
    s_join_named (&b, "", 0);
    s_reject (&b, "not 0");
    s_join_named (&b, "a\xff", 2);
    s_reject (&b, "UTF-8");
    s_join_named (&b, "\xc0\x80", 2);      //  overlong NUL
    s_reject (&b, "UTF-8");
    s_join_named (&b, "\xed\xa0\x80", 3);  //  surrogate
    s_reject (&b, "UTF-8");
    s_join_named (&b, "\xf4\x90\x80\x80", 4); //  above U+10FFFF
    s_reject (&b, "UTF-8");
    s_join_named (&b, "\xe2\x82", 2);      //  cut short
    s_reject (&b, "UTF-8");
    s_join_named (&b, "a\0b", 3);
    s_reject (&b, "NUL");

    //  An endpoint of 129 bytes.
    char endpoint[RALLY_ENDPOINT_MAX + 2];
    s_repeat (endpoint, "e", RALLY_ENDPOINT_MAX + 1);
    s_begin (&b);
    s_head (&b, 6, "leader");
    s_str (&b, "term");
    msgpack_pack_uint8 (&b.pk, 1);
    s_str (&b, "node");
    msgpack_pack_uint8 (&b.pk, 1);
    s_str (&b, "game");
    s_str (&b, endpoint);
    s_str (&b, "state");
    s_str (&b, "tcp://x:1");
    s_reject (&b, "field 'game' must be 1..128 bytes, not 129");

    //  Error codes are [a-z_].
    s_begin (&b);
    s_head (&b, 6, "error");
    s_str (&b, "term");
    msgpack_pack_uint8 (&b.pk, 0);
    s_str (&b, "node");
    msgpack_pack_uint8 (&b.pk, 0);
    s_str (&b, "code");
    s_str (&b, "Bad-Name");
    s_str (&b, "reason");
    s_str (&b, "");
    s_reject (&b, "field 'code' must be lowercase");

    //  The codec itself does not judge names beyond UTF-8 and length.
    rally_msg_t msg;
    s_join_named (&b, " bad\x01name", 9);
    s_accept (&b, &msg);
    ck_assert_str_eq (msg.u.join.name, " bad\x01name");
}
END_TEST

//  A pong whose node is node; term 1, nonce 1.
static void s_pong_node (builder_t *b, int64_t node)
{
    s_begin (b);
    s_head (b, 5, "pong");
    s_str (b, "term");
    msgpack_pack_uint8 (&b->pk, 1);
    s_str (b, "node");
    msgpack_pack_int64 (&b->pk, node);
    s_str (b, "nonce");
    msgpack_pack_uint8 (&b->pk, 1);
}

//  msg, encoded, with one top-level field replaced by value (an array's
//  last item), or dropped if drop.
static void s_msg_with (builder_t *b, const rally_msg_t *msg, const char *key,
                        int64_t value, bool drop)
{
    zframe_t *frame = rally_msg_encode (msg);
    ck_assert_ptr_nonnull (frame);
    msgpack_unpacked up;
    msgpack_unpacked_init (&up);
    size_t off = 0;
    ck_assert_int_eq (msgpack_unpack_next (&up, (const char *) zframe_data (frame),
                                           zframe_size (frame), &off),
                      MSGPACK_UNPACK_SUCCESS);
    msgpack_object_map *map = &up.data.via.map;
    bool found = false;
    for (uint32_t i = 0; i < map->size; i++) {
        msgpack_object *k = &map->ptr[i].key;
        msgpack_object *v = &map->ptr[i].val;
        if (k->via.str.size != strlen (key)
            || memcmp (k->via.str.ptr, key, strlen (key)) != 0)
            continue;
        found = true;
        if (drop) {
            map->ptr[i] = map->ptr[--map->size];
            break;
        }
        msgpack_object *target = v->type == MSGPACK_OBJECT_ARRAY
                               ? &v->via.array.ptr[v->via.array.size - 1] : v;
        target->type = value < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER
                                 : MSGPACK_OBJECT_POSITIVE_INTEGER;
        target->via.i64 = value;
    }
    ck_assert (found);
    s_begin (b);
    msgpack_pack_object (&b->pk, up.data);
    msgpack_unpacked_destroy (&up);
    zframe_destroy (&frame);
}

//  A state from s_state_full with one field replaced by value.
static void s_state_with (builder_t *b, const char *key, int64_t value)
{
    rally_msg_t msg;
    s_state_full (&msg);
    s_msg_with (b, &msg, key, value, false);
}

START_TEST (reject_ranges)
{
    builder_t b;
    s_pong_node (&b, 255);
    rally_msg_t msg;
    s_accept (&b, &msg);
    ck_assert_uint_eq (msg.u.pong.from.node, 255);
    s_pong_node (&b, 256);
    s_reject (&b, "field 'node' out of range: 256 > 255");
    s_pong_node (&b, -1);
    s_reject (&b, "field 'node' must be an unsigned integer");

    s_state_with (&b, "score", 100);
    s_reject (&b, "field 'score' out of range: 100 > 99");
    s_state_with (&b, "phase", 4);
    s_reject (&b, "field 'phase' out of range: 4 > 3");
    s_state_with (&b, "intents", 2);
    s_reject (&b, "field 'intents' out of range: 2 > 1");
    s_state_with (&b, "intents", -2);
    s_reject (&b, "field 'intents' out of range: -2 < -1");
    s_state_with (&b, "winner", 2);
    s_reject (&b, "field 'winner' out of range");
    s_state_with (&b, "ball", RALLY_COORD_LIMIT);
    s_reject (&b, "field 'ball' out of range");
    s_state_with (&b, "paddles", -RALLY_COORD_LIMIT);
    s_reject (&b, "field 'paddles' out of range");
    s_state_with (&b, "match", 0);
    s_reject (&b, "field 'match' out of range: 0 < 1");
    s_state_with (&b, "tick", 0x100000000ll);
    s_reject (&b, "field 'tick' out of range");
    s_state_with (&b, "lost", 4);
    s_reject (&b, "field 'lost' out of range");
    s_state_with (&b, "points", 0);
    s_reject (&b, "field 'points' out of range");
    s_state_with (&b, "countdown", -5);
    s_reject (&b, "field 'countdown' must be an unsigned integer");
    //  The helper itself is honest: an in-range value passes.
    s_state_with (&b, "score", 99);
    s_accept (&b, &msg);
    ck_assert_uint_eq (msg.u.state.score[1], 99);

    s_begin (&b);
    s_head (&b, 4, "input");
    s_token_field (&b, 16);
    s_str (&b, "intent");
    msgpack_pack_int (&b.pk, 2);
    s_reject (&b, "field 'intent' out of range: 2 > 1");
}
END_TEST

START_TEST (reject_replication_control)
{
    builder_t b;
    rally_msg_t msg;
    s_lease_full (&msg);
    s_msg_with (&b, &msg, "holder", 256, false);
    s_reject (&b, "field 'holder' out of range: 256 > 255");
    s_msg_with (&b, &msg, "ms", 0x100000000ll, false);
    s_reject (&b, "field 'ms' out of range");
    s_msg_with (&b, &msg, "nonce", 0, true);
    s_reject (&b, "missing field 'nonce' in lease");
    s_msg_with (&b, &msg, "lease_term", 0, true);
    s_reject (&b, "missing field 'lease_term' in lease");
    s_msg_with (&b, &msg, "holder", 255, false);
    s_accept (&b, &msg);
    ck_assert_uint_eq (msg.u.lease.holder, 255);

    rally_msg_init (&msg, RALLY_MSG_NODE_HB);
    msg.u.node_hb.from.node = 1;
    strcpy (msg.u.node_hb.game, "tcp://a:1");
    strcpy (msg.u.node_hb.state, "tcp://a:2");
    s_msg_with (&b, &msg, "nonce", 0, true);
    s_reject (&b, "missing field 'nonce' in node_hb");
    s_msg_with (&b, &msg, "lag", 0, true);
    s_reject (&b, "missing field 'lag' in node_hb");
    s_msg_with (&b, &msg, "want", -1, false);
    s_reject (&b, "field 'want' must be an unsigned integer");

    //  sync and ack come from a node, never from the broker's node 0.
    rally_msg_init (&msg, RALLY_MSG_SYNC);
    msg.u.sync.from.node = 7;
    s_msg_with (&b, &msg, "node", 0, false);
    s_reject (&b, "field 'node' out of range: 0 < 1");
    s_msg_with (&b, &msg, "seq", 0, true);
    s_reject (&b, "missing field 'seq' in sync");
    rally_msg_init (&msg, RALLY_MSG_ACK);
    msg.u.ack.from.node = 7;
    s_msg_with (&b, &msg, "node", 256, false);
    s_reject (&b, "field 'node' out of range: 256 > 255");

    rally_msg_init (&msg, RALLY_MSG_CLUSTER);
    s_msg_with (&b, &msg, "lease_holder", 256, false);
    s_reject (&b, "field 'lease_holder' out of range: 256 > 255");
    s_msg_with (&b, &msg, "lease_ms", 0, true);
    s_reject (&b, "missing field 'lease_ms' in cluster");
}
END_TEST

START_TEST (reject_lists)
{
    //  17 nodes in a cluster reply.
    builder_t b;
    s_begin (&b);
    s_head (&b, 5, "cluster");
    s_str (&b, "term");
    msgpack_pack_uint8 (&b.pk, 1);
    s_str (&b, "leader");
    msgpack_pack_uint8 (&b.pk, 1);
    s_str (&b, "nodes");
    msgpack_pack_array (&b.pk, 17);
    for (int i = 0; i < 17; i++)
        msgpack_pack_map (&b.pk, 0);
    s_reject (&b, "field 'nodes' out of range: 17 items > 16");

    //  A node missing its id, one with a stray key, and one not a map.
    const char *keys[] = { "role", "term", "seq", "age_ms", "matches",
                           "players" };
    for (int variant = 0; variant < 3; variant++) {
        s_begin (&b);
        s_head (&b, 5, "cluster");
        s_str (&b, "term");
        msgpack_pack_uint8 (&b.pk, 1);
        s_str (&b, "leader");
        msgpack_pack_uint8 (&b.pk, 1);
        s_str (&b, "nodes");
        msgpack_pack_array (&b.pk, 1);
        if (variant == 2) {
            msgpack_pack_uint8 (&b.pk, 1);
            s_reject (&b, "must be maps");
            continue;
        }
        msgpack_pack_map (&b.pk, 8 + variant);
        for (int i = 0; i < 6; i++) {
            s_str (&b, keys[i]);
            msgpack_pack_uint8 (&b.pk, 0);
        }
        s_str (&b, "game");
        s_str (&b, "tcp://a:1");
        s_str (&b, "state");
        s_str (&b, "tcp://a:2");
        if (variant == 1) {
            s_str (&b, "v");
            msgpack_pack_uint8 (&b.pk, 1);
        }
        s_reject (&b, variant == 0 ? "missing field 'id' in nodes"
                                   : "unexpected field 'v' in nodes");
    }
}
END_TEST

//  --------------------------------------------------------------------------
//  Encoder refusals

static void s_refused (const rally_msg_t *msg, const char *what)
{
    zframe_t *frame = rally_msg_encode (msg);
    ck_assert_msg (frame == NULL, "encoder accepted %s", what);
}

START_TEST (encoder_refuses)
{
    rally_msg_t *msg = (rally_msg_t *) malloc (sizeof (rally_msg_t));
    rally_msg_init (msg, (rally_msg_type_t) 0);
    s_refused (msg, "type 0");
    rally_msg_init (msg, RALLY_MSG_TYPE_COUNT);
    s_refused (msg, "type count");

    rally_msg_init (msg, RALLY_MSG_PONG);
    msg->u.pong.from.node = 256;
    s_refused (msg, "node 256");
    rally_msg_init (msg, RALLY_MSG_NODE_HB);
    strcpy (msg->u.node_hb.game, "a");
    strcpy (msg->u.node_hb.state, "b");
    msg->u.node_hb.from.node = 0;
    s_refused (msg, "heartbeat from node 0");
    msg->u.node_hb.from.node = 1;
    ck_assert_uint_gt (s_round_trip (msg), 0);
    msg->u.node_hb.role = 2;
    s_refused (msg, "role 2");

    s_lease_full (msg);
    msg->u.lease.holder = 256;
    s_refused (msg, "lease holder 256");
    rally_msg_init (msg, RALLY_MSG_SYNC);
    s_refused (msg, "sync from node 0");
    rally_msg_init (msg, RALLY_MSG_ACK);
    s_refused (msg, "ack from node 0");
    rally_msg_init (msg, RALLY_MSG_CLUSTER);
    msg->u.cluster.lease_holder = 300;
    s_refused (msg, "cluster lease holder 300");

    s_state_full (msg);
    msg->u.state.score[1] = 100;
    s_refused (msg, "score 100");
    s_state_full (msg);
    msg->u.state.intents[0] = 2;
    s_refused (msg, "intent 2");
    s_state_full (msg);
    msg->u.state.ball[2] = RALLY_COORD_LIMIT;
    s_refused (msg, "ball at the limit");
    s_state_full (msg);
    msg->u.state.names[1][0] = 0;
    s_refused (msg, "empty name");
    s_state_full (msg);
    memset (msg->u.state.names[0], 'x', RALLY_NAME_BUF);
    s_refused (msg, "unterminated name");
    s_state_full (msg);
    strcpy (msg->u.state.names[0], "\xff");
    s_refused (msg, "bad UTF-8");

    rally_msg_init (msg, RALLY_MSG_INPUT);
    msg->u.input.intent = -2;
    s_refused (msg, "intent -2");
    rally_msg_init (msg, RALLY_MSG_MATCH);
    strcpy (msg->u.match.names[0], "a");
    strcpy (msg->u.match.names[1], "b");
    msg->u.match.points = 11;
    msg->u.match.tick_hz = 60;
    s_refused (msg, "match 0");
    msg->u.match.match = 1;
    ck_assert_uint_gt (s_round_trip (msg), 0);
    msg->u.match.tick_hz = 241;
    s_refused (msg, "tick_hz 241");

    rally_msg_init (msg, RALLY_MSG_ERROR);
    strcpy (msg->u.error.code, "Bad");
    s_refused (msg, "uppercase code");

    rally_msg_init (msg, RALLY_MSG_CLUSTER);
    msg->u.cluster.node_count = RALLY_STATUS_NODES_MAX + 1;
    s_refused (msg, "17 nodes");
    rally_msg_init (msg, RALLY_MSG_MATCHES);
    msg->u.matches.count = RALLY_STATUS_MATCHES_MAX + 1;
    s_refused (msg, "65 matches");
    msg->u.matches.count = 1;
    s_refused (msg, "a match with id 0 and no names");
    free (msg);
}
END_TEST

//  --------------------------------------------------------------------------
//  Helpers

START_TEST (errors_always_encode)
{
    //  200 two-byte characters: cut to 80 of them, never inside one.
    char reason[512];
    s_repeat (reason, "\xc3\xa9", 200);
    rally_origin_t from = { .term = 3, .node = 2 };
    rally_msg_t msg;
    rally_msg_error (&msg, &from, "bad_name", reason);
    ck_assert_uint_eq (strlen (msg.u.error.reason), RALLY_REASON_MAX);
    ck_assert_uint_eq (msg.u.error.from.node, 2);
    s_round_trip (&msg);

    //  Bytes that are not UTF-8 are dropped, the rest kept.
    rally_msg_error (&msg, NULL, "bad_message", "a\xff\xc3" "b\xe2\x82\xac");
    ck_assert_str_eq (msg.u.error.reason, "ab\xe2\x82\xac");
    ck_assert_uint_eq (msg.u.error.from.term, 0);
    s_round_trip (&msg);
}
END_TEST

START_TEST (names)
{
    char reason[100];
    char name[80];
    ck_assert (rally_msg_name_valid ("alice", reason, sizeof (reason)));
    ck_assert_str_eq (reason, "");
    ck_assert (rally_msg_name_valid ("bob smith", reason, sizeof (reason)));
    s_repeat (name, "\xc3\xa9", 16);
    ck_assert (rally_msg_name_valid (name, reason, sizeof (reason)));
    s_repeat (name, "\xf0\x9f\x98\x80", 8);
    ck_assert (rally_msg_name_valid (name, reason, sizeof (reason)));
    s_repeat (name, "a", 16);
    ck_assert (rally_msg_name_valid (name, reason, sizeof (reason)));

    struct {
        const char *name;
        const char *word;
    } bad[] = {
        { "", "empty" },
        { "aaaaaaaaaaaaaaaaa", "16 characters" },
        { "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
          "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9" "a",
          "32 bytes" },
        { " bob", "space" },
        { "bob ", "space" },
        { " ", "space" },
        { "a\x01" "b", "control" },
        { "a\tb", "control" },
        { "a\x7f", "control" },
        { "a\xc2\x85" "b", "control" },     //  U+0085, C1
        { "a\xc2\x9f", "control" },         //  U+009F, C1
        { "\xc0\xaf", "UTF-8" },            //  overlong '/'
        { "\xe0\x80\xaf", "UTF-8" },        //  overlong, three bytes
        { "\xed\xa0\x80", "UTF-8" },        //  surrogate
        { "\xf4\x90\x80\x80", "UTF-8" },    //  above U+10FFFF
        { "\xe2\x82", "UTF-8" },            //  cut short
        { "\x80" "abc", "UTF-8" },          //  stray continuation
        { "\xff", "UTF-8" },
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        strcpy (reason, "unset");
        ck_assert_msg (!rally_msg_name_valid (bad[i].name, reason,
                                              sizeof (reason)),
                       "accepted bad name %zu", i);
        ck_assert_msg (strstr (reason, bad[i].word), "name %zu: '%s'", i,
                       reason);
    }
    ck_assert (rally_msg_name_valid ("a\xc2\xa0" "b", reason, sizeof (reason)));
    ck_assert (!rally_msg_name_valid (NULL, reason, sizeof (reason)));
    //  A small reason buffer is still terminated.
    char tiny[5];
    ck_assert (!rally_msg_name_valid ("", tiny, sizeof (tiny)));
    ck_assert_str_eq (tiny, "name");
}
END_TEST

START_TEST (reason_truncated)
{
    char reason[8];
    memset (reason, 'x', sizeof (reason));
    rally_msg_t msg;
    ck_assert_int_eq (rally_msg_decode (&msg, (const uint8_t *) "\x07", 1,
                                        reason, sizeof (reason)), -1);
    ck_assert_str_eq (reason, "message");
    ck_assert_int_eq (rally_msg_decode (&msg, (const uint8_t *) "\x07", 1,
                                        NULL, 0), -1);
}
END_TEST

START_TEST (type_names_and_topics)
{
    const char *expect[] = { "?", "where", "leader", "node_hb", "join",
                             "joined", "resume", "queued", "match", "input",
                             "requeue", "leave", "ping", "pong", "state",
                             "error", "status", "cluster", "matches", "sync",
                             "ack", "lease", "fetch", "results", "watch",
                             "crowd", "history", "standings", "board",
                             "busy", "have" };
    ck_assert_uint_eq (sizeof (expect) / sizeof (expect[0]),
                       RALLY_MSG_TYPE_COUNT);
    for (int i = 0; i < RALLY_MSG_TYPE_COUNT; i++)
        ck_assert_str_eq (rally_msg_type_name ((rally_msg_type_t) i),
                          expect[i]);
    ck_assert_str_eq (rally_msg_type_name (RALLY_MSG_TYPE_COUNT), "?");

    char topic[9];
    rally_msg_match_topic (1, topic);
    ck_assert_str_eq (topic, "00000001");
    rally_msg_match_topic (0xdeadbeef, topic);
    ck_assert_str_eq (topic, "deadbeef");
    rally_msg_match_topic (UINT32_MAX, topic);
    ck_assert_str_eq (topic, "ffffffff");
}
END_TEST

static void s_recv_msg (zsock_t *sock, rally_msg_t *msg, rally_msg_type_t type)
{
    zframe_t *frame = zframe_recv (sock);
    ck_assert_ptr_nonnull (frame);
    char reason[100];
    ck_assert_int_eq (rally_msg_decode (msg, zframe_data (frame),
                                        zframe_size (frame), reason,
                                        sizeof (reason)), 0);
    ck_assert_int_eq (msg->type, type);
    zframe_destroy (&frame);
}

START_TEST (sockets)
{
    zsock_t *router = rally_msg_socket_new (ZMQ_ROUTER);
    ck_assert_ptr_nonnull (router);
    ck_assert_int_eq (zsock_bind (router, "inproc://test_msg_router"), 0);
    zsock_t *dealer = zsock_new_dealer (">inproc://test_msg_router");
    ck_assert_ptr_nonnull (dealer);
    ck_assert_int_eq (zsock_maxmsgsize (router), RALLY_MSG_MAX_BYTES);
    ck_assert_int_eq (zsock_linger (router), 0);
    ck_assert_int_eq (zsock_sndtimeo (router), 0);
    zsock_set_rcvtimeo (router, 2000);
    zsock_set_rcvtimeo (dealer, 2000);

    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_PING);
    msg.u.ping.nonce = 99;
    ck_assert_int_eq (rally_msg_send (&msg, dealer), 0);
    zframe_t *routing_id = zframe_recv (router);
    ck_assert_ptr_nonnull (routing_id);
    s_recv_msg (router, &msg, RALLY_MSG_PING);
    ck_assert_uint_eq (msg.u.ping.nonce, 99);

    rally_msg_init (&msg, RALLY_MSG_PONG);
    msg.u.pong.nonce = 99;
    ck_assert_int_eq (rally_msg_send_to (&msg, router, routing_id), 0);
    ck_assert_int_eq (rally_msg_send_to (&msg, router, routing_id), 0);
    ck_assert_uint_gt (zframe_size (routing_id), 0);   //  still ours
    s_recv_msg (dealer, &msg, RALLY_MSG_PONG);
    s_recv_msg (dealer, &msg, RALLY_MSG_PONG);
    ck_assert_uint_eq (msg.u.pong.nonce, 99);
    msg.u.pong.from.node = 300;
    ck_assert_int_eq (rally_msg_send (&msg, dealer), -1);
    ck_assert_int_eq (rally_msg_send_to (&msg, router, routing_id), -1);
    zframe_destroy (&routing_id);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
}
END_TEST

START_TEST (publish)
{
    zsock_t *pub = zsock_new_pub ("inproc://test_msg_pub");
    zsock_t *sub = zsock_new_sub (">inproc://test_msg_pub", "0000002a");
    ck_assert_ptr_nonnull (pub);
    ck_assert_ptr_nonnull (sub);
    rally_msg_t msg;
    s_state_full (&msg);
    msg.u.state.match = 42;
    char topic[9];
    rally_msg_match_topic (42, topic);
    //  Subscriptions travel asynchronously: publish until one arrives.
    zpoller_t *poller = zpoller_new (sub, NULL);
    void *which = NULL;
    for (int i = 0; i < 100 && !which; i++) {
        ck_assert_int_eq (rally_msg_publish (&msg, pub, topic), 0);
        which = zpoller_wait (poller, 20);
    }
    ck_assert_ptr_eq (which, sub);
    char *got = zstr_recv (sub);
    ck_assert_str_eq (got, "0000002a");
    zstr_free (&got);
    rally_msg_t back;
    s_recv_msg (sub, &back, RALLY_MSG_STATE);
    ck_assert_uint_eq (back.u.state.match, 42);
    ck_assert_int_eq (back.u.state.ball[1], -(RALLY_COORD_LIMIT - 1));
    msg.u.state.phase = 9;
    ck_assert_int_eq (rally_msg_publish (&msg, pub, topic), -1);
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    zsock_destroy (&pub);
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *suite = suite_create ("rally_msg");
    TCase *round = tcase_create ("round_trip");
    tcase_add_test (round, round_trip_bare);
    tcase_add_test (round, round_trip_leader_and_hb);
    tcase_add_test (round, round_trip_lobby);
    tcase_add_test (round, round_trip_results);
    tcase_add_test (round, round_trip_match_and_input);
    tcase_add_test (round, round_trip_ping_pong_error);
    tcase_add_test (round, round_trip_state);
    tcase_add_test (round, round_trip_cluster_full);
    tcase_add_test (round, round_trip_matches_full);
    tcase_add_test (round, round_trip_replication_control);
    tcase_add_test (round, lease_keys);
    tcase_add_test (round, wire_order_and_bytes);
    tcase_add_test (round, decode_any_order_any_width);
    suite_add_tcase (suite, round);

    TCase *framing = tcase_create ("framing");
    tcase_add_test (framing, reject_empty_and_oversized);
    tcase_add_test (framing, reject_every_truncation);
    tcase_add_test (framing, reject_trailing_bytes);
    tcase_add_test (framing, reject_not_a_map);
    tcase_add_test (framing, reject_hostile_headers);
    tcase_add_test (framing, reject_too_deep);
    tcase_add_test (framing, reject_too_many_objects);
    tcase_add_test (framing, mutations);
    suite_add_tcase (suite, framing);

    TCase *schema = tcase_create ("schema");
    tcase_add_test (schema, reject_header);
    tcase_add_test (schema, reject_missing_extra_duplicate);
    tcase_add_test (schema, reject_wrong_types);
    tcase_add_test (schema, reject_tokens);
    tcase_add_test (schema, reject_strings);
    tcase_add_test (schema, reject_ranges);
    tcase_add_test (schema, reject_replication_control);
    tcase_add_test (schema, reject_lists);
    tcase_add_test (schema, encoder_refuses);
    suite_add_tcase (suite, schema);

    TCase *helpers = tcase_create ("helpers");
    tcase_add_test (helpers, names);
    tcase_add_test (helpers, errors_always_encode);
    tcase_add_test (helpers, reason_truncated);
    tcase_add_test (helpers, type_names_and_topics);
    tcase_add_test (helpers, sockets);
    tcase_add_test (helpers, publish);
    tcase_set_timeout (helpers, 20);
    suite_add_tcase (suite, helpers);
    return suite;
}
