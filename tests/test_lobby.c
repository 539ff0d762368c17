/*  test_lobby - the game node's lobby, with injected time and tokens.

    Every test builds a lobby, drives it with joins, inputs and ticks at
    chosen milliseconds, and reads what it did from its events and queries.
    Nothing here sleeps: time is a number the test moves.
*/
#include "check_main.h"
#include <string.h>

#include "lobby.h"

#define TICK_MS 16      //  about 60 Hz; the lobby does not care exactly

//  A token whose bytes are all n, and a peer address of one byte, n.
static const uint8_t *s_tok (int n)
{
    static uint8_t tokens[64][RALLY_TOKEN_SIZE];
    memset (tokens[n], n, RALLY_TOKEN_SIZE);
    return tokens[n];
}

static const uint8_t *s_peer (int n)
{
    static uint8_t peers[64];
    peers[n] = (uint8_t) n;
    return &peers[n];
}

static lobby_t *s_lobby (uint32_t grace_ms, uint32_t max_players)
{
    lobby_config_t cfg;
    lobby_config_defaults (&cfg);
    cfg.grace_ms = grace_ms;
    cfg.max_players = max_players;
    cfg.points_to_win = 1;
    lobby_t *lobby = lobby_new (&cfg);
    ck_assert_ptr_nonnull (lobby);
    return lobby;
}

static lobby_result_t s_join (lobby_t *lobby, const char *name, int n,
                              int64_t now)
{
    return lobby_join (lobby, name, s_tok (n), s_peer (n), 1, now, NULL, 0);
}

//  Pops every pending event; returns how many, up to max, in events.
static size_t s_events (lobby_t *lobby, lobby_event_t *events, size_t max)
{
    size_t count = 0;
    lobby_event_t ev;
    while (lobby_next_event (lobby, &ev))
        if (count < max)
            events[count++] = ev;
    return count;
}

static void s_flush (lobby_t *lobby)
{
    lobby_event_t ev;
    while (lobby_next_event (lobby, &ev))
        ;
}

//  The first pending event of this type (popping everything before it).
static bool s_find (lobby_t *lobby, lobby_event_type_t type,
                    lobby_event_t *found)
{
    lobby_event_t ev;
    while (lobby_next_event (lobby, &ev))
        if (ev.type == type) {
            *found = ev;
            return true;
        }
    return false;
}

//  The first pending event of this type for player n (popping the rest).
static bool s_find_for (lobby_t *lobby, lobby_event_type_t type, int n,
                        lobby_event_t *found)
{
    lobby_event_t ev;
    while (lobby_next_event (lobby, &ev))
        if (ev.type == type && memcmp (ev.token, s_tok (n), RALLY_TOKEN_SIZE) == 0) {
            *found = ev;
            return true;
        }
    return false;
}

static lobby_player_info_t s_info (lobby_t *lobby, int n)
{
    lobby_player_info_t info;
    ck_assert_int_eq (lobby_player_info (lobby, s_tok (n), &info), 0);
    return info;
}

static lobby_match_view_t s_match (lobby_t *lobby, uint32_t id)
{
    lobby_match_view_t view;
    ck_assert_int_eq (lobby_match_find (lobby, id, &view), 0);
    return view;
}

//  Ticks from *now up to until, hearing the players listed (ends at -1).
static void s_run (lobby_t *lobby, int64_t *now, int64_t until,
                   const int *heard)
{
    while (*now + TICK_MS <= until) {
        *now += TICK_MS;
        for (const int *h = heard; h && *h >= 0; h++)
            lobby_heard (lobby, s_tok (*h), *now);
        lobby_tick (lobby, *now);
    }
}

//  Ticks until match id is over, both players heard throughout.
static void s_play_out (lobby_t *lobby, int64_t *now, uint32_t id, int a,
                        int b)
{
    //  Both paddles go to the top, so that the ball gets past one.
    lobby_input (lobby, s_tok (a), -1, *now);
    lobby_input (lobby, s_tok (b), -1, *now);
    const int heard[] = {a, b, -1};
    for (int i = 0; i < 100000; i++) {
        if (s_match (lobby, id).game->phase == PONG_OVER)
            return;
        s_run (lobby, now, *now + TICK_MS, heard);
    }
    ck_abort_msg ("match %u never ended", id);
}

START_TEST (test_pairing_order)
{
    lobby_t *lobby = s_lobby (10000, 16);
    lobby_event_t ev[16];
    ck_assert_int_eq (s_join (lobby, "ann", 1, 0), LOBBY_OK);
    size_t n = s_events (lobby, ev, 16);
    ck_assert_uint_eq (n, 1);
    ck_assert_int_eq (ev[0].type, LOBBY_EVENT_QUEUED);
    ck_assert_uint_eq (ev[0].position, 1);
    ck_assert_mem_eq (ev[0].token, s_tok (1), RALLY_TOKEN_SIZE);
    ck_assert_uint_eq (ev[0].peer_size, 1);
    ck_assert_uint_eq (ev[0].peer[0], 1);

    ck_assert_int_eq (s_join (lobby, "bob", 2, 5), LOBBY_OK);
    n = s_events (lobby, ev, 16);
    ck_assert_uint_eq (n, 4);
    ck_assert_int_eq (ev[0].type, LOBBY_EVENT_QUEUED);
    ck_assert_uint_eq (ev[0].position, 2);
    ck_assert_int_eq (ev[1].type, LOBBY_EVENT_PAIRED);
    ck_assert_str_eq (ev[1].names[0], "ann");
    ck_assert_str_eq (ev[1].names[1], "bob");
    ck_assert_int_eq (ev[2].type, LOBBY_EVENT_MATCH);
    ck_assert_mem_eq (ev[2].token, s_tok (1), RALLY_TOKEN_SIZE);
    ck_assert_int_eq (ev[2].side, RALLY_SIDE_LEFT);
    ck_assert_int_eq (ev[3].type, LOBBY_EVENT_MATCH);
    ck_assert_mem_eq (ev[3].token, s_tok (2), RALLY_TOKEN_SIZE);
    ck_assert_int_eq (ev[3].side, RALLY_SIDE_RIGHT);
    ck_assert_uint_eq (ev[2].match, ev[3].match);
    ck_assert_str_eq (ev[3].names[0], "ann");
    ck_assert_str_eq (ev[3].names[1], "bob");

    lobby_player_info_t a = s_info (lobby, 1);
    ck_assert_int_eq (a.state, LOBBY_PLAYING);
    ck_assert_int_eq (a.side, 0);
    ck_assert_uint_eq (a.position, 0);
    ck_assert_uint_eq (lobby_waiting (lobby), 0);
    ck_assert_uint_eq (lobby_live_matches (lobby), 1);

    //  The third waits alone, first in line.
    ck_assert_int_eq (s_join (lobby, "cy", 3, 10), LOBBY_OK);
    ck_assert_uint_eq (s_info (lobby, 3).position, 1);
    ck_assert_int_eq (s_info (lobby, 3).state, LOBBY_QUEUED);
    ck_assert_int_eq (s_join (lobby, "dee", 4, 12), LOBBY_OK);
    ck_assert_int_eq (s_info (lobby, 3).side, 0);
    ck_assert_int_eq (s_info (lobby, 4).side, 1);
    ck_assert_uint_eq (s_info (lobby, 3).match, a.match + 1);
    lobby_destroy (&lobby);
    ck_assert_ptr_null (lobby);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_positions)
{
    lobby_t *lobby = s_lobby (10000, 16);
    int64_t now = 0;
    ck_assert_int_eq (s_join (lobby, "ann", 1, now), LOBBY_OK);
    s_run (lobby, &now, 1100, NULL);        //  ann goes quiet: lost
    ck_assert (s_info (lobby, 1).lost);
    s_flush (lobby);

    //  A lost player is not paired; the next one waits behind it.
    ck_assert_int_eq (s_join (lobby, "bob", 2, now), LOBBY_OK);
    ck_assert_uint_eq (s_info (lobby, 2).position, 2);
    ck_assert_uint_eq (lobby_waiting (lobby), 2);
    lobby_event_t ev;
    ck_assert (s_find_for (lobby, LOBBY_EVENT_QUEUED, 2, &ev));
    ck_assert_uint_eq (ev.position, 2);

    //  Hearing bob, nothing is said until a second has passed.
    int64_t told = now;
    const int bob[] = {2, -1};
    s_run (lobby, &now, told + 999, bob);
    ck_assert (!s_find_for (lobby, LOBBY_EVENT_QUEUED, 2, &ev));
    s_run (lobby, &now, told + 1000 + TICK_MS, bob);
    ck_assert (s_find_for (lobby, LOBBY_EVENT_QUEUED, 2, &ev));
    ck_assert_uint_eq (ev.position, 2);
    ck_assert_uint_eq (ev.peer[0], 2);

    //  ann leaves: bob moves up and is told at once.
    ck_assert_int_eq (lobby_leave (lobby, s_tok (1), now), LOBBY_OK);
    ck_assert (s_find_for (lobby, LOBBY_EVENT_QUEUED, 2, &ev));
    ck_assert_uint_eq (ev.position, 1);
    ck_assert_uint_eq (s_info (lobby, 2).position, 1);

    //  The next to come is paired with him, bob on the left.
    ck_assert_int_eq (s_join (lobby, "cy", 3, now), LOBBY_OK);
    ck_assert_int_eq (s_info (lobby, 2).state, LOBBY_PLAYING);
    ck_assert_int_eq (s_info (lobby, 2).side, 0);
    ck_assert_int_eq (s_info (lobby, 3).side, 1);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_back_pairs)
{
    lobby_t *lobby = s_lobby (10000, 16);
    int64_t now = 0;
    ck_assert_int_eq (s_join (lobby, "ann", 1, now), LOBBY_OK);
    s_run (lobby, &now, 1100, NULL);
    ck_assert_int_eq (s_join (lobby, "bob", 2, now), LOBBY_OK);
    ck_assert_int_eq (s_info (lobby, 2).state, LOBBY_QUEUED);
    s_flush (lobby);
    //  ann is heard again: ann (first) and bob are paired, in that order.
    ck_assert (lobby_heard_peer (lobby, s_peer (1), 1, now));
    lobby_event_t ev;
    ck_assert (s_find (lobby, LOBBY_EVENT_BACK, &ev));
    ck_assert_str_eq (ev.name, "ann");
    ck_assert (s_find (lobby, LOBBY_EVENT_PAIRED, &ev));
    ck_assert_str_eq (ev.names[0], "ann");
    ck_assert_str_eq (ev.names[1], "bob");
    ck_assert (!lobby_heard_peer (lobby, s_peer (9), 1, now));
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_names)
{
    lobby_t *lobby = s_lobby (10000, 16);
    char reason[RALLY_REASON_BUF];
    const char *bad[] = {"", " ann", "ann ", "a\x01b",
                         "abcdefghijklmnopq", "\xff\xfe"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        reason[0] = 0;
        ck_assert_int_eq (lobby_join (lobby, bad[i], s_tok (1), s_peer (1), 1,
                                      0, reason, sizeof (reason)),
                          LOBBY_BAD_NAME);
        ck_assert_msg (reason[0], "no reason for bad name %zu", i);
    }
    ck_assert_uint_eq (lobby_players (lobby), 0);
    ck_assert_int_eq (s_join (lobby, "ann", 1, 0), LOBBY_OK);
    ck_assert_int_eq (lobby_join (lobby, "ann", s_tok (2), s_peer (2), 1, 0,
                                  reason, sizeof (reason)),
                      LOBBY_NAME_TAKEN);
    ck_assert_str_eq (lobby_result_code (LOBBY_NAME_TAKEN), "name_taken");
    ck_assert_str_eq (lobby_result_code (LOBBY_BAD_NAME), "bad_name");
    //  Leaving frees the name (and the old token is forgotten).
    ck_assert_int_eq (lobby_leave (lobby, s_tok (1), 0), LOBBY_OK);
    ck_assert_int_eq (lobby_player_info (lobby, s_tok (1), &(lobby_player_info_t){0}),
                      -1);
    ck_assert_int_eq (lobby_leave (lobby, s_tok (1), 0), LOBBY_UNKNOWN_TOKEN);
    ck_assert_int_eq (s_join (lobby, "ann", 2, 0), LOBBY_OK);
    ck_assert_str_eq (s_info (lobby, 2).name, "ann");
    //  UTF-8 names are fine.
    ck_assert_int_eq (s_join (lobby, "Zoë", 3, 0), LOBBY_OK);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_max_players)
{
    lobby_t *lobby = s_lobby (10000, 3);
    ck_assert_int_eq (s_join (lobby, "p1", 1, 0), LOBBY_OK);
    ck_assert_int_eq (s_join (lobby, "p2", 2, 0), LOBBY_OK);
    ck_assert_int_eq (s_join (lobby, "p3", 3, 0), LOBBY_OK);
    ck_assert_int_eq (s_join (lobby, "p4", 4, 0), LOBBY_FULL);
    ck_assert_str_eq (lobby_result_code (LOBBY_FULL), "full");
    ck_assert_uint_eq (lobby_players (lobby), 3);
    ck_assert_int_eq (lobby_leave (lobby, s_tok (3), 0), LOBBY_OK);
    ck_assert_int_eq (s_join (lobby, "p4", 4, 0), LOBBY_OK);
    //  A token already held is never issued twice: the joiner retries.
    ck_assert_int_eq (lobby_leave (lobby, s_tok (4), 0), LOBBY_OK);
    ck_assert_int_eq (lobby_join (lobby, "p5", s_tok (1), s_peer (5), 1, 0,
                                  NULL, 0), LOBBY_UNAVAILABLE);
    ck_assert_str_eq (lobby_result_code (LOBBY_UNAVAILABLE), "unavailable");
    //  One connection holds one player, or one socket could take every
    //  seat; once its player leaves, it may join again.
    ck_assert_int_eq (lobby_join (lobby, "p6", s_tok (6), s_peer (1), 1, 0,
                                  NULL, 0), LOBBY_ALREADY_JOINED);
    ck_assert_int_eq (lobby_leave (lobby, s_tok (1), 0), LOBBY_OK);
    ck_assert_int_eq (lobby_join (lobby, "p6", s_tok (6), s_peer (1), 1, 0,
                                  NULL, 0), LOBBY_OK);
    ck_assert_uint_eq (lobby_players (lobby), 2);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_token_isolation)
{
    lobby_t *lobby = s_lobby (10000, 16);
    int64_t now = 0;
    s_join (lobby, "ann", 1, now);
    s_join (lobby, "bob", 2, now);
    s_join (lobby, "cy", 3, now);       //  queued, not playing
    uint32_t id = s_info (lobby, 1).match;

    ck_assert_int_eq (lobby_input (lobby, s_tok (1), 1, now), LOBBY_OK);
    lobby_match_view_t m = s_match (lobby, id);
    ck_assert_int_eq (m.game->intent[0], 1);
    ck_assert_int_eq (m.game->intent[1], 0);
    ck_assert_int_eq (lobby_input (lobby, s_tok (2), -1, now), LOBBY_OK);
    m = s_match (lobby, id);
    ck_assert_int_eq (m.game->intent[0], 1);
    ck_assert_int_eq (m.game->intent[1], -1);

    //  Strangers and the queued change nothing.
    ck_assert_int_eq (lobby_input (lobby, s_tok (9), 1, now),
                      LOBBY_UNKNOWN_TOKEN);
    ck_assert_int_eq (lobby_input (lobby, s_tok (3), 1, now),
                      LOBBY_NOT_PLAYING);
    ck_assert_int_eq (lobby_input (lobby, s_tok (1), 5, now),
                      LOBBY_BAD_INTENT);
    m = s_match (lobby, id);
    ck_assert_int_eq (m.game->intent[0], 1);
    ck_assert_int_eq (m.game->intent[1], -1);

    //  Only ann moves: bob's paddle stays where it was.
    ck_assert_int_eq (lobby_input (lobby, s_tok (2), 0, now), LOBBY_OK);
    int32_t left = m.game->paddle_y[0], right = m.game->paddle_y[1];
    const int both[] = {1, 2, -1};
    s_run (lobby, &now, 30 * TICK_MS, both);
    m = s_match (lobby, id);
    ck_assert_int_gt (m.game->paddle_y[0], left);
    ck_assert_int_eq (m.game->paddle_y[1], right);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_rate_limit)
{
    lobby_t *lobby = s_lobby (10000, 16);
    s_join (lobby, "ann", 1, 0);
    s_join (lobby, "bob", 2, 0);
    for (int i = 0; i < LOBBY_INPUT_RATE; i++)
        ck_assert_int_eq (lobby_input (lobby, s_tok (1), i & 1, 100 + i),
                          LOBBY_OK);
    ck_assert_int_eq (lobby_input (lobby, s_tok (1), -1, 200),
                      LOBBY_RATE_LIMITED);
    ck_assert_str_eq (lobby_result_code (LOBBY_RATE_LIMITED), "rate_limited");
    //  Dropped: the intent is still the last accepted one.
    uint32_t id = s_info (lobby, 1).match;
    ck_assert_int_eq (s_match (lobby, id).game->intent[0], 1);
    //  Told once a second at most.
    ck_assert_int_eq (lobby_input (lobby, s_tok (1), -1, 300),
                      LOBBY_RATE_LIMITED_QUIET);
    //  bob has his own allowance.
    ck_assert_int_eq (lobby_input (lobby, s_tok (2), -1, 300), LOBBY_OK);
    //  A new second, a new allowance.
    ck_assert_int_eq (lobby_input (lobby, s_tok (1), -1, 1100), LOBBY_OK);
    ck_assert_int_eq (s_match (lobby, id).game->intent[0], -1);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_lost_and_back)
{
    lobby_t *lobby = s_lobby (10000, 16);
    int64_t now = 0;
    s_join (lobby, "ann", 1, now);
    s_join (lobby, "bob", 2, now);
    uint32_t id = s_info (lobby, 1).match;
    s_flush (lobby);

    //  bob goes quiet: after a second he is lost and the match pauses.
    const int ann[] = {1, -1};
    s_run (lobby, &now, 900, ann);
    ck_assert (!s_info (lobby, 2).lost);
    ck_assert_uint_ne (s_match (lobby, id).game->phase, PONG_PAUSED);
    s_run (lobby, &now, 1100, ann);
    ck_assert (s_info (lobby, 2).lost);
    ck_assert (!s_info (lobby, 1).lost);
    lobby_match_view_t m = s_match (lobby, id);
    ck_assert_uint_eq (m.game->phase, PONG_PAUSED);
    ck_assert_uint_eq (m.lost, 2);
    lobby_event_t ev;
    ck_assert (s_find (lobby, LOBBY_EVENT_LOST, &ev));
    ck_assert_str_eq (ev.name, "bob");
    ck_assert_uint_eq (ev.match, id);

    //  While paused, the match does not move.
    uint32_t tick = m.game->tick;
    int32_t ball = m.game->ball_x;
    s_run (lobby, &now, 3000, ann);
    m = s_match (lobby, id);
    ck_assert_uint_eq (m.game->phase, PONG_PAUSED);
    ck_assert_int_eq (m.game->ball_x, ball);

    //  Back: resumed, and the match goes on from where it was.
    ck_assert (lobby_heard (lobby, s_tok (2), now));
    ck_assert (s_find (lobby, LOBBY_EVENT_BACK, &ev));
    ck_assert_str_eq (ev.name, "bob");
    m = s_match (lobby, id);
    ck_assert_uint_ne (m.game->phase, PONG_PAUSED);
    ck_assert_uint_eq (m.lost, 0);
    const int both[] = {1, 2, -1};
    s_run (lobby, &now, now + 10 * TICK_MS, both);
    ck_assert_uint_gt (s_match (lobby, id).game->tick, tick);
    ck_assert_uint_eq (lobby_live_matches (lobby), 1);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_grace_forfeit)
{
    lobby_t *lobby = s_lobby (2000, 16);
    int64_t now = 0;
    s_join (lobby, "ann", 1, now);
    s_join (lobby, "bob", 2, now);
    uint32_t id = s_info (lobby, 1).match;
    s_flush (lobby);
    //  ann (left) goes quiet; lost at about 1 s; forfeits 2 s later.
    const int bob[] = {2, -1};
    ck_assert_uint_eq (lobby_grace_left (lobby, id, now), 0);
    s_run (lobby, &now, 2900, bob);
    ck_assert_uint_eq (s_match (lobby, id).game->phase, PONG_PAUSED);
    //  What players are shown counts down to the forfeit.
    uint32_t left = lobby_grace_left (lobby, id, now);
    ck_assert (left > 0 && left <= 1100);
    s_run (lobby, &now, 3100, bob);
    ck_assert_uint_eq (lobby_grace_left (lobby, id, now), 0);
    lobby_match_view_t m = s_match (lobby, id);
    ck_assert_uint_eq (m.game->phase, PONG_OVER);
    ck_assert_int_eq (m.game->winner, RALLY_SIDE_RIGHT);
    lobby_event_t ev;
    ck_assert (s_find (lobby, LOBBY_EVENT_OVER, &ev));
    ck_assert (ev.forfeit);
    ck_assert_int_eq (ev.winner, RALLY_SIDE_RIGHT);
    ck_assert_uint_eq (ev.match, id);
    ck_assert_uint_eq (lobby_live_matches (lobby), 0);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_both_lost)
{
    lobby_t *lobby = s_lobby (2000, 16);
    int64_t now = 0;
    s_join (lobby, "ann", 1, now);
    s_join (lobby, "bob", 2, now);
    uint32_t id = s_info (lobby, 1).match;
    //  bob is heard for half a second more than ann: ann is lost first and
    //  forfeits, though both are gone when the grace runs out.
    s_run (lobby, &now, 500, NULL);
    lobby_heard (lobby, s_tok (2), now);
    s_run (lobby, &now, 5000, NULL);
    lobby_match_view_t m = s_match (lobby, id);
    ck_assert_uint_eq (m.game->phase, PONG_OVER);
    ck_assert_int_eq (m.game->winner, RALLY_SIDE_RIGHT);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_queued_dropped)
{
    lobby_t *lobby = s_lobby (2000, 16);
    int64_t now = 0;
    s_join (lobby, "ann", 1, now);
    s_run (lobby, &now, 2900, NULL);
    ck_assert (s_info (lobby, 1).lost);
    ck_assert_int_eq (s_info (lobby, 1).state, LOBBY_QUEUED);
    s_flush (lobby);
    s_run (lobby, &now, 3100, NULL);
    lobby_event_t ev;
    ck_assert (s_find (lobby, LOBBY_EVENT_DROPPED, &ev));
    ck_assert_str_eq (ev.name, "ann");
    lobby_player_info_t info;
    ck_assert_int_eq (lobby_player_info (lobby, s_tok (1), &info), -1);
    ck_assert_uint_eq (lobby_waiting (lobby), 0);
    ck_assert_uint_eq (lobby_players (lobby), 0);
    ck_assert_int_eq (lobby_resume (lobby, s_tok (1), s_peer (1), 1, now),
                      LOBBY_UNKNOWN_TOKEN);
    ck_assert_int_eq (s_join (lobby, "ann", 2, now), LOBBY_OK);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_requeue)
{
    lobby_t *lobby = s_lobby (10000, 16);
    int64_t now = 0;
    s_join (lobby, "ann", 1, now);
    s_join (lobby, "bob", 2, now);
    uint32_t id = s_info (lobby, 1).match;
    ck_assert_int_eq (lobby_requeue (lobby, s_tok (1), now), LOBBY_IN_MATCH);
    ck_assert_str_eq (lobby_result_code (LOBBY_IN_MATCH), "in_match");
    ck_assert_int_eq (lobby_requeue (lobby, s_tok (9), now),
                      LOBBY_UNKNOWN_TOKEN);

    s_play_out (lobby, &now, id, 1, 2);
    lobby_event_t ev;
    ck_assert (s_find (lobby, LOBBY_EVENT_OVER, &ev));
    ck_assert (!ev.forfeit);
    ck_assert_int_ge (ev.winner, 0);
    ck_assert_uint_eq (ev.score[ev.winner], 1);
    //  An input that crossed the end on the wire is dropped without an
    //  error (the player did nothing wrong) and changes nothing.
    lobby_match_view_t view;
    ck_assert_int_eq (lobby_match_find (lobby, id, &view), 0);
    pong_match_t before = *view.game;
    ck_assert_int_eq (lobby_input (lobby, s_tok (1), 1, now), LOBBY_OK);
    ck_assert_int_eq (lobby_match_find (lobby, id, &view), 0);
    ck_assert_int_eq (memcmp (&before, view.game, sizeof (before)), 0);

    //  Both queue again while the old match lingers: a new match, same
    //  order of arrival (bob first this time, so bob is left).
    ck_assert_int_eq (lobby_requeue (lobby, s_tok (2), now), LOBBY_OK);
    ck_assert_int_eq (s_info (lobby, 2).state, LOBBY_QUEUED);
    s_flush (lobby);
    ck_assert_int_eq (lobby_requeue (lobby, s_tok (2), now), LOBBY_OK);
    ck_assert (s_find (lobby, LOBBY_EVENT_QUEUED, &ev));
    ck_assert_uint_eq (ev.position, 1);
    ck_assert_int_eq (lobby_requeue (lobby, s_tok (1), now), LOBBY_OK);
    lobby_player_info_t a = s_info (lobby, 1), b = s_info (lobby, 2);
    ck_assert_int_eq (a.state, LOBBY_PLAYING);
    ck_assert_uint_eq (a.match, id + 1);
    ck_assert_uint_eq (b.match, id + 1);
    ck_assert_int_eq (b.side, 0);
    ck_assert_int_eq (a.side, 1);
    ck_assert_uint_eq (lobby_match_count (lobby), 2);
    //  The old match keeps its names while it lingers.
    ck_assert_str_eq (s_match (lobby, id).names[0], "ann");

    //  When the old match is dropped, the new one is untouched.
    const int both[] = {1, 2, -1};
    s_run (lobby, &now, now + LOBBY_LINGER_MS + 100, both);
    lobby_match_view_t gone;
    ck_assert_int_eq (lobby_match_find (lobby, id, &gone), -1);
    ck_assert_int_eq (s_info (lobby, 1).state, LOBBY_PLAYING);
    ck_assert_uint_eq (s_info (lobby, 1).match, id + 1);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_requeue_after_gone)
{
    lobby_t *lobby = s_lobby (10000, 16);
    int64_t now = 0;
    s_join (lobby, "ann", 1, now);
    s_join (lobby, "bob", 2, now);
    uint32_t id = s_info (lobby, 1).match;
    s_play_out (lobby, &now, id, 1, 2);
    const int both[] = {1, 2, -1};
    s_run (lobby, &now, now + LOBBY_LINGER_MS + 100, both);
    ck_assert_int_eq (s_info (lobby, 1).state, LOBBY_ENDED);
    ck_assert_int_eq (s_info (lobby, 2).state, LOBBY_ENDED);
    ck_assert_uint_eq (s_info (lobby, 1).match, 0);
    //  Resuming an ended player tells it nothing more than joined.
    s_flush (lobby);
    ck_assert_int_eq (lobby_resume (lobby, s_tok (1), s_peer (7), 1, now),
                      LOBBY_OK);
    lobby_event_t ev;
    ck_assert (!lobby_next_event (lobby, &ev));
    ck_assert_int_eq (lobby_requeue (lobby, s_tok (1), now), LOBBY_OK);
    ck_assert_int_eq (lobby_requeue (lobby, s_tok (2), now), LOBBY_OK);
    ck_assert_int_eq (s_info (lobby, 1).state, LOBBY_PLAYING);
    ck_assert_int_eq (s_info (lobby, 1).side, 0);
    ck_assert (s_find (lobby, LOBBY_EVENT_MATCH, &ev));
    ck_assert_uint_eq (ev.peer_size, 1);
    ck_assert_uint_eq (ev.peer[0], 7);     //  the peer it resumed from
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_leave_mid_match)
{
    lobby_t *lobby = s_lobby (10000, 16);
    int64_t now = 0;
    s_join (lobby, "ann", 1, now);
    s_join (lobby, "bob", 2, now);
    uint32_t id = s_info (lobby, 1).match;
    s_flush (lobby);
    ck_assert_int_eq (lobby_leave (lobby, s_tok (2), now), LOBBY_OK);
    lobby_match_view_t m = s_match (lobby, id);
    ck_assert_uint_eq (m.game->phase, PONG_OVER);
    ck_assert_int_eq (m.game->winner, RALLY_SIDE_LEFT);
    ck_assert_str_eq (m.names[1], "bob");
    lobby_event_t ev;
    ck_assert (s_find (lobby, LOBBY_EVENT_OVER, &ev));
    ck_assert (ev.forfeit);
    ck_assert_int_eq (ev.winner, RALLY_SIDE_LEFT);
    lobby_player_info_t info;
    ck_assert_int_eq (lobby_player_info (lobby, s_tok (2), &info), -1);
    ck_assert_int_eq (s_join (lobby, "bob", 3, now), LOBBY_OK);
    ck_assert_int_eq (s_info (lobby, 3).state, LOBBY_QUEUED);
    //  Resume in a match just over: told the match again.
    s_flush (lobby);
    ck_assert_int_eq (lobby_resume (lobby, s_tok (1), s_peer (1), 1, now),
                      LOBBY_OK);
    ck_assert (s_find (lobby, LOBBY_EVENT_MATCH, &ev));
    ck_assert_uint_eq (ev.match, id);
    ck_assert_int_eq (ev.side, 0);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_finished_dropped)
{
    lobby_t *lobby = s_lobby (10000, 16);
    int64_t now = 0;
    s_join (lobby, "ann", 1, now);
    s_join (lobby, "bob", 2, now);
    uint32_t id = s_info (lobby, 1).match;
    ck_assert_int_eq (lobby_leave (lobby, s_tok (2), now), LOBBY_OK);
    int64_t ended = now;
    const int ann[] = {1, -1};
    s_run (lobby, &now, ended + LOBBY_LINGER_MS - 1, ann);
    ck_assert_uint_eq (lobby_match_count (lobby), 1);
    ck_assert_int_eq (s_info (lobby, 1).state, LOBBY_PLAYING);
    s_flush (lobby);
    s_run (lobby, &now, ended + LOBBY_LINGER_MS + TICK_MS, ann);
    ck_assert_uint_eq (lobby_match_count (lobby), 0);
    lobby_event_t ev;
    ck_assert (s_find (lobby, LOBBY_EVENT_GONE, &ev));
    ck_assert_uint_eq (ev.match, id);
    ck_assert_int_eq (s_info (lobby, 1).state, LOBBY_ENDED);
    ck_assert_int_eq (s_info (lobby, 1).side, -1);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_two_matches)
{
    lobby_t *lobby = s_lobby (10000, 16);
    int64_t now = 0;
    s_join (lobby, "ann", 1, now);
    s_join (lobby, "bob", 2, now);
    s_join (lobby, "cy", 3, now);
    s_join (lobby, "dee", 4, now);
    uint32_t one = s_info (lobby, 1).match, two = s_info (lobby, 3).match;
    ck_assert_uint_ne (one, two);
    ck_assert_uint_eq (lobby_match_count (lobby), 2);

    ck_assert_int_eq (lobby_input (lobby, s_tok (3), -1, now), LOBBY_OK);
    ck_assert_int_eq (s_match (lobby, one).game->intent[0], 0);
    ck_assert_int_eq (s_match (lobby, two).game->intent[0], -1);

    //  dee goes quiet: match two pauses, match one plays on.
    const int three[] = {1, 2, 3, -1};
    s_run (lobby, &now, 1200, three);
    lobby_match_view_t a = s_match (lobby, one), b = s_match (lobby, two);
    ck_assert_uint_ne (a.game->phase, PONG_PAUSED);
    ck_assert_uint_eq (b.game->phase, PONG_PAUSED);
    ck_assert_uint_eq (b.lost, 2);
    uint32_t tick_a = a.game->tick, tick_b = b.game->tick;
    int32_t ball_b = b.game->ball_x;
    s_run (lobby, &now, 2000, three);
    ck_assert_uint_gt (s_match (lobby, one).game->tick, tick_a);
    ck_assert_int_eq (s_match (lobby, two).game->ball_x, ball_b);
    ck_assert_uint_eq (s_match (lobby, two).game->phase, PONG_PAUSED);
    (void) tick_b;

    //  Views are in the order the matches began.
    lobby_match_view_t v;
    ck_assert_int_eq (lobby_match_at (lobby, 0, &v), 0);
    ck_assert_uint_eq (v.id, one);
    ck_assert_int_eq (lobby_match_at (lobby, 1, &v), 0);
    ck_assert_uint_eq (v.id, two);
    ck_assert_int_eq (lobby_match_at (lobby, 2, &v), -1);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_per_source_limit)
{
    lobby_config_t cfg;
    lobby_config_defaults (&cfg);
    cfg.max_per_source = 2;
    cfg.grace_ms = 500;
    lobby_t *lobby = lobby_new (&cfg);
    int64_t now = 0;
    const char *a = "10.0.0.1", *b = "10.0.0.2";
    ck_assert_int_eq (lobby_join_from (lobby, "ann", s_tok (1), s_peer (1), 1,
                                       a, now, NULL, 0), LOBBY_OK);
    ck_assert_int_eq (lobby_join_from (lobby, "bob", s_tok (2), s_peer (2), 1,
                                       a, now, NULL, 0), LOBBY_OK);
    char reason[RALLY_REASON_BUF];
    ck_assert_int_eq (lobby_join_from (lobby, "cy", s_tok (3), s_peer (3), 1,
                                       a, now, reason, sizeof (reason)),
                      LOBBY_BUSY);
    ck_assert_str_eq (lobby_result_code (LOBBY_BUSY), "busy");
    ck_assert_ptr_nonnull (strstr (reason, "as many players as one may"));
    ck_assert_uint_eq (lobby_players (lobby), 2);
    //  Another source, or none, is not held back.
    ck_assert_int_eq (lobby_join_from (lobby, "cy", s_tok (3), s_peer (3), 1,
                                       b, now, NULL, 0), LOBBY_OK);
    ck_assert_int_eq (s_join (lobby, "dee", 4, now), LOBBY_OK);
    ck_assert_uint_eq (lobby_source_players (lobby, a), 2);
    ck_assert_uint_eq (lobby_source_players (lobby, b), 1);
    //  A player that leaves gives its place back; one that resumes from
    //  elsewhere counts there.
    ck_assert_int_eq (lobby_leave (lobby, s_tok (1), now), LOBBY_OK);
    ck_assert_uint_eq (lobby_source_players (lobby, a), 1);
    ck_assert_int_eq (lobby_resume_from (lobby, s_tok (3), s_peer (3), 1, a,
                                         now), LOBBY_OK);
    ck_assert_uint_eq (lobby_source_players (lobby, a), 2);
    ck_assert_uint_eq (lobby_source_players (lobby, b), 0);
    ck_assert_int_eq (lobby_join_from (lobby, "eve", s_tok (5), s_peer (5), 1,
                                       a, now, NULL, 0), LOBBY_BUSY);
    //  One forgotten (lost past grace, not playing) gives it back too.
    ck_assert_int_eq (lobby_join_from (lobby, "eve", s_tok (5), s_peer (5), 1,
                                       b, now, NULL, 0), LOBBY_OK);
    ck_assert_int_eq (s_info (lobby, 5).state, LOBBY_QUEUED);
    for (now = 100; now < 3000; now += 100) {
        lobby_heard (lobby, s_tok (2), now);
        lobby_heard (lobby, s_tok (3), now);
        lobby_heard (lobby, s_tok (4), now);
        lobby_tick (lobby, now);
    }
    ck_assert_int_eq (lobby_player_info (lobby, s_tok (5),
                                         &(lobby_player_info_t){0}), -1);
    ck_assert_uint_eq (lobby_source_players (lobby, b), 0);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_config)
{
    lobby_config_t cfg;
    lobby_config_defaults (&cfg);
    ck_assert_uint_eq (cfg.tick_hz, 60);
    ck_assert_uint_eq (cfg.points_to_win, 11);
    ck_assert_uint_eq (cfg.grace_ms, 10000);
    cfg.tick_hz = 5;
    ck_assert_ptr_null (lobby_new (&cfg));
    lobby_config_defaults (&cfg);
    cfg.points_to_win = 0;
    ck_assert_ptr_null (lobby_new (&cfg));
    lobby_config_defaults (&cfg);
    cfg.max_players = 1;
    ck_assert_ptr_null (lobby_new (&cfg));
}
END_TEST

//  --------------------------------------------------------------------------
//  Replication: a leader's diffs, through the wire codec, keep a follower's
//  lobby equal to the leader's, hash for hash.

//  One tick on the leader, its diff through encode and decode, applied on
//  each follower given; every hash must agree.
static void s_replicate (lobby_t *leader, lobby_t **followers, size_t count,
                         int64_t now)
{
    lobby_tick (leader, now);
    s_flush (leader);
    rally_repl_t *diff = rally_repl_new (RALLY_REPL_DIFF);
    lobby_diff (leader, diff);
    diff->from.node = 1;
    diff->seq = lobby_ticks (leader);
    ck_assert_uint_eq (diff->hash, lobby_hash (leader));
    zframe_t *frame = rally_repl_encode (diff);
    ck_assert_ptr_nonnull (frame);
    rally_repl_t *wire = rally_repl_new (RALLY_REPL_DIFF);
    char reason[RALLY_REASON_BUF];
    ck_assert_int_eq (rally_repl_decode (wire, zframe_data (frame),
                                         zframe_size (frame), reason,
                                         sizeof (reason)), 0);
    for (size_t i = 0; i < count; i++) {
        ck_assert_msg (lobby_apply (followers[i], wire, reason,
                                    sizeof (reason)) == 0, "%s", reason);
        ck_assert_uint_eq (lobby_hash (followers[i]), lobby_hash (leader));
    }
    zframe_destroy (&frame);
    rally_repl_destroy (&wire);
    rally_repl_destroy (&diff);
}

//  The follower holds what the leader does, as the node would show it.
static void s_same (lobby_t *leader, lobby_t *follower)
{
    ck_assert_uint_eq (lobby_match_count (follower), lobby_match_count (leader));
    ck_assert_uint_eq (lobby_players (follower), lobby_players (leader));
    ck_assert_uint_eq (lobby_waiting (follower), lobby_waiting (leader));
    lobby_match_view_t a, b;
    for (size_t i = 0; lobby_match_at (leader, i, &a) == 0; i++) {
        ck_assert_int_eq (lobby_match_at (follower, i, &b), 0);
        ck_assert_uint_eq (a.id, b.id);
        ck_assert_int_eq (memcmp (a.game, b.game, sizeof (pong_match_t)), 0);
        ck_assert_int_eq (memcmp (a.names, b.names, sizeof (a.names)), 0);
    }
}

static lobby_t *s_scored_lobby (void)
{
    lobby_config_t cfg;
    lobby_config_defaults (&cfg);
    cfg.points_to_win = 2;
    lobby_t *lobby = lobby_new (&cfg);
    ck_assert_ptr_nonnull (lobby);
    return lobby;
}

START_TEST (test_follower_keeps_up)
{
    lobby_t *leader = s_scored_lobby ();
    lobby_t *follower = s_scored_lobby ();
    int64_t now = 0;
    const char *names[] = { "ann", "bob", "cid", "dee", "eve" };
    for (int n = 1; n <= 5; n++)
        ck_assert_int_eq (s_join (leader, names[n - 1], n, now), LOBBY_OK);
    const int all[] = { 1, 2, 3, 4, 5, -1 };
    bool left = false, requeued = false;
    for (int t = 0; t < 20000 && lobby_match_count (leader) > 0; t++) {
        now += TICK_MS;
        for (const int *h = all; *h > 0; h++)
            lobby_heard (leader, s_tok (*h), now);
        //  Paddles move; a player leaves (forfeit, the queued one pairs);
        //  one plays again once its match is over.
        lobby_input (leader, s_tok (1 + t % 4), t % 3 - 1, now);
        if (t == 100 && !left) {
            ck_assert_int_eq (lobby_leave (leader, s_tok (4), now), LOBBY_OK);
            left = true;
        }
        if (!requeued && s_info (leader, 3).state == LOBBY_PLAYING
            && lobby_requeue (leader, s_tok (3), now) == LOBBY_OK)
            requeued = true;
        s_replicate (leader, &follower, 1, now);
        if (t % 50 == 0)
            s_same (leader, follower);
    }
    ck_assert (left);
    s_same (leader, follower);
    lobby_destroy (&follower);
    lobby_destroy (&leader);
}
END_TEST

START_TEST (test_snapshot_then_diffs)
{
    lobby_t *leader = s_scored_lobby ();
    int64_t now = 0;
    s_join (leader, "ann", 1, now);
    s_join (leader, "bob", 2, now);
    s_join (leader, "cid", 3, now);
    for (int t = 0; t < 30; t++)
        s_replicate (leader, NULL, 0, now += TICK_MS);
    //  A snapshot right after a diff is the state that diff made.
    rally_repl_t *snap = rally_repl_new (RALLY_REPL_SNAPSHOT);
    lobby_snapshot (leader, snap);
    ck_assert_uint_eq (snap->hash, lobby_hash (leader));
    ck_assert_uint_eq (snap->player_count, 3);
    ck_assert_uint_eq (snap->match_count, 1);
    lobby_t *late = s_scored_lobby ();
    s_join (late, "zed", 9, now);       //  whatever it held is replaced
    char reason[RALLY_REASON_BUF];
    ck_assert_msg (lobby_apply (late, snap, reason, sizeof (reason)) == 0,
                   "%s", reason);
    s_same (leader, late);
    ck_assert_int_eq (s_info (late, 3).state, LOBBY_QUEUED);
    ck_assert_int_eq (lobby_player_info (late, s_tok (9), &(lobby_player_info_t){0}),
                      -1);
    for (int t = 0; t < 30; t++)
        s_replicate (leader, &late, 1, now += TICK_MS);
    s_same (leader, late);
    rally_repl_destroy (&snap);
    lobby_destroy (&late);
    lobby_destroy (&leader);
}
END_TEST

START_TEST (test_bad_diffs_refused)
{
    lobby_t *leader = s_scored_lobby ();
    lobby_t *follower = s_scored_lobby ();
    int64_t now = 0;
    s_join (leader, "ann", 1, now);
    s_join (leader, "bob", 2, now);
    s_replicate (leader, &follower, 1, now += TICK_MS);
    char reason[RALLY_REASON_BUF];
    rally_repl_t *diff = rally_repl_new (RALLY_REPL_DIFF);

    //  A diff whose result does not hash as the leader said.
    lobby_tick (leader, now += TICK_MS);
    lobby_diff (leader, diff);
    ck_assert_uint_ge (diff->match_count, 1);
    diff->matches[0].ball[0] += 1;
    ck_assert_int_eq (lobby_apply (follower, diff, reason, sizeof (reason)), -1);
    ck_assert_ptr_nonnull (strstr (reason, "hashes to"));

    //  A diff against another state (one was missed) is refused up front.
    lobby_t *behind = s_scored_lobby ();
    lobby_tick (leader, now += TICK_MS);
    lobby_diff (leader, diff);
    ck_assert_int_eq (lobby_apply (behind, diff, reason, sizeof (reason)), -1);
    ck_assert_ptr_nonnull (strstr (reason, "not against the state held"));
    rally_repl_destroy (&diff);
    lobby_destroy (&behind);
    lobby_destroy (&follower);
    lobby_destroy (&leader);
}
END_TEST

//  A snapshot's hash as a leader would compute it, after a test changed it:
//  a member can forge a consistent hash, so refusals must not rest on it.
static void s_rehash (rally_repl_t *snap)
{
    uint64_t sum = rally_repl_globals_hash (snap->ticks, snap->next_match,
                                            snap->next_ticket);
    for (size_t i = 0; i < snap->match_count; i++)
        sum += rally_repl_match_hash (&snap->matches[i]);
    for (size_t i = 0; i < snap->player_count; i++)
        sum += rally_repl_player_hash (&snap->players[i]);
    snap->hash = sum;
}

static rally_player_rec_t *s_rec (rally_repl_t *snap, int n)
{
    for (size_t i = 0; i < snap->player_count; i++)
        if (snap->players[i].token[0] == n)
            return &snap->players[i];
    ck_abort_msg ("no player %d in the snapshot", n);
    return NULL;
}

typedef enum {
    BAD_NEXT_MATCH_WRAPS, BAD_NEXT_MATCH_ZERO, BAD_ID_NOT_BELOW_NEXT,
    BAD_PLAYS_MISSING_MATCH, BAD_WRONG_SEAT, BAD_SEATS_QUEUED,
    BAD_SEATS_STRANGER, BAD_PLAYER_TWICE, BAD_MATCH_TWICE, BAD_NAME_TWICE,
    BAD_QUEUED_TICKET, BAD_ENDED_MATCH, BAD_SCORE, BAD_TOO_MANY_PLAYERS,
    BAD_COUNT
} s_bad_t;

static const char *s_bad_reasons[BAD_COUNT] = {
    "next match id", "next match id", "not below the next id",
    "which is not here", "not in the seat", "seat",
    "seat", "comes twice", "comes twice",
    "two players named", "queued player", "ended, still has",
    "score past", "more than the 3",
};

//  One way to break a snapshot of ann (1) v bob (2) in match m, cy (3)
//  queued.
static void s_break (rally_repl_t *snap, s_bad_t bad)
{
    rally_match_rec_t *m = &snap->matches[0];
    switch (bad) {
    case BAD_NEXT_MATCH_WRAPS: snap->next_match = UINT32_MAX; break;
    case BAD_NEXT_MATCH_ZERO: snap->next_match = 0; break;
    case BAD_ID_NOT_BELOW_NEXT: m->id = snap->next_match; break;
    case BAD_PLAYS_MISSING_MATCH: s_rec (snap, 1)->match = m->id + 7; break;
    case BAD_WRONG_SEAT: s_rec (snap, 1)->side = 1; break;
    case BAD_SEATS_QUEUED: memcpy (m->tokens[0], s_tok (3), 16); break;
    case BAD_SEATS_STRANGER: memcpy (m->tokens[1], s_tok (9), 16); break;
    case BAD_PLAYER_TWICE:
        *rally_repl_add_player (snap) = *s_rec (snap, 3);
        break;
    case BAD_MATCH_TWICE: {
        rally_match_rec_t copy = *m;
        *rally_repl_add_match (snap) = copy;
        break;
    }
    case BAD_NAME_TWICE: strcpy (s_rec (snap, 2)->name, "cy"); break;
    case BAD_QUEUED_TICKET: s_rec (snap, 3)->ticket = snap->next_ticket + 1;
        break;
    case BAD_ENDED_MATCH:
        s_rec (snap, 3)->state = LOBBY_ENDED;
        s_rec (snap, 3)->ticket = 0;
        s_rec (snap, 3)->match = m->id;
        break;
    case BAD_SCORE: m->score[1] = 3; break;
    case BAD_TOO_MANY_PLAYERS: {
        rally_player_rec_t *p = rally_repl_add_player (snap);
        *p = *s_rec (snap, 3);
        memset (p->token, 5, 16);
        strcpy (p->name, "eve");
        p->ticket = snap->next_ticket;
        break;
    }
    case BAD_COUNT: break;
    }
}

START_TEST (test_hostile_snapshots_refused)
{
    //  The leader holds more than the followers may (a member's bug, or a
    //  hostile member): it is where the state comes from, not what a
    //  follower checks it against.
    lobby_config_t cfg;
    lobby_config_defaults (&cfg);
    cfg.points_to_win = 2;
    cfg.max_players = 3;
    lobby_t *follower = lobby_new (&cfg);
    cfg.max_players = 16;
    lobby_t *leader = lobby_new (&cfg);
    int64_t now = 0;
    s_join (leader, "ann", 1, now);
    s_join (leader, "bob", 2, now);
    s_join (leader, "cy", 3, now);
    s_replicate (leader, &follower, 1, now += TICK_MS);
    ck_assert_int_eq (s_info (follower, 1).state, LOBBY_PLAYING);
    ck_assert_int_eq (s_info (follower, 3).state, LOBBY_QUEUED);
    uint64_t held = lobby_hash (follower);

    rally_repl_t *snap = rally_repl_new (RALLY_REPL_SNAPSHOT);
    char reason[RALLY_REASON_BUF];
    for (int bad = 0; bad < BAD_COUNT; bad++) {
        lobby_snapshot (leader, snap);
        ck_assert_msg (lobby_check (follower, snap, reason,
                                    sizeof (reason)) == 0, "%s", reason);
        s_break (snap, (s_bad_t) bad);
        s_rehash (snap);
        ck_assert_msg (lobby_apply (follower, snap, reason,
                                    sizeof (reason)) == -1,
                       "broken snapshot %d was applied", bad);
        ck_assert_msg (strstr (reason, s_bad_reasons[bad]),
                       "broken snapshot %d: '%s' does not say '%s'", bad,
                       reason, s_bad_reasons[bad]);
        //  Refused whole: the follower holds what it held, and goes on.
        ck_assert_uint_eq (lobby_hash (follower), held);
        s_same (leader, follower);
    }
    s_replicate (leader, &follower, 1, now += TICK_MS);
    s_same (leader, follower);
    rally_repl_destroy (&snap);
    lobby_destroy (&follower);
    lobby_destroy (&leader);
}
END_TEST

START_TEST (test_hostile_diffs_refused)
{
    lobby_t *leader = s_scored_lobby ();
    lobby_t *follower = s_scored_lobby ();
    int64_t now = 0;
    s_join (leader, "ann", 1, now);
    s_join (leader, "bob", 2, now);
    s_join (leader, "cy", 3, now);
    s_replicate (leader, &follower, 1, now += TICK_MS);
    uint64_t held = lobby_hash (follower);
    char reason[RALLY_REASON_BUF];
    rally_repl_t *diff = rally_repl_new (RALLY_REPL_DIFF);
    lobby_tick (leader, now += TICK_MS);
    s_flush (leader);
    lobby_diff (leader, diff);
    rally_repl_t *bad = rally_repl_new (RALLY_REPL_DIFF);

    //  Each change to the leader's diff, with its hash made right again.
    for (int change = 0; change < 5; change++) {
        rally_repl_reset (bad, RALLY_REPL_DIFF);
        bad->base_hash = diff->base_hash;
        bad->seq = diff->seq;
        bad->ticks = diff->ticks;
        bad->next_match = diff->next_match;
        bad->next_ticket = diff->next_ticket;
        for (size_t i = 0; i < diff->match_count; i++)
            *rally_repl_add_match (bad) = diff->matches[i];
        const char *says = "";
        if (change == 0) {          //  a counter goes back
            bad->next_match = 1;
            says = "takes a counter back";
        }
        else if (change == 1) {     //  ann is dropped; her match seats her
            rally_repl_add_gone_player (bad, s_tok (1));
            says = "seats a player who is not here";
        }
        else if (change == 2) {     //  the live match goes; ann plays it
            rally_repl_add_gone_match (bad, s_info (leader, 1).match);
            bad->match_count = 0;
            says = "which is not here";
        }
        else if (change == 3) {     //  cy, queued, takes ann's seat
            bad->matches[0].tokens[0][0] = 3;
            memset (bad->matches[0].tokens[0], 3, 16);
            says = "seats player cy";
        }
        else {                      //  next match id past the last one
            bad->next_match = LOBBY_MATCH_ID_MAX + 2;
            says = "out of range";
        }
        bad->hash = lobby_hash (leader);
        ck_assert_int_eq (lobby_apply (follower, bad, reason, sizeof (reason)),
                          -1);
        ck_assert_msg (strstr (reason, says), "change %d: '%s' does not say "
                       "'%s'", change, reason, says);
        ck_assert_uint_eq (lobby_hash (follower), held);
    }
    //  The leader's own diff still applies: nothing was half done.
    ck_assert_msg (lobby_apply (follower, diff, reason, sizeof (reason)) == 0,
                   "%s", reason);
    s_same (leader, follower);
    rally_repl_destroy (&bad);
    rally_repl_destroy (&diff);
    lobby_destroy (&follower);
    lobby_destroy (&leader);
}
END_TEST

START_TEST (test_match_ids_never_wrap)
{
    lobby_t *lobby = s_scored_lobby ();
    //  A results store that holds the last id, or past it: refused.
    ck_assert_int_eq (lobby_reserve_matches (lobby, UINT32_MAX), -1);
    ck_assert_int_eq (lobby_reserve_matches (lobby, LOBBY_MATCH_ID_MAX), -1);
    ck_assert_int_eq (lobby_reserve_matches (lobby, LOBBY_MATCH_ID_MAX - 1), 0);
    int64_t now = 0;
    s_join (lobby, "ann", 1, now);
    s_join (lobby, "bob", 2, now);
    ck_assert_uint_eq (s_info (lobby, 1).match, LOBBY_MATCH_ID_MAX);
    //  The last id is spent: the next pair waits, and nothing wraps.
    s_join (lobby, "cy", 3, now);
    s_join (lobby, "dee", 4, now);
    lobby_tick (lobby, now += TICK_MS);
    ck_assert_int_eq (s_info (lobby, 3).state, LOBBY_QUEUED);
    ck_assert_int_eq (s_info (lobby, 4).state, LOBBY_QUEUED);
    ck_assert_uint_eq (lobby_match_count (lobby), 1);
    rally_repl_t *diff = rally_repl_new (RALLY_REPL_DIFF);
    lobby_diff (lobby, diff);
    diff->from.node = 1;
    ck_assert_uint_eq (diff->next_match, LOBBY_MATCH_ID_MAX + 1);
    zframe_t *frame = rally_repl_encode (diff);
    ck_assert_ptr_nonnull (frame);
    zframe_destroy (&frame);
    rally_repl_destroy (&diff);
    lobby_destroy (&lobby);
}
END_TEST

START_TEST (test_adopt_and_lead)
{
    lobby_t *leader = s_scored_lobby ();
    lobby_t *follower = s_scored_lobby ();
    int64_t now = 0;
    s_join (leader, "ann", 1, now);
    s_join (leader, "bob", 2, now);
    uint32_t id = s_info (leader, 1).match;
    const int both[] = { 1, 2, -1 };
    for (int t = 0; t < 200; t++) {
        now += TICK_MS;
        lobby_heard (leader, s_tok (1), now);
        lobby_heard (leader, s_tok (2), now);
        s_replicate (leader, &follower, 1, now);
    }
    lobby_match_view_t before = s_match (follower, id);
    pong_match_t game = *before.game;

    //  The follower takes over far later on its own clock: the players
    //  count as heard now, keep their seats, and the match goes on from
    //  the same state.
    now += 60000;
    lobby_adopt (follower, now);
    ck_assert_int_eq (lobby_resume (follower, s_tok (2), s_peer (2), 1, now),
                      LOBBY_OK);
    lobby_event_t ev;
    ck_assert (s_find_for (follower, LOBBY_EVENT_MATCH, 2, &ev));
    ck_assert_uint_eq (ev.match, id);
    ck_assert_int_eq (ev.side, 1);
    ck_assert_int_eq (lobby_input (follower, s_tok (1), 1, now), LOBBY_OK);
    s_run (follower, &now, now + TICK_MS, both);
    lobby_match_view_t after = s_match (follower, id);
    ck_assert_uint_eq (after.game->tick, game.tick + 1);
    ck_assert_uint_eq (after.game->score[0], game.score[0]);
    ck_assert_uint_eq (after.game->score[1], game.score[1]);
    ck_assert (!s_info (follower, 1).lost);
    lobby_destroy (&follower);
    lobby_destroy (&leader);
}
END_TEST

START_TEST (test_quiet_tick_ships_little)
{
    lobby_t *leader = s_scored_lobby ();
    int64_t now = 0;
    s_join (leader, "ann", 1, now);
    s_join (leader, "bob", 2, now);
    s_join (leader, "cid", 3, now);
    lobby_tick (leader, now += TICK_MS);
    rally_repl_t *diff = rally_repl_new (RALLY_REPL_DIFF);
    lobby_diff (leader, diff);
    ck_assert_uint_eq (diff->player_count, 3);
    //  Next tick only the live match moved; no player changed.
    lobby_tick (leader, now += TICK_MS);
    lobby_diff (leader, diff);
    ck_assert_uint_eq (diff->player_count, 0);
    ck_assert_uint_eq (diff->match_count, 1);
    //  A forgotten player is named as gone, once.
    lobby_leave (leader, s_tok (3), now);
    lobby_tick (leader, now += TICK_MS);
    lobby_diff (leader, diff);
    ck_assert_uint_eq (diff->gone_player_count, 1);
    ck_assert_int_eq (memcmp (diff->gone_players[0], s_tok (3),
                              RALLY_TOKEN_SIZE), 0);
    lobby_tick (leader, now += TICK_MS);
    lobby_diff (leader, diff);
    ck_assert_uint_eq (diff->gone_player_count, 0);
    rally_repl_destroy (&diff);
    lobby_destroy (&leader);
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *s = suite_create ("lobby");
    TCase *tc = tcase_create ("core");
    tcase_add_test (tc, test_pairing_order);
    tcase_add_test (tc, test_positions);
    tcase_add_test (tc, test_back_pairs);
    tcase_add_test (tc, test_names);
    tcase_add_test (tc, test_max_players);
    tcase_add_test (tc, test_token_isolation);
    tcase_add_test (tc, test_rate_limit);
    tcase_add_test (tc, test_lost_and_back);
    tcase_add_test (tc, test_grace_forfeit);
    tcase_add_test (tc, test_both_lost);
    tcase_add_test (tc, test_queued_dropped);
    tcase_add_test (tc, test_requeue);
    tcase_add_test (tc, test_requeue_after_gone);
    tcase_add_test (tc, test_leave_mid_match);
    tcase_add_test (tc, test_finished_dropped);
    tcase_add_test (tc, test_two_matches);
    tcase_add_test (tc, test_config);
    tcase_add_test (tc, test_per_source_limit);
    suite_add_tcase (s, tc);
    tc = tcase_create ("replication");
    tcase_add_test (tc, test_follower_keeps_up);
    tcase_add_test (tc, test_snapshot_then_diffs);
    tcase_add_test (tc, test_bad_diffs_refused);
    tcase_add_test (tc, test_hostile_snapshots_refused);
    tcase_add_test (tc, test_hostile_diffs_refused);
    tcase_add_test (tc, test_match_ids_never_wrap);
    tcase_add_test (tc, test_adopt_and_lead);
    tcase_add_test (tc, test_quiet_tick_ships_little);
    suite_add_tcase (s, tc);
    return s;
}
