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

#include <string.h>

#define BROKER_EVENTS_MAX   64      //  more than one call can produce
#define BROKER_ID_BYTES     ((RALLY_NODE_ID_MAX + 8) / 8)

//  One node, as last heard.
typedef struct {
    rally_msg_node_hb_t hb;         //  its last heartbeat, as received
    int64_t heard_ms;               //  when that was, on the injected clock
    bool quiet;                     //  reported quiet and not heard since
} s_node_t;

struct _broker_t {
    uint32_t liveness_ms;               //  unheard this long: not live
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

broker_t *broker_new (uint32_t liveness_ms)
{
    broker_t *self = (broker_t *) calloc (1, sizeof (broker_t));
    if (!self)
        return NULL;
    self->liveness_ms = liveness_ms ? liveness_ms : BROKER_LIVENESS_MS;
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

//  The leader rule, in one place: among live nodes that say they lead, the
//  highest term, then the lowest id. Returns an index, or -1. With leases
//  this answers from the lease instead.
static int s_choose_leader (broker_t *self, int64_t now_ms)
{
    int best = -1;
    for (size_t i = 0; i < self->node_count; i++) {
        const s_node_t *node = &self->nodes[i];
        if (node->hb.role != RALLY_ROLE_LEADER || !s_node_live (self, node, now_ms))
            continue;
        //  Sorted by id, so only a strictly higher term displaces.
        if (best < 0 || node->hb.from.term > self->nodes[best].hb.from.term)
            best = (int) i;
    }
    return best;
}

//  Reports the leader if it is not the one last reported.
static void s_check_leader (broker_t *self, int64_t now_ms)
{
    int index = s_choose_leader (self, now_ms);
    uint32_t id = index < 0 ? 0 : self->nodes[index].hb.from.node;
    uint64_t term = index < 0 ? 0 : self->nodes[index].hb.from.term;
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
    if (index < 0)
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

void broker_cluster (broker_t *self, int64_t now_ms, rally_msg_cluster_t *out)
{
    assert (self && out);
    memset (out, 0, sizeof (*out));
    out->term = self->max_term;
    out->leader = broker_leader (self, now_ms, NULL);
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
    }
    return "?";
}
