/*  rally_field - the field layer under both schema codecs.

    Internal to schema/: rally_msg.c (the fixed messages) and rally_repl.c
    (diff and snapshot) stand on it, and nothing outside schema/ should
    include it. It holds what the two codecs share, so that both refuse the
    same things in the same words and cannot drift apart:

    - a field's descriptor: key, kind, range, and where its value lives in
      a C struct, so that a codec is a table of them;
    - the checks on a value, which the decoder and the encoder both run,
      so the encoder refuses what the decoder would;
    - decoding and encoding one scalar, or a fixed array of them;
    - the frame around a message: the size limit, the pre-walk, the unpack,
      and the "v" and "type" keys every map starts with.

    On the wire a value of kind
        uint    is a positive int of any width, kept as uint32 or uint64
        int     is an int of either sign and any width, kept as int32
        str     is a str (never bin) of min..max bytes of valid UTF-8 with
                no NUL, kept NUL-terminated in a buffer of width bytes
        code    is a str of [a-z_] only
        token   is a bin of exactly RALLY_TOKEN_SIZE bytes
    and a field of count n > 0 is an array of exactly n of them, width
    bytes apart in the struct. A list of records is each codec's own
    (rally_msg: arrays of maps; rally_repl: arrays of arrays); its fields
    are of kind list, which this layer does not decode or encode.

    msgpack-c's unpacker allocates arrays and maps from their header counts
    before the elements arrive, so rally_field_unpack reads every header of
    the raw bytes first and refuses any length or count larger than the
    bytes left, nesting deeper than the schema, and anything but one object
    that ends exactly at the end of the frame. Only then does
    msgpack_unpack_next see the bytes.
*/
#ifndef RALLY_FIELD_H_INCLUDED
#define RALLY_FIELD_H_INCLUDED

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    RALLY_FIELD_UINT,       //  unsigned integer, width 4 or 8
    RALLY_FIELD_INT,        //  signed integer, width 4
    RALLY_FIELD_STR,        //  UTF-8 str into a char buffer of width bytes
    RALLY_FIELD_CODE,       //  RALLY_FIELD_STR of [a-z_] only
    RALLY_FIELD_TOKEN,      //  bin of exactly RALLY_TOKEN_SIZE bytes
    RALLY_FIELD_LIST        //  the codec's own list; see list below
} rally_field_kind_t;

//  How a list's elements are laid out: the codec that has such fields
//  (rally_msg.c) defines it; this layer never looks inside.
typedef struct rally_field_list_s rally_field_list_t;

typedef struct {
    const char *key;            //  key on the wire, or name in reasons
    rally_field_kind_t kind;    //  what the value is
    int64_t min;                //  least value, or least string length
    uint64_t max;               //  greatest value, string length, or items
    size_t offset;              //  where the value lives, from the base
    size_t width;               //  bytes of one value (buffer for strings)
    size_t count;               //  0: scalar; n: array of exactly n
    const rally_field_list_t *list;     //  RALLY_FIELD_LIST only
} rally_field_t;

//  Table entries for member f of struct T, kind one of UINT, INT, STR,
//  CODE, TOKEN (whose range is 0, 0): a scalar, or an array of exactly its
//  C length.
#define RALLY_FIELD_SIZE(T, f) sizeof (((T *) 0)->f)
#define RALLY_FIELD(T, kind, key, f, lo, hi) \
    { key, RALLY_FIELD_##kind, lo, hi, offsetof (T, f), \
      RALLY_FIELD_SIZE (T, f), 0, NULL }
#define RALLY_FIELD_ARRAY(T, kind, key, f, lo, hi) \
    { key, RALLY_FIELD_##kind, lo, hi, offsetof (T, f), \
      RALLY_FIELD_SIZE (T, f[0]), \
      RALLY_FIELD_SIZE (T, f) / RALLY_FIELD_SIZE (T, f[0]), NULL }

//  Writes the reason, if there is room for one, and returns -1, so that a
//  refusal is one statement: return rally_field_fail (...).
int rally_field_fail (char *reason, size_t reason_size, const char *format,
                      ...) __attribute__ ((format (printf, 3, 4)));

//  Reads one UTF-8 code point from s (len > 0 bytes left) into *cp.
//  Returns its length, or 0 if the bytes are not valid UTF-8: truncated,
//  overlong, a surrogate, above U+10FFFF, or a stray continuation byte.
size_t rally_field_utf8_next (const uint8_t *s, size_t len, uint32_t *cp);

//  The uint of field f (width 4 or 8) at src, and the int32 at src.
uint64_t rally_field_read_uint (const rally_field_t *f, const uint8_t *src);
int32_t rally_field_read_int (const uint8_t *src);

//  Decodes o as field f (a scalar or fixed array, not a list) into
//  base + f->offset. Returns 0, or -1 with a reason naming the field.
int rally_field_decode (const rally_field_t *f, const msgpack_object *o,
                        uint8_t *base, char *reason, size_t reason_size);

//  Packs field f (a scalar or fixed array, not a list) from base +
//  f->offset. Returns 0, or -1 if a value is out of range or packing fails.
int rally_field_encode (msgpack_packer *pk, const rally_field_t *f,
                        const uint8_t *base);

//  Packs s, NUL-terminated, as a msgpack str.
int rally_field_pack_str (msgpack_packer *pk, const char *s);

//  Packs the head of a message: a map of keys entries (v and type among
//  them), then "v" and this "type". Returns 0 or -1.
int rally_field_pack_head (msgpack_packer *pk, size_t keys, const char *type);

//  True if key is the str name.
bool rally_field_key_is (const msgpack_object *key, const char *name);

//  Refuses key, which is not a field of the map context names (NULL: the
//  top map), quoting it short and printable.
int rally_field_unexpected (const msgpack_object *key, const char *context,
                            char *reason, size_t reason_size);

//  Checks the value of "v": a uint equal to RALLY_PROTOCOL_VERSION.
int rally_field_check_version (const msgpack_object *v, char *reason,
                               size_t reason_size);

//  Refuses a "type" str that names no type: "unknown <what> type '...'".
int rally_field_unknown_type (const msgpack_object *type, const char *what,
                              char *reason, size_t reason_size);

//  Clears reason, then checks that data is 1..max_bytes bytes of exactly
//  one well-formed msgpack object, before msgpack-c allocates anything
//  from it: every str, bin and ext length and every array and map count
//  fits in the bytes left, containers nest at most max_depth deep (<=
//  RALLY_MSG_DEPTH_MAX), there are at most max_objects objects, and
//  nothing follows. Then unpacks it into result, which the caller has
//  initialised and destroys. Returns 0, or -1 with a reason.
int rally_field_unpack (msgpack_unpacked *result, const uint8_t *data,
                        size_t size, size_t max_bytes, size_t max_depth,
                        size_t max_objects, char *reason, size_t reason_size);

#endif
