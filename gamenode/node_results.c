/*  node_results - finished matches: stored, retried, and converged.

    Every node stores each finished match as it applies it; a store the
    database refused is retried until it succeeds. Nodes compare their
    stores as runs of stored ids within a window
    ("have"), both ways: the leader sends a follower what it lacks, the
    follower sends the leader what the leader lacks. A node says when its
    store is behind, and by how many.
*/
#include "node_impl.h"

//  --------------------------------------------------------------------------
//  Storing

//  Stores a finished match; one the database refused (full, locked,
//  read-only) waits in unstored and is tried again until it goes in.
static void s_keep (node_t *self, const results_match_t *m)
{
    if (results_store (self->results, m) != RESULTS_FAILED)
        return;
    results_match_t *waiting = (results_match_t *) zlist_first (self->unstored);
    for (; waiting; waiting = (results_match_t *) zlist_next (self->unstored))
        if (waiting->match == m->match)
            return;             //  sent again by a peer: tried already
    zsys_warning ("gamenode: node %u could not store match %u; it will try "
                  "again every %d ms", self->cfg.id, m->match, NODE_RETRY_MS);
    results_match_t *copy = (results_match_t *) zmalloc (sizeof (*copy));
    assert (copy);
    *copy = *m;
    zlist_append (self->unstored, copy);
    if (!self->retry_at)
        self->retry_at = zclock_mono () + NODE_RETRY_MS;
}

//  Tries the stores that failed, in order, until one fails again.
void node_retry_stores (node_t *self, int64_t now)
{
    if (!self->retry_at || now < self->retry_at)
        return;
    results_match_t *m;
    while ((m = (results_match_t *) zlist_first (self->unstored))) {
        if (results_store (self->results, m) == RESULTS_FAILED) {
            rally_warn (&self->warn, now, "match %u is still not stored (%zu "
                        "waiting); trying again", m->match,
                        zlist_size (self->unstored));
            self->retry_at = now + NODE_RETRY_MS;
            return;
        }
        zsys_info ("gamenode: node %u stored match %u at last", self->cfg.id,
                   m->match);
        zlist_pop (self->unstored);
        free (m);
    }
    self->retry_at = 0;
}

//  A decided match, as this node's store keeps it.
void node_store_over (node_t *self, const lobby_event_t *ev)
{
    results_match_t m;
    memset (&m, 0, sizeof (m));
    m.match = ev->match;
    memcpy (m.names, ev->names, sizeof (m.names));
    m.score[0] = ev->score[0];
    m.score[1] = ev->score[1];
    m.winner = ev->winner;
    m.forfeit = ev->forfeit;
    m.term = self->term;
    s_keep (self, &m);
}
//  --------------------------------------------------------------------------
//  Convergence: runs of stored ids compared, what is missing sent

//  True if have's runs are ascending, apart and inside its window.
static bool s_have_valid (const rally_msg_have_t *have)
{
    if (have->lo > have->hi)
        return false;
    for (uint32_t i = 0; i < have->count; i++) {
        const rally_range_t *r = &have->ranges[i];
        if (r->lo > r->hi || r->lo < have->lo || r->hi > have->hi
            || (i && r->lo <= have->ranges[i - 1].hi))
            return false;
    }
    return true;
}

//  Cuts runs down to ids at most hi.
static void s_clip (rally_range_t *runs, uint32_t *count, uint32_t hi)
{
    uint32_t kept = 0;
    while (kept < *count && runs[kept].lo <= hi) {
        if (runs[kept].hi > hi)
            runs[kept].hi = hi;
        kept++;
    }
    *count = kept;
}

//  The ids in runs a that are not in runs b (both ascending): the first
//  cap of them into out, *filled how many; returns how many there are in
//  all, counted by run, never one by one (a run can span billions).
static uint64_t s_missing (const rally_range_t *a, size_t na,
                           const rally_range_t *b, size_t nb,
                           uint32_t *out, size_t cap, size_t *filled)
{
    uint64_t total = 0;
    size_t j = 0;
    *filled = 0;
    for (size_t i = 0; i < na; i++) {
        uint64_t at = a[i].lo, hi = a[i].hi;
        while (j < nb && b[j].hi < at)
            j++;
        size_t k = j;
        while (at <= hi) {
            if (k < nb && b[k].lo <= at) {
                at = (uint64_t) b[k++].hi + 1;
                continue;
            }
            uint64_t end = k < nb && b[k].lo <= hi ? b[k].lo - 1 : hi;
            total += end - at + 1;
            for (uint64_t id = at; id <= end && *filled < cap; id++)
                out[(*filled)++] = (uint32_t) id;
            at = end + 1;
        }
    }
    return total;
}

//  Sends results to the peer (a follower, through the ROUTER) or, with
//  no peer, to the leader.
static void s_send_page (node_t *self, const uint8_t *peer, size_t peer_size,
                         rally_msg_t *page)
{
    if (page->u.results.count == 0)
        return;
    if (peer_size)
        node_send_to (self, peer, peer_size, page);
    else if (self->upstream)
        rally_msg_send (page, self->upstream);
    page->u.results.count = 0;
}

//  Sends the stored matches of these ids, a page at a time.
static void s_push (node_t *self, const uint8_t *peer, size_t peer_size,
                    const uint32_t *ids, size_t count)
{
    rally_msg_t *page = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (page);
    rally_msg_init (page, RALLY_MSG_RESULTS);
    node_origin (self, &page->u.results.from);
    for (size_t i = 0; i < count; i++) {
        rally_result_t *r = &page->u.results.results[page->u.results.count];
        if (results_get (self->results, ids[i], r) == 0
            && ++page->u.results.count == RALLY_RESULTS_MAX)
            s_send_page (self, peer, peer_size, page);
    }
    s_send_page (self, peer, peer_size, page);
    free (page);
}

//  This node's runs of ids in the window lo..hi, as a have: hi is cut to
//  where this node's own description ends. -1 on a database error.
static int s_describe (node_t *self, uint32_t lo, uint32_t hi,
                       rally_msg_t *msg)
{
    rally_msg_init (msg, RALLY_MSG_HAVE);
    rally_msg_have_t *have = &msg->u.have;
    node_origin (self, &have->from);
    size_t count = 0;
    uint32_t end = 0;
    if (results_ranges (self->results, lo, RALLY_HAVE_RANGES, have->ranges,
                        &count, &end))
        return -1;
    have->lo = lo;
    have->hi = end < hi ? end : hi;
    have->count = (uint32_t) count;
    s_clip (have->ranges, &have->count, have->hi);
    have->top = node_top (self);
    return 0;
}

//  Follower: describes its store from lo on to the leader.
static void s_send_have (node_t *self, uint32_t lo)
{
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (msg);
    if (self->upstream && s_describe (self, lo, UINT32_MAX, msg) == 0) {
        rally_msg_send (msg, self->upstream);
        self->round_lo = lo;
    }
    else
        self->round_lo = 0;
    free (msg);
}

void node_begin_round (node_t *self, int64_t now)
{
    self->round_at = now;
    self->round_behind = 0;
    s_send_have (self, 1);
}

//  Says when the node's store is behind the leader's, and when no more.
static void s_set_behind (node_t *self, uint64_t behind)
{
    if (behind == self->behind)
        return;
    if (behind)
        zsys_warning ("gamenode: node %u is behind by %" PRIu64 " finished "
                      "match%s", self->cfg.id, behind, behind == 1 ? "" : "es");
    else
        zsys_info ("gamenode: node %u holds every finished match its leader "
                   "holds", self->cfg.id);
    self->behind = behind;
}

//  Follower: the leader's runs for the window asked. Sends the leader what
//  it lacks, counts what this node still lacks (the leader has sent it
//  before this reply), and asks about the next window.
void node_on_leader_have (node_t *self, const rally_msg_have_t *have)
{
    if (have->from.node != self->leader || have->from.term != self->term
        || !self->round_lo || have->lo != self->round_lo)
        return;
    rally_msg_t *mine = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (mine);
    if (!s_have_valid (have))
        rally_warn (&self->warn, zclock_mono (), "the leader's have is "
                    "malformed");
    else if (s_describe (self, have->lo, have->hi, mine) == 0) {
        rally_msg_have_t *m = &mine->u.have;
        rally_range_t theirs[RALLY_HAVE_RANGES];
        uint32_t their_count = have->count;
        memcpy (theirs, have->ranges, sizeof (theirs[0]) * their_count);
        s_clip (theirs, &their_count, m->hi);
        uint32_t ids[NODE_PUSH_PAGES * RALLY_RESULTS_MAX];
        size_t filled;
        s_missing (m->ranges, m->count, theirs, their_count, ids,
                   sizeof (ids) / sizeof (ids[0]), &filled);
        s_push (self, NULL, 0, ids, filled);
        self->round_behind += s_missing (theirs, their_count, m->ranges,
                                         m->count, ids, 0, &filled);
        if (m->hi == UINT32_MAX) {
            s_set_behind (self, self->round_behind);
            self->round_lo = 0;
        }
        else
            s_send_have (self, m->hi + 1);
    }
    free (mine);
}

//  Results from the leader, or from a follower: kept.
void node_on_results (node_t *self, const rally_msg_results_t *page)
{
    for (uint32_t i = 0; i < page->count; i++) {
        //  An id no lobby makes would take every id after it at restart.
        if (page->results[i].match > LOBBY_MATCH_ID_MAX) {
            rally_warn (&self->warn, zclock_mono (), "result of match %u "
                        "refused: ids stop at %u", page->results[i].match,
                        LOBBY_MATCH_ID_MAX);
            return;
        }
        //  Nor a term no broker grants (rally_term.h): it would not even
        //  fit the store's integers.
        if (page->results[i].term > RALLY_TERM_MAX) {
            rally_warn (&self->warn, zclock_mono (), "result of match %u "
                        "refused: term %" PRIu64 " is past %" PRIu64,
                        page->results[i].match, page->results[i].term,
                        RALLY_TERM_MAX);
            return;
        }
        s_keep (self, &page->results[i]);
    }
    if (page->count)
        zsys_info ("gamenode: node %u caught up on %u finished match%s from "
                   "node %u (%u..%u)", self->cfg.id, page->count,
                   page->count == 1 ? "" : "es", page->from.node,
                   page->results[0].match, page->results[page->count - 1].match);
}


//  A follower's runs of ids: what it lacks goes to it, then this node's
//  runs for the same window, from which it sends back what this node
//  lacks. Its top says which ids it holds taken.
void node_on_have (node_t *self, const uint8_t *peer, size_t peer_size,
                   const rally_msg_have_t *have, int64_t now)
{
    uint32_t node = have->from.node;
    if (have->from.term != self->term || node == self->cfg.id
        || !rally_cluster_node (&self->cfg.cluster, node))
        return;                 //  not a follower of this term
    if (!s_have_valid (have)) {
        rally_warn (&self->warn, now, "node %u sent a malformed have", node);
        return;
    }
    self->follower_heard[node] = now;
    self->have_term[node] = self->term;
    //  Its results are taken from this route only (node_from_follower).
    self->have_peer_size[node] = peer_size <= NODE_PEER_MAX ? peer_size : 0;
    memcpy (self->have_peer[node], peer, self->have_peer_size[node]);
    if (have->top > LOBBY_MATCH_ID_MAX)
        rally_warn (&self->warn, now, "node %u holds match ids up to %u "
                    "taken; ids stop at %u", node, have->top,
                    LOBBY_MATCH_ID_MAX);
    else if (have->top >= lobby_next_match (self->lobby)) {
        zsys_info ("gamenode: node %u holds match ids up to %u taken; the "
                   "next match here gets a higher one", node, have->top);
        lobby_raise_matches (self->lobby, have->top);
    }
    rally_msg_t *mine = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (mine);
    if (s_describe (self, have->lo, have->hi, mine) == 0) {
        rally_msg_have_t *m = &mine->u.have;
        rally_range_t theirs[RALLY_HAVE_RANGES];
        uint32_t their_count = have->count;
        memcpy (theirs, have->ranges, sizeof (theirs[0]) * their_count);
        s_clip (theirs, &their_count, m->hi);
        uint32_t ids[NODE_PUSH_PAGES * RALLY_RESULTS_MAX];
        size_t filled;
        s_missing (m->ranges, m->count, theirs, their_count, ids,
                   sizeof (ids) / sizeof (ids[0]), &filled);
        s_push (self, peer, peer_size, ids, filled);
        uint64_t lacks = s_missing (theirs, their_count, m->ranges, m->count,
                                    ids, 0, &filled);
        if (lacks)
            zsys_info ("gamenode: node %u lacks %" PRIu64 " finished match%s "
                       "that node %u holds; it sends them", self->cfg.id,
                       lacks, lacks == 1 ? "" : "es", node);
        node_send_to (self, peer, peer_size, mine);
    }
    free (mine);
}

//  True if from is a follower of this term that sent its have this term
//  on this very route: results are taken from no one else.
bool node_from_follower (node_t *self, const rally_origin_t *from,
                         const uint8_t *peer, size_t peer_size)
{
    uint32_t node = from->node;
    return from->term == self->term && node >= 1 && node <= RALLY_NODE_ID_MAX
        && self->have_term[node] == self->term
        && self->have_peer_size[node] == peer_size && peer_size > 0
        && memcmp (self->have_peer[node], peer, peer_size) == 0;
}

//  The finished matches after after, a page at a time.
void node_send_results (node_t *self, const uint8_t *peer,
                        size_t peer_size, uint32_t after)
{
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (msg);
    rally_msg_init (msg, RALLY_MSG_RESULTS);
    node_origin (self, &msg->u.results.from);
    size_t count = 0;
    if (results_since (self->results, after, RALLY_RESULTS_MAX,
                       msg->u.results.results, &count) == 0) {
        msg->u.results.count = (uint32_t) count;
        node_send_to (self, peer, peer_size, msg);
    }
    free (msg);
}

//  A player's or an operator's look at the stored matches, newest first.
//  Any node answers: every node stores every match it applied.
void node_send_history (node_t *self, const uint8_t *peer,
                        size_t peer_size, const rally_msg_history_t *req)
{
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (msg);
    rally_msg_init (msg, RALLY_MSG_RESULTS);
    node_origin (self, &msg->u.results.from);
    size_t count = 0;
    if (results_recent (self->results, req->name, req->before,
                        RALLY_RESULTS_MAX, msg->u.results.results, &count) == 0) {
        msg->u.results.count = (uint32_t) count;
        node_send_to (self, peer, peer_size, msg);
    }
    else
        node_send_error (self, peer, peer_size, "unavailable",
                         "the results store cannot be read");
    free (msg);
}

void node_send_board (node_t *self, const uint8_t *peer,
                      size_t peer_size, const rally_msg_standings_t *req)
{
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    assert (msg);
    rally_msg_init (msg, RALLY_MSG_BOARD);
    rally_msg_board_t *b = &msg->u.board;
    node_origin (self, &b->from);
    snprintf (b->own.name, sizeof (b->own.name), "%s", req->name);
    size_t count = 0;
    if (results_standings (self->results, RALLY_BOARD_MAX, b->top, &count,
                           &b->players, &b->own) == 0) {
        b->count = (uint32_t) count;
        node_send_to (self, peer, peer_size, msg);
    }
    else
        node_send_error (self, peer, peer_size, "unavailable",
                         "the results store cannot be read");
    free (msg);
}