/*  lobby - players, the queue and the matches of one game node.

    Players live in a hash keyed by their token in hex, which owns them; two
    more hashes find them by name (names are unique among current players)
    and by peer address (so that any message from a player's connection
    counts as hearing it). The queue is a list in arrival order.

    Matches are two parallel arrays kept in the order they began: the rules'
    pong_match_t, contiguous so that one pong_tick() steps them all, and the
    lobby's own slot for each (id, players, names, lost bits, end time).
    Ids only grow, so a match is found by binary search. A slot points at
    its players only while they belong to it: a player who queues again or
    leaves is unhooked, and the match plays out its linger with the names it
    was paired under.
*/
#include "lobby.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

typedef struct _player_t player_t;

struct _player_t {
    uint8_t token[RALLY_TOKEN_SIZE];    //  session token
    char key[RALLY_TOKEN_SIZE * 2 + 1]; //  token in hex: key in players
    char name[RALLY_NAME_BUF];          //  username, key in names
    uint8_t peer[LOBBY_PEER_MAX];       //  peer address, as last set
    size_t peer_size;                   //  0 if none
    char peer_key[LOBBY_PEER_MAX * 2 + 1];  //  peer in hex, "" if none
    char source[LOBBY_SOURCE_MAX];      //  network address counted, or ""
    lobby_state_t state;                //  queued, playing or ended
    void *queue_handle;                 //  place in the queue list, or NULL
    uint32_t match;                     //  match id when playing, else 0
    int32_t side;                       //  side when playing, else -1
    int64_t heard_at;                   //  when last heard
    bool lost;                          //  unheard for LOBBY_LOST_MS
    int64_t lost_since;                 //  when it was found lost
    uint32_t told_position;             //  place last told, 0 if none
    int64_t told_at;                    //  when it was last told
    int64_t rate_window;                //  start of the current input second
    uint32_t rate_count;                //  inputs in that second
    int64_t rate_told_at;               //  last rate_limited refusal told
    uint64_t ticket;                    //  queue order while queued, else 0
    uint64_t rec_hash;                  //  its record's hash as last shipped
                                        //  or applied, 0 if never
};

typedef struct {
    uint32_t id;                        //  match id, >= 1
    player_t *players[2];               //  left, right; NULL once unhooked
    char names[2][RALLY_NAME_BUF];      //  as paired, kept to the end
    uint32_t lost;                      //  bit per side: that player is lost
    uint64_t ended;                     //  lobby tick + 1 when decided, 0 live
    int64_t ended_at;                   //  when it was decided (own clock)
    uint64_t rec_hash;                  //  as for a player
} slot_t;

struct _lobby_t {
    lobby_config_t cfg;                 //  as given
    pong_config_t rules;                //  derived from tick_hz, points
    zhashx_t *players;                  //  token hex -> player_t, owned
    zhashx_t *names;                    //  name -> player_t
    zhashx_t *peers;                    //  peer hex -> player_t
    zhashx_t *sources;                  //  source -> players from it
    zlistx_t *queue;                    //  player_t, in arrival order
    zlistx_t *expired;                  //  scratch for s_check_players
    pong_match_t *games;                //  match states, for pong_tick()
    slot_t *slots;                      //  the lobby's side of each match
    uint32_t *step_events;              //  pong_tick() event bits
    size_t match_count;                 //  matches held
    size_t match_cap;                   //  room in games, slots, step_events
    uint32_t next_match;                //  id of the next match
    uint32_t match_limit;               //  highest id it may give a match
    lobby_event_t *events;              //  pending events, oldest at head
    size_t event_head;                  //  next event to pop
    size_t event_count;                 //  events pushed (head..count pending)
    size_t event_cap;                   //  room in events
    uint64_t ticks;                     //  ticks run (replicated)
    uint64_t next_ticket;               //  ticket of the next queued player
    uint64_t record_sum;                //  sum of every record's rec_hash
    uint64_t shipped_hash;              //  state hash at the last diff
    uint32_t *gone_matches;             //  shipped matches dropped since
    size_t gone_match_count, gone_match_cap;
    uint8_t (*gone_players)[RALLY_TOKEN_SIZE];  //  shipped players forgotten
    size_t gone_player_count, gone_player_cap;
};

static const struct {
    const char *code;
    const char *reason;
} s_results[] = {
    [LOBBY_OK] = {"", ""},
    [LOBBY_BAD_NAME] = {"bad_name", "the name is not acceptable"},
    [LOBBY_NAME_TAKEN] = {"name_taken", "a current player holds this name"},
    [LOBBY_FULL] = {"full", "the node has all the players it can take"},
    [LOBBY_UNKNOWN_TOKEN] = {"unknown_token", "no player holds this token "
                             "with this connection's key"},
    [LOBBY_NOT_PLAYING] = {"not_playing", "the player is not in a live match"},
    [LOBBY_RATE_LIMITED] = {"rate_limited",
                            "more than 60 inputs in a second; input dropped"},
    [LOBBY_RATE_LIMITED_QUIET] = {"rate_limited",
                                  "more than 60 inputs in a second"},
    [LOBBY_IN_MATCH] = {"in_match", "the player is in a live match"},
    [LOBBY_BAD_INTENT] = {"bad_message", "intent must be -1, 0 or +1"},
    [LOBBY_ALREADY_JOINED] = {"already_joined",
                              "this connection already holds a player"},
    [LOBBY_UNAVAILABLE] = {"unavailable", "try again"},
    [LOBBY_BUSY] = {"busy", "this address holds as many players as one may"},
};

static void s_hex (const uint8_t *data, size_t size, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * size] = 0;
}

//  The queue is in ticket order: a follower rebuilds it from tickets.
static int s_ticket_compare (const void *a, const void *b)
{
    uint64_t x = ((const player_t *) a)->ticket;
    uint64_t y = ((const player_t *) b)->ticket;
    return x < y ? -1 : x > y;
}

static void s_player_free (void **item)
{
    free (*item);
    *item = NULL;
}

void lobby_config_defaults (lobby_config_t *cfg)
{
    cfg->tick_hz = 60;
    cfg->points_to_win = 11;
    cfg->grace_ms = 10000;
    cfg->max_players = 1024;
    cfg->max_per_source = 0;
}

lobby_t *lobby_new (const lobby_config_t *cfg)
{
    assert (cfg);
    if (cfg->max_players < 2)
        return NULL;
    lobby_t *self = (lobby_t *) zmalloc (sizeof (lobby_t));
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->next_match = 1;
    self->match_limit = UINT32_MAX - 1;
    self->players = zhashx_new ();
    self->names = zhashx_new ();
    self->peers = zhashx_new ();
    self->sources = zhashx_new ();
    self->queue = zlistx_new ();
    self->expired = zlistx_new ();
    if (pong_config_init (&self->rules, cfg->tick_hz, cfg->points_to_win)
        || !self->players || !self->names || !self->peers || !self->queue
        || !self->expired || !self->sources) {
        lobby_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->players, s_player_free);
    zlistx_set_comparator (self->queue, s_ticket_compare);
    self->shipped_hash = lobby_hash (self);     //  the empty state's
    return self;
}

void lobby_destroy (lobby_t **self_p)
{
    assert (self_p);
    lobby_t *self = *self_p;
    if (!self)
        return;
    zlistx_destroy (&self->queue);
    zlistx_destroy (&self->expired);
    zhashx_destroy (&self->peers);
    zhashx_destroy (&self->sources);
    zhashx_destroy (&self->names);
    zhashx_destroy (&self->players);
    free (self->games);
    free (self->slots);
    free (self->step_events);
    free (self->events);
    free (self->gone_matches);
    free (self->gone_players);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Events

static lobby_event_t *s_push (lobby_t *self, lobby_event_type_t type)
{
    if (self->event_head == self->event_count)
        self->event_head = self->event_count = 0;
    if (self->event_count == self->event_cap) {
        size_t cap = self->event_cap ? self->event_cap * 2 : 64;
        lobby_event_t *events = (lobby_event_t *) realloc (
            self->events, cap * sizeof (lobby_event_t));
        assert (events);    //  out of memory: nothing sensible to do
        self->events = events;
        self->event_cap = cap;
    }
    lobby_event_t *event = &self->events[self->event_count++];
    memset (event, 0, sizeof (*event));
    event->type = type;
    event->side = -1;
    event->winner = -1;
    return event;
}

static lobby_event_t *s_push_player (lobby_t *self, lobby_event_type_t type,
                                     const player_t *p)
{
    lobby_event_t *event = s_push (self, type);
    memcpy (event->token, p->token, RALLY_TOKEN_SIZE);
    memcpy (event->peer, p->peer, p->peer_size);
    event->peer_size = p->peer_size;
    strcpy (event->name, p->name);
    event->match = p->match;
    event->side = p->side;
    return event;
}

bool lobby_next_event (lobby_t *self, lobby_event_t *event)
{
    assert (self);
    if (self->event_head == self->event_count)
        return false;
    *event = self->events[self->event_head++];
    return true;
}

//  --------------------------------------------------------------------------
//  Records that leave the replicated state

//  Room for one more item of size bytes in an array that grows by doubling.
static void *s_room (void *array, size_t count, size_t *cap, size_t size)
{
    if (count < *cap)
        return array;
    size_t grown = *cap ? *cap * 2 : 16;
    void *bigger = realloc (array, grown * size);
    assert (bigger);            //  out of memory: nothing sensible to do
    *cap = grown;
    return bigger;
}

//  A record a follower holds must be named in the next diff when it goes;
//  one never shipped (rec_hash 0) is news to nobody.
static void s_gone_player (lobby_t *self, player_t *p)
{
    if (p->rec_hash == 0)
        return;
    self->gone_players = s_room (self->gone_players, self->gone_player_count,
                                 &self->gone_player_cap, RALLY_TOKEN_SIZE);
    memcpy (self->gone_players[self->gone_player_count++], p->token,
            RALLY_TOKEN_SIZE);
    self->record_sum -= p->rec_hash;
    p->rec_hash = 0;
}

static void s_gone_match (lobby_t *self, slot_t *slot)
{
    if (slot->rec_hash == 0)
        return;
    self->gone_matches = s_room (self->gone_matches, self->gone_match_count,
                                 &self->gone_match_cap, sizeof (uint32_t));
    self->gone_matches[self->gone_match_count++] = slot->id;
    self->record_sum -= slot->rec_hash;
    slot->rec_hash = 0;
}

//  --------------------------------------------------------------------------
//  Matches

static slot_t *s_slot (lobby_t *self, uint32_t id, size_t *index)
{
    size_t lo = 0, hi = self->match_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->slots[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == self->match_count || self->slots[lo].id != id)
        return NULL;
    if (index)
        *index = lo;
    return &self->slots[lo];
}

static bool s_live (const slot_t *slot)
{
    return slot->ended == 0;
}

static void s_grow_matches (lobby_t *self)
{
    size_t cap = self->match_cap ? self->match_cap * 2 : 16;
    pong_match_t *games =
        (pong_match_t *) realloc (self->games, cap * sizeof (pong_match_t));
    assert (games);
    self->games = games;
    slot_t *slots = (slot_t *) realloc (self->slots, cap * sizeof (slot_t));
    assert (slots);
    self->slots = slots;
    uint32_t *bits =
        (uint32_t *) realloc (self->step_events, cap * sizeof (uint32_t));
    assert (bits);
    self->step_events = bits;
    self->match_cap = cap;
}

//  Pushes an event about the match at index; returns it, to add to.
static lobby_event_t *s_match_event (lobby_t *self, lobby_event_type_t type,
                                     size_t index)
{
    const slot_t *slot = &self->slots[index];
    const pong_match_t *game = &self->games[index];
    lobby_event_t *event = s_push (self, type);
    event->match = slot->id;
    memcpy (event->names, slot->names, sizeof (slot->names));
    event->score[0] = game->score[0];
    event->score[1] = game->score[1];
    event->winner = game->winner;
    return event;
}

//  Tells one player of its match: which, which side, whom against.
static void s_tell_match (lobby_t *self, const player_t *p)
{
    //  lobby_check keeps every playing player's match here; should one
    //  be missing all the same, the player hears nothing, and nothing
    //  dereferences a match that is not there.
    const slot_t *slot = s_slot (self, p->match, NULL);
    if (!slot)
        return;
    lobby_event_t *event = s_push_player (self, LOBBY_EVENT_MATCH, p);
    memcpy (event->names, slot->names, sizeof (slot->names));
}

//  Pairs a and b, a on the left, in a new match.
static void s_start_match (lobby_t *self, player_t *a, player_t *b)
{
    if (self->match_count == self->match_cap)
        s_grow_matches (self);
    size_t index = self->match_count++;
    slot_t *slot = &self->slots[index];
    memset (slot, 0, sizeof (*slot));
    //  Ids only grow: s_slot's binary search relies on it. s_pair stops
    //  at LOBBY_MATCH_ID_MAX: at a match a second, 68 years.
    slot->id = self->next_match++;
    pong_match_init (&self->games[index], &self->rules, PONG_LEFT);
    player_t *pair[2] = {a, b};
    for (int side = 0; side < 2; side++) {
        player_t *p = pair[side];
        zlistx_delete (self->queue, p->queue_handle);
        p->queue_handle = NULL;
        p->ticket = 0;
        p->told_position = 0;
        p->state = LOBBY_PLAYING;
        p->match = slot->id;
        p->side = side;
        slot->players[side] = p;
        strcpy (slot->names[side], p->name);
    }
    s_match_event (self, LOBBY_EVENT_PAIRED, index);
    s_tell_match (self, a);
    s_tell_match (self, b);
}

//  Records that the match at index was decided now.
static void s_finish (lobby_t *self, size_t index, bool forfeit, int64_t now)
{
    self->slots[index].ended = self->ticks + 1;
    self->slots[index].ended_at = now;
    s_match_event (self, LOBBY_EVENT_OVER, index)->forfeit = forfeit;
}

static void s_forfeit (lobby_t *self, size_t index, int side, int64_t now)
{
    pong_forfeit (&self->games[index], (pong_side_t) side);
    s_finish (self, index, true, now);
}

//  Unhooks a player from its match slot (the match goes on without it
//  only if it is over; the caller forfeits live matches first).
static void s_unhook (lobby_t *self, player_t *p)
{
    slot_t *slot = s_slot (self, p->match, NULL);
    if (slot && slot->players[p->side] == p) {
        slot->players[p->side] = NULL;
        slot->lost &= ~(1u << p->side);
    }
    p->match = 0;
    p->side = -1;
}

//  --------------------------------------------------------------------------
//  Queue

//  Pairs the first two queued players that are not lost, as often as it can.
static void s_pair (lobby_t *self)
{
    while (true) {
        player_t *pair[2] = {NULL, NULL};
        int found = 0;
        player_t *p = (player_t *) zlistx_first (self->queue);
        while (p && found < 2) {
            if (!p->lost)
                pair[found++] = p;
            p = (player_t *) zlistx_next (self->queue);
        }
        //  Past the limit the pair waits: the node has not yet made
        //  the next id its own (see lobby_limit_matches).
        if (found < 2 || self->next_match > self->match_limit)
            return;
        //  Ids never wrap, and finished matches lingering count against
        //  the limit a follower checks: pairs wait rather than break it.
        if (self->next_match > LOBBY_MATCH_ID_MAX
            || self->match_count >= LOBBY_MATCHES_MAX (&self->cfg))
            return;
        s_start_match (self, pair[0], pair[1]);
    }
}

//  Tells every queued player its place if it changed or is due again.
static void s_tell_places (lobby_t *self, int64_t now)
{
    uint32_t position = 1;
    player_t *p = (player_t *) zlistx_first (self->queue);
    for (; p; p = (player_t *) zlistx_next (self->queue), position++) {
        if (p->told_position == position
            && now - p->told_at < LOBBY_QUEUED_EVERY)
            continue;
        p->told_position = position;
        p->told_at = now;
        lobby_event_t *event = s_push_player (self, LOBBY_EVENT_QUEUED, p);
        event->position = position;
    }
}

static void s_enqueue (lobby_t *self, player_t *p)
{
    p->state = LOBBY_QUEUED;
    p->told_position = 0;
    p->ticket = ++self->next_ticket;
    p->queue_handle = zlistx_add_end (self->queue, p);
    assert (p->queue_handle);
}

static uint32_t s_position (lobby_t *self, const player_t *target)
{
    uint32_t position = 1;
    player_t *p = (player_t *) zlistx_first (self->queue);
    for (; p; p = (player_t *) zlistx_next (self->queue), position++)
        if (p == target)
            return position;
    return 0;
}

//  --------------------------------------------------------------------------
//  Players

static player_t *s_player (lobby_t *self, const uint8_t *token)
{
    char key[RALLY_TOKEN_SIZE * 2 + 1];
    s_hex (token, RALLY_TOKEN_SIZE, key);
    return (player_t *) zhashx_lookup (self->players, key);
}

static void s_set_peer (lobby_t *self, player_t *p, const uint8_t *peer,
                        size_t size)
{
    if (size > LOBBY_PEER_MAX)
        size = 0;               //  not a routing id we can keep
    if (p->peer_key[0] && zhashx_lookup (self->peers, p->peer_key) == p)
        zhashx_delete (self->peers, p->peer_key);
    if (size)
        memcpy (p->peer, peer, size);
    p->peer_size = size;
    s_hex (p->peer, size, p->peer_key);
    if (size)
        zhashx_update (self->peers, p->peer_key, p);
}

//  The player this routing id speaks for, or NULL.
static player_t *s_peer_player (lobby_t *self, const uint8_t *peer,
                                size_t peer_size)
{
    if (!peer || peer_size == 0 || peer_size > LOBBY_PEER_MAX)
        return NULL;
    char key[LOBBY_PEER_MAX * 2 + 1];
    s_hex (peer, peer_size, key);
    return (player_t *) zhashx_lookup (self->peers, key);
}

//  Counts p against source (NULL or "": none), instead of its old one.
//  Counts live in the hash as integers, not pointers to anything.
static void s_set_source (lobby_t *self, player_t *p, const char *source)
{
    if (p->source[0]) {
        uintptr_t count = (uintptr_t) zhashx_lookup (self->sources, p->source);
        if (count > 1)
            zhashx_update (self->sources, p->source, (void *) (count - 1));
        else
            zhashx_delete (self->sources, p->source);
    }
    snprintf (p->source, sizeof (p->source), "%s", source ? source : "");
    if (p->source[0]) {
        uintptr_t count = (uintptr_t) zhashx_lookup (self->sources, p->source);
        zhashx_update (self->sources, p->source, (void *) (count + 1));
    }
}

size_t lobby_source_players (lobby_t *self, const char *source)
{
    assert (self && source);
    return (size_t) (uintptr_t) zhashx_lookup (self->sources, source);
}

//  Forgets a player entirely; its name is free again.
static void s_forget (lobby_t *self, player_t *p)
{
    s_set_source (self, p, NULL);
    if (p->queue_handle)
        zlistx_delete (self->queue, p->queue_handle);
    if (p->match)
        s_unhook (self, p);
    s_set_peer (self, p, NULL, 0);
    s_gone_player (self, p);
    zhashx_delete (self->names, p->name);
    char key[sizeof (p->key)];
    strcpy (key, p->key);
    zhashx_delete (self->players, key);     //  frees p
}

static void s_heard (lobby_t *self, player_t *p, int64_t now)
{
    p->heard_at = now;
    if (!p->lost)
        return;
    p->lost = false;
    s_push_player (self, LOBBY_EVENT_BACK, p);
    size_t index;
    slot_t *slot = s_slot (self, p->match, &index);
    if (slot) {
        slot->lost &= ~(1u << p->side);
        if (slot->lost == 0 && s_live (slot))
            pong_pause (&self->games[index], false);
    }
}

//  A queued player back from lost may pair now.
static void s_heard_and_pair (lobby_t *self, player_t *p, int64_t now)
{
    bool was_lost = p->lost;
    s_heard (self, p, now);
    if (was_lost && p->state == LOBBY_QUEUED) {
        s_pair (self);
        s_tell_places (self, now);
    }
}

static void s_set_lost (lobby_t *self, player_t *p, int64_t now)
{
    p->lost = true;
    p->lost_since = now;
    s_push_player (self, LOBBY_EVENT_LOST, p);
    size_t index;
    slot_t *slot = s_slot (self, p->match, &index);
    if (slot && s_live (slot)) {
        slot->lost |= 1u << p->side;
        pong_pause (&self->games[index], true);
    }
}

lobby_result_t lobby_join (lobby_t *self, const char *name,
                           const uint8_t *token, const uint8_t *peer,
                           size_t peer_size, int64_t now_ms, char *reason,
                           size_t reason_size)
{
    return lobby_join_from (self, name, token, peer, peer_size, NULL, now_ms,
                            reason, reason_size);
}

lobby_result_t lobby_join_from (lobby_t *self, const char *name,
                                const uint8_t *token, const uint8_t *peer,
                                size_t peer_size, const char *source,
                                int64_t now_ms, char *reason,
                                size_t reason_size)
{
    assert (self && name && token);
    uint32_t per_source = self->cfg.max_per_source;
    char why[RALLY_REASON_BUF] = "";
    lobby_result_t result = LOBBY_OK;
    if (!rally_msg_name_valid (name, why, sizeof (why)))
        result = LOBBY_BAD_NAME;
    else if (zhashx_lookup (self->names, name))
        result = LOBBY_NAME_TAKEN;
    else if (s_peer_player (self, peer, peer_size))
        result = LOBBY_ALREADY_JOINED;  //  or one socket could take every seat
    else if (zhashx_size (self->players) >= self->cfg.max_players)
        result = LOBBY_FULL;
    else if (per_source && source && *source
             && lobby_source_players (self, source) >= per_source)
        result = LOBBY_BUSY;
    else if (s_player (self, token))
        result = LOBBY_UNAVAILABLE;     //  a token drawn twice: let it retry
    if (result != LOBBY_OK && result != LOBBY_BAD_NAME)
        snprintf (why, sizeof (why), "%s", s_results[result].reason);
    if (reason && reason_size)
        snprintf (reason, reason_size, "%s", why);
    if (result != LOBBY_OK)
        return result;

    player_t *p = (player_t *) zmalloc (sizeof (player_t));
    assert (p);
    memcpy (p->token, token, RALLY_TOKEN_SIZE);
    s_hex (token, RALLY_TOKEN_SIZE, p->key);
    snprintf (p->name, sizeof (p->name), "%s", name);
    p->side = -1;
    p->heard_at = now_ms;
    p->rate_window = now_ms;
    p->rate_told_at = INT64_MIN / 2;
    zhashx_insert (self->players, p->key, p);
    zhashx_insert (self->names, p->name, p);
    s_set_peer (self, p, peer, peer_size);
    s_set_source (self, p, source);
    s_enqueue (self, p);
    s_tell_places (self, now_ms);
    s_pair (self);
    s_tell_places (self, now_ms);
    return LOBBY_OK;
}

lobby_result_t lobby_resume (lobby_t *self, const uint8_t *token,
                             const uint8_t *peer, size_t peer_size,
                             int64_t now_ms)
{
    return lobby_resume_from (self, token, peer, peer_size, NULL, now_ms);
}

lobby_result_t lobby_resume_from (lobby_t *self, const uint8_t *token,
                                  const uint8_t *peer, size_t peer_size,
                                  const char *source, int64_t now_ms)
{
    assert (self && token);
    player_t *p = s_player (self, token);
    if (!p)
        return LOBBY_UNKNOWN_TOKEN;
    s_set_peer (self, p, peer, peer_size);
    if (source)
        s_set_source (self, p, source);
    s_heard (self, p, now_ms);
    if (p->state == LOBBY_PLAYING)
        s_tell_match (self, p);
    else if (p->state == LOBBY_QUEUED) {
        p->told_position = 0;       //  tell it again, now
        s_tell_places (self, now_ms);
        s_pair (self);              //  back from lost, it may pair now
        s_tell_places (self, now_ms);
    }
    return LOBBY_OK;
}

lobby_result_t lobby_input (lobby_t *self, const uint8_t *token,
                            int32_t intent, int64_t now_ms)
{
    assert (self && token);
    player_t *p = s_player (self, token);
    if (!p)
        return LOBBY_UNKNOWN_TOKEN;
    s_heard (self, p, now_ms);
    size_t index;
    slot_t *slot = s_slot (self, p->match, &index);
    if (!slot)
        return LOBBY_NOT_PLAYING;
    if (!s_live (slot))
        return LOBBY_OK;        //  sent before its player saw the end: moot
    if (now_ms - p->rate_window >= 1000) {
        p->rate_window = now_ms;
        p->rate_count = 0;
    }
    if (++p->rate_count > LOBBY_INPUT_RATE) {
        if (now_ms - p->rate_told_at < 1000)
            return LOBBY_RATE_LIMITED_QUIET;
        p->rate_told_at = now_ms;
        return LOBBY_RATE_LIMITED;
    }
    //  The side comes from the token's own seat, never from the message.
    if (pong_set_intent (&self->games[index], p->side, intent))
        return LOBBY_BAD_INTENT;
    return LOBBY_OK;
}

lobby_result_t lobby_requeue (lobby_t *self, const uint8_t *token,
                              int64_t now_ms)
{
    assert (self && token);
    player_t *p = s_player (self, token);
    if (!p)
        return LOBBY_UNKNOWN_TOKEN;
    s_heard (self, p, now_ms);
    slot_t *slot = s_slot (self, p->match, NULL);
    if (slot && s_live (slot))
        return LOBBY_IN_MATCH;
    if (p->state == LOBBY_QUEUED)
        p->told_position = 0;       //  already queued: tell it again
    else {
        if (p->match)
            s_unhook (self, p);     //  its finished match lingers without it
        s_enqueue (self, p);
    }
    s_tell_places (self, now_ms);
    s_pair (self);
    s_tell_places (self, now_ms);
    return LOBBY_OK;
}

lobby_result_t lobby_leave (lobby_t *self, const uint8_t *token,
                            int64_t now_ms)
{
    assert (self && token);
    player_t *p = s_player (self, token);
    if (!p)
        return LOBBY_UNKNOWN_TOKEN;
    size_t index;
    slot_t *slot = s_slot (self, p->match, &index);
    if (slot && s_live (slot))
        s_forfeit (self, index, p->side, now_ms);
    s_forget (self, p);
    s_tell_places (self, now_ms);
    return LOBBY_OK;
}

bool lobby_heard (lobby_t *self, const uint8_t *token, int64_t now_ms)
{
    assert (self && token);
    player_t *p = s_player (self, token);
    if (p)
        s_heard_and_pair (self, p, now_ms);
    return p != NULL;
}

bool lobby_heard_peer (lobby_t *self, const uint8_t *peer, size_t peer_size,
                       int64_t now_ms)
{
    assert (self);
    player_t *p = s_peer_player (self, peer, peer_size);
    if (p)
        s_heard_and_pair (self, p, now_ms);
    return p != NULL;
}

//  --------------------------------------------------------------------------
//  Tick

//  Finds players gone quiet, and forgets those lost past grace that hold no
//  seat in a match.
static void s_check_players (lobby_t *self, int64_t now)
{
    zlistx_t *expired = self->expired;
    player_t *p = (player_t *) zhashx_first (self->players);
    for (; p; p = (player_t *) zhashx_next (self->players)) {
        if (!p->lost && now - p->heard_at >= LOBBY_LOST_MS)
            s_set_lost (self, p, now);
        if (p->lost && p->state != LOBBY_PLAYING
            && now - p->lost_since >= (int64_t) self->cfg.grace_ms)
            zlistx_add_end (expired, p);
    }
    for (p = (player_t *) zlistx_first (expired); p;
         p = (player_t *) zlistx_next (expired)) {
        s_push_player (self, LOBBY_EVENT_DROPPED, p);
        s_forget (self, p);
    }
    zlistx_purge (expired);
}

//  Of a match's lost players past grace, the one lost first forfeits.
static void s_check_grace (lobby_t *self, int64_t now)
{
    for (size_t i = 0; i < self->match_count; i++) {
        slot_t *slot = &self->slots[i];
        if (!s_live (slot) || !slot->lost)
            continue;
        int loser = -1;
        for (int side = 0; side < 2; side++) {
            player_t *p = slot->players[side];
            if (!p || !p->lost
                || now - p->lost_since < (int64_t) self->cfg.grace_ms)
                continue;
            player_t *q = loser < 0 ? NULL : slot->players[loser];
            if (!q || p->lost_since < q->lost_since
                || (p->lost_since == q->lost_since && p->heard_at < q->heard_at))
                loser = side;
        }
        if (loser >= 0)
            s_forfeit (self, i, loser, now);
    }
}

uint32_t lobby_grace_left (lobby_t *self, uint32_t id, int64_t now)
{
    assert (self);
    const slot_t *slot = s_slot (self, id, NULL);
    if (!slot || !s_live (slot))
        return 0;
    int64_t left = -1;
    for (int side = 0; side < 2; side++) {
        const player_t *p = slot->players[side];
        if (!p || !p->lost)
            continue;
        int64_t ms = (int64_t) self->cfg.grace_ms - (now - p->lost_since);
        if (left < 0 || ms < left)
            left = ms;
    }
    return left > 0? (uint32_t) left: 0;
}

//  Drops finished matches past their linger; their players are ended.
static void s_drop_finished (lobby_t *self, int64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->match_count; i++) {
        slot_t *slot = &self->slots[i];
        if (s_live (slot) || now - slot->ended_at < LOBBY_LINGER_MS) {
            if (kept != i) {
                self->slots[kept] = self->slots[i];
                self->games[kept] = self->games[i];
            }
            kept++;
            continue;
        }
        s_match_event (self, LOBBY_EVENT_GONE, i);
        s_gone_match (self, slot);
        for (int side = 0; side < 2; side++) {
            player_t *p = slot->players[side];
            if (!p)
                continue;
            p->state = LOBBY_ENDED;
            p->match = 0;
            p->side = -1;
        }
    }
    self->match_count = kept;
}

void lobby_tick (lobby_t *self, int64_t now_ms)
{
    assert (self);
    self->ticks++;
    s_check_players (self, now_ms);
    s_check_grace (self, now_ms);
    if (self->match_count)
        pong_tick (self->games, self->match_count, &self->rules,
                   self->step_events);
    for (size_t i = 0; i < self->match_count; i++)
        if (s_live (&self->slots[i])
            && (self->step_events[i] & PONG_EVENT_OVER))
            s_finish (self, i, false, now_ms);
    s_drop_finished (self, now_ms);
    s_pair (self);
    s_tell_places (self, now_ms);
}

//  --------------------------------------------------------------------------
//  Replication
//
//  The replicated state is every player and match record plus three
//  globals; what is only this node's (peers, liveness, rate limits, told
//  places) stays out. A record's hash is kept with it, so that the state's
//  hash is a running sum and a diff is the records whose hash moved.

static void s_player_rec (const player_t *p, rally_player_rec_t *rec)
{
    memset (rec, 0, sizeof (*rec));
    memcpy (rec->token, p->token, RALLY_TOKEN_SIZE);
    strcpy (rec->name, p->name);
    rec->state = p->state;
    rec->match = p->match;
    rec->side = p->side;
    rec->ticket = p->state == LOBBY_QUEUED ? p->ticket : 0;
}

static void s_match_rec (lobby_t *self, size_t index, rally_match_rec_t *rec)
{
    const slot_t *slot = &self->slots[index];
    const pong_match_t *g = &self->games[index];
    memset (rec, 0, sizeof (*rec));
    rec->id = slot->id;
    rec->tick = g->tick;
    rec->phase = g->phase;
    rec->paused_phase = g->paused_phase;
    rec->countdown = g->countdown;
    rec->serve = g->serve;
    rec->points_played = g->points_played;
    memcpy (rec->score, g->score, sizeof (rec->score));
    rec->winner = g->winner;
    rec->ball[0] = g->ball_x;
    rec->ball[1] = g->ball_y;
    rec->ball[2] = g->ball_vx;
    rec->ball[3] = g->ball_vy;
    memcpy (rec->paddles, g->paddle_y, sizeof (rec->paddles));
    memcpy (rec->intents, g->intent, sizeof (rec->intents));
    memcpy (rec->names, slot->names, sizeof (rec->names));
    for (int side = 0; side < 2; side++)
        if (slot->players[side]) {
            rec->seated |= 1u << side;
            memcpy (rec->tokens[side], slot->players[side]->token,
                    RALLY_TOKEN_SIZE);
        }
    rec->lost = slot->lost;
    rec->ended = slot->ended;
}

static void s_rec_to_game (const rally_match_rec_t *rec, pong_match_t *g)
{
    g->tick = rec->tick;
    g->phase = rec->phase;
    g->paused_phase = rec->paused_phase;
    g->countdown = rec->countdown;
    g->serve = rec->serve;
    g->points_played = rec->points_played;
    memcpy (g->score, rec->score, sizeof (g->score));
    g->winner = rec->winner;
    g->ball_x = rec->ball[0];
    g->ball_y = rec->ball[1];
    g->ball_vx = rec->ball[2];
    g->ball_vy = rec->ball[3];
    memcpy (g->paddle_y, rec->paddles, sizeof (g->paddle_y));
    memcpy (g->intent, rec->intents, sizeof (g->intent));
}

uint64_t lobby_hash (lobby_t *self)
{
    assert (self);
    return self->record_sum
         + rally_repl_globals_hash (self->ticks, self->next_match,
                                    self->next_ticket);
}

int lobby_reserve_matches (lobby_t *self, uint32_t last)
{
    assert (self);
    if (last >= LOBBY_MATCH_ID_MAX)
        return -1;              //  from a file: no id would be left
    if (self->next_match <= last) {
        self->next_match = last + 1;
        self->shipped_hash = lobby_hash (self);
    }
    return 0;
}

void lobby_raise_matches (lobby_t *self, uint32_t last)
{
    assert (self);
    //  shipped_hash stays: the next diff carries the globals, and its base
    //  is the state the followers hold. Past the last id, no pair is made.
    if (last > LOBBY_MATCH_ID_MAX)
        last = LOBBY_MATCH_ID_MAX;
    if (self->next_match <= last)
        self->next_match = last + 1;
}

void lobby_limit_matches (lobby_t *self, uint32_t limit)
{
    assert (self);
    self->match_limit = limit < UINT32_MAX ? limit : UINT32_MAX - 1;
}

uint32_t lobby_next_match (lobby_t *self)
{
    assert (self);
    return self->next_match;
}

uint64_t lobby_ticks (lobby_t *self)
{
    assert (self);
    return self->ticks;
}

//  Moves a record's hash in the running sum; true if it changed.
static bool s_rehash (lobby_t *self, uint64_t *rec_hash, uint64_t hash)
{
    if (*rec_hash == hash)
        return false;
    self->record_sum += hash - *rec_hash;
    *rec_hash = hash;
    return true;
}

static void s_globals (lobby_t *self, rally_repl_t *out)
{
    out->ticks = self->ticks;
    out->next_match = self->next_match;
    out->next_ticket = self->next_ticket;
}

void lobby_diff (lobby_t *self, rally_repl_t *out)
{
    assert (self && out);
    rally_repl_reset (out, RALLY_REPL_DIFF);
    out->base_hash = self->shipped_hash;
    rally_player_rec_t prec;
    player_t *p = (player_t *) zhashx_first (self->players);
    for (; p; p = (player_t *) zhashx_next (self->players)) {
        s_player_rec (p, &prec);
        if (s_rehash (self, &p->rec_hash, rally_repl_player_hash (&prec)))
            *rally_repl_add_player (out) = prec;
    }
    rally_match_rec_t mrec;
    for (size_t i = 0; i < self->match_count; i++) {
        s_match_rec (self, i, &mrec);
        if (s_rehash (self, &self->slots[i].rec_hash,
                      rally_repl_match_hash (&mrec)))
            *rally_repl_add_match (out) = mrec;
    }
    for (size_t i = 0; i < self->gone_match_count; i++)
        rally_repl_add_gone_match (out, self->gone_matches[i]);
    for (size_t i = 0; i < self->gone_player_count; i++)
        rally_repl_add_gone_player (out, self->gone_players[i]);
    self->gone_match_count = self->gone_player_count = 0;
    s_globals (self, out);
    out->hash = self->shipped_hash = lobby_hash (self);
}

void lobby_snapshot (lobby_t *self, rally_repl_t *out)
{
    assert (self && out);
    assert (self->gone_match_count == 0 && self->gone_player_count == 0);
    rally_repl_reset (out, RALLY_REPL_SNAPSHOT);
    player_t *p = (player_t *) zhashx_first (self->players);
    for (; p; p = (player_t *) zhashx_next (self->players))
        s_player_rec (p, rally_repl_add_player (out));
    for (size_t i = 0; i < self->match_count; i++)
        s_match_rec (self, i, rally_repl_add_match (out));
    s_globals (self, out);
    out->hash = self->shipped_hash;
}

//  Empties the lobby of every player and match, without events: a snapshot
//  replaces all of it.
static void s_clear (lobby_t *self)
{
    zlistx_purge (self->queue);
    zhashx_purge (self->peers);
    zhashx_purge (self->sources);
    zhashx_purge (self->names);
    zhashx_purge (self->players);
    self->match_count = 0;
    self->record_sum = 0;
    self->gone_match_count = self->gone_player_count = 0;
    self->event_head = self->event_count = 0;
}

//  A follower's copy of a player leaves: no events, no gone list.
static void s_drop_player (lobby_t *self, player_t *p)
{
    self->record_sum -= p->rec_hash;
    p->rec_hash = 0;
    s_forget (self, p);
}

static void s_drop_slot (lobby_t *self, size_t index)
{
    self->record_sum -= self->slots[index].rec_hash;
    size_t after = self->match_count - index - 1;
    memmove (&self->slots[index], &self->slots[index + 1],
             after * sizeof (slot_t));
    memmove (&self->games[index], &self->games[index + 1],
             after * sizeof (pong_match_t));
    self->match_count--;
}

static int s_apply_gone (lobby_t *self, const rally_repl_t *in, char *reason,
                         size_t reason_size)
{
    for (size_t i = 0; i < in->gone_player_count; i++) {
        player_t *p = s_player (self, in->gone_players[i]);
        if (!p)
            return snprintf (reason, reason_size,
                             "a gone player is not here"), -1;
        s_drop_player (self, p);
    }
    for (size_t i = 0; i < in->gone_match_count; i++) {
        size_t index;
        if (!s_slot (self, in->gone_matches[i], &index))
            return snprintf (reason, reason_size, "gone match %u is not here",
                             in->gone_matches[i]), -1;
        s_drop_slot (self, index);
    }
    return 0;
}

static player_t *s_new_copy (lobby_t *self, const rally_player_rec_t *rec)
{
    player_t *p = (player_t *) zmalloc (sizeof (player_t));
    assert (p);
    memcpy (p->token, rec->token, RALLY_TOKEN_SIZE);
    s_hex (rec->token, RALLY_TOKEN_SIZE, p->key);
    strcpy (p->name, rec->name);
    p->rate_told_at = INT64_MIN / 2;
    zhashx_insert (self->players, p->key, p);
    zhashx_insert (self->names, p->name, p);
    return p;
}

static int s_apply_player (lobby_t *self, const rally_player_rec_t *rec,
                           char *reason, size_t reason_size)
{
    player_t *p = s_player (self, rec->token);
    player_t *named = (player_t *) zhashx_lookup (self->names, rec->name);
    if (named && named != p)
        return snprintf (reason, reason_size, "two players named %s",
                         rec->name), -1;
    if (p && strcmp (p->name, rec->name))
        return snprintf (reason, reason_size, "player %s changed its name",
                         p->name), -1;
    if (!p)
        p = s_new_copy (self, rec);
    p->state = (lobby_state_t) rec->state;
    p->match = rec->match;
    p->side = rec->side;
    bool reorder = p->ticket != rec->ticket;
    p->ticket = rec->ticket;
    if (p->state != LOBBY_QUEUED && p->queue_handle) {
        zlistx_delete (self->queue, p->queue_handle);
        p->queue_handle = NULL;
    }
    else if (p->state == LOBBY_QUEUED && !p->queue_handle)
        p->queue_handle = zlistx_insert (self->queue, p, false);
    else if (p->queue_handle && reorder)
        zlistx_reorder (self->queue, p->queue_handle, false);
    s_rehash (self, &p->rec_hash, rally_repl_player_hash (rec));
    return 0;
}

//  The slot for match id, made in id order if it is new.
static size_t s_slot_for (lobby_t *self, uint32_t id)
{
    size_t index;
    if (s_slot (self, id, &index))
        return index;
    if (self->match_count == self->match_cap)
        s_grow_matches (self);
    index = self->match_count;
    while (index > 0 && self->slots[index - 1].id > id)
        index--;
    size_t after = self->match_count - index;
    memmove (&self->slots[index + 1], &self->slots[index],
             after * sizeof (slot_t));
    memmove (&self->games[index + 1], &self->games[index],
             after * sizeof (pong_match_t));
    self->match_count++;
    memset (&self->slots[index], 0, sizeof (slot_t));
    self->slots[index].id = id;
    return index;
}

static int s_apply_match (lobby_t *self, const rally_match_rec_t *rec,
                          char *reason, size_t reason_size)
{
    player_t *seats[2] = {NULL, NULL};
    for (int side = 0; side < 2; side++)
        if (rec->seated & (1u << side)) {
            seats[side] = s_player (self, rec->tokens[side]);
            if (!seats[side])
                return snprintf (reason, reason_size, "match %u seats a "
                                 "player who is not here", rec->id), -1;
        }
    bool known = s_slot (self, rec->id, NULL) != NULL;
    size_t index = s_slot_for (self, rec->id);
    slot_t *slot = &self->slots[index];
    bool was_live = !known || s_live (slot);
    s_rec_to_game (rec, &self->games[index]);
    memcpy (slot->names, rec->names, sizeof (slot->names));
    slot->players[0] = seats[0];
    slot->players[1] = seats[1];
    slot->lost = rec->lost;
    slot->ended = rec->ended;
    s_rehash (self, &slot->rec_hash, rally_repl_match_hash (rec));
    //  Every node tells of a match decided, so that every node stores it.
    if (was_live && rec->ended) {
        const pong_match_t *g = &self->games[index];
        s_match_event (self, LOBBY_EVENT_OVER, index)->forfeit =
            g->winner >= 0 && g->score[g->winner] < self->cfg.points_to_win;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Checks: a diff or snapshot is checked whole before any of it is applied
//
//  The sender is a member, which proves who it is, not that it is right. A
//  state the lobby's own code could never reach (a player seated in a
//  match that does not seat it, a match id at or past the next, a next id
//  that would wrap) would break the lobby later, in code that trusts its
//  own invariants (a match found by binary search, a seat that points at a
//  freed player). So the state after the message is checked first, where
//  it can differ from the state held: every record in the message, and
//  every held record that refers to one the message changes or drops.

//  A player or a match as it will be once the message is applied.
typedef struct {
    const uint8_t *token;
    const char *name;
    uint32_t state, match;
    int32_t side;
    uint64_t ticket;
} s_pview_t;

typedef struct {
    uint32_t seated;
    const uint8_t *tokens[2];
} s_mview_t;

//  Scratch for one check: the message's records by key.
typedef struct {
    lobby_t *self;
    const rally_repl_t *in;
    bool diff;                      //  else a snapshot: nothing held counts
    zhashx_t *players;              //  token hex -> rally_player_rec_t
    zhashx_t *gone;                 //  token hex -> player gone
    zhashx_t *names;                //  name -> rally_player_rec_t
    const rally_match_rec_t **matches;  //  the message's matches, by id
    uint32_t *gone_ids;             //  its gone match ids, sorted
    char *reason;
    size_t reason_size;
} s_check_t;

static int s_id_compare (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y ? -1 : x > y;
}

static bool s_id_in (const uint32_t *ids, size_t count, uint32_t id)
{
    return count && bsearch (&id, ids, count, sizeof (uint32_t), s_id_compare);
}

static int s_fail (s_check_t *c, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (c->reason, c->reason_size, format, args);
    va_end (args);
    return -1;
}

static int s_rec_compare (const void *a, const void *b)
{
    return s_id_compare (&(*(const rally_match_rec_t *const *) a)->id,
                         &(*(const rally_match_rec_t *const *) b)->id);
}

//  The message's record for match id, or NULL.
static const rally_match_rec_t *s_msg_match (s_check_t *c, uint32_t id)
{
    rally_match_rec_t key = { .id = id };
    const rally_match_rec_t *keyp = &key;
    if (c->in->match_count == 0)
        return NULL;
    const rally_match_rec_t **found = (const rally_match_rec_t **) bsearch (
        &keyp, c->matches, c->in->match_count, sizeof (*c->matches),
        s_rec_compare);
    return found ? *found : NULL;
}

static bool s_post_player (s_check_t *c, const uint8_t *token, s_pview_t *v)
{
    char key[RALLY_TOKEN_SIZE * 2 + 1];
    s_hex (token, RALLY_TOKEN_SIZE, key);
    const rally_player_rec_t *rec =
        (const rally_player_rec_t *) zhashx_lookup (c->players, key);
    if (rec) {
        *v = (s_pview_t) { rec->token, rec->name, rec->state, rec->match,
                           rec->side, rec->ticket };
        return true;
    }
    player_t *p = c->diff && !zhashx_lookup (c->gone, key)
                ? s_player (c->self, token) : NULL;
    if (!p)
        return false;
    *v = (s_pview_t) { p->token, p->name, p->state, p->match, p->side,
                       p->ticket };
    return true;
}

static bool s_post_match (s_check_t *c, uint32_t id, s_mview_t *v)
{
    const rally_match_rec_t *rec = s_msg_match (c, id);
    if (rec) {
        v->seated = rec->seated;
        v->tokens[0] = rec->tokens[0];
        v->tokens[1] = rec->tokens[1];
        return true;
    }
    const slot_t *slot = c->diff && !s_id_in (c->gone_ids,
                                              c->in->gone_match_count, id)
                       ? s_slot (c->self, id, NULL) : NULL;
    if (!slot)
        return false;
    v->seated = 0;
    for (int side = 0; side < 2; side++) {
        v->tokens[side] = slot->players[side] ? slot->players[side]->token
                                              : NULL;
        if (slot->players[side])
            v->seated |= 1u << side;
    }
    return true;
}

//  A player's own fields, and the match it says it plays in.
static int s_check_player (s_check_t *c, const uint8_t *token)
{
    s_pview_t v;
    if (!s_post_player (c, token, &v))
        return 0;
    uint64_t next_ticket = c->in->next_ticket;
    if (v.state == LOBBY_QUEUED
        && (v.match || v.side != -1 || v.ticket < 1 || v.ticket > next_ticket))
        return s_fail (c, "queued player %s has match %u, side %d, ticket %"
                       PRIu64, v.name, v.match, v.side, v.ticket);
    if (v.state == LOBBY_ENDED && (v.match || v.side != -1 || v.ticket))
        return s_fail (c, "player %s, ended, still has match %u", v.name,
                       v.match);
    if (v.state != LOBBY_PLAYING)
        return 0;
    s_mview_t m;
    if (v.side < 0 || v.ticket || !s_post_match (c, v.match, &m))
        return s_fail (c, "player %s plays in match %u, which is not here",
                       v.name, v.match);
    if (!(m.seated & (1u << v.side))
        || memcmp (m.tokens[v.side], v.token, RALLY_TOKEN_SIZE))
        return s_fail (c, "player %s is not in the seat of match %u it "
                       "says it holds", v.name, v.match);
    return 0;
}

//  A match's seats: each holder is here and plays this match on that side.
static int s_check_seats (s_check_t *c, uint32_t id)
{
    s_mview_t m;
    if (!s_post_match (c, id, &m))
        return 0;
    for (int side = 0; side < 2; side++) {
        s_pview_t v;
        if (!(m.seated & (1u << side)))
            continue;
        if (!s_post_player (c, m.tokens[side], &v))
            return s_fail (c, "match %u seats a player who is not here", id);
        if (v.state != LOBBY_PLAYING || v.match != id || v.side != side)
            return s_fail (c, "match %u seats player %s, who plays match "
                           "%u side %d", id, v.name, v.match, v.side);
    }
    return 0;
}

static int s_check_globals (s_check_t *c)
{
    const rally_repl_t *in = c->in;
    lobby_t *self = c->self;
    if (in->next_match < 1 || in->next_match > LOBBY_MATCH_ID_MAX + 1)
        return s_fail (c, "next match id %u is out of range (1..%u)",
                       in->next_match, LOBBY_MATCH_ID_MAX + 1);
    if (c->diff && (in->next_match < self->next_match
                    || in->next_ticket < self->next_ticket
                    || in->ticks < self->ticks))
        return s_fail (c, "diff %" PRIu64 " takes a counter back (next match "
                       "%u after %u)", in->seq, in->next_match,
                       self->next_match);
    return 0;
}

//  The message's own records: keys unique, values in range, names free.
static int s_check_records (s_check_t *c)
{
    const rally_repl_t *in = c->in;
    for (size_t i = 0; i < in->match_count; i++) {
        const rally_match_rec_t *rec = &in->matches[i];
        if (rec->id >= in->next_match)
            return s_fail (c, "match %u is not below the next id, %u",
                           rec->id, in->next_match);
        if (rec->score[0] > c->self->cfg.points_to_win
            || rec->score[1] > c->self->cfg.points_to_win)
            return s_fail (c, "match %u has a score past %u", rec->id,
                           c->self->cfg.points_to_win);
        if (i && c->matches[i]->id == c->matches[i - 1]->id)
            return s_fail (c, "match %u comes twice", c->matches[i]->id);
    }
    for (size_t i = 0; i < in->player_count; i++) {
        const rally_player_rec_t *rec = &in->players[i];
        char key[RALLY_TOKEN_SIZE * 2 + 1];
        s_hex (rec->token, RALLY_TOKEN_SIZE, key);
        if (zhashx_insert (c->players, key, (void *) rec))
            return s_fail (c, "player %s comes twice", rec->name);
        if (zhashx_insert (c->names, rec->name, (void *) rec))
            return s_fail (c, "two players named %s", rec->name);
    }
    return 0;
}

//  A name the message gives must not be held by a player it keeps.
static int s_check_names (s_check_t *c)
{
    for (size_t i = 0; c->diff && i < c->in->player_count; i++) {
        const rally_player_rec_t *rec = &c->in->players[i];
        player_t *named = (player_t *) zhashx_lookup (c->self->names,
                                                      rec->name);
        s_pview_t v;
        if (named && memcmp (named->token, rec->token, RALLY_TOKEN_SIZE)
            && s_post_player (c, named->token, &v)
            && streq (v.name, rec->name))
            return s_fail (c, "two players named %s", rec->name);
        player_t *p = s_player (c->self, rec->token);
        if (p && !zhashx_lookup (c->gone, p->key) && strcmp (p->name, rec->name))
            return s_fail (c, "player %s changed its name", p->name);
    }
    return 0;
}

//  How many players and matches the lobby will hold, within its limits.
static int s_check_counts (s_check_t *c)
{
    const rally_repl_t *in = c->in;
    size_t players = c->diff ? zhashx_size (c->self->players) : 0;
    size_t matches = c->diff ? c->self->match_count : 0;
    for (size_t i = 0; i < in->gone_player_count; i++) {
        if (!s_player (c->self, in->gone_players[i]))
            return s_fail (c, "a gone player is not here");
        players--;
    }
    for (size_t i = 0; i < in->gone_match_count; i++) {
        if (!s_slot (c->self, in->gone_matches[i], NULL))
            return s_fail (c, "gone match %u is not here", in->gone_matches[i]);
        matches--;
    }
    for (size_t i = 0; i < in->player_count; i++) {
        const uint8_t *token = in->players[i].token;
        char key[RALLY_TOKEN_SIZE * 2 + 1];
        s_hex (token, RALLY_TOKEN_SIZE, key);
        if (!c->diff || !s_player (c->self, token) || zhashx_lookup (c->gone, key))
            players++;
    }
    for (size_t i = 0; i < in->match_count; i++) {
        uint32_t id = in->matches[i].id;
        if (!c->diff || !s_slot (c->self, id, NULL)
            || s_id_in (c->gone_ids, in->gone_match_count, id))
            matches++;
    }
    if (players > c->self->cfg.max_players)
        return s_fail (c, "%zu players, more than the %u a node holds",
                       players, c->self->cfg.max_players);
    if (matches > LOBBY_MATCHES_MAX (&c->self->cfg))
        return s_fail (c, "%zu matches, more than the %u a node holds",
                       matches, LOBBY_MATCHES_MAX (&c->self->cfg));
    return 0;
}

//  True if a diff's match record seats the players the held slot does,
//  and the diff leaves those players as they are: the seats were right,
//  so they still are, and the common record (a match that only moved its
//  ball) costs no lookup.
static bool s_same_seats (s_check_t *c, const rally_match_rec_t *rec,
                          const slot_t *slot)
{
    bool players_untouched = c->in->player_count == 0
                          && c->in->gone_player_count == 0;
    for (int side = 0; side < 2; side++) {
        const player_t *held = slot->players[side];
        bool seated = (rec->seated & (1u << side)) != 0;
        if (seated != (held != NULL))
            return false;
        if (!held)
            continue;
        if (memcmp (held->token, rec->tokens[side], RALLY_TOKEN_SIZE))
            return false;
        if (!players_untouched && (zhashx_lookup (c->players, held->key)
                                   || zhashx_lookup (c->gone, held->key)))
            return false;
    }
    return true;
}

//  References: every record the message carries, and every held one that
//  refers to a record it changes or drops.
static int s_check_references (s_check_t *c)
{
    const rally_repl_t *in = c->in;
    for (size_t i = 0; i < in->player_count; i++) {
        if (s_check_player (c, in->players[i].token))
            return -1;
        player_t *p = c->diff ? s_player (c->self, in->players[i].token) : NULL;
        if (p && p->match && s_check_seats (c, p->match))
            return -1;
    }
    for (size_t i = 0; i < in->gone_player_count; i++) {
        player_t *p = s_player (c->self, in->gone_players[i]);
        if (p && p->match && s_check_seats (c, p->match))
            return -1;
    }
    for (size_t i = 0; i < in->match_count + in->gone_match_count; i++) {
        uint32_t id = i < in->match_count ? in->matches[i].id
                                          : in->gone_matches[i - in->match_count];
        const slot_t *slot = c->diff ? s_slot (c->self, id, NULL) : NULL;
        if (i < in->match_count && slot
            && s_same_seats (c, &in->matches[i], slot))
            continue;
        if (i < in->match_count && s_check_seats (c, id))
            return -1;
        for (int side = 0; slot && side < 2; side++)
            if (slot->players[side]
                && s_check_player (c, slot->players[side]->token))
                return -1;
    }
    return 0;
}

static uint32_t *s_sorted_gone (const rally_repl_t *in)
{
    size_t count = in->gone_match_count;
    uint32_t *ids = (uint32_t *) malloc ((count ? count : 1) * sizeof (uint32_t));
    if (!ids)
        return NULL;
    //  A message with no gone match may have no array at all, and memcpy
    //  from NULL is undefined even for 0 bytes (UBSan, fuzz_lobby).
    if (count)
        memcpy (ids, in->gone_matches, count * sizeof (uint32_t));
    qsort (ids, count, sizeof (uint32_t), s_id_compare);
    return ids;
}

static const rally_match_rec_t **s_sorted_matches (const rally_repl_t *in)
{
    size_t count = in->match_count;
    const rally_match_rec_t **recs = (const rally_match_rec_t **) malloc (
        (count ? count : 1) * sizeof (*recs));
    if (!recs)
        return NULL;
    for (size_t i = 0; i < count; i++)
        recs[i] = &in->matches[i];
    qsort (recs, count, sizeof (*recs), s_rec_compare);
    return recs;
}

int lobby_check (lobby_t *self, const rally_repl_t *in, char *reason,
                 size_t reason_size)
{
    assert (self && in && reason);
    s_check_t c = { self, in, in->kind == RALLY_REPL_DIFF, zhashx_new (),
                    zhashx_new (), zhashx_new (), s_sorted_matches (in),
                    s_sorted_gone (in), reason, reason_size };
    int rc = -1;
    if (!c.players || !c.gone || !c.names || !c.matches || !c.gone_ids)
        snprintf (reason, reason_size, "out of memory checking it");
    else {
        for (size_t i = 0; i < in->gone_player_count; i++) {
            char key[RALLY_TOKEN_SIZE * 2 + 1];
            s_hex (in->gone_players[i], RALLY_TOKEN_SIZE, key);
            zhashx_update (c.gone, key, (void *) 1);
        }
        rc = s_check_globals (&c) || s_check_records (&c) || s_check_names (&c)
          || s_check_counts (&c) || s_check_references (&c) ? -1 : 0;
    }
    zhashx_destroy (&c.players);
    zhashx_destroy (&c.gone);
    zhashx_destroy (&c.names);
    free (c.matches);
    free (c.gone_ids);
    return rc;
}

int lobby_apply (lobby_t *self, const rally_repl_t *in, char *reason,
                 size_t reason_size)
{
    assert (self && in && reason);
    if (in->kind == RALLY_REPL_DIFF && lobby_hash (self) != in->base_hash)
        return snprintf (reason, reason_size, "diff %" PRIu64 " is not "
                         "against the state held", in->seq), -1;
    //  Refused whole, the lobby as it was: nothing of it applied.
    if (lobby_check (self, in, reason, reason_size))
        return -1;
    if (in->kind == RALLY_REPL_SNAPSHOT)
        s_clear (self);
    if (s_apply_gone (self, in, reason, reason_size))
        return -1;
    for (size_t i = 0; i < in->player_count; i++)
        if (s_apply_player (self, &in->players[i], reason, reason_size))
            return -1;
    for (size_t i = 0; i < in->match_count; i++)
        if (s_apply_match (self, &in->matches[i], reason, reason_size))
            return -1;
    self->ticks = in->ticks;
    self->next_match = in->next_match;
    self->next_ticket = in->next_ticket;
    self->shipped_hash = lobby_hash (self);
    if (self->shipped_hash != in->hash)
        return snprintf (reason, reason_size, "state after %s %" PRIu64
                         " hashes to %016" PRIx64 ", not %016" PRIx64,
                         in->kind == RALLY_REPL_DIFF ? "diff" : "snapshot",
                         in->seq, self->shipped_hash, in->hash), -1;
    return 0;
}

void lobby_adopt (lobby_t *self, int64_t now_ms)
{
    assert (self);
    player_t *p = (player_t *) zhashx_first (self->players);
    for (; p; p = (player_t *) zhashx_next (self->players)) {
        p->heard_at = now_ms;
        p->lost = false;
        p->told_position = 0;
        p->rate_window = now_ms;
        p->rate_count = 0;
    }
    //  A player the old leader had lost stays lost, its grace counted anew.
    for (size_t i = 0; i < self->match_count; i++) {
        slot_t *slot = &self->slots[i];
        slot->ended_at = now_ms;
        for (int side = 0; side < 2; side++)
            if ((slot->lost & (1u << side)) && slot->players[side]) {
                slot->players[side]->lost = true;
                slot->players[side]->lost_since = now_ms;
            }
    }
    self->gone_match_count = self->gone_player_count = 0;
    self->shipped_hash = lobby_hash (self);
}

//  --------------------------------------------------------------------------
//  Queries

int lobby_player_info (lobby_t *self, const uint8_t *token,
                       lobby_player_info_t *info)
{
    assert (self && token && info);
    player_t *p = s_player (self, token);
    if (!p)
        return -1;
    memset (info, 0, sizeof (*info));
    strcpy (info->name, p->name);
    info->state = p->state;
    info->position = p->state == LOBBY_QUEUED ? s_position (self, p) : 0;
    info->match = p->match;
    info->side = p->side;
    info->lost = p->lost;
    return 0;
}

void lobby_match_state (const lobby_match_view_t *view,
                        rally_msg_state_t *state)
{
    assert (view && state);
    const pong_match_t *g = view->game;
    state->match = view->id;
    state->tick = g->tick;
    state->phase = g->phase;
    state->score[0] = g->score[0];
    state->score[1] = g->score[1];
    state->ball[0] = g->ball_x;
    state->ball[1] = g->ball_y;
    state->ball[2] = g->ball_vx;
    state->ball[3] = g->ball_vy;
    state->paddles[0] = g->paddle_y[0];
    state->paddles[1] = g->paddle_y[1];
    state->intents[0] = g->intent[0];
    state->intents[1] = g->intent[1];
    state->serve = g->serve;
    state->countdown = g->countdown;
    state->winner = g->winner;
    state->lost = view->lost;
    memcpy (state->names, view->names, sizeof (view->names));
}

size_t lobby_match_count (lobby_t *self)
{
    assert (self);
    return self->match_count;
}

int lobby_match_at (lobby_t *self, size_t index, lobby_match_view_t *view)
{
    assert (self && view);
    if (index >= self->match_count)
        return -1;
    const slot_t *slot = &self->slots[index];
    view->id = slot->id;
    view->game = &self->games[index];
    memcpy (view->names, slot->names, sizeof (slot->names));
    view->lost = slot->lost;
    return 0;
}

int lobby_match_find (lobby_t *self, uint32_t id, lobby_match_view_t *view)
{
    assert (self && view);
    size_t index;
    if (!s_slot (self, id, &index))
        return -1;
    return lobby_match_at (self, index, view);
}

size_t lobby_players (lobby_t *self)
{
    assert (self);
    return zhashx_size (self->players);
}

size_t lobby_waiting (lobby_t *self)
{
    assert (self);
    return zlistx_size (self->queue);
}

size_t lobby_live_matches (lobby_t *self)
{
    assert (self);
    size_t live = 0;
    for (size_t i = 0; i < self->match_count; i++)
        live += s_live (&self->slots[i]);
    return live;
}

const lobby_config_t *lobby_config (lobby_t *self)
{
    assert (self);
    return &self->cfg;
}

const char *lobby_result_code (lobby_result_t result)
{
    if ((size_t) result >= sizeof (s_results) / sizeof (s_results[0]))
        return "?";
    return s_results[result].code;
}

const char *lobby_result_reason (lobby_result_t result)
{
    if ((size_t) result >= sizeof (s_results) / sizeof (s_results[0]))
        return "?";
    return s_results[result].reason;
}
