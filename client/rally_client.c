/*  rally_client - one player's session with a Rally cluster. See
    rally_client.h; the conversation is in docs/who-says-what.md.

    The session is a small state machine driven from outside: the caller
    polls our sockets and calls rally_client_pump() with the monotonic time,
    which reads every pending message (one s_handle_* per message type) and
    then runs the timers (where, ping, input re-send, silence). No function
    here reads a clock or blocks: sends use a zero send timeout and are
    dropped rather than waited for, since every request is re-sent by a
    timer or is harmless to lose.

    The node's silence is the failure detector. Any frame from the node, on
    the DEALER or the SUB, counts as hearing it; in a match, where states
    come every tick, play_silence_ms of quiet is enough, elsewhere (pings
    every ping_ms) it takes silence_ms. Then the node sockets are closed,
    the brokers are asked again, and the session resumes with its token
    wherever the leader now is. A node that knows it does not lead says so
    (a `leader` naming another node, or `not_leader`), which moves the
    session at once, without waiting for a silence.
*/
#include "rally_client.h"

#include <inttypes.h>
#include <string.h>

#define CLIENT_EVENTS_MAX       64      //  events held between pumps
#define CLIENT_SILENCE_MS       800     //  default silence_ms
#define CLIENT_PLAY_SILENCE_MS  150     //  default play_silence_ms
#define CLIENT_PING_MS          200     //  default ping_ms
#define CLIENT_WHERE_MS         500     //  where is re-sent this often
#define CLIENT_RETRY_MS         25      //  where again this soon after
                                        //  no_leader or a send nobody took;
                                        //  nodes never changed faster
#define CLIENT_RECONNECT_MS     10      //  node sockets redial this often
#define CLIENT_INPUT_MS         100     //  intent re-sent this often (loss)
#define CLIENT_INPUT_GAP_MS     20      //  inputs never closer than this,
                                        //  to stay under the node's 60/s
#define CLIENT_IDLE_MS          1000    //  timeout when no timer runs
#define CLIENT_LEAVE_LINGER_MS  200     //  time given to a last leave
#define CLIENT_BROKER_HWM       4       //  wheres queued for one broker
#define CLIENT_QUEUED_QUIET_MS  3000    //  no place in the queue this long:
                                        //  ask the node if it knows us

//  What a node's answer asks of the session. It is acted on once the
//  node's sockets are no longer being read, since it closes them.
typedef enum {
    CLIENT_STAY = 0,
    CLIENT_ASK,                         //  ask the brokers for the leader
    CLIENT_ASK_LATER,                   //  the same, after CLIENT_WHERE_MS
    CLIENT_GO                           //  go to the leader in go_to
} client_move_t;

struct _rally_client_t {
    rally_client_config_t cfg;          //  as given; strings point below
    char broker_eps[RALLY_CLUSTER_BROKERS_MAX][RALLY_ENDPOINT_BUF];
                                        //  copies of cfg.brokers
    char name[RALLY_NAME_BUF];          //  copy of cfg.name
    zsock_t *broker;                    //  DEALER to every broker, always open
    zsock_t *game;                      //  DEALER to the node, NULL if none
    zsock_t *sub;                       //  SUB to the node's PUB, or NULL
    char game_ep[RALLY_ENDPOINT_BUF];   //  game's endpoint, "" if none
    char state_ep[RALLY_ENDPOINT_BUF];  //  sub's endpoint, "" if none
    bool subscribed;                    //  sub has view.match's topic
    int64_t connected_ms;               //  when game and sub were opened
    bool answered;                      //  a frame came from them since
    client_move_t move;                 //  asked by the node just read
    uint32_t retry_ms;                  //  a busy node's wait, for the
                                        //  next CLIENT_ASK_LATER, or 0
    rally_msg_leader_t go_to;           //  the leader a node named
    bool going;                         //  finding: go to go_to at where_at
    rally_view_t view;                  //  what the caller sees
    bool have_token;                    //  token is valid
    uint8_t token[RALLY_TOKEN_SIZE];    //  session token from joined
    bool announced;                     //  JOINED event given
    bool resuming;                      //  resume sent, no joined back yet
    rally_client_status_t resume_status;    //  status to resume into
    bool ended;                         //  MATCH_END given for view.match
    bool requeue_wanted;                //  play again once the node hears
    uint32_t told_position;             //  last QUEUED position given, 0 none
    bool have_tick;                     //  a state of view.match came
    uint32_t last_tick;                 //  tick of the last one, to log a
                                        //  step back
    uint32_t score[2];                  //  score as last taken
    int64_t now_ms;                     //  time of the latest pump
    int64_t tried_ms;                   //  when tries last grew
    int64_t where_at;                   //  next where (or go), while
                                        //  finding or probing
    int64_t ping_at;                    //  next ping to the node
    int64_t heard_ms;                   //  node last heard
    int64_t input_at;                   //  next re-send of the intent
    int64_t input_sent_ms;              //  last input sent
    bool input_pending;                 //  intent changed, not sent yet
    int64_t queued_heard_ms;            //  last queued message, or check
    int64_t lost_ms;                    //  reconnect: last state before
                                        //  the silence, or frame if none
    bool lost_in_match;                 //  reconnect: ends back in the
                                        //  match, not at joined
    int64_t back_ms;                    //  reconnect: first state of the
                                        //  match since, 0 if none yet
    bool rejoined;                      //  reconnect: the node has put us
                                        //  back in the match
    rally_event_t events[CLIENT_EVENTS_MAX];    //  ring of pending events
    size_t event_head;                  //  oldest event
    size_t event_count;                 //  events in the ring
};

static void s_send_where (rally_client_t *self);

//  One key for the whole process: a session bound to it survives any
//  reconnection, and a token alone, without it, is worth nothing.
static rally_keys_t *s_keys;
static rally_keys_t *s_process_keys (void);

void rally_client_set_keys (rally_keys_t *keys)
{
    s_keys = keys;
}

rally_keys_t *rally_client_keys (void)
{
    return s_process_keys ();
}

static rally_keys_t *s_process_keys (void)
{
    if (!s_keys) {
        static rally_keys_t *made;
        made = rally_keys_player_new (NULL);
        s_keys = made;
    }
    return s_keys;
}

//  --------------------------------------------------------------------------
//  Configuration, constructor and destructor

void rally_client_config_defaults (rally_client_config_t *cfg,
                                   const rally_cluster_t *cluster,
                                   const char *name)
{
    assert (cfg && cluster);
    *cfg = (rally_client_config_t) {
        .name = name,
        .silence_ms = CLIENT_SILENCE_MS,
        .play_silence_ms = CLIENT_PLAY_SILENCE_MS,
        .ping_ms = CLIENT_PING_MS,
        .auto_requeue = false,
    };
    const char *fallback = getenv ("RALLY_BROKER_KEY");
    for (size_t i = 0; i < cluster->broker_count
                    && i < RALLY_CLUSTER_BROKERS_MAX; i++) {
        char path[RALLY_CLUSTER_PATH_BUF + 32];
        snprintf (path, sizeof (path), "%s/broker%u.cert", cluster->keys,
                  cluster->broker_index[i]);
        char *key = cfg->broker_keys[cfg->broker_count];
        bool found = cluster->broker_index[i]
                  && rally_keys_parse (path, key) == 0;
        if (!found && (!fallback || rally_keys_parse (fallback, key)))
            *key = 0;
        cfg->brokers[cfg->broker_count++] = cluster->brokers[i];
    }
}

static int s_connect_to (zsock_t *sock, const char *endpoint)
{
    int rc = zsock_connect (sock, "%s", endpoint);
    if (rc)
        zsys_warning ("rally_client: cannot connect to %s", endpoint);
    return rc;
}

//  One DEALER to every broker. With ZMQ_IMMEDIATE it deals requests only
//  to brokers it is connected to: a dead broker is skipped, not sent a
//  backlog to answer when it comes back. NULL if an endpoint is refused.
static zsock_t *s_broker_socket (rally_client_t *self)
{
    zsock_t *sock = rally_msg_socket_new (ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_sndhwm (sock, CLIENT_BROKER_HWM);
    zsock_set_immediate (sock, 1);
    rally_keys_t *keys = s_process_keys ();
    for (size_t i = 0; sock && i < self->cfg.broker_count; i++) {
        //  One DEALER, many brokers: the server key is set per connect.
        if (!rally_keys_plaintext (keys)
            && rally_keys_client (keys, sock, self->cfg.broker_keys[i])) {
            zsys_warning ("rally_client: no public key for the broker at %s;"
                          " skipped (see --broker-key)", self->cfg.brokers[i]);
            continue;
        }
        if (s_connect_to (sock, self->cfg.brokers[i]))
            zsock_destroy (&sock);
    }
    //  With no broker usable the session goes on looking, and has said why.
    return sock;
}

//  A socket to a node, NULL if the endpoint is refused. It redials often:
//  a node that restarts on the same endpoints is heard again well within
//  the silence that would send the session looking elsewhere.
static zsock_t *s_node_socket (int type, const char *endpoint,
                               const char *key)
{
    zsock_t *sock = rally_msg_socket_new (type);
    if (!sock)
        return NULL;
    zsock_set_reconnect_ivl (sock, CLIENT_RECONNECT_MS);
    rally_keys_t *keys = s_process_keys ();
    if (!rally_keys_plaintext (keys) && rally_keys_client (keys, sock, key)) {
        zsys_warning ("rally_client: no valid key for the node at %s",
                      endpoint);
        zsock_destroy (&sock);
    }
    else
    if (s_connect_to (sock, endpoint))
        zsock_destroy (&sock);
    return sock;
}

//  True if cfg's brokers can be copied: at least one, none too long.
static bool s_brokers_valid (const rally_client_config_t *cfg)
{
    if (cfg->broker_count == 0 || cfg->broker_count > RALLY_CLUSTER_BROKERS_MAX)
        return false;
    for (size_t i = 0; i < cfg->broker_count; i++)
        if (!cfg->brokers[i] || strlen (cfg->brokers[i]) > RALLY_ENDPOINT_MAX)
            return false;
    return true;
}

rally_client_t *rally_client_new (const rally_client_config_t *cfg,
                                  int64_t now_ms)
{
    assert (cfg);
    char reason[RALLY_REASON_BUF];
    if (!s_brokers_valid (cfg) || !cfg->name
    ||  !rally_msg_name_valid (cfg->name, reason, sizeof (reason)))
        return NULL;
    rally_client_t *self = (rally_client_t *) zmalloc (sizeof (rally_client_t));
    if (!self)
        return NULL;
    self->cfg = *cfg;
    for (size_t i = 0; i < cfg->broker_count; i++) {
        snprintf (self->broker_eps[i], sizeof (self->broker_eps[i]), "%s",
                  cfg->brokers[i]);
        self->cfg.brokers[i] = self->broker_eps[i];
    }
    snprintf (self->name, sizeof (self->name), "%s", cfg->name);
    self->cfg.name = self->name;
    if (self->cfg.silence_ms <= 0)
        self->cfg.silence_ms = CLIENT_SILENCE_MS;
    if (self->cfg.play_silence_ms <= 0)
        self->cfg.play_silence_ms = CLIENT_PLAY_SILENCE_MS;
    if (self->cfg.ping_ms <= 0)
        self->cfg.ping_ms = CLIENT_PING_MS;

    self->broker = s_broker_socket (self);
    if (!self->broker) {
        free (self);
        return NULL;
    }

    self->view.status = RALLY_CLIENT_FINDING;
    self->view.side = -1;
    self->view.rtt_ms = -1;
    self->view.searching_ms = now_ms;
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

//  One where for each broker: the DEALER deals them round the brokers it
//  is connected to, so every live one is asked and the first answer wins.
//  If it is connected to none yet, nothing goes: try again soon.
static void s_send_where (rally_client_t *self)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_WHERE);
    size_t sent = 0;
    for (size_t i = 0; i < self->cfg.broker_count; i++)
        if (rally_msg_send (&msg, self->broker) == 0)
            sent++;
    //  A try is a question sent, or, with no broker connected to send it
    //  to, one where period spent waiting for one.
    if (sent || self->now_ms - self->tried_ms >= CLIENT_WHERE_MS) {
        self->view.tries++;
        self->tried_ms = self->now_ms;
    }
    self->where_at = self->now_ms + (sent? CLIENT_WHERE_MS: CLIENT_RETRY_MS);
}

//  Brings the next where forward to CLIENT_RETRY_MS from now: a broker
//  answered, so none is outstanding, and the answer may soon change.
static void s_ask_soon (rally_client_t *self)
{
    if (self->where_at > self->now_ms + CLIENT_RETRY_MS)
        self->where_at = self->now_ms + CLIENT_RETRY_MS;
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
    self->game_ep[0] = 0;
    self->state_ep[0] = 0;
    self->subscribed = false;
}

static bool s_is_current (rally_client_t *self, const rally_msg_leader_t *m)
{
    return self->game && streq (m->game, self->game_ep)
        && streq (m->state, self->state_ep);
}

//  Reconnecting, and the node we went to has not answered yet. It may be
//  the one that just died, named by a broker whose lease for it has not
//  run out: the brokers are asked again until it answers, and one that
//  names another node sends us there.
static bool s_probing (rally_client_t *self)
{
    return self->view.reconnecting && !self->answered
        && self->view.status == RALLY_CLIENT_JOINING;
}

//  Opens sockets to a node and picks the session up there: resume with
//  the token, or join. The match's topic is subscribed before the resume
//  goes, so its states flow from the node's first tick after it. from is
//  the leader as a broker named it; node 0 until the node says itself.
static void s_connect (rally_client_t *self, const char *game_ep,
                       const char *state_ep, const char *key,
                       const rally_origin_t *from)
{
    zsock_t *game = s_node_socket (ZMQ_DEALER, game_ep, key);
    zsock_t *sub = s_node_socket (ZMQ_SUB, state_ep, key);
    if (!game || !sub) {
        zsock_destroy (&game);
        zsock_destroy (&sub);
        return;     //  the brokers are asked again on time
    }
    self->game = game;
    self->sub = sub;
    snprintf (self->game_ep, sizeof (self->game_ep), "%s", game_ep);
    snprintf (self->state_ep, sizeof (self->state_ep), "%s", state_ep);
    self->subscribed = false;
    s_subscribe (self);
    self->view.node = from->node;
    self->view.term = from->term;
    self->view.status = RALLY_CLIENT_JOINING;
    self->heard_ms = self->now_ms;
    self->connected_ms = self->now_ms;
    self->answered = false;
    self->where_at = self->now_ms + CLIENT_RETRY_MS;    //  if probing
    if (self->have_token) {
        self->resuming = true;
        s_send_token (self, RALLY_MSG_RESUME);
    }
    else
        s_send_join (self);
    s_send_ping (self);
}

//  The finding timer: go to the leader a node named, or ask the brokers.
static void s_find_due (rally_client_t *self)
{
    if (self->going) {
        rally_origin_t unknown = { 0, 0 };
        self->going = false;
        self->where_at = self->now_ms;  //  if the node named a bad endpoint
        s_connect (self, self->go_to.game, self->go_to.state,
                   self->go_to.key, &unknown);
    }
    else
        s_send_where (self);
}

//  Lets the node go and, at time at, asks the brokers for the leader, or
//  goes to the one a node named (when going).
static void s_find_leader (rally_client_t *self, int64_t at, bool going)
{
    s_close_node (self);
    self->resuming = false;
    self->going = going;
    self->view.node = 0;
    self->view.status = RALLY_CLIENT_FINDING;
    self->where_at = at;
    if (self->now_ms >= at)
        s_find_due (self);
}

//  The session leaves its node. What the reconnect event needs is noted
//  once, however many nodes are tried before one takes the session back:
//  in a match, the player sees states stop and start again; elsewhere,
//  the node fall quiet and answer again.
static void s_leave_node (rally_client_t *self)
{
    rally_view_t *view = &self->view;
    if (!self->have_token || view->reconnecting)
        return;
    view->reconnecting = true;
    view->lost_node = view->node;
    view->searching_ms = self->now_ms;
    view->tries = 0;
    self->resume_status = view->status == RALLY_CLIENT_FINDING
                        ? RALLY_CLIENT_JOINING: view->status;
    self->lost_in_match = view->status == RALLY_CLIENT_PLAYING
                       && view->have_state;
    self->lost_ms = self->lost_in_match? view->last_ms: self->heard_ms;
    self->back_ms = 0;
    self->rejoined = false;
}

//  The session is back on a node: the reconnect event, once. The player
//  was away from lost_ms to back_ms.
static void s_reconnected (rally_client_t *self, const rally_origin_t *to,
                           int64_t back_ms)
{
    rally_event_t *ev = s_event (self, RALLY_EVENT_RECONNECT);
    ev->gap_ms = back_ms - self->lost_ms;
    ev->from_node = self->view.lost_node;
    ev->to_node = to->node;
    ev->term = to->term;
    zsys_info ("rally_client: %s: back on node %u (term %" PRIu64 ") after"
               " %" PRId64 " ms away from node %u", self->name, to->node,
               to->term, ev->gap_ms, ev->from_node);
    self->view.reconnecting = false;
    self->view.lost_node = 0;
}

//  The node went quiet: let it go and find the leader again.
static void s_lost (rally_client_t *self)
{
    zsys_info ("rally_client: %s: node %u silent for %d ms, finding the leader",
               self->name, self->view.node,
               (int) (self->now_ms - self->heard_ms));
    s_leave_node (self);
    s_find_leader (self, self->now_ms, false);
}

//  Acts on what the node just read asked for. Never sooner than
//  CLIENT_RETRY_MS after the last move, so that nodes (or a node and a
//  broker) that keep sending us round are not followed in a tight loop.
static void s_move (rally_client_t *self)
{
    client_move_t move = self->move;
    self->move = CLIENT_STAY;
    s_leave_node (self);
    int64_t at = self->connected_ms + CLIENT_RETRY_MS;
    if (move == CLIENT_ASK_LATER)
        at = self->now_ms + (self->retry_ms ? self->retry_ms : CLIENT_WHERE_MS);
    self->retry_ms = 0;
    s_find_leader (self, at, move == CLIENT_GO);
}

//  --------------------------------------------------------------------------
//  Messages from the brokers

static void s_handle_leader (rally_client_t *self, const rally_msg_leader_t *m)
{
    if (self->view.status == RALLY_CLIENT_FINDING && !self->going)
        s_connect (self, m->game, m->state, m->key, &m->from);
    else
    if (s_probing (self) && s_is_current (self, m))
        s_ask_soon (self);
    else
    if (s_probing (self)) {
        zsys_info ("rally_client: %s: node at %s does not answer; a broker"
                   " names %s", self->name, self->game_ep, m->game);
        s_find_leader (self, self->now_ms + CLIENT_RETRY_MS, false);
        s_connect (self, m->game, m->state, m->key, &m->from);
    }
    //  Else an answer to an earlier where, or one we no longer wait for.
}

static void s_handle_broker_error (rally_client_t *self,
                                   const rally_msg_error_t *m)
{
    //  No leader just now (an election, or nodes still starting): ask
    //  again soon, unless the answer comes too late to matter.
    if (streq (m->code, "no_leader")) {
        if ((self->view.status == RALLY_CLIENT_FINDING && !self->going)
        ||  s_probing (self)) {
            snprintf (self->view.error, sizeof (self->view.error), "%s",
                      m->reason);
            s_ask_soon (self);
        }
    }
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
    self->view.searching_ms = 0;
    self->view.tries = 0;
    snprintf (self->view.name, sizeof (self->view.name), "%s", m->name);
    self->view.node = m->from.node;
    self->view.term = m->from.term;
    if (!self->announced) {
        self->announced = true;
        s_event (self, RALLY_EVENT_JOINED);
    }
    //  Back to the match we left, the session is back once the node puts
    //  us in it again and a state of it has come (s_back_in_match);
    //  anywhere else (a queue, a match over, a fresh join after the node
    //  forgot us), with this answer.
    bool states_follow = self->resuming && self->lost_in_match
                      && m->match && m->match == self->view.match;
    if (self->view.reconnecting && !states_follow)
        s_reconnected (self, &m->from, self->now_ms);
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
    self->view.spectators = 0;
    self->view.grace_ms = 0;
    self->ended = false;
    self->have_tick = false;
    self->last_tick = 0;
    self->score[0] = self->score[1] = 0;
    self->told_position = 0;
    self->requeue_wanted = false;
}

//  Reconnecting to a match: the player is back when the node has put us
//  in it again and its states flow, which may come in either order; what
//  it saw was the pause until the first of those states.
static void s_back_in_match (rally_client_t *self, const rally_origin_t *to)
{
    if (self->view.reconnecting && self->lost_in_match
    &&  self->rejoined && self->back_ms)
        s_reconnected (self, to, self->back_ms);
}

static void s_handle_match (rally_client_t *self, const rally_msg_match_t *m)
{
    if (m->match == self->view.match) {
        //  The same match again, after a resume: carry on where we were.
        self->view.status = self->ended? RALLY_CLIENT_ENDED: RALLY_CLIENT_PLAYING;
        s_subscribe (self);
        s_try_requeue (self);
        self->rejoined = true;
        s_back_in_match (self, &m->from);
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

//  Every state of the match is taken and passed on, even one behind the
//  last: a leader that took over from an earlier tick must be seen to by
//  whoever checks. A renderer skips those; points and the end are counted
//  once, from the highest score seen.
static void s_handle_state (rally_client_t *self, const rally_msg_state_t *m)
{
    if (!self->view.match || m->match != self->view.match)
        return;
    if (self->have_tick && m->tick < self->last_tick)
        zsys_warning ("rally_client: %s: match %u went back from tick %u to"
                      " %u (node %u, term %" PRIu64 ")", self->name, m->match,
                      self->last_tick, m->tick, m->from.node, m->from.term);
    self->have_tick = true;
    self->last_tick = m->tick;
    rally_view_t *view = &self->view;
    view->node = m->from.node;
    view->term = m->from.term;
    if (view->reconnecting && self->lost_in_match && !self->back_ms)
        self->back_ms = self->now_ms;
    s_back_in_match (self, &m->from);
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

static void s_handle_crowd (rally_client_t *self, const rally_msg_crowd_t *m)
{
    if (!self->view.match || m->match != self->view.match)
        return;
    self->view.spectators = m->spectators;
    self->view.grace_ms = m->grace_ms;
    self->view.grace_heard_ms = self->now_ms;
}

static void s_handle_pong (rally_client_t *self, const rally_msg_pong_t *m)
{
    if (m->nonce <= (uint64_t) self->now_ms)
        self->view.rtt_ms = self->now_ms - (int64_t) m->nonce;
}

//  A node that does not lead names the leader it knows. If that is the
//  node itself, it has lost track: the brokers will know.
static void s_handle_redirect (rally_client_t *self,
                               const rally_msg_leader_t *m)
{
    zsys_info ("rally_client: %s: node %u does not lead; it names %s",
               self->name, m->from.node, m->game);
    if (s_is_current (self, m))
        self->move = CLIENT_ASK;
    else {
        self->move = CLIENT_GO;
        self->go_to = *m;
    }
}

static void s_handle_error (rally_client_t *self, const rally_msg_error_t *m)
{
    if (streq (m->code, "bad_name") || streq (m->code, "name_taken")) {
        self->view.status = RALLY_CLIENT_FAILED;
        s_error_event (self, m->code, m->reason);
    }
    else
    if (streq (m->code, "not_leader")) {
        zsys_info ("rally_client: %s: node %u does not lead and knows no"
                   " leader", self->name, m->from.node);
        self->move = CLIENT_ASK;
    }
    else
    if (streq (m->code, "unavailable")) {
        s_error_event (self, m->code, m->reason);
        self->move = CLIENT_ASK_LATER;
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

//  A join refused for now (the node is full, or holds as many players
//  from our address as it takes): said, and tried again when the node
//  asks, from the broker on, since the leader may have changed meanwhile.
static void s_handle_busy (rally_client_t *self, const rally_msg_busy_t *m)
{
    char reason[RALLY_REASON_BUF];
    snprintf (reason, sizeof (reason), "%.120s; joining again in %u ms",
              m->reason, m->retry_ms);
    s_error_event (self, m->code, reason);
    self->retry_ms = m->retry_ms;
    self->move = CLIENT_ASK_LATER;
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
        case RALLY_MSG_CROWD: s_handle_crowd (self, &msg->u.crowd); break;
        case RALLY_MSG_PONG: s_handle_pong (self, &msg->u.pong); break;
        case RALLY_MSG_ERROR: s_handle_error (self, &msg->u.error); break;
        case RALLY_MSG_BUSY: s_handle_busy (self, &msg->u.busy); break;
        case RALLY_MSG_LEADER: s_handle_redirect (self, &msg->u.leader); break;
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

//  Reads from the node's DEALER or SUB. Handlers never close them (a move
//  waits for s_move), so sock stays valid through the loop; once a move
//  is asked for, what else the node says no longer matters.
static void s_read_node (rally_client_t *self, zsock_t *sock, size_t frames)
{
    rally_msg_t msg;
    bool decoded;
    while (sock && !self->move
    &&     s_read_one (self, sock, frames, &msg, &decoded)) {
        self->heard_ms = self->now_ms;
        self->answered = true;
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

//  States come every tick in a match, so a quiet node is noticed sooner
//  there; so too on the way back to one, where every ms shows.
static int64_t s_silence_due (rally_client_t *self)
{
    bool in_match = self->view.status == RALLY_CLIENT_PLAYING
                 || (self->view.reconnecting && self->lost_in_match);
    return self->heard_ms + 1
         + (in_match? self->cfg.play_silence_ms: self->cfg.silence_ms);
}

static int64_t s_where_due (rally_client_t *self)
{
    return self->view.status == RALLY_CLIENT_FINDING || s_probing (self)
         ? self->where_at: INT64_MAX;
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
            s_find_due (self);
        return;
    }
    if (now >= s_silence_due (self)) {
        s_lost (self);
        return;
    }
    if (now >= s_where_due (self))
        s_send_where (self);
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
                             s_queued_due (self), s_input_due (self),
                             s_where_due (self) };
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
    if (self->move)
        s_move (self);
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
