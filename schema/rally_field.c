/*  rally_field - the field layer under both schema codecs.

    Internal to schema/; rally_field.h says what it holds and why. The
    reasons written here are the ones schema/README.md quotes and the tests
    look for, for rally_msg and rally_repl alike.
*/
#include "rally_field.h"
#include "rally_msg.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Reasons

int rally_field_fail (char *reason, size_t reason_size, const char *format,
                      ...)
{
    if (reason && reason_size > 0) {
        va_list args;
        va_start (args, format);
        vsnprintf (reason, reason_size, format, args);
        va_end (args);
    }
    return -1;
}

//  Copies at most RALLY_MSG_QUOTE_MAX bytes of untrusted text into buf
//  (RALLY_MSG_QUOTE_MAX + 4 bytes), printable ASCII only, "..." if cut, so
//  that a reason quoting a hostile key stays short and readable.
static void s_quote (char *buf, const char *text, size_t size)
{
    assert (buf && (text || size == 0));
    size_t n = size < RALLY_MSG_QUOTE_MAX ? size : RALLY_MSG_QUOTE_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) text[i];
        buf[i] = c >= 0x20 && c < 0x7f ? (char) c : '?';
    }
    strcpy (buf + n, size > n ? "..." : "");
}

int rally_field_unexpected (const msgpack_object *key, const char *context,
                            char *reason, size_t reason_size)
{
    if (key->type != MSGPACK_OBJECT_STR)
        return context ? rally_field_fail (reason, reason_size,
                                           "map key in %s is not a string",
                                           context)
                       : rally_field_fail (reason, reason_size,
                                           "map key is not a string");
    char quoted[RALLY_MSG_QUOTE_MAX + 4];
    s_quote (quoted, key->via.str.ptr, key->via.str.size);
    return context ? rally_field_fail (reason, reason_size,
                                       "unexpected field '%s' in %s", quoted,
                                       context)
                   : rally_field_fail (reason, reason_size,
                                       "unexpected field '%s'", quoted);
}

int rally_field_unknown_type (const msgpack_object *type, const char *what,
                              char *reason, size_t reason_size)
{
    char quoted[RALLY_MSG_QUOTE_MAX + 4];
    s_quote (quoted, type->via.str.ptr, type->via.str.size);
    return rally_field_fail (reason, reason_size, "unknown %s type '%s'",
                             what, quoted);
}

//  --------------------------------------------------------------------------
//  Checks shared by both directions

size_t rally_field_utf8_next (const uint8_t *s, size_t len, uint32_t *cp)
{
    static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2
             : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || n > len)
        return 0;
    uint32_t value = n == 1 ? s[0] : s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        value = (value << 6) | (s[i] & 0x3f);
    }
    if (value < least[n] || value > 0x10ffff
        || (value >= 0xd800 && value <= 0xdfff))
        return 0;
    *cp = value;
    return n;
}

//  Checks a string value against its field; len is its length in bytes,
//  and s need not be terminated. A code is also [a-z_] only.
static int s_check_str (const rally_field_t *f, const char *s, size_t len,
                        char *reason, size_t reason_size)
{
    size_t min = (size_t) f->min, max = (size_t) f->max;
    if (len < min || len > max)
        return rally_field_fail (reason, reason_size,
                                 "field '%s' must be %zu..%zu bytes, not %zu",
                                 f->key, min, max, len);
    const uint8_t *p = (const uint8_t *) s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = rally_field_utf8_next (p + i, len - i, &cp);
        if (n == 0)
            return rally_field_fail (reason, reason_size,
                                     "field '%s' is not valid UTF-8", f->key);
        if (cp == 0)
            return rally_field_fail (reason, reason_size,
                                     "field '%s' contains a NUL byte",
                                     f->key);
        if (f->kind == RALLY_FIELD_CODE && cp != '_'
            && (cp < 'a' || cp > 'z'))
            return rally_field_fail (
                reason, reason_size,
                "field '%s' must be lowercase letters and '_'", f->key);
        i += n;
    }
    return 0;
}

static int s_check_uint (const rally_field_t *f, uint64_t value,
                         char *reason, size_t reason_size)
{
    if (value > f->max)
        return rally_field_fail (reason, reason_size,
                                 "field '%s' out of range: %llu > %llu",
                                 f->key, (unsigned long long) value,
                                 (unsigned long long) f->max);
    if (value < (uint64_t) f->min)
        return rally_field_fail (reason, reason_size,
                                 "field '%s' out of range: %llu < %lld",
                                 f->key, (unsigned long long) value,
                                 (long long) f->min);
    return 0;
}

static int s_check_int (const rally_field_t *f, int64_t value, char *reason,
                        size_t reason_size)
{
    if (value > (int64_t) f->max)
        return rally_field_fail (reason, reason_size,
                                 "field '%s' out of range: %lld > %lld",
                                 f->key, (long long) value,
                                 (long long) f->max);
    if (value < f->min)
        return rally_field_fail (reason, reason_size,
                                 "field '%s' out of range: %lld < %lld",
                                 f->key, (long long) value,
                                 (long long) f->min);
    return 0;
}

uint64_t rally_field_read_uint (const rally_field_t *f, const uint8_t *src)
{
    if (f->width == sizeof (uint64_t)) {
        uint64_t value;
        memcpy (&value, src, sizeof (value));
        return value;
    }
    uint32_t narrow;
    memcpy (&narrow, src, sizeof (narrow));
    return narrow;
}

int32_t rally_field_read_int (const uint8_t *src)
{
    int32_t value;
    memcpy (&value, src, sizeof (value));
    return value;
}

//  --------------------------------------------------------------------------
//  Decoding

static int s_decode_uint (const rally_field_t *f, const msgpack_object *o,
                          uint8_t *dest, char *reason, size_t reason_size)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return rally_field_fail (reason, reason_size,
                                 "field '%s' must be an unsigned integer",
                                 f->key);
    uint64_t value = o->via.u64;
    if (s_check_uint (f, value, reason, reason_size))
        return -1;
    if (f->width == sizeof (uint64_t))
        memcpy (dest, &value, sizeof (value));
    else {
        uint32_t narrow = (uint32_t) value;
        memcpy (dest, &narrow, sizeof (narrow));
    }
    return 0;
}

static int s_decode_int (const rally_field_t *f, const msgpack_object *o,
                         uint8_t *dest, char *reason, size_t reason_size)
{
    int64_t value;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        value = o->via.i64;
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        value = o->via.u64 > INT64_MAX ? INT64_MAX : (int64_t) o->via.u64;
    else
        return rally_field_fail (reason, reason_size,
                                 "field '%s' must be an integer", f->key);
    if (s_check_int (f, value, reason, reason_size))
        return -1;
    int32_t narrow = (int32_t) value;
    memcpy (dest, &narrow, sizeof (narrow));
    return 0;
}

static int s_decode_str (const rally_field_t *f, const msgpack_object *o,
                         uint8_t *dest, char *reason, size_t reason_size)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return rally_field_fail (reason, reason_size,
                                 "field '%s' must be a string", f->key);
    size_t len = o->via.str.size;
    if (s_check_str (f, o->via.str.ptr, len, reason, reason_size))
        return -1;
    memcpy (dest, o->via.str.ptr, len);
    dest[len] = 0;
    return 0;
}

static int s_decode_token (const rally_field_t *f, const msgpack_object *o,
                           uint8_t *dest, char *reason, size_t reason_size)
{
    if (o->type != MSGPACK_OBJECT_BIN)
        return rally_field_fail (reason, reason_size,
                                 "field '%s' must be bin", f->key);
    if (o->via.bin.size != RALLY_TOKEN_SIZE)
        return rally_field_fail (reason, reason_size,
                                 "field '%s' must be %d bytes, not %u",
                                 f->key, RALLY_TOKEN_SIZE,
                                 (unsigned) o->via.bin.size);
    memcpy (dest, o->via.bin.ptr, RALLY_TOKEN_SIZE);
    return 0;
}

static int s_decode_scalar (const rally_field_t *f, const msgpack_object *o,
                            uint8_t *dest, char *reason, size_t reason_size)
{
    switch (f->kind) {
        case RALLY_FIELD_UINT:
            return s_decode_uint (f, o, dest, reason, reason_size);
        case RALLY_FIELD_INT:
            return s_decode_int (f, o, dest, reason, reason_size);
        case RALLY_FIELD_TOKEN:
            return s_decode_token (f, o, dest, reason, reason_size);
        default:
            return s_decode_str (f, o, dest, reason, reason_size);
    }
}

int rally_field_decode (const rally_field_t *f, const msgpack_object *o,
                        uint8_t *base, char *reason, size_t reason_size)
{
    assert (f->kind != RALLY_FIELD_LIST);
    if (f->count == 0)
        return s_decode_scalar (f, o, base + f->offset, reason, reason_size);
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != f->count)
        return rally_field_fail (reason, reason_size,
                                 "field '%s' must be an array of %zu",
                                 f->key, f->count);
    for (size_t i = 0; i < f->count; i++) {
        uint8_t *dest = base + f->offset + i * f->width;
        if (s_decode_scalar (f, &o->via.array.ptr[i], dest, reason,
                             reason_size))
            return -1;
    }
    return 0;
}

bool rally_field_key_is (const msgpack_object *key, const char *name)
{
    size_t len = strlen (name);
    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == len
        && memcmp (key->via.str.ptr, name, len) == 0;
}

int rally_field_check_version (const msgpack_object *v, char *reason,
                               size_t reason_size)
{
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return rally_field_fail (reason, reason_size,
                                 "field 'v' must be an unsigned integer");
    if (v->via.u64 != RALLY_PROTOCOL_VERSION)
        return rally_field_fail (reason, reason_size,
                                 "unsupported protocol version %llu",
                                 (unsigned long long) v->via.u64);
    return 0;
}

//  --------------------------------------------------------------------------
//  Encoding

static int s_pack_str (msgpack_packer *pk, const char *s, size_t len)
{
    return msgpack_pack_str (pk, len) || msgpack_pack_str_body (pk, s, len);
}

int rally_field_pack_str (msgpack_packer *pk, const char *s)
{
    return s_pack_str (pk, s, strlen (s));
}

static int s_encode_scalar (msgpack_packer *pk, const rally_field_t *f,
                            const uint8_t *src)
{
    if (f->kind == RALLY_FIELD_UINT) {
        uint64_t value = rally_field_read_uint (f, src);
        return s_check_uint (f, value, NULL, 0)
            || msgpack_pack_uint64 (pk, value);
    }
    if (f->kind == RALLY_FIELD_INT) {
        int32_t value = rally_field_read_int (src);
        return s_check_int (f, value, NULL, 0)
            || msgpack_pack_int64 (pk, value);
    }
    if (f->kind == RALLY_FIELD_TOKEN)
        return msgpack_pack_bin (pk, RALLY_TOKEN_SIZE)
            || msgpack_pack_bin_body (pk, src, RALLY_TOKEN_SIZE);
    //  An unterminated buffer measures width, above every limit: refused.
    const char *s = (const char *) src;
    size_t len = strnlen (s, f->width);
    return s_check_str (f, s, len, NULL, 0) || s_pack_str (pk, s, len);
}

int rally_field_encode (msgpack_packer *pk, const rally_field_t *f,
                        const uint8_t *base)
{
    assert (f->kind != RALLY_FIELD_LIST);
    if (f->count == 0)
        return s_encode_scalar (pk, f, base + f->offset);
    if (msgpack_pack_array (pk, f->count))
        return -1;
    for (size_t i = 0; i < f->count; i++)
        if (s_encode_scalar (pk, f, base + f->offset + i * f->width))
            return -1;
    return 0;
}

int rally_field_pack_head (msgpack_packer *pk, size_t keys, const char *type)
{
    return msgpack_pack_map (pk, keys) || rally_field_pack_str (pk, "v")
        || msgpack_pack_uint32 (pk, RALLY_PROTOCOL_VERSION)
        || rally_field_pack_str (pk, "type")
        || rally_field_pack_str (pk, type);
}

//  --------------------------------------------------------------------------
//  The frame: every msgpack header checked against the bytes, before any
//  allocation, then the unpack.

typedef struct {
    size_t size;        //  header plus inline payload, in bytes
    uint64_t children;  //  objects that follow inside it (map: 2 per entry)
} s_header_t;

static uint64_t s_be (const uint8_t *p, size_t n)
{
    uint64_t value = 0;
    for (size_t i = 0; i < n; i++)
        value = (value << 8) | p[i];
    return value;
}

//  Reads the header at p (left > 0 bytes). Returns 0, 1 if truncated, or
//  -1 if the byte is not a msgpack type.
static int s_header (const uint8_t *p, size_t left, s_header_t *h)
{
    uint8_t b = p[0];
    size_t len_bytes = 0;   //  bytes of the length that follows b
    size_t fixed = 0;       //  bytes of payload that are not counted
    int container = 0;      //  1 array, 2 map
    h->children = 0;
    h->size = 1;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if (b <= 0x8f) { h->children = 2 * (uint64_t) (b & 0x0f); return 0; }
    if (b <= 0x9f) { h->children = b & 0x0f; return 0; }
    if (b <= 0xbf) { h->size += b & 0x1f; return h->size > left; }
    switch (b) {
        case 0xc4: case 0xc5: case 0xc6:
            len_bytes = (size_t) 1 << (b - 0xc4); break;
        case 0xc7: case 0xc8: case 0xc9:
            len_bytes = (size_t) 1 << (b - 0xc7); fixed = 1; break;
        case 0xca: fixed = 4; break;
        case 0xcb: fixed = 8; break;
        case 0xcc: case 0xcd: case 0xce: case 0xcf:
            fixed = (size_t) 1 << (b - 0xcc); break;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3:
            fixed = (size_t) 1 << (b - 0xd0); break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
            fixed = 1 + ((size_t) 1 << (b - 0xd4)); break;
        case 0xd9: case 0xda: case 0xdb:
            len_bytes = (size_t) 1 << (b - 0xd9); break;
        case 0xdc: case 0xdd:
            len_bytes = (size_t) 2 << (b - 0xdc); container = 1; break;
        case 0xde: case 0xdf:
            len_bytes = (size_t) 2 << (b - 0xde); container = 2; break;
        default:
            return -1;      //  0xc1, never used
    }
    if (1 + len_bytes > left)
        return 1;
    uint64_t n = s_be (p + 1, len_bytes);
    h->size = 1 + len_bytes;
    if (container) {
        h->children = container == 2 ? 2 * n : n;
        return 0;
    }
    //  Lengths are at most 32 bits, so this sum does not overflow.
    uint64_t total = (uint64_t) h->size + fixed + n;
    if (total > left)
        return 1;
    h->size = (size_t) total;
    return 0;
}

//  One pass over the headers, with a count of objects still due at each
//  level; no allocation, so any frame is safe to walk.
static int s_prewalk (const uint8_t *data, size_t size, size_t max_depth,
                      size_t max_objects, char *reason, size_t reason_size)
{
    assert (max_depth <= RALLY_MSG_DEPTH_MAX);
    uint64_t pending[RALLY_MSG_DEPTH_MAX + 1] = { 1 };  //  due per level
    size_t level = 0;
    size_t pos = 0;
    for (size_t objects = 1; ; objects++) {
        if (pos == size)
            return rally_field_fail (reason, reason_size,
                                     "truncated message");
        if (objects > max_objects)
            return rally_field_fail (reason, reason_size,
                                     "too many objects");
        s_header_t h;
        int rc = s_header (data + pos, size - pos, &h);
        if (rc < 0)
            return rally_field_fail (reason, reason_size,
                                     "invalid msgpack byte 0x%02x",
                                     data[pos]);
        if (rc > 0)
            return rally_field_fail (reason, reason_size,
                                     "truncated message");
        uint8_t b = data[pos];
        pos += h.size;
        pending[level]--;
        int is_container = (b >= 0x80 && b <= 0x9f)
                        || (b >= 0xdc && b <= 0xdf);
        if (is_container && level >= max_depth)
            return rally_field_fail (reason, reason_size,
                                     "message nested too deep");
        if (h.children > size - pos)
            return rally_field_fail (reason, reason_size,
                                     "truncated message: count %llu exceeds "
                                     "the bytes left",
                                     (unsigned long long) h.children);
        if (h.children > 0)
            pending[++level] = h.children;
        while (level > 0 && pending[level] == 0)
            level--;
        if (level == 0 && pending[0] == 0)
            break;
    }
    if (pos != size)
        return rally_field_fail (reason, reason_size,
                                 "trailing bytes after the message");
    return 0;
}

int rally_field_unpack (msgpack_unpacked *result, const uint8_t *data,
                        size_t size, size_t max_bytes, size_t max_depth,
                        size_t max_objects, char *reason, size_t reason_size)
{
    assert (result);
    if (reason && reason_size > 0)
        reason[0] = 0;
    if (!data || size == 0)
        return rally_field_fail (reason, reason_size, "empty message");
    if (size > max_bytes)
        return rally_field_fail (reason, reason_size,
                                 "message too large: %zu bytes > %zu", size,
                                 max_bytes);
    if (s_prewalk (data, size, max_depth, max_objects, reason, reason_size))
        return -1;
    size_t offset = 0;
    msgpack_unpack_return ret = msgpack_unpack_next (
        result, (const char *) data, size, &offset);
    if (ret != MSGPACK_UNPACK_SUCCESS || offset != size)
        return rally_field_fail (reason, reason_size, "malformed msgpack");
    return 0;
}
