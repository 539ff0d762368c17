/*  results - a game node's store of finished matches, in SQLite.

    Finished matches are part of the replicated state: every node stores
    each one as it applies it, in one SQLite file in its data directory, so
    a full cluster restart loses none, and a node that comes back asks for
    the ones stored after the highest id it holds.

    A match is keyed by its id and never overwritten. Storing it again with
    the same content changes nothing; with different content the stored
    row stays and the store logs an alarm naming both. Ids never repeat:
    see ident.h.

    The file is in WAL mode with synchronous=NORMAL: a commit is one append
    to the log and no fsync, so a power cut can lose the last few matches,
    but never corrupts the file, and a node crash loses nothing. Every
    statement is prepared once, in results_new, and bound per call.
*/
#ifndef RESULTS_H_INCLUDED
#define RESULTS_H_INCLUDED

#include "rally_msg.h"

#define RESULTS_FILE            "results.db"    //  name in a data directory
#define RESULTS_SCHEMA_VERSION  1               //  in table meta

typedef struct _results_t results_t;

//  One finished match: the record the wire's `results` carries (see
//  rally_result_t in rally_msg.h), so that a page read here is sent as is,
//  and one received is stored as is.
typedef rally_result_t results_match_t;

//  Opens the database at path, creating it and its schema if missing
//  (":memory:" for a store that lives as long as the handle). NULL on
//  failure, with why in reason.
results_t *results_new (const char *path, char *reason, size_t reason_size);

//  Closes it; safe on NULL, nulls *self_p.
void results_destroy (results_t **self_p);

//  What results_store did.
typedef enum {
    RESULTS_STORED = 0,         //  a new row
    RESULTS_HELD = 1,           //  the same row was there already
    RESULTS_CONFLICT = 2,       //  another row holds the id: kept, alarm logged
    RESULTS_INVALID = -2,       //  out of range, not stored (logged)
    RESULTS_FAILED = -1         //  a database error (full, locked, read-only;
                                //  logged): try again later
} results_status_t;

//  A run of stored ids, lo..hi inclusive, as a have message carries it.
typedef rally_range_t results_range_t;

//  Stores a finished match (see above for a match stored twice). A match
//  out of range (id 0, a name not terminated, a winner not -1..1, forfeit
//  not 0 or 1, a term above INT64_MAX) is RESULTS_INVALID.
int results_store (results_t *self, const results_match_t *m);

//  The stored ids from lo on, as at most max runs in out, and *count of
//  them. *hi is where that description ends: UINT32_MAX if it covers every
//  id from lo, else the id before the first run that did not fit. -1 on a
//  database error, with *count 0.
int results_ranges (results_t *self, uint32_t lo, size_t max,
                    results_range_t *out, size_t *count, uint32_t *hi);

//  The highest match id stored, 0 if none (or on a database error, logged).
uint32_t results_max_match (results_t *self);

//  Matches stored (0 on a database error, logged).
size_t results_count (results_t *self);

//  Copies into out (room for max) the stored matches with id above after,
//  in id order, at most max, and sets *count to how many. -1 on a database
//  error, with *count 0.
int results_since (results_t *self, uint32_t after, size_t max,
                   results_match_t *out, size_t *count);

//  Copies into out (room for max) the stored matches with an id below
//  before (0: any), newest first, that name played ("" or NULL: anyone),
//  and sets *count. -1 on a database error, with *count 0.
int results_recent (results_t *self, const char *name, uint32_t before,
                    size_t max, results_match_t *out, size_t *count);

//  The leaderboard: players' records (wins, losses, of those forfeited)
//  over every stored match, most wins first, then fewest losses, then by
//  name; at most max into top, *count of them. *players is how many
//  players have a stored match. If own is not NULL, own->name's record is
//  filled in (all 0 for a name with none). -1 on a database error.
int results_standings (results_t *self, size_t max, rally_record_t *top,
                       size_t *count, uint32_t *players, rally_record_t *own);

//  Copies match into out: 0, or -1 if it is not stored.
int results_get (results_t *self, uint32_t match, results_match_t *out);

#endif
