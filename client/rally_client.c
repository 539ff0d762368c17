/*  rally_client - one player's session with a Rally cluster. See
    rally_client.h; the conversation is in docs/conversation.md.

    The session is a small state machine driven from outside: the caller
    polls our sockets and calls rally_client_pump() with the monotonic time,
    which reads every pending message (one s_handle_* per message type) and
    then runs the timers (where, ping, input re-send, silence). No function
    here reads a clock or blocks: sends use a zero send timeout and are
    dropped rather than waited for, since every request is re-sent by a
    timer or is harmless to lose.

    The node's silence is the only failure detector. Any frame from the
    node, on the DEALER or the SUB, counts as hearing it; when it has been
    quiet for silence_ms, the node sockets are closed and the session asks
    a broker again, then resumes with its token wherever the leader now is.
*/
#include "rally_client.h"

#include <string.h>

#define CLIENT_EVENTS_MAX       64      //  events held between pumps
#define CLIENT_WHERE_MS         500     //  where is re-sent this often
#define CLIENT_INPUT_MS         100     //  intent re-sent this often (loss)
#define CLIENT_INPUT_GAP_MS     20      //  inputs never closer than this,
                                        //  to stay under the node's 60/s
#define CLIENT_IDLE_MS          1000    //  timeout when no timer runs
#define CLIENT_LEAVE_LINGER_MS  200     //  time given to a last leave
#define CLIENT_BROKER_HWM       4       //  wheres queued for an absent broker
#define CLIENT_QUEUED_QUIET_MS  3000    //  no place in the queue this long:
                                        //  ask the node if it knows us

struct _rally_client_t {
    rally_client_config_t cfg;          //  as given; strings point below
    char broker_ep[RALLY_ENDPOINT_BUF]; //  copy of cfg.broker
    char name[RALLY_NAME_BUF];          //  copy of cfg.name
    zsock_t *broker;                    //  DEALER to the broker, always open
    zsock_t *game;                      //  DEALER to the node, NULL if none
    zsock_t *sub;                       //  SUB to the node's PUB, or NULL
    bool subscribed;                    //  sub has view.match's topic
    rally_view_t view;                  //  what the caller sees
    bool have_token;                    //  token is valid
    uint8_t token[RALLY_TOKEN_SIZE];    //  session token from joined
    bool announced;                     //  JOINED event given
    bool resuming;                      //  resume sent, no joined back yet
    rally_client_status_t resume_status;    //  status to resume into
    bool ended;                         //  MATCH_END given for view.match
    bool requeue_wanted;                //  play again once the node hears
    uint32_t told_position;             //  last QUEUED position given, 0 none
    bool have_tick;                     //  a state of view.match was taken
    uint32_t last_tick;                 //  highest tick taken for view.match
    uint32_t score[2];                  //  score as last taken
    int64_t now_ms;                     //  time of the latest pump
    int64_t where_at;                   //  next where, while finding
    int64_t ping_at;                    //  next ping to the node
    int64_t heard_ms;                   //  node last heard
    int64_t input_at;                   //  next re-send of the intent
    int64_t input_sent_ms;              //  last input sent
    bool input_pending;                 //  intent changed, not sent yet
    int64_t queued_heard_ms;            //  last queued message, or check
    int64_t lost_heard_ms;              //  reconnect: old node last heard
    uint32_t lost_node;                 //  reconnect: node that went quiet
    rally_event_t events[CLIENT_EVENTS_MAX];    //  ring of pending events
    size_t event_head;                  //  oldest event
    size_t event_count;                 //  events in the ring
};

static void s_send_where (rally_client_t *self);

//  --------------------------------------------------------------------------
//  Configuration, constructor and destructor

void rally_client_config_defaults (rally_client_config_t *cfg,
                                   const char *broker, const char *name)
{
    assert (cfg);
    *cfg = (rally_client_config_t) {
        .broker = broker,
        .name = name,
        .silence_ms = 800,
        .ping_ms = 200,
        .auto_requeue = false,
    };
}

//  A socket with Rally's limits that never blocks a send; connected to
//  endpoint. NULL if the endpoint is refused. sndhwm 0 keeps the default.
static zsock_t *s_socket (int type, const char *endpoint, int sndhwm)
{
    zsock_t *sock = rally_msg_socket_new (type);
    if (!sock)
        return NULL;
    if (sndhwm)
        zsock_set_sndhwm (sock, sndhwm);
    if (zsock_connect (sock, "%s", endpoint)) {
        zsys_warning ("rally_client: cannot connect to %s", endpoint);
        zsock_destroy (&sock);
    }
    return sock;
}

rally_client_t *rally_client_new (const rally_client_config_t *cfg,
                                  int64_t now_ms)
{
    assert (cfg);
    char reason[RALLY_REASON_BUF];
    if (!cfg->broker || !cfg->name
    ||  strlen (cfg->broker) > RALLY_ENDPOINT_MAX
    ||  !rally_msg_name_valid (cfg->name, reason, sizeof (reason)))
        return NULL;
    rally_client_t *self = (rally_client_t *) zmalloc (sizeof (rally_client_t));
    if (!self)
        return NULL;
    self->cfg = *cfg;
    snprintf (self->broker_ep, sizeof (self->broker_ep), "%s", cfg->broker);
    snprintf (self->name, sizeof (self->name), "%s", cfg->name);
    self->cfg.broker = self->broker_ep;
    self->cfg.name = self->name;
    if (self->cfg.silence_ms <= 0)
        self->cfg.silence_ms = 800;
    if (self->cfg.ping_ms <= 0)
        self->cfg.ping_ms = 200;

    //  While the broker is away, keep only a few wheres for it: it should
    //  not come back to a backlog of them.
    self->broker = s_socket (ZMQ_DEALER, self->broker_ep, CLIENT_BROKER_HWM);
    if (!self->broker) {
        free (self);
        return NULL;
    }

    self->view.status = RALLY_CLIENT_FINDING;
    self->view.side = -1;
    self->view.rtt_ms = -1;
    snprintf (self->view.name, sizeof (self->view.name), "%s", self->name);
    self->now_ms = now_ms;
    s_send_where (self);
    return self;
}

static void s_send (rally_client_t *self, zsock_t *sock, const rally_msg_t *msg)
{
    if (sock && rally_msg_send (msg, sock))
        zsys_debug ("rally_client: %s not sent", rally_msg_type_name (msg->type));
}

static void s_send_token (rally_client_t *self, rally_msg_type_t type)
{
    rally_msg_t msg;
    rally_msg_init (&msg, type);
    //  resume, requeue and leave share one layout.
    memcpy (msg.u.resume.token, self->token, RALLY_TOKEN_SIZE);
    s_send (self, self->game, &msg);
}

void rally_client_destroy (rally_client_t **self_p)
{
    assert (self_p);
    rally_client_t *self = *self_p;
    if (!self)
        return;
    if (self->game && self->have_token) {
        //  Give the leave a moment to leave, then let the socket go.
        zsock_set_linger (self->game, CLIENT_LEAVE_LINGER_MS);
        s_send_token (self, RALLY_MSG_LEAVE);
    }
    zsock_destroy (&self->sub);
    zsock_destroy (&self->game);
    zsock_destroy (&self->broker);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Events

//  A new event at the back of the ring, pre-filled with what every event
//  carries; the oldest is dropped if the caller has not drained the ring.
static rally_event_t *s_event (rally_client_t *self, rally_event_type_t type)
{
    if (self->event_count == CLIENT_EVENTS_MAX) {
        self->event_head = (self->event_head + 1) % CLIENT_EVENTS_MAX;
        self->event_count--;
    }
    size_t index = (self->event_head + self->event_count) % CLIENT_EVENTS_MAX;
    self->event_count++;
    rally_event_t *ev = &self->events[index];
    memset (ev, 0, sizeof (*ev));
    ev->type = type;
    ev->t_ms = self->now_ms;
    ev->match = self->view.match;
    ev->side = self->view.side;
    ev->winner = -1;
    snprintf (ev->name, sizeof (ev->name), "%s", self->view.name);
    return ev;
}

static void s_error_event (rally_client_t *self, const char *code,
                           const char *reason)
{
    snprintf (self->view.error, sizeof (self->view.error), "%s", reason);
    rally_event_t *ev = s_event (self, RALLY_EVENT_ERROR);
    snprintf (ev->code, sizeof (ev->code), "%s", code);
    snprintf (ev->reason, sizeof (ev->reason), "%s", reason);
}

bool rally_client_next_event (rally_client_t *self, rally_event_t *ev)
{
    assert (self && ev);
    if (self->event_count == 0)
        return false;
    *ev = self->events[self->event_head];
    self->event_head = (self->event_head + 1) % CLIENT_EVENTS_MAX;
    self->event_count--;
    return true;
}

//  --------------------------------------------------------------------------
//  Sending

static void s_send_where (rally_client_t *self)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_WHERE);
    s_send (self, self->broker, &msg);
    self->where_at = self->now_ms + CLIENT_WHERE_MS;
}

static void s_send_join (rally_client_t *self)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_JOIN);
    snprintf (msg.u.join.name, sizeof (msg.u.join.name), "%s", self->name);
    s_send (self, self->game, &msg);
}

static void s_send_ping (rally_client_t *self)
{
    //  The nonce is the send time, so a pong alone gives the round trip.
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_PING);
    msg.u.ping.nonce = (uint64_t) self->now_ms;
    s_send (self, self->game, &msg);
    self->ping_at = self->now_ms + self->cfg.ping_ms;
}

static void s_send_input (rally_client_t *self)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_INPUT);
    memcpy (msg.u.input.token, self->token, RALLY_TOKEN_SIZE);
    msg.u.input.intent = self->view.intent;
    s_send (self, self->game, &msg);
    self->input_pending = false;
    self->input_sent_ms = self->now_ms;
    self->input_at = self->now_ms + CLIENT_INPUT_MS;
}

static bool s_can_input (rally_client_t *self)
{
    return self->view.status == RALLY_CLIENT_PLAYING && self->game
        && self->have_token && !self->resuming;
}

//  Sends requeue if the caller asked to play again and the node can act
//  on it now.
static void s_try_requeue (rally_client_t *self)
{
    if (!self->requeue_wanted || !self->game || !self->have_token
    ||  self->resuming || self->view.status != RALLY_CLIENT_ENDED)
        return;
    self->requeue_wanted = false;
    self->told_position = 0;
    s_send_token (self, RALLY_MSG_REQUEUE);
}

//  --------------------------------------------------------------------------
//  Node sockets

static void s_subscribe (rally_client_t *self)
{
    if (!self->sub || !self->view.match || self->subscribed)
        return;
    char topic[16];
    rally_msg_match_topic (self->view.match, topic);
    zsock_set_subscribe (self->sub, topic);
    self->subscribed = true;
}

static void s_unsubscribe (rally_client_t *self)
{
    if (!self->sub || !self->view.match || !self->subscribed)
        return;
    char topic[16];
    rally_msg_match_topic (self->view.match, topic);
    zsock_set_unsubscribe (self->sub, topic);
    self->subscribed = false;
}

static void s_close_node (rally_client_t *self)
{
    zsock_destroy (&self->game);
    zsock_destroy (&self->sub);
    self->subscribed = false;
}

//  Lets the node go and asks a broker for the leader: at once, or after a
//  pause, so that a node that keeps refusing is not asked in a tight loop.
static void s_find_leader (rally_client_t *self, bool at_once)
{
    s_close_node (self);
    self->resuming = false;
    self->view.node = 0;
    self->view.status = RALLY_CLIENT_FINDING;
    if (at_once)
        s_send_where (self);
    else
        self->where_at = self->now_ms + CLIENT_WHERE_MS;
}

//  The node went quiet: let it go and find the leader again.
static void s_lost (rally_client_t *self)
{
    zsys_info ("rally_client: %s: node %u silent for %d ms, finding the leader",
               self->name, self->view.node,
               (int) (self->now_ms - self->heard_ms));
    if (self->have_token && !self->view.reconnecting) {
        self->view.reconnecting = true;
        self->lost_heard_ms = self->heard_ms;
        self->lost_node = self->view.node;
        self->resume_status = self->view.status;
        if (self->resume_status == RALLY_CLIENT_FINDING)
            self->resume_status = RALLY_CLIENT_JOINING;
    }
    s_find_leader (self, true);
}

//  --------------------------------------------------------------------------
//  Messages from the broker

static void s_handle_leader (rally_client_t *self, const rally_msg_leader_t *m)
{
    if (self->view.status != RALLY_CLIENT_FINDING)
        return;     //  an answer to an earlier where
    zsock_t *game = s_socket (ZMQ_DEALER, m->game, 0);
    zsock_t *sub = s_socket (ZMQ_SUB, m->state, 0);
    if (!game || !sub) {
        zsock_destroy (&game);
        zsock_destroy (&sub);
        return;     //  where is asked again on time
    }
    self->game = game;
    self->sub = sub;
    self->subscribed = false;
    s_subscribe (self);
    self->view.node = m->from.node;
    self->view.term = m->from.term;
    self->view.status = RALLY_CLIENT_JOINING;
    self->heard_ms = self->now_ms;
    if (self->have_token) {
        self->resuming = true;
        s_send_token (self, RALLY_MSG_RESUME);
    }
    else
        s_send_join (self);
    s_send_ping (self);
}

static void s_handle_broker_error (rally_client_t *self,
                                   const rally_msg_error_t *m)
{
    //  No leader yet (an election, or nodes still starting): keep asking.
    if (streq (m->code, "no_leader"))
        snprintf (self->view.error, sizeof (self->view.error), "%s", m->reason);
    else
        s_error_event (self, m->code, m->reason);
}

//  --------------------------------------------------------------------------
//  Messages from the node

//  Back in the session after a resume. In a match, the node's `match`
//  message follows and puts us back in it; until then we send no input. A
//  match that the node no longer has ended while we were away.
static void s_resumed (rally_client_t *self, uint32_t match)
{
    rally_client_status_t was = self->resume_status;
    if (was != RALLY_CLIENT_PLAYING && was != RALLY_CLIENT_ENDED) {
        self->view.status = was;
        return;
    }
    self->view.status = RALLY_CLIENT_ENDED;
    if (match == 0 && !self->ended) {
        char reason[RALLY_REASON_BUF];
        snprintf (reason, sizeof (reason),
                  "match %u ended while this player was away", self->view.match);
        self->ended = true;
        s_error_event (self, "match_lost", reason);
    }
}

static void s_handle_joined (rally_client_t *self, const rally_msg_joined_t *m)
{
    memcpy (self->token, m->token, RALLY_TOKEN_SIZE);
    self->have_token = true;
    snprintf (self->view.name, sizeof (self->view.name), "%s", m->name);
    self->view.node = m->from.node;
    self->view.term = m->from.term;
    if (!self->announced) {
        self->announced = true;
        s_event (self, RALLY_EVENT_JOINED);
    }
    if (self->view.reconnecting) {
        rally_event_t *ev = s_event (self, RALLY_EVENT_RECONNECT);
        ev->gap_ms = self->now_ms - self->lost_heard_ms;
        ev->from_node = self->lost_node;
        ev->to_node = m->from.node;
        ev->term = m->from.term;
        self->view.reconnecting = false;
    }
    if (self->resuming)
        s_resumed (self, m->match);
    self->resuming = false;
    s_try_requeue (self);
}

static void s_handle_queued (rally_client_t *self, const rally_msg_queued_t *m)
{
    self->view.status = RALLY_CLIENT_QUEUED;
    self->view.position = m->position;
    self->queued_heard_ms = self->now_ms;
    self->requeue_wanted = false;
    if (m->position != self->told_position) {
        self->told_position = m->position;
        s_event (self, RALLY_EVENT_QUEUED)->position = m->position;
    }
}

//  Forgets the current match (a new one begins, or the node lost ours).
static void s_forget_match (rally_client_t *self)
{
    s_unsubscribe (self);
    self->view.match = 0;
    self->view.side = -1;
    self->view.have_state = false;
    self->view.have_prev = false;
    self->view.position = 0;
    self->ended = false;
    self->have_tick = false;
    self->last_tick = 0;
    self->score[0] = self->score[1] = 0;
    self->told_position = 0;
    self->requeue_wanted = false;
}

static void s_handle_match (rally_client_t *self, const rally_msg_match_t *m)
{
    if (m->match == self->view.match) {
        //  The same match again, after a resume: carry on where we were.
        self->view.status = self->ended? RALLY_CLIENT_ENDED: RALLY_CLIENT_PLAYING;
        s_subscribe (self);
        s_try_requeue (self);
        return;
    }
    s_forget_match (self);
    self->view.match = m->match;
    self->view.side = (int32_t) m->side;
    self->view.status = RALLY_CLIENT_PLAYING;
    s_subscribe (self);
    rally_event_t *ev = s_event (self, RALLY_EVENT_MATCH_START);
    snprintf (ev->opponent, sizeof (ev->opponent), "%s", m->names[m->side ^ 1]);
    //  Send the intent the caller already holds, so the paddle obeys at once.
    self->input_pending = true;
}

static void s_fill_state_event (rally_event_t *ev, const rally_msg_state_t *m)
{
    ev->tick = m->tick;
    ev->phase = m->phase;
    ev->score[0] = m->score[0];
    ev->score[1] = m->score[1];
    ev->winner = m->winner;
}

static void s_handle_state (rally_client_t *self, const rally_msg_state_t *m)
{
    if (!self->view.match || m->match != self->view.match)
        return;
    if (self->have_tick && m->tick < self->last_tick)
        return;     //  never go backwards
    self->have_tick = true;
    self->last_tick = m->tick;
    rally_view_t *view = &self->view;
    view->prev = view->last;
    view->prev_ms = view->last_ms;
    view->have_prev = view->have_state;
    view->last = *m;
    view->last_ms = self->now_ms;
    view->have_state = true;
    s_fill_state_event (s_event (self, RALLY_EVENT_STATE), m);

    //  One POINT per point, even if a state went missing in between.
    for (int side = 0; side < 2; side++)
        while (m->score[side] > self->score[side]) {
            self->score[side]++;
            rally_event_t *ev = s_event (self, RALLY_EVENT_POINT);
            s_fill_state_event (ev, m);
            ev->score[0] = self->score[0];
            ev->score[1] = self->score[1];
        }
    if (m->phase == RALLY_PHASE_OVER && !self->ended) {
        self->ended = true;
        view->status = RALLY_CLIENT_ENDED;
        rally_event_t *ev = s_event (self, RALLY_EVENT_MATCH_END);
        s_fill_state_event (ev, m);
        if (m->winner == 0 || m->winner == 1)
            snprintf (ev->winner_name, sizeof (ev->winner_name), "%s",
                      m->names[m->winner]);
        if (self->cfg.auto_requeue)
            rally_client_play_again (self);
    }
}

static void s_handle_pong (rally_client_t *self, const rally_msg_pong_t *m)
{
    if (m->nonce <= (uint64_t) self->now_ms)
        self->view.rtt_ms = self->now_ms - (int64_t) m->nonce;
}

static void s_handle_error (rally_client_t *self, const rally_msg_error_t *m)
{
    if (streq (m->code, "bad_name") || streq (m->code, "name_taken")
    ||  streq (m->code, "full")) {
        self->view.status = RALLY_CLIENT_FAILED;
        s_error_event (self, m->code, m->reason);
    }
    else
    if (streq (m->code, "unavailable")) {
        s_error_event (self, m->code, m->reason);
        s_find_leader (self, false);
    }
    else
    if (streq (m->code, "unknown_token") && !self->have_token)
        return;     //  a late answer to a request sent with the lost token
    else
    if (streq (m->code, "unknown_token")) {
        //  The node no longer knows us (its grace ran out, or it restarted
        //  and lost everything, and our sockets reconnected to it without
        //  a pause we could notice): whatever match we had is gone. Say
        //  so, and start afresh; a new match may reuse the old one's id.
        if (self->view.match && !self->ended) {
            char reason[RALLY_REASON_BUF];
            snprintf (reason, sizeof (reason),
                      "node %u no longer knows this session; match %u is lost",
                      m->from.node, self->view.match);
            s_error_event (self, "session_lost", reason);
        }
        s_forget_match (self);
        self->have_token = false;
        self->resuming = false;
        self->view.status = RALLY_CLIENT_JOINING;
        s_send_join (self);
    }
    else
        s_error_event (self, m->code, m->reason);
}

//  --------------------------------------------------------------------------
//  Reading

//  Decodes one body; an undecodable one becomes an ERROR event.
static bool s_decode (rally_client_t *self, zframe_t *body, rally_msg_t *msg)
{
    char reason[RALLY_REASON_BUF];
    if (!body) {
        s_error_event (self, "bad_message", "empty message");
        return false;
    }
    if (rally_msg_decode (msg, zframe_data (body), zframe_size (body),
                          reason, sizeof (reason))) {
        s_error_event (self, "bad_message", reason);
        return false;
    }
    return true;
}

static void s_unexpected (rally_client_t *self, const rally_msg_t *msg,
                          const char *from)
{
    char reason[RALLY_REASON_BUF];
    snprintf (reason, sizeof (reason), "unexpected %s from the %s",
              rally_msg_type_name (msg->type), from);
    s_error_event (self, "bad_message", reason);
}

static void s_handle_broker_msg (rally_client_t *self, const rally_msg_t *msg)
{
    switch (msg->type) {
        case RALLY_MSG_LEADER: s_handle_leader (self, &msg->u.leader); break;
        case RALLY_MSG_ERROR: s_handle_broker_error (self, &msg->u.error); break;
        case RALLY_MSG_PONG: break;
        default: s_unexpected (self, msg, "broker");
    }
}

static void s_handle_node_msg (rally_client_t *self, const rally_msg_t *msg)
{
    switch (msg->type) {
        case RALLY_MSG_JOINED: s_handle_joined (self, &msg->u.joined); break;
        case RALLY_MSG_QUEUED: s_handle_queued (self, &msg->u.queued); break;
        case RALLY_MSG_MATCH: s_handle_match (self, &msg->u.match); break;
        case RALLY_MSG_STATE: s_handle_state (self, &msg->u.state); break;
        case RALLY_MSG_PONG: s_handle_pong (self, &msg->u.pong); break;
        case RALLY_MSG_ERROR: s_handle_error (self, &msg->u.error); break;
        default: s_unexpected (self, msg, "node");
    }
}

//  One message from a socket that has one ready: the body is the last
//  frame (a DEALER gets [body], a SUB [topic][body]). Returns false when
//  nothing was there.
static bool s_read_one (rally_client_t *self, zsock_t *sock, size_t frames,
                        rally_msg_t *msg, bool *decoded)
{
    if (!(zsock_events (sock) & ZMQ_POLLIN))
        return false;
    zmsg_t *in = zmsg_recv (sock);
    if (!in)
        return false;
    *decoded = false;
    if (zmsg_size (in) != frames)
        s_error_event (self, "bad_message", "wrong number of frames");
    else
        *decoded = s_decode (self, zmsg_last (in), msg);
    zmsg_destroy (&in);
    return true;
}

static void s_read_broker (rally_client_t *self)
{
    rally_msg_t msg;
    bool decoded;
    while (s_read_one (self, self->broker, 1, &msg, &decoded))
        if (decoded)
            s_handle_broker_msg (self, &msg);
}

//  Reads from the node's DEALER or SUB; handlers never close them, so sock
//  stays valid through the loop.
static void s_read_node (rally_client_t *self, zsock_t *sock, size_t frames)
{
    rally_msg_t msg;
    bool decoded;
    while (sock && s_read_one (self, sock, frames, &msg, &decoded)) {
        self->heard_ms = self->now_ms;
        if (decoded)
            s_handle_node_msg (self, &msg);
    }
}

//  --------------------------------------------------------------------------
//  Timers

//  A node tells each queued player its place every second. Pings carry no
//  token, so a node that restarted empty within silence_ms answers them
//  and we would wait in a queue that no longer holds us: asking to resume
//  gets our place again, or unknown_token and a fresh join.
static void s_check_queued (rally_client_t *self)
{
    self->queued_heard_ms = self->now_ms;
    s_send_token (self, RALLY_MSG_RESUME);
}

//  When each timer is next due, INT64_MAX when it is not running. The
//  timers fire and rally_client_timeout waits by these same answers.
static int64_t s_silence_due (rally_client_t *self)
{
    return self->heard_ms + self->cfg.silence_ms + 1;
}

static int64_t s_queued_due (rally_client_t *self)
{
    return self->view.status == RALLY_CLIENT_QUEUED
         ? self->queued_heard_ms + CLIENT_QUEUED_QUIET_MS: INT64_MAX;
}

static int64_t s_input_due (rally_client_t *self)
{
    if (!s_can_input (self) || self->ended)
        return INT64_MAX;
    return self->input_pending? self->input_sent_ms + CLIENT_INPUT_GAP_MS
                              : self->input_at;
}

static void s_run_timers (rally_client_t *self)
{
    int64_t now = self->now_ms;
    if (self->view.status == RALLY_CLIENT_FAILED)
        return;
    if (self->view.status == RALLY_CLIENT_FINDING) {
        if (now >= self->where_at)
            s_send_where (self);
        return;
    }
    if (now >= s_silence_due (self)) {
        s_lost (self);
        return;
    }
    if (now >= self->ping_at)
        s_send_ping (self);
    if (now >= s_queued_due (self))
        s_check_queued (self);
    if (now >= s_input_due (self))
        s_send_input (self);
}

//  --------------------------------------------------------------------------
//  Public methods

int rally_client_pollitems (rally_client_t *self, zmq_pollitem_t *items,
                            int max)
{
    assert (self && (items || max == 0));
    zsock_t *socks[] = { self->broker, self->game, self->sub };
    int count = 0;
    for (size_t i = 0; i < sizeof (socks) / sizeof (socks[0]); i++)
        if (socks[i] && count < max)
            items[count++] = (zmq_pollitem_t) {
                zsock_resolve (socks[i]), 0, ZMQ_POLLIN, 0 };
    return count;
}

int64_t rally_client_timeout (rally_client_t *self, int64_t now_ms)
{
    assert (self);
    int64_t due = now_ms + CLIENT_IDLE_MS;
    if (self->view.status == RALLY_CLIENT_FINDING)
        due = self->where_at;
    else
    if (self->view.status != RALLY_CLIENT_FAILED) {
        int64_t timers[] = { s_silence_due (self), self->ping_at,
                             s_queued_due (self), s_input_due (self) };
        due = INT64_MAX;
        for (size_t i = 0; i < sizeof (timers) / sizeof (timers[0]); i++)
            if (timers[i] < due)
                due = timers[i];
    }
    return due > now_ms? due - now_ms: 0;
}

void rally_client_pump (rally_client_t *self, int64_t now_ms)
{
    assert (self);
    self->now_ms = now_ms;
    s_read_broker (self);
    s_read_node (self, self->game, 1);
    s_read_node (self, self->sub, 2);
    s_run_timers (self);
}

void rally_client_set_intent (rally_client_t *self, int intent)
{
    assert (self);
    assert (intent >= -1 && intent <= 1);
    if (intent == self->view.intent)
        return;
    self->view.intent = intent;
    self->input_pending = true;
    if (self->now_ms >= s_input_due (self))
        s_send_input (self);
}

void rally_client_play_again (rally_client_t *self)
{
    assert (self);
    self->requeue_wanted = true;
    s_try_requeue (self);
}

const rally_view_t *rally_client_view (rally_client_t *self)
{
    assert (self);
    return &self->view;
}
