/*  font - the viewer's text: real fonts, rasterised at the size asked for.

    The faces come from fontconfig: a sans-serif face first (DejaVu Sans on
    Debian), then, for any character it lacks, whichever installed face
    fontconfig says covers it (a CJK face such as WenQuanYi Micro Hei), one
    face per character, up to FONT_FACES_MAX. Glyphs are rasterised with
    stb_truetype at whole pixel sizes and packed into one 8-bit atlas, which
    render.c uploads as a texture; nothing here touches GL, so the module is
    tested without a window.
*/
#ifndef FONT_H_INCLUDED
#define FONT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _font_t font_t;

//  One glyph placed relative to the pen, which sits on the baseline.
typedef struct {
    float x0, y0, x1, y1;       //  its box in pixels, y down from the pen
    float u0, v0, u1, v1;       //  the same box in the atlas, 0..1
    float advance;              //  pen moves this far, pixels
    bool visible;               //  has pixels (a space has none)
} font_glyph_t;

//  Finds the faces and makes an atlas of size x size pixels (a power of
//  two, 512 or more). NULL, with the reason logged, if no face loads.
font_t *font_new (int size);

//  Frees the faces and the atlas; nulls *self_p.
void font_destroy (font_t **self_p);

//  Places codepoint cp at px pixels (the font's em height, whole pixels,
//  clamped to 6..512), rasterising it into the atlas the first time. A
//  character no face has shows as the first face's missing-glyph box.
void font_glyph (font_t *self, uint32_t cp, int px, font_glyph_t *glyph);

//  The first face's ascent and line height at px, in pixels.
float font_ascent (font_t *self, int px);
float font_line_height (font_t *self, int px);

//  The atlas's pixels (size x size, one byte each), and the rows changed
//  since font_atlas_clean: [*row0, *row1), empty when row0 == row1.
const uint8_t *font_atlas (font_t *self, int *size, int *row0, int *row1);
void font_atlas_clean (font_t *self);

//  Starts the atlas afresh when it is more than three quarters full, so a
//  window resized through many sizes does not fill it. Call between
//  frames: glyphs placed before it are no longer valid.
void font_trim (font_t *self);

//  How many faces are loaded, and the file of face i (for logs, tests).
size_t font_face_count (font_t *self);
const char *font_face_file (font_t *self, size_t i);

//  Decodes the UTF-8 character at *s (len bytes left) and moves *s past
//  it; a byte that starts no valid character becomes U+FFFD and is
//  skipped alone. Returns 0 at the end.
uint32_t font_utf8_next (const char **s, const char *end);

#endif
