/*  broker - the broker's table of game nodes, and who leads.

    The broker is a directory: game nodes heartbeat to it, clients ask it
    where the leader is, rallyctl asks it for the whole table. This module
    is that table and nothing else. It is pure and clock-injected: every
    call that depends on time takes now_ms (a monotonic millisecond count);
    it owns no socket and does no I/O. What changed (a node first heard, a
    node quiet, back or forgotten, a new leader, a node refused) comes out
    as events, in order, which broker/main.c turns into log lines.

    A node is known by id (1..255), at most RALLY_STATUS_NODES_MAX at once.
    It is live while heard within liveness_ms; a node unheard for
    BROKER_FORGET_MS is forgotten, whether broker_expire runs or not. The
    leader is the live node that says it leads, highest term first, lowest
    id among equals.

    Leases (the next issue) go in here without touching the table: the
    table already keeps, per node, what a grant needs (term, seq, role,
    when last heard, all on the injected clock), and the broker keeps the
    highest term it has ever seen, which never goes down even when nodes
    are forgotten. A lease is then one more piece of state (term, holder,
    expiry) with one function that applies an event (heard, time passed)
    to it, and s_choose_leader answers from the lease instead of from the
    nodes' claims. Callers do not change.
*/
#ifndef BROKER_H_INCLUDED
#define BROKER_H_INCLUDED

#include "rally_msg.h"

#define BROKER_LIVENESS_MS  500     //  unheard this long: not live
#define BROKER_FORGET_MS    30000   //  unheard this long: forgotten
#define BROKER_NODES_MAX    RALLY_STATUS_NODES_MAX

typedef struct _broker_t broker_t;

//  What broker_heard did with a heartbeat.
typedef enum {
    BROKER_HEARD_KNOWN = 0,     //  a node already in the table, updated
    BROKER_HEARD_NEW,           //  a node not in the table, added
    BROKER_HEARD_REFUSED        //  the table is full (or the id is out of
                                //  range): nothing changed
} broker_heard_t;

typedef enum {
    BROKER_EVENT_NEW = 1,       //  a node was first heard (or heard again
                                //  after it was forgotten)
    BROKER_EVENT_BACK,          //  a quiet node was heard again
    BROKER_EVENT_QUIET,         //  a live node went unheard for liveness_ms
    BROKER_EVENT_FORGOTTEN,     //  a node unheard for BROKER_FORGET_MS left
    BROKER_EVENT_LEADER,        //  the leader changed (node 0: none now)
    BROKER_EVENT_REFUSED        //  a node was refused: table full. Once per
                                //  id until that id gets in
} broker_event_type_t;

typedef struct {
    broker_event_type_t type;
    uint32_t node;              //  node concerned; LEADER: new leader or 0
    uint64_t term;              //  that node's term (0 if none)
    uint32_t previous;          //  LEADER: the leader before, or 0
    uint32_t age_ms;            //  QUIET, FORGOTTEN: since last heard
    char game[RALLY_ENDPOINT_BUF];  //  NEW: the node's game endpoint
} broker_event_t;

//  A new, empty table. liveness_ms 0 means BROKER_LIVENESS_MS. Returns
//  NULL if memory runs out.
broker_t *broker_new (uint32_t liveness_ms);

//  Destroys the table; safe on NULL and twice, nulls *self_p.
void broker_destroy (broker_t **self_p);

//  Records a heartbeat from a node: its role, term, seq, endpoints, counts
//  and that it was heard at now_ms.
broker_heard_t broker_heard (broker_t *self, const rally_msg_node_hb_t *hb,
                             int64_t now_ms);

//  The current leader's id, or 0 if no live node leads. If leader is not
//  NULL and there is a leader, fills it (origin term = the node's term,
//  node = its id, and its game and state endpoints).
uint32_t broker_leader (broker_t *self, int64_t now_ms,
                        rally_msg_leader_t *leader);

//  Fills out with the table as rallyctl sees it: the highest term known,
//  the leader (or 0), and every node not yet forgotten, sorted by id, with
//  its age. out is overwritten entirely.
void broker_cluster (broker_t *self, int64_t now_ms, rally_msg_cluster_t *out);

//  Time passed: reports nodes that went quiet, forgets those unheard for
//  BROKER_FORGET_MS, and reports a change of leader. Call it often (the
//  broker does, every 100 ms); queries are right without it.
void broker_expire (broker_t *self, int64_t now_ms);

//  Pops the oldest event into event; false if there is none.
bool broker_next_event (broker_t *self, broker_event_t *event);

//  Nodes in the table (live or not, not yet forgotten at the last call).
size_t broker_size (broker_t *self);

//  True if node id is in the table and heard within liveness_ms.
bool broker_live (broker_t *self, uint32_t id, int64_t now_ms);

//  The liveness the table runs with, in ms.
uint32_t broker_liveness_ms (broker_t *self);

//  An event type's name for logs ("new", "quiet", ...).
const char *broker_event_name (broker_event_type_t type);

#endif
