/*  ident - a game node's durable identity. See ident.h.

    The file is three lines of text, easy to read when something is wrong:

        rally-node-state 1
        term 42
        matches 1280

    A rename is atomic, so a reader never sees half a file; the fsync of the
    data before the rename makes the new name point at written data, and
    the fsync of the directory makes the rename itself survive a power cut.
*/
#include "ident.h"
#include "rally_term.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>

#define S_MAGIC     "rally-node-state 1"

struct _ident_t {
    char dir[256];              //  data directory, "" for memory only
    uint64_t term;              //  highest term led or followed
    uint32_t matches;           //  highest match id used, seen or reserved
};

static int s_load (ident_t *self, const char *path, char *why,
                   size_t why_size);
static int s_save (ident_t *self, uint64_t term, uint32_t matches);

ident_t *ident_new (const char *dir, char *reason, size_t reason_size)
{
    assert (dir && (reason || reason_size == 0));
    ident_t *self = (ident_t *) zmalloc (sizeof (ident_t));
    assert (self);
    if (strlen (dir) >= sizeof (self->dir)) {
        snprintf (reason, reason_size, "data directory name too long");
        free (self);
        return NULL;
    }
    strcpy (self->dir, dir);
    if (!*dir)
        return self;
    char path[sizeof (self->dir) + sizeof ("/" IDENT_FILE)];
    snprintf (path, sizeof (path), "%s/%s", dir, IDENT_FILE);
    char why[200] = "";
    if (s_load (self, path, why, sizeof (why))) {
        snprintf (reason, reason_size, "%s: %s", path, why);
        free (self);
        return NULL;
    }
    return self;
}

void ident_destroy (ident_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

uint64_t ident_term (ident_t *self)
{
    assert (self);
    return self->term;
}

uint32_t ident_matches (ident_t *self)
{
    assert (self);
    return self->matches;
}

int ident_raise (ident_t *self, uint64_t term, uint32_t matches)
{
    assert (self);
    if (term <= self->term && matches <= self->matches)
        return 0;
    uint64_t new_term = term > self->term ? term : self->term;
    uint32_t new_matches = matches > self->matches ? matches : self->matches;
    if (*self->dir && s_save (self, new_term, new_matches))
        return -1;
    self->term = new_term;
    self->matches = new_matches;
    return 0;
}

//  --------------------------------------------------------------------------
//  The file

//  One "key value" line, the value a decimal within max.
static int s_line (FILE *file, const char *key, uint64_t max, uint64_t *value,
                   int line, char *why, size_t why_size)
{
    char buf[64];
    if (!fgets (buf, sizeof (buf), file) || !strchr (buf, '\n'))
        return snprintf (why, why_size, "line %d: missing or too long", line),
               -1;
    size_t len = strlen (key);
    char *end = NULL;
    errno = 0;
    if (strncmp (buf, key, len) == 0 && buf[len] == ' '
        && buf[len + 1] >= '0' && buf[len + 1] <= '9') {
        unsigned long long v = strtoull (buf + len + 1, &end, 10);
        if (errno == 0 && *end == '\n' && v <= max) {
            *value = v;
            return 0;
        }
    }
    return snprintf (why, why_size, "line %d: expected '%s N' (N up to %"
                     PRIu64 ")", line, key, max), -1;
}

static int s_load (ident_t *self, const char *path, char *why,
                   size_t why_size)
{
    FILE *file = fopen (path, "r");
    if (!file && errno == ENOENT)
        return 0;               //  a fresh node
    if (!file)
        return snprintf (why, why_size, "%s", strerror (errno)), -1;
    char magic[64];
    uint64_t term = 0, matches = 0;
    int rc = -1;
    if (!fgets (magic, sizeof (magic), file)
        || strcmp (magic, S_MAGIC "\n"))
        snprintf (why, why_size, "line 1: not '%s'", S_MAGIC);
    //  No term past what any broker grants (rally_term.h): a node that
    //  started with one would ask for a term nobody believes, for ever.
    else if (s_line (file, "term", RALLY_TERM_MAX, &term, 2, why,
                     why_size) == 0
          && s_line (file, "matches", UINT32_MAX - 1, &matches, 3, why,
                     why_size) == 0) {
        if (fgetc (file) != EOF)
            snprintf (why, why_size, "line 4: unexpected text");
        else
            rc = 0;
    }
    fclose (file);
    self->term = term;
    self->matches = (uint32_t) matches;
    return rc;
}

static int s_fsync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

static int s_save (ident_t *self, uint64_t term, uint32_t matches)
{
    char path[sizeof (self->dir) + sizeof ("/" IDENT_FILE)];
    char temp[sizeof (path) + sizeof (".new")];
    snprintf (path, sizeof (path), "%s/%s", self->dir, IDENT_FILE);
    snprintf (temp, sizeof (temp), "%s.new", path);
    char text[96];
    int size = snprintf (text, sizeof (text), S_MAGIC "\nterm %" PRIu64
                         "\nmatches %" PRIu32 "\n", term, matches);
    int fd = open (temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && write (fd, text, (size_t) size) == size
           && fsync (fd) == 0;
    int saved = errno;
    if (fd >= 0 && close (fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename (temp, path) != 0) {
        ok = false;
        saved = errno;
    }
    if (ok && s_fsync_dir (self->dir) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        zsys_error ("ident: cannot write %s (term %" PRIu64 ", matches %"
                    PRIu32 "): %s", path, term, matches, strerror (saved));
        unlink (temp);
    }
    return ok ? 0 : -1;
}
