/*  rally_watch - a spectator's session: the matches under way, and one of
    them followed state by state. Shared by the viewer's --watch and any
    tool that wants to look without playing.

    It asks the brokers where the leader is, then sends the leader `watch`
    (with the match it shows, 0 for none) every RALLY_WATCH_EVERY_MS; the
    leader counts it as a spectator of that match and answers with the
    list of matches. It also fetches the leaderboard (standings -> board),
    for a viewer's name and end screens. States of the match shown come on the leader's PUB
    like a player's. A leader that stops answering for RALLY_WATCH_SILENT_MS,
    or a node that says it does not lead, sends the spectator back to the
    brokers. Like rally_client: no thread, no clock, never blocks.
*/
#ifndef RALLY_WATCH_H_INCLUDED
#define RALLY_WATCH_H_INCLUDED

#include "rally_cluster.h"
#include "rally_msg.h"

#define RALLY_WATCH_EVERY_MS    1000    //  watch sent this often
#define RALLY_WATCH_SILENT_MS   2500    //  no answer this long: find again
#define RALLY_WATCH_WHERE_MS    500     //  brokers asked this often

typedef struct _rally_watch_t rally_watch_t;

typedef struct {
    bool connected;             //  a leader answers
    int64_t searching_ms;       //  when the search for a leader began,
                                //  0 while connected
    uint32_t tries;             //  times the brokers were asked since
    uint32_t node;              //  the leader, 0 if none
    uint64_t term;
    uint32_t waiting;           //  players in the queue
    uint32_t count;             //  matches under way, as last listed
    rally_match_info_t matches[RALLY_STATUS_MATCHES_MAX];
    uint32_t match;             //  the one shown, 0 none
    bool have_state, have_prev; //  states of it
    rally_msg_state_t prev, last;
    int64_t prev_ms, last_ms;   //  when they came
    uint32_t spectators;        //  of the match shown, as last heard
    uint32_t grace_ms;          //  its grace left when heard
    int64_t grace_heard_ms;     //  when that was
    bool have_board;            //  board holds the leaderboard asked for
    rally_msg_board_t board;
} rally_watch_view_t;

//  Starts looking for the leader through every broker of cluster. NULL if
//  a broker endpoint is refused.
rally_watch_t *rally_watch_new (const rally_cluster_t *cluster, int64_t now_ms);

//  Closes every socket; nulls *self_p.
void rally_watch_destroy (rally_watch_t **self_p);

//  As rally_client: poll these, wait at most the timeout, then pump.
int rally_watch_pollitems (rally_watch_t *self, zmq_pollitem_t *items, int max);
int64_t rally_watch_timeout (rally_watch_t *self, int64_t now_ms);
void rally_watch_pump (rally_watch_t *self, int64_t now_ms);

//  Shows match (0: none): its states follow, the old one's stop.
void rally_watch_show (rally_watch_t *self, uint32_t match);

//  Asks the leader for the leaderboard with name's record ("": none),
//  now or as soon as one answers; view.board holds it when it comes.
void rally_watch_ask_board (rally_watch_t *self, const char *name);

//  What there is to draw, valid until the next pump.
const rally_watch_view_t *rally_watch_view (rally_watch_t *self);

#endif
