/*  results - a game node's store of finished matches. See results.h.

    The schema is two tables: meta holds the schema version, so a file from
    a later Rally is refused rather than misread, and matches holds one row
    per match, keyed by id. The CHECKs keep every row in the ranges that
    results_match_t can hold; reading a row checks them again all the same,
    since the file is outside input.

    A store is one insert that does nothing if the id is there: a stored
    match is never overwritten. A match stored again as it was is no news;
    a different row under a stored id is an alarm, logged with both rows,
    and the stored one stays (two leaders gave one id to two matches,
    which the node's identity, ident.h, exists to prevent).
*/
#include "results.h"

#include <inttypes.h>
#include <sqlite3.h>

struct _results_t {
    sqlite3 *db;                //  the open database
    sqlite3_stmt *store;        //  upserts one match
    sqlite3_stmt *get;          //  one match by id
    sqlite3_stmt *since;        //  matches above an id, in order, limited
    sqlite3_stmt *max;          //  the highest id, 0 if none
    sqlite3_stmt *count;        //  how many matches
    sqlite3_stmt *ids;          //  ids from one on, in order
    sqlite3_stmt *recent;       //  newest first, below an id, by a player
    sqlite3_stmt *standings;    //  the records, best first
    sqlite3_stmt *record;       //  one player's record
    sqlite3_stmt *players;      //  how many players have a match
};

static const char *s_create_meta =
    "CREATE TABLE IF NOT EXISTS meta ("
    " key TEXT PRIMARY KEY NOT NULL,"
    " value INTEGER NOT NULL)";

static const char *s_create_matches =
    "CREATE TABLE IF NOT EXISTS matches ("
    " id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 4294967295),"
    " left_name TEXT NOT NULL,"
    " right_name TEXT NOT NULL,"
    " left_score INTEGER NOT NULL CHECK (left_score BETWEEN 0 AND 4294967295),"
    " right_score INTEGER NOT NULL"
    "  CHECK (right_score BETWEEN 0 AND 4294967295),"
    " winner INTEGER NOT NULL CHECK (winner BETWEEN -1 AND 1),"
    " forfeit INTEGER NOT NULL CHECK (forfeit IN (0, 1)),"
    " term INTEGER NOT NULL CHECK (term >= 0))";

#define S_COLUMNS \
    "id, left_name, right_name, left_score, right_score, winner, forfeit, term"

//  A stored match is never overwritten: a second store of the same id
//  writes nothing, and results_store then compares the rows.
static const char *s_sql_store =
    "INSERT INTO matches (" S_COLUMNS ")"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    " ON CONFLICT (id) DO NOTHING";

//  The ids from one on, in order, for results_ranges.
static const char *s_sql_ids =
    "SELECT id FROM matches WHERE id >= ?1 ORDER BY id";

static const char *s_sql_get =
    "SELECT " S_COLUMNS " FROM matches WHERE id = ?1";

static const char *s_sql_since =
    "SELECT " S_COLUMNS " FROM matches WHERE id > ?1 ORDER BY id LIMIT ?2";

//  Bare, so SQLite reads the last key rather than scanning; NULL reads as 0.
static const char *s_sql_max = "SELECT MAX (id) FROM matches";

static const char *s_sql_count = "SELECT COUNT (*) FROM matches";

static const char *s_sql_recent =
    "SELECT " S_COLUMNS " FROM matches"
    " WHERE (?1 = 0 OR id < ?1) AND (?2 = '' OR left_name = ?2"
    "  OR right_name = ?2) ORDER BY id DESC LIMIT ?3";

//  Each match counts once for each side: a win for the winner, a loss for
//  the other, and a forfeit too when the loser forfeited.
#define S_SIDES \
    "WITH sides (name, won, lost, ff) AS (" \
    " SELECT left_name, winner = 0, winner = 1, forfeit AND winner = 1" \
    "  FROM matches" \
    " UNION ALL" \
    " SELECT right_name, winner = 1, winner = 0, forfeit AND winner = 0" \
    "  FROM matches) "

static const char *s_sql_standings =
    S_SIDES "SELECT name, SUM (won), SUM (lost), SUM (ff) FROM sides"
    " GROUP BY name ORDER BY SUM (won) DESC, SUM (lost), name LIMIT ?1";

static const char *s_sql_record =
    S_SIDES "SELECT name, SUM (won), SUM (lost), SUM (ff) FROM sides"
    " WHERE name = ?1 GROUP BY name";

static const char *s_sql_players =
    "SELECT COUNT (*) FROM (SELECT left_name FROM matches"
    " UNION SELECT right_name FROM matches)";

static int s_open (results_t *self, const char *path, char *why,
                   size_t why_size);
static bool s_valid (const results_match_t *m);
static int s_bind_match (sqlite3_stmt *st, const results_match_t *m);
static int s_read_row (sqlite3_stmt *st, results_match_t *out);
static int s_scalar (results_t *self, sqlite3_stmt *st, int64_t *value);
static void s_log (results_t *self, const char *what, int rc);


results_t *results_new (const char *path, char *reason, size_t reason_size)
{
    assert (path && (reason || reason_size == 0));
    results_t *self = (results_t *) zmalloc (sizeof (results_t));
    assert (self);
    char why[RALLY_REASON_BUF] = "";
    if (s_open (self, path, why, sizeof (why)) != 0) {
        if (reason_size)
            snprintf (reason, reason_size, "%s: %s", path, why);
        results_destroy (&self);
    }
    return self;
}

void results_destroy (results_t **self_p)
{
    assert (self_p);
    results_t *self = *self_p;
    if (!self)
        return;
    //  Finalizing a statement returns the error of its last step, which
    //  was reported then; only the close can fail here.
    sqlite3_finalize (self->store);
    sqlite3_finalize (self->get);
    sqlite3_finalize (self->since);
    sqlite3_finalize (self->max);
    sqlite3_finalize (self->count);
    sqlite3_finalize (self->ids);
    sqlite3_finalize (self->recent);
    sqlite3_finalize (self->standings);
    sqlite3_finalize (self->record);
    sqlite3_finalize (self->players);
    if (sqlite3_close (self->db) != SQLITE_OK)
        zsys_error ("results: close: %s", sqlite3_errmsg (self->db));
    free (self);
    *self_p = NULL;
}

//  Same match, same row? The term it ended in is part of the row: two
//  leaders that both decided one id in different terms conflict.
static bool s_same (const results_match_t *a, const results_match_t *b)
{
    return a->match == b->match && streq (a->names[0], b->names[0])
        && streq (a->names[1], b->names[1]) && a->score[0] == b->score[0]
        && a->score[1] == b->score[1] && a->winner == b->winner
        && a->forfeit == b->forfeit && a->term == b->term;
}

static void s_alarm (const results_match_t *kept, const results_match_t *m)
{
    zsys_error ("results: ALARM: match %u conflicts with the stored row, "
                "which is kept: stored %s %u - %u %s (winner %d%s, term %"
                PRIu64 "), offered %s %u - %u %s (winner %d%s, term %" PRIu64
                ")", m->match, kept->names[0], kept->score[0], kept->score[1],
                kept->names[1], kept->winner, kept->forfeit ? ", forfeit" : "",
                kept->term, m->names[0], m->score[0], m->score[1],
                m->names[1], m->winner, m->forfeit ? ", forfeit" : "",
                m->term);
}

int results_store (results_t *self, const results_match_t *m)
{
    assert (self && m);
    if (!s_valid (m))
        return RESULTS_INVALID;
    int rc = s_bind_match (self->store, m);
    if (rc == SQLITE_OK)
        rc = sqlite3_step (self->store);
    if (rc != SQLITE_DONE)
        s_log (self, "store", rc);
    //  A reset returns the error of the step it follows: logged above.
    sqlite3_reset (self->store);
    if (rc != SQLITE_DONE)
        return RESULTS_FAILED;
    if (sqlite3_changes (self->db) == 1)
        return RESULTS_STORED;
    results_match_t kept;
    if (results_get (self, m->match, &kept))
        return RESULTS_FAILED;
    if (s_same (&kept, m))
        return RESULTS_HELD;
    s_alarm (&kept, m);
    return RESULTS_CONFLICT;
}

int results_ranges (results_t *self, uint32_t lo, size_t max,
                     results_range_t *out, size_t *count, uint32_t *hi)
{
    assert (self && out && count && hi && max > 0);
    sqlite3_stmt *st = self->ids;
    size_t n = 0;
    *hi = UINT32_MAX;
    int rc = sqlite3_bind_int64 (st, 1, lo);
    if (rc == SQLITE_OK)
        rc = sqlite3_step (st);
    for (; rc == SQLITE_ROW; rc = sqlite3_step (st)) {
        int64_t id = sqlite3_column_int64 (st, 0);
        if (id < lo || id > UINT32_MAX)
            continue;           //  the CHECK holds this; the file is input
        if (n && (int64_t) out[n - 1].hi + 1 == id) {
            out[n - 1].hi = (uint32_t) id;
            continue;
        }
        if (n == max) {
            *hi = (uint32_t) id - 1;    //  the window ends before this range
            rc = SQLITE_DONE;
            break;
        }
        out[n].lo = out[n].hi = (uint32_t) id;
        n++;
    }
    if (rc != SQLITE_DONE)
        s_log (self, "ranges", rc);
    sqlite3_reset (st);
    *count = rc == SQLITE_DONE ? n : 0;
    return rc == SQLITE_DONE ? 0 : -1;
}

uint32_t results_max_match (results_t *self)
{
    assert (self);
    int64_t max;
    if (s_scalar (self, self->max, &max) != 0)
        return 0;
    return max > 0 && max <= UINT32_MAX ? (uint32_t) max : 0;
}

size_t results_count (results_t *self)
{
    assert (self);
    int64_t count;
    if (s_scalar (self, self->count, &count) != 0)
        return 0;
    return count > 0 ? (size_t) count : 0;
}

//  Runs a statement whose binding gave rc, reading at most max matches
//  into out; resets it. 0, or -1 with the failure logged as what.
static int s_read_rows (results_t *self, sqlite3_stmt *st, int rc,
                        const char *what, size_t max, results_match_t *out,
                        size_t *count)
{
    if (rc == SQLITE_OK)
        rc = sqlite3_step (st);
    size_t n = 0;
    while (rc == SQLITE_ROW && n < max && s_read_row (st, &out[n]) == 0) {
        n++;
        rc = sqlite3_step (st);
    }
    //  The limit ends the rows at max; a row left over is one unreadable.
    if (rc != SQLITE_DONE)
        s_log (self, what, rc);
    sqlite3_reset (st);
    sqlite3_clear_bindings (st);
    *count = rc == SQLITE_DONE ? n : 0;
    return rc == SQLITE_DONE ? 0 : -1;
}

int results_since (results_t *self, uint32_t after, size_t max,
                   results_match_t *out, size_t *count)
{
    assert (self && count && (out || max == 0));
    sqlite3_stmt *st = self->since;
    int64_t limit = max > INT64_MAX ? INT64_MAX : (int64_t) max;
    int rc = sqlite3_bind_int64 (st, 1, after);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64 (st, 2, limit);
    return s_read_rows (self, st, rc, "since", max, out, count);
}

int results_recent (results_t *self, const char *name, uint32_t before,
                    size_t max, results_match_t *out, size_t *count)
{
    assert (self && count && (out || max == 0));
    sqlite3_stmt *st = self->recent;
    int64_t limit = max > INT64_MAX ? INT64_MAX : (int64_t) max;
    int rc = sqlite3_bind_int64 (st, 1, before);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text (st, 2, name ? name : "", -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64 (st, 3, limit);
    return s_read_rows (self, st, rc, "recent", max, out, count);
}

//  One record row (name, wins, losses, forfeits) into out; -1 if a value
//  is out of range (the file is outside input).
static int s_read_record (sqlite3_stmt *st, rally_record_t *out)
{
    const char *name = (const char *) sqlite3_column_text (st, 0);
    int64_t v[3];
    for (int i = 0; i < 3; i++) {
        v[i] = sqlite3_column_int64 (st, i + 1);
        if (v[i] < 0 || v[i] > UINT32_MAX)
            return -1;
    }
    if (!name || !*name || strlen (name) > RALLY_NAME_MAX)
        return -1;
    snprintf (out->name, sizeof (out->name), "%s", name);
    out->wins = (uint32_t) v[0];
    out->losses = (uint32_t) v[1];
    out->forfeits = (uint32_t) v[2];
    return 0;
}

//  own's record, by its name; zeros for a name with no match.
static int s_record (results_t *self, rally_record_t *own)
{
    sqlite3_stmt *st = self->record;
    char name[RALLY_NAME_BUF];
    snprintf (name, sizeof (name), "%s", own->name);
    own->wins = own->losses = own->forfeits = 0;
    int rc = sqlite3_bind_text (st, 1, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step (st);
    if (rc == SQLITE_ROW && s_read_record (st, own) == 0)
        rc = SQLITE_DONE;
    if (rc != SQLITE_DONE)
        s_log (self, "record", rc);
    sqlite3_reset (st);
    sqlite3_clear_bindings (st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int results_standings (results_t *self, size_t max, rally_record_t *top,
                       size_t *count, uint32_t *players, rally_record_t *own)
{
    assert (self && count && players && (top || max == 0));
    *count = 0;
    int64_t many;
    if (s_scalar (self, self->players, &many) != 0)
        return -1;
    *players = many > 0 && many <= UINT32_MAX ? (uint32_t) many : 0;
    if (own && own->name[0] && s_record (self, own) != 0)
        return -1;
    sqlite3_stmt *st = self->standings;
    int64_t limit = max > INT64_MAX ? INT64_MAX : (int64_t) max;
    int rc = sqlite3_bind_int64 (st, 1, limit);
    if (rc == SQLITE_OK)
        rc = sqlite3_step (st);
    size_t n = 0;
    while (rc == SQLITE_ROW && n < max && s_read_record (st, &top[n]) == 0) {
        n++;
        rc = sqlite3_step (st);
    }
    if (rc != SQLITE_DONE)
        s_log (self, "standings", rc);
    sqlite3_reset (st);
    *count = rc == SQLITE_DONE ? n : 0;
    return rc == SQLITE_DONE ? 0 : -1;
}

int results_get (results_t *self, uint32_t match, results_match_t *out)
{
    assert (self && out);
    sqlite3_stmt *st = self->get;
    int rc = sqlite3_bind_int64 (st, 1, match);
    if (rc == SQLITE_OK)
        rc = sqlite3_step (st);
    int result = -1;
    if (rc == SQLITE_ROW)
        result = s_read_row (st, out);
    if (rc == SQLITE_ROW && result != 0)
        zsys_error ("results: match %u is malformed in the database", match);
    else
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        s_log (self, "get", rc);
    sqlite3_reset (st);
    return result;
}

//  --------------------------------------------------------------------------
//  Opening

//  Runs one statement to the end, ignoring any rows.
static int s_exec (sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2 (db, sql, -1, &st, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW)
        rc = sqlite3_step (st);
    sqlite3_finalize (st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

//  Sets WAL mode; an in-memory database keeps its own, "memory".
static int s_journal (sqlite3 *db, char *why, size_t why_size)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2 (db, "PRAGMA journal_mode = WAL", -1, &st,
                                 NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step (st);
    const char *mode = rc == SQLITE_ROW
                     ? (const char *) sqlite3_column_text (st, 0) : NULL;
    if (rc != SQLITE_ROW)
        snprintf (why, why_size, "journal mode: %s", sqlite3_errmsg (db));
    else
    if (!mode || (strcmp (mode, "wal") && strcmp (mode, "memory")))
        snprintf (why, why_size, "journal mode is %s, not wal",
                  mode ? mode : "unknown");
    sqlite3_finalize (st);
    return *why ? -1 : 0;
}

//  Writes the schema version into a new file and reads back the file's.
static int s_version (sqlite3 *db, int64_t *version)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2 (db, "INSERT OR IGNORE INTO meta (key, value)"
                                 " VALUES ('schema_version', ?1)", -1, &st,
                                 NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64 (st, 1, RESULTS_SCHEMA_VERSION);
    if (rc == SQLITE_OK)
        rc = sqlite3_step (st);
    sqlite3_finalize (st);
    if (rc != SQLITE_DONE)
        return rc;
    rc = sqlite3_prepare_v2 (db, "SELECT value FROM meta"
                             " WHERE key = 'schema_version'", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step (st);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

//  Journal, sync level, schema; why says what failed.
static int s_setup (sqlite3 *db, char *why, size_t why_size)
{
    if (s_journal (db, why, why_size) != 0)
        return -1;
    int64_t version = 0;
    if (s_exec (db, "PRAGMA synchronous = NORMAL") != SQLITE_OK
    ||  s_exec (db, s_create_meta) != SQLITE_OK
    ||  s_version (db, &version) != SQLITE_OK) {
        snprintf (why, why_size, "%s", sqlite3_errmsg (db));
        return -1;
    }
    if (version != RESULTS_SCHEMA_VERSION) {
        snprintf (why, why_size, "schema version %" PRId64 ", expected %d",
                  version, RESULTS_SCHEMA_VERSION);
        return -1;
    }
    if (s_exec (db, s_create_matches) != SQLITE_OK) {
        snprintf (why, why_size, "%s", sqlite3_errmsg (db));
        return -1;
    }
    return 0;
}

static int s_prepare_all (results_t *self)
{
    int flags = SQLITE_PREPARE_PERSISTENT;
    const struct {
        const char *sql;
        sqlite3_stmt **st;
    } all[] = {
        { s_sql_store, &self->store },
        { s_sql_get, &self->get },
        { s_sql_since, &self->since },
        { s_sql_max, &self->max },
        { s_sql_count, &self->count },
        { s_sql_recent, &self->recent },
        { s_sql_standings, &self->standings },
        { s_sql_record, &self->record },
        { s_sql_players, &self->players },
        { s_sql_ids, &self->ids }
    };
    for (size_t i = 0; i < sizeof (all) / sizeof (all[0]); i++)
        if (sqlite3_prepare_v3 (self->db, all[i].sql, -1, flags, all[i].st,
                                NULL) != SQLITE_OK)
            return -1;
    return 0;
}

//  Opens the file, sets it up and prepares the statements.
static int s_open (results_t *self, const char *path, char *why,
                   size_t why_size)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2 (path, &self->db, flags, NULL) != SQLITE_OK) {
        snprintf (why, why_size, "%s", sqlite3_errmsg (self->db));
        return -1;
    }
    if (s_setup (self->db, why, why_size) != 0)
        return -1;
    if (s_prepare_all (self) != 0) {
        snprintf (why, why_size, "%s", sqlite3_errmsg (self->db));
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Rows

static bool s_valid (const results_match_t *m)
{
    bool valid = m->match > 0
              && memchr (m->names[0], '\0', RALLY_NAME_BUF)
              && memchr (m->names[1], '\0', RALLY_NAME_BUF)
              && m->winner >= -1 && m->winner <= 1
              && m->forfeit <= 1
              && m->term <= INT64_MAX;
    if (!valid)
        zsys_error ("results: match %u is out of range, not stored",
                    m->match);
    return valid;
}

static int s_bind_match (sqlite3_stmt *st, const results_match_t *m)
{
    int rc[] = {
        sqlite3_bind_int64 (st, 1, m->match),
        sqlite3_bind_text (st, 2, m->names[0], -1, SQLITE_STATIC),
        sqlite3_bind_text (st, 3, m->names[1], -1, SQLITE_STATIC),
        sqlite3_bind_int64 (st, 4, m->score[0]),
        sqlite3_bind_int64 (st, 5, m->score[1]),
        sqlite3_bind_int64 (st, 6, m->winner),
        sqlite3_bind_int64 (st, 7, m->forfeit),
        sqlite3_bind_int64 (st, 8, (sqlite3_int64) m->term)
    };
    for (size_t i = 0; i < sizeof (rc) / sizeof (rc[0]); i++)
        if (rc[i] != SQLITE_OK)
            return rc[i];
    return SQLITE_OK;
}

//  An integer column in lo..hi, or false.
static bool s_int (sqlite3_stmt *st, int col, int64_t lo, int64_t hi,
                   int64_t *value)
{
    *value = sqlite3_column_int64 (st, col);
    return sqlite3_column_type (st, col) == SQLITE_INTEGER
        && *value >= lo && *value <= hi;
}

//  A text column that fits a name, or false.
static bool s_name (sqlite3_stmt *st, int col, char *name)
{
    const unsigned char *text = sqlite3_column_text (st, col);
    int size = sqlite3_column_bytes (st, col);
    if (!text || size < 0 || size > RALLY_NAME_MAX || memchr (text, 0, size))
        return false;
    memcpy (name, text, size);
    name[size] = '\0';
    return true;
}

static int s_read_row (sqlite3_stmt *st, results_match_t *out)
{
    memset (out, 0, sizeof (*out));
    int64_t v[6];
    if (!s_int (st, 0, 1, UINT32_MAX, &v[0])
    ||  !s_name (st, 1, out->names[0])
    ||  !s_name (st, 2, out->names[1])
    ||  !s_int (st, 3, 0, UINT32_MAX, &v[1])
    ||  !s_int (st, 4, 0, UINT32_MAX, &v[2])
    ||  !s_int (st, 5, -1, 1, &v[3])
    ||  !s_int (st, 6, 0, 1, &v[4])
    ||  !s_int (st, 7, 0, INT64_MAX, &v[5]))
        return -1;
    out->match = (uint32_t) v[0];
    out->score[0] = (uint32_t) v[1];
    out->score[1] = (uint32_t) v[2];
    out->winner = (int32_t) v[3];
    out->forfeit = v[4] != 0;
    out->term = (uint64_t) v[5];
    return 0;
}

//  --------------------------------------------------------------------------
//  Queries

//  The one integer a query returns.
static int s_scalar (results_t *self, sqlite3_stmt *st, int64_t *value)
{
    int rc = sqlite3_step (st);
    *value = rc == SQLITE_ROW ? sqlite3_column_int64 (st, 0) : 0;
    if (rc != SQLITE_ROW)
        s_log (self, "query", rc);
    sqlite3_reset (st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static void s_log (results_t *self, const char *what, int rc)
{
    const char *msg = rc == SQLITE_ROW ? "a stored match is malformed"
                                       : sqlite3_errmsg (self->db);
    zsys_error ("results: %s: %s", what, msg);
}
