/*  watchers - who is watching which match, for the spectator count.

    A spectator (rally-viewer --watch) sends `watch` with the match it shows
    every second or so; the node counts, per match, the spectators heard
    within WATCHERS_FRESH_MS. It is each node's own and is not replicated:
    after a failover spectators re-send to the new leader within a second.
    Pure, with injected time: no sockets, no clock.
*/
#ifndef WATCHERS_H_INCLUDED
#define WATCHERS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WATCHERS_MAX        1024    //  spectators tracked at once
#define WATCHERS_FRESH_MS   3000    //  a spectator unheard this long is gone
#define WATCHERS_PEER_MAX   32      //  bytes of a routing id kept

typedef struct _watchers_t watchers_t;

watchers_t *watchers_new (void);
void watchers_destroy (watchers_t **self_p);

//  The spectator with routing id peer watches match (0: only lists) at now.
//  A new spectator takes a free place, or the stalest one's when all are
//  taken. Returns false (and counts nothing) for an id too long to keep.
bool watchers_heard (watchers_t *self, const uint8_t *peer, size_t peer_size,
                     uint32_t match, int64_t now);

//  Spectators of match heard within WATCHERS_FRESH_MS of now.
uint32_t watchers_count (watchers_t *self, uint32_t match, int64_t now);

#endif
