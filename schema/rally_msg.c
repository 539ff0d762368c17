/*  rally_msg - the Rally wire codec.

    Wire format (protocol version 1; schema/README.md is the full reference)

    One ZeroMQ frame holds exactly one MessagePack map and nothing after it.
    Keys are str. Every map has
        "v"     uint, must equal RALLY_PROTOCOL_VERSION (1)
        "type"  str, the wire name: where, leader, node_hb, join, joined,
                resume, queued, match, input, requeue, leave, ping, pong,
                state, error, status, cluster, matches, sync, ack, lease,
                fetch, results, watch, crowd,
                history, standings, board, busy, have
    and then exactly the fields of its type, named as the C struct fields.
    A message from a game node carries its rally_origin_t flattened as
    "term" (uint64) and "node" (uint, 0..255; 0 is the broker).

    The encoder writes v, type, then the fields in struct order; the decoder
    accepts any key order but refuses duplicate, unknown and missing keys.
    Unsigned fields are msgpack positive ints, signed fields ints of either
    sign, of any width that holds a value in range. Strings are msgpack str
    (never bin) of valid UTF-8 with no NUL byte, within a byte limit; tokens
    are bin of exactly 16 bytes. Fixed arrays (score, ball, paddles, intents,
    names) have exactly their C length; lists (cluster.nodes,
    matches.matches) are arrays of 0..max maps, each with exactly its
    fields, and their length is the struct's node_count or count.

    One table per type below describes its fields: key, kind, range, where
    the value lives in rally_msg_t. The encoder and the decoder both walk
    that table and both check every value with the same functions, so they
    cannot drift apart, and the encoder refuses what the decoder would.

    The kinds, the checks on every value, the decoding and encoding of a
    scalar or fixed array, and the frame around a message (its size limit,
    the pre-walk that reads every msgpack header before msgpack-c may
    allocate from one, the "v" and "type" keys) live in rally_field.c,
    which rally_repl.c stands on too. This file holds the tables, the lists
    of maps, and the top map's keys.
*/
#include "rally_msg.h"
#include "rally_field.h"

#include <assert.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

//  A schema's deepest nesting: matches -> list -> map -> score array.
#define S_MAX_DEPTH     4
//  More objects than any valid message holds; a belt on top of the bytes.
#define S_MAX_OBJECTS   4096

//  --------------------------------------------------------------------------
//  Field tables

//  A list field's elements: maps of these fields, elem_size bytes apart.
struct rally_field_list_s {
    const rally_field_t *fields;    //  fields of each element
    size_t field_count;
    size_t elem_size;               //  bytes between elements in the struct
    size_t count_offset;            //  uint32 element count, from the base
};

#define F       RALLY_FIELD
#define F_ARRAY RALLY_FIELD_ARRAY
#define F_LIST(T, key, f, max, list) \
    { key, RALLY_FIELD_LIST, 0, max, offsetof (T, f), 0, 0, list }

#define U32 UINT32_MAX
#define U64 UINT64_MAX
#define COORD (RALLY_COORD_LIMIT - 1)
#define M rally_msg_t

//  The origin of a node's message; node 0 is the broker.
#define F_ORIGIN(t) \
    F (M, UINT, "term", u.t.from.term, 0, U64), \
    F (M, UINT, "node", u.t.from.node, 0, RALLY_NODE_ID_MAX)

static const rally_field_t s_leader[] = {
    F_ORIGIN (leader),
    F (M, STR, "game", u.leader.game, 1, RALLY_ENDPOINT_MAX),
    F (M, STR, "state", u.leader.state, 1, RALLY_ENDPOINT_MAX),
    F (M, STR, "key", u.leader.key, 0, RALLY_KEY_MAX),
};

static const rally_field_t s_node_hb[] = {
    F (M, UINT, "term", u.node_hb.from.term, 0, U64),
    F (M, UINT, "node", u.node_hb.from.node, 1, RALLY_NODE_ID_MAX),
    F (M, UINT, "role", u.node_hb.role, 0, 1),
    F (M, UINT, "seq", u.node_hb.seq, 0, U64),
    F (M, UINT, "matches", u.node_hb.matches, 0, U32),
    F (M, UINT, "players", u.node_hb.players, 0, U32),
    F (M, STR, "game", u.node_hb.game, 1, RALLY_ENDPOINT_MAX),
    F (M, STR, "state", u.node_hb.state, 1, RALLY_ENDPOINT_MAX),
    F (M, UINT, "want", u.node_hb.want, 0, U64),
    F (M, UINT, "nonce", u.node_hb.nonce, 0, U64),
    F (M, UINT, "lag", u.node_hb.lag, 0, U64),
    F (M, UINT, "behind", u.node_hb.behind, 0, U32),
};

static const rally_field_t s_join[] = {
    F (M, STR, "name", u.join.name, 1, RALLY_NAME_MAX),
};

static const rally_field_t s_joined[] = {
    F_ORIGIN (joined),
    F (M, TOKEN, "token", u.joined.token, 0, 0),
    F (M, STR, "name", u.joined.name, 1, RALLY_NAME_MAX),
    F (M, UINT, "match", u.joined.match, 0, U32),
};

//  resume, requeue and leave share one struct, so one table.
static const rally_field_t s_token[] = {
    F (M, TOKEN, "token", u.resume.token, 0, 0),
};

static const rally_field_t s_queued[] = {
    F_ORIGIN (queued),
    F (M, UINT, "position", u.queued.position, 1, U32),
    F (M, STR, "name", u.queued.name, 1, RALLY_NAME_MAX),
};

static const rally_field_t s_match[] = {
    F_ORIGIN (match),
    F (M, UINT, "match", u.match.match, 1, U32),
    F (M, UINT, "side", u.match.side, 0, 1),
    F (M, UINT, "points", u.match.points, 1, RALLY_SCORE_MAX),
    F (M, UINT, "tick_hz", u.match.tick_hz, 10, 240),
    F_ARRAY (M, STR, "names", u.match.names, 1, RALLY_NAME_MAX),
};

static const rally_field_t s_input[] = {
    F (M, TOKEN, "token", u.input.token, 0, 0),
    F (M, INT, "intent", u.input.intent, -1, 1),
};

static const rally_field_t s_ping[] = {
    F (M, UINT, "nonce", u.ping.nonce, 0, U64),
};

static const rally_field_t s_pong[] = {
    F_ORIGIN (pong),
    F (M, UINT, "nonce", u.pong.nonce, 0, U64),
};

static const rally_field_t s_state[] = {
    F_ORIGIN (state),
    F (M, UINT, "seq", u.state.seq, 0, U64),
    F (M, UINT, "match", u.state.match, 1, U32),
    F (M, UINT, "tick", u.state.tick, 0, U32),
    F (M, UINT, "phase", u.state.phase, 0, RALLY_PHASE_OVER),
    F_ARRAY (M, UINT, "score", u.state.score, 0, RALLY_SCORE_MAX),
    F_ARRAY (M, INT, "ball", u.state.ball, -COORD, COORD),
    F_ARRAY (M, INT, "paddles", u.state.paddles, -COORD, COORD),
    F_ARRAY (M, INT, "intents", u.state.intents, -1, 1),
    F (M, UINT, "serve", u.state.serve, 0, 1),
    F (M, UINT, "countdown", u.state.countdown, 0, U32),
    F (M, INT, "winner", u.state.winner, -1, 1),
    F (M, UINT, "lost", u.state.lost, 0, 3),
    F (M, UINT, "points", u.state.points, 1, RALLY_SCORE_MAX),
    F_ARRAY (M, STR, "names", u.state.names, 1, RALLY_NAME_MAX),
};

static const rally_field_t s_error[] = {
    F_ORIGIN (error),
    F (M, CODE, "code", u.error.code, 1, RALLY_CODE_MAX),
    F (M, STR, "reason", u.error.reason, 0, RALLY_REASON_MAX),
};

#define N rally_node_info_t
static const rally_field_t s_node_info[] = {
    F (N, UINT, "id", id, 1, RALLY_NODE_ID_MAX),
    F (N, UINT, "role", role, 0, 1),
    F (N, UINT, "term", term, 0, U64),
    F (N, UINT, "seq", seq, 0, U64),
    F (N, UINT, "age_ms", age_ms, 0, U32),
    F (N, UINT, "matches", matches, 0, U32),
    F (N, UINT, "players", players, 0, U32),
    F (N, STR, "game", game, 1, RALLY_ENDPOINT_MAX),
    F (N, STR, "state", state, 1, RALLY_ENDPOINT_MAX),
    F (N, UINT, "lag", lag, 0, U64),
    F (N, UINT, "behind", behind, 0, U32),
};
#undef N

static const rally_field_list_t s_nodes_list = {
    s_node_info, sizeof (s_node_info) / sizeof (s_node_info[0]),
    sizeof (rally_node_info_t), offsetof (M, u.cluster.node_count)
};

static const rally_field_t s_cluster[] = {
    F (M, UINT, "term", u.cluster.term, 0, U64),
    F (M, UINT, "leader", u.cluster.leader, 0, RALLY_NODE_ID_MAX),
    F (M, UINT, "lease_holder", u.cluster.lease_holder, 0,
       RALLY_NODE_ID_MAX),
    F (M, UINT, "lease_term", u.cluster.lease_term, 0, U64),
    F (M, UINT, "lease_ms", u.cluster.lease_ms, 0, U32),
    F_LIST (M, "nodes", u.cluster.nodes, RALLY_STATUS_NODES_MAX,
            &s_nodes_list),
};

#define I rally_match_info_t
static const rally_field_t s_match_info[] = {
    F (I, UINT, "match", match, 1, U32),
    F (I, UINT, "tick", tick, 0, U32),
    F (I, UINT, "phase", phase, 0, RALLY_PHASE_OVER),
    F_ARRAY (I, UINT, "score", score, 0, RALLY_SCORE_MAX),
    F_ARRAY (I, STR, "names", names, 1, RALLY_NAME_MAX),
};
#undef I

static const rally_field_list_t s_matches_list = {
    s_match_info, sizeof (s_match_info) / sizeof (s_match_info[0]),
    sizeof (rally_match_info_t), offsetof (M, u.matches.count)
};

static const rally_field_t s_matches[] = {
    F_ORIGIN (matches),
    F (M, UINT, "waiting", u.matches.waiting, 0, U32),
    F (M, UINT, "total", u.matches.total, 0, U32),
    F_LIST (M, "matches", u.matches.matches, RALLY_STATUS_MATCHES_MAX,
            &s_matches_list),
};

//  sync and ack come from a follower, never the broker: node 1..255.
#define F_FOLLOWER(t) \
    F (M, UINT, "term", u.t.from.term, 0, U64), \
    F (M, UINT, "node", u.t.from.node, 1, RALLY_NODE_ID_MAX), \
    F (M, UINT, "seq", u.t.seq, 0, U64)

static const rally_field_t s_sync[] = {
    F_FOLLOWER (sync),
};

static const rally_field_t s_ack[] = {
    F_FOLLOWER (ack),
};

//  "term" is the origin's (0 from a broker), so the lease's is lease_term.
static const rally_field_t s_lease[] = {
    F_ORIGIN (lease),
    F (M, UINT, "lease_term", u.lease.lease_term, 0, U64),
    F (M, UINT, "holder", u.lease.holder, 0, RALLY_NODE_ID_MAX),
    F (M, UINT, "ms", u.lease.ms, 0, U32),
    F (M, UINT, "nonce", u.lease.nonce, 0, U64),
};

static const rally_field_t s_fetch[] = {
    F (M, UINT, "term", u.fetch.from.term, 0, U64),
    F (M, UINT, "node", u.fetch.from.node, 1, RALLY_NODE_ID_MAX),
    F (M, UINT, "after", u.fetch.after, 0, U32),
};

#define R rally_result_t
static const rally_field_t s_result[] = {
    F (R, UINT, "match", match, 1, U32),
    F_ARRAY (R, STR, "names", names, 1, RALLY_NAME_MAX),
    F_ARRAY (R, UINT, "score", score, 0, RALLY_SCORE_MAX),
    F (R, INT, "winner", winner, -1, 1),
    F (R, UINT, "forfeit", forfeit, 0, 1),
    F (R, UINT, "term", term, 0, U64),
};
#undef R

static const rally_field_list_t s_results_list = {
    s_result, sizeof (s_result) / sizeof (s_result[0]),
    sizeof (rally_result_t), offsetof (M, u.results.count)
};

static const rally_field_t s_results[] = {
    F_ORIGIN (results),
    F_LIST (M, "results", u.results.results, RALLY_RESULTS_MAX,
            &s_results_list),
};

static const rally_field_t s_watch[] = {
    F (M, UINT, "match", u.watch.match, 0, U32),
};

static const rally_field_t s_busy[] = {
    F_ORIGIN (busy),
    F (M, CODE, "code", u.busy.code, 1, RALLY_CODE_MAX),
    F (M, STR, "reason", u.busy.reason, 0, RALLY_REASON_MAX),
    F (M, UINT, "retry_ms", u.busy.retry_ms, 1, RALLY_RETRY_MS_MAX),
};

static const rally_field_t s_crowd[] = {
    F_ORIGIN (crowd),
    F (M, UINT, "match", u.crowd.match, 1, U32),
    F (M, UINT, "spectators", u.crowd.spectators, 0, RALLY_SPECTATORS_MAX),
    F (M, UINT, "grace", u.crowd.grace_ms, 0, U32),
};

static const rally_field_t s_history[] = {
    F (M, STR, "name", u.history.name, 0, RALLY_NAME_MAX),
    F (M, UINT, "before", u.history.before, 0, U32),
};

static const rally_field_t s_standings[] = {
    F (M, STR, "name", u.standings.name, 0, RALLY_NAME_MAX),
};

#define B rally_record_t
static const rally_field_t s_record[] = {
    F (B, STR, "name", name, 1, RALLY_NAME_MAX),
    F (B, UINT, "wins", wins, 0, U32),
    F (B, UINT, "losses", losses, 0, U32),
    F (B, UINT, "forfeits", forfeits, 0, U32),
};
#undef B

static const rally_field_list_t s_records_list = {
    s_record, sizeof (s_record) / sizeof (s_record[0]),
    sizeof (rally_record_t), offsetof (M, u.board.count)
};

static const rally_field_t s_board[] = {
    F_ORIGIN (board),
    F (M, UINT, "players", u.board.players, 0, U32),
    F (M, STR, "name", u.board.own.name, 0, RALLY_NAME_MAX),
    F (M, UINT, "wins", u.board.own.wins, 0, U32),
    F (M, UINT, "losses", u.board.own.losses, 0, U32),
    F (M, UINT, "forfeits", u.board.own.forfeits, 0, U32),
    F_LIST (M, "top", u.board.top, RALLY_BOARD_MAX, &s_records_list),
};

#define G rally_range_t
static const rally_field_t s_range[] = {
    F (G, UINT, "lo", lo, 1, U32),
    F (G, UINT, "hi", hi, 1, U32),
};
#undef G

static const rally_field_list_t s_ranges_list = {
    s_range, sizeof (s_range) / sizeof (s_range[0]),
    sizeof (rally_range_t), offsetof (M, u.have.count)
};

static const rally_field_t s_have[] = {
    F (M, UINT, "term", u.have.from.term, 0, U64),
    F (M, UINT, "node", u.have.from.node, 1, RALLY_NODE_ID_MAX),
    F (M, UINT, "lo", u.have.lo, 1, U32),
    F (M, UINT, "hi", u.have.hi, 1, U32),
    F (M, UINT, "top", u.have.top, 0, U32),
    F_LIST (M, "ranges", u.have.ranges, RALLY_HAVE_RANGES, &s_ranges_list),
};

typedef struct {
    const char *name;           //  wire name
    const rally_field_t *fields;    //  fields after v and type
    size_t field_count;
} s_type_t;

#define T(name, table) { name, table, sizeof (table) / sizeof (table[0]) }
static const s_type_t s_types[RALLY_MSG_TYPE_COUNT] = {
    [RALLY_MSG_WHERE] = { "where", NULL, 0 },
    [RALLY_MSG_LEADER] = T ("leader", s_leader),
    [RALLY_MSG_NODE_HB] = T ("node_hb", s_node_hb),
    [RALLY_MSG_JOIN] = T ("join", s_join),
    [RALLY_MSG_JOINED] = T ("joined", s_joined),
    [RALLY_MSG_RESUME] = T ("resume", s_token),
    [RALLY_MSG_QUEUED] = T ("queued", s_queued),
    [RALLY_MSG_MATCH] = T ("match", s_match),
    [RALLY_MSG_INPUT] = T ("input", s_input),
    [RALLY_MSG_REQUEUE] = T ("requeue", s_token),
    [RALLY_MSG_LEAVE] = T ("leave", s_token),
    [RALLY_MSG_PING] = T ("ping", s_ping),
    [RALLY_MSG_PONG] = T ("pong", s_pong),
    [RALLY_MSG_STATE] = T ("state", s_state),
    [RALLY_MSG_ERROR] = T ("error", s_error),
    [RALLY_MSG_STATUS] = { "status", NULL, 0 },
    [RALLY_MSG_CLUSTER] = T ("cluster", s_cluster),
    [RALLY_MSG_MATCHES] = T ("matches", s_matches),
    [RALLY_MSG_SYNC] = T ("sync", s_sync),
    [RALLY_MSG_ACK] = T ("ack", s_ack),
    [RALLY_MSG_LEASE] = T ("lease", s_lease),
    [RALLY_MSG_FETCH] = T ("fetch", s_fetch),
    [RALLY_MSG_RESULTS] = T ("results", s_results),
    [RALLY_MSG_WATCH] = T ("watch", s_watch),
    [RALLY_MSG_CROWD] = T ("crowd", s_crowd),
    [RALLY_MSG_HISTORY] = T ("history", s_history),
    [RALLY_MSG_STANDINGS] = T ("standings", s_standings),
    [RALLY_MSG_BOARD] = T ("board", s_board),
    [RALLY_MSG_BUSY] = T ("busy", s_busy),
    [RALLY_MSG_HAVE] = T ("have", s_have),
};
#undef T

//  A field's bit in a "seen" mask; every table has fewer than 32 fields.
#define S_BIT(i) ((uint32_t) 1 << (i))

//  --------------------------------------------------------------------------
//  Decoding a msgpack object into the struct

static int s_decode_fields (const rally_field_t *fields, size_t count,
                            const char *context, bool top,
                            const msgpack_object *map, uint8_t *base,
                            char *reason, size_t reason_size);

static int s_decode_list (const rally_field_t *f, const msgpack_object *o,
                          uint8_t *base, char *reason, size_t reason_size)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return rally_field_fail (reason, reason_size,
                                 "field '%s' must be an array", f->key);
    uint32_t n = o->via.array.size;
    if (n > f->max)
        return rally_field_fail (reason, reason_size,
                                 "field '%s' out of range: %u items > %u",
                                 f->key, (unsigned) n, (unsigned) f->max);
    const rally_field_list_t *list = f->list;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *item = &o->via.array.ptr[i];
        uint8_t *elem = base + f->offset + i * list->elem_size;
        if (s_decode_fields (list->fields, list->field_count, f->key, false,
                             item, elem, reason, reason_size))
            return -1;
    }
    memcpy (base + list->count_offset, &n, sizeof (n));
    return 0;
}

static int s_decode_value (const rally_field_t *f, const msgpack_object *o,
                           uint8_t *base, char *reason, size_t reason_size)
{
    if (f->kind == RALLY_FIELD_LIST)
        return s_decode_list (f, o, base, reason, reason_size);
    return rally_field_decode (f, o, base, reason, reason_size);
}

//  Index of key in fields, or -1.
static int s_find (const rally_field_t *fields, size_t count,
                   const msgpack_object *key)
{
    for (size_t i = 0; i < count; i++)
        if (rally_field_key_is (key, fields[i].key))
            return (int) i;
    return -1;
}

//  Decodes map into base by the table; context names the map in reasons.
//  The top map also holds "v" and "type", already read by s_decode_header
//  (which refused duplicates); they are passed over here.
static int s_decode_fields (const rally_field_t *fields, size_t count,
                            const char *context, bool top,
                            const msgpack_object *map, uint8_t *base,
                            char *reason, size_t reason_size)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return rally_field_fail (reason, reason_size,
                                 "items of '%s' must be maps", context);
    uint32_t seen = 0;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (top && (rally_field_key_is (&kv->key, "v")
                    || rally_field_key_is (&kv->key, "type")))
            continue;
        int at = s_find (fields, count, &kv->key);
        if (at < 0)
            return rally_field_unexpected (&kv->key, context, reason,
                                           reason_size);
        if (seen & S_BIT (at))
            return rally_field_fail (reason, reason_size,
                                     "duplicate field '%s' in %s",
                                     fields[at].key, context);
        seen |= S_BIT (at);
        if (s_decode_value (&fields[at], &kv->val, base, reason, reason_size))
            return -1;
    }
    for (size_t i = 0; i < count; i++)
        if (!(seen & S_BIT (i)))
            return rally_field_fail (reason, reason_size,
                                     "missing field '%s' in %s",
                                     fields[i].key, context);
    return 0;
}

//  Finds the one value of key in the top map; NULL if absent. Sets *dup if
//  the key occurs more than once.
static const msgpack_object *s_lookup (const msgpack_object *map,
                                       const char *key, bool *dup)
{
    const msgpack_object *found = NULL;
    *dup = false;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (rally_field_key_is (&map->via.map.ptr[i].key, key)) {
            *dup = found != NULL;
            if (*dup)
                return found;
            found = &map->via.map.ptr[i].val;
        }
    return found;
}

//  Reads "v" and "type" from the top map into *type.
static int s_decode_header (const msgpack_object *map, rally_msg_type_t *type,
                            char *reason, size_t reason_size)
{
    bool dup;
    const msgpack_object *v = s_lookup (map, "v", &dup);
    if (!v)
        return rally_field_fail (reason, reason_size, "missing field 'v'");
    if (dup)
        return rally_field_fail (reason, reason_size,
                                 "duplicate field 'v'");
    if (rally_field_check_version (v, reason, reason_size))
        return -1;
    const msgpack_object *t = s_lookup (map, "type", &dup);
    if (!t)
        return rally_field_fail (reason, reason_size,
                                 "missing field 'type'");
    if (dup)
        return rally_field_fail (reason, reason_size,
                                 "duplicate field 'type'");
    if (t->type != MSGPACK_OBJECT_STR)
        return rally_field_fail (reason, reason_size,
                                 "field 'type' must be a string");
    for (int i = 1; i < RALLY_MSG_TYPE_COUNT; i++)
        if (rally_field_key_is (t, s_types[i].name)) {
            *type = (rally_msg_type_t) i;
            return 0;
        }
    return rally_field_unknown_type (t, "message", reason, reason_size);
}

static int s_decode_object (rally_msg_t *msg, const msgpack_object *top,
                            char *reason, size_t reason_size)
{
    if (top->type != MSGPACK_OBJECT_MAP)
        return rally_field_fail (reason, reason_size, "message is not a map");
    rally_msg_type_t type = RALLY_MSG_WHERE;
    if (s_decode_header (top, &type, reason, reason_size))
        return -1;
    rally_msg_init (msg, type);
    const s_type_t *t = &s_types[type];
    return s_decode_fields (t->fields, t->field_count, t->name, true, top,
                            (uint8_t *) msg, reason, reason_size);
}

int rally_msg_decode (rally_msg_t *msg, const uint8_t *data, size_t size,
                      char *reason, size_t reason_size)
{
    assert (msg);
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    int rc = rally_field_unpack (&result, data, size, RALLY_MSG_MAX_BYTES,
                                 S_MAX_DEPTH, S_MAX_OBJECTS, reason,
                                 reason_size);
    if (rc == 0)
        rc = s_decode_object (msg, &result.data, reason, reason_size);
    msgpack_unpacked_destroy (&result);
    return rc;
}

//  --------------------------------------------------------------------------
//  Encoding the struct

static int s_encode_fields (msgpack_packer *pk, const rally_field_t *fields,
                            size_t count, const uint8_t *base);

static int s_encode_list (msgpack_packer *pk, const rally_field_t *f,
                          const uint8_t *base)
{
    const rally_field_list_t *list = f->list;
    uint32_t n;
    memcpy (&n, base + list->count_offset, sizeof (n));
    if (n > f->max || msgpack_pack_array (pk, n))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *elem = base + f->offset + i * list->elem_size;
        if (msgpack_pack_map (pk, list->field_count)
            || s_encode_fields (pk, list->fields, list->field_count, elem))
            return -1;
    }
    return 0;
}

static int s_encode_value (msgpack_packer *pk, const rally_field_t *f,
                           const uint8_t *base)
{
    if (f->kind == RALLY_FIELD_LIST)
        return s_encode_list (pk, f, base);
    return rally_field_encode (pk, f, base);
}

static int s_encode_fields (msgpack_packer *pk, const rally_field_t *fields,
                            size_t count, const uint8_t *base)
{
    for (size_t i = 0; i < count; i++)
        if (rally_field_pack_str (pk, fields[i].key)
            || s_encode_value (pk, &fields[i], base))
            return -1;
    return 0;
}

zframe_t *rally_msg_encode (const rally_msg_t *msg)
{
    assert (msg);
    if (msg->type < 1 || msg->type >= RALLY_MSG_TYPE_COUNT)
        return NULL;
    const s_type_t *t = &s_types[msg->type];
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    int rc = rally_field_pack_head (&pk, 2 + t->field_count, t->name)
          || s_encode_fields (&pk, t->fields, t->field_count,
                              (const uint8_t *) msg);
    zframe_t *frame = NULL;
    if (rc == 0 && sbuf.size <= RALLY_MSG_MAX_BYTES)
        frame = zframe_new (sbuf.data, sbuf.size);
    msgpack_sbuffer_destroy (&sbuf);
    return frame;
}

//  --------------------------------------------------------------------------
//  Helpers

const char *rally_msg_type_name (rally_msg_type_t type)
{
    if (type < 1 || type >= RALLY_MSG_TYPE_COUNT)
        return "?";
    return s_types[type].name;
}

void rally_msg_init (rally_msg_t *msg, rally_msg_type_t type)
{
    assert (msg);
    memset (msg, 0, sizeof (*msg));
    msg->type = type;
}

int rally_msg_send (const rally_msg_t *msg, zsock_t *sock)
{
    zframe_t *frame = rally_msg_encode (msg);
    if (!frame)
        return -1;
    int rc = zframe_send (&frame, sock, 0);
    zframe_destroy (&frame);
    return rc;
}

int rally_msg_send_to (const rally_msg_t *msg, zsock_t *router,
                       zframe_t *routing_id)
{
    assert (routing_id);
    zframe_t *frame = rally_msg_encode (msg);
    if (!frame)
        return -1;
    int rc = zframe_send (&routing_id, router, ZFRAME_MORE | ZFRAME_REUSE);
    if (rc == 0)
        rc = zframe_send (&frame, router, 0);
    zframe_destroy (&frame);
    return rc;
}

int rally_msg_publish (const rally_msg_t *msg, zsock_t *pub,
                       const char *topic)
{
    assert (topic);
    zframe_t *frame = rally_msg_encode (msg);
    if (!frame)
        return -1;
    int rc = zstr_sendm (pub, topic);
    if (rc == 0)
        rc = zframe_send (&frame, pub, 0);
    zframe_destroy (&frame);
    return rc;
}

void rally_msg_match_topic (uint32_t match, char *buf)
{
    assert (buf);
    snprintf (buf, 9, "%08x", (unsigned) match);
}

#define S_STR(x)    #x
#define S_XSTR(x)   S_STR (x)

//  Says why name is not acceptable, or NULL if it is.
static const char *s_name_problem (const char *name)
{
    size_t len = strlen (name);
    if (len == 0)
        return "name is empty";
    if (len > RALLY_NAME_MAX)
        return "name is longer than " S_XSTR (RALLY_NAME_MAX) " bytes (a name"
               " is at most " S_XSTR (RALLY_NAME_MAX_CHARS) " characters and "
               S_XSTR (RALLY_NAME_MAX) " bytes of UTF-8)";
    if (name[0] == ' ' || name[len - 1] == ' ')
        return "name starts or ends with a space";
    const uint8_t *p = (const uint8_t *) name;
    size_t chars = 0;
    for (size_t i = 0; i < len; chars++) {
        uint32_t cp;
        size_t n = rally_field_utf8_next (p + i, len - i, &cp);
        if (n == 0)
            return "name is not valid UTF-8";
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return "name contains a control character";
        i += n;
    }
    if (chars > RALLY_NAME_MAX_CHARS)
        return "name has more than " S_XSTR (RALLY_NAME_MAX_CHARS)
               " characters";
    return NULL;
}

bool rally_msg_name_valid (const char *name, char *reason, size_t reason_size)
{
    const char *problem = name ? s_name_problem (name) : "name is missing";
    if (problem)
        rally_field_fail (reason, reason_size, "%s", problem);
    else if (reason && reason_size > 0)
        reason[0] = 0;
    return problem == NULL;
}

void rally_msg_error (rally_msg_t *msg, const rally_origin_t *from,
                      const char *code, const char *reason)
{
    assert (msg && code);
    rally_msg_init (msg, RALLY_MSG_ERROR);
    if (from) {
        //  Field by field: a struct copy would bring the caller's padding.
        msg->u.error.from.term = from->term;
        msg->u.error.from.node = from->node;
    }
    snprintf (msg->u.error.code, sizeof (msg->u.error.code), "%s", code);
    const uint8_t *p = (const uint8_t *) (reason? reason: "");
    size_t len = strlen ((const char *) p), out = 0;
    char *dest = msg->u.error.reason;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = rally_field_utf8_next (p + i, len - i, &cp);
        if (n == 0) {
            i++;                //  not UTF-8: drop the byte
            continue;
        }
        if (out + n > RALLY_REASON_MAX)
            break;
        memcpy (dest + out, p + i, n);
        out += n;
        i += n;
    }
    dest[out] = 0;
}

zsock_t *rally_msg_socket_new (int type)
{
    zsock_t *sock = zsock_new (type);
    if (sock) {
        zsock_set_maxmsgsize (sock, RALLY_MSG_MAX_BYTES);
        zsock_set_linger (sock, 0);
        zsock_set_sndtimeo (sock, 0);
        zsock_set_heartbeat_ivl (sock, RALLY_MSG_LINK_PING_MS);
        zsock_set_heartbeat_timeout (sock, RALLY_MSG_LINK_TIMEOUT_MS);
    }
    return sock;
}
