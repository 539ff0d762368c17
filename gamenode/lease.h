/*  lease - a game node's side of the brokers' leases, pure and
    clock-injected.

    A node asks every broker for a lease with each heartbeat; a broker's
    reply names the nonce of the heartbeat it answers, and a grant counts
    from when that heartbeat was sent, not from when the reply came: the
    broker granted after the node sent, so the node's lease always ends
    before the broker's. A margin for clock-rate drift comes off as well.

    The node leads term T while a majority of the brokers hold unexpired
    grants of T to it; its leadership ends at the earliest moment at which
    that stops being true. Any two majorities share a broker, and a broker
    never promises overlapping leases, so two nodes never lead at once.

    Campaigns. A node that leads nothing asks for a term only when no
    leader was heard lately and a majority of the brokers answer it (a
    pre-vote: a node that could not win asks nothing, so terms do not climb
    while no majority can form). The term it asks for is fixed for the
    campaign, one above any seen when it began, and a campaign lasts a
    random back-off (the caller's, one to two leases): a term a broker
    grants it does not make it ask for the next one, and two nodes whose
    campaigns split the brokers' grants try again at different times.
*/
#ifndef LEASE_H_INCLUDED
#define LEASE_H_INCLUDED

#include "rally_msg.h"

#define LEASE_BROKERS_MAX   8       //  brokers a node can count
#define LEASE_SENT_MAX      64      //  heartbeats remembered by nonce

typedef struct _lease_t lease_t;

//  A new tracker for node_id, with broker_count brokers (1..LEASE_BROKERS_MAX)
//  and a drift margin taken off every grant. NULL if out of range.
lease_t *lease_new (uint32_t node_id, size_t broker_count, uint32_t margin_ms);

//  Destroys it; safe on NULL, nulls *self_p.
void lease_destroy (lease_t **self_p);

//  A heartbeat goes out now: returns the nonce it carries.
uint64_t lease_sent (lease_t *self, int64_t now_ms);

//  Broker number broker replied. A grant to this node starts its lease at
//  that broker; any other reply ends it. Every reply's term is seen.
void lease_reply (lease_t *self, size_t broker, const rally_msg_lease_t *reply);

//  The term this node holds a majority of grants for at now_ms, or 0; if
//  until is not NULL it receives when that majority runs out.
uint64_t lease_held (lease_t *self, int64_t now_ms, int64_t *until);

//  A term seen anywhere (a peer, a diff, a broker).
void lease_see_term (lease_t *self, uint64_t term);

//  The highest term seen; a node that wants to lead asks for one above it.
uint64_t lease_max_term (lease_t *self);

//  Brokers whose grants a node needs at once.
size_t lease_majority (lease_t *self);

//  Broker number broker answered at now_ms (anything at all).
void lease_heard (lease_t *self, size_t broker, int64_t now_ms);

//  Brokers heard within window_ms of now_ms.
size_t lease_reachable (lease_t *self, int64_t now_ms, uint32_t window_ms);

//  The term to ask for at now_ms, campaigning: the campaign's term, or a
//  new campaign's (one above any seen) if there is none or it has lasted
//  backoff_ms. The caller asks only while it may campaign (see above).
uint64_t lease_campaign (lease_t *self, int64_t now_ms, uint32_t backoff_ms);

//  The campaign is over (the node leads, or follows a leader): the next
//  one starts afresh.
void lease_campaign_end (lease_t *self);

#endif
