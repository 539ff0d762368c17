/*  rally_repl - the replication codec: diff and snapshot.

    Wire format (protocol version 1; schema/README.md is the full reference)

    One ZeroMQ frame of at most RALLY_REPL_MAX_BYTES holds exactly one
    MessagePack map and nothing after it, with exactly these 14 keys:
        "v"             uint, must equal RALLY_PROTOCOL_VERSION (1)
        "type"          str, "diff" or "snapshot"
        "term"          uint64, the leader's term
        "node"          uint, 1..255, the leader's id
        "seq"           uint64, the tick this state is at
        "base_hash"     uint64, the state's hash at seq - 1; 0 in a snapshot
        "hash"          uint64, the state's hash at seq
        "ticks"         uint64, the lobby's tick count
        "next_match"    uint, 1..2^32-1
        "next_ticket"   uint64
        "matches"       array of match records
        "players"       array of player records
        "gone_matches"  array of uint 1..2^32-1; empty in a snapshot
        "gone_players"  array of bin 16; empty in a snapshot
    The encoder writes them in this order; the decoder accepts any order but
    refuses duplicate, unknown and missing keys.

    A record is an array of exactly its items, by position, so that a diff
    does not repeat key names in every record:
        match, 17 items: id, tick, phase, paused_phase, countdown, serve,
            points_played, score [2], winner, ball [4], paddles [2],
            intents [2], names [2 str], seated, tokens [2 bin 16], lost,
            ended
        player, 6 items: token (bin 16), name, state, match, side, ticket
    Each item's kind and range is in the tables below. Kinds are
    rally_field's, as in rally_msg: unsigned items are positive ints,
    signed ones ints of either sign, of any width that holds the value;
    strings are str of valid UTF-8 with no NUL; tokens are bin of exactly
    16 bytes.

    The same tables drive the decoder, the encoder and the hashes, so the
    three cannot drift apart: the encoder refuses what the decoder would,
    and the hash covers every field.

    Decoding a snapshot means trusting a frame of megabytes, so it starts
    with rally_field_unpack's pre-walk (no count larger than the bytes left,
    no nesting deeper than map -> list -> record -> inner array), and the
    arrays here grow one decoded record at a time, never from a count on
    the wire. Each item is decoded, encoded and checked by rally_field.c,
    the layer rally_msg.c stands on too; this file holds the tables, the
    records and lists, the top map's keys, and the hashes.
*/
#include "rally_repl.h"
#include "rally_field.h"

#include <assert.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

//  The deepest nesting: map -> matches -> record -> ball.
#define S_MAX_DEPTH     4
//  Top-level keys: v, type, the header scalars, the lists.
#define S_KEY_COUNT     14

//  --------------------------------------------------------------------------
//  Item tables

#define F       RALLY_FIELD
#define F_ARRAY RALLY_FIELD_ARRAY

#define U32 UINT32_MAX
#define U64 UINT64_MAX
#define COORD (RALLY_COORD_LIMIT - 1)
#define S_ITEMS(table) table, sizeof (table) / sizeof (table[0])

//  The header's scalars, after v and type, into rally_repl_t.
#define H rally_repl_t
static const rally_field_t s_header[] = {
    F (H, UINT, "term", from.term, 0, U64),
    F (H, UINT, "node", from.node, 1, RALLY_NODE_ID_MAX),
    F (H, UINT, "seq", seq, 0, U64),
    F (H, UINT, "base_hash", base_hash, 0, U64),
    F (H, UINT, "hash", hash, 0, U64),
    F (H, UINT, "ticks", ticks, 0, U64),
    F (H, UINT, "next_match", next_match, 1, U32),
    F (H, UINT, "next_ticket", next_ticket, 0, U64),
};
#undef H

//  A match record, by position; rally_repl_match_hash follows it too.
#define R rally_match_rec_t
static const rally_field_t s_match[] = {
    F (R, UINT, "id", id, 1, U32),
    F (R, UINT, "tick", tick, 0, U32),
    F (R, UINT, "phase", phase, 0, RALLY_PHASE_OVER),
    F (R, UINT, "paused_phase", paused_phase, 0, RALLY_PHASE_OVER),
    F (R, UINT, "countdown", countdown, 0, U32),
    F (R, UINT, "serve", serve, 0, 1),
    F (R, UINT, "points_played", points_played, 0, U32),
    F_ARRAY (R, UINT, "score", score, 0, RALLY_SCORE_MAX),
    F (R, INT, "winner", winner, -1, 1),
    F_ARRAY (R, INT, "ball", ball, -COORD, COORD),
    F_ARRAY (R, INT, "paddles", paddles, -COORD, COORD),
    F_ARRAY (R, INT, "intents", intents, -1, 1),
    F_ARRAY (R, STR, "names", names, 1, RALLY_NAME_MAX),
    F (R, UINT, "seated", seated, 0, 3),
    F_ARRAY (R, TOKEN, "tokens", tokens, 0, 0),
    F (R, UINT, "lost", lost, 0, 3),
    F (R, UINT, "ended", ended, 0, U64),
};
#undef R

#define P rally_player_rec_t
static const rally_field_t s_player[] = {
    F (P, TOKEN, "token", token, 0, 0),
    F (P, STR, "name", name, 1, RALLY_NAME_MAX),
    F (P, UINT, "state", state, 0, 2),
    F (P, UINT, "match", match, 0, U32),
    F (P, INT, "side", side, -1, 1),
    F (P, UINT, "ticket", ticket, 0, U64),
};
#undef P

//  A gone list's element is one bare value.
static const rally_field_t s_gone_match[] = {
    { "id", RALLY_FIELD_UINT, 1, U32, 0, sizeof (uint32_t), 0, NULL },
};

static const rally_field_t s_gone_player[] = {
    { "token", RALLY_FIELD_TOKEN, 0, 0, 0, RALLY_TOKEN_SIZE, 0, NULL },
};

typedef enum {
    S_MATCHES,
    S_PLAYERS,
    S_GONE_MATCHES,
    S_GONE_PLAYERS,
    S_LIST_COUNT
} s_list_id_t;

typedef struct {
    const char *key;            //  key on the wire
    const char *what;           //  one element, in reasons
    const rally_field_t *items; //  a record's items, by position
    size_t item_count;
    bool record;                //  false: an element is items[0], bare
} s_list_t;

static const s_list_t s_lists[S_LIST_COUNT] = {
    [S_MATCHES] = { "matches", "match record", S_ITEMS (s_match), true },
    [S_PLAYERS] = { "players", "player record", S_ITEMS (s_player), true },
    [S_GONE_MATCHES] = { "gone_matches", "gone_matches item",
                         S_ITEMS (s_gone_match), false },
    [S_GONE_PLAYERS] = { "gone_players", "gone_players item",
                         S_ITEMS (s_gone_player), false },
};

//  The item counts schema/README.md and rally_repl.h promise.
_Static_assert (sizeof (s_match) / sizeof (s_match[0]) == 17,
                "a match record has 17 items");
_Static_assert (sizeof (s_player) / sizeof (s_player[0]) == 6,
                "a player record has 6 items");
_Static_assert (S_KEY_COUNT
                == 2 + sizeof (s_header) / sizeof (s_header[0]) + S_LIST_COUNT,
                "every top-level key has a slot");

static const char *s_kind_names[] = {
    [RALLY_REPL_DIFF] = "diff",
    [RALLY_REPL_SNAPSHOT] = "snapshot",
};

static bool s_kind_valid (rally_repl_kind_t kind)
{
    return kind == RALLY_REPL_DIFF || kind == RALLY_REPL_SNAPSHOT;
}

//  --------------------------------------------------------------------------
//  Constructor, destructor, lists

rally_repl_t *rally_repl_new (rally_repl_kind_t kind)
{
    assert (s_kind_valid (kind));
    rally_repl_t *self = (rally_repl_t *) calloc (1, sizeof (rally_repl_t));
    if (self)
        self->kind = kind;
    return self;
}

void rally_repl_destroy (rally_repl_t **self_p)
{
    assert (self_p);
    rally_repl_t *self = *self_p;
    if (!self)
        return;
    free (self->matches);
    free (self->players);
    free (self->gone_matches);
    free (self->gone_players);
    free (self);
    *self_p = NULL;
}

void rally_repl_reset (rally_repl_t *self, rally_repl_kind_t kind)
{
    assert (self);
    assert (s_kind_valid (kind));
    //  Everything but the arrays and their room goes back to zero.
    rally_repl_t keep = *self;
    memset (self, 0, sizeof (*self));
    self->kind = kind;
    self->matches = keep.matches;
    self->players = keep.players;
    self->gone_matches = keep.gone_matches;
    self->gone_players = keep.gone_players;
    self->match_cap = keep.match_cap;
    self->player_cap = keep.player_cap;
    self->gone_match_cap = keep.gone_match_cap;
    self->gone_player_cap = keep.gone_player_cap;
}

//  Makes room for one more element in array (of count, room *cap) by
//  doubling, so that n appends copy O(n) bytes in all.
static void *s_grow (void *array, size_t count, size_t *cap, size_t size)
{
    if (count < *cap)
        return array;
    size_t grown = *cap ? *cap * 2 : 16;
    assert (grown <= SIZE_MAX / size);
    void *bigger = realloc (array, grown * size);
    assert (bigger);    //  out of memory: nothing sensible to do
    *cap = grown;
    return bigger;
}

rally_match_rec_t *rally_repl_add_match (rally_repl_t *self)
{
    assert (self);
    self->matches = (rally_match_rec_t *) s_grow (
        self->matches, self->match_count, &self->match_cap,
        sizeof (rally_match_rec_t));
    rally_match_rec_t *rec = &self->matches[self->match_count++];
    memset (rec, 0, sizeof (*rec));
    return rec;
}

rally_player_rec_t *rally_repl_add_player (rally_repl_t *self)
{
    assert (self);
    self->players = (rally_player_rec_t *) s_grow (
        self->players, self->player_count, &self->player_cap,
        sizeof (rally_player_rec_t));
    rally_player_rec_t *rec = &self->players[self->player_count++];
    memset (rec, 0, sizeof (*rec));
    return rec;
}

static uint32_t *s_add_gone_match (rally_repl_t *self)
{
    self->gone_matches = (uint32_t *) s_grow (
        self->gone_matches, self->gone_match_count, &self->gone_match_cap,
        sizeof (uint32_t));
    uint32_t *id = &self->gone_matches[self->gone_match_count++];
    *id = 0;
    return id;
}

static uint8_t *s_add_gone_player (rally_repl_t *self)
{
    self->gone_players = (uint8_t (*)[RALLY_TOKEN_SIZE]) s_grow (
        self->gone_players, self->gone_player_count, &self->gone_player_cap,
        RALLY_TOKEN_SIZE);
    uint8_t *token = self->gone_players[self->gone_player_count++];
    memset (token, 0, RALLY_TOKEN_SIZE);
    return token;
}

void rally_repl_add_gone_match (rally_repl_t *self, uint32_t id)
{
    assert (self);
    *s_add_gone_match (self) = id;
}

void rally_repl_add_gone_player (rally_repl_t *self, const uint8_t *token)
{
    assert (self && token);
    memcpy (s_add_gone_player (self), token, RALLY_TOKEN_SIZE);
}

//  Appends a zeroed element to a list and returns it.
static uint8_t *s_list_add (rally_repl_t *self, s_list_id_t list)
{
    switch (list) {
        case S_MATCHES: return (uint8_t *) rally_repl_add_match (self);
        case S_PLAYERS: return (uint8_t *) rally_repl_add_player (self);
        case S_GONE_MATCHES: return (uint8_t *) s_add_gone_match (self);
        default: return s_add_gone_player (self);
    }
}

static size_t s_list_count (const rally_repl_t *self, s_list_id_t list)
{
    switch (list) {
        case S_MATCHES: return self->match_count;
        case S_PLAYERS: return self->player_count;
        case S_GONE_MATCHES: return self->gone_match_count;
        default: return self->gone_player_count;
    }
}

//  Element index (< the list's count) of a list, as bytes.
static const uint8_t *s_list_at (const rally_repl_t *self, s_list_id_t list,
                                 size_t index)
{
    switch (list) {
        case S_MATCHES: return (const uint8_t *) &self->matches[index];
        case S_PLAYERS: return (const uint8_t *) &self->players[index];
        case S_GONE_MATCHES:
            return (const uint8_t *) &self->gone_matches[index];
        default: return self->gone_players[index];
    }
}

//  --------------------------------------------------------------------------
//  Checks shared by both directions

//  A snapshot replaces the whole state, so it has nothing to take away
//  and no state before it.
static int s_check_snapshot (const rally_repl_t *self, char *reason,
                             size_t reason_size)
{
    if (self->kind != RALLY_REPL_SNAPSHOT)
        return 0;
    if (self->base_hash != 0)
        return rally_field_fail (reason, reason_size,
                                 "a snapshot must have base_hash 0");
    if (self->gone_match_count || self->gone_player_count)
        return rally_field_fail (reason, reason_size,
                                 "a snapshot must have empty gone_matches "
                                 "and gone_players");
    return 0;
}

//  --------------------------------------------------------------------------
//  Decoding

//  Decodes element index of a list into base; reasons say which element.
static int s_decode_element (const s_list_t *list, uint32_t index,
                             const msgpack_object *o, uint8_t *base,
                             char *reason, size_t reason_size)
{
    if (list->record && (o->type != MSGPACK_OBJECT_ARRAY
                         || o->via.array.size != list->item_count))
        return rally_field_fail (reason, reason_size,
                                 "%s %u must be an array of %zu items",
                                 list->what, (unsigned) index,
                                 list->item_count);
    char why[RALLY_REASON_BUF] = "";
    for (size_t i = 0; i < list->item_count; i++) {
        const msgpack_object *item = list->record ? &o->via.array.ptr[i] : o;
        if (rally_field_decode (&list->items[i], item, base, why,
                                sizeof (why)))
            return rally_field_fail (reason, reason_size, "%s %u: %s",
                                     list->what, (unsigned) index, why);
    }
    return 0;
}

static int s_decode_list (rally_repl_t *self, s_list_id_t id,
                          const msgpack_object *o, char *reason,
                          size_t reason_size)
{
    const s_list_t *list = &s_lists[id];
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return rally_field_fail (reason, reason_size,
                                 "field '%s' must be an array", list->key);
    //  Room grows with each element that decodes, not with the count.
    for (uint32_t i = 0; i < o->via.array.size; i++)
        if (s_decode_element (list, i, &o->via.array.ptr[i],
                              s_list_add (self, id), reason, reason_size))
            return -1;
    return 0;
}

//  The key's slot: 0 v, 1 type, then the header, then the lists; or -1.
static int s_key_slot (const msgpack_object *key)
{
    if (rally_field_key_is (key, "v"))
        return 0;
    if (rally_field_key_is (key, "type"))
        return 1;
    size_t headers = sizeof (s_header) / sizeof (s_header[0]);
    for (size_t i = 0; i < headers; i++)
        if (rally_field_key_is (key, s_header[i].key))
            return (int) (2 + i);
    for (size_t i = 0; i < S_LIST_COUNT; i++)
        if (rally_field_key_is (key, s_lists[i].key))
            return (int) (2 + headers + i);
    return -1;
}

static const char *s_slot_key (int slot)
{
    size_t headers = sizeof (s_header) / sizeof (s_header[0]);
    if (slot < 2)
        return slot == 0 ? "v" : "type";
    if ((size_t) slot < 2 + headers)
        return s_header[slot - 2].key;
    return s_lists[slot - 2 - headers].key;
}

//  Files every value of the top map under its key's slot.
static int s_collect (const msgpack_object *map,
                      const msgpack_object *slots[S_KEY_COUNT], char *reason,
                      size_t reason_size)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        int slot = s_key_slot (&kv->key);
        if (slot < 0)
            return rally_field_unexpected (&kv->key, NULL, reason,
                                           reason_size);
        if (slots[slot])
            return rally_field_fail (reason, reason_size,
                                     "duplicate field '%s'",
                                     s_slot_key (slot));
        slots[slot] = &kv->val;
    }
    for (int slot = 0; slot < S_KEY_COUNT; slot++)
        if (!slots[slot])
            return rally_field_fail (reason, reason_size,
                                     "missing field '%s'", s_slot_key (slot));
    return 0;
}

static int s_decode_version_type (rally_repl_t *self, const msgpack_object *v,
                                  const msgpack_object *t, char *reason,
                                  size_t reason_size)
{
    if (rally_field_check_version (v, reason, reason_size))
        return -1;
    if (t->type != MSGPACK_OBJECT_STR)
        return rally_field_fail (reason, reason_size,
                                 "field 'type' must be a string");
    if (rally_field_key_is (t, "diff"))
        self->kind = RALLY_REPL_DIFF;
    else if (rally_field_key_is (t, "snapshot"))
        self->kind = RALLY_REPL_SNAPSHOT;
    else
        return rally_field_unknown_type (t, "replication", reason,
                                         reason_size);
    return 0;
}

static int s_decode_object (rally_repl_t *self, const msgpack_object *top,
                            char *reason, size_t reason_size)
{
    if (top->type != MSGPACK_OBJECT_MAP)
        return rally_field_fail (reason, reason_size, "message is not a map");
    const msgpack_object *slots[S_KEY_COUNT] = { NULL };
    if (s_collect (top, slots, reason, reason_size)
        || s_decode_version_type (self, slots[0], slots[1], reason,
                                  reason_size))
        return -1;
    size_t headers = sizeof (s_header) / sizeof (s_header[0]);
    for (size_t i = 0; i < headers; i++)
        if (rally_field_decode (&s_header[i], slots[2 + i], (uint8_t *) self,
                                reason, reason_size))
            return -1;
    for (int id = 0; id < S_LIST_COUNT; id++)
        if (s_decode_list (self, (s_list_id_t) id, slots[2 + headers + id],
                           reason, reason_size))
            return -1;
    return s_check_snapshot (self, reason, reason_size);
}

int rally_repl_decode (rally_repl_t *self, const uint8_t *data, size_t size,
                       char *reason, size_t reason_size)
{
    assert (self);
    rally_repl_reset (self, RALLY_REPL_DIFF);
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    //  Every object takes a byte at least, so size bounds the objects.
    int rc = rally_field_unpack (&result, data, size, RALLY_REPL_MAX_BYTES,
                                 S_MAX_DEPTH, size, reason, reason_size);
    if (rc == 0)
        rc = s_decode_object (self, &result.data, reason, reason_size);
    msgpack_unpacked_destroy (&result);
    return rc;
}

//  --------------------------------------------------------------------------
//  Encoding

//  Packs a list; stops as soon as the frame would be too large.
static int s_encode_list (msgpack_packer *pk, const msgpack_sbuffer *sbuf,
                          const rally_repl_t *self, s_list_id_t id)
{
    const s_list_t *list = &s_lists[id];
    size_t count = s_list_count (self, id);
    if (count > UINT32_MAX || rally_field_pack_str (pk, list->key)
        || msgpack_pack_array (pk, count))
        return -1;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *elem = s_list_at (self, id, i);
        if (list->record && msgpack_pack_array (pk, list->item_count))
            return -1;
        for (size_t k = 0; k < list->item_count; k++)
            if (rally_field_encode (pk, &list->items[k], elem))
                return -1;
        if (sbuf->size > RALLY_REPL_MAX_BYTES)
            return -1;
    }
    return 0;
}

static int s_encode (msgpack_packer *pk, const msgpack_sbuffer *sbuf,
                     const rally_repl_t *self)
{
    if (rally_field_pack_head (pk, S_KEY_COUNT, s_kind_names[self->kind]))
        return -1;
    size_t headers = sizeof (s_header) / sizeof (s_header[0]);
    for (size_t i = 0; i < headers; i++)
        if (rally_field_pack_str (pk, s_header[i].key)
            || rally_field_encode (pk, &s_header[i], (const uint8_t *) self))
            return -1;
    for (int id = 0; id < S_LIST_COUNT; id++)
        if (s_encode_list (pk, sbuf, self, (s_list_id_t) id))
            return -1;
    return 0;
}

zframe_t *rally_repl_encode (const rally_repl_t *self)
{
    assert (self);
    if (!s_kind_valid (self->kind) || s_check_snapshot (self, NULL, 0))
        return NULL;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    zframe_t *frame = NULL;
    if (s_encode (&pk, &sbuf, self) == 0 && sbuf.size <= RALLY_REPL_MAX_BYTES)
        frame = zframe_new (sbuf.data, sbuf.size);
    msgpack_sbuffer_destroy (&sbuf);
    return frame;
}

//  --------------------------------------------------------------------------
//  Hashes

#define S_FNV_OFFSET    0xcbf29ce484222325ull
#define S_FNV_PRIME     0x100000001b3ull

//  The first byte hashed, one per record kind, so that no player can hash
//  like a match or the globals.
#define S_HASH_MATCH    0x01
#define S_HASH_PLAYER   0x02
#define S_HASH_GLOBALS  0x03

static uint64_t s_fnv (uint64_t h, const uint8_t *p, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        h ^= p[i];
        h *= S_FNV_PRIME;
    }
    return h;
}

//  The low width bytes of value, least significant first: the same bytes
//  on every host.
static uint64_t s_fnv_le (uint64_t h, uint64_t value, size_t width)
{
    for (size_t i = 0; i < width; i++) {
        h ^= (uint8_t) (value >> (8 * i));
        h *= S_FNV_PRIME;
    }
    return h;
}

//  splitmix64's finalizer. FNV alone leaves related inputs with related
//  outputs, which a plain sum of hashes would let cancel; mixed, every
//  output bit depends on every input bit and the sum is a fair multiset
//  hash.
static uint64_t s_mix (uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t s_hash_scalar (uint64_t h, const rally_field_t *it,
                               const uint8_t *src)
{
    switch (it->kind) {
        case RALLY_FIELD_UINT:
            return s_fnv_le (h, rally_field_read_uint (it, src), it->width);
        case RALLY_FIELD_INT:
            return s_fnv_le (h, (uint32_t) rally_field_read_int (src), 4);
        case RALLY_FIELD_STR: {
            size_t len = strnlen ((const char *) src, it->width);
            return s_fnv (s_fnv_le (h, len, 1), src, len);
        }
        default:
            return s_fnv (h, src, RALLY_TOKEN_SIZE);
    }
}

static uint64_t s_hash_items (uint8_t kind, const rally_field_t *items,
                              size_t count, const uint8_t *base)
{
    uint64_t h = s_fnv_le (S_FNV_OFFSET, kind, 1);
    for (size_t i = 0; i < count; i++) {
        size_t n = items[i].count ? items[i].count : 1;
        for (size_t k = 0; k < n; k++)
            h = s_hash_scalar (h, &items[i],
                               base + items[i].offset + k * items[i].width);
    }
    return s_mix (h);
}

uint64_t rally_repl_match_hash (const rally_match_rec_t *rec)
{
    assert (rec);
    return s_hash_items (S_HASH_MATCH, S_ITEMS (s_match),
                         (const uint8_t *) rec);
}

uint64_t rally_repl_player_hash (const rally_player_rec_t *rec)
{
    assert (rec);
    return s_hash_items (S_HASH_PLAYER, S_ITEMS (s_player),
                         (const uint8_t *) rec);
}

uint64_t rally_repl_globals_hash (uint64_t ticks, uint32_t next_match,
                                  uint64_t next_ticket)
{
    uint64_t h = s_fnv_le (S_FNV_OFFSET, S_HASH_GLOBALS, 1);
    h = s_fnv_le (h, ticks, 8);
    h = s_fnv_le (h, next_match, 4);
    h = s_fnv_le (h, next_ticket, 8);
    return s_mix (h);
}
