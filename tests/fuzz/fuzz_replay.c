/*  fuzz_replay - runs a fuzz target on files, once each, without libFuzzer.

    Arguments are files or folders (every file in them). This is how the
    seed corpus and every crash found replay as a test in a build that is
    not a fuzzing one: gcc, the sanitizer pass, a developer's build.
*/
#include "fuzz.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

static int s_run_file (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        fprintf (stderr, "fuzz_replay: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 4096, size = 0;
    uint8_t *data = (uint8_t *) malloc (cap);
    size_t got;
    while (data && (got = fread (data + size, 1, cap - size, file)) > 0) {
        size += got;
        if (size == cap)
            data = (uint8_t *) realloc (data, cap *= 2);
    }
    fclose (file);
    if (!data)
        return -1;
    LLVMFuzzerTestOneInput (data, size);
    free (data);
    return 0;
}

//  Runs every regular file of a folder; returns how many, or -1.
static int s_run_dir (const char *path)
{
    DIR *dir = opendir (path);
    if (!dir)
        return -1;
    int runs = 0;
    struct dirent *entry;
    char file[4096];
    while ((entry = readdir (dir))) {
        struct stat st;
        snprintf (file, sizeof (file), "%s/%s", path, entry->d_name);
        if (stat (file, &st) == 0 && S_ISREG (st.st_mode)) {
            if (s_run_file (file))
                return closedir (dir), -1;
            runs++;
        }
    }
    closedir (dir);
    return runs;
}

int main (int argc, char **argv)
{
    LLVMFuzzerInitialize (&argc, &argv);
    int runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat (argv[i], &st)) {
            fprintf (stderr, "fuzz_replay: no such file: %s\n", argv[i]);
            return 1;
        }
        int n = S_ISDIR (st.st_mode) ? s_run_dir (argv[i])
                                     : s_run_file (argv[i]) ? -1 : 1;
        if (n < 0)
            return 1;
        runs += n;
    }
    printf ("fuzz_replay: %d inputs, no failure\n", runs);
    return runs > 0 ? 0 : 1;
}
