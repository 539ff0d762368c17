/*  watchers - who is watching which match. See watchers.h.

    A flat array, filled in order and scanned up to the last place taken:
    a node has a few spectators, and each tick counts them once per match
    it publishes; with none, counting costs nothing.
*/
#include "watchers.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t peer[WATCHERS_PEER_MAX];    //  routing id
    size_t peer_size;                   //  0: free
    uint32_t match;                     //  watched, 0 none
    int64_t heard;                      //  last watch
} watcher_t;

struct _watchers_t {
    watcher_t list[WATCHERS_MAX];       //  [0, used) taken, in arrival order
    size_t used;
};

watchers_t *watchers_new (void)
{
    return (watchers_t *) calloc (1, sizeof (watchers_t));
}

void watchers_destroy (watchers_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

bool watchers_heard (watchers_t *self, const uint8_t *peer, size_t peer_size,
                     uint32_t match, int64_t now)
{
    assert (self && (peer || !peer_size));
    if (peer_size == 0 || peer_size > WATCHERS_PEER_MAX)
        return false;
    watcher_t *slot = NULL, *stalest = NULL;
    for (size_t i = 0; i < self->used && !slot; i++) {
        watcher_t *w = &self->list[i];
        if (w->peer_size == peer_size && !memcmp (w->peer, peer, peer_size))
            slot = w;
        else
        if (!stalest || w->heard < stalest->heard)
            stalest = w;
    }
    if (!slot)
        slot = self->used < WATCHERS_MAX? &self->list[self->used++]: stalest;
    memcpy (slot->peer, peer, peer_size);
    slot->peer_size = peer_size;
    slot->match = match;
    slot->heard = now;
    return true;
}

uint32_t watchers_count (watchers_t *self, uint32_t match, int64_t now)
{
    assert (self);
    uint32_t count = 0;
    for (size_t i = 0; i < self->used && match; i++) {
        const watcher_t *w = &self->list[i];
        if (w->match == match && now - w->heard < WATCHERS_FRESH_MS)
            count++;
    }
    return count;
}
