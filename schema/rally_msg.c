/*  rally_msg - the Rally wire codec.

    Wire format (protocol version 1; schema/README.md is the full reference)

    One ZeroMQ frame holds exactly one MessagePack map and nothing after it.
    Keys are str. Every map has
        "v"     uint, must equal RALLY_PROTOCOL_VERSION (1)
        "type"  str, the wire name: where, leader, node_hb, join, joined,
                resume, queued, match, input, requeue, leave, ping, pong,
                state, error, status, cluster, matches, sync, ack, lease,
                fetch, results
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

    msgpack-c's unpacker allocates arrays and maps from their header counts
    before the elements arrive, so rally_msg_prewalk reads every header of
    the raw bytes first and refuses any length or count larger than the
    bytes left, nesting deeper than the schema, and anything but one object
    that ends exactly at the end of the frame. Only then does
    msgpack_unpack_next see the bytes. rally_repl.c runs the same pre-walk
    on replication frames, with its own depth and object limits.
*/
#include "rally_msg.h"

#include <assert.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

//  A schema's deepest nesting: matches -> list -> map -> score array.
#define S_MAX_DEPTH     4
//  More objects than any valid message holds; a belt on top of the bytes.
#define S_MAX_OBJECTS   4096

//  --------------------------------------------------------------------------
//  Field tables

typedef enum {
    S_UINT,         //  unsigned integer, width 4 or 8
    S_INT,          //  signed integer, width 4
    S_STR,          //  UTF-8 str into a char buffer of width bytes
    S_CODE,         //  S_STR of [a-z_] only
    S_TOKEN,        //  bin of exactly RALLY_TOKEN_SIZE bytes
    S_LIST          //  array of maps described by a s_list_t
} s_kind_t;

typedef struct s_field_s s_field_t;

typedef struct {
    const s_field_t *fields;    //  fields of each element
    size_t field_count;
    size_t elem_size;           //  bytes between elements in the struct
    size_t count_offset;        //  uint32 element count, from the base
} s_list_t;

struct s_field_s {
    const char *key;            //  key on the wire
    s_kind_t kind;              //  what the value is
    int64_t min;                //  least value, or least string length
    uint64_t max;               //  greatest value, string length, or items
    size_t offset;              //  where the value lives, from the base
    size_t width;               //  bytes of one value (buffer for strings)
    size_t count;               //  0: scalar; n: array of exactly n
    const s_list_t *list;       //  S_LIST only
};

#define S_SIZE(T, f)   sizeof (((T *) 0)->f)
#define S_COUNT(T, f)  (S_SIZE (T, f) / S_SIZE (T, f[0]))

#define F_UINT(T, key, f, lo, hi) \
    { key, S_UINT, lo, hi, offsetof (T, f), S_SIZE (T, f), 0, NULL }
#define F_UINTS(T, key, f, lo, hi) \
    { key, S_UINT, lo, hi, offsetof (T, f), S_SIZE (T, f[0]), \
      S_COUNT (T, f), NULL }
#define F_INT(T, key, f, lo, hi) \
    { key, S_INT, lo, hi, offsetof (T, f), S_SIZE (T, f), 0, NULL }
#define F_INTS(T, key, f, lo, hi) \
    { key, S_INT, lo, hi, offsetof (T, f), S_SIZE (T, f[0]), \
      S_COUNT (T, f), NULL }
#define F_STR(T, key, f, lo, hi) \
    { key, S_STR, lo, hi, offsetof (T, f), S_SIZE (T, f), 0, NULL }
#define F_STRS(T, key, f, lo, hi) \
    { key, S_STR, lo, hi, offsetof (T, f), S_SIZE (T, f[0]), \
      S_COUNT (T, f), NULL }
#define F_CODE(T, key, f, lo, hi) \
    { key, S_CODE, lo, hi, offsetof (T, f), S_SIZE (T, f), 0, NULL }
#define F_TOKEN(T, key, f) \
    { key, S_TOKEN, 0, 0, offsetof (T, f), S_SIZE (T, f), 0, NULL }
#define F_LIST(T, key, f, max, list) \
    { key, S_LIST, 0, max, offsetof (T, f), 0, 0, list }

#define U32 UINT32_MAX
#define U64 UINT64_MAX
#define COORD (RALLY_COORD_LIMIT - 1)
#define M rally_msg_t

//  The origin of a node's message; node 0 is the broker.
#define F_ORIGIN(t) \
    F_UINT (M, "term", u.t.from.term, 0, U64), \
    F_UINT (M, "node", u.t.from.node, 0, RALLY_NODE_ID_MAX)

static const s_field_t s_leader[] = {
    F_ORIGIN (leader),
    F_STR (M, "game", u.leader.game, 1, RALLY_ENDPOINT_MAX),
    F_STR (M, "state", u.leader.state, 1, RALLY_ENDPOINT_MAX),
};

static const s_field_t s_node_hb[] = {
    F_UINT (M, "term", u.node_hb.from.term, 0, U64),
    F_UINT (M, "node", u.node_hb.from.node, 1, RALLY_NODE_ID_MAX),
    F_UINT (M, "role", u.node_hb.role, 0, 1),
    F_UINT (M, "seq", u.node_hb.seq, 0, U64),
    F_UINT (M, "matches", u.node_hb.matches, 0, U32),
    F_UINT (M, "players", u.node_hb.players, 0, U32),
    F_STR (M, "game", u.node_hb.game, 1, RALLY_ENDPOINT_MAX),
    F_STR (M, "state", u.node_hb.state, 1, RALLY_ENDPOINT_MAX),
    F_UINT (M, "want", u.node_hb.want, 0, U64),
    F_UINT (M, "nonce", u.node_hb.nonce, 0, U64),
    F_UINT (M, "lag", u.node_hb.lag, 0, U64),
};

static const s_field_t s_join[] = {
    F_STR (M, "name", u.join.name, 1, RALLY_NAME_MAX),
};

static const s_field_t s_joined[] = {
    F_ORIGIN (joined),
    F_TOKEN (M, "token", u.joined.token),
    F_STR (M, "name", u.joined.name, 1, RALLY_NAME_MAX),
    F_UINT (M, "match", u.joined.match, 0, U32),
};

//  resume, requeue and leave share one struct, so one table.
static const s_field_t s_token[] = {
    F_TOKEN (M, "token", u.resume.token),
};

static const s_field_t s_queued[] = {
    F_ORIGIN (queued),
    F_UINT (M, "position", u.queued.position, 1, U32),
    F_STR (M, "name", u.queued.name, 1, RALLY_NAME_MAX),
};

static const s_field_t s_match[] = {
    F_ORIGIN (match),
    F_UINT (M, "match", u.match.match, 1, U32),
    F_UINT (M, "side", u.match.side, 0, 1),
    F_UINT (M, "points", u.match.points, 1, RALLY_SCORE_MAX),
    F_UINT (M, "tick_hz", u.match.tick_hz, 10, 240),
    F_STRS (M, "names", u.match.names, 1, RALLY_NAME_MAX),
};

static const s_field_t s_input[] = {
    F_TOKEN (M, "token", u.input.token),
    F_INT (M, "intent", u.input.intent, -1, 1),
};

static const s_field_t s_ping[] = {
    F_UINT (M, "nonce", u.ping.nonce, 0, U64),
};

static const s_field_t s_pong[] = {
    F_ORIGIN (pong),
    F_UINT (M, "nonce", u.pong.nonce, 0, U64),
};

static const s_field_t s_state[] = {
    F_ORIGIN (state),
    F_UINT (M, "seq", u.state.seq, 0, U64),
    F_UINT (M, "match", u.state.match, 1, U32),
    F_UINT (M, "tick", u.state.tick, 0, U32),
    F_UINT (M, "phase", u.state.phase, 0, RALLY_PHASE_OVER),
    F_UINTS (M, "score", u.state.score, 0, RALLY_SCORE_MAX),
    F_INTS (M, "ball", u.state.ball, -COORD, COORD),
    F_INTS (M, "paddles", u.state.paddles, -COORD, COORD),
    F_INTS (M, "intents", u.state.intents, -1, 1),
    F_UINT (M, "serve", u.state.serve, 0, 1),
    F_UINT (M, "countdown", u.state.countdown, 0, U32),
    F_INT (M, "winner", u.state.winner, -1, 1),
    F_UINT (M, "lost", u.state.lost, 0, 3),
    F_UINT (M, "points", u.state.points, 1, RALLY_SCORE_MAX),
    F_STRS (M, "names", u.state.names, 1, RALLY_NAME_MAX),
};

static const s_field_t s_error[] = {
    F_ORIGIN (error),
    F_CODE (M, "code", u.error.code, 1, RALLY_CODE_MAX),
    F_STR (M, "reason", u.error.reason, 0, RALLY_REASON_MAX),
};

#define N rally_node_info_t
static const s_field_t s_node_info[] = {
    F_UINT (N, "id", id, 1, RALLY_NODE_ID_MAX),
    F_UINT (N, "role", role, 0, 1),
    F_UINT (N, "term", term, 0, U64),
    F_UINT (N, "seq", seq, 0, U64),
    F_UINT (N, "age_ms", age_ms, 0, U32),
    F_UINT (N, "matches", matches, 0, U32),
    F_UINT (N, "players", players, 0, U32),
    F_STR (N, "game", game, 1, RALLY_ENDPOINT_MAX),
    F_STR (N, "state", state, 1, RALLY_ENDPOINT_MAX),
    F_UINT (N, "lag", lag, 0, U64),
};
#undef N

static const s_list_t s_nodes_list = {
    s_node_info, sizeof (s_node_info) / sizeof (s_node_info[0]),
    sizeof (rally_node_info_t), offsetof (M, u.cluster.node_count)
};

static const s_field_t s_cluster[] = {
    F_UINT (M, "term", u.cluster.term, 0, U64),
    F_UINT (M, "leader", u.cluster.leader, 0, RALLY_NODE_ID_MAX),
    F_UINT (M, "lease_holder", u.cluster.lease_holder, 0, RALLY_NODE_ID_MAX),
    F_UINT (M, "lease_term", u.cluster.lease_term, 0, U64),
    F_UINT (M, "lease_ms", u.cluster.lease_ms, 0, U32),
    F_LIST (M, "nodes", u.cluster.nodes, RALLY_STATUS_NODES_MAX,
            &s_nodes_list),
};

#define I rally_match_info_t
static const s_field_t s_match_info[] = {
    F_UINT (I, "match", match, 1, U32),
    F_UINT (I, "tick", tick, 0, U32),
    F_UINT (I, "phase", phase, 0, RALLY_PHASE_OVER),
    F_UINTS (I, "score", score, 0, RALLY_SCORE_MAX),
    F_STRS (I, "names", names, 1, RALLY_NAME_MAX),
};
#undef I

static const s_list_t s_matches_list = {
    s_match_info, sizeof (s_match_info) / sizeof (s_match_info[0]),
    sizeof (rally_match_info_t), offsetof (M, u.matches.count)
};

static const s_field_t s_matches[] = {
    F_ORIGIN (matches),
    F_UINT (M, "waiting", u.matches.waiting, 0, U32),
    F_UINT (M, "total", u.matches.total, 0, U32),
    F_LIST (M, "matches", u.matches.matches, RALLY_STATUS_MATCHES_MAX,
            &s_matches_list),
};

//  sync and ack come from a follower, never the broker: node 1..255.
#define F_FOLLOWER(t) \
    F_UINT (M, "term", u.t.from.term, 0, U64), \
    F_UINT (M, "node", u.t.from.node, 1, RALLY_NODE_ID_MAX), \
    F_UINT (M, "seq", u.t.seq, 0, U64)

static const s_field_t s_sync[] = {
    F_FOLLOWER (sync),
};

static const s_field_t s_ack[] = {
    F_FOLLOWER (ack),
};

//  "term" is the origin's (0 from a broker), so the lease's is lease_term.
static const s_field_t s_lease[] = {
    F_ORIGIN (lease),
    F_UINT (M, "lease_term", u.lease.lease_term, 0, U64),
    F_UINT (M, "holder", u.lease.holder, 0, RALLY_NODE_ID_MAX),
    F_UINT (M, "ms", u.lease.ms, 0, U32),
    F_UINT (M, "nonce", u.lease.nonce, 0, U64),
};

static const s_field_t s_fetch[] = {
    F_UINT (M, "term", u.fetch.from.term, 0, U64),
    F_UINT (M, "node", u.fetch.from.node, 1, RALLY_NODE_ID_MAX),
    F_UINT (M, "after", u.fetch.after, 0, U32),
};

#define R rally_result_t
static const s_field_t s_result[] = {
    F_UINT (R, "match", match, 1, U32),
    F_STRS (R, "names", names, 1, RALLY_NAME_MAX),
    F_UINTS (R, "score", score, 0, RALLY_SCORE_MAX),
    F_INT (R, "winner", winner, -1, 1),
    F_UINT (R, "forfeit", forfeit, 0, 1),
    F_UINT (R, "term", term, 0, U64),
};
#undef R

static const s_list_t s_results_list = {
    s_result, sizeof (s_result) / sizeof (s_result[0]),
    sizeof (rally_result_t), offsetof (M, u.results.count)
};

static const s_field_t s_results[] = {
    F_ORIGIN (results),
    F_LIST (M, "results", u.results.results, RALLY_RESULTS_MAX,
            &s_results_list),
};

typedef struct {
    const char *name;           //  wire name
    const s_field_t *fields;    //  fields after v and type
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
};
#undef T

//  A field's bit in a "seen" mask; every table has fewer than 32 fields.
#define S_BIT(i) ((uint32_t) 1 << (i))

//  --------------------------------------------------------------------------
//  Small helpers shared by both directions

static int s_fail (char *reason, size_t reason_size, const char *format, ...)
{
    if (reason && reason_size > 0) {
        va_list args;
        va_start (args, format);
        vsnprintf (reason, reason_size, format, args);
        va_end (args);
    }
    return -1;
}

void rally_msg_quote (char *buf, const char *text, size_t size)
{
    assert (buf && (text || size == 0));
    size_t n = size < RALLY_MSG_QUOTE_MAX ? size : RALLY_MSG_QUOTE_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) text[i];
        buf[i] = c >= 0x20 && c < 0x7f ? (char) c : '?';
    }
    strcpy (buf + n, size > n ? "..." : "");
}

//  Reads one UTF-8 code point from s (len bytes left). Returns its length,
//  or 0 if the bytes are not valid UTF-8: truncated, overlong, a surrogate,
//  above U+10FFFF, or a stray continuation byte.
static size_t s_utf8_next (const uint8_t *s, size_t len, uint32_t *cp)
{
    static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2
             : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || n > len)
        return 0;
    uint32_t value = n == 1 ? s[0] : s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        value = (value << 6) | (s[i] & 0x3f);
    }
    if (value < least[n] || value > 0x10ffff
        || (value >= 0xd800 && value <= 0xdfff))
        return 0;
    *cp = value;
    return n;
}

//  Checks a string of field key; a code is also [a-z_] only.
static int s_check_text (const char *key, const char *s, size_t len,
                         size_t min, size_t max, bool code, char *reason,
                         size_t reason_size)
{
    if (len < min || len > max)
        return s_fail (reason, reason_size,
                       "field '%s' must be %zu..%zu bytes, not %zu", key, min,
                       max, len);
    const uint8_t *p = (const uint8_t *) s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = s_utf8_next (p + i, len - i, &cp);
        if (n == 0)
            return s_fail (reason, reason_size,
                           "field '%s' is not valid UTF-8", key);
        if (cp == 0)
            return s_fail (reason, reason_size,
                           "field '%s' contains a NUL byte", key);
        if (code && cp != '_' && (cp < 'a' || cp > 'z'))
            return s_fail (reason, reason_size,
                           "field '%s' must be lowercase letters and '_'",
                           key);
        i += n;
    }
    return 0;
}

int rally_msg_check_str (const char *key, const char *s, size_t len,
                         size_t min, size_t max, char *reason,
                         size_t reason_size)
{
    assert (key && (s || len == 0));
    return s_check_text (key, s, len, min, max, false, reason, reason_size);
}

//  Checks a string value against its field; len is its length in bytes.
static int s_check_str (const s_field_t *f, const char *s, size_t len,
                        char *reason, size_t reason_size)
{
    return s_check_text (f->key, s, len, (size_t) f->min, (size_t) f->max,
                         f->kind == S_CODE, reason, reason_size);
}

static int s_check_uint (const s_field_t *f, uint64_t value, char *reason,
                         size_t reason_size)
{
    if (value > f->max)
        return s_fail (reason, reason_size,
                       "field '%s' out of range: %llu > %llu", f->key,
                       (unsigned long long) value,
                       (unsigned long long) f->max);
    if (value < (uint64_t) f->min)
        return s_fail (reason, reason_size,
                       "field '%s' out of range: %llu < %lld", f->key,
                       (unsigned long long) value, (long long) f->min);
    return 0;
}

static int s_check_int (const s_field_t *f, int64_t value, char *reason,
                        size_t reason_size)
{
    if (value > (int64_t) f->max)
        return s_fail (reason, reason_size,
                       "field '%s' out of range: %lld > %lld", f->key,
                       (long long) value, (long long) f->max);
    if (value < f->min)
        return s_fail (reason, reason_size,
                       "field '%s' out of range: %lld < %lld", f->key,
                       (long long) value, (long long) f->min);
    return 0;
}

//  --------------------------------------------------------------------------
//  Pre-walk: every msgpack header checked against the bytes, before any
//  allocation.

typedef struct {
    size_t size;        //  header plus inline payload, in bytes
    uint64_t children;  //  objects that follow inside it (map: 2 per entry)
} s_header_t;

static uint64_t s_be (const uint8_t *p, size_t n)
{
    uint64_t value = 0;
    for (size_t i = 0; i < n; i++)
        value = (value << 8) | p[i];
    return value;
}

//  Reads the header at p (left > 0 bytes). Returns 0, 1 if truncated, or
//  -1 if the byte is not a msgpack type.
static int s_header (const uint8_t *p, size_t left, s_header_t *h)
{
    uint8_t b = p[0];
    size_t len_bytes = 0;   //  bytes of the length that follows b
    size_t fixed = 0;       //  bytes of payload that are not counted
    int container = 0;      //  1 array, 2 map
    h->children = 0;
    h->size = 1;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if (b <= 0x8f) { h->children = 2 * (uint64_t) (b & 0x0f); return 0; }
    if (b <= 0x9f) { h->children = b & 0x0f; return 0; }
    if (b <= 0xbf) { h->size += b & 0x1f; return h->size > left; }
    switch (b) {
        case 0xc4: case 0xc5: case 0xc6:
            len_bytes = (size_t) 1 << (b - 0xc4); break;
        case 0xc7: case 0xc8: case 0xc9:
            len_bytes = (size_t) 1 << (b - 0xc7); fixed = 1; break;
        case 0xca: fixed = 4; break;
        case 0xcb: fixed = 8; break;
        case 0xcc: case 0xcd: case 0xce: case 0xcf:
            fixed = (size_t) 1 << (b - 0xcc); break;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3:
            fixed = (size_t) 1 << (b - 0xd0); break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
            fixed = 1 + ((size_t) 1 << (b - 0xd4)); break;
        case 0xd9: case 0xda: case 0xdb:
            len_bytes = (size_t) 1 << (b - 0xd9); break;
        case 0xdc: case 0xdd:
            len_bytes = (size_t) 2 << (b - 0xdc); container = 1; break;
        case 0xde: case 0xdf:
            len_bytes = (size_t) 2 << (b - 0xde); container = 2; break;
        default:
            return -1;      //  0xc1, never used
    }
    if (1 + len_bytes > left)
        return 1;
    uint64_t n = s_be (p + 1, len_bytes);
    h->size = 1 + len_bytes;
    if (container) {
        h->children = container == 2 ? 2 * n : n;
        return 0;
    }
    //  Lengths are at most 32 bits, so this sum does not overflow.
    uint64_t total = (uint64_t) h->size + fixed + n;
    if (total > left)
        return 1;
    h->size = (size_t) total;
    return 0;
}

//  One pass over the headers, with a count of objects still due at each
//  level; no allocation, so any frame is safe to walk.
int rally_msg_prewalk (const uint8_t *data, size_t size, size_t max_depth,
                       size_t max_objects, char *reason, size_t reason_size)
{
    assert (data || size == 0);
    assert (max_depth <= RALLY_MSG_DEPTH_MAX);
    uint64_t pending[RALLY_MSG_DEPTH_MAX + 1] = { 1 };  //  due per level
    size_t level = 0;
    size_t pos = 0;
    for (size_t objects = 1; ; objects++) {
        if (pos == size)
            return s_fail (reason, reason_size, "truncated message");
        if (objects > max_objects)
            return s_fail (reason, reason_size, "too many objects");
        s_header_t h;
        int rc = s_header (data + pos, size - pos, &h);
        if (rc < 0)
            return s_fail (reason, reason_size,
                           "invalid msgpack byte 0x%02x", data[pos]);
        if (rc > 0)
            return s_fail (reason, reason_size, "truncated message");
        uint8_t b = data[pos];
        pos += h.size;
        pending[level]--;
        int is_container = (b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf);
        if (is_container && level >= max_depth)
            return s_fail (reason, reason_size, "message nested too deep");
        if (h.children > size - pos)
            return s_fail (reason, reason_size,
                           "truncated message: count %llu exceeds the bytes "
                           "left", (unsigned long long) h.children);
        if (h.children > 0)
            pending[++level] = h.children;
        while (level > 0 && pending[level] == 0)
            level--;
        if (level == 0 && pending[0] == 0)
            break;
    }
    if (pos != size)
        return s_fail (reason, reason_size, "trailing bytes after the message");
    return 0;
}

//  --------------------------------------------------------------------------
//  Decoding a msgpack object into the struct

static int s_decode_fields (const s_field_t *fields, size_t count,
                            const char *context, bool top,
                            const msgpack_object *map, uint8_t *base,
                            char *reason, size_t reason_size);

static int s_decode_uint (const s_field_t *f, const msgpack_object *o,
                          uint8_t *dest, char *reason, size_t reason_size)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return s_fail (reason, reason_size,
                       "field '%s' must be an unsigned integer", f->key);
    uint64_t value = o->via.u64;
    if (s_check_uint (f, value, reason, reason_size))
        return -1;
    if (f->width == sizeof (uint64_t))
        memcpy (dest, &value, sizeof (value));
    else {
        uint32_t narrow = (uint32_t) value;
        memcpy (dest, &narrow, sizeof (narrow));
    }
    return 0;
}

static int s_decode_int (const s_field_t *f, const msgpack_object *o,
                         uint8_t *dest, char *reason, size_t reason_size)
{
    int64_t value;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        value = o->via.i64;
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        value = o->via.u64 > INT64_MAX ? INT64_MAX : (int64_t) o->via.u64;
    else
        return s_fail (reason, reason_size, "field '%s' must be an integer",
                       f->key);
    if (s_check_int (f, value, reason, reason_size))
        return -1;
    int32_t narrow = (int32_t) value;
    memcpy (dest, &narrow, sizeof (narrow));
    return 0;
}

static int s_decode_str (const s_field_t *f, const msgpack_object *o,
                         uint8_t *dest, char *reason, size_t reason_size)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return s_fail (reason, reason_size, "field '%s' must be a string",
                       f->key);
    size_t len = o->via.str.size;
    if (s_check_str (f, o->via.str.ptr, len, reason, reason_size))
        return -1;
    memcpy (dest, o->via.str.ptr, len);
    dest[len] = 0;
    return 0;
}

static int s_decode_token (const s_field_t *f, const msgpack_object *o,
                           uint8_t *dest, char *reason, size_t reason_size)
{
    if (o->type != MSGPACK_OBJECT_BIN)
        return s_fail (reason, reason_size, "field '%s' must be bin",
                       f->key);
    if (o->via.bin.size != RALLY_TOKEN_SIZE)
        return s_fail (reason, reason_size,
                       "field '%s' must be %d bytes, not %u", f->key,
                       RALLY_TOKEN_SIZE, (unsigned) o->via.bin.size);
    memcpy (dest, o->via.bin.ptr, RALLY_TOKEN_SIZE);
    return 0;
}

static int s_decode_scalar (const s_field_t *f, const msgpack_object *o,
                            uint8_t *dest, char *reason, size_t reason_size)
{
    switch (f->kind) {
        case S_UINT: return s_decode_uint (f, o, dest, reason, reason_size);
        case S_INT: return s_decode_int (f, o, dest, reason, reason_size);
        case S_TOKEN: return s_decode_token (f, o, dest, reason, reason_size);
        default: return s_decode_str (f, o, dest, reason, reason_size);
    }
}

static int s_decode_list (const s_field_t *f, const msgpack_object *o,
                          uint8_t *base, char *reason, size_t reason_size)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return s_fail (reason, reason_size, "field '%s' must be an array",
                       f->key);
    uint32_t n = o->via.array.size;
    if (n > f->max)
        return s_fail (reason, reason_size,
                       "field '%s' out of range: %u items > %u", f->key,
                       (unsigned) n, (unsigned) f->max);
    const s_list_t *list = f->list;
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

static int s_decode_value (const s_field_t *f, const msgpack_object *o,
                           uint8_t *base, char *reason, size_t reason_size)
{
    if (f->kind == S_LIST)
        return s_decode_list (f, o, base, reason, reason_size);
    if (f->count == 0)
        return s_decode_scalar (f, o, base + f->offset, reason, reason_size);
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != f->count)
        return s_fail (reason, reason_size,
                       "field '%s' must be an array of %zu", f->key,
                       f->count);
    for (size_t i = 0; i < f->count; i++) {
        uint8_t *dest = base + f->offset + i * f->width;
        if (s_decode_scalar (f, &o->via.array.ptr[i], dest, reason,
                             reason_size))
            return -1;
    }
    return 0;
}

static bool s_key_is (const msgpack_object *key, const char *name)
{
    size_t len = strlen (name);
    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == len
        && memcmp (key->via.str.ptr, name, len) == 0;
}

//  Index of key in fields, or -1.
static int s_find (const s_field_t *fields, size_t count,
                   const msgpack_object *key)
{
    for (size_t i = 0; i < count; i++)
        if (s_key_is (key, fields[i].key))
            return (int) i;
    return -1;
}

static int s_unexpected (const msgpack_object *key, const char *context,
                         char *reason, size_t reason_size)
{
    if (key->type != MSGPACK_OBJECT_STR)
        return s_fail (reason, reason_size, "map key in %s is not a string",
                       context);
    char quoted[RALLY_MSG_QUOTE_MAX + 4];
    rally_msg_quote (quoted, key->via.str.ptr, key->via.str.size);
    return s_fail (reason, reason_size, "unexpected field '%s' in %s",
                   quoted, context);
}

//  Decodes map into base by the table; context names the map in reasons.
//  The top map also holds "v" and "type", already read by s_decode_header
//  (which refused duplicates); they are passed over here.
static int s_decode_fields (const s_field_t *fields, size_t count,
                            const char *context, bool top,
                            const msgpack_object *map, uint8_t *base,
                            char *reason, size_t reason_size)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return s_fail (reason, reason_size, "items of '%s' must be maps",
                       context);
    uint32_t seen = 0;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (top && (s_key_is (&kv->key, "v") || s_key_is (&kv->key, "type")))
            continue;
        int at = s_find (fields, count, &kv->key);
        if (at < 0)
            return s_unexpected (&kv->key, context, reason, reason_size);
        if (seen & S_BIT (at))
            return s_fail (reason, reason_size, "duplicate field '%s' in %s",
                           fields[at].key, context);
        seen |= S_BIT (at);
        if (s_decode_value (&fields[at], &kv->val, base, reason, reason_size))
            return -1;
    }
    for (size_t i = 0; i < count; i++)
        if (!(seen & S_BIT (i)))
            return s_fail (reason, reason_size, "missing field '%s' in %s",
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
        if (s_key_is (&map->via.map.ptr[i].key, key)) {
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
        return s_fail (reason, reason_size, "missing field 'v'");
    if (dup)
        return s_fail (reason, reason_size, "duplicate field 'v'");
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return s_fail (reason, reason_size,
                       "field 'v' must be an unsigned integer");
    if (v->via.u64 != RALLY_PROTOCOL_VERSION)
        return s_fail (reason, reason_size, "unsupported protocol version %llu",
                       (unsigned long long) v->via.u64);
    const msgpack_object *t = s_lookup (map, "type", &dup);
    if (!t)
        return s_fail (reason, reason_size, "missing field 'type'");
    if (dup)
        return s_fail (reason, reason_size, "duplicate field 'type'");
    if (t->type != MSGPACK_OBJECT_STR)
        return s_fail (reason, reason_size, "field 'type' must be a string");
    for (int i = 1; i < RALLY_MSG_TYPE_COUNT; i++)
        if (s_key_is (t, s_types[i].name)) {
            *type = (rally_msg_type_t) i;
            return 0;
        }
    char quoted[RALLY_MSG_QUOTE_MAX + 4];
    rally_msg_quote (quoted, t->via.str.ptr, t->via.str.size);
    return s_fail (reason, reason_size, "unknown message type '%s'", quoted);
}

static int s_decode_object (rally_msg_t *msg, const msgpack_object *top,
                            char *reason, size_t reason_size)
{
    if (top->type != MSGPACK_OBJECT_MAP)
        return s_fail (reason, reason_size, "message is not a map");
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
    if (reason && reason_size > 0)
        reason[0] = 0;
    if (!data || size == 0)
        return s_fail (reason, reason_size, "empty message");
    if (size > RALLY_MSG_MAX_BYTES)
        return s_fail (reason, reason_size,
                       "message too large: %zu bytes > %d", size,
                       RALLY_MSG_MAX_BYTES);
    if (rally_msg_prewalk (data, size, S_MAX_DEPTH, S_MAX_OBJECTS, reason,
                           reason_size))
        return -1;
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    size_t offset = 0;
    int rc = -1;
    msgpack_unpack_return ret = msgpack_unpack_next (
        &result, (const char *) data, size, &offset);
    if (ret != MSGPACK_UNPACK_SUCCESS || offset != size)
        s_fail (reason, reason_size, "malformed msgpack");
    else
        rc = s_decode_object (msg, &result.data, reason, reason_size);
    msgpack_unpacked_destroy (&result);
    return rc;
}

//  --------------------------------------------------------------------------
//  Encoding the struct

static int s_encode_fields (msgpack_packer *pk, const s_field_t *fields,
                            size_t count, const uint8_t *base);

static int s_pack_str (msgpack_packer *pk, const char *s, size_t len)
{
    return msgpack_pack_str (pk, len) || msgpack_pack_str_body (pk, s, len);
}

static int s_encode_scalar (msgpack_packer *pk, const s_field_t *f,
                            const uint8_t *src)
{
    if (f->kind == S_UINT) {
        uint64_t value = 0;
        if (f->width == sizeof (uint64_t))
            memcpy (&value, src, sizeof (value));
        else {
            uint32_t narrow;
            memcpy (&narrow, src, sizeof (narrow));
            value = narrow;
        }
        return s_check_uint (f, value, NULL, 0)
            || msgpack_pack_uint64 (pk, value);
    }
    if (f->kind == S_INT) {
        int32_t value;
        memcpy (&value, src, sizeof (value));
        return s_check_int (f, value, NULL, 0)
            || msgpack_pack_int64 (pk, value);
    }
    if (f->kind == S_TOKEN)
        return msgpack_pack_bin (pk, RALLY_TOKEN_SIZE)
            || msgpack_pack_bin_body (pk, src, RALLY_TOKEN_SIZE);
    //  An unterminated buffer measures width, above every limit: refused.
    const char *s = (const char *) src;
    size_t len = strnlen (s, f->width);
    return s_check_str (f, s, len, NULL, 0) || s_pack_str (pk, s, len);
}

static int s_encode_value (msgpack_packer *pk, const s_field_t *f,
                           const uint8_t *base)
{
    if (f->kind == S_LIST) {
        const s_list_t *list = f->list;
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
    if (f->count == 0)
        return s_encode_scalar (pk, f, base + f->offset);
    if (msgpack_pack_array (pk, f->count))
        return -1;
    for (size_t i = 0; i < f->count; i++)
        if (s_encode_scalar (pk, f, base + f->offset + i * f->width))
            return -1;
    return 0;
}

static int s_encode_fields (msgpack_packer *pk, const s_field_t *fields,
                            size_t count, const uint8_t *base)
{
    for (size_t i = 0; i < count; i++)
        if (s_pack_str (pk, fields[i].key, strlen (fields[i].key))
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
    int rc = msgpack_pack_map (&pk, 2 + t->field_count)
          || s_pack_str (&pk, "v", 1)
          || msgpack_pack_uint32 (&pk, RALLY_PROTOCOL_VERSION)
          || s_pack_str (&pk, "type", 4)
          || s_pack_str (&pk, t->name, strlen (t->name))
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
        size_t n = s_utf8_next (p + i, len - i, &cp);
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
        s_fail (reason, reason_size, "%s", problem);
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
        size_t n = s_utf8_next (p + i, len - i, &cp);
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
    }
    return sock;
}
