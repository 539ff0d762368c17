/*  rally_warn - warnings about bad input, rate-limited. */
#include "rally_warn.h"

#include <czmq.h>

void rally_warn_init (rally_warn_t *self, const char *prefix, uint32_t burst)
{
    assert (self && prefix && burst > 0);
    *self = (rally_warn_t) { .prefix = prefix, .burst = burst };
}

void rally_warn_flush (rally_warn_t *self, int64_t now_ms)
{
    assert (self);
    if (now_ms - self->window_ms < 1000)
        return;
    if (self->held)
        zsys_warning ("%s: %" PRIu32 " more warnings held back", self->prefix,
                      self->held);
    self->window_ms = now_ms;
    self->count = 0;
    self->held = 0;
}

bool rally_warn (rally_warn_t *self, int64_t now_ms, const char *format, ...)
{
    assert (self && format);
    rally_warn_flush (self, now_ms);
    if (self->count == self->burst) {
        self->held++;
        return false;
    }
    self->count++;
    char line[512];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof (line), format, args);
    va_end (args);
    zsys_warning ("%s: %s", self->prefix, line);
    return true;
}

void rally_warn_peer (const uint8_t *id, size_t size, char *buf)
{
    assert (buf);
    if (size > (RALLY_WARN_PEER_BUF - 1) / 2)
        size = (RALLY_WARN_PEER_BUF - 1) / 2;
    for (size_t i = 0; i < size; i++)
        snprintf (buf + 2 * i, 3, "%02x", id[i]);
    buf[2 * size] = 0;
}
