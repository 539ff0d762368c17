/*  rally_limits - descriptor limit and refused connections. See the .h.  */
#include "rally_limits.h"

#include <sys/resource.h>

int rally_limits_raise_nofile (uint64_t *limit)
{
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl))
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit (RLIMIT_NOFILE, &rl)) {
            rl.rlim_cur = was;
            *limit = (uint64_t) was;
            return -1;
        }
    }
    *limit = (uint64_t) rl.rlim_cur;
    return 0;
}

zactor_t *rally_limits_monitor (zsock_t *sock)
{
    zactor_t *monitor = zactor_new (zmonitor, sock);
    if (!monitor)
        return NULL;
    zstr_sendx (monitor, "LISTEN", "ACCEPT_FAILED", NULL);
    zstr_sendx (monitor, "START", NULL);
    zsock_wait (monitor);
    return monitor;
}

bool rally_limits_monitor_read (zactor_t *monitor, int *err)
{
    //  [event name][value][endpoint]: value is the errno of the accept.
    zmsg_t *msg = zmsg_recv (monitor);
    if (!msg)
        return false;
    char *event = zmsg_popstr (msg);
    char *value = zmsg_popstr (msg);
    bool failed = event && streq (event, "ACCEPT_FAILED");
    if (failed)
        *err = value ? atoi (value) : 0;
    zstr_free (&event);
    zstr_free (&value);
    zmsg_destroy (&msg);
    return failed;
}
