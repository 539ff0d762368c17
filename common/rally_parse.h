/*  rally_parse - values read from people: numbers and endpoints.

    A value means the same whether it comes from a flag, the cluster file or
    the environment, so all three read it here and refuse it in the same
    words. Refusing early matters most for endpoints: ZeroMQ takes
    "tcp://host:99999" and binds port 34463 without a word.
*/
#ifndef RALLY_PARSE_H_INCLUDED
#define RALLY_PARSE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

//  Parses a decimal unsigned value in [min, max]: digits only, no sign, no
//  space. Returns 0, or -1 leaving *value as it was.
int rally_parse_u32 (const char *text, uint32_t min, uint32_t max,
                     uint32_t *value);

//  The same, for any 64-bit value.
int rally_parse_u64 (const char *text, uint64_t *value);

//  Checks that text is an endpoint Rally can bind or connect to, at most
//  RALLY_ENDPOINT_MAX bytes and with no spaces:
//    tcp://HOST:PORT   HOST a name, a dotted IPv4 address, [IPv6] or *;
//                      PORT 1..65535, or * for any free port (to bind:
//                      the program then reports the port it got)
//    ipc://PATH, inproc://NAME
//  Returns 0, or -1 with what is wrong in reason.
int rally_parse_endpoint (const char *text, char *reason, size_t reason_size);

#endif
