/*  fuzz - what every fuzz target under tests/fuzz/ shares.

    Each target is one file that defines LLVMFuzzerTestOneInput. Built with
    -DRALLY_FUZZ=ON (clang), it links libFuzzer; in any other build it
    links fuzz_replay.c instead, a main that runs the files it is given
    once each, so that the committed corpus replays as a plain test under
    any compiler and under the sanitizers.

    A target aborts, with the line that failed, when a promise of the code
    under test is broken: that is what the fuzzer is there to find. Bad
    input itself is never a failure.
*/
#ifndef FUZZ_H_INCLUDED
#define FUZZ_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

#define FUZZ_CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf (stderr, "fuzz: %s:%d: broken: %s\n", __FILE__, \
                     __LINE__, #cond); \
            abort (); \
        } \
    } while (0)

#endif
