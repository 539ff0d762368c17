/*  fuzz_field - rally_field_unpack, the pre-walk and unpack under both
    codecs, on any bytes and any limits; and the UTF-8 reader every string
    check stands on.

    Input: one byte of depth limit, one of object limit, then the frame.
    Promises checked: an accepted frame is one object, nested no deeper and
    holding no more objects than the limits allow (so msgpack-c allocated
    nothing a header alone asked for); a refused one says why; the UTF-8
    reader never reads past its length and returns only well-formed,
    in-range code points.
*/
#include "fuzz.h"
#include "rally_field.h"
#include "rally_msg.h"

#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv)
{
    return 0;
}

//  Counts the objects in o and checks their nesting; depth is o's level.
static size_t s_walk (const msgpack_object *o, size_t depth, size_t max_depth)
{
    size_t objects = 1;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        FUZZ_CHECK (depth < max_depth);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            objects += s_walk (&o->via.array.ptr[i], depth + 1, max_depth);
    }
    else
    if (o->type == MSGPACK_OBJECT_MAP) {
        FUZZ_CHECK (depth < max_depth);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            objects += s_walk (&o->via.map.ptr[i].key, depth + 1, max_depth);
            objects += s_walk (&o->via.map.ptr[i].val, depth + 1, max_depth);
        }
    }
    return objects;
}

static void s_utf8 (const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size;) {
        uint32_t cp = 0;
        size_t n = rally_field_utf8_next (data + i, size - i, &cp);
        if (n == 0) {
            i++;
            continue;
        }
        FUZZ_CHECK (n <= 4 && n <= size - i);
        FUZZ_CHECK (cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff));
        //  Shortest form: the length follows from the code point.
        size_t want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        FUZZ_CHECK (n == want);
        i += n;
    }
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max_depth = data[0] % (RALLY_MSG_DEPTH_MAX + 1);
    size_t max_objects = 1 + (size_t) data[1] * 16;
    data += 2;
    size -= 2;
    s_utf8 (data, size);
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    char reason[RALLY_REASON_BUF];
    if (rally_field_unpack (&result, data, size, RALLY_MSG_MAX_BYTES,
                            max_depth, max_objects, reason, sizeof (reason)))
        FUZZ_CHECK (strlen (reason) > 0);
    else
        FUZZ_CHECK (s_walk (&result.data, 0, max_depth) <= max_objects);
    msgpack_unpacked_destroy (&result);
    return 0;
}
