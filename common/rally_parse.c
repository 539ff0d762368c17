/*  rally_parse - values read from people: numbers and endpoints. */
#include "rally_parse.h"
#include "rally_msg.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rally_parse_u64 (const char *text, uint64_t *value)
{
    if (!text || !isdigit ((unsigned char) text[0]))
        return -1;          //  strtoull would take " 7", "-7" and "+7"
    errno = 0;
    char *end;
    unsigned long long parsed = strtoull (text, &end, 10);
    if (errno || *end)
        return -1;
    *value = parsed;
    return 0;
}

int rally_parse_u32 (const char *text, uint32_t min, uint32_t max,
                     uint32_t *value)
{
    uint64_t parsed;
    if (rally_parse_u64 (text, &parsed) || parsed < min || parsed > max)
        return -1;
    *value = (uint32_t) parsed;
    return 0;
}

static int s_refuse (char *reason, size_t reason_size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (reason, reason_size, format, args);
    va_end (args);
    return -1;
}

//  True if host, of length len, is all digits and dots: then it must be a
//  dotted IPv4 address, each part 0..255, or the bind fails obscurely.
static bool s_ipv4_shaped (const char *host, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isdigit ((unsigned char) host[i]) && host[i] != '.')
            return false;
    return true;
}

static bool s_ipv4_valid (const char *host, size_t len)
{
    int parts = 0;
    size_t i = 0;
    while (i < len) {
        unsigned value = 0;
        size_t digits = 0;
        while (i < len && isdigit ((unsigned char) host[i]) && digits < 4) {
            value = value * 10 + (unsigned) (host[i++] - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || value > 255)
            return false;
        parts++;
        if (i < len && host[i++] != '.')
            return false;
        if (i == len && host[len - 1] == '.')
            return false;
    }
    return parts == 4;
}

static bool s_host_valid (const char *host, size_t len)
{
    if (len == 1 && host[0] == '*')
        return true;
    if (len > 2 && host[0] == '[' && host[len - 1] == ']')
        return strspn (host + 1, "0123456789abcdefABCDEF:.") == len - 2;
    if (s_ipv4_shaped (host, len))
        return s_ipv4_valid (host, len);
    for (size_t i = 0; i < len; i++)
        if (!isalnum ((unsigned char) host[i]) && !strchr ("-._", host[i]))
            return false;
    return len > 0;
}

static int s_tcp (const char *text, const char *rest, char *reason,
                  size_t reason_size)
{
    const char *colon = strrchr (rest, ':');
    if (!colon)
        return s_refuse (reason, reason_size, "'%s' has no :PORT", text);
    uint32_t port;
    if (strcmp (colon + 1, "*") && rally_parse_u32 (colon + 1, 1, 65535, &port))
        return s_refuse (reason, reason_size,
                         "'%s': the port must be 1..65535 or *", text);
    if (!s_host_valid (rest, (size_t) (colon - rest)))
        return s_refuse (reason, reason_size, "'%s': bad host", text);
    return 0;
}

int rally_parse_endpoint (const char *text, char *reason, size_t reason_size)
{
    size_t length = text? strlen (text): 0;
    if (length == 0 || length > RALLY_ENDPOINT_MAX)
        return s_refuse (reason, reason_size,
                         "an endpoint is 1..%d bytes", RALLY_ENDPOINT_MAX);
    for (size_t i = 0; i < length; i++)
        if (!isgraph ((unsigned char) text[i]))
            return s_refuse (reason, reason_size,
                             "'%s' has a space or a control character", text);
    if (strncmp (text, "tcp://", 6) == 0)
        return s_tcp (text, text + 6, reason, reason_size);
    if ((strncmp (text, "ipc://", 6) == 0 && text[6])
    ||  (strncmp (text, "inproc://", 9) == 0 && text[9]))
        return 0;
    return s_refuse (reason, reason_size,
                     "'%s' is not a tcp://, ipc:// or inproc:// endpoint", text);
}
