/*  rally_cluster - the cluster file. See rally_cluster.h and config/README.md.

    The loader is strict on purpose: a misspelt key in a cluster file would
    otherwise leave a default in place without a word, and an operator would
    chase a timing that is not the one they wrote.
*/
#include "rally_cluster.h"
#include "rally_parse.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  A timing or game setting: its key in the file, its environment
//  variable, where it lives in the struct and its range.
typedef struct {
    const char *section;
    const char *key;
    const char *env;            //  NULL: no environment override
    size_t offset;
    uint32_t min, max;
} s_setting_t;

static const s_setting_t s_settings[] = {
    { "timing", "heartbeat_ms", "RALLY_HEARTBEAT_MS",
      offsetof (rally_cluster_t, heartbeat_ms),
      RALLY_HEARTBEAT_MS_MIN, RALLY_HEARTBEAT_MS_MAX },
    { "timing", "liveness_ms", "RALLY_LIVENESS_MS",
      offsetof (rally_cluster_t, liveness_ms),
      RALLY_LIVENESS_MS_MIN, RALLY_LIVENESS_MS_MAX },
    { "timing", "lease_ms", "RALLY_LEASE_MS",
      offsetof (rally_cluster_t, lease_ms),
      RALLY_LEASE_MS_MIN, RALLY_LEASE_MS_MAX },
    { "timing", "grace_ms", "RALLY_GRACE_MS",
      offsetof (rally_cluster_t, grace_ms), 0, RALLY_GRACE_MS_MAX },
    { "game", "tick_hz", "RALLY_TICK_HZ",
      offsetof (rally_cluster_t, tick_hz),
      RALLY_TICK_HZ_MIN, RALLY_TICK_HZ_MAX },
    { "game", "points_to_win", "RALLY_POINTS_TO_WIN",
      offsetof (rally_cluster_t, points_to_win), 1, RALLY_SCORE_MAX },
    { "game", "max_players", "RALLY_MAX_PLAYERS",
      offsetof (rally_cluster_t, max_players),
      RALLY_MAX_PLAYERS_MIN, RALLY_MAX_PLAYERS_MAX },
    { "game", "max_per_source", "RALLY_MAX_PER_SOURCE",
      offsetof (rally_cluster_t, max_per_source), 0, RALLY_MAX_PLAYERS_MAX },
};
#define S_SETTINGS (sizeof (s_settings) / sizeof (s_settings[0]))

static int s_fail (char *reason, size_t reason_size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (reason, reason_size, format, args);
    va_end (args);
    return -1;
}

static uint32_t *s_field (rally_cluster_t *self, const s_setting_t *setting)
{
    return (uint32_t *) ((char *) self + setting->offset);
}

void rally_cluster_defaults (rally_cluster_t *self)
{
    assert (self);
    memset (self, 0, sizeof (*self));
    self->broker_count = 1;
    strcpy (self->brokers[0], "tcp://127.0.0.1:5600");
    strcpy (self->broker_peers[0], "tcp://127.0.0.1:5609");
    self->broker_index[0] = 1;
    strcpy (self->keys, "keys");
    self->node_count = 1;
    self->nodes[0] = (rally_node_conf_t) {
        .id = 1,
        .heartbeat = "tcp://127.0.0.1:5601",
        .game = "tcp://127.0.0.1:5602",
        .state = "tcp://127.0.0.1:5603",
        .peer = "tcp://127.0.0.1:5604",
    };
    self->heartbeat_ms = 50;
    self->liveness_ms = 500;
    self->lease_ms = 200;
    self->grace_ms = 10000;
    self->tick_hz = 60;
    self->points_to_win = 11;
    self->max_players = 1024;
    self->max_per_source = 64;
}

//  An item's value; "" for a key written without one.
static const char *s_value (zconfig_t *item)
{
    const char *value = zconfig_value (item);
    return value? value: "";
}

//  Copies an endpoint after checking that ZeroMQ could use it.
static int s_endpoint (char *dest, const char *value, const char *what,
                       char *reason, size_t reason_size)
{
    char why[RALLY_REASON_BUF];
    if (rally_parse_endpoint (value, why, sizeof (why)))
        return s_fail (reason, reason_size, "%s: %s", what, why);
    snprintf (dest, RALLY_ENDPOINT_BUF, "%s", value);
    return 0;
}

static int s_load_node (rally_cluster_t *self, zconfig_t *section,
                        char *reason, size_t reason_size)
{
    rally_node_conf_t node = { 0 };
    for (zconfig_t *item = zconfig_child (section); item; item = zconfig_next (item)) {
        const char *key = zconfig_name (item);
        const char *value = s_value (item);
        char *dest = streq (key, "heartbeat")? node.heartbeat
                   : streq (key, "game")? node.game
                   : streq (key, "state")? node.state
                   : streq (key, "peer")? node.peer: NULL;
        if (streq (key, "id")) {
            if (rally_parse_u32 (value, 1, RALLY_NODE_ID_MAX, &node.id))
                return s_fail (reason, reason_size,
                               "node/id must be 1..%d, not '%s'",
                               RALLY_NODE_ID_MAX, value);
        }
        else
        if (!dest)
            return s_fail (reason, reason_size, "unknown key node/%s", key);
        else
        if (s_endpoint (dest, value, key, reason, reason_size))
            return -1;
    }
    if (!node.id || !*node.heartbeat || !*node.game || !*node.state)
        return s_fail (reason, reason_size,
                       "a node needs id, heartbeat, game and state");
    if (rally_cluster_node (self, node.id))
        return s_fail (reason, reason_size, "node %u is listed twice", node.id);
    if (self->node_count == RALLY_CLUSTER_NODES_MAX)
        return s_fail (reason, reason_size, "more than %d nodes",
                       RALLY_CLUSTER_NODES_MAX);
    self->nodes[self->node_count++] = node;
    return 0;
}

static int s_load_settings (rally_cluster_t *self, zconfig_t *section,
                            char *reason, size_t reason_size)
{
    const char *name = zconfig_name (section);
    for (zconfig_t *item = zconfig_child (section); item; item = zconfig_next (item)) {
        const char *key = zconfig_name (item);
        const s_setting_t *setting = NULL;
        for (size_t i = 0; i < S_SETTINGS && !setting; i++)
            if (streq (s_settings[i].section, name) && streq (s_settings[i].key, key))
                setting = &s_settings[i];
        if (!setting)
            return s_fail (reason, reason_size, "unknown key %s/%s", name, key);
        const char *value = s_value (item);
        if (rally_parse_u32 (value, setting->min, setting->max,
                             s_field (self, setting)))
            return s_fail (reason, reason_size, "%s/%s must be %u..%u, not '%s'",
                           name, key, setting->min, setting->max, value);
    }
    return 0;
}

static int s_load_broker (rally_cluster_t *self, zconfig_t *item,
                          char *reason, size_t reason_size)
{
    if (self->broker_count == RALLY_CLUSTER_BROKERS_MAX)
        return s_fail (reason, reason_size, "more than %d brokers",
                       RALLY_CLUSTER_BROKERS_MAX);
    size_t index = self->broker_count++;
    self->broker_index[index] = (uint32_t) index + 1;
    self->broker_peers[index][0] = 0;
    if (s_endpoint (self->brokers[index], s_value (item), "broker", reason,
                    reason_size))
        return -1;
    //  The peer endpoint is a child of the broker's line.
    for (zconfig_t *child = zconfig_child (item); child; child = zconfig_next (child)) {
        if (!streq (zconfig_name (child), "peer"))
            return s_fail (reason, reason_size, "unknown key broker/%s",
                           zconfig_name (child));
        if (s_endpoint (self->broker_peers[index], s_value (child),
                        "broker/peer", reason, reason_size))
            return -1;
    }
    return 0;
}

//  keys = DIR: relative to the file's own directory, so that a file and
//  its keys can move together and any working directory finds them.
static int s_load_keys (rally_cluster_t *self, zconfig_t *item,
                        const char *path, char *reason, size_t reason_size)
{
    const char *value = s_value (item);
    const char *slash = strrchr (path, '/');
    int dir_len = *value == '/' || !slash ? 0 : (int) (slash - path + 1);
    int len = snprintf (self->keys, sizeof (self->keys), "%.*s%s", dir_len,
                        path, value);
    if (!*value || len >= (int) sizeof (self->keys))
        return s_fail (reason, reason_size,
                       "keys must be a directory, at most %zu bytes",
                       sizeof (self->keys) - 1);
    return 0;
}

static int s_load_tree (rally_cluster_t *self, zconfig_t *rally,
                        const char *path, char *reason, size_t reason_size)
{
    //  Brokers and nodes in the file replace the defaults' one of each.
    self->broker_count = 0;
    self->node_count = 0;
    for (zconfig_t *item = zconfig_child (rally); item; item = zconfig_next (item)) {
        const char *key = zconfig_name (item);
        int rc = streq (key, "broker")? s_load_broker (self, item, reason, reason_size)
               : streq (key, "node")? s_load_node (self, item, reason, reason_size)
               : streq (key, "keys")? s_load_keys (self, item, path, reason, reason_size)
               : streq (key, "timing") || streq (key, "game")
                   ? s_load_settings (self, item, reason, reason_size)
               : s_fail (reason, reason_size, "unknown key rally/%s", key);
        if (rc)
            return -1;
    }
    if (self->broker_count == 0)
        return s_fail (reason, reason_size, "the file names no broker");
    return 0;
}

//  Items (lines that are not blank or a comment) in text. zconfig links
//  each item to the end of its parent's list by walking the list, so a
//  parse costs the square of the siblings: 40,000 sections took 14 s. A
//  cluster file has about a hundred items, so more than
//  RALLY_CLUSTER_ITEMS_MAX is refused before zconfig sees it, and reading
//  a file stays linear in its size.
static size_t s_items (const char *text, size_t size)
{
    size_t items = 0;
    bool blank = true, comment = false;
    for (size_t i = 0; i < size; i++) {
        char c = text[i];
        if (c == '\n') {
            items += !blank;
            blank = true;
            comment = false;
        }
        else if (comment)
            continue;
        else if (blank && c == '#')
            comment = true;
        else if (c != ' ' && c != '\t' && c != '\r')
            blank = false;
    }
    return items + !blank;
}

//  Reads the open file whole (at most RALLY_CLUSTER_FILE_MAX bytes) and
//  parses it as ZPL. zconfig_load would do both, but it leaks its file
//  handle whenever the text does not parse (CZMQ 4.2; found by
//  tests/fuzz/fuzz_cluster.c). Returns NULL with a reason.
static zconfig_t *s_parse (FILE *file, char *reason, size_t reason_size)
{
    zchunk_t *chunk = zchunk_new (NULL, 0);
    char buf[4096];
    size_t got;
    while (zchunk_size (chunk) <= RALLY_CLUSTER_FILE_MAX
           && (got = fread (buf, 1, sizeof (buf), file)) > 0)
        zchunk_extend (chunk, buf, got);
    zconfig_t *root = NULL;
    size_t items = s_items ((const char *) zchunk_data (chunk),
                            zchunk_size (chunk));
    if (zchunk_size (chunk) > RALLY_CLUSTER_FILE_MAX)
        s_fail (reason, reason_size, "larger than %d bytes",
                RALLY_CLUSTER_FILE_MAX);
    else if (items > RALLY_CLUSTER_ITEMS_MAX)
        s_fail (reason, reason_size, "%zu items, more than the %d a cluster "
                "file may have", items, RALLY_CLUSTER_ITEMS_MAX);
    else if (!(root = zconfig_chunk_load (chunk)))
        s_fail (reason, reason_size, "not valid ZPL (indent by four spaces, "
                "one key = value a line; see config/README.md)");
    zchunk_destroy (&chunk);
    return root;
}

//  Opens path for reading if it is a regular file. Without O_NONBLOCK,
//  opening a FIFO waits for a writer: start-up would hang on it.
static FILE *s_open (const char *path, char *reason, size_t reason_size)
{
    int fd = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return s_fail (reason, reason_size, "cannot read it: %s",
                       strerror (errno)), NULL;
    struct stat st;
    FILE *file = NULL;
    if (fstat (fd, &st))
        s_fail (reason, reason_size, "cannot read it: %s", strerror (errno));
    else if (!S_ISREG (st.st_mode))
        s_fail (reason, reason_size, "not a regular file (%s)",
                S_ISDIR (st.st_mode) ? "a directory"
                : S_ISFIFO (st.st_mode) ? "a FIFO" : "a device or socket");
    else if (st.st_size > RALLY_CLUSTER_FILE_MAX)
        s_fail (reason, reason_size, "larger than %d bytes",
                RALLY_CLUSTER_FILE_MAX);
    else if (!(file = fdopen (fd, "r")))
        s_fail (reason, reason_size, "cannot read it: %s", strerror (errno));
    if (!file)
        close (fd);
    return file;
}

int rally_cluster_load (rally_cluster_t *self, const char *path,
                        char *reason, size_t reason_size)
{
    assert (self && path);
    FILE *file = s_open (path, reason, reason_size);
    if (!file)
        return -1;
    zconfig_t *root = s_parse (file, reason, reason_size);
    fclose (file);
    if (!root)
        return -1;
    zconfig_t *rally = zconfig_child (root);
    int rc;
    if (!rally || !streq (zconfig_name (rally), "rally") || zconfig_next (rally))
        rc = s_fail (reason, reason_size, "expected one 'rally' section");
    else {
        rally_cluster_t loaded;
        rally_cluster_defaults (&loaded);
        rc = s_load_tree (&loaded, rally, path, reason, reason_size);
        if (rc == 0)
            *self = loaded;
    }
    zconfig_destroy (&root);
    return rc;
}

int rally_cluster_check (const rally_cluster_t *self, char *reason,
                         size_t reason_size)
{
    assert (self);
    //  A node counts its lease 1/8 short (node.c), renewed by each
    //  heartbeat: with less than two heartbeats in what it counts, one
    //  late heartbeat ends a leadership.
    uint32_t need = 2 * self->heartbeat_ms;
    if (self->lease_ms - self->lease_ms / 8 < need) {
        uint32_t least = need;
        while (least - least / 8 < need)
            least++;
        return s_fail (reason, reason_size, "lease_ms %u is too short for "
                       "heartbeat_ms %u: a node counts 7/8 of a lease, which "
                       "must hold two heartbeats (lease_ms >= %u)",
                       self->lease_ms, self->heartbeat_ms, least);
    }
    //  A broker forgets a holder's liveness before its lease ends otherwise.
    if (self->liveness_ms < self->lease_ms)
        return s_fail (reason, reason_size, "liveness_ms %u is shorter than "
                       "lease_ms %u: a node would count as gone while its "
                       "lease runs", self->liveness_ms, self->lease_ms);
    return 0;
}

int rally_cluster_node_from_env (rally_node_conf_t *node, char *reason,
                                 size_t reason_size)
{
    assert (node);
    static const char *parts[] = { "HEARTBEAT", "GAME", "STATE", "PEER" };
    char *fields[] = { node->heartbeat, node->game, node->state, node->peer };
    for (size_t i = 0; i < 4; i++) {
        char name[48];
        snprintf (name, sizeof (name), "RALLY_NODE%u_%s", node->id, parts[i]);
        const char *value = getenv (name);
        if (value && s_endpoint (fields[i], value, name, reason, reason_size))
            return -1;
    }
    return 0;
}

//  Replaces the brokers with the count endpoints given (flags or the
//  environment): a listed broker's player or peer endpoint picks that
//  broker whole; another endpoint is an unlisted broker at it.
static int s_pick_brokers (rally_cluster_t *self, const char *const *given,
                           size_t count, const char *what, char *reason,
                           size_t reason_size)
{
    if (count > RALLY_CLUSTER_BROKERS_MAX)
        return s_fail (reason, reason_size, "%s: at most %d brokers", what,
                       RALLY_CLUSTER_BROKERS_MAX);
    rally_cluster_t picked = *self;
    for (size_t i = 0; i < count; i++) {
        size_t found = 0;
        while (found < self->broker_count
               && !streq (self->brokers[found], given[i])
               && !streq (self->broker_peers[found], given[i]))
            found++;
        if (found < self->broker_count) {
            strcpy (picked.brokers[i], self->brokers[found]);
            strcpy (picked.broker_peers[i], self->broker_peers[found]);
            picked.broker_index[i] = self->broker_index[found];
        }
        else {
            if (s_endpoint (picked.brokers[i], given[i], what, reason,
                            reason_size))
                return -1;
            strcpy (picked.broker_peers[i], picked.brokers[i]);
            picked.broker_index[i] = 0;
        }
    }
    picked.broker_count = count;
    *self = picked;
    return 0;
}

int rally_cluster_from_env (rally_cluster_t *self, char *reason,
                            size_t reason_size)
{
    assert (self);
    rally_cluster_t changed = *self;
    const char *broker = getenv ("RALLY_BROKER");
    if (broker && s_pick_brokers (&changed, &broker, 1, "RALLY_BROKER",
                                  reason, reason_size))
        return -1;
    const char *keys = getenv ("RALLY_KEYS");
    if (keys && *keys)
        snprintf (changed.keys, sizeof (changed.keys), "%s", keys);
    for (size_t i = 0; i < S_SETTINGS; i++) {
        const char *value = getenv (s_settings[i].env);
        if (value && rally_parse_u32 (value, s_settings[i].min, s_settings[i].max,
                                      s_field (&changed, &s_settings[i])))
            return s_fail (reason, reason_size, "%s must be %u..%u, not '%s'",
                           s_settings[i].env, s_settings[i].min,
                           s_settings[i].max, value);
    }
    for (size_t i = 0; i < changed.node_count; i++)
        if (rally_cluster_node_from_env (&changed.nodes[i], reason, reason_size))
            return -1;
    *self = changed;
    return 0;
}

int rally_cluster_configure (rally_cluster_t *self, const char *path,
                             const char *const *brokers, size_t count,
                             char *reason, size_t reason_size)
{
    assert (self);
    rally_cluster_defaults (self);
    const char *from_env = getenv ("RALLY_CONFIG");
    if (!path && from_env && *from_env)
        path = from_env;
    if (path && rally_cluster_load (self, path, reason, reason_size)) {
        char why[RALLY_REASON_BUF];
        snprintf (why, sizeof (why), "%s", reason);
        return s_fail (reason, reason_size, "%s: %s", path, why);
    }
    if (rally_cluster_from_env (self, reason, reason_size))
        return -1;
    if (count && s_pick_brokers (self, brokers, count, "--broker", reason,
                                 reason_size))
        return -1;
    if (rally_cluster_check (self, reason, reason_size)) {
        char why[RALLY_REASON_BUF];
        snprintf (why, sizeof (why), "%s", reason);
        return s_fail (reason, reason_size, "%s%s%s", path ? path : "",
                       path ? ": " : "", why);
    }
    return 0;
}

const rally_node_conf_t *rally_cluster_node (const rally_cluster_t *self,
                                             uint32_t id)
{
    assert (self);
    for (size_t i = 0; i < self->node_count; i++)
        if (self->nodes[i].id == id)
            return &self->nodes[i];
    return NULL;
}

int rally_cluster_set_node (rally_cluster_t *self,
                            const rally_node_conf_t *node)
{
    assert (self && node);
    if (node->id < 1 || node->id > RALLY_NODE_ID_MAX)
        return -1;
    size_t index = 0;
    while (index < self->node_count && self->nodes[index].id != node->id)
        index++;
    if (index == RALLY_CLUSTER_NODES_MAX)
        return -1;
    if (index == self->node_count)
        self->node_count++;
    self->nodes[index] = *node;
    return 0;
}

//  A host a socket can bind: a numeric address or a wildcard. A name is
//  not: ZeroMQ would take it for a network interface's, and binding it as
//  "*" (as this once did) opens the port on every interface unasked.
static bool s_bindable_host (const char *host, size_t length)
{
    if (length == 1 && host[0] == '*')
        return true;
    if (length > 0 && host[0] == '[')
        return true;
    for (size_t i = 0; i < length; i++)
        if (!isdigit ((unsigned char) host[i]) && host[i] != '.')
            return false;
    return length > 0;
}

int rally_cluster_check_bind (const char *endpoint, char *reason,
                              size_t reason_size)
{
    assert (endpoint);
    const char *host = strncmp (endpoint, "tcp://", 6) == 0? endpoint + 6: NULL;
    const char *colon = host? strrchr (host, ':'): NULL;
    if (!host || !colon || s_bindable_host (host, (size_t) (colon - host)))
        return 0;
    return s_fail (reason, reason_size, "%s names a host; a program binds "
                   "only an address or * (a name would be bound on every "
                   "interface), so give this program its address",
                   endpoint);
}

int rally_cluster_bind_endpoint (const char *endpoint, char *buf,
                                 size_t size)
{
    assert (endpoint && buf && size > 0);
    snprintf (buf, size, "%s", endpoint);
    char reason[RALLY_REASON_BUF];
    return rally_cluster_check_bind (endpoint, reason, sizeof (reason));
}

int rally_cluster_bind (zsock_t *sock, char *endpoint)
{
    assert (sock && endpoint);
    char bind[RALLY_ENDPOINT_BUF];
    if (rally_cluster_bind_endpoint (endpoint, bind, sizeof (bind))) {
        errno = EINVAL;
        return -1;
    }
    int port = zsock_bind (sock, "%s", bind);
    if (port == -1)
        return -1;
    size_t len = strlen (endpoint);
    if (len >= 2 && strcmp (endpoint + len - 2, ":*") == 0)
        snprintf (endpoint + len - 1, RALLY_ENDPOINT_BUF - (len - 1), "%d",
                  port);
    return 0;
}
