/*  rally_keys - CURVE keys and the two planes. See rally_keys.h.

    The members' certificates are read once, at start: a key added later
    needs a restart, which keeps what a running cluster admits simple to
    reason about.
*/
#include "rally_keys.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

struct _rally_keys_t {
    bool plaintext;             //  no CURVE at all
    zcert_t *own;               //  own certificate, NULL in plain text
    zcertstore_t *store;        //  the members' public certificates
    zhash_t *names;             //  member name -> Z85 key
    zhash_t *members;           //  Z85 key -> member name (for ZAP)
    zactor_t *zap;              //  the ZAP handler, once a socket serves
};

static int s_fail (char *reason, size_t reason_size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (reason, reason_size, format, args);
    va_end (args);
    return -1;
}

static rally_keys_t *s_new (void)
{
    rally_keys_t *self = (rally_keys_t *) zmalloc (sizeof (rally_keys_t));
    assert (self);
    self->store = zcertstore_new (NULL);
    self->names = zhash_new ();
    self->members = zhash_new ();
    assert (self->store && self->names && self->members);
    zhash_autofree (self->names);
    zhash_autofree (self->members);
    return self;
}

static bool s_has_secret (zcert_t *cert)
{
    const byte *secret = zcert_secret_key (cert);
    for (size_t i = 0; i < 32; i++)
        if (secret[i])
            return true;
    return false;
}

//  Reads every NAME.cert in dir. A dir that cannot be opened is -1.
static int s_load_dir (rally_keys_t *self, const char *dir)
{
    DIR *handle = opendir (dir);
    if (!handle)
        return -1;
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        size_t len = strlen (entry->d_name);
        if (len <= 5 || !streq (entry->d_name + len - 5, ".cert"))
            continue;
        char path[512];
        snprintf (path, sizeof (path), "%s/%s", dir, entry->d_name);
        zcert_t *cert = zcert_load (path);
        if (!cert) {
            zsys_warning ("rally-keys: %s is not a certificate; ignored", path);
            continue;
        }
        char name[256];
        snprintf (name, sizeof (name), "%.*s", (int) (len - 5), entry->d_name);
        zhash_update (self->names, name, (void *) zcert_public_txt (cert));
        //  zcertstore asserts on a key it holds: one key under two names
        //  (a copied file) is one member, the first name read.
        if (zcertstore_lookup (self->store, zcert_public_txt (cert)))
            zcert_destroy (&cert);
        else {
            zhash_update (self->members, zcert_public_txt (cert), name);
            zcertstore_insert (self->store, &cert);
        }
    }
    closedir (handle);
    return 0;
}

rally_keys_t *rally_keys_member_new (const char *dir, const char *cert,
                                     char *reason, size_t reason_size)
{
    assert (dir && cert);
    rally_keys_t *self = s_new ();
    self->own = zcert_load (cert);
    if (!self->own || !s_has_secret (self->own)) {
        s_fail (reason, reason_size, "no secret key at %s_secret: make the "
                "cluster's keys with `rallyctl keys --config FILE` (or give "
                "--key FILE, or run with --insecure-plaintext)", cert);
        rally_keys_destroy (&self);
        return NULL;
    }
    if (s_load_dir (self, dir) || zhash_size (self->names) == 0) {
        s_fail (reason, reason_size, "no public keys in %s: make the "
                "cluster's keys with `rallyctl keys --config FILE`, or set "
                "keys in the cluster file", dir);
        rally_keys_destroy (&self);
        return NULL;
    }
    if (!zhash_lookup (self->members, zcert_public_txt (self->own))) {
        s_fail (reason, reason_size, "the key at %s is not one of the "
                "members' in %s", cert, dir);
        rally_keys_destroy (&self);
        return NULL;
    }
    return self;
}

rally_keys_t *rally_keys_player_new (const char *dir)
{
    rally_keys_t *self = s_new ();
    self->own = zcert_new ();
    assert (self->own);
    if (dir)
        s_load_dir (self, dir);
    return self;
}

rally_keys_t *rally_keys_plaintext_new (const char *program)
{
    rally_keys_t *self = s_new ();
    self->plaintext = true;
    static char ident[128];
    snprintf (ident, sizeof (ident), "%s INSECURE-PLAINTEXT", program);
    zsys_set_logident (ident);
    zsys_warning ("%s: --insecure-plaintext: no CURVE on any link; anyone "
                  "who reaches a port can read and forge every message",
                  program);
    return self;
}

rally_keys_t *rally_keys_open_member (const rally_cluster_t *cluster,
                                      const char *program, const char *name,
                                      const char *cert, const char *data,
                                      bool plaintext, char *reason,
                                      size_t reason_size)
{
    assert (cluster && program && name);
    if (plaintext)
        return rally_keys_plaintext_new (program);
    char path[600];
    const char *env = getenv ("RALLY_KEY");
    if (cert)
        snprintf (path, sizeof (path), "%s", cert);
    else
    if (env && *env)
        snprintf (path, sizeof (path), "%s", env);
    else
    if (data && *data)
        snprintf (path, sizeof (path), "%s/%s", data, RALLY_KEYS_CERT);
    else
        rally_keys_default_cert (cluster, name, path, sizeof (path));
    return rally_keys_member_new (cluster->keys, path, reason, reason_size);
}

void rally_keys_destroy (rally_keys_t **self_p)
{
    assert (self_p);
    rally_keys_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->zap);
    zcert_destroy (&self->own);
    zcertstore_destroy (&self->store);
    zhash_destroy (&self->names);
    zhash_destroy (&self->members);
    free (self);
    *self_p = NULL;
}

bool rally_keys_plaintext (rally_keys_t *self)
{
    assert (self);
    return self->plaintext;
}

const char *rally_keys_public (rally_keys_t *self)
{
    assert (self);
    return self->own ? zcert_public_txt (self->own) : "";
}

const char *rally_keys_of (rally_keys_t *self, const char *name)
{
    assert (self && name);
    return (const char *) zhash_lookup (self->names, name);
}

bool rally_keys_is_member (rally_keys_t *self, const char *key)
{
    assert (self);
    return key && zcertstore_lookup (self->store, key) != NULL;
}

int rally_keys_serve (rally_keys_t *self, zsock_t *sock, const char *domain)
{
    assert (self && sock && domain);
    if (self->plaintext)
        return 0;
    if (!self->zap) {
        self->zap = rally_zap_new (self->members);
        if (!self->zap)
            return -1;
    }
    zcert_apply (self->own, sock);
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, domain);
    return 0;
}

bool rally_keys_valid (const char *key)
{
    uint8_t bytes[32];
    return key && strlen (key) == 40 && zmq_z85_decode (bytes, key) != NULL;
}

int rally_keys_client (rally_keys_t *self, zsock_t *sock,
                       const char *server_key)
{
    assert (self && sock);
    if (self->plaintext)
        return 0;
    if (!rally_keys_valid (server_key))
        return -1;
    zcert_apply (self->own, sock);
    zsock_set_curve_serverkey (sock, server_key);
    return 0;
}

void rally_keys_default_cert (const rally_cluster_t *cluster,
                              const char *name, char *buf, size_t size)
{
    assert (cluster && name && buf);
    snprintf (buf, size, "%s/../%s/%s", cluster->keys, name, RALLY_KEYS_CERT);
}

int rally_keys_parse (const char *text, char *key)
{
    assert (text && key);
    if (rally_keys_valid (text)) {
        strcpy (key, text);
        return 0;
    }
    zcert_t *cert = zcert_load (text);
    if (!cert)
        return -1;
    snprintf (key, RALLY_KEYS_Z85_BUF, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
    return 0;
}

//  One member's keys: its own certificate kept if it is there, else made;
//  its public certificate written into the key directory.
static int s_make_one (const char *dir, const char *root, const char *name,
                       FILE *out, char *reason, size_t reason_size)
{
    char own_dir[512], own[600], pub[600];
    snprintf (own_dir, sizeof (own_dir), "%s/%s", root, name);
    snprintf (own, sizeof (own), "%s/%s", own_dir, RALLY_KEYS_CERT);
    snprintf (pub, sizeof (pub), "%s/%s.cert", dir, name);
    zcert_t *cert = zcert_load (own);
    bool made = false;
    if (!cert || !s_has_secret (cert)) {
        zcert_destroy (&cert);
        cert = zcert_new ();
        assert (cert);
        zcert_set_meta (cert, "name", "%s", name);
        if (zsys_dir_create ("%s", own_dir) || zcert_save (cert, own)) {
            zcert_destroy (&cert);
            return s_fail (reason, reason_size, "cannot write %s: %s", own,
                           strerror (errno));
        }
        made = true;
    }
    //  The public file is written again only if it says another key: its
    //  text carries the time it was made.
    zcert_t *known = zcert_load (pub);
    bool same = known && streq (zcert_public_txt (known),
                                zcert_public_txt (cert));
    zcert_destroy (&known);
    int rc = same ? 0 : zcert_save_public (cert, pub);
    if (rc)
        s_fail (reason, reason_size, "cannot write %s: %s", pub,
                strerror (errno));
    else
    if (out)
        fprintf (out, "%s: %s %s (public %s)\n", name,
                 made ? "made" : "kept", own, pub);
    zcert_destroy (&cert);
    return rc ? -1 : 0;
}

int rally_keys_make (const rally_cluster_t *cluster, FILE *out,
                     char *reason, size_t reason_size)
{
    assert (cluster);
    const char *dir = cluster->keys;
    char root[RALLY_CLUSTER_PATH_BUF + 4];
    snprintf (root, sizeof (root), "%s/..", dir);
    if (zsys_dir_create ("%s", dir))
        return s_fail (reason, reason_size, "cannot make %s: %s", dir,
                       strerror (errno));
    char name[32];
    for (size_t i = 0; i < cluster->node_count; i++) {
        snprintf (name, sizeof (name), "node%u", cluster->nodes[i].id);
        if (s_make_one (dir, root, name, out, reason, reason_size))
            return -1;
    }
    for (size_t i = 0; i < cluster->broker_count; i++) {
        if (!cluster->broker_index[i])
            continue;
        snprintf (name, sizeof (name), "broker%u", cluster->broker_index[i]);
        if (s_make_one (dir, root, name, out, reason, reason_size))
            return -1;
    }
    return s_make_one (dir, root, "operator", out, reason, reason_size);
}
