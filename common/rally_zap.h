/*  rally_zap - the ZAP handler: who may connect to which plane.

    CZMQ's zauth applies one CURVE policy to every socket of the process:
    it reads the ZAP domain but never looks at it. A Rally server needs
    two policies side by side: any client key on its player endpoints
    (ZAP domain "player"), and only the cluster's own keys on its peer
    endpoints (domain "peer"). So this actor answers ZAP itself
    (inproc://zeromq.zap.01, RFC 27), knowing only those two domains:

      player  any CURVE key; the User-Id is the key in Z85, which the node
              binds a session to
      peer    only a member's key; the User-Id is the member's name
              ("node2", "broker1", "operator")

    Anything else is refused (400), and refusals are logged, at most
    RALLY_ZAP_LOG_BURST lines a second.
*/
#ifndef RALLY_ZAP_H_INCLUDED
#define RALLY_ZAP_H_INCLUDED

#include <czmq.h>

#define RALLY_ZAP_PLAYER    "player"
#define RALLY_ZAP_PEER      "peer"
#define RALLY_ZAP_LOG_BURST 10

//  Starts the handler with the members: a hash of Z85 public key -> name,
//  copied. There is one per process (one ZAP endpoint per context); NULL
//  if it cannot bind (another handler runs). Ready once it returns.
zactor_t *rally_zap_new (zhash_t *members);

#endif
