/*  broker - the broker's table of game nodes. See broker.h.

    The table is a small array kept sorted by id, so that the cluster
    report needs no sort and the leader rule's "lowest id among equals" is
    simply the first found. Sixteen entries make every walk trivial.

    Time only ever enters as now_ms. A node's liveness is computed from
    when it was last heard each time it is asked, so queries are right
    whether or not broker_expire has run; broker_expire is what notices
    changes (a node gone quiet, the leader gone) and reports them.
*/
#include "broker.h"
#include "rally_term.h"

#include <string.h>

#define BROKER_EVENTS_MAX   64      //  more than one call can produce
#define BROKER_ID_BYTES     ((RALLY_NODE_ID_MAX + 8) / 8)

//  One node, as last heard.
typedef struct {
    rally_msg_node_hb_t hb;         //  its last heartbeat, as received
    int64_t heard_ms;               //  when that was, on the injected clock
    bool quiet;                     //  reported quiet and not heard since
    bool closed;                    //  its connection closed, not heard since
} s_node_t;

#define BROKER_WAIT_FRESHEST 2   //  leases a lapsed lease waits for the
                                    //  freshest live node to ask

struct _broker_t {
    uint32_t liveness_ms;               //  unheard this long: not live
    uint32_t lease_ms;                  //  length of a grant or renewal
    int64_t quiet_until;                //  grants nothing before this
    uint32_t holder;                    //  lease holder, 0 if none
    uint64_t lease_term;                //  its term
    int64_t expires_ms;                 //  when its lease lapses
    uint64_t granted_term;              //  highest term ever granted here
    uint32_t granted_to;                //  the node it went to
    uint32_t held_for;                  //  a silent holder whose lapsed
                                        //  lease is held for it, or 0
    uint64_t held_term;                 //  the term held
    int64_t first_ask_ms;               //  when a candidate first asked
                                        //  since the lease lapsed, or 0
    int64_t held_until;                 //  held until then at the latest
    s_node_t nodes[BROKER_NODES_MAX];   //  the table, sorted by id
    size_t node_count;                  //  entries in use
    uint64_t max_term;                  //  highest term ever heard
    uint32_t leader;                    //  leader as last reported, or 0
    uint64_t leader_term;               //  its term as last reported
    uint8_t refused[BROKER_ID_BYTES];   //  ids refused and already reported
    broker_event_t events[BROKER_EVENTS_MAX];   //  ring of pending events
    size_t event_head;                  //  index of the oldest event
    size_t event_count;                 //  events pending
};

//  --------------------------------------------------------------------------
//  Constructor and destructor

broker_t *broker_new (uint32_t liveness_ms, uint32_t lease_ms,
                      int64_t now_ms)
{
    broker_t *self = (broker_t *) calloc (1, sizeof (broker_t));
    if (!self)
        return NULL;
    self->liveness_ms = liveness_ms ? liveness_ms : BROKER_LIVENESS_MS;
    self->lease_ms = lease_ms ? lease_ms : BROKER_LEASE_MS;
    //  This broker may have promised a lease before it (re)started and
    //  remembers nothing: that promise runs out before it grants again.
    self->quiet_until = now_ms + self->lease_ms;
    return self;
}

void broker_destroy (broker_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Private helpers

//  Milliseconds since a node was heard; never negative, capped for the wire.
static uint32_t s_age (const s_node_t *node, int64_t now_ms)
{
    int64_t age = now_ms - node->heard_ms;
    if (age < 0)
        return 0;
    return age > UINT32_MAX ? UINT32_MAX : (uint32_t) age;
}

static bool s_node_live (broker_t *self, const s_node_t *node, int64_t now_ms)
{
    return s_age (node, now_ms) < self->liveness_ms;
}

static bool s_node_forgotten (const s_node_t *node, int64_t now_ms)
{
    return s_age (node, now_ms) >= BROKER_FORGET_MS;
}

//  A new event at the back of the ring; a full ring drops it (a caller
//  that never reads events loses only log lines, never state).
static broker_event_t *s_event (broker_t *self, broker_event_type_t type,
                                uint32_t node, uint64_t term)
{
    static broker_event_t dropped;
    if (self->event_count == BROKER_EVENTS_MAX)
        return &dropped;
    size_t index = (self->event_head + self->event_count++) % BROKER_EVENTS_MAX;
    broker_event_t *event = &self->events[index];
    memset (event, 0, sizeof (*event));
    event->type = type;
    event->node = node;
    event->term = term;
    return event;
}

//  Index of node id, or -1.
static int s_find (broker_t *self, uint32_t id)
{
    for (size_t i = 0; i < self->node_count; i++)
        if (self->nodes[i].hb.from.node == id)
            return (int) i;
    return -1;
}

static bool s_lease_valid (broker_t *self, int64_t now_ms)
{
    return self->holder != 0 && now_ms < self->expires_ms;
}

//  The leader, in one place: the holder of a valid lease once it says it
//  leads the lease's term (a node granted a minority of brokers' leases
//  never does). Returns an index, or -1.
static int s_choose_leader (broker_t *self, int64_t now_ms)
{
    if (!s_lease_valid (self, now_ms))
        return -1;
    int index = s_find (self, self->holder);
    if (index < 0 || self->nodes[index].hb.role != RALLY_ROLE_LEADER
        || self->nodes[index].hb.from.term != self->lease_term)
        return -1;
    return index;
}

//  The node a lapsed lease is held for, as an index, or -1 once the hold
//  is over: the holder was silent too long, its connection closed, or it
//  no longer says it leads the term (it gave up, or follows another).
static int s_held (broker_t *self, int64_t now_ms)
{
    if (!self->held_for)
        return -1;
    int index = s_find (self, self->held_for);
    const s_node_t *node = index < 0 ? NULL : &self->nodes[index];
    if (!node || node->closed || now_ms >= self->held_until
        || node->hb.role != RALLY_ROLE_LEADER
        || node->hb.from.term != self->held_term) {
        self->held_for = 0;
        return -1;
    }
    return index;
}

//  The lowest term a new grant may carry: above every term granted here
//  and every term a node has said it holds.
static uint64_t s_next_term (broker_t *self)
{
    uint64_t floor = self->granted_term > self->max_term ? self->granted_term
                                                         : self->max_term;
    return floor + 1;
}

//  A node that leads, on other brokers' grants, a term this broker can
//  grant it (one above any it granted, or the one it last granted to that
//  very node), and was heard lately: a broker that restarted, or fell out of
//  the leader's majority, joins it again instead of electing another.
static int s_sitting_leader (broker_t *self, int64_t now_ms)
{
    for (size_t i = 0; i < self->node_count; i++) {
        const s_node_t *node = &self->nodes[i];
        const rally_msg_node_hb_t *hb = &node->hb;
        if (hb->role != RALLY_ROLE_LEADER || hb->want != hb->from.term
            || hb->want < self->max_term
            || s_age (node, now_ms) >= self->lease_ms / 2)
            continue;
        if (hb->want > self->granted_term
            || (hb->want == self->granted_term
                && self->granted_to == hb->from.node))
            return (int) i;
    }
    return -1;
}

//  True if a's state is more up to date than b's: a higher term, then a
//  higher seq. Among equals the lower id wins, by the table's order.
static bool s_fresher (const rally_msg_node_hb_t *a,
                       const rally_msg_node_hb_t *b)
{
    return a->from.term > b->from.term
        || (a->from.term == b->from.term && a->seq > b->seq);
}

//  The live follower whose state is the most up to date, or -1. A node
//  whose connection closed is dead; one that says it leads is the holder
//  or held for (above), and no candidate.
static int s_freshest (broker_t *self, int64_t now_ms)
{
    int top = -1;
    for (size_t i = 0; i < self->node_count; i++)
        if (s_node_live (self, &self->nodes[i], now_ms)
            && !self->nodes[i].closed
            && self->nodes[i].hb.role != RALLY_ROLE_LEADER
            && (top < 0 || s_fresher (&self->nodes[i].hb, &self->nodes[top].hb)))
            top = (int) i;
    return top;
}

//  Since when this broker could grant: its last lease's end, or the end
//  of its quiet start, whichever is later.
static int64_t s_lapsed_at (broker_t *self)
{
    return self->expires_ms > self->quiet_until ? self->expires_ms
                                                : self->quiet_until;
}

//  True if a live node holds state (it has applied or made a tick): a
//  node restarted empty must not lead while one does, or the matches
//  under way are lost, however high the term on its disk.
static bool s_state_held (broker_t *self, int64_t now_ms)
{
    for (size_t i = 0; i < self->node_count; i++)
        if (self->nodes[i].hb.seq > 0
            && s_node_live (self, &self->nodes[i], now_ms))
            return true;
    return false;
}

//  The candidate a lapsed lease goes to: among live nodes that ask for a
//  new term, the most up to date (highest term, then seq), lowest id among
//  equals; never an empty node while a live node holds state, even one
//  that does not ask yet (it is in its campaign's back-off). Returns an
//  index, or -1.
static int s_candidate (broker_t *self, int64_t now_ms)
{
    uint64_t next = s_next_term (self);
    if (!rally_term_grantable (next - 1))
        return -1;      //  the last term is spent: none is left
    bool state_held = s_state_held (self, now_ms);
    int best = -1;
    for (size_t i = 0; i < self->node_count; i++) {
        const rally_msg_node_hb_t *hb = &self->nodes[i].hb;
        if (hb->want < next || !s_node_live (self, &self->nodes[i], now_ms)
            || (state_held && hb->seq == 0))
            continue;
        if (best < 0 || s_fresher (hb, &self->nodes[best].hb))
            best = (int) i;
    }
    //  The freshest live node, asking or not, is waited for a while: every
    //  broker that hears the same nodes then grants the same one, instead
    //  of each the first to ask (grants that split cost a term each), and
    //  a node behind the others never leads while they live. Bounded, for
    //  a node that is heard but cannot win (it hears too few brokers).
    if (best < 0)
        return -1;
    //  The wait counts from the first ask, not the lapse: after an outage
    //  in which nobody could ask, the lapse is long past.
    if (!self->first_ask_ms || self->first_ask_ms < s_lapsed_at (self))
        self->first_ask_ms = now_ms;
    int top = s_freshest (self, now_ms);
    if (top >= 0 && top != best
        && s_fresher (&self->nodes[top].hb, &self->nodes[best].hb)
        && now_ms < self->first_ask_ms + BROKER_WAIT_FRESHEST * self->lease_ms)
        return -1;
    return best;
}

//  Reports the leader if it is not the one last reported. Its term is the
//  lease's: the holder's heartbeats carry its follower term until it has
//  heard the grant, and that is no change of leader.
static void s_check_leader (broker_t *self, int64_t now_ms)
{
    int index = s_choose_leader (self, now_ms);
    uint32_t id = index < 0 ? 0 : self->nodes[index].hb.from.node;
    uint64_t term = index < 0 ? 0 : self->lease_term;
    if (id == self->leader && term == self->leader_term)
        return;
    broker_event_t *event = s_event (self, BROKER_EVENT_LEADER, id, term);
    event->previous = self->leader;
    self->leader = id;
    self->leader_term = term;
}

//  Drops every node unheard for BROKER_FORGET_MS, keeping the order.
static void s_forget (broker_t *self, int64_t now_ms)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->node_count; i++) {
        s_node_t *node = &self->nodes[i];
        if (s_node_forgotten (node, now_ms)) {
            broker_event_t *event = s_event (self, BROKER_EVENT_FORGOTTEN,
                                             node->hb.from.node,
                                             node->hb.from.term);
            event->age_ms = s_age (node, now_ms);
        }
        else
            self->nodes[kept++] = *node;
    }
    self->node_count = kept;
}

static bool s_refused_bit (broker_t *self, uint32_t id)
{
    return self->refused[id / 8] & (1u << (id % 8));
}

static void s_set_refused (broker_t *self, uint32_t id, bool on)
{
    if (on)
        self->refused[id / 8] |= (uint8_t) (1u << (id % 8));
    else
        self->refused[id / 8] &= (uint8_t) ~(1u << (id % 8));
}

//  Makes room for node id in sorted position; returns its index, or -1 if
//  the table is full.
static int s_insert (broker_t *self, uint32_t id)
{
    if (self->node_count == BROKER_NODES_MAX)
        return -1;
    size_t index = 0;
    while (index < self->node_count && self->nodes[index].hb.from.node < id)
        index++;
    memmove (&self->nodes[index + 1], &self->nodes[index],
             (self->node_count - index) * sizeof (s_node_t));
    self->node_count++;
    memset (&self->nodes[index], 0, sizeof (s_node_t));
    return (int) index;
}

//  --------------------------------------------------------------------------
//  Methods

broker_heard_t broker_heard (broker_t *self, const rally_msg_node_hb_t *hb,
                             int64_t now_ms)
{
    assert (self && hb);
    uint32_t id = hb->from.node;
    if (id < 1 || id > RALLY_NODE_ID_MAX)
        return BROKER_HEARD_REFUSED;
    //  A term this broker cannot believe is refused before it is
    //  recorded: one heard term raises every term granted after it.
    uint64_t known = s_next_term (self) - 1;
    if (!rally_term_believable (known, hb->from.term)
        || !rally_term_believable (known, hb->want)) {
        broker_event_t *event = s_event (self, BROKER_EVENT_BAD_TERM, id,
                                         hb->from.term);
        event->want = hb->want;
        event->known = known;
        return BROKER_HEARD_BAD_TERM;
    }
    broker_heard_t result = BROKER_HEARD_KNOWN;
    int index = s_find (self, id);
    if (index >= 0 && s_node_forgotten (&self->nodes[index], now_ms))
        index = -1;             //  forgotten below; then new again
    if (index < 0) {
        s_forget (self, now_ms);
        index = s_insert (self, id);
        if (index < 0) {
            if (!s_refused_bit (self, id))
                s_event (self, BROKER_EVENT_REFUSED, id, hb->from.term);
            s_set_refused (self, id, true);
            return BROKER_HEARD_REFUSED;
        }
        s_set_refused (self, id, false);
        broker_event_t *event = s_event (self, BROKER_EVENT_NEW, id,
                                         hb->from.term);
        snprintf (event->game, sizeof (event->game), "%s", hb->game);
        result = BROKER_HEARD_NEW;
    }
    s_node_t *node = &self->nodes[index];
    if (node->quiet)
        s_event (self, BROKER_EVENT_BACK, id, hb->from.term);
    node->hb = *hb;
    node->heard_ms = now_ms;
    node->quiet = false;
    node->closed = false;
    if (hb->from.term > self->max_term)
        self->max_term = hb->from.term;
    s_check_leader (self, now_ms);
    return result;
}

uint32_t broker_leader (broker_t *self, int64_t now_ms,
                        rally_msg_leader_t *leader)
{
    assert (self);
    int index = s_choose_leader (self, now_ms);
    //  A leader unheard for half a lease is likely gone: clients wait for
    //  the next one rather than chase it.
    if (index < 0 || s_age (&self->nodes[index], now_ms) >= self->lease_ms / 2)
        return 0;
    const rally_msg_node_hb_t *hb = &self->nodes[index].hb;
    if (leader) {
        memset (leader, 0, sizeof (*leader));
        leader->from = hb->from;
        memcpy (leader->game, hb->game, sizeof (leader->game));
        memcpy (leader->state, hb->state, sizeof (leader->state));
    }
    return hb->from.node;
}

void broker_closed (broker_t *self, uint32_t id, int64_t now_ms)
{
    assert (self);
    int index = s_find (self, id);
    if (index >= 0)
        self->nodes[index].closed = true;
}

//  Reports a lease that ran out unrenewed, once. A holder that died (its
//  connection closed) loses it; one that is only silent has it held.
static void s_check_lapse (broker_t *self, int64_t now_ms)
{
    if (self->holder == 0 || now_ms < self->expires_ms)
        return;
    broker_event_t *event = s_event (self, BROKER_EVENT_LAPSED, self->holder,
                                     self->lease_term);
    event->at_ms = self->expires_ms;
    int index = s_find (self, self->holder);
    if (index >= 0 && !self->nodes[index].closed) {
        self->held_for = self->holder;
        self->held_term = self->lease_term;
        self->held_until = self->nodes[index].heard_ms
                         + (int64_t) self->lease_ms * BROKER_SILENCE_LEASES;
        if (self->held_until > now_ms)
            event->held_ms = (uint32_t) (self->held_until
                                         - self->nodes[index].heard_ms);
    }
    self->holder = 0;
}

void broker_reply (broker_t *self, const rally_msg_node_hb_t *hb,
                   int64_t now_ms, rally_msg_lease_t *reply)
{
    assert (self && hb && reply);
    s_check_lapse (self, now_ms);
    //  Only a node that leads the lease's term renews it: one granted a
    //  minority of brokers' leases, or restarted, lets it lapse.
    if (self->holder == hb->from.node && hb->role == RALLY_ROLE_LEADER
        && hb->from.term == self->lease_term && hb->want == self->lease_term)
        self->expires_ms = now_ms + self->lease_ms;
    //  A holder that does not lead yet and asks for a higher term has seen
    //  it at another broker: moving to it lets the brokers' grants meet on
    //  one term, which the node needs from a majority. The lease keeps its
    //  end: a holder that moved on every heartbeat would otherwise keep
    //  this broker's lease for ever without leading (a term storm).
    else if (self->holder == hb->from.node && hb->role != RALLY_ROLE_LEADER
             && hb->want > self->lease_term && hb->want >= s_next_term (self)
             && s_lease_valid (self, now_ms)) {
        self->lease_term = self->granted_term = hb->want;
        broker_event_t *event = s_event (self, BROKER_EVENT_GRANTED,
                                         self->holder, self->lease_term);
        event->at_ms = now_ms;
    }
    memset (reply, 0, sizeof (*reply));
    //  The term granted here, never one only heard: a holder takes
    //  lease_term as the term it leads.
    reply->lease_term = self->granted_term;
    reply->holder = self->holder;
    reply->nonce = hb->nonce;
    if (self->holder == hb->from.node)
        reply->ms = (uint32_t) (self->expires_ms - now_ms);
    s_check_leader (self, now_ms);
}

uint32_t broker_grant_due (broker_t *self, int64_t now_ms,
                           rally_msg_lease_t *grant)
{
    assert (self && grant);
    s_check_lapse (self, now_ms);
    if (self->holder || now_ms < self->quiet_until)
        return 0;
    int index = s_sitting_leader (self, now_ms);
    int held = s_held (self, now_ms);
    if (held >= 0 && index != held)
        return 0;               //  held for a silent leader: no other
    if (index < 0)
        index = s_candidate (self, now_ms);
    if (index < 0)
        return 0;
    self->held_for = 0;
    const rally_msg_node_hb_t *hb = &self->nodes[index].hb;
    self->holder = hb->from.node;
    self->lease_term = self->granted_term = hb->want;
    self->granted_to = hb->from.node;
    self->expires_ms = now_ms + self->lease_ms;
    broker_event_t *event = s_event (self, BROKER_EVENT_GRANTED, self->holder,
                                     self->lease_term);
    event->at_ms = now_ms;
    //  It answers the node's last heartbeat: the node counts the lease
    //  from when it sent that one, which is before now.
    memset (grant, 0, sizeof (*grant));
    grant->lease_term = self->lease_term;
    grant->holder = self->holder;
    grant->ms = self->lease_ms;
    grant->nonce = hb->nonce;
    s_check_leader (self, now_ms);
    return self->holder;
}

void broker_cluster (broker_t *self, int64_t now_ms, rally_msg_cluster_t *out)
{
    assert (self && out);
    memset (out, 0, sizeof (*out));
    out->term = self->max_term;
    out->leader = broker_leader (self, now_ms, NULL);
    uint32_t leader = out->leader;
    int leader_index = leader ? s_find (self, leader) : -1;
    if (leader_index < 0)
        leader = 0;
    if (s_lease_valid (self, now_ms)) {
        out->lease_holder = self->holder;
        out->lease_term = self->lease_term;
        out->lease_ms = (uint32_t) (self->expires_ms - now_ms);
    }
    for (size_t i = 0; i < self->node_count; i++) {
        const s_node_t *node = &self->nodes[i];
        if (s_node_forgotten (node, now_ms))
            continue;
        rally_node_info_t *info = &out->nodes[out->node_count++];
        info->id = node->hb.from.node;
        info->role = node->hb.role;
        info->term = node->hb.from.term;
        info->seq = node->hb.seq;
        info->age_ms = s_age (node, now_ms);
        info->matches = node->hb.matches;
        info->players = node->hb.players;
        info->lag = node->hb.lag;
        info->behind = node->hb.behind;
        //  A follower cut off from the leader's stream hears no seq to
        //  lag behind and says 0: its lag is what the leader says it made
        //  less what the follower says it applied.
        const s_node_t *lead = leader ? &self->nodes[leader_index] : NULL;
        if (lead && node != lead && node->hb.from.term == lead->hb.from.term
            && lead->hb.seq > node->hb.seq
            && lead->hb.seq - node->hb.seq > info->lag)
            info->lag = lead->hb.seq - node->hb.seq;
        memcpy (info->game, node->hb.game, sizeof (info->game));
        memcpy (info->state, node->hb.state, sizeof (info->state));
    }
}

void broker_expire (broker_t *self, int64_t now_ms)
{
    assert (self);
    s_forget (self, now_ms);
    for (size_t i = 0; i < self->node_count; i++) {
        s_node_t *node = &self->nodes[i];
        if (node->quiet || s_node_live (self, node, now_ms))
            continue;
        node->quiet = true;
        broker_event_t *event = s_event (self, BROKER_EVENT_QUIET,
                                         node->hb.from.node,
                                         node->hb.from.term);
        event->age_ms = s_age (node, now_ms);
    }
    s_check_lapse (self, now_ms);
    s_check_leader (self, now_ms);
}

bool broker_next_event (broker_t *self, broker_event_t *event)
{
    assert (self && event);
    if (self->event_count == 0)
        return false;
    *event = self->events[self->event_head];
    self->event_head = (self->event_head + 1) % BROKER_EVENTS_MAX;
    self->event_count--;
    return true;
}

size_t broker_size (broker_t *self)
{
    assert (self);
    return self->node_count;
}

bool broker_live (broker_t *self, uint32_t id, int64_t now_ms)
{
    assert (self);
    int index = s_find (self, id);
    return index >= 0 && s_node_live (self, &self->nodes[index], now_ms);
}

uint32_t broker_liveness_ms (broker_t *self)
{
    assert (self);
    return self->liveness_ms;
}

const char *broker_event_name (broker_event_type_t type)
{
    switch (type) {
    case BROKER_EVENT_NEW:
        return "new";
    case BROKER_EVENT_BACK:
        return "back";
    case BROKER_EVENT_QUIET:
        return "quiet";
    case BROKER_EVENT_FORGOTTEN:
        return "forgotten";
    case BROKER_EVENT_LEADER:
        return "leader";
    case BROKER_EVENT_REFUSED:
        return "refused";
    case BROKER_EVENT_GRANTED:
        return "granted";
    case BROKER_EVENT_LAPSED:
        return "lapsed";
    case BROKER_EVENT_BAD_TERM:
        return "bad_term";
    }
    return "?";
}
