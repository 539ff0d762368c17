/*  rally_zap - the ZAP handler. See rally_zap.h. */
#include "rally_zap.h"

#include <string.h>

typedef struct {
    zsock_t *pipe;              //  to the actor's owner
    zsock_t *handler;           //  REP on the ZAP endpoint
    zhash_t *members;           //  Z85 key -> name
    int64_t window_ms;          //  refusals logged this second
    uint32_t logged, held;
} zap_t;

static void s_log_refusal (zap_t *self, const char *domain,
                           const char *address, const char *key)
{
    int64_t now = zclock_mono ();
    if (now - self->window_ms >= 1000) {
        if (self->held)
            zsys_warning ("rally-zap: %u more refusals held back", self->held);
        self->window_ms = now;
        self->logged = self->held = 0;
    }
    if (self->logged++ < RALLY_ZAP_LOG_BURST)
        zsys_warning ("rally-zap: refused %s on the %s plane: not a member's "
                      "key (%s)", address, domain, key);
    else
        self->held++;
}

//  One request: version, id, domain, address, identity, mechanism, then
//  the credentials (for CURVE, the client's 32-byte public key).
static void s_answer (zap_t *self, zmsg_t *request)
{
    char *version = zmsg_popstr (request);
    char *sequence = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credential = zmsg_pop (request);
    char key[41] = "";
    if (mechanism && streq (mechanism, "CURVE") && credential
        && zframe_size (credential) == 32)
        zmq_z85_encode (key, zframe_data (credential), 32);
    const char *user = NULL;
    if (*key && domain && streq (domain, RALLY_ZAP_PLAYER))
        user = key;
    else
    if (*key && domain && streq (domain, RALLY_ZAP_PEER))
        user = (const char *) zhash_lookup (self->members, key);
    if (!user)
        s_log_refusal (self, domain ? domain : "?", address ? address : "?",
                       *key ? key : mechanism ? mechanism : "?");
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence ? sequence : "");
    zmsg_addstr (reply, user ? "200" : "400");
    zmsg_addstr (reply, user ? "OK" : "not allowed on this plane");
    zmsg_addstr (reply, user ? user : "");
    zmsg_addmem (reply, "", 0);
    zmsg_send (&reply, self->handler);
    zframe_destroy (&credential);
    zstr_free (&version);
    zstr_free (&sequence);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&identity);
    zstr_free (&mechanism);
}

typedef struct {
    zsock_t *handler;           //  bound by the owner, used by the actor
    zhash_t *members;
} zap_args_t;

static void s_actor (zsock_t *pipe, void *args)
{
    zap_args_t *given = (zap_args_t *) args;
    zap_t self = { .pipe = pipe, .handler = given->handler,
                   .members = given->members };
    free (given);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, self.handler, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == self.handler) {
            zmsg_t *request = zmsg_recv (self.handler);
            if (!request)
                break;
            s_answer (&self, request);
            zmsg_destroy (&request);
        }
        else {
            //  $TERM from the owner, or an interrupt
            zmsg_t *msg = which ? zmsg_recv (pipe) : NULL;
            zmsg_destroy (&msg);
            break;
        }
    }
    zpoller_destroy (&poller);
    zsock_destroy (&self.handler);
    zhash_destroy (&self.members);
}

zactor_t *rally_zap_new (zhash_t *members)
{
    assert (members);
    //  Bound here, so that a second handler in the process fails plainly
    //  instead of in the actor's thread; the actor takes it over.
    zsock_t *handler = zsock_new (ZMQ_REP);
    if (!handler || zsock_bind (handler, "inproc://zeromq.zap.01")) {
        zsys_error ("rally-zap: cannot bind the ZAP endpoint: %s",
                    zmq_strerror (zmq_errno ()));
        zsock_destroy (&handler);
        return NULL;
    }
    zap_args_t *args = (zap_args_t *) zmalloc (sizeof (zap_args_t));
    assert (args);
    args->handler = handler;
    args->members = zhash_dup (members);
    assert (args->members);
    return zactor_new (s_actor, args);
}
