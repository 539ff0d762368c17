/*  rally_limits - what a server asks of the system at start, and watches.

    A node or broker holds a descriptor per connection, so the soft limit
    on descriptors (often 1,024) caps its players long before anything
    else does. rally_limits_raise_nofile lifts it to the hard limit. A
    connection refused because descriptors ran out leaves no trace in
    ZeroMQ's API; rally_limits_monitor watches a listening socket for
    refused connections (accept failures) with CZMQ's zmonitor, so the
    server can log them.
*/
#ifndef RALLY_LIMITS_H_INCLUDED
#define RALLY_LIMITS_H_INCLUDED

#include <czmq.h>

//  Raises the soft RLIMIT_NOFILE to the hard one. Returns 0 with the limit
//  now in force in *limit, or -1 (errno set) leaving it as it was.
int rally_limits_raise_nofile (uint64_t *limit);

//  A zmonitor actor reporting sock's failed accepts: read it with
//  rally_limits_monitor_read. NULL if it cannot start.
zactor_t *rally_limits_monitor (zsock_t *sock);

//  Reads one event from the monitor: true and the errno of the failed
//  accept in *err if it was one.
bool rally_limits_monitor_read (zactor_t *monitor, int *err);

#endif
