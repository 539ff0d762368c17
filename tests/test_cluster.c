/*  test_cluster - the cluster file, environment overrides, endpoints. */
#include "rally_cluster.h"
#include "rally_json.h"

#include "check_main.h"
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_path[64];
static char s_reason[256];

//  Writes text to a fresh temporary file whose name is in s_path.
static void s_write (const char *text)
{
    strcpy (s_path, "/tmp/test_cluster_XXXXXX");
    int fd = mkstemp (s_path);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (write (fd, text, strlen (text)), (ssize_t) strlen (text));
    close (fd);
}

static int s_load (rally_cluster_t *cluster, const char *text)
{
    s_write (text);
    rally_cluster_defaults (cluster);
    int rc = rally_cluster_load (cluster, s_path, s_reason, sizeof (s_reason));
    unlink (s_path);
    return rc;
}

START_TEST (defaults_describe_one_local_node)
{
    rally_cluster_t cluster;
    rally_cluster_defaults (&cluster);
    ck_assert_uint_eq (cluster.broker_count, 1);
    ck_assert_str_eq (cluster.brokers[0], "tcp://127.0.0.1:5600");
    const rally_node_conf_t *node = rally_cluster_node (&cluster, 1);
    ck_assert_ptr_nonnull (node);
    ck_assert_str_eq (node->game, "tcp://127.0.0.1:5602");
    ck_assert_uint_eq (cluster.tick_hz, 60);
    ck_assert_uint_eq (cluster.points_to_win, 11);
    ck_assert_ptr_null (rally_cluster_node (&cluster, 2));
}
END_TEST

START_TEST (file_replaces_nodes_and_settings)
{
    rally_cluster_t cluster;
    int rc = s_load (&cluster,
        "rally\n"
        "    broker = \"tcp://broker:5600\"\n"
        "    game\n"
        "        tick_hz = 120\n"
        "    timing\n"
        "        grace_ms = 500\n"
        "    node\n"
        "        id = 2\n"
        "        heartbeat = \"tcp://node2:5601\"\n"
        "        game = \"tcp://node2:5602\"\n"
        "        state = \"tcp://node2:5603\"\n"
        "    node\n"
        "        id = 3\n"
        "        heartbeat = \"tcp://node3:5601\"\n"
        "        game = \"tcp://node3:5602\"\n"
        "        state = \"tcp://node3:5603\"\n");
    ck_assert_msg (rc == 0, "load failed: %s", s_reason);
    ck_assert_str_eq (cluster.brokers[0], "tcp://broker:5600");
    ck_assert_uint_eq (cluster.tick_hz, 120);
    ck_assert_uint_eq (cluster.grace_ms, 500);
    ck_assert_uint_eq (cluster.points_to_win, 11);
    ck_assert_uint_eq (cluster.node_count, 2);
    ck_assert_ptr_null (rally_cluster_node (&cluster, 1));
    ck_assert_str_eq (rally_cluster_node (&cluster, 3)->state, "tcp://node3:5603");
}
END_TEST

START_TEST (bad_files_are_refused_with_a_reason)
{
    static const struct { const char *text; const char *says; } cases[] = {
        { "rally\n    brokr = \"tcp://a:1\"\n", "unknown key rally/brokr" },
        { "rally\n    broker = \"tcp://a:1\"\n    game\n        tick_hz = 500\n",
          "tick_hz must be 10..240" },
        { "rally\n    broker = \"tcp://a:1\"\n    game\n        tick_hz = 6x\n",
          "not '6x'" },
        { "rally\n    broker = \"http://a:1\"\n", "not a tcp://" },
        { "rally\n    game\n        tick_hz = 30\n", "names no broker" },
        { "rally\n    broker = \"tcp://a:1\"\n    node\n        id = 1\n",
          "needs id, heartbeat, game and state" },
        { "rally\n    broker = \"tcp://a:1\"\n    node\n        id = 0\n",
          "node/id must be" },
        { "game\n    tick_hz = 30\n", "expected one 'rally' section" },
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        rally_cluster_t cluster;
        ck_assert_int_eq (s_load (&cluster, cases[i].text), -1);
        ck_assert_msg (strstr (s_reason, cases[i].says),
                       "case %zu: '%s' does not say '%s'", i, s_reason, cases[i].says);
        ck_assert_uint_eq (cluster.tick_hz, 60);    //  unchanged
    }
    rally_cluster_t cluster;
    rally_cluster_defaults (&cluster);
    ck_assert_int_eq (rally_cluster_load (&cluster, "/nonexistent/rally.cfg",
                                          s_reason, sizeof (s_reason)), -1);
    ck_assert_ptr_nonnull (strstr (s_reason, "cannot read"));
}
END_TEST

START_TEST (duplicate_node_is_refused)
{
    rally_cluster_t cluster;
    const char *node =
        "    node\n        id = 4\n        heartbeat = \"tcp://a:1\"\n"
        "        game = \"tcp://a:2\"\n        state = \"tcp://a:3\"\n";
    char text[512];
    snprintf (text, sizeof (text), "rally\n    broker = \"tcp://b:1\"\n%s%s", node, node);
    ck_assert_int_eq (s_load (&cluster, text), -1);
    ck_assert_ptr_nonnull (strstr (s_reason, "node 4 is listed twice"));
}
END_TEST

START_TEST (environment_overrides)
{
    rally_cluster_t cluster;
    rally_cluster_defaults (&cluster);
    setenv ("RALLY_BROKER", "tcp://10.0.0.9:7000", 1);
    setenv ("RALLY_POINTS_TO_WIN", "3", 1);
    setenv ("RALLY_NODE1_GAME", "tcp://node1:9999", 1);
    ck_assert_int_eq (rally_cluster_from_env (&cluster, s_reason, sizeof (s_reason)), 0);
    ck_assert_str_eq (cluster.brokers[0], "tcp://10.0.0.9:7000");
    ck_assert_uint_eq (cluster.points_to_win, 3);
    ck_assert_str_eq (rally_cluster_node (&cluster, 1)->game, "tcp://node1:9999");

    setenv ("RALLY_TICK_HZ", "1000", 1);
    rally_cluster_t before = cluster;
    ck_assert_int_eq (rally_cluster_from_env (&cluster, s_reason, sizeof (s_reason)), -1);
    ck_assert_ptr_nonnull (strstr (s_reason, "RALLY_TICK_HZ"));
    ck_assert_int_eq (memcmp (&before, &cluster, sizeof (cluster)), 0);
    unsetenv ("RALLY_TICK_HZ");
    unsetenv ("RALLY_BROKER");
    unsetenv ("RALLY_POINTS_TO_WIN");
    unsetenv ("RALLY_NODE1_GAME");
}
END_TEST

START_TEST (configure_layers_file_then_environment)
{
    rally_cluster_t cluster;
    s_write ("rally\n"
             "    broker = \"tcp://10.0.0.1:5600\"\n"
             "    game\n"
             "        tick_hz = 30\n"
             "        points_to_win = 5\n");
    setenv ("RALLY_POINTS_TO_WIN", "7", 1);
    int rc = rally_cluster_configure (&cluster, s_path, NULL, 0, s_reason,
                                      sizeof (s_reason));
    ck_assert_msg (rc == 0, "configure failed: %s", s_reason);
    ck_assert_uint_eq (cluster.tick_hz, 30);
    ck_assert_uint_eq (cluster.points_to_win, 7);
    unsetenv ("RALLY_POINTS_TO_WIN");
    unlink (s_path);

    //  No file: the defaults. A bad file: the reason says which.
    ck_assert_int_eq (rally_cluster_configure (&cluster, NULL, NULL, 0,
                                               s_reason, sizeof (s_reason)), 0);
    ck_assert_uint_eq (cluster.tick_hz, 60);
    ck_assert_int_eq (rally_cluster_configure (&cluster, "/nonexistent/x.cfg",
                                               NULL, 0, s_reason,
                                               sizeof (s_reason)), -1);
    ck_assert_ptr_nonnull (strstr (s_reason, "/nonexistent/x.cfg: cannot read"));

    //  --broker flags replace the brokers, and are checked like the file's.
    const char *flags[] = { "tcp://10.0.0.7:5600", "tcp://10.0.0.8:5600",
                            "tcp://10.0.0.9:99999" };
    ck_assert_int_eq (rally_cluster_configure (&cluster, NULL, flags, 2,
                                               s_reason, sizeof (s_reason)), 0);
    ck_assert_uint_eq (cluster.broker_count, 2);
    ck_assert_str_eq (cluster.brokers[1], "tcp://10.0.0.8:5600");
    ck_assert_int_eq (rally_cluster_configure (&cluster, NULL, flags, 3,
                                               s_reason, sizeof (s_reason)), -1);
    ck_assert_ptr_nonnull (strstr (s_reason, "--broker: 'tcp://10.0.0.9:99999'"));
}
END_TEST

START_TEST (planes_and_keys)
{
    //  A broker's peer endpoint is a child of its line; a node's is a key
    //  of its section; keys is taken from the file's own directory.
    rally_cluster_t cluster;
    s_write ("rally\n"
             "    keys = \"pub\"\n"
             "    broker = \"tcp://10.0.0.1:5600\"\n"
             "        peer = \"tcp://10.0.0.1:5609\"\n"
             "    broker = \"tcp://10.0.0.2:5600\"\n"
             "        peer = \"tcp://10.0.0.2:5609\"\n"
             "    node\n"
             "        id = 4\n"
             "        heartbeat = \"tcp://10.0.0.4:5601\"\n"
             "        game = \"tcp://10.0.0.4:5602\"\n"
             "        state = \"tcp://10.0.0.4:5603\"\n"
             "        peer = \"tcp://10.0.0.4:5604\"\n");
    int rc = rally_cluster_configure (&cluster, s_path, NULL, 0, s_reason,
                                      sizeof (s_reason));
    ck_assert_msg (rc == 0, "configure failed: %s", s_reason);
    ck_assert_str_eq (cluster.keys, "/tmp/pub");
    ck_assert_str_eq (cluster.broker_peers[1], "tcp://10.0.0.2:5609");
    ck_assert_uint_eq (cluster.broker_index[1], 2);
    ck_assert_str_eq (rally_cluster_node (&cluster, 4)->peer,
                      "tcp://10.0.0.4:5604");

    //  --broker picks a listed broker by either endpoint, with its place
    //  (its key's name); another endpoint is a broker the file lacks.
    const char *pick[] = { "tcp://10.0.0.2:5609" };
    rc = rally_cluster_configure (&cluster, s_path, pick, 1, s_reason,
                                  sizeof (s_reason));
    ck_assert_msg (rc == 0, "configure failed: %s", s_reason);
    ck_assert_uint_eq (cluster.broker_count, 1);
    ck_assert_str_eq (cluster.brokers[0], "tcp://10.0.0.2:5600");
    ck_assert_uint_eq (cluster.broker_index[0], 2);
    const char *other[] = { "tcp://10.0.0.3:5600" };
    rc = rally_cluster_configure (&cluster, s_path, other, 1, s_reason,
                                  sizeof (s_reason));
    ck_assert_int_eq (rc, 0);
    ck_assert_uint_eq (cluster.broker_index[0], 0);
    ck_assert_str_eq (cluster.broker_peers[0], "tcp://10.0.0.3:5600");

    //  RALLY_KEYS wins over the file.
    setenv ("RALLY_KEYS", "/elsewhere", 1);
    rc = rally_cluster_configure (&cluster, s_path, NULL, 0, s_reason,
                                  sizeof (s_reason));
    unsetenv ("RALLY_KEYS");
    unlink (s_path);
    ck_assert_int_eq (rc, 0);
    ck_assert_str_eq (cluster.keys, "/elsewhere");

    //  Only peer under a broker.
    ck_assert_int_eq (s_load (&cluster, "rally\n    broker = \"tcp://a:1\"\n"
                              "        pear = \"tcp://a:2\"\n"), -1);
    ck_assert_ptr_nonnull (strstr (s_reason, "unknown key broker/pear"));
}
END_TEST

START_TEST (configure_reads_rally_config)
{
    rally_cluster_t cluster;
    //  RALLY_CONFIG names the file when no path is given: how containers,
    //  which cannot easily add --config everywhere, share one.
    s_write ("rally\n"
             "    broker = \"tcp://10.0.0.2:5600\"\n"
             "    game\n"
             "        tick_hz = 30\n");
    char named[sizeof (s_path)];
    strcpy (named, s_path);
    setenv ("RALLY_CONFIG", named, 1);
    int rc = rally_cluster_configure (&cluster, NULL, NULL, 0, s_reason,
                                      sizeof (s_reason));
    ck_assert_msg (rc == 0, "configure failed: %s", s_reason);
    ck_assert_str_eq (cluster.brokers[0], "tcp://10.0.0.2:5600");
    ck_assert_uint_eq (cluster.tick_hz, 30);

    //  An explicit path wins over the variable.
    s_write ("rally\n"
             "    broker = \"tcp://10.0.0.3:5600\"\n"
             "    game\n"
             "        tick_hz = 90\n");
    rc = rally_cluster_configure (&cluster, s_path, NULL, 0, s_reason,
                                  sizeof (s_reason));
    unlink (s_path);
    ck_assert_msg (rc == 0, "configure failed: %s", s_reason);
    ck_assert_str_eq (cluster.brokers[0], "tcp://10.0.0.3:5600");
    ck_assert_uint_eq (cluster.tick_hz, 90);
    unlink (named);

    //  Set but empty means no file: the defaults, not an error.
    setenv ("RALLY_CONFIG", "", 1);
    ck_assert_int_eq (rally_cluster_configure (&cluster, NULL, NULL, 0,
                                               s_reason, sizeof (s_reason)), 0);
    ck_assert_str_eq (cluster.brokers[0], "tcp://127.0.0.1:5600");
    ck_assert_uint_eq (cluster.tick_hz, 60);

    //  A bad file named by the variable fails, and the reason names it.
    s_write ("rally\n    brokr = \"tcp://a:1\"\n");
    setenv ("RALLY_CONFIG", s_path, 1);
    rc = rally_cluster_configure (&cluster, NULL, NULL, 0, s_reason,
                                  sizeof (s_reason));
    unlink (s_path);
    unsetenv ("RALLY_CONFIG");
    ck_assert_int_eq (rc, -1);
    ck_assert_msg (strstr (s_reason, s_path) && strstr (s_reason, "unknown key"),
                   "'%s' does not name %s", s_reason, s_path);
}
END_TEST

START_TEST (set_node_adds_and_replaces)
{
    rally_cluster_t cluster;
    rally_cluster_defaults (&cluster);
    rally_node_conf_t node = { .id = 1, .heartbeat = "tcp://127.0.0.1:1",
                               .game = "tcp://127.0.0.1:2", .state = "tcp://127.0.0.1:3" };
    ck_assert_int_eq (rally_cluster_set_node (&cluster, &node), 0);
    ck_assert_uint_eq (cluster.node_count, 1);
    ck_assert_str_eq (rally_cluster_node (&cluster, 1)->game, "tcp://127.0.0.1:2");
    node.id = 7;
    ck_assert_int_eq (rally_cluster_set_node (&cluster, &node), 0);
    ck_assert_uint_eq (cluster.node_count, 2);
    node.id = 0;
    ck_assert_int_eq (rally_cluster_set_node (&cluster, &node), -1);
}
END_TEST

START_TEST (bind_endpoint_refuses_names)
{
    //  A name would once be bound as "*", on every interface, unasked.
    char buf[RALLY_ENDPOINT_BUF];
    ck_assert_int_eq (rally_cluster_bind_endpoint ("tcp://node2:5602", buf,
                                                   sizeof (buf)), -1);
    ck_assert_int_eq (rally_cluster_check_bind ("tcp://node2:5602", s_reason,
                                                sizeof (s_reason)), -1);
    ck_assert_ptr_nonnull (strstr (s_reason, "names a host"));
    ck_assert_int_eq (rally_cluster_bind_endpoint ("tcp://127.0.0.1:5602", buf,
                                                   sizeof (buf)), 0);
    ck_assert_str_eq (buf, "tcp://127.0.0.1:5602");
    ck_assert_int_eq (rally_cluster_bind_endpoint ("tcp://*:5602", buf,
                                                   sizeof (buf)), 0);
    ck_assert_str_eq (buf, "tcp://*:5602");
    ck_assert_int_eq (rally_cluster_bind_endpoint ("tcp://[::1]:5602", buf,
                                                   sizeof (buf)), 0);
    ck_assert_int_eq (rally_cluster_bind_endpoint ("ipc:///tmp/rally", buf,
                                                   sizeof (buf)), 0);
    ck_assert_str_eq (buf, "ipc:///tmp/rally");
    zsock_t *sock = zsock_new (ZMQ_PUB);
    char endpoint[RALLY_ENDPOINT_BUF] = "tcp://localhost:*";
    ck_assert_int_eq (rally_cluster_bind (sock, endpoint), -1);
    ck_assert_int_eq (errno, EINVAL);
    zsock_destroy (&sock);
}
END_TEST

//  Loads path, which must be refused promptly with a reason saying says.
static void s_refused (const char *path, const char *says)
{
    rally_cluster_t cluster;
    rally_cluster_defaults (&cluster);
    ck_assert_int_eq (rally_cluster_load (&cluster, path, s_reason,
                                          sizeof (s_reason)), -1);
    ck_assert_msg (strstr (s_reason, says), "%s: '%s' does not say '%s'",
                   path, s_reason, says);
    ck_assert_uint_eq (cluster.broker_count, 1);    //  unchanged
}

START_TEST (only_regular_files_are_read)
{
    //  Opening a FIFO for reading waits for a writer: it must not.
    char dir[] = "/tmp/test_cluster_dir_XXXXXX";
    ck_assert_ptr_nonnull (mkdtemp (dir));
    char fifo[64];
    snprintf (fifo, sizeof (fifo), "%s/fifo", dir);
    ck_assert_int_eq (mkfifo (fifo, 0600), 0);
    s_refused (fifo, "not a regular file (a FIFO)");
    s_refused (dir, "not a regular file (a directory)");
    s_refused ("/dev/zero", "not a regular file (a device or socket)");
    unlink (fifo);
    rmdir (dir);
}
END_TEST

START_TEST (large_files_are_refused_in_linear_time)
{
    //  40,000 node sections: refused by their size, before any parse.
    size_t size = 0;
    char *text = NULL;
    FILE *out = open_memstream (&text, &size);
    fprintf (out, "rally\n    broker = \"tcp://127.0.0.1:1\"\n");
    for (int i = 0; i < 40000; i++)
        fprintf (out, "    node\n        id = %d\n", i % 255 + 1);
    fclose (out);
    rally_cluster_t cluster;
    ck_assert_int_eq (s_load (&cluster, text), -1);
    ck_assert_ptr_nonnull (strstr (s_reason, "larger than 65536 bytes"));
    free (text);

    //  Within the size, more items than a cluster file has: counted in
    //  one pass and refused before zconfig, whose parse is quadratic in
    //  the siblings. The count is the whole file's, every item once.
    out = open_memstream (&text, &size);
    fprintf (out, "rally\n    broker = \"tcp://127.0.0.1:1\"\n");
    for (int i = 0; i < 1500; i++)
        fprintf (out, "    timing\n\n    # a comment\n");
    fclose (out);
    ck_assert_int_lt (size, RALLY_CLUSTER_FILE_MAX);
    ck_assert_int_eq (s_load (&cluster, text), -1);
    ck_assert_msg (strstr (s_reason, "1502 items, more than the 1024"),
                   "%s", s_reason);
    free (text);

    //  As many as may be: read, parsed and used.
    out = open_memstream (&text, &size);
    fprintf (out, "rally\n    broker = \"tcp://127.0.0.1:1\"\n");
    for (int i = 0; i < RALLY_CLUSTER_ITEMS_MAX - 4; i++)
        fprintf (out, "    timing\n");
    fprintf (out, "    game\n        tick_hz = 30 # a comment\n");
    fclose (out);
    ck_assert_msg (s_load (&cluster, text) == 0, "%s", s_reason);
    ck_assert_uint_eq (cluster.tick_hz, 30);
    free (text);
}
END_TEST

START_TEST (timings_must_work_together)
{
    static const struct { const char *timing; const char *says; } cases[] = {
        { "heartbeat_ms = 100\n        lease_ms = 200\n",
          "lease_ms 200 is too short for heartbeat_ms 100" },
        { "heartbeat_ms = 50\n        lease_ms = 100\n",
          "(lease_ms >= 114)" },
        { "lease_ms = 1000\n        liveness_ms = 500\n",
          "liveness_ms 500 is shorter than lease_ms 1000" },
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char text[512];
        snprintf (text, sizeof (text), "rally\n    broker = \"tcp://127.0.0.1:1"
                  "\"\n    timing\n        %s", cases[i].timing);
        s_write (text);
        rally_cluster_t cluster;
        ck_assert_int_eq (rally_cluster_configure (&cluster, s_path, NULL, 0,
                                                   s_reason, sizeof (s_reason)),
                          -1);
        unlink (s_path);
        ck_assert_msg (strstr (s_reason, cases[i].says) && strstr (s_reason, s_path),
                       "case %zu: '%s' does not say '%s'", i, s_reason,
                       cases[i].says);
    }
    rally_cluster_t cluster;
    rally_cluster_defaults (&cluster);
    ck_assert_int_eq (rally_cluster_check (&cluster, s_reason, sizeof (s_reason)), 0);
    cluster.lease_ms = 114;
    ck_assert_int_eq (rally_cluster_check (&cluster, s_reason, sizeof (s_reason)), 0);
    cluster.lease_ms = 113;
    ck_assert_int_eq (rally_cluster_check (&cluster, s_reason, sizeof (s_reason)), -1);
    //  The environment is checked with the file.
    rally_cluster_defaults (&cluster);
    setenv ("RALLY_LIVENESS_MS", "100", 1);
    ck_assert_int_eq (rally_cluster_configure (&cluster, NULL, NULL, 0,
                                               s_reason, sizeof (s_reason)), -1);
    unsetenv ("RALLY_LIVENESS_MS");
    ck_assert_ptr_nonnull (strstr (s_reason, "liveness_ms 100 is shorter"));
}
END_TEST

START_TEST (json_strings_are_escaped)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    rally_json_string (out, "a\"b\\c\n\x01é");
    fclose (out);
    ck_assert_str_eq (text, "\"a\\\"b\\\\c\\u000a\\u0001é\"");
    free (text);
}
END_TEST

Suite *rally_test_suite (void)
{
    Suite *suite = suite_create ("cluster");
    TCase *tc = tcase_create ("config");
    tcase_add_test (tc, defaults_describe_one_local_node);
    tcase_add_test (tc, file_replaces_nodes_and_settings);
    tcase_add_test (tc, bad_files_are_refused_with_a_reason);
    tcase_add_test (tc, duplicate_node_is_refused);
    tcase_add_test (tc, environment_overrides);
    tcase_add_test (tc, configure_layers_file_then_environment);
    tcase_add_test (tc, configure_reads_rally_config);
    tcase_add_test (tc, planes_and_keys);
    tcase_add_test (tc, set_node_adds_and_replaces);
    tcase_add_test (tc, bind_endpoint_refuses_names);
    tcase_add_test (tc, only_regular_files_are_read);
    tcase_add_test (tc, large_files_are_refused_in_linear_time);
    tcase_add_test (tc, timings_must_work_together);
    tcase_add_test (tc, json_strings_are_escaped);
    suite_add_tcase (suite, tc);
    return suite;
}
