/*  test_broker - the broker's node table, with injected time.

    Every test builds a table, feeds it heartbeats at chosen milliseconds,
    and reads what it decided from its queries and events. Nothing here
    sleeps and nothing opens a socket: time is a number the test moves.
*/
#include "check_main.h"
#include <string.h>

#include "broker.h"

//  A heartbeat from node id with this role and term, and endpoints that
//  name the node, so a test can tell whose endpoints it got back.
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

START_TEST (test_new_destroy)
{
    broker_t *broker = broker_new (0);
    ck_assert_ptr_nonnull (broker);
    ck_assert_uint_eq (broker_liveness_ms (broker), BROKER_LIVENESS_MS);
    ck_assert_uint_eq (broker_size (broker), 0);
    ck_assert_uint_eq (broker_leader (broker, 0, NULL), 0);
    s_expect_none (broker);
    broker_destroy (&broker);
    ck_assert_ptr_null (broker);
    broker_destroy (&broker);

    broker = broker_new (1234);
    ck_assert_uint_eq (broker_liveness_ms (broker), 1234);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_heard)
{
    broker_t *broker = broker_new (0);
    ck_assert_int_eq (s_heard (broker, 7, RALLY_ROLE_FOLLOWER, 2, 100),
                      BROKER_HEARD_NEW);
    broker_event_t event = s_expect (broker, BROKER_EVENT_NEW, 7);
    ck_assert_uint_eq (event.term, 2);
    ck_assert_str_eq (event.game, "tcp://10.0.0.7:5602");
    s_expect_none (broker);     //  a follower: no leader, none before

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
    strcpy (hb.game, "tcp://elsewhere:1");
    ck_assert_int_eq (broker_heard (broker, &hb, 200), BROKER_HEARD_KNOWN);
    rally_msg_cluster_t cluster;
    broker_cluster (broker, 260, &cluster);
    ck_assert_uint_eq (cluster.node_count, 1);
    ck_assert_uint_eq (cluster.nodes[0].term, 3);
    ck_assert_uint_eq (cluster.nodes[0].seq, 99);
    ck_assert_uint_eq (cluster.nodes[0].matches, 4);
    ck_assert_uint_eq (cluster.nodes[0].players, 9);
    ck_assert_uint_eq (cluster.nodes[0].age_ms, 60);
    ck_assert_str_eq (cluster.nodes[0].game, "tcp://elsewhere:1");
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_leader)
{
    broker_t *broker = broker_new (0);
    rally_msg_leader_t leader;
    s_heard (broker, 2, RALLY_ROLE_FOLLOWER, 1, 0);
    ck_assert_uint_eq (broker_leader (broker, 10, &leader), 0);

    s_heard (broker, 3, RALLY_ROLE_LEADER, 4, 10);
    memset (&leader, 0xff, sizeof (leader));
    ck_assert_uint_eq (broker_leader (broker, 20, &leader), 3);
    ck_assert_uint_eq (leader.from.node, 3);
    ck_assert_uint_eq (leader.from.term, 4);
    ck_assert_str_eq (leader.game, "tcp://10.0.0.3:5602");
    ck_assert_str_eq (leader.state, "tcp://10.0.0.3:5603");

    //  The change was reported once, when node 3 was heard.
    s_expect (broker, BROKER_EVENT_NEW, 2);
    s_expect (broker, BROKER_EVENT_NEW, 3);
    broker_event_t event = s_expect (broker, BROKER_EVENT_LEADER, 3);
    ck_assert_uint_eq (event.term, 4);
    ck_assert_uint_eq (event.previous, 0);
    s_heard (broker, 3, RALLY_ROLE_LEADER, 4, 60);
    s_expect_none (broker);

    //  A leader that steps down is no longer named.
    s_heard (broker, 3, RALLY_ROLE_FOLLOWER, 4, 110);
    event = s_expect (broker, BROKER_EVENT_LEADER, 0);
    ck_assert_uint_eq (event.previous, 3);
    ck_assert_uint_eq (broker_leader (broker, 110, &leader), 0);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_liveness)
{
    broker_t *broker = broker_new (0);
    s_heard (broker, 1, RALLY_ROLE_LEADER, 1, 1000);
    s_drain (broker);

    //  Live through 499 ms of silence; not at 500.
    ck_assert_uint_eq (broker_leader (broker, 1499, NULL), 1);
    ck_assert (broker_live (broker, 1, 1499));
    broker_expire (broker, 1499);
    s_expect_none (broker);
    ck_assert_uint_eq (broker_leader (broker, 1500, NULL), 0);
    ck_assert (!broker_live (broker, 1, 1500));

    //  Queries are right before expire runs; expire reports the change.
    broker_expire (broker, 1500);
    broker_event_t event = s_expect (broker, BROKER_EVENT_QUIET, 1);
    ck_assert_uint_eq (event.age_ms, 500);
    event = s_expect (broker, BROKER_EVENT_LEADER, 0);
    ck_assert_uint_eq (event.previous, 1);
    s_expect_none (broker);
    broker_expire (broker, 1600);
    s_expect_none (broker);     //  quiet is said once

    //  A quiet node stays in the report, with its age, until forgotten.
    rally_msg_cluster_t cluster;
    broker_cluster (broker, 2000, &cluster);
    ck_assert_uint_eq (cluster.node_count, 1);
    ck_assert_uint_eq (cluster.nodes[0].age_ms, 1000);
    ck_assert_uint_eq (cluster.leader, 0);
    ck_assert_uint_eq (cluster.term, 1);

    //  Heard again: back, and leading again.
    ck_assert_int_eq (s_heard (broker, 1, RALLY_ROLE_LEADER, 1, 2100),
                      BROKER_HEARD_KNOWN);
    s_expect (broker, BROKER_EVENT_BACK, 1);
    s_expect (broker, BROKER_EVENT_LEADER, 1);
    s_expect_none (broker);
    ck_assert_uint_eq (broker_leader (broker, 2100, NULL), 1);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_custom_liveness)
{
    broker_t *broker = broker_new (200);
    s_heard (broker, 1, RALLY_ROLE_LEADER, 1, 0);
    ck_assert_uint_eq (broker_leader (broker, 199, NULL), 1);
    ck_assert_uint_eq (broker_leader (broker, 200, NULL), 0);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_forget)
{
    broker_t *broker = broker_new (0);
    s_heard (broker, 4, RALLY_ROLE_LEADER, 6, 0);
    s_heard (broker, 5, RALLY_ROLE_FOLLOWER, 6, 10000);
    s_drain (broker);

    rally_msg_cluster_t cluster;
    broker_cluster (broker, 29999, &cluster);
    ck_assert_uint_eq (cluster.node_count, 2);
    ck_assert_uint_eq (cluster.nodes[0].age_ms, 29999);

    //  At 30 s node 4 is out of the report even before expire runs.
    broker_cluster (broker, 30000, &cluster);
    ck_assert_uint_eq (cluster.node_count, 1);
    ck_assert_uint_eq (cluster.nodes[0].id, 5);
    ck_assert_uint_eq (cluster.term, 6);    //  the term is still known

    //  The forgotten node is reported first, then the quiet one.
    broker_expire (broker, 30000);
    broker_event_t event = s_expect (broker, BROKER_EVENT_FORGOTTEN, 4);
    ck_assert_uint_eq (event.age_ms, 30000);
    s_expect (broker, BROKER_EVENT_QUIET, 5);
    ck_assert_uint_eq (broker_size (broker), 1);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_forget_order)
{
    broker_t *broker = broker_new (0);
    s_heard (broker, 4, RALLY_ROLE_LEADER, 6, 0);
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
    broker_t *broker = broker_new (0);
    s_heard (broker, 9, RALLY_ROLE_LEADER, 1, 0);
    s_drain (broker);
    //  No expire ran; the table still notices it had forgotten node 9.
    ck_assert_int_eq (s_heard (broker, 9, RALLY_ROLE_LEADER, 2, 31000),
                      BROKER_HEARD_NEW);
    s_expect (broker, BROKER_EVENT_FORGOTTEN, 9);
    s_expect (broker, BROKER_EVENT_NEW, 9);
    broker_event_t event = s_expect (broker, BROKER_EVENT_LEADER, 9);
    ck_assert_uint_eq (event.term, 2);
    ck_assert_uint_eq (broker_size (broker), 1);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_highest_term_wins)
{
    broker_t *broker = broker_new (0);
    s_heard (broker, 1, RALLY_ROLE_LEADER, 1, 0);
    s_heard (broker, 2, RALLY_ROLE_LEADER, 3, 0);
    s_heard (broker, 3, RALLY_ROLE_LEADER, 2, 0);
    s_heard (broker, 4, RALLY_ROLE_FOLLOWER, 9, 0);   //  a follower never leads
    rally_msg_leader_t leader;
    ck_assert_uint_eq (broker_leader (broker, 100, &leader), 2);
    ck_assert_uint_eq (leader.from.term, 3);

    rally_msg_cluster_t cluster;
    broker_cluster (broker, 100, &cluster);
    ck_assert_uint_eq (cluster.leader, 2);
    ck_assert_uint_eq (cluster.term, 9);

    //  The highest-term leader goes quiet: the next highest takes over.
    s_heard (broker, 1, RALLY_ROLE_LEADER, 1, 400);
    s_heard (broker, 3, RALLY_ROLE_LEADER, 2, 400);
    ck_assert_uint_eq (broker_leader (broker, 600, NULL), 3);
    //  And a term only ever goes up in the report.
    s_heard (broker, 4, RALLY_ROLE_FOLLOWER, 1, 700);
    broker_cluster (broker, 700, &cluster);
    ck_assert_uint_eq (cluster.term, 9);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_lowest_id_tie)
{
    broker_t *broker = broker_new (0);
    s_heard (broker, 5, RALLY_ROLE_LEADER, 2, 0);
    s_heard (broker, 3, RALLY_ROLE_LEADER, 2, 0);
    s_heard (broker, 4, RALLY_ROLE_LEADER, 2, 300);
    s_heard (broker, 1, RALLY_ROLE_LEADER, 1, 300);   //  lower id, lower term
    ck_assert_uint_eq (broker_leader (broker, 300, NULL), 3);
    //  3 and 5 go quiet at 500: 4 is the only live one of term 2.
    ck_assert_uint_eq (broker_leader (broker, 500, NULL), 4);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_seventeenth_refused)
{
    broker_t *broker = broker_new (0);
    //  Sixteen nodes with ids spread over the range.
    for (uint32_t i = 0; i < BROKER_NODES_MAX; i++)
        ck_assert_int_eq (s_heard (broker, 10 + 15 * i, RALLY_ROLE_FOLLOWER, 1,
                                   i),
                          BROKER_HEARD_NEW);
    ck_assert_uint_eq (broker_size (broker), BROKER_NODES_MAX);
    s_drain (broker);

    ck_assert_int_eq (s_heard (broker, 1, RALLY_ROLE_LEADER, 5, 100),
                      BROKER_HEARD_REFUSED);
    broker_event_t event = s_expect (broker, BROKER_EVENT_REFUSED, 1);
    ck_assert_uint_eq (event.term, 5);
    s_expect_none (broker);
    //  Refused again, but said only once; nothing in the table changed.
    ck_assert_int_eq (s_heard (broker, 1, RALLY_ROLE_LEADER, 5, 150),
                      BROKER_HEARD_REFUSED);
    s_expect_none (broker);
    ck_assert_uint_eq (broker_size (broker), BROKER_NODES_MAX);
    ck_assert_uint_eq (broker_leader (broker, 150, NULL), 0);
    rally_msg_cluster_t cluster;
    broker_cluster (broker, 150, &cluster);
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
    ck_assert_int_eq (s_heard (broker, 1, RALLY_ROLE_LEADER, 5, 30200),
                      BROKER_HEARD_NEW);
    s_expect (broker, BROKER_EVENT_FORGOTTEN, 10);
    s_expect (broker, BROKER_EVENT_NEW, 1);
    s_expect (broker, BROKER_EVENT_LEADER, 1);
    ck_assert_uint_eq (broker_size (broker), BROKER_NODES_MAX);
    ck_assert_uint_eq (broker_leader (broker, 30200, NULL), 1);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_bad_id)
{
    broker_t *broker = broker_new (0);
    ck_assert_int_eq (s_heard (broker, 0, RALLY_ROLE_LEADER, 7, 0),
                      BROKER_HEARD_REFUSED);
    ck_assert_int_eq (s_heard (broker, RALLY_NODE_ID_MAX + 1,
                               RALLY_ROLE_LEADER, 7, 0),
                      BROKER_HEARD_REFUSED);
    ck_assert_uint_eq (broker_size (broker), 0);
    ck_assert_uint_eq (broker_leader (broker, 0, NULL), 0);
    rally_msg_cluster_t cluster;
    broker_cluster (broker, 0, &cluster);
    ck_assert_uint_eq (cluster.term, 0);
    ck_assert_uint_eq (cluster.node_count, 0);
    ck_assert_int_eq (s_heard (broker, RALLY_NODE_ID_MAX, RALLY_ROLE_LEADER,
                               1, 0),
                      BROKER_HEARD_NEW);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_cluster_report)
{
    broker_t *broker = broker_new (0);
    s_heard (broker, 200, RALLY_ROLE_FOLLOWER, 3, 1000);
    s_heard (broker, 2, RALLY_ROLE_LEADER, 3, 1100);
    s_heard (broker, 50, RALLY_ROLE_FOLLOWER, 2, 1200);
    rally_msg_cluster_t cluster;
    memset (&cluster, 0xff, sizeof (cluster));
    broker_cluster (broker, 1300, &cluster);
    ck_assert_uint_eq (cluster.term, 3);
    ck_assert_uint_eq (cluster.leader, 2);
    ck_assert_uint_eq (cluster.node_count, 3);

    const uint32_t ids[] = { 2, 50, 200 };
    const uint32_t ages[] = { 200, 100, 300 };
    const uint32_t roles[] = { RALLY_ROLE_LEADER, RALLY_ROLE_FOLLOWER,
                               RALLY_ROLE_FOLLOWER };
    const uint64_t terms[] = { 3, 2, 3 };
    for (size_t i = 0; i < 3; i++) {
        const rally_node_info_t *n = &cluster.nodes[i];
        char game[RALLY_ENDPOINT_BUF], state[RALLY_ENDPOINT_BUF];
        snprintf (game, sizeof (game), "tcp://10.0.0.%u:5602", ids[i]);
        snprintf (state, sizeof (state), "tcp://10.0.0.%u:5603", ids[i]);
        ck_assert_uint_eq (n->id, ids[i]);
        ck_assert_uint_eq (n->role, roles[i]);
        ck_assert_uint_eq (n->term, terms[i]);
        ck_assert_uint_eq (n->seq, 1000 + ids[i]);
        ck_assert_uint_eq (n->age_ms, ages[i]);
        ck_assert_uint_eq (n->matches, ids[i]);
        ck_assert_uint_eq (n->players, 2 * ids[i]);
        ck_assert_str_eq (n->game, game);
        ck_assert_str_eq (n->state, state);
    }
    //  The rest of the reply is zeroed, not left as it was.
    ck_assert_uint_eq (cluster.nodes[3].id, 0);

    //  The report encodes: everything in it is in the wire's ranges.
    rally_msg_t *msg = (rally_msg_t *) calloc (1, sizeof (rally_msg_t));
    rally_msg_init (msg, RALLY_MSG_CLUSTER);
    msg->u.cluster = cluster;
    zframe_t *frame = rally_msg_encode (msg);
    ck_assert_ptr_nonnull (frame);
    zframe_destroy (&frame);
    free (msg);

    //  An empty table reports nothing, and no leader.
    broker_t *empty = broker_new (0);
    broker_cluster (empty, 5, &cluster);
    ck_assert_uint_eq (cluster.term, 0);
    ck_assert_uint_eq (cluster.leader, 0);
    ck_assert_uint_eq (cluster.node_count, 0);
    broker_destroy (&empty);
    broker_destroy (&broker);
}
END_TEST

START_TEST (test_clock_backwards)
{
    //  A caller's clock that steps back must not make ages wrap.
    broker_t *broker = broker_new (0);
    s_heard (broker, 1, RALLY_ROLE_LEADER, 1, 5000);
    rally_msg_cluster_t cluster;
    broker_cluster (broker, 4000, &cluster);
    ck_assert_uint_eq (cluster.nodes[0].age_ms, 0);
    ck_assert_uint_eq (cluster.leader, 1);
    broker_destroy (&broker);
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *s = suite_create ("broker");
    TCase *tc = tcase_create ("table");
    tcase_add_test (tc, test_new_destroy);
    tcase_add_test (tc, test_heard);
    tcase_add_test (tc, test_leader);
    tcase_add_test (tc, test_liveness);
    tcase_add_test (tc, test_custom_liveness);
    tcase_add_test (tc, test_forget);
    tcase_add_test (tc, test_forget_order);
    tcase_add_test (tc, test_forgotten_comes_back_new);
    tcase_add_test (tc, test_highest_term_wins);
    tcase_add_test (tc, test_lowest_id_tie);
    tcase_add_test (tc, test_seventeenth_refused);
    tcase_add_test (tc, test_bad_id);
    tcase_add_test (tc, test_cluster_report);
    tcase_add_test (tc, test_clock_backwards);
    suite_add_tcase (s, tc);
    return s;
}
