/*  rally_watch - a spectator's session. See rally_watch.h.

    Two states: finding (asking the brokers, every RALLY_WATCH_WHERE_MS)
    and watching (a DEALER and a SUB on the leader). The watch request is
    both the spectator's keepalive, which the leader counts, and the
    question "which matches are under way", whose answer is the list.
*/
#include "rally_watch.h"
#include "rally_client.h"

#include <string.h>

struct _rally_watch_t {
    zsock_t *broker;                    //  DEALER to every broker
    size_t broker_count;
    zsock_t *game;                      //  DEALER to the leader, or NULL
    zsock_t *sub;                       //  SUB to its PUB, or NULL
    char subscribed[16];                //  topic subscribed, "" none
    int64_t now_ms;
    int64_t where_at;                   //  next where, while finding
    int64_t watch_at;                   //  next watch, while watching
    int64_t heard_ms;                   //  the leader last answered
    bool board_wanted;                  //  standings to send
    char board_name[RALLY_NAME_BUF];    //  whose record
    rally_watch_view_t view;
};

rally_watch_t *rally_watch_new (const rally_cluster_t *cluster, int64_t now_ms)
{
    assert (cluster);
    rally_watch_t *self = (rally_watch_t *) zmalloc (sizeof (rally_watch_t));
    self->broker = rally_msg_socket_new (ZMQ_DEALER);
    if (!self->broker) {
        free (self);
        return NULL;
    }
    zsock_set_sndhwm (self->broker, 4);
    zsock_set_immediate (self->broker, 1);
    //  CURVE as a player's: the process's key, the brokers' from the key
    //  directory (rally_client_config_defaults).
    rally_client_config_t cfg;
    rally_client_config_defaults (&cfg, cluster, "watch");
    rally_keys_t *keys = rally_client_keys ();
    for (size_t i = 0; i < cluster->broker_count; i++)
        if ((!rally_keys_plaintext (keys)
             && rally_keys_client (keys, self->broker, cfg.broker_keys[i]))
            || zsock_connect (self->broker, "%s", cluster->brokers[i])) {
            zsys_warning ("rally_watch: cannot connect to %s",
                          cluster->brokers[i]);
            rally_watch_destroy (&self);
            return NULL;
        }
    self->broker_count = cluster->broker_count;
    self->now_ms = now_ms;
    self->view.searching_ms = now_ms;
    self->where_at = now_ms;
    return self;
}

void rally_watch_destroy (rally_watch_t **self_p)
{
    assert (self_p);
    rally_watch_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->sub);
    zsock_destroy (&self->game);
    zsock_destroy (&self->broker);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Sending

static void s_send_where (rally_watch_t *self)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_WHERE);
    for (size_t i = 0; i < self->broker_count; i++)
        rally_msg_send (&msg, self->broker);
    self->view.tries++;
    self->where_at = self->now_ms + RALLY_WATCH_WHERE_MS;
}

static void s_send_standings (rally_watch_t *self);

static void s_send_watch (rally_watch_t *self)
{
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_WATCH);
    msg.u.watch.match = self->view.match;
    if (self->game)
        rally_msg_send (&msg, self->game);
    self->watch_at = self->now_ms + RALLY_WATCH_EVERY_MS;
    s_send_standings (self);        //  again, until a board comes
}

static void s_send_standings (rally_watch_t *self)
{
    if (!self->game || !self->board_wanted)
        return;
    rally_msg_t msg;
    rally_msg_init (&msg, RALLY_MSG_STANDINGS);
    snprintf (msg.u.standings.name, sizeof (msg.u.standings.name), "%s",
              self->board_name);
    rally_msg_send (&msg, self->game);
}

static void s_subscribe (rally_watch_t *self)
{
    if (!self->sub)
        return;
    if (self->subscribed[0])
        zsock_set_unsubscribe (self->sub, self->subscribed);
    self->subscribed[0] = 0;
    if (self->view.match) {
        rally_msg_match_topic (self->view.match, self->subscribed);
        zsock_set_subscribe (self->sub, self->subscribed);
    }
}

//  --------------------------------------------------------------------------
//  Finding and leaving the leader

static void s_find (rally_watch_t *self, const char *why)
{
    if (self->game)
        zsys_info ("rally_watch: %s; asking the brokers again", why);
    zsock_destroy (&self->game);
    zsock_destroy (&self->sub);
    self->subscribed[0] = 0;
    self->view.connected = false;
    self->view.node = 0;
    if (!self->view.searching_ms) {
        self->view.searching_ms = self->now_ms;
        self->view.tries = 0;
    }
    self->where_at = self->now_ms + 25;
}

static void s_connect (rally_watch_t *self, const rally_msg_leader_t *m)
{
    self->game = rally_msg_socket_new (ZMQ_DEALER);
    self->sub = rally_msg_socket_new (ZMQ_SUB);
    rally_keys_t *keys = rally_client_keys ();
    bool plain = rally_keys_plaintext (keys);
    if (!self->game || !self->sub
    ||  (!plain && rally_keys_client (keys, self->game, m->key))
    ||  (!plain && rally_keys_client (keys, self->sub, m->key))
    ||  zsock_connect (self->game, "%s", m->game)
    ||  zsock_connect (self->sub, "%s", m->state)) {
        zsys_warning ("rally_watch: cannot connect to %s / %s", m->game,
                      m->state);
        zsock_destroy (&self->game);
        zsock_destroy (&self->sub);
        return;
    }
    self->heard_ms = self->now_ms;
    self->view.node = m->from.node;
    self->view.term = m->from.term;
    s_subscribe (self);
    s_send_watch (self);
    s_send_standings (self);
}

//  --------------------------------------------------------------------------
//  Reading

static void s_on_matches (rally_watch_t *self, const rally_msg_matches_t *m)
{
    rally_watch_view_t *view = &self->view;
    view->connected = true;
    view->searching_ms = 0;
    view->tries = 0;
    view->node = m->from.node;
    view->term = m->from.term;
    view->waiting = m->waiting;
    view->count = m->count;
    memcpy (view->matches, m->matches, m->count * sizeof (m->matches[0]));
}

static void s_on_state (rally_watch_t *self, const rally_msg_state_t *m)
{
    rally_watch_view_t *view = &self->view;
    if (m->match != view->match)
        return;
    view->prev = view->last;
    view->prev_ms = view->last_ms;
    view->have_prev = view->have_state;
    view->last = *m;
    view->last_ms = self->now_ms;
    view->have_state = true;
}

//  One message off sock with frames frames, decoded into msg; false when
//  there is none or it does not decode (a spectator just skips it).
static bool s_read (zsock_t *sock, size_t frames, rally_msg_t *msg,
                    bool *got)
{
    *got = false;
    if (!sock || !(zsock_events (sock) & ZMQ_POLLIN))
        return false;
    zmsg_t *in = zmsg_recv (sock);
    if (!in)
        return false;
    char reason[RALLY_REASON_BUF];
    zframe_t *body = zmsg_last (in);
    *got = zmsg_size (in) == frames && body
        && rally_msg_decode (msg, zframe_data (body), zframe_size (body),
                             reason, sizeof reason) == 0;
    zmsg_destroy (&in);
    return true;
}

static void s_read_all (rally_watch_t *self)
{
    rally_msg_t *msg = (rally_msg_t *) zmalloc (sizeof (rally_msg_t));
    bool got;
    while (s_read (self->broker, 1, msg, &got))
        if (got && msg->type == RALLY_MSG_LEADER && !self->game)
            s_connect (self, &msg->u.leader);
    while (s_read (self->game, 1, msg, &got)) {
        if (!got)
            continue;
        self->heard_ms = self->now_ms;
        if (msg->type == RALLY_MSG_MATCHES)
            s_on_matches (self, &msg->u.matches);
        else
        if (msg->type == RALLY_MSG_BOARD) {
            self->board_wanted = false;
            self->view.board = msg->u.board;
            self->view.have_board = true;
        }
        else
        if (msg->type == RALLY_MSG_LEADER
        || (msg->type == RALLY_MSG_ERROR
            && streq (msg->u.error.code, "not_leader"))) {
            s_find (self, "the node does not lead");
            break;
        }
    }
    while (s_read (self->sub, 2, msg, &got))
        if (got && msg->type == RALLY_MSG_STATE)
            s_on_state (self, &msg->u.state);
        else
        if (got && msg->type == RALLY_MSG_CROWD
        &&  msg->u.crowd.match == self->view.match) {
            self->view.spectators = msg->u.crowd.spectators;
            self->view.grace_ms = msg->u.crowd.grace_ms;
            self->view.grace_heard_ms = self->now_ms;
        }
    free (msg);
}

//  --------------------------------------------------------------------------
//  Public methods

int rally_watch_pollitems (rally_watch_t *self, zmq_pollitem_t *items, int max)
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

int64_t rally_watch_timeout (rally_watch_t *self, int64_t now_ms)
{
    assert (self);
    int64_t due = self->game? self->watch_at: self->where_at;
    if (self->game && self->heard_ms + RALLY_WATCH_SILENT_MS < due)
        due = self->heard_ms + RALLY_WATCH_SILENT_MS;
    return due > now_ms? due - now_ms: 0;
}

void rally_watch_pump (rally_watch_t *self, int64_t now_ms)
{
    assert (self);
    self->now_ms = now_ms;
    s_read_all (self);
    if (!self->game) {
        if (now_ms >= self->where_at)
            s_send_where (self);
    }
    else
    if (now_ms - self->heard_ms >= RALLY_WATCH_SILENT_MS)
        s_find (self, "the leader went quiet");
    else
    if (now_ms >= self->watch_at)
        s_send_watch (self);
}

void rally_watch_show (rally_watch_t *self, uint32_t match)
{
    assert (self);
    if (match == self->view.match)
        return;
    self->view.match = match;
    self->view.have_state = false;
    self->view.have_prev = false;
    self->view.spectators = 0;
    self->view.grace_ms = 0;
    s_subscribe (self);
    s_send_watch (self);        //  counted at once where it is played
}

void rally_watch_ask_board (rally_watch_t *self, const char *name)
{
    assert (self && name);
    snprintf (self->board_name, sizeof (self->board_name), "%s", name);
    self->board_wanted = true;
    self->view.have_board = false;
    s_send_standings (self);
}

const rally_watch_view_t *rally_watch_view (rally_watch_t *self)
{
    assert (self);
    return &self->view;
}
