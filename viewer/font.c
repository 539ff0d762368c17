/*  font - real fonts for the viewer. See font.h.

    The atlas is packed in shelves: glyphs go left to right along a row as
    high as the tallest glyph in it, and a new row starts below when one
    does not fit. A 2 x 2 white patch at the top-left corner lets render.c
    draw plain rectangles through the same texture. Glyphs are found again
    through a small open-addressed table keyed by face, glyph and size;
    both are started afresh together by font_trim.

    Fallback is per character: the first face that has it draws it; if
    none has, fontconfig is asked once for a face that covers it, and the
    answer (a new face, or none) is remembered, so a name in any script
    costs one look-up per new character, not one per frame.
*/
#include "font.h"

#include "rally_field.h"
#include <czmq.h>
#include <fontconfig/fontconfig.h>
#include <math.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#define STB_TRUETYPE_IMPLEMENTATION
#define STBTT_STATIC
#include <stb_truetype.h>
#pragma GCC diagnostic pop

#define FONT_FACES_MAX      8           //  the first face and fallbacks
#define FONT_SLOTS          8192        //  glyph table; power of two
#define FONT_MISSES_MAX     256         //  characters no face has
#define FONT_FILE_MAX       (64 << 20)  //  a font file larger is refused
#define FONT_PAD            1           //  pixels between glyphs
#define FONT_PX_MIN         6
#define FONT_PX_MAX         512

typedef struct {
    char *file;                         //  where it came from
    uint8_t *data;                      //  the whole file
    stbtt_fontinfo info;                //  stb_truetype's view of it
} face_t;

typedef struct {
    uint64_t key;                       //  0: empty
    font_glyph_t glyph;
} slot_t;

struct _font_t {
    face_t faces[FONT_FACES_MAX];       //  faces[0] is the first choice
    size_t face_count;
    uint32_t misses[FONT_MISSES_MAX];   //  characters no face covers
    size_t miss_count;
    uint8_t *atlas;                     //  size x size, one byte a pixel
    int size;
    int shelf_x, shelf_y, shelf_h;      //  where the next glyph goes
    int dirty0, dirty1;                 //  rows changed since uploaded
    slot_t *slots;                      //  glyphs in the atlas
    size_t used;                        //  slots taken
};

//  --------------------------------------------------------------------------
//  Faces

//  Loads face number index of file; false if it is not a font stb reads.
static bool s_load_face (font_t *self, const char *file, int index)
{
    if (self->face_count == FONT_FACES_MAX)
        return false;
    FILE *in = fopen (file, "rb");
    if (!in)
        return false;
    uint8_t *data = NULL;
    long size = -1;
    if (fseek (in, 0, SEEK_END) == 0)
        size = ftell (in);
    if (size > 0 && size <= FONT_FILE_MAX && fseek (in, 0, SEEK_SET) == 0) {
        data = (uint8_t *) malloc ((size_t) size);
        if (data && fread (data, 1, (size_t) size, in) != (size_t) size) {
            free (data);
            data = NULL;
        }
    }
    fclose (in);
    face_t *face = &self->faces[self->face_count];
    int offset = data? stbtt_GetFontOffsetForIndex (data, index): -1;
    if (offset < 0 || !stbtt_InitFont (&face->info, data, offset)) {
        zsys_warning ("font: cannot read %s", file);
        free (data);
        return false;
    }
    face->data = data;
    face->file = strdup (file);
    self->face_count++;
    zsys_debug ("font: face %zu is %s", self->face_count - 1, file);
    return true;
}

static bool s_have_file (font_t *self, const char *file)
{
    for (size_t i = 0; i < self->face_count; i++)
        if (streq (self->faces[i].file, file))
            return true;
    return false;
}

//  Asks fontconfig for the best face for pattern, and loads it unless it
//  is loaded already. With cp, the face must cover that character.
static bool s_find_face (font_t *self, const char *family, uint32_t cp)
{
    FcPattern *pattern = FcNameParse ((const FcChar8 *) family);
    if (!pattern)
        return false;
    if (cp) {
        FcCharSet *set = FcCharSetCreate ();
        FcCharSetAddChar (set, cp);
        FcPatternAddCharSet (pattern, FC_CHARSET, set);
        FcCharSetDestroy (set);
    }
    FcConfigSubstitute (NULL, pattern, FcMatchPattern);
    FcDefaultSubstitute (pattern);
    FcResult result;
    FcPattern *match = FcFontMatch (NULL, pattern, &result);
    FcPatternDestroy (pattern);
    bool found = false;
    FcChar8 *file = NULL;
    int index = 0;
    if (match && FcPatternGetString (match, FC_FILE, 0, &file) == FcResultMatch) {
        FcPatternGetInteger (match, FC_INDEX, 0, &index);
        FcCharSet *covers = NULL;
        bool has = !cp || (FcPatternGetCharSet (match, FC_CHARSET, 0, &covers)
                           == FcResultMatch && FcCharSetHasChar (covers, cp));
        if (has && !s_have_file (self, (const char *) file))
            found = s_load_face (self, (const char *) file, index);
    }
    if (match)
        FcPatternDestroy (match);
    return found;
}

//  --------------------------------------------------------------------------
//  Constructor and destructor

static void s_atlas_reset (font_t *self)
{
    memset (self->atlas, 0, (size_t) self->size * (size_t) self->size);
    memset (self->slots, 0, FONT_SLOTS * sizeof (slot_t));
    self->used = 0;
    //  The white patch for plain rectangles.
    self->atlas[0] = self->atlas[1] = 255;
    self->atlas[self->size] = self->atlas[self->size + 1] = 255;
    self->shelf_x = 2 + FONT_PAD;
    self->shelf_y = 0;
    self->shelf_h = 2;
    self->dirty0 = 0;
    self->dirty1 = self->size;
}

font_t *font_new (int size)
{
    assert (size >= 512 && (size & (size - 1)) == 0);
    font_t *self = (font_t *) zmalloc (sizeof (font_t));
    self->size = size;
    self->atlas = (uint8_t *) malloc ((size_t) size * (size_t) size);
    self->slots = (slot_t *) malloc (FONT_SLOTS * sizeof (slot_t));
    if (!self->atlas || !self->slots || !FcInit ()) {
        font_destroy (&self);
        return NULL;
    }
    s_atlas_reset (self);
    //  Latin, Greek and Cyrillic first; the rest comes per character.
    if (!s_find_face (self, "DejaVu Sans", 0))
        s_find_face (self, "sans-serif", 0);
    if (self->face_count == 0) {
        zsys_error ("font: fontconfig finds no font (install fonts-dejavu-core)");
        font_destroy (&self);
    }
    return self;
}

void font_destroy (font_t **self_p)
{
    assert (self_p);
    font_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->face_count; i++) {
        free (self->faces[i].data);
        free (self->faces[i].file);
    }
    free (self->atlas);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Glyphs

static bool s_missed (font_t *self, uint32_t cp)
{
    for (size_t i = 0; i < self->miss_count; i++)
        if (self->misses[i] == cp)
            return true;
    return false;
}

//  The face that draws cp, asking fontconfig when no loaded one does;
//  *glyph is its glyph index there. Face 0 with glyph 0 (the box) if none.
static size_t s_face_for (font_t *self, uint32_t cp, int *glyph)
{
    for (size_t i = 0; i < self->face_count; i++)
        if ((*glyph = stbtt_FindGlyphIndex (&self->faces[i].info, (int) cp)))
            return i;
    *glyph = 0;
    if (cp < 0x20 || s_missed (self, cp))
        return 0;
    if (s_find_face (self, "sans-serif", cp)) {
        size_t i = self->face_count - 1;
        if ((*glyph = stbtt_FindGlyphIndex (&self->faces[i].info, (int) cp)))
            return i;
    }
    if (self->miss_count < FONT_MISSES_MAX)
        self->misses[self->miss_count++] = cp;
    zsys_debug ("font: no face has U+%04X", cp);
    return 0;
}

static uint64_t s_hash (uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return key;
}

//  Rasterises glyph of face at px into the next free place of the atlas
//  and fills out. False if it does not fit.
static bool s_rasterise (font_t *self, const face_t *face, int glyph, int px,
                         font_glyph_t *out)
{
    float scale = stbtt_ScaleForPixelHeight (&face->info, (float) px);
    int advance, bearing, x0, y0, x1, y1;
    stbtt_GetGlyphHMetrics (&face->info, glyph, &advance, &bearing);
    stbtt_GetGlyphBitmapBox (&face->info, glyph, scale, scale, &x0, &y0, &x1,
                             &y1);
    *out = (font_glyph_t) { .advance = roundf ((float) advance * scale) };
    int w = x1 - x0, h = y1 - y0;
    if (w <= 0 || h <= 0)
        return true;
    if (w + FONT_PAD > self->size || h + FONT_PAD > self->size)
        return false;
    if (self->shelf_x + w + FONT_PAD > self->size) {
        self->shelf_y += self->shelf_h + FONT_PAD;
        self->shelf_x = 0;
        self->shelf_h = 0;
    }
    if (self->shelf_y + h > self->size)
        return false;
    uint8_t *at = self->atlas + (size_t) self->shelf_y * (size_t) self->size
                + (size_t) self->shelf_x;
    stbtt_MakeGlyphBitmap (&face->info, at, w, h, self->size, scale, scale,
                           glyph);
    float k = 1.0f / (float) self->size;
    out->x0 = (float) x0;
    out->y0 = (float) y0;
    out->x1 = (float) x1;
    out->y1 = (float) y1;
    out->u0 = (float) self->shelf_x * k;
    out->v0 = (float) self->shelf_y * k;
    out->u1 = (float) (self->shelf_x + w) * k;
    out->v1 = (float) (self->shelf_y + h) * k;
    out->visible = true;
    if (self->shelf_y < self->dirty0)
        self->dirty0 = self->shelf_y;
    if (self->shelf_y + h > self->dirty1)
        self->dirty1 = self->shelf_y + h;
    self->shelf_x += w + FONT_PAD;
    if (h > self->shelf_h)
        self->shelf_h = h;
    return true;
}

void font_glyph (font_t *self, uint32_t cp, int px, font_glyph_t *glyph)
{
    assert (self && glyph);
    px = px < FONT_PX_MIN? FONT_PX_MIN: px > FONT_PX_MAX? FONT_PX_MAX: px;
    int index;
    size_t face = s_face_for (self, cp, &index);
    uint64_t key = ((uint64_t) (face + 1) << 48) | ((uint64_t) index << 16)
                 | (uint64_t) px;
    size_t at = (size_t) s_hash (key) & (FONT_SLOTS - 1);
    while (self->slots[at].key && self->slots[at].key != key)
        at = (at + 1) & (FONT_SLOTS - 1);
    if (self->slots[at].key == key) {
        *glyph = self->slots[at].glyph;
        return;
    }
    if (!s_rasterise (self, &self->faces[face], index, px, glyph)) {
        glyph->visible = false;     //  the atlas is full until font_trim
        return;
    }
    if (self->used < FONT_SLOTS * 3 / 4) {
        self->slots[at].key = key;
        self->slots[at].glyph = *glyph;
        self->used++;
    }
}

float font_ascent (font_t *self, int px)
{
    assert (self && self->face_count);
    const stbtt_fontinfo *info = &self->faces[0].info;
    int ascent, descent, gap;
    stbtt_GetFontVMetrics (info, &ascent, &descent, &gap);
    return roundf ((float) ascent * stbtt_ScaleForPixelHeight (info, (float) px));
}

float font_line_height (font_t *self, int px)
{
    assert (self && self->face_count);
    const stbtt_fontinfo *info = &self->faces[0].info;
    int ascent, descent, gap;
    stbtt_GetFontVMetrics (info, &ascent, &descent, &gap);
    float scale = stbtt_ScaleForPixelHeight (info, (float) px);
    return roundf ((float) (ascent - descent + gap) * scale);
}

const uint8_t *font_atlas (font_t *self, int *size, int *row0, int *row1)
{
    assert (self);
    *size = self->size;
    *row0 = self->dirty0;
    *row1 = self->dirty1;
    return self->atlas;
}

void font_atlas_clean (font_t *self)
{
    assert (self);
    self->dirty0 = self->size;
    self->dirty1 = 0;
}

void font_trim (font_t *self)
{
    assert (self);
    bool full = self->shelf_y > self->size * 3 / 4
             || self->used >= FONT_SLOTS * 3 / 4;
    if (full) {
        zsys_debug ("font: the atlas is full; starting it afresh");
        s_atlas_reset (self);
    }
}

size_t font_face_count (font_t *self)
{
    assert (self);
    return self->face_count;
}

const char *font_face_file (font_t *self, size_t i)
{
    assert (self && i < self->face_count);
    return self->faces[i].file;
}

uint32_t font_utf8_next (const char **s, const char *end)
{
    assert (s && *s);
    if (*s >= end || **s == 0)
        return 0;
    uint32_t cp;
    size_t n = rally_field_utf8_next ((const uint8_t *) *s,
                                      (size_t) (end - *s), &cp);
    if (n == 0) {
        (*s)++;
        return 0xFFFD;
    }
    *s += n;
    return cp;
}
