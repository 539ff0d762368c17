/*  test_broker - the broker's node table and its lease, with injected time.

    Every test builds a table, feeds it heartbeats at chosen milliseconds,
    and reads what it decided from its queries, replies, grants and events.
    Nothing here sleeps and nothing opens a socket: time is a number the
    test moves. Unless a test says otherwise the table starts at 0 with the
    default lengths, so it grants nothing before 200 (its quiet period), a
    lease lasts 200 ms, a leader is named for 100 ms after it is heard and
    a node is live for 500 ms.
*/
#include "check_main.h"
#include <string.h>

#include "broker.h"
#include "rally_term.h"

//  A heartbeat from node id with this role and term, asking for no lease.
//  Its endpoints and nonce name the node, so a test can tell whose it got
//  back; a follower says it is 7 ticks per id behind.
static rally_msg_node_hb_t s_hb (uint32_t id, rally_role_t role, uint64_t term)
{
    rally_msg_node_hb_t hb;
    memset (&hb, 0, sizeof (hb));
    hb.from.term = term;
    hb.from.node = id;
    hb.role = role;
    hb.seq = 1000 + id;
    hb.matches = id;
    hb.players = 2 * id;
    hb.nonce = 100 * id;
    hb.lag = role == RALLY_ROLE_LEADER ? 0 : 7 * id;
    snprintf (hb.game, sizeof (hb.game), "tcp://10.0.0.%u:5602", id);
    snprintf (hb.state, sizeof (hb.state), "tcp://10.0.0.%u:5603", id);
    return hb;
}

static broker_heard_t s_heard (broker_t *broker, uint32_t id, rally_role_t role,
                               uint64_t term, int64_t now_ms)
{
    rally_msg_node_hb_t hb = s_hb (id, role, term);
    return broker_heard (broker, &hb, now_ms);
}

//  A heartbeat as broker/main.c serves it: heard, then answered.
static rally_msg_lease_t s_beat (broker_t *broker,
                                 const rally_msg_node_hb_t *hb, int64_t now_ms)
{
    broker_heard (broker, hb, now_ms);
    rally_msg_lease_t reply;
    memset (&reply, 0xff, sizeof (reply));
    broker_reply (broker, hb, now_ms, &reply);
    ck_assert_uint_eq (reply.nonce, hb->nonce);
    ck_assert_uint_eq (reply.from.node, 0);
    ck_assert_uint_eq (reply.from.term, 0);
    return reply;
}

//  A follower of term that asks for a lease for want.
static rally_msg_lease_t s_ask (broker_t *broker, uint32_t id, uint64_t term,
                                uint64_t want, int64_t now_ms)
{
    rally_msg_node_hb_t hb = s_hb (id, RALLY_ROLE_FOLLOWER, term);
    hb.want = want;
    return s_beat (broker, &hb, now_ms);
}

//  A leader of term that renews its lease for that term.
static rally_msg_lease_t s_lead (broker_t *broker, uint32_t id, uint64_t term,
                                 int64_t now_ms)
{
    rally_msg_node_hb_t hb = s_hb (id, RALLY_ROLE_LEADER, term);
    hb.want = term;
    return s_beat (broker, &hb, now_ms);
}

//  Asks for a grant at now_ms and checks that it went to node (0: none),
//  for term, for a whole lease of lease_ms.
static rally_msg_lease_t s_grant (broker_t *broker, int64_t now_ms,
                                  uint32_t node, uint64_t term,
                                  uint32_t lease_ms)
{
    rally_msg_lease_t grant;
    memset (&grant, 0, sizeof (grant));
    ck_assert_uint_eq (broker_grant_due (broker, now_ms, &grant), node);
    if (node) {
        ck_assert_uint_eq (grant.holder, node);
        ck_assert_uint_eq (grant.lease_term, term);
        ck_assert_uint_eq (grant.ms, lease_ms);
        ck_assert_uint_eq (grant.from.node, 0);
    }
    return grant;
}

//  The lease as the cluster report shows it at now_ms.
static rally_msg_cluster_t s_cluster (broker_t *broker, int64_t now_ms)
{
    rally_msg_cluster_t cluster;
    memset (&cluster, 0xff, sizeof (cluster));
    broker_cluster (broker, now_ms, &cluster);
    return cluster;
}

//  Pops the next event and checks its type and node.
static broker_event_t s_expect (broker_t *broker, broker_event_type_t type,
                                uint32_t node)
{
    broker_event_t event;
    ck_assert_msg (broker_next_event (broker, &event),
                   "expected a '%s' event, got none", broker_event_name (type));
    ck_assert_msg (event.type == type, "expected '%s', got '%s'",
                   broker_event_name (type), broker_event_name (event.type));
    ck_assert_uint_eq (event.node, node);
    return event;
}

static void s_expect_none (broker_t *broker)
{
    broker_event_t event;
    bool any = broker_next_event (broker, &event);
    ck_assert_msg (!any, "unexpected '%s' event for node %u",
                   any ? broker_event_name (event.type) : "", event.node);
}

static void s_drain (broker_t *broker)
{
    broker_event_t event;
    while (broker_next_event (broker, &event))
        ;
}

//  --------------------------------------------------------------------------
//  The table

START_TEST (test_new_destroy)
{
    broker_t *broker = broker_new (0, 0, 0);
    ck_assert_ptr_nonnull (broker);
    ck_assert_uint_eq (broker_liveness_ms (broker), BROKER_LIVENESS_MS);
    ck_assert_uint_eq (broker_size (broker), 0);
    ck_assert_uint_eq (broker_leader (broker, 0, NULL), 0);
    s_expect_none (broker);
    broker_destroy (&broker);
    ck_assert_ptr_null (broker);
    broker_destroy (&broker);

    broker = broker_new (1234, 0, 0);
    ck_assert_uint_eq (broker_liveness_ms (broker), 1234);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_heard)
{
    broker_t *broker = broker_new (0, 0, 0);
    ck_assert_int_eq (s_heard (broker, 7, RALLY_ROLE_FOLLOWER, 2, 100),
                      BROKER_HEARD_NEW);
    broker_event_t event = s_expect (broker, BROKER_EVENT_NEW, 7);
    ck_assert_uint_eq (event.term, 2);
    ck_assert_str_eq (event.game, "tcp://10.0.0.7:5602");
    s_expect_none (broker);     //  it asks for nothing: no lease, no leader

    ck_assert_int_eq (s_heard (broker, 7, RALLY_ROLE_FOLLOWER, 2, 150),
                      BROKER_HEARD_KNOWN);
    s_expect_none (broker);
    ck_assert_uint_eq (broker_size (broker), 1);
    ck_assert (broker_live (broker, 7, 150));
    ck_assert (!broker_live (broker, 8, 150));

    //  Every field is the last heartbeat's.
    rally_msg_node_hb_t hb = s_hb (7, RALLY_ROLE_FOLLOWER, 3);
    hb.seq = 99;
    hb.matches = 4;
    hb.players = 9;
    hb.lag = 17;
    strcpy (hb.game, "tcp://elsewhere:1");
    ck_assert_int_eq (broker_heard (broker, &hb, 200), BROKER_HEARD_KNOWN);
    rally_msg_cluster_t cluster = s_cluster (broker, 260);
    ck_assert_uint_eq (cluster.node_count, 1);
    ck_assert_uint_eq (cluster.nodes[0].term, 3);
    ck_assert_uint_eq (cluster.nodes[0].seq, 99);
    ck_assert_uint_eq (cluster.nodes[0].matches, 4);
    ck_assert_uint_eq (cluster.nodes[0].players, 9);
    ck_assert_uint_eq (cluster.nodes[0].lag, 17);
    ck_assert_uint_eq (cluster.nodes[0].age_ms, 60);
    ck_assert_str_eq (cluster.nodes[0].game, "tcp://elsewhere:1");
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_liveness)
{
    broker_t *broker = broker_new (0, 0, 0);
    s_heard (broker, 1, RALLY_ROLE_FOLLOWER, 1, 1000);
    s_drain (broker);

    //  Live through 499 ms of silence; not at 500.
    ck_assert (broker_live (broker, 1, 1499));
    broker_expire (broker, 1499);
    s_expect_none (broker);
    ck_assert (!broker_live (broker, 1, 1500));

    //  Queries are right before expire runs; expire reports the change.
    broker_expire (broker, 1500);
    broker_event_t event = s_expect (broker, BROKER_EVENT_QUIET, 1);
    ck_assert_uint_eq (event.age_ms, 500);
    s_expect_none (broker);
    broker_expire (broker, 1600);
    s_expect_none (broker);     //  quiet is said once

    //  A quiet node stays in the report, with its age, until forgotten.
    rally_msg_cluster_t cluster = s_cluster (broker, 2000);
    ck_assert_uint_eq (cluster.node_count, 1);
    ck_assert_uint_eq (cluster.nodes[0].age_ms, 1000);
    ck_assert_uint_eq (cluster.leader, 0);
    ck_assert_uint_eq (cluster.term, 1);

    //  Heard again: back, and live again.
    ck_assert_int_eq (s_heard (broker, 1, RALLY_ROLE_FOLLOWER, 1, 2100),
                      BROKER_HEARD_KNOWN);
    s_expect (broker, BROKER_EVENT_BACK, 1);
    s_expect_none (broker);
    ck_assert (broker_live (broker, 1, 2100));
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_custom_liveness)
{
    //  Liveness is also what makes a node a candidate for the lease.
    broker_t *broker = broker_new (200, 0, 0);
    s_ask (broker, 1, 0, 1, 0);
    ck_assert (broker_live (broker, 1, 199));
    ck_assert (!broker_live (broker, 1, 200));
    s_grant (broker, 200, 0, 0, 0);
    s_ask (broker, 1, 0, 1, 250);
    s_grant (broker, 250, 1, 1, BROKER_LEASE_MS);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_forget)
{
    broker_t *broker = broker_new (0, 0, 0);
    s_heard (broker, 4, RALLY_ROLE_FOLLOWER, 6, 0);
    s_heard (broker, 5, RALLY_ROLE_FOLLOWER, 6, 10000);
    s_drain (broker);

    rally_msg_cluster_t cluster = s_cluster (broker, 29999);
    ck_assert_uint_eq (cluster.node_count, 2);
    ck_assert_uint_eq (cluster.nodes[0].age_ms, 29999);

    //  At 30 s node 4 is out of the report even before expire runs.
    cluster = s_cluster (broker, 30000);
    ck_assert_uint_eq (cluster.node_count, 1);
    ck_assert_uint_eq (cluster.nodes[0].id, 5);
    ck_assert_uint_eq (cluster.term, 6);    //  the term is still known

    //  The forgotten node is reported first, then the quiet one.
    broker_expire (broker, 30000);
    broker_event_t event = s_expect (broker, BROKER_EVENT_FORGOTTEN, 4);
    ck_assert_uint_eq (event.age_ms, 30000);
    s_expect (broker, BROKER_EVENT_QUIET, 5);
    s_expect_none (broker);
    ck_assert_uint_eq (broker_size (broker), 1);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_forget_order)
{
    broker_t *broker = broker_new (0, 0, 0);
    s_heard (broker, 4, RALLY_ROLE_FOLLOWER, 6, 0);
    s_heard (broker, 5, RALLY_ROLE_FOLLOWER, 6, 10000);
    broker_expire (broker, 600);
    s_drain (broker);
    broker_expire (broker, 30000);
    s_expect (broker, BROKER_EVENT_FORGOTTEN, 4);
    s_expect (broker, BROKER_EVENT_QUIET, 5);
    s_expect_none (broker);
    broker_expire (broker, 40000);
    s_expect (broker, BROKER_EVENT_FORGOTTEN, 5);
    ck_assert_uint_eq (broker_size (broker), 0);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_forgotten_comes_back_new)
{
    broker_t *broker = broker_new (0, 0, 0);
    s_heard (broker, 9, RALLY_ROLE_FOLLOWER, 1, 0);
    s_drain (broker);
    //  No expire ran; the table still notices it had forgotten node 9.
    ck_assert_int_eq (s_heard (broker, 9, RALLY_ROLE_FOLLOWER, 2, 31000),
                      BROKER_HEARD_NEW);
    s_expect (broker, BROKER_EVENT_FORGOTTEN, 9);
    broker_event_t event = s_expect (broker, BROKER_EVENT_NEW, 9);
    ck_assert_uint_eq (event.term, 2);
    s_expect_none (broker);
    ck_assert_uint_eq (broker_size (broker), 1);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_seventeenth_refused)
{
    broker_t *broker = broker_new (0, 0, 0);
    //  Sixteen nodes with ids spread over the range.
    for (uint32_t i = 0; i < BROKER_NODES_MAX; i++)
        ck_assert_int_eq (s_heard (broker, 10 + 15 * i, RALLY_ROLE_FOLLOWER, 1,
                                   i),
                          BROKER_HEARD_NEW);
    ck_assert_uint_eq (broker_size (broker), BROKER_NODES_MAX);
    s_drain (broker);

    //  The seventeenth asks for a lease, and gets neither in nor a lease.
    rally_msg_node_hb_t hb = s_hb (1, RALLY_ROLE_FOLLOWER, 5);
    hb.want = 6;
    ck_assert_int_eq (broker_heard (broker, &hb, 100), BROKER_HEARD_REFUSED);
    broker_event_t event = s_expect (broker, BROKER_EVENT_REFUSED, 1);
    ck_assert_uint_eq (event.term, 5);
    s_expect_none (broker);
    //  Refused again, but said only once; nothing in the table changed.
    ck_assert_int_eq (broker_heard (broker, &hb, 150), BROKER_HEARD_REFUSED);
    s_expect_none (broker);
    s_grant (broker, 200, 0, 0, 0);
    ck_assert_uint_eq (broker_size (broker), BROKER_NODES_MAX);
    rally_msg_cluster_t cluster = s_cluster (broker, 200);
    ck_assert_uint_eq (cluster.term, 1);
    ck_assert_uint_eq (cluster.node_count, BROKER_NODES_MAX);
    ck_assert_uint_eq (cluster.nodes[0].id, 10);
    //  Known nodes are still heard.
    ck_assert_int_eq (s_heard (broker, 10, RALLY_ROLE_FOLLOWER, 1, 200),
                      BROKER_HEARD_KNOWN);

    //  Once a node is forgotten there is room again.
    for (uint32_t i = 1; i < BROKER_NODES_MAX; i++)
        s_heard (broker, 10 + 15 * i, RALLY_ROLE_FOLLOWER, 1, 29000);
    s_drain (broker);
    ck_assert_int_eq (broker_heard (broker, &hb, 30200), BROKER_HEARD_NEW);
    s_expect (broker, BROKER_EVENT_FORGOTTEN, 10);
    s_expect (broker, BROKER_EVENT_NEW, 1);
    s_expect_none (broker);
    ck_assert_uint_eq (broker_size (broker), BROKER_NODES_MAX);
    s_grant (broker, 30200, 1, 6, BROKER_LEASE_MS);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_bad_id)
{
    broker_t *broker = broker_new (0, 0, 0);
    ck_assert_int_eq (s_heard (broker, 0, RALLY_ROLE_LEADER, 7, 0),
                      BROKER_HEARD_REFUSED);
    ck_assert_int_eq (s_heard (broker, RALLY_NODE_ID_MAX + 1,
                               RALLY_ROLE_LEADER, 7, 0),
                      BROKER_HEARD_REFUSED);
    ck_assert_uint_eq (broker_size (broker), 0);
    ck_assert_uint_eq (broker_leader (broker, 0, NULL), 0);
    rally_msg_cluster_t cluster = s_cluster (broker, 0);
    ck_assert_uint_eq (cluster.term, 0);
    ck_assert_uint_eq (cluster.node_count, 0);
    ck_assert_int_eq (s_heard (broker, RALLY_NODE_ID_MAX, RALLY_ROLE_LEADER,
                               1, 0),
                      BROKER_HEARD_NEW);
    broker_destroy (&broker);
}
END_TEST

//  A follower cut off from the leader's stream hears no seq to lag behind
//  and says lag 0; the report gives its real lag, from the seqs both say.
START_TEST (test_cluster_real_lag)
{
    broker_t *broker = broker_new (0, 0, 0);
    s_ask (broker, 2, 3, 4, 1100);
    s_grant (broker, 1100, 2, 4, BROKER_LEASE_MS);
    rally_msg_node_hb_t hb = s_hb (2, RALLY_ROLE_LEADER, 4);
    hb.want = 4;
    hb.seq = 5000;
    s_beat (broker, &hb, 1200);
    hb = s_hb (7, RALLY_ROLE_FOLLOWER, 4);
    hb.seq = 4400;
    hb.lag = 0;                             //  hears nothing of the leader
    broker_heard (broker, &hb, 1210);
    hb = s_hb (9, RALLY_ROLE_FOLLOWER, 4);
    hb.seq = 4990;
    hb.lag = 30;                            //  its own figure, larger: kept
    broker_heard (broker, &hb, 1210);
    rally_msg_cluster_t cluster = s_cluster (broker, 1220);
    ck_assert_uint_eq (cluster.leader, 2);
    ck_assert_uint_eq (cluster.node_count, 3);
    ck_assert_uint_eq (cluster.nodes[0].lag, 0);
    ck_assert_uint_eq (cluster.nodes[1].lag, 600);
    ck_assert_uint_eq (cluster.nodes[2].lag, 30);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_cluster_report)
{
    broker_t *broker = broker_new (0, 0, 0);
    //  Node 200 is behind node 2 (seq 1000 against 1002), so node 2's ask
    //  need not wait for it.
    rally_msg_node_hb_t behind = s_hb (200, RALLY_ROLE_FOLLOWER, 3);
    behind.seq = 1000;
    broker_heard (broker, &behind, 1000);
    s_ask (broker, 2, 3, 4, 1100);
    s_grant (broker, 1100, 2, 4, BROKER_LEASE_MS);
    s_heard (broker, 50, RALLY_ROLE_FOLLOWER, 2, 1200);
    s_lead (broker, 2, 4, 1240);            //  renewed until 1440
    rally_msg_cluster_t cluster = s_cluster (broker, 1300);
    ck_assert_uint_eq (cluster.term, 4);
    ck_assert_uint_eq (cluster.leader, 2);
    ck_assert_uint_eq (cluster.lease_holder, 2);
    ck_assert_uint_eq (cluster.lease_term, 4);
    ck_assert_uint_eq (cluster.lease_ms, 140);
    ck_assert_uint_eq (cluster.node_count, 3);

    const uint32_t ids[] = { 2, 50, 200 };
    const uint32_t ages[] = { 60, 100, 300 };
    const uint32_t roles[] = { RALLY_ROLE_LEADER, RALLY_ROLE_FOLLOWER,
                               RALLY_ROLE_FOLLOWER };
    const uint64_t terms[] = { 4, 2, 3 };
    const uint64_t lags[] = { 0, 350, 1400 };
    const uint64_t seqs[] = { 1002, 1050, 1000 };
    for (size_t i = 0; i < 3; i++) {
        const rally_node_info_t *n = &cluster.nodes[i];
        char game[RALLY_ENDPOINT_BUF], state[RALLY_ENDPOINT_BUF];
        snprintf (game, sizeof (game), "tcp://10.0.0.%u:5602", ids[i]);
        snprintf (state, sizeof (state), "tcp://10.0.0.%u:5603", ids[i]);
        ck_assert_uint_eq (n->id, ids[i]);
        ck_assert_uint_eq (n->role, roles[i]);
        ck_assert_uint_eq (n->term, terms[i]);
        ck_assert_uint_eq (n->seq, seqs[i]);
        ck_assert_uint_eq (n->age_ms, ages[i]);
        ck_assert_uint_eq (n->matches, ids[i]);
        ck_assert_uint_eq (n->players, 2 * ids[i]);
        ck_assert_uint_eq (n->lag, lags[i]);
        ck_assert_str_eq (n->game, game);
        ck_assert_str_eq (n->state, state);
    }
    //  The rest of the reply is zeroed, not left as it was.
    ck_assert_uint_eq (cluster.nodes[3].id, 0);
    ck_assert_uint_eq (cluster.nodes[3].lag, 0);

    //  The report encodes: everything in it is in the wire's ranges.
    rally_msg_t *msg = (rally_msg_t *) calloc (1, sizeof (rally_msg_t));
    rally_msg_init (msg, RALLY_MSG_CLUSTER);
    msg->u.cluster = cluster;
    zframe_t *frame = rally_msg_encode (msg);
    ck_assert_ptr_nonnull (frame);
    zframe_destroy (&frame);
    free (msg);

    //  A holder unheard for half a lease is no leader to send clients to,
    //  but its lease still stands.
    cluster = s_cluster (broker, 1340);
    ck_assert_uint_eq (cluster.leader, 0);
    ck_assert_uint_eq (cluster.lease_holder, 2);
    ck_assert_uint_eq (cluster.lease_term, 4);
    ck_assert_uint_eq (cluster.lease_ms, 100);
    cluster = s_cluster (broker, 1439);
    ck_assert_uint_eq (cluster.lease_holder, 2);
    ck_assert_uint_eq (cluster.lease_ms, 1);

    //  Lapsed: no lease in the report, though the term is still known.
    cluster = s_cluster (broker, 1440);
    ck_assert_uint_eq (cluster.leader, 0);
    ck_assert_uint_eq (cluster.lease_holder, 0);
    ck_assert_uint_eq (cluster.lease_term, 0);
    ck_assert_uint_eq (cluster.lease_ms, 0);
    ck_assert_uint_eq (cluster.term, 4);

    //  An empty table reports nothing, and no leader or lease.
    broker_t *empty = broker_new (0, 0, 0);
    cluster = s_cluster (empty, 5);
    ck_assert_uint_eq (cluster.term, 0);
    ck_assert_uint_eq (cluster.leader, 0);
    ck_assert_uint_eq (cluster.lease_holder, 0);
    ck_assert_uint_eq (cluster.lease_term, 0);
    ck_assert_uint_eq (cluster.lease_ms, 0);
    ck_assert_uint_eq (cluster.node_count, 0);
    broker_destroy (&empty);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_clock_backwards)
{
    //  A caller's clock that steps back must not make ages wrap, nor undo
    //  a lease.
    broker_t *broker = broker_new (0, 0, 0);
    s_ask (broker, 1, 0, 1, 5000);
    s_grant (broker, 5000, 1, 1, BROKER_LEASE_MS);
    s_lead (broker, 1, 1, 5000);
    rally_msg_cluster_t cluster = s_cluster (broker, 4000);
    ck_assert_uint_eq (cluster.nodes[0].age_ms, 0);
    ck_assert_uint_eq (cluster.leader, 1);
    ck_assert_uint_eq (cluster.lease_holder, 1);
    s_drain (broker);
    s_grant (broker, 4000, 0, 0, 0);
    s_expect_none (broker);
    broker_destroy (&broker);
}
END_TEST

//  --------------------------------------------------------------------------
//  The lease

START_TEST (test_quiet_period)
{
    //  A broker that (re)starts at 1000 may have promised a lease before:
    //  it grants nothing until one lease length has passed.
    broker_t *broker = broker_new (0, 0, 1000);
    rally_msg_lease_t reply = s_ask (broker, 1, 0, 1, 1000);
    ck_assert_uint_eq (reply.lease_term, 0);
    ck_assert_uint_eq (reply.holder, 0);
    ck_assert_uint_eq (reply.ms, 0);
    s_grant (broker, 1000, 0, 0, 0);
    s_ask (broker, 1, 0, 1, 1150);
    s_grant (broker, 1199, 0, 0, 0);
    ck_assert_uint_eq (broker_leader (broker, 1199, NULL), 0);
    s_expect (broker, BROKER_EVENT_NEW, 1);
    s_expect_none (broker);

    rally_msg_lease_t grant = s_grant (broker, 1200, 1, 1, BROKER_LEASE_MS);
    ck_assert_uint_eq (grant.nonce, 100);
    broker_event_t event = s_expect (broker, BROKER_EVENT_GRANTED, 1);
    ck_assert_uint_eq (event.term, 1);
    s_expect_none (broker);
    //  It is the leader once it says it leads the lease's term: a node
    //  granted only a minority of brokers' leases never does.
    ck_assert_uint_eq (broker_leader (broker, 1200, NULL), 0);
    reply = s_lead (broker, 1, 1, 1250);
    ck_assert_uint_eq (reply.ms, BROKER_LEASE_MS);
    event = s_expect (broker, BROKER_EVENT_LEADER, 1);
    ck_assert_uint_eq (event.term, 1);
    ck_assert_uint_eq (event.previous, 0);
    s_expect_none (broker);
    ck_assert_uint_eq (broker_leader (broker, 1250, NULL), 1);
    s_lead (broker, 1, 1, 1300);
    s_expect_none (broker);     //  leading on is no change of leader
    broker_destroy (&broker);

    //  The quiet period is the lease length the broker was given.
    broker = broker_new (0, 50, 1000);
    s_ask (broker, 1, 0, 1, 1000);
    s_grant (broker, 1049, 0, 0, 0);
    s_grant (broker, 1050, 1, 1, 50);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_first_grant)
{
    //  Node, term, seq, want. Node 7 is the most up to date but is heard
    //  only at 0, so not live at 600; node 5 asks for a term already seen,
    //  node 6 asks for nothing (both behind node 3, so not waited for).
    //  Of the rest, 3 and 4 are the most up to
    //  date (term 2, seq 100), and 3 the lower id.
    const struct {
        uint32_t id;
        uint64_t term, seq, want;
        int64_t at;
    } nodes[] = {
        { 7, 2, 900, 3, 0 },
        { 3, 2, 100, 3, 550 },
        { 1, 1, 500, 3, 600 },
        { 4, 2, 100, 3, 600 },
        { 2, 2, 99, 3, 600 },
        { 6, 2, 98, 0, 600 },
        { 5, 2, 97, 2, 600 },
        { 3, 2, 100, 3, 600 },
    };
    broker_t *broker = broker_new (0, 0, 0);
    for (size_t i = 0; i < sizeof (nodes) / sizeof (nodes[0]); i++) {
        rally_msg_node_hb_t hb = s_hb (nodes[i].id, RALLY_ROLE_FOLLOWER,
                                       nodes[i].term);
        hb.seq = nodes[i].seq;
        hb.want = nodes[i].want;
        hb.nonce = 1000 + i;
        s_beat (broker, &hb, nodes[i].at);
    }
    s_drain (broker);

    //  The term granted is the one asked for; the grant answers node 3's
    //  last heartbeat.
    rally_msg_lease_t grant = s_grant (broker, 600, 3, 3, BROKER_LEASE_MS);
    ck_assert_uint_eq (grant.nonce, 1007);
    broker_event_t event = s_expect (broker, BROKER_EVENT_GRANTED, 3);
    ck_assert_uint_eq (event.term, 3);
    ck_assert_int_eq (event.at_ms, 600);
    s_expect_none (broker);
    s_lead (broker, 3, 3, 610);                 //  until 810
    event = s_expect (broker, BROKER_EVENT_LEADER, 3);
    ck_assert_uint_eq (event.term, 3);

    //  One lease at a time: a better candidate waits for this one to lapse.
    rally_msg_node_hb_t hb = s_hb (8, RALLY_ROLE_FOLLOWER, 3);
    hb.seq = 999;
    hb.want = 4;
    rally_msg_lease_t reply = s_beat (broker, &hb, 650);
    ck_assert_uint_eq (reply.holder, 3);
    ck_assert_uint_eq (reply.lease_term, 3);
    ck_assert_uint_eq (reply.ms, 0);    //  not the holder
    s_grant (broker, 650, 0, 0, 0);
    s_grant (broker, 809, 0, 0, 0);
    s_expect (broker, BROKER_EVENT_NEW, 8);
    s_expect_none (broker);
    //  Node 3 dies: its connection closes. Noticed at 812, the lapse is
    //  dated when the lease ran out: a grant logged with it must come
    //  after the old lease by both stamps.
    broker_closed (broker, 3, 700);
    s_grant (broker, 812, 8, 4, BROKER_LEASE_MS);
    event = s_expect (broker, BROKER_EVENT_LAPSED, 3);
    ck_assert_uint_eq (event.term, 3);
    ck_assert_int_eq (event.at_ms, 810);
    event = s_expect (broker, BROKER_EVENT_GRANTED, 8);
    ck_assert_uint_eq (event.term, 4);
    ck_assert_int_eq (event.at_ms, 812);
    event = s_expect (broker, BROKER_EVENT_LEADER, 0);
    ck_assert_uint_eq (event.previous, 3);
    s_expect_none (broker);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_empty_node_waits)
{
    //  Node 1 led term 2 and dies; node 2 followed it to seq 500 and is
    //  still in its campaign's back-off; node 3 restarted empty (seq 0)
    //  with term 2 on its disk, and asks at once. The match lives on node
    //  2 only: node 3 gets nothing until node 2 asks, and node 2 gets it.
    broker_t *broker = broker_new (0, 0, 0);
    rally_msg_node_hb_t two = s_hb (2, RALLY_ROLE_FOLLOWER, 2);
    two.seq = 500;
    s_beat (broker, &two, 600);
    rally_msg_node_hb_t three = s_hb (3, RALLY_ROLE_FOLLOWER, 2);
    three.seq = 0;
    three.want = 3;
    s_beat (broker, &three, 600);
    s_drain (broker);
    s_grant (broker, 600, 0, 0, 0);
    s_beat (broker, &three, 650);
    s_grant (broker, 650, 0, 0, 0);
    two.want = 3;
    s_beat (broker, &two, 700);
    s_grant (broker, 700, 2, 3, BROKER_LEASE_MS);
    broker_destroy (&broker);

    //  With no node holding state (a cluster starting), an empty node leads.
    broker = broker_new (0, 0, 0);
    s_beat (broker, &three, 600);
    s_grant (broker, 600, 3, 3, BROKER_LEASE_MS);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_freshest_waited)
{
    //  The leader is gone. Node 3 (seq 100) asks first; node 1 (seq 200)
    //  is live and will ask after its back-off. Every broker that hears
    //  both waits for node 1, so their grants meet on one node instead of
    //  splitting on whoever asked each first, and node 3, behind, never
    //  leads while node 1 lives.
    broker_t *broker = broker_new (0, 0, 0);
    rally_msg_node_hb_t one = s_hb (1, RALLY_ROLE_FOLLOWER, 2);
    one.seq = 200;
    s_beat (broker, &one, 300);
    rally_msg_node_hb_t three = s_hb (3, RALLY_ROLE_FOLLOWER, 2);
    three.seq = 100;
    three.want = 3;
    s_beat (broker, &three, 300);
    s_grant (broker, 300, 0, 0, 0);
    s_grant (broker, 450, 0, 0, 0);
    one.want = 3;
    s_beat (broker, &one, 460);
    s_grant (broker, 460, 1, 3, BROKER_LEASE_MS);
    broker_destroy (&broker);

    //  Waited for two leases at most: a node heard but unable to win (it
    //  hears too few brokers to ask) does not stop the others.
    broker = broker_new (0, 0, 0);
    one.want = 0;
    s_beat (broker, &one, 300);
    s_beat (broker, &three, 300);
    s_grant (broker, 300, 0, 0, 0);             //  node 3 asks first at 300
    s_beat (broker, &one, 500);
    s_beat (broker, &three, 550);
    s_grant (broker, 699, 0, 0, 0);
    s_grant (broker, 700, 3, 3, BROKER_LEASE_MS);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_want_too_low)
{
    broker_t *broker = broker_new (0, 0, 0);
    //  Node 2 follows term 4, granted before this broker (re)started. Node
    //  1 was cut off at term 3 and asks for 4: a term already taken.
    s_heard (broker, 2, RALLY_ROLE_FOLLOWER, 4, 200);
    rally_msg_lease_t reply = s_ask (broker, 1, 3, 4, 200);
    s_grant (broker, 200, 0, 0, 0);
    s_grant (broker, 250, 0, 0, 0);
    //  The reply carries the term granted here (none yet), never one only
    //  heard: node 1 learns term 4 from node 2's heartbeats.
    ck_assert_uint_eq (reply.lease_term, 0);
    ck_assert_uint_eq (reply.holder, 0);
    ck_assert_uint_eq (reply.ms, 0);
    reply = s_ask (broker, 1, 3, 5, 300);
    ck_assert_uint_eq (reply.lease_term, 0);
    //  Node 2 is more up to date and may yet ask: it is waited for two
    //  leases from node 1's first ask (300), or until it is not live.
    s_grant (broker, 300, 0, 0, 0);
    s_grant (broker, 699, 0, 0, 0);
    s_grant (broker, 700, 1, 5, BROKER_LEASE_MS);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_renewal)
{
    broker_t *broker = broker_new (0, 0, 0);
    s_ask (broker, 1, 0, 1, 200);
    s_grant (broker, 200, 1, 1, BROKER_LEASE_MS);     //  until 400
    s_drain (broker);

    //  Only the holder, leading the lease's term and asking for that same
    //  term, renews. None of these does, so the lease still ends at 400.
    const struct {
        uint32_t id;
        rally_role_t role;
        uint64_t term, want;
    } others[] = {
        { 1, RALLY_ROLE_FOLLOWER, 1, 1 },   //  not leading
        { 1, RALLY_ROLE_LEADER, 0, 1 },     //  leading another term
        { 1, RALLY_ROLE_LEADER, 1, 2 },     //  asking for another term
        { 2, RALLY_ROLE_LEADER, 1, 1 },     //  not the holder
    };
    for (size_t i = 0; i < sizeof (others) / sizeof (others[0]); i++) {
        int64_t now = 250 + 10 * (int64_t) i;
        rally_msg_node_hb_t hb = s_hb (others[i].id, others[i].role,
                                       others[i].term);
        hb.want = others[i].want;
        rally_msg_lease_t reply = s_beat (broker, &hb, now);
        ck_assert_uint_eq (reply.holder, 1);
        ck_assert_uint_eq (reply.lease_term, 1);
        ck_assert_uint_eq (reply.ms, others[i].id == 1 ? 400 - now : 0);
        ck_assert_uint_eq (s_cluster (broker, now).lease_ms, 400 - now);
    }
    s_drain (broker);

    //  The holder leads term 1 and asks to keep it: a whole lease from
    //  this heartbeat, and no event (a renewal is no grant).
    rally_msg_lease_t reply = s_lead (broker, 1, 1, 350);
    ck_assert_uint_eq (reply.holder, 1);
    ck_assert_uint_eq (reply.lease_term, 1);
    ck_assert_uint_eq (reply.ms, BROKER_LEASE_MS);
    s_expect_none (broker);
    ck_assert_uint_eq (s_cluster (broker, 350).lease_ms, BROKER_LEASE_MS);
    reply = s_lead (broker, 1, 1, 380);
    ck_assert_uint_eq (reply.ms, BROKER_LEASE_MS);     //  until 580

    s_grant (broker, 400, 0, 0, 0);
    s_grant (broker, 579, 0, 0, 0);
    broker_expire (broker, 579);
    s_expect_none (broker);
    ck_assert_uint_eq (s_cluster (broker, 579).lease_ms, 1);
    broker_expire (broker, 580);
    broker_event_t event = s_expect (broker, BROKER_EVENT_LAPSED, 1);
    ck_assert_uint_eq (event.term, 1);
    s_expect (broker, BROKER_EVENT_LEADER, 0);
    s_expect_none (broker);

    //  A renewal after the lease ran out is too late: nothing revives it.
    reply = s_lead (broker, 1, 1, 590);
    ck_assert_uint_eq (reply.holder, 0);
    ck_assert_uint_eq (reply.ms, 0);
    ck_assert_uint_eq (s_cluster (broker, 590).lease_holder, 0);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_lapse)
{
    broker_t *broker = broker_new (0, 0, 0);
    s_ask (broker, 1, 0, 1, 200);
    s_grant (broker, 200, 1, 1, BROKER_LEASE_MS);     //  until 400
    //  Node 2 asks for term 1 too, learns it is taken, asks for 2.
    rally_msg_lease_t reply = s_ask (broker, 2, 0, 1, 300);
    ck_assert_uint_eq (reply.lease_term, 1);
    ck_assert_uint_eq (reply.holder, 1);
    s_ask (broker, 2, 1, 2, 350);
    s_drain (broker);

    //  Node 1 never leads: its lease lapses exactly at 200 + 200.
    s_grant (broker, 399, 0, 0, 0);
    broker_expire (broker, 399);
    s_expect_none (broker);
    ck_assert_uint_eq (s_cluster (broker, 399).lease_holder, 1);
    ck_assert_uint_eq (s_cluster (broker, 400).lease_holder, 0);
    broker_expire (broker, 400);
    broker_event_t event = s_expect (broker, BROKER_EVENT_LAPSED, 1);
    ck_assert_uint_eq (event.term, 1);
    s_expect_none (broker);     //  it never led: no change of leader

    //  It goes to the candidate asking for the next term.
    rally_msg_lease_t grant = s_grant (broker, 400, 2, 2, BROKER_LEASE_MS);
    ck_assert_uint_eq (grant.nonce, 200);
    event = s_expect (broker, BROKER_EVENT_GRANTED, 2);
    ck_assert_uint_eq (event.term, 2);
    s_expect_none (broker);
    s_lead (broker, 2, 2, 410);                 //  until 610
    event = s_expect (broker, BROKER_EVENT_LEADER, 2);
    ck_assert_uint_eq (event.term, 2);
    ck_assert_uint_eq (event.previous, 0);
    s_expect_none (broker);

    //  With no expire in between, a grant reports the lapse it follows
    //  (node 2 died: its connection closed).
    s_ask (broker, 1, 2, 3, 550);
    broker_closed (broker, 2, 560);
    s_grant (broker, 609, 0, 0, 0);
    s_expect_none (broker);
    s_grant (broker, 610, 1, 3, BROKER_LEASE_MS);
    event = s_expect (broker, BROKER_EVENT_LAPSED, 2);
    ck_assert_uint_eq (event.term, 2);
    event = s_expect (broker, BROKER_EVENT_GRANTED, 1);
    ck_assert_uint_eq (event.term, 3);
    event = s_expect (broker, BROKER_EVENT_LEADER, 0);
    ck_assert_uint_eq (event.previous, 2);
    s_expect_none (broker);
    s_lead (broker, 1, 3, 620);
    event = s_expect (broker, BROKER_EVENT_LEADER, 1);
    ck_assert_uint_eq (event.term, 3);
    ck_assert_uint_eq (event.previous, 0);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_dead_holder)
{
    broker_t *broker = broker_new (0, 0, 0);
    s_ask (broker, 1, 0, 1, 200);
    s_grant (broker, 200, 1, 1, BROKER_LEASE_MS);
    s_lead (broker, 1, 1, 250);                 //  until 450; then it dies
    broker_closed (broker, 1, 260);
    s_ask (broker, 2, 1, 2, 300);
    s_grant (broker, 449, 0, 0, 0);
    s_grant (broker, 450, 2, 2, BROKER_LEASE_MS);
    //  Node 2 dies before it hears its grant. Both are still live, on
    //  heartbeats that asked for terms now spent: no one gets the lease.
    ck_assert (broker_live (broker, 1, 650));
    ck_assert (broker_live (broker, 2, 650));
    s_grant (broker, 650, 0, 0, 0);
    s_grant (broker, 700, 0, 0, 0);

    //  Node 1 comes back saying what it said before: still nothing, and
    //  the reply tells it the term it missed.
    rally_msg_lease_t reply = s_lead (broker, 1, 1, 700);
    ck_assert_uint_eq (reply.lease_term, 2);
    ck_assert_uint_eq (reply.holder, 0);
    ck_assert_uint_eq (reply.ms, 0);
    s_grant (broker, 700, 0, 0, 0);
    //  Node 2 (seq 1002) is more up to date than node 1 (1001): while it
    //  is live it is waited for, and node 1 gets term 3 once it is not.
    s_ask (broker, 1, 1, 3, 720);
    s_grant (broker, 720, 0, 0, 0);
    s_grant (broker, 799, 0, 0, 0);
    s_grant (broker, 800, 1, 3, BROKER_LEASE_MS);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_terms_grow)
{
    broker_t *broker = broker_new (0, 0, 0);
    //  A node may ask for more than the next term, and gets what it asks.
    s_ask (broker, 3, 0, 7, 200);
    s_grant (broker, 200, 3, 7, BROKER_LEASE_MS);
    //  It never leads, the lease lapses, and it is forgotten. Term 7 is
    //  spent all the same.
    s_grant (broker, 400, 0, 0, 0);
    broker_expire (broker, 30200);
    ck_assert_uint_eq (broker_size (broker), 0);
    rally_msg_lease_t reply = s_ask (broker, 4, 0, 5, 30300);
    ck_assert_uint_eq (reply.lease_term, 7);
    s_grant (broker, 30300, 0, 0, 0);
    s_ask (broker, 4, 0, 7, 30310);
    s_grant (broker, 30310, 0, 0, 0);
    s_ask (broker, 4, 0, 8, 30320);
    s_grant (broker, 30320, 4, 8, BROKER_LEASE_MS);

    //  A term heard from a node counts as well as one granted here: node 5
    //  follows term 20, granted by brokers this one did not hear from.
    s_heard (broker, 5, RALLY_ROLE_FOLLOWER, 20, 30500);
    reply = s_ask (broker, 4, 0, 20, 30520);
    ck_assert_uint_eq (reply.lease_term, 8);
    s_grant (broker, 30520, 0, 0, 0);
    s_ask (broker, 4, 0, 21, 30530);
    //  Node 5 is more up to date (term 20): waited for two leases from
    //  node 4's first ask (30530).
    s_grant (broker, 30530, 0, 0, 0);
    s_grant (broker, 30929, 0, 0, 0);
    s_grant (broker, 30930, 4, 21, BROKER_LEASE_MS);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_terms_exhausted)
{
    //  The last term there is, or 2^63 (past SQLite's integers), from a
    //  member (a bug, or hostile): refused whole, logged by an event, and
    //  nothing changes: not the table, not the terms, not the lease.
    uint64_t bad[] = { UINT64_MAX, UINT64_C (1) << 63, RALLY_TERM_MAX + 1 };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        broker_t *broker = broker_new (0, 0, 0);
        s_ask (broker, 1, 0, 1, 200);
        s_grant (broker, 200, 1, 1, BROKER_LEASE_MS);
        s_lead (broker, 1, 1, 210);
        s_drain (broker);
        rally_msg_node_hb_t hb = s_hb (2, RALLY_ROLE_FOLLOWER, bad[i]);
        ck_assert_int_eq (broker_heard (broker, &hb, 220),
                          BROKER_HEARD_BAD_TERM);
        broker_event_t event = s_expect (broker, BROKER_EVENT_BAD_TERM, 2);
        ck_assert_uint_eq (event.term, bad[i]);
        ck_assert_uint_eq (event.known, 1);
        s_expect_none (broker);
        //  A leader claiming it, or a follower asking for it: the same.
        hb = s_hb (1, RALLY_ROLE_LEADER, bad[i]);
        hb.want = bad[i];
        ck_assert_int_eq (broker_heard (broker, &hb, 230),
                          BROKER_HEARD_BAD_TERM);
        hb = s_hb (3, RALLY_ROLE_FOLLOWER, 1);
        hb.want = bad[i];
        ck_assert_int_eq (broker_heard (broker, &hb, 230),
                          BROKER_HEARD_BAD_TERM);
        ck_assert_uint_eq (broker_size (broker), 1);
        rally_msg_cluster_t cluster = s_cluster (broker, 240);
        ck_assert_uint_eq (cluster.term, 1);
        ck_assert_uint_eq (cluster.lease_term, 1);
        ck_assert_uint_eq (cluster.lease_holder, 1);
        //  The leader renews as before; when it goes, the next term is 2.
        rally_msg_lease_t reply = s_lead (broker, 1, 1, 300);
        ck_assert_uint_eq (reply.lease_term, 1);
        ck_assert_uint_eq (reply.ms, BROKER_LEASE_MS);
        s_ask (broker, 2, 1, 2, 400);
        broker_closed (broker, 1, 450);         //  it dies
        s_grant (broker, 500, 2, 2, BROKER_LEASE_MS);
        broker_destroy (&broker);
    }
}
END_TEST

START_TEST (test_terms_bounded_steps)
{
    broker_t *broker = broker_new (0, 0, 0);
    //  A broker that knows no term believes a large one: the cluster's
    //  terms may have grown for years before it (re)started.
    s_heard (broker, 1, RALLY_ROLE_FOLLOWER, 1000000, 10);
    ck_assert_uint_eq (s_cluster (broker, 10).term, 1000000);
    //  From then on, a term believed is at most RALLY_TERM_STEP above the
    //  highest known, however it is sent.
    uint64_t top = 1000000 + RALLY_TERM_STEP;
    rally_msg_node_hb_t hb = s_hb (2, RALLY_ROLE_FOLLOWER, top + 1);
    ck_assert_int_eq (broker_heard (broker, &hb, 20), BROKER_HEARD_BAD_TERM);
    hb = s_hb (2, RALLY_ROLE_FOLLOWER, 1000000);
    hb.want = top + 1;
    ck_assert_int_eq (broker_heard (broker, &hb, 20), BROKER_HEARD_BAD_TERM);
    s_drain (broker);
    ck_assert_int_eq (s_heard (broker, 2, RALLY_ROLE_FOLLOWER, top, 30),
                      BROKER_HEARD_NEW);
    ck_assert_uint_eq (s_cluster (broker, 30).term, top);
    broker_destroy (&broker);

    //  A fresh broker still refuses what would leave too few terms.
    broker = broker_new (0, 0, 0);
    hb = s_hb (1, RALLY_ROLE_FOLLOWER, RALLY_TERM_FIRST_MAX + 1);
    ck_assert_int_eq (broker_heard (broker, &hb, 10), BROKER_HEARD_BAD_TERM);
    ck_assert_uint_eq (broker_size (broker), 0);
    broker_destroy (&broker);

    //  The rule itself, at its edges: the last term may be believed and
    //  granted, then none (terms never wrap); a step is the most above
    //  the known; old terms are always believed.
    ck_assert (rally_term_believable (RALLY_TERM_MAX - 1, RALLY_TERM_MAX));
    ck_assert (!rally_term_believable (RALLY_TERM_MAX, RALLY_TERM_MAX + 1));
    ck_assert (!rally_term_believable (RALLY_TERM_MAX, UINT64_MAX));
    ck_assert (rally_term_grantable (RALLY_TERM_MAX - 1));
    ck_assert (!rally_term_grantable (RALLY_TERM_MAX));
    ck_assert (rally_term_believable (5, 5 + RALLY_TERM_STEP));
    ck_assert (!rally_term_believable (5, 6 + RALLY_TERM_STEP));
    ck_assert (rally_term_believable (5, 0));
    ck_assert (rally_term_believable (0, RALLY_TERM_FIRST_MAX));
    ck_assert (!rally_term_believable (0, RALLY_TERM_FIRST_MAX + 1));
}
END_TEST

START_TEST (test_sitting_leader)
{
    //  A broker restarts at 1000 (it grants from 1200) and hears node 2
    //  lead term 5 on the other brokers' grants, node 1 (more up to date)
    //  ask for term 7, and node 3 follow. Node 2 gets its own term back,
    //  over node 1, only if it leads, renews that very term, was heard
    //  within half a lease, and no higher term is known.
    const struct {
        rally_role_t role;
        uint64_t term, want;
        int64_t heard;
        uint64_t seen;              //  node 3's term
        uint32_t winner;
        uint64_t granted;
        int64_t at;                 //  when the grant comes
    } cases[] = {
        { RALLY_ROLE_LEADER, 5, 5, 1101, 5, 2, 5, 1200 },
        { RALLY_ROLE_LEADER, 5, 5, 1100, 5, 1, 7, 1200 },   //  not heard lately
        { RALLY_ROLE_FOLLOWER, 5, 5, 1150, 5, 1, 7, 1200 }, //  not leading
        { RALLY_ROLE_LEADER, 5, 6, 1150, 5, 1, 7, 1200 },   //  asks another term
        //  A newer term known: node 3 follows it, so it is more up to date
        //  than node 1 and waited for two leases from 1200.
        { RALLY_ROLE_LEADER, 5, 5, 1150, 6, 1, 7, 1600 },
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        broker_t *broker = broker_new (0, 0, 1000);
        rally_msg_node_hb_t hb = s_hb (2, cases[i].role, cases[i].term);
        hb.want = cases[i].want;
        rally_msg_lease_t reply = s_beat (broker, &hb, cases[i].heard);
        ck_assert_uint_eq (reply.holder, 0);
        ck_assert_uint_eq (reply.ms, 0);
        hb = s_hb (1, RALLY_ROLE_FOLLOWER, 5);
        hb.seq = 5000;
        hb.want = 7;
        s_beat (broker, &hb, 1150);
        s_heard (broker, 3, RALLY_ROLE_FOLLOWER, cases[i].seen, 1150);
        s_grant (broker, 1199, 0, 0, 0);       //  quiet all the same
        s_drain (broker);
        if (cases[i].at > 1200) {
            s_grant (broker, 1200, 0, 0, 0);    //  node 1 asks from here
            s_grant (broker, cases[i].at - 1, 0, 0, 0);
        }
        s_grant (broker, cases[i].at, cases[i].winner, cases[i].granted,
                 BROKER_LEASE_MS);
        broker_event_t event = s_expect (broker, BROKER_EVENT_GRANTED,
                                         cases[i].winner);
        ck_assert_uint_eq (event.term, cases[i].granted);
        if (cases[i].winner == 2) {
            //  It leads that term already: the leader at once.
            event = s_expect (broker, BROKER_EVENT_LEADER, 2);
            ck_assert_uint_eq (event.term, 5);
            ck_assert_uint_eq (broker_leader (broker, 1200, NULL), 2);
        }
        s_expect_none (broker);
        broker_destroy (&broker);
    }

    //  A lease this broker granted lapses here (the renewals went astray)
    //  while its holder leads on: the holder gets the same term again,
    //  over a node asking for the next.
    broker_t *broker = broker_new (0, 0, 0);
    s_ask (broker, 1, 0, 1, 200);
    s_grant (broker, 200, 1, 1, BROKER_LEASE_MS);
    s_lead (broker, 1, 1, 210);                 //  until 410
    s_ask (broker, 2, 1, 2, 300);
    rally_msg_lease_t reply = s_lead (broker, 1, 1, 420);
    ck_assert_uint_eq (reply.holder, 0);       //  too late to renew
    s_drain (broker);
    s_grant (broker, 420, 1, 1, BROKER_LEASE_MS);
    broker_event_t event = s_expect (broker, BROKER_EVENT_GRANTED, 1);
    ck_assert_uint_eq (event.term, 1);
    s_expect (broker, BROKER_EVENT_LEADER, 1);
    s_expect_none (broker);
    broker_destroy (&broker);

    //  But a term granted here goes to no other node: node 2 says it leads
    //  term 5, which this broker gave node 1.
    broker = broker_new (0, 0, 0);
    s_ask (broker, 1, 0, 5, 200);
    s_grant (broker, 200, 1, 5, BROKER_LEASE_MS);
    s_lead (broker, 2, 5, 450);
    s_grant (broker, 450, 0, 0, 0);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_lease_moves)
{
    //  Node 1 holds term 1 here, but saw term 2 at another broker before
    //  it could lead: it asks for 3, and the lease moves to that term so
    //  that the brokers' grants meet on one term. It keeps its end (400):
    //  a move that extended it would let a holder that never leads keep
    //  the lease for ever by asking higher on every heartbeat.
    broker_t *broker = broker_new (0, 0, 0);
    s_ask (broker, 1, 0, 1, 200);
    s_grant (broker, 200, 1, 1, BROKER_LEASE_MS);
    s_drain (broker);
    rally_msg_lease_t reply = s_ask (broker, 1, 2, 3, 250);
    ck_assert_uint_eq (reply.holder, 1);
    ck_assert_uint_eq (reply.lease_term, 3);
    ck_assert_uint_eq (reply.ms, 150);
    broker_event_t event = s_expect (broker, BROKER_EVENT_GRANTED, 1);
    ck_assert_uint_eq (event.term, 3);
    s_expect_none (broker);
    rally_msg_cluster_t cluster = s_cluster (broker, 300);
    ck_assert_uint_eq (cluster.lease_term, 3);
    ck_assert_uint_eq (cluster.lease_ms, 100);

    //  It leads term 3: renewed, and named.
    reply = s_lead (broker, 1, 3, 300);         //  until 500
    ck_assert_uint_eq (reply.ms, BROKER_LEASE_MS);
    event = s_expect (broker, BROKER_EVENT_LEADER, 1);
    ck_assert_uint_eq (event.term, 3);

    //  A leader's lease does not move (it renews, or lapses), nor does
    //  anyone else's ask move it.
    rally_msg_node_hb_t hb = s_hb (1, RALLY_ROLE_LEADER, 3);
    hb.want = 4;
    reply = s_beat (broker, &hb, 310);
    ck_assert_uint_eq (reply.lease_term, 3);
    ck_assert_uint_eq (reply.ms, 190);
    reply = s_ask (broker, 2, 3, 5, 320);
    ck_assert_uint_eq (reply.lease_term, 3);
    ck_assert_uint_eq (reply.holder, 1);
    cluster = s_cluster (broker, 330);
    ck_assert_uint_eq (cluster.lease_term, 3);
    ck_assert_uint_eq (cluster.lease_ms, 170);
    s_expect (broker, BROKER_EVENT_NEW, 2);
    s_expect_none (broker);     //  no grant, moved or otherwise
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_silent_leader_held)
{
    //  Node 1 leads term 1, renewing until 300 (lease until 500), then goes
    //  silent with its connection open: a stall, not a death.
    broker_t *broker = broker_new (0, 0, 0);
    s_ask (broker, 1, 0, 1, 200);
    s_grant (broker, 200, 1, 1, BROKER_LEASE_MS);
    s_lead (broker, 1, 1, 300);
    s_ask (broker, 2, 1, 2, 450);
    s_drain (broker);
    //  The lease lapses at 500 and is held for it until 300 + 5 * 200.
    s_grant (broker, 500, 0, 0, 0);
    broker_event_t event = s_expect (broker, BROKER_EVENT_LAPSED, 1);
    ck_assert_int_eq (event.at_ms, 500);
    ck_assert_uint_eq (event.held_ms, BROKER_SILENCE_LEASES * BROKER_LEASE_MS);
    s_ask (broker, 2, 1, 2, 900);
    s_grant (broker, 900, 0, 0, 0);
    //  Heard again leading term 1, it gets term 1 back: no new term.
    s_lead (broker, 1, 1, 950);
    s_grant (broker, 950, 1, 1, BROKER_LEASE_MS);
    ck_assert_uint_eq (s_cluster (broker, 960).lease_term, 1);
    s_drain (broker);
    //  Silent again, past the hold (950 + 1000): node 2 gets a new term.
    s_ask (broker, 2, 1, 2, 1900);
    s_grant (broker, 1949, 0, 0, 0);
    s_grant (broker, 1950, 2, 2, BROKER_LEASE_MS);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_closed_leader_not_held)
{
    //  Node 1 leads term 1; its kernel closes its connection (it died):
    //  the lease goes on the moment it lapses.
    broker_t *broker = broker_new (0, 0, 0);
    s_ask (broker, 1, 0, 1, 200);
    s_grant (broker, 200, 1, 1, BROKER_LEASE_MS);
    s_lead (broker, 1, 1, 300);
    broker_closed (broker, 1, 310);
    s_ask (broker, 2, 1, 2, 450);
    s_drain (broker);
    s_grant (broker, 499, 0, 0, 0);
    s_grant (broker, 500, 2, 2, BROKER_LEASE_MS);
    broker_event_t event = s_expect (broker, BROKER_EVENT_LAPSED, 1);
    ck_assert_uint_eq (event.held_ms, 0);
    //  A node heard again after its connection closed is open again.
    broker_t *other = broker_new (0, 0, 0);
    s_ask (other, 1, 0, 1, 200);
    s_grant (other, 200, 1, 1, BROKER_LEASE_MS);
    broker_closed (other, 1, 250);
    s_lead (other, 1, 1, 300);
    s_ask (other, 2, 1, 2, 450);
    s_grant (other, 500, 0, 0, 0);      //  held: silent, not closed
    broker_destroy (&other);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_a_held_leader_that_gives_up)
{
    //  A silent leader heard again as a follower has given up its term:
    //  the hold ends and the candidate gets the lease at once.
    broker_t *broker = broker_new (0, 0, 0);
    s_ask (broker, 1, 0, 1, 200);
    s_grant (broker, 200, 1, 1, BROKER_LEASE_MS);
    s_lead (broker, 1, 1, 300);
    s_ask (broker, 2, 1, 2, 450);
    s_grant (broker, 500, 0, 0, 0);
    s_ask (broker, 1, 1, 0, 600);               //  follows, asks nothing
    s_grant (broker, 600, 2, 2, BROKER_LEASE_MS);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_no_term_storm)
{
    //  A holder that never leads and asks one term higher on every
    //  heartbeat (it sees its own grant's term come back) moves the lease
    //  along but does not keep it: it lapses at its first end, 200 + 200.
    broker_t *broker = broker_new (0, 0, 0);
    s_ask (broker, 1, 0, 1, 200);
    s_grant (broker, 200, 1, 1, BROKER_LEASE_MS);
    for (int64_t t = 250, want = 2; t < 400; t += 50, want++)
        s_ask (broker, 1, 0, (uint64_t) want, t);
    ck_assert_uint_eq (s_cluster (broker, 399).lease_holder, 1);
    ck_assert_uint_eq (s_cluster (broker, 400).lease_holder, 0);
    broker_destroy (&broker);

    //  A broker that restarts while node 2 leads term 7 on the other
    //  brokers' grants, and node 1, restarted, follows it and asks for
    //  nothing: the broker joins node 2's term, and no term climbs.
    broker = broker_new (0, 0, 1000);
    for (int64_t t = 1000; t <= 3000; t += 50) {
        s_lead (broker, 2, 7, t);
        s_ask (broker, 1, 7, 0, t);
        rally_msg_lease_t grant;
        broker_grant_due (broker, t, &grant);
    }
    rally_msg_cluster_t cluster = s_cluster (broker, 3000);
    ck_assert_uint_eq (cluster.lease_holder, 2);
    ck_assert_uint_eq (cluster.lease_term, 7);
    ck_assert_uint_eq (cluster.term, 7);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_leader_freshness)
{
    broker_t *broker = broker_new (0, 0, 0);
    s_ask (broker, 1, 0, 1, 150);
    s_grant (broker, 200, 1, 1, BROKER_LEASE_MS);     //  until 400
    //  Granted, but not yet leading: no leader.
    ck_assert_uint_eq (broker_leader (broker, 200, NULL), 0);
    rally_msg_cluster_t cluster = s_cluster (broker, 200);
    ck_assert_uint_eq (cluster.lease_holder, 1);
    ck_assert_uint_eq (cluster.leader, 0);

    //  Leading: named, with its endpoints.
    s_lead (broker, 1, 1, 250);                 //  until 450
    rally_msg_leader_t leader;
    memset (&leader, 0xff, sizeof (leader));
    ck_assert_uint_eq (broker_leader (broker, 250, &leader), 1);
    ck_assert_uint_eq (leader.from.node, 1);
    ck_assert_uint_eq (leader.from.term, 1);
    ck_assert_str_eq (leader.game, "tcp://10.0.0.1:5602");
    ck_assert_str_eq (leader.state, "tcp://10.0.0.1:5603");
    //  The leader clients are sent to has been heard within half a lease,
    //  though its lease runs longer.
    ck_assert_uint_eq (broker_leader (broker, 349, NULL), 1);
    ck_assert_uint_eq (broker_leader (broker, 350, NULL), 0);
    cluster = s_cluster (broker, 350);
    ck_assert_uint_eq (cluster.lease_holder, 1);
    ck_assert_uint_eq (cluster.leader, 0);

    //  Heard, fresh, and holding the lease, but no longer leading its term:
    //  not named either.
    s_heard (broker, 1, RALLY_ROLE_FOLLOWER, 1, 360);
    ck_assert_uint_eq (broker_leader (broker, 360, NULL), 0);
    s_heard (broker, 1, RALLY_ROLE_LEADER, 0, 370);
    ck_assert_uint_eq (broker_leader (broker, 370, NULL), 0);
    s_heard (broker, 1, RALLY_ROLE_LEADER, 1, 380);
    ck_assert_uint_eq (broker_leader (broker, 380, NULL), 1);

    //  However fresh the leader, never after its lease lapses.
    s_heard (broker, 1, RALLY_ROLE_LEADER, 1, 449);
    ck_assert_uint_eq (broker_leader (broker, 449, NULL), 1);
    ck_assert_uint_eq (broker_leader (broker, 450, NULL), 0);
    broker_destroy (&broker);

    //  Half of the lease the broker was given, not of the default.
    broker = broker_new (2000, 1000, 0);
    s_ask (broker, 1, 0, 1, 1000);
    s_grant (broker, 1000, 1, 1, 1000);
    s_lead (broker, 1, 1, 1000);
    ck_assert_uint_eq (broker_leader (broker, 1499, NULL), 1);
    ck_assert_uint_eq (broker_leader (broker, 1500, NULL), 0);
    broker_destroy (&broker);
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *s = suite_create ("broker");
    TCase *tc = tcase_create ("table");
    tcase_add_test (tc, test_new_destroy);
    tcase_add_test (tc, test_heard);
    tcase_add_test (tc, test_liveness);
    tcase_add_test (tc, test_custom_liveness);
    tcase_add_test (tc, test_forget);
    tcase_add_test (tc, test_forget_order);
    tcase_add_test (tc, test_forgotten_comes_back_new);
    tcase_add_test (tc, test_seventeenth_refused);
    tcase_add_test (tc, test_bad_id);
    tcase_add_test (tc, test_cluster_report);
    tcase_add_test (tc, test_clock_backwards);
    suite_add_tcase (s, tc);
    tc = tcase_create ("lease");
    tcase_add_test (tc, test_quiet_period);
    tcase_add_test (tc, test_first_grant);
    tcase_add_test (tc, test_empty_node_waits);
    tcase_add_test (tc, test_freshest_waited);
    tcase_add_test (tc, test_want_too_low);
    tcase_add_test (tc, test_renewal);
    tcase_add_test (tc, test_lapse);
    tcase_add_test (tc, test_dead_holder);
    tcase_add_test (tc, test_terms_grow);
    tcase_add_test (tc, test_terms_exhausted);
    tcase_add_test (tc, test_terms_bounded_steps);
    tcase_add_test (tc, test_sitting_leader);
    tcase_add_test (tc, test_lease_moves);
    tcase_add_test (tc, test_leader_freshness);
    tcase_add_test (tc, test_silent_leader_held);
    tcase_add_test (tc, test_closed_leader_not_held);
    tcase_add_test (tc, test_a_held_leader_that_gives_up);
    tcase_add_test (tc, test_no_term_storm);
    tcase_add_test (tc, test_cluster_real_lag);
    suite_add_tcase (s, tc);
    return s;
}
