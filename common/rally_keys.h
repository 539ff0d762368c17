/*  rally_keys - CURVE keys, and which sockets use them how.

    Every ZeroMQ link of a cluster is CURVE (libzmq's, through CZMQ's
    zcert and zcertstore). There are two planes:

      peer    a node's heartbeat PUB and peer ROUTER (sync, ack, fetch,
              status), a broker's peer ROUTER (node_hb, status): only the
              members' keys may connect (ZAP domain "peer")
      player  a node's game ROUTER and state PUB, a broker's player ROUTER
              (where, ping): any key may connect (domain "player")

    A member (node, broker, operator) loads its own certificate (a zcert
    file, its secret in FILE_secret beside it) and the public certificates
    of every member: the files NAME.cert in the cluster's key directory
    (node1.cert, broker1.cert, operator.cert; rallyctl keys makes them).
    A player makes a key of its own for the process, and learns the
    servers' keys from that directory, a flag or a broker's answer.

    The plain-text mode (--insecure-plaintext) uses no CURVE at all; it
    marks every log line of the process.
*/
#ifndef RALLY_KEYS_H_INCLUDED
#define RALLY_KEYS_H_INCLUDED

#include "rally_cluster.h"
#include "rally_zap.h"

#define RALLY_KEYS_Z85_BUF  41      //  a Z85 key, 40 characters and NUL
#define RALLY_KEYS_CERT     "rally.cert"    //  own certificate's file name

typedef struct _rally_keys_t rally_keys_t;

//  A member of the cluster: its certificate at cert, the members' in
//  dir. NULL with a reason (what is missing and what to run) if either
//  cannot be read.
rally_keys_t *rally_keys_member_new (const char *dir, const char *cert,
                                     char *reason, size_t reason_size);

//  A player: a fresh key, and the public certificates in dir if there is
//  one (a missing dir is no error: the keys may come by flag).
rally_keys_t *rally_keys_player_new (const char *dir);

//  No CURVE anywhere; every log line of the process says so, after
//  program's name.
rally_keys_t *rally_keys_plaintext_new (const char *program);

//  A member program's keys: plain text if asked, else the certificate at
//  cert (--key), else $RALLY_KEY's, else DATA/rally.cert when data is
//  given, else the default for name. NULL with a reason.
rally_keys_t *rally_keys_open_member (const rally_cluster_t *cluster,
                                      const char *program, const char *name,
                                      const char *cert, const char *data,
                                      bool plaintext, char *reason,
                                      size_t reason_size);

void rally_keys_destroy (rally_keys_t **self_p);

bool rally_keys_plaintext (rally_keys_t *self);

//  Own public key in Z85, "" in plain text.
const char *rally_keys_public (rally_keys_t *self);

//  The public key of member name ("node2", "broker1"), or NULL.
const char *rally_keys_of (rally_keys_t *self, const char *name);

//  True if key (Z85) is a member's.
bool rally_keys_is_member (rally_keys_t *self, const char *key);

//  Makes sock (before it binds) a CURVE server on domain (RALLY_ZAP_PEER
//  or RALLY_ZAP_PLAYER), starting the ZAP handler the first time. Returns
//  0, or -1 (logged) if the handler cannot start.
int rally_keys_serve (rally_keys_t *self, zsock_t *sock, const char *domain);

//  Makes sock (before it connects) a CURVE client of the server whose key
//  is server_key (Z85). Returns 0, or -1 if the key is not a Z85 key.
int rally_keys_client (rally_keys_t *self, zsock_t *sock,
                       const char *server_key);

//  Where a member's own certificate is by default: DIR/../NAME/rally.cert
//  for the cluster's key directory DIR (the layout rallyctl keys makes).
void rally_keys_default_cert (const rally_cluster_t *cluster,
                              const char *name, char *buf, size_t size);

//  Reads a public key (Z85, 40 characters) from text, or from a zcert
//  file at that path. Returns 0, or -1.
int rally_keys_parse (const char *text, char *key);

//  True if key is 40 characters of Z85 that decode to 32 bytes.
bool rally_keys_valid (const char *key);

//  Makes the cluster's keys, keeping those already there: NAME.cert in the
//  key directory, and each member's own certificate in
//  ROOT/NAME/rally.cert (ROOT is the key directory's parent), for every
//  node and broker of cluster and for "operator". Says what it did on
//  out. Returns 0, or -1 with a reason.
int rally_keys_make (const rally_cluster_t *cluster, FILE *out,
                     char *reason, size_t reason_size);

#endif
