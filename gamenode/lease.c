/*  lease - a game node's side of the brokers' leases. See lease.h.

    Sent heartbeats are a ring indexed by nonce: nonces count up from 1, so
    the slot of nonce n is n % LEASE_SENT_MAX, and a reply to a heartbeat
    that old is ignored (its grant could only be shorter than a newer one).
*/
#include "lease.h"

typedef struct {
    uint64_t term;              //  term granted, 0 if none
    int64_t until;              //  end of the grant, by this node's clock
} s_grant_t;

struct _lease_t {
    uint32_t node_id;                       //  this node
    size_t broker_count;                    //  brokers asked
    uint32_t margin_ms;                     //  taken off every grant
    s_grant_t grants[LEASE_BROKERS_MAX];    //  per broker
    uint64_t nonce;                         //  last nonce sent
    int64_t sent[LEASE_SENT_MAX];           //  when each nonce went
    uint64_t max_term;                      //  highest term seen
    int64_t heard[LEASE_BROKERS_MAX];       //  each broker's last answer
    bool heard_any[LEASE_BROKERS_MAX];      //  whether it ever answered
    uint64_t campaign_term;                 //  asked for, 0 if no campaign
    int64_t campaign_until;                 //  when a new one may begin
};

lease_t *lease_new (uint32_t node_id, size_t broker_count, uint32_t margin_ms)
{
    if (broker_count < 1 || broker_count > LEASE_BROKERS_MAX)
        return NULL;
    lease_t *self = (lease_t *) zmalloc (sizeof (lease_t));
    assert (self);
    self->node_id = node_id;
    self->broker_count = broker_count;
    self->margin_ms = margin_ms;
    return self;
}

void lease_destroy (lease_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

uint64_t lease_sent (lease_t *self, int64_t now_ms)
{
    assert (self);
    self->nonce++;
    self->sent[self->nonce % LEASE_SENT_MAX] = now_ms;
    return self->nonce;
}

void lease_reply (lease_t *self, size_t broker, const rally_msg_lease_t *reply)
{
    assert (self && reply && broker < self->broker_count);
    lease_see_term (self, reply->lease_term);
    s_grant_t *grant = &self->grants[broker];
    bool known = reply->nonce > 0 && reply->nonce <= self->nonce
              && self->nonce - reply->nonce < LEASE_SENT_MAX;
    if (reply->holder != self->node_id || reply->ms == 0 || !known) {
        //  A stale reply to us says nothing new; any other ends the grant.
        if (reply->holder != self->node_id || reply->ms == 0)
            grant->term = 0;
        return;
    }
    int64_t until = self->sent[reply->nonce % LEASE_SENT_MAX] + reply->ms
                  - self->margin_ms;
    //  Replies come in order, but a renewal never shortens a grant.
    if (grant->term != reply->lease_term || until > grant->until) {
        grant->term = reply->lease_term;
        grant->until = until;
    }
}

uint64_t lease_held (lease_t *self, int64_t now_ms, int64_t *until)
{
    assert (self);
    size_t need = lease_majority (self);
    for (size_t i = 0; i < self->broker_count; i++) {
        uint64_t term = self->grants[i].term;
        if (term == 0 || self->grants[i].until <= now_ms)
            continue;
        //  The ends of the valid grants of this term, latest first: the
        //  majority lasts until the need-th of them.
        int64_t ends[LEASE_BROKERS_MAX];
        size_t count = 0;
        for (size_t j = 0; j < self->broker_count; j++) {
            const s_grant_t *g = &self->grants[j];
            if (g->term != term || g->until <= now_ms)
                continue;
            size_t at = count++;
            while (at > 0 && ends[at - 1] < g->until) {
                ends[at] = ends[at - 1];
                at--;
            }
            ends[at] = g->until;
        }
        if (count >= need) {
            if (until)
                *until = ends[need - 1];
            return term;
        }
    }
    return 0;
}

void lease_see_term (lease_t *self, uint64_t term)
{
    assert (self);
    if (term > self->max_term)
        self->max_term = term;
}

uint64_t lease_max_term (lease_t *self)
{
    assert (self);
    return self->max_term;
}

size_t lease_majority (lease_t *self)
{
    assert (self);
    return self->broker_count / 2 + 1;
}

void lease_heard (lease_t *self, size_t broker, int64_t now_ms)
{
    assert (self && broker < self->broker_count);
    self->heard[broker] = now_ms;
    self->heard_any[broker] = true;
}

size_t lease_reachable (lease_t *self, int64_t now_ms, uint32_t window_ms)
{
    assert (self);
    size_t count = 0;
    for (size_t i = 0; i < self->broker_count; i++)
        if (self->heard_any[i] && now_ms - self->heard[i] < (int64_t) window_ms)
            count++;
    return count;
}

uint64_t lease_campaign (lease_t *self, int64_t now_ms, uint32_t backoff_ms)
{
    assert (self);
    if (self->campaign_term == 0 || now_ms >= self->campaign_until) {
        if (self->max_term == UINT64_MAX)
            return 0;           //  no term is left to ask for
        self->campaign_term = self->max_term + 1;
        self->campaign_until = now_ms + backoff_ms;
    }
    return self->campaign_term;
}

void lease_campaign_end (lease_t *self)
{
    assert (self);
    self->campaign_term = 0;
}
