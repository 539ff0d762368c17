/*  test_results - the store of finished matches. Most tests use an
    in-memory database; the ones about files (persistence, WAL, bad paths,
    files it must refuse) work in a fresh temporary directory and remove it.
*/
#include "check_main.h"
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "results.h"

static results_match_t s_match (uint32_t id, const char *left,
                                const char *right, uint32_t left_score,
                                uint32_t right_score, int32_t winner,
                                bool forfeit, uint64_t term)
{
    results_match_t m;
    memset (&m, 0, sizeof (m));
    m.match = id;
    snprintf (m.names[0], sizeof (m.names[0]), "%s", left);
    snprintf (m.names[1], sizeof (m.names[1]), "%s", right);
    m.score[0] = left_score;
    m.score[1] = right_score;
    m.winner = winner;
    m.forfeit = forfeit;
    m.term = term;
    return m;
}

static void s_assert_same (const results_match_t *a, const results_match_t *b)
{
    ck_assert_uint_eq (a->match, b->match);
    ck_assert_str_eq (a->names[0], b->names[0]);
    ck_assert_str_eq (a->names[1], b->names[1]);
    ck_assert_uint_eq (a->score[0], b->score[0]);
    ck_assert_uint_eq (a->score[1], b->score[1]);
    ck_assert_int_eq (a->winner, b->winner);
    ck_assert_int_eq (a->forfeit, b->forfeit);
    ck_assert_uint_eq (a->term, b->term);
}

static results_t *s_memory (void)
{
    char reason[RALLY_REASON_BUF] = "";
    results_t *results = results_new (":memory:", reason, sizeof (reason));
    ck_assert_msg (results, "results_new: %s", reason);
    return results;
}

//  A fresh temporary directory, and path set to a file in it.
static void s_tmpdir (char *dir, size_t dir_size, char *path, size_t size,
                      const char *file)
{
    snprintf (dir, dir_size, "/tmp/rally-results-XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (dir));
    snprintf (path, size, "%s/%s", dir, file);
}

//  Removes the database file and its WAL companions, then the directory.
static void s_rmdir (const char *dir, const char *path)
{
    const char *suffixes[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < sizeof (suffixes) / sizeof (suffixes[0]); i++) {
        char file[512];
        snprintf (file, sizeof (file), "%s%s", path, suffixes[i]);
        unlink (file);
    }
    ck_assert_int_eq (rmdir (dir), 0);
}

//  Runs one statement on a second connection to path.
static void s_sql (const char *path, const char *sql)
{
    sqlite3 *db;
    ck_assert_int_eq (sqlite3_open (path, &db), SQLITE_OK);
    ck_assert_int_eq (sqlite3_exec (db, sql, NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq (sqlite3_close (db), SQLITE_OK);
}

START_TEST (test_store_get)
{
    results_t *results = s_memory ();
    ck_assert_uint_eq (results_count (results), 0);
    results_match_t m = s_match (7, "alice", "bob", 11, 4, 0, false, 3);
    ck_assert_int_eq (results_store (results, &m), 0);
    ck_assert_uint_eq (results_count (results), 1);
    results_match_t got;
    ck_assert_int_eq (results_get (results, 7, &got), 0);
    s_assert_same (&got, &m);
    //  A forfeit with no winner round-trips too.
    m = s_match (8, "carol", "dave", 2, 3, -1, true, 4);
    ck_assert_int_eq (results_store (results, &m), 0);
    ck_assert_int_eq (results_get (results, 8, &got), 0);
    s_assert_same (&got, &m);
    ck_assert_int_eq (results_get (results, 9, &got), -1);
    ck_assert_int_eq (results_get (results, 0, &got), -1);
    results_destroy (&results);
    results_destroy (&results);
    ck_assert_ptr_null (results);
}
END_TEST

START_TEST (test_store_idempotent)
{
    char dir[64], path[128];
    s_tmpdir (dir, sizeof (dir), path, sizeof (path), RESULTS_FILE);
    char reason[RALLY_REASON_BUF] = "";
    results_t *results = results_new (path, reason, sizeof (reason));
    ck_assert_msg (results, "results_new: %s", reason);
    results_match_t m = s_match (1, "alice", "bob", 11, 9, 0, false, 2);
    ck_assert_int_eq (results_store (results, &m), 0);

    //  A second connection sees data_version move only when a commit
    //  changed the file: storing the same match again writes nothing.
    sqlite3 *db;
    ck_assert_int_eq (sqlite3_open (path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    ck_assert_int_eq (sqlite3_prepare_v2 (db, "PRAGMA data_version", -1, &st,
                                          NULL), SQLITE_OK);
    ck_assert_int_eq (sqlite3_step (st), SQLITE_ROW);
    int64_t before = sqlite3_column_int64 (st, 0);
    ck_assert_int_eq (sqlite3_reset (st), SQLITE_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq (results_store (results, &m), RESULTS_HELD);
    ck_assert_int_eq (sqlite3_step (st), SQLITE_ROW);
    ck_assert_int_eq (sqlite3_column_int64 (st, 0), before);
    ck_assert_int_eq (sqlite3_reset (st), SQLITE_OK);
    ck_assert_uint_eq (results_count (results), 1);

    //  Nor does a different row under the same id: a conflict, kept out.
    results_match_t first = m;
    m.score[1] = 10;
    ck_assert_int_eq (results_store (results, &m), RESULTS_CONFLICT);
    ck_assert_int_eq (sqlite3_step (st), SQLITE_ROW);
    ck_assert_int_eq (sqlite3_column_int64 (st, 0), before);
    ck_assert_int_eq (sqlite3_finalize (st), SQLITE_OK);
    m = first;
    ck_assert_int_eq (sqlite3_close (db), SQLITE_OK);

    results_match_t got;
    ck_assert_int_eq (results_get (results, 1, &got), 0);
    s_assert_same (&got, &m);
    results_destroy (&results);
    s_rmdir (dir, path);
}
END_TEST

//  A stored match is never overwritten, whatever the term of the row
//  offered: a full restart once restarted terms at 1, and a later match
//  given a stored id replaced it on every node.
START_TEST (test_never_overwritten)
{
    results_t *results = s_memory ();
    results_match_t old = s_match (4, "alice", "bob", 11, 2, 0, false, 5);
    results_match_t later = s_match (4, "carol", "dave", 3, 0, 1, true, 6);
    results_match_t earlier = s_match (4, "erin", "frank", 1, 11, 1, false, 1);
    ck_assert_int_eq (results_store (results, &old), RESULTS_STORED);
    ck_assert_int_eq (results_store (results, &later), RESULTS_CONFLICT);
    ck_assert_int_eq (results_store (results, &earlier), RESULTS_CONFLICT);
    ck_assert_int_eq (results_store (results, &old), RESULTS_HELD);
    results_match_t got;
    ck_assert_int_eq (results_get (results, 4, &got), 0);
    s_assert_same (&got, &old);
    ck_assert_uint_eq (results_count (results), 1);
    results_destroy (&results);
}
END_TEST

START_TEST (test_ranges)
{
    results_t *results = s_memory ();
    uint32_t ids[] = { 9, 1, 2, 3, 7, 5, 6, 20, UINT32_MAX };
    for (size_t i = 0; i < sizeof (ids) / sizeof (ids[0]); i++) {
        results_match_t m = s_match (ids[i], "a", "b", 1, 0, 0, false, 1);
        ck_assert_int_eq (results_store (results, &m), RESULTS_STORED);
    }
    results_range_t r[8];
    size_t count;
    uint32_t hi;
    ck_assert_int_eq (results_ranges (results, 1, 8, r, &count, &hi), 0);
    ck_assert_uint_eq (count, 5);
    ck_assert_uint_eq (hi, UINT32_MAX);
    uint32_t want[][2] = { {1, 3}, {5, 7}, {9, 9}, {20, 20},
                           {UINT32_MAX, UINT32_MAX} };
    for (size_t i = 0; i < 5; i++) {
        ck_assert_uint_eq (r[i].lo, want[i][0]);
        ck_assert_uint_eq (r[i].hi, want[i][1]);
    }
    //  Two runs fit: the window ends before the third.
    ck_assert_int_eq (results_ranges (results, 2, 2, r, &count, &hi), 0);
    ck_assert_uint_eq (count, 2);
    ck_assert_uint_eq (r[0].lo, 2);
    ck_assert_uint_eq (r[0].hi, 3);
    ck_assert_uint_eq (r[1].hi, 7);
    ck_assert_uint_eq (hi, 8);
    //  Nothing from here on.
    results_destroy (&results);
    results = s_memory ();
    ck_assert_int_eq (results_ranges (results, 1, 2, r, &count, &hi), 0);
    ck_assert_uint_eq (count, 0);
    ck_assert_uint_eq (hi, UINT32_MAX);
    results_destroy (&results);
}
END_TEST

START_TEST (test_since_pages)
{
    results_t *results = s_memory ();
    //  Stored out of order; read back in id order, two at a time.
    uint32_t ids[] = { 9, 1, 5, 3, 7 };
    for (size_t i = 0; i < 5; i++) {
        results_match_t m = s_match (ids[i], "a", "b", ids[i], 0, 0, false, 1);
        ck_assert_int_eq (results_store (results, &m), 0);
    }
    uint32_t want[] = { 1, 3, 5, 7, 9 };
    size_t seen = 0;
    uint32_t after = 0;
    results_match_t page[2];
    size_t count;
    do {
        ck_assert_int_eq (results_since (results, after, 2, page, &count), 0);
        ck_assert_uint_le (count, 2);
        for (size_t i = 0; i < count; i++) {
            ck_assert_uint_lt (seen, 5);
            ck_assert_uint_eq (page[i].match, want[seen]);
            ck_assert_uint_eq (page[i].score[0], want[seen]);
            seen++;
            after = page[i].match;
        }
    } while (count == 2);
    ck_assert_uint_eq (seen, 5);
    //  From the middle, and past the end.
    ck_assert_int_eq (results_since (results, 4, 2, page, &count), 0);
    ck_assert_uint_eq (count, 2);
    ck_assert_uint_eq (page[0].match, 5);
    ck_assert_uint_eq (page[1].match, 7);
    ck_assert_int_eq (results_since (results, 9, 2, page, &count), 0);
    ck_assert_uint_eq (count, 0);
    //  Room for none.
    count = 99;
    ck_assert_int_eq (results_since (results, 0, 0, NULL, &count), 0);
    ck_assert_uint_eq (count, 0);
    results_destroy (&results);
}
END_TEST

//  The leaderboard and history agree with what was stored: every match
//  counted once per side, forfeits among the losses, best first.
START_TEST (test_standings_and_recent)
{
    results_t *r = s_memory ();
    results_match_t m[] = {
        s_match (1, "ann", "bob", 11, 3, 0, false, 1),
        s_match (2, "bob", "cy", 11, 9, 0, false, 1),
        s_match (3, "cy", "ann", 2, 4, 1, true, 1),     //  cy forfeits
        s_match (4, "Zo\xc3\xab \xe6\x97\xa5", "ann", 11, 1, 0, false, 2),
        s_match (5, "bob", "ann", 0, 0, -1, false, 2),  //  no winner
    };
    for (size_t i = 0; i < sizeof (m) / sizeof (m[0]); i++)
        ck_assert_int_eq (results_store (r, &m[i]), 0);
    rally_record_t top[RALLY_BOARD_MAX], own;
    size_t count = 0;
    uint32_t players = 0;
    snprintf (own.name, sizeof (own.name), "cy");
    ck_assert_int_eq (results_standings (r, RALLY_BOARD_MAX, top, &count,
                                         &players, &own), 0);
    ck_assert_uint_eq (players, 4);
    ck_assert_uint_eq (count, 4);
    //  ann 2-1; then Zoe 1-0 before bob 1-1 (fewer losses); cy 0-2, one
    //  of them forfeited. A match with no winner counts for nobody.
    ck_assert_str_eq (top[0].name, "ann");
    ck_assert_uint_eq (top[0].wins, 2);
    ck_assert_uint_eq (top[0].losses, 1);
    ck_assert_str_eq (top[1].name, "Zo\xc3\xab \xe6\x97\xa5");
    ck_assert_str_eq (top[2].name, "bob");
    ck_assert_uint_eq (top[2].wins, 1);
    ck_assert_uint_eq (top[2].losses, 1);
    ck_assert_str_eq (top[3].name, "cy");
    ck_assert_uint_eq (own.wins, 0);
    ck_assert_uint_eq (own.losses, 2);
    ck_assert_uint_eq (own.forfeits, 1);
    //  A name with no match has a record of zeros; a short board.
    snprintf (own.name, sizeof (own.name), "nobody");
    ck_assert_int_eq (results_standings (r, 2, top, &count, &players, &own), 0);
    ck_assert_uint_eq (count, 2);
    ck_assert_uint_eq (own.wins + own.losses + own.forfeits, 0);

    results_match_t out[8];
    ck_assert_int_eq (results_recent (r, "ann", 0, 8, out, &count), 0);
    ck_assert_uint_eq (count, 4);
    ck_assert_uint_eq (out[0].match, 5);    //  newest first
    ck_assert_uint_eq (out[3].match, 1);
    ck_assert_int_eq (results_recent (r, "", 4, 2, out, &count), 0);
    ck_assert_uint_eq (count, 2);
    ck_assert_uint_eq (out[0].match, 3);
    ck_assert_uint_eq (out[1].match, 2);
    ck_assert_int_eq (results_recent (r, NULL, 0, 8, out, &count), 0);
    ck_assert_uint_eq (count, 5);
    results_destroy (&r);
}
END_TEST

START_TEST (test_max_match)
{
    results_t *results = s_memory ();
    ck_assert_uint_eq (results_max_match (results), 0);
    results_match_t m = s_match (12, "a", "b", 1, 0, 0, false, 1);
    ck_assert_int_eq (results_store (results, &m), 0);
    m.match = 3;
    ck_assert_int_eq (results_store (results, &m), 0);
    ck_assert_uint_eq (results_max_match (results), 12);
    m.match = UINT32_MAX;
    ck_assert_int_eq (results_store (results, &m), 0);
    ck_assert_uint_eq (results_max_match (results), UINT32_MAX);
    ck_assert_uint_eq (results_count (results), 3);
    results_destroy (&results);
}
END_TEST

START_TEST (test_reopen_keeps_matches)
{
    char dir[64], path[128];
    s_tmpdir (dir, sizeof (dir), path, sizeof (path), RESULTS_FILE);
    char reason[RALLY_REASON_BUF] = "";
    results_t *results = results_new (path, reason, sizeof (reason));
    ck_assert_msg (results, "results_new: %s", reason);
    results_match_t m[3] = {
        s_match (1, "alice", "bob", 11, 9, 0, false, 1),
        s_match (2, "carol", "dave", 0, 0, -1, true, 1),
        s_match (3, "erin", "frank", 7, 11, 1, true, 2 + (1ull << 40))
    };
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq (results_store (results, &m[i]), 0);
    results_destroy (&results);

    results = results_new (path, reason, sizeof (reason));
    ck_assert_msg (results, "results_new again: %s", reason);
    ck_assert_uint_eq (results_count (results), 3);
    ck_assert_uint_eq (results_max_match (results), 3);
    results_match_t got[3];
    size_t count;
    ck_assert_int_eq (results_since (results, 0, 3, got, &count), 0);
    ck_assert_uint_eq (count, 3);
    for (size_t i = 0; i < 3; i++)
        s_assert_same (&got[i], &m[i]);

    //  The file is in WAL mode, which lasts; synchronous is per connection.
    sqlite3 *db;
    sqlite3_stmt *st;
    ck_assert_int_eq (sqlite3_open (path, &db), SQLITE_OK);
    ck_assert_int_eq (sqlite3_prepare_v2 (db, "PRAGMA journal_mode", -1, &st,
                                          NULL), SQLITE_OK);
    ck_assert_int_eq (sqlite3_step (st), SQLITE_ROW);
    ck_assert_str_eq ((const char *) sqlite3_column_text (st, 0), "wal");
    ck_assert_int_eq (sqlite3_finalize (st), SQLITE_OK);
    ck_assert_int_eq (sqlite3_close (db), SQLITE_OK);
    results_destroy (&results);
    s_rmdir (dir, path);
}
END_TEST

START_TEST (test_bad_path)
{
    char dir[64], path[128];
    s_tmpdir (dir, sizeof (dir), path, sizeof (path), "missing/results.db");
    char reason[RALLY_REASON_BUF] = "";
    ck_assert_ptr_null (results_new (path, reason, sizeof (reason)));
    ck_assert_ptr_nonnull (strstr (reason, path));
    ck_assert_uint_gt (strlen (reason), strlen (path) + 2);
    //  No room for a reason is allowed too.
    ck_assert_ptr_null (results_new (path, NULL, 0));
    s_rmdir (dir, path);
}
END_TEST

START_TEST (test_refuses_other_files)
{
    char dir[64], path[128];
    s_tmpdir (dir, sizeof (dir), path, sizeof (path), RESULTS_FILE);
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    for (int i = 0; i < 64; i++)
        fputs ("not a database, ", file);
    ck_assert_int_eq (fclose (file), 0);
    char reason[RALLY_REASON_BUF] = "";
    ck_assert_ptr_null (results_new (path, reason, sizeof (reason)));
    ck_assert_ptr_nonnull (strstr (reason, "not a database"));
    ck_assert_int_eq (unlink (path), 0);

    //  A file from a later schema is refused, not misread.
    s_sql (path, "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL,"
                 " value INTEGER NOT NULL);"
                 "INSERT INTO meta VALUES ('schema_version', 2)");
    ck_assert_ptr_null (results_new (path, reason, sizeof (reason)));
    ck_assert_ptr_nonnull (strstr (reason, "schema version 2"));
    s_rmdir (dir, path);
}
END_TEST

START_TEST (test_utf8_names)
{
    results_t *results = s_memory ();
    //  Sixteen code points in 32 bytes: the longest name there is.
    const char *longest = "ÀÉÎÕÜàéîõüçñßøåæ";
    ck_assert_uint_eq (strlen (longest), RALLY_NAME_MAX);
    results_match_t m = s_match (1, "Zoë 小明", longest, 5, 11, 1, false, 1);
    ck_assert_int_eq (results_store (results, &m), 0);
    results_match_t got;
    ck_assert_int_eq (results_get (results, 1, &got), 0);
    s_assert_same (&got, &m);
    ck_assert_int_eq (memcmp (got.names[1], longest, RALLY_NAME_MAX + 1), 0);
    results_destroy (&results);
}
END_TEST

START_TEST (test_out_of_range)
{
    results_t *results = s_memory ();
    results_match_t m = s_match (0, "a", "b", 1, 0, 0, false, 1);
    ck_assert_int_eq (results_store (results, &m), RESULTS_INVALID);
    m = s_match (1, "a", "b", 1, 0, 2, false, 1);
    ck_assert_int_eq (results_store (results, &m), RESULTS_INVALID);
    m = s_match (1, "a", "b", 1, 0, -2, false, 1);
    ck_assert_int_eq (results_store (results, &m), RESULTS_INVALID);
    m = s_match (1, "a", "b", 1, 0, 0, false, (uint64_t) INT64_MAX + 1);
    ck_assert_int_eq (results_store (results, &m), RESULTS_INVALID);
    m = s_match (1, "a", "b", 1, 0, 0, false, 1);
    m.forfeit = 2;                      //  a flag: 0 or 1
    ck_assert_int_eq (results_store (results, &m), RESULTS_INVALID);
    m = s_match (1, "a", "b", 1, 0, 0, false, 1);
    memset (m.names[1], 'x', sizeof (m.names[1]));
    ck_assert_int_eq (results_store (results, &m), RESULTS_INVALID);
    ck_assert_uint_eq (results_count (results), 0);
    //  The limits themselves are fine.
    m = s_match (UINT32_MAX, "a", "b", UINT32_MAX, 0, 0, false, INT64_MAX);
    ck_assert_int_eq (results_store (results, &m), 0);
    results_match_t got;
    ck_assert_int_eq (results_get (results, UINT32_MAX, &got), 0);
    s_assert_same (&got, &m);
    results_destroy (&results);
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *s = suite_create ("results");
    TCase *tc = tcase_create ("store");
    tcase_add_test (tc, test_store_get);
    tcase_add_test (tc, test_store_idempotent);
    tcase_add_test (tc, test_never_overwritten);
    tcase_add_test (tc, test_ranges);
    tcase_add_test (tc, test_since_pages);
    tcase_add_test (tc, test_max_match);
    tcase_add_test (tc, test_standings_and_recent);
    tcase_add_test (tc, test_out_of_range);
    tcase_add_test (tc, test_utf8_names);
    suite_add_tcase (s, tc);
    tc = tcase_create ("files");
    tcase_add_test (tc, test_reopen_keeps_matches);
    tcase_add_test (tc, test_bad_path);
    tcase_add_test (tc, test_refuses_other_files);
    suite_add_tcase (s, tc);
    return s;
}
