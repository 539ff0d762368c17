/*  rally_json - just enough JSON output for event lines and --json reports. */
#ifndef RALLY_JSON_H_INCLUDED
#define RALLY_JSON_H_INCLUDED

#include <stdio.h>

//  Writes text as a JSON string literal, quoted and escaped. Bytes that are
//  not valid UTF-8 never reach here: names are validated on the wire.
void rally_json_string (FILE *out, const char *text);

#endif
