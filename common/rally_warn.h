/*  rally_warn - warnings about bad input, rate-limited.

    A server logs every request it refuses, but a flood of bad requests must
    not flood its log: a rally_warn_t lets at most burst lines through each
    second, then says how many it held back. Time is passed in, so the
    limit is tested without a clock.
*/
#ifndef RALLY_WARN_H_INCLUDED
#define RALLY_WARN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *prefix;         //  starts every line, as "prefix: ..."
    uint32_t burst;             //  lines let through each second
    int64_t window_ms;          //  when the current second began
    uint32_t count;             //  lines logged in it
    uint32_t held;              //  lines held back in it
} rally_warn_t;

//  Buffer size for rally_warn_peer: 8 bytes of id as hex, and a NUL.
#define RALLY_WARN_PEER_BUF 17

void rally_warn_init (rally_warn_t *self, const char *prefix, uint32_t burst);

//  Logs one line at warning level (zsys_warning) unless this second's
//  burst is spent. Returns true if the line was logged.
bool rally_warn (rally_warn_t *self, int64_t now_ms, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Ends the second if it is over, logging how many lines it held back.
//  rally_warn calls it; a timer calls it too, so the count is not left
//  unsaid when the flood stops.
void rally_warn_flush (rally_warn_t *self, int64_t now_ms);

//  The first bytes of a ZeroMQ routing id, as hex: enough to tell peers
//  apart in a log line. buf holds RALLY_WARN_PEER_BUF bytes.
void rally_warn_peer (const uint8_t *id, size_t size, char *buf);

#endif
