/*  rally_json - JSON string literals. See rally_json.h. */
#include "rally_json.h"

#include <assert.h>

void rally_json_string (FILE *out, const char *text)
{
    assert (out && text);
    fputc ('"', out);
    for (const unsigned char *c = (const unsigned char *) text; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf (out, "\\%c", *c);
        else
        if (*c < 0x20 || *c == 0x7f)
            fprintf (out, "\\u%04x", *c);
        else
            fputc (*c, out);
    }
    fputc ('"', out);
}
