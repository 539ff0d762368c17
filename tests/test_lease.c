/*  test_lease - a game node's count of the brokers' grants, with injected
    time. Each test sends heartbeats at chosen milliseconds, feeds back the
    replies brokers would give, and checks when the node may lead.
*/
#include "check_main.h"
#include <string.h>

#include "lease.h"

#define MARGIN 25

static rally_msg_lease_t s_reply (uint64_t term, uint32_t holder,
                                  uint32_t ms, uint64_t nonce)
{
    rally_msg_lease_t reply;
    memset (&reply, 0, sizeof (reply));
    reply.lease_term = term;
    reply.holder = holder;
    reply.ms = ms;
    reply.nonce = nonce;
    return reply;
}

START_TEST (test_counts_from_send)
{
    lease_t *lease = lease_new (1, 1, MARGIN);
    ck_assert_ptr_nonnull (lease);
    uint64_t nonce = lease_sent (lease, 1000);
    //  The grant arrives 40 ms later: it still counts from 1000.
    rally_msg_lease_t reply = s_reply (3, 1, 200, nonce);
    lease_reply (lease, 0, &reply);
    int64_t until = 0;
    ck_assert_uint_eq (lease_held (lease, 1040, &until), 3);
    ck_assert_int_eq (until, 1000 + 200 - MARGIN);
    ck_assert_uint_eq (lease_held (lease, 1000 + 200 - MARGIN - 1, NULL), 3);
    ck_assert_uint_eq (lease_held (lease, 1000 + 200 - MARGIN, NULL), 0);
    ck_assert_uint_eq (lease_max_term (lease), 3);
    lease_destroy (&lease);
    lease_destroy (&lease);
    ck_assert_ptr_null (lease);
}
END_TEST

START_TEST (test_renewal_extends)
{
    lease_t *lease = lease_new (1, 1, MARGIN);
    rally_msg_lease_t reply = s_reply (2, 1, 200, lease_sent (lease, 0));
    lease_reply (lease, 0, &reply);
    reply = s_reply (2, 1, 200, lease_sent (lease, 50));
    lease_reply (lease, 0, &reply);
    int64_t until;
    ck_assert_uint_eq (lease_held (lease, 60, &until), 2);
    ck_assert_int_eq (until, 50 + 200 - MARGIN);
    //  A late answer to the first heartbeat never shortens the grant.
    reply = s_reply (2, 1, 200, 1);
    lease_reply (lease, 0, &reply);
    ck_assert_uint_eq (lease_held (lease, 60, &until), 2);
    ck_assert_int_eq (until, 50 + 200 - MARGIN);
    lease_destroy (&lease);
}
END_TEST

START_TEST (test_other_holder_ends_it)
{
    lease_t *lease = lease_new (1, 1, MARGIN);
    rally_msg_lease_t reply = s_reply (2, 1, 200, lease_sent (lease, 0));
    lease_reply (lease, 0, &reply);
    ck_assert_uint_eq (lease_held (lease, 10, NULL), 2);
    reply = s_reply (3, 2, 0, lease_sent (lease, 20));
    lease_reply (lease, 0, &reply);
    ck_assert_uint_eq (lease_held (lease, 30, NULL), 0);
    ck_assert_uint_eq (lease_max_term (lease), 3);
    lease_destroy (&lease);
}
END_TEST

START_TEST (test_unknown_nonce_ignored)
{
    lease_t *lease = lease_new (1, 1, MARGIN);
    lease_sent (lease, 0);
    //  A nonce never sent, or one too old to remember, grants nothing.
    rally_msg_lease_t reply = s_reply (2, 1, 200, 99);
    lease_reply (lease, 0, &reply);
    ck_assert_uint_eq (lease_held (lease, 1, NULL), 0);
    for (int i = 0; i < LEASE_SENT_MAX + 1; i++)
        lease_sent (lease, i);
    reply = s_reply (2, 1, 200, 1);
    lease_reply (lease, 0, &reply);
    ck_assert_uint_eq (lease_held (lease, 100, NULL), 0);
    //  But its term is still seen.
    ck_assert_uint_eq (lease_max_term (lease), 2);
    lease_destroy (&lease);
}
END_TEST

START_TEST (test_majority)
{
    lease_t *lease = lease_new (1, 3, MARGIN);
    ck_assert_uint_eq (lease_majority (lease), 2);
    uint64_t a = lease_sent (lease, 0);
    uint64_t b = lease_sent (lease, 30);
    rally_msg_lease_t reply = s_reply (5, 1, 200, a);
    lease_reply (lease, 0, &reply);
    ck_assert_uint_eq (lease_held (lease, 40, NULL), 0);
    reply = s_reply (5, 1, 200, b);
    lease_reply (lease, 2, &reply);
    int64_t until;
    //  Two of three: it leads until the earlier of the two ends.
    ck_assert_uint_eq (lease_held (lease, 40, &until), 5);
    ck_assert_int_eq (until, 0 + 200 - MARGIN);
    //  A third grant of the same term: the second-latest end counts.
    reply = s_reply (5, 1, 200, b);
    lease_reply (lease, 1, &reply);
    ck_assert_uint_eq (lease_held (lease, 40, &until), 5);
    ck_assert_int_eq (until, 30 + 200 - MARGIN);
    lease_destroy (&lease);
}
END_TEST

START_TEST (test_split_terms_lead_nothing)
{
    lease_t *lease = lease_new (1, 3, MARGIN);
    uint64_t n = lease_sent (lease, 0);
    rally_msg_lease_t reply = s_reply (5, 1, 200, n);
    lease_reply (lease, 0, &reply);
    reply = s_reply (6, 1, 200, n);
    lease_reply (lease, 1, &reply);
    ck_assert_uint_eq (lease_held (lease, 10, NULL), 0);
    ck_assert_uint_eq (lease_max_term (lease), 6);
    lease_destroy (&lease);
}
END_TEST

START_TEST (test_campaign_term_fixed)
{
    //  A campaign asks for one above any term seen when it began, and keeps
    //  asking for it, whatever it sees meanwhile (its own grant's term
    //  coming back from a broker most of all), until its back-off is over.
    lease_t *lease = lease_new (1, 3, MARGIN);
    lease_see_term (lease, 4);
    ck_assert_uint_eq (lease_campaign (lease, 1000, 300), 5);
    lease_see_term (lease, 5);
    lease_see_term (lease, 6);
    ck_assert_uint_eq (lease_campaign (lease, 1299, 300), 5);
    ck_assert_uint_eq (lease_campaign (lease, 1300, 250), 7);
    ck_assert_uint_eq (lease_campaign (lease, 1549, 250), 7);
    //  Over (it followed, or led): the next begins afresh.
    lease_campaign_end (lease);
    ck_assert_uint_eq (lease_campaign (lease, 1400, 250), 7);
    lease_see_term (lease, 9);
    lease_campaign_end (lease);
    ck_assert_uint_eq (lease_campaign (lease, 1401, 250), 10);
    lease_destroy (&lease);
}
END_TEST

START_TEST (test_reachable)
{
    lease_t *lease = lease_new (1, 3, MARGIN);
    ck_assert_uint_eq (lease_reachable (lease, 0, 400), 0);
    lease_heard (lease, 0, 100);
    lease_heard (lease, 2, 300);
    ck_assert_uint_eq (lease_reachable (lease, 400, 400), 2);
    ck_assert_uint_eq (lease_reachable (lease, 500, 400), 1);
    ck_assert_uint_eq (lease_reachable (lease, 700, 400), 0);
    ck_assert_uint_eq (lease_majority (lease), 2);
    lease_destroy (&lease);
}
END_TEST

START_TEST (test_bad_counts)
{
    ck_assert_ptr_null (lease_new (1, 0, 0));
    ck_assert_ptr_null (lease_new (1, LEASE_BROKERS_MAX + 1, 0));
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *s = suite_create ("lease");
    TCase *tc = tcase_create ("grants");
    tcase_add_test (tc, test_counts_from_send);
    tcase_add_test (tc, test_renewal_extends);
    tcase_add_test (tc, test_other_holder_ends_it);
    tcase_add_test (tc, test_unknown_nonce_ignored);
    tcase_add_test (tc, test_majority);
    tcase_add_test (tc, test_split_terms_lead_nothing);
    tcase_add_test (tc, test_bad_counts);
    tcase_add_test (tc, test_campaign_term_fixed);
    tcase_add_test (tc, test_reachable);
    suite_add_tcase (s, tc);
    return s;
}
