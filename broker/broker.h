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
    BROKER_FORGET_MS is forgotten, whether broker_expire runs or not.

    Leases. The broker grants one lease at a time: (term, holder, expiry),
    BROKER_LEASE_MS long by default. The holder keeps it by renewing (its
    heartbeats say it leads that term). When it lapses, it goes to:
    - a node that already leads, on other brokers' grants, a term this
      broker may grant it (a broker that restarted, or fell out of the
      leader's majority, joins it again); else
    - the most up-to-date live node asking for a new term (highest term,
      then seq; lowest id among equals), with the term it asks for, above
      every term granted or heard here. A heartbeat whose term it cannot
    believe (rally_term.h) is refused whole, so terms grow by bounded steps
    and never wrap; the replies carry the terms granted, never one heard.
    A holder that does not lead yet and asks for a higher term is moved to
    it, so that several brokers' grants meet on one term. Terms granted
    only grow (a sitting leader may get its own again), and a broker that
    starts grants nothing for one lease length: it may have promised a
    lease before it died. Clients are sent to the holder of a valid lease
    once its heartbeats say it leads the lease's term.

    Crash and silence. A holder whose connection closed (broker_closed:
    its kernel closed it, so it died) loses its lease when the lease runs
    out, and the lease goes on at once. A holder that is merely silent (a
    lost segment stalls TCP for 200 ms or more, a loaded machine delays a
    heartbeat) has its lapsed lease held for it: for BROKER_SILENCE_LEASES
    lease lengths after it was last heard, no other node is granted one
    here, and the holder, once heard again leading that term, gets it back.
    Holding only delays grants, so safety rests on the lease alone, as
    before; what it buys is a leader that survives a stall.
*/
#ifndef BROKER_H_INCLUDED
#define BROKER_H_INCLUDED

#include "rally_msg.h"

#define BROKER_LIVENESS_MS  500     //  unheard this long: not live
#define BROKER_FORGET_MS    30000   //  unheard this long: forgotten
#define BROKER_LEASE_MS     200     //  a grant or renewal lasts this long
#define BROKER_NODES_MAX    RALLY_STATUS_NODES_MAX
#define BROKER_SILENCE_LEASES 5     //  a silent holder's lease is held this
                                    //  many lease lengths after last heard

typedef struct _broker_t broker_t;

//  What broker_heard did with a heartbeat.
typedef enum {
    BROKER_HEARD_KNOWN = 0,     //  a node already in the table, updated
    BROKER_HEARD_NEW,           //  a node not in the table, added
    BROKER_HEARD_REFUSED,       //  the table is full (or the id is out of
                                //  range): nothing changed
    BROKER_HEARD_BAD_TERM       //  its term or want is one this broker
                                //  cannot believe (rally_term.h): nothing
                                //  changed
} broker_heard_t;

typedef enum {
    BROKER_EVENT_NEW = 1,       //  a node was first heard (or heard again
                                //  after it was forgotten)
    BROKER_EVENT_BACK,          //  a quiet node was heard again
    BROKER_EVENT_QUIET,         //  a live node went unheard for liveness_ms
    BROKER_EVENT_FORGOTTEN,     //  a node unheard for BROKER_FORGET_MS left
    BROKER_EVENT_LEADER,        //  the leader changed (node 0: none now)
    BROKER_EVENT_REFUSED,       //  a node was refused: table full. Once per
                                //  id until that id gets in
    BROKER_EVENT_GRANTED,       //  a lease went to node, for term
    BROKER_EVENT_LAPSED,        //  node's lease for term ran out unrenewed
    BROKER_EVENT_BAD_TERM       //  a heartbeat with a term (or want) out of
                                //  bounds was refused: term, want, known
} broker_event_type_t;

typedef struct {
    broker_event_type_t type;
    uint32_t node;              //  node concerned; LEADER: new leader or 0
    uint64_t term;              //  that node's term (0 if none)
    uint32_t previous;          //  LEADER: the leader before, or 0
    uint32_t age_ms;            //  QUIET, FORGOTTEN: since last heard
    int64_t at_ms;              //  GRANTED: when; LAPSED: when it ran out
                                //  (its expiry, which may be before now)
    uint32_t held_ms;           //  LAPSED: held for the silent holder this
                                //  long after it was last heard, or 0
    char game[RALLY_ENDPOINT_BUF];  //  NEW: the node's game endpoint
    uint64_t want;              //  BAD_TERM: the term it asked for
    uint64_t known;             //  BAD_TERM: the highest term known here
} broker_event_t;

//  A new, empty table, started at now_ms. liveness_ms 0 means
//  BROKER_LIVENESS_MS, lease_ms 0 BROKER_LEASE_MS. Returns NULL if memory
//  runs out.
broker_t *broker_new (uint32_t liveness_ms, uint32_t lease_ms,
                      int64_t now_ms);

//  Destroys the table; safe on NULL and twice, nulls *self_p.
void broker_destroy (broker_t **self_p);

//  Records a heartbeat from a node: its role, term, seq, endpoints, counts
//  and that it was heard at now_ms. A term or want beyond what this broker
//  can believe (rally_term_believable, against the highest term granted or
//  heard here) is refused with a BAD_TERM event and changes nothing.
broker_heard_t broker_heard (broker_t *self, const rally_msg_node_hb_t *hb,
                             int64_t now_ms);

//  The answer to a heartbeat just heard (broker_heard first): renews the
//  lease if the node holds it and says it leads its term, and fills reply
//  with the highest term granted here (never one only heard), the holder,
//  the time left to the node if it holds the lease (else 0), and the
//  heartbeat's nonce.
void broker_reply (broker_t *self, const rally_msg_node_hb_t *hb,
                   int64_t now_ms, rally_msg_lease_t *reply);

//  Grants the lease if it is free and a candidate asks: returns the node
//  it went to (0 if none) and fills grant, which answers that node's last
//  heartbeat. Call it after each heartbeat and often in between.
uint32_t broker_grant_due (broker_t *self, int64_t now_ms,
                           rally_msg_lease_t *grant);

//  Node id's connection was seen closed (its process died, or the link
//  was reset): at its lease's end the lease goes on at once, instead of
//  being held for it. Heard again, it is open again.
void broker_closed (broker_t *self, uint32_t id, int64_t now_ms);

//  The current leader's id: the holder of a valid lease, or 0. If leader is not
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
