/*  node - one Rally game node: a zloop reactor around the lobby.

    The node binds a ROUTER for requests (join, resume, input, requeue,
    leave, ping, status), a PUB for match states (topic: the match id) and a
    PUB for heartbeats to other nodes (topic "hb"), and connects a DEALER to
    every broker. It ticks at a fixed rate kept by deadline, steps every
    match through the lobby, and publishes one state per match per tick.
    Bad input gets an error reply and a log line, and never delays a tick.

    For now a node is alone and leads in term 1; role, term and seq are kept
    as they will be when followers replicate the leader.
*/
#ifndef NODE_H_INCLUDED
#define NODE_H_INCLUDED

#include "rally_cluster.h"
#include "rally_keys.h"

typedef struct _node_t node_t;

typedef struct {
    rally_cluster_t cluster;    //  brokers, nodes, timings, game settings
    uint32_t id;                //  this node's id; its endpoints are there
    char data[256];             //  data directory, "" for none (memory)
    //  What players are told to connect to, where that differs from what
    //  the node binds and peers use (a container's published ports); ""
    //  for the node's own endpoints.
    char advertise_game[RALLY_ENDPOINT_BUF];
    char advertise_state[RALLY_ENDPOINT_BUF];
    bool verbose;               //  log every message at debug level
    rally_keys_t *keys;         //  own and members' keys (the caller's)
} node_config_t;

//  Binds and connects every socket. NULL (with a log line) if the node's id
//  is not in the cluster, a setting is out of range or a bind fails.
node_t *node_new (const node_config_t *cfg);

//  Closes every socket; safe on NULL, nulls *self_p.
void node_destroy (node_t **self_p);

//  Runs the reactor until SIGINT or SIGTERM. Returns 0, or -1 on an
//  internal error.
int node_run (node_t *self);

#endif
