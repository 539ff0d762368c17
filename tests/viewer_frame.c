/*  rally-frame-check FILE - does this screenshot show a game of Pong?
    rally-frame-check --lines FILE - where is the text in it? (see below)

    Reads a PNG of the viewer's window and looks for what a match frame must
    hold, by shape alone: the viewer draws light things on a dark field, so
    the bright pixels are split into connected components and each is
    classified.

      - Two paddles: filled, upright rectangles (height > 3 x width), tall
        enough to be a sixth of a field (8000 of 48000 units), one in the
        left third of the image and one in the right third, of about the
        same size, reaching below the text band at the top (glyphs are
        never that tall).
      - One ball: a filled, roughly square component centred below the
        text band, about as wide as a paddle and much shorter than one.
        (A ball touching the top wall is in the band and is not found: the
        frames checked are the first of a match, with the ball served from
        the centre.)
      - Text: small components (glyphs) in each third of the top fifth,
        where the viewer writes a name left and right and the score between.

    The centre line is dim and its dashes are short and in the middle third;
    glyph strokes are thin too but live in the top band; so neither passes
    for a paddle. A blank picture has no components, and noise has no
    filled rectangles, so both fail. Exit 0 if everything is found, 1 with
    the reason otherwise (an unreadable file too); 2 for a usage error.
    --selftest checks the checker on frames it draws itself.
*/
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wshadow"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb_image.h>
#pragma GCC diagnostic pop

//  A pixel is bright at or above this luminance (0..255).
#define BRIGHT_MIN          160
//  Text lives in this top fraction of the image.
#define TEXT_BAND           0.20
//  Glyphs needed in each third of the text band: a name on the left and
//  on the right, the two scores in the middle.
#define TEXT_GLYPHS_MIN     2
//  Filled: pixels over bounding-box area.
#define FILLED_MIN          0.90
//  The field takes at least this fraction of the image's height below the
//  text band; a paddle is a sixth of the field's height.
#define FIELD_SHARE_MIN     0.75
#define PADDLE_SHARE        (8000.0 / 48000.0)
//  More bright pixels than this fraction is not a dark game frame.
#define BRIGHT_SHARE_MAX    0.15

typedef struct {
    int x0, y0, x1, y1;         //  bounding box, inclusive
    long pixels;                //  bright pixels in the component
} blob_t;

typedef struct {
    blob_t *items;
    size_t count, capacity;
} blobs_t;

static int s_w (const blob_t *b) { return b->x1 - b->x0 + 1; }
static int s_h (const blob_t *b) { return b->y1 - b->y0 + 1; }
static double s_cx (const blob_t *b) { return (b->x0 + b->x1) / 2.0; }
static double s_cy (const blob_t *b) { return (b->y0 + b->y1) / 2.0; }

static double s_fill (const blob_t *b)
{
    return (double) b->pixels / ((double) s_w (b) * s_h (b));
}

static bool s_push (blobs_t *blobs, blob_t blob)
{
    if (blobs->count == blobs->capacity) {
        size_t capacity = blobs->capacity? blobs->capacity * 2: 256;
        blob_t *items = realloc (blobs->items, capacity * sizeof (blob_t));
        if (!items)
            return false;
        blobs->items = items;
        blobs->capacity = capacity;
    }
    blobs->items[blobs->count++] = blob;
    return true;
}

//  Labels the 4-connected components of the bright mask (cleared as it
//  goes) with an explicit stack. Returns 0, or -1 if memory ran out.
static int s_components (uint8_t *mask, int w, int h, blobs_t *blobs)
{
    size_t total = (size_t) w * h;
    int32_t *stack = malloc (total * sizeof (int32_t));
    if (!stack)
        return -1;
    for (size_t start = 0; start < total; start++) {
        if (!mask[start])
            continue;
        blob_t b = { w, h, -1, -1, 0 };
        size_t top = 0;
        stack[top++] = (int32_t) start;
        mask[start] = 0;
        while (top > 0) {
            int32_t p = stack[--top];
            int x = p % w, y = p / w;
            b.pixels++;
            if (x < b.x0) b.x0 = x;
            if (x > b.x1) b.x1 = x;
            if (y < b.y0) b.y0 = y;
            if (y > b.y1) b.y1 = y;
            int32_t next[4] = { x > 0? p - 1: -1, x < w - 1? p + 1: -1,
                                 y > 0? p - w: -1, y < h - 1? p + w: -1 };
            for (int i = 0; i < 4; i++)
                if (next[i] >= 0 && mask[next[i]]) {
                    mask[next[i]] = 0;
                    stack[top++] = next[i];
                }
        }
        if (!s_push (blobs, b)) {
            free (stack);
            return -1;
        }
    }
    free (stack);
    return 0;
}

static void s_print (const char *what, const blob_t *b)
{
    printf ("  %s: %dx%d px at (%d, %d), fill %.2f\n", what, s_w (b), s_h (b),
            b->x0, b->y0, s_fill (b));
}

//  The check itself; returns the reason it fails, or NULL.
static const char *s_check (const uint8_t *rgb, int w, int h)
{
    static char reason[256];
    size_t total = (size_t) w * h;
    uint8_t *mask = malloc (total);
    if (!mask)
        return "out of memory";
    size_t bright = 0;
    for (size_t i = 0; i < total; i++) {
        const uint8_t *p = rgb + i * 3;
        int lum = (299 * p[0] + 587 * p[1] + 114 * p[2]) / 1000;
        mask[i] = lum >= BRIGHT_MIN;
        bright += mask[i];
    }
    printf ("image %dx%d, %zu bright pixels (%.1f%%)\n", w, h, bright,
            100.0 * bright / total);
    if (bright > total * BRIGHT_SHARE_MAX) {
        free (mask);
        return "too many bright pixels for a dark game frame";
    }
    blobs_t blobs = { 0 };
    int rc = s_components (mask, w, h, &blobs);
    free (mask);
    if (rc) {
        free (blobs.items);
        return "out of memory";
    }
    printf ("%zu bright components\n", blobs.count);

    double band = h * TEXT_BAND;
    double paddle_min = (h - band) * FIELD_SHARE_MIN * PADDLE_SHARE;
    int glyphs[3] = { 0 }, left_n = 0, right_n = 0;
    blob_t left = { 0 }, right = { 0 };
    for (size_t i = 0; i < blobs.count; i++) {
        const blob_t *b = &blobs.items[i];
        if (b->y0 < band && s_h (b) < band && s_w (b) < w / 4 && b->pixels >= 3)
            glyphs[s_cx (b) < w / 3.0? 0: s_cx (b) > w * 2 / 3.0? 2: 1]++;
        if (b->y1 < band || s_fill (b) < FILLED_MIN
        ||  s_h (b) < paddle_min || s_h (b) < 3 * s_w (b) || s_h (b) > h / 2)
            continue;
        if (s_cx (b) < w / 3.0) {
            left = *b;
            left_n++;
        }
        else
        if (s_cx (b) > w * 2 / 3.0) {
            right = *b;
            right_n++;
        }
    }
    printf ("glyph-sized components in the top %.0f px: %d left, %d middle,"
            " %d right\n", band, glyphs[0], glyphs[1], glyphs[2]);
    if (left_n == 1)
        s_print ("left paddle", &left);
    if (right_n == 1)
        s_print ("right paddle", &right);

    const char *fail = NULL;
    if (left_n != 1 || right_n != 1) {
        snprintf (reason, sizeof reason, "want one paddle (filled, upright,"
                  " >= %.0f px tall) in each outer third, found %d left and"
                  " %d right", paddle_min, left_n, right_n);
        fail = reason;
    }
    else
    if (s_h (&left) * 4 < s_h (&right) * 3 || s_h (&right) * 4 < s_h (&left) * 3
    ||  s_w (&left) * 2 < s_w (&right) || s_w (&right) * 2 < s_w (&left))
        fail = "the paddles differ in size";
    if (fail) {
        free (blobs.items);
        return fail;
    }

    //  The ball: about as wide as a paddle, square, in the field.
    double pw = (s_w (&left) + s_w (&right)) / 2.0;
    double ph = (s_h (&left) + s_h (&right)) / 2.0;
    int ball_n = 0;
    blob_t ball = { 0 };
    for (size_t i = 0; i < blobs.count; i++) {
        const blob_t *b = &blobs.items[i];
        double side = (s_w (b) + s_h (b)) / 2.0;
        if (s_cy (b) < band || s_fill (b) < FILLED_MIN
        ||  s_w (b) * 3 < s_h (b) * 2 || s_h (b) * 3 < s_w (b) * 2
        ||  side < pw * 0.4 || side > pw * 2 || side > ph / 3 || side < 3)
            continue;
        ball = *b;
        ball_n++;
    }
    free (blobs.items);
    if (ball_n == 1)
        s_print ("ball", &ball);
    if (ball_n != 1) {
        snprintf (reason, sizeof reason, "want one ball (a filled square about"
                  " %.0f px wide), found %d", pw, ball_n);
        return reason;
    }
    if (glyphs[0] < TEXT_GLYPHS_MIN || glyphs[1] < TEXT_GLYPHS_MIN
    ||  glyphs[2] < TEXT_GLYPHS_MIN) {
        snprintf (reason, sizeof reason, "want text at the top, left, middle"
                  " and right (names and score, %d glyphs or more each),"
                  " found %d, %d and %d", TEXT_GLYPHS_MIN, glyphs[0],
                  glyphs[1], glyphs[2]);
        return reason;
    }
    return NULL;
}

//  --------------------------------------------------------------------------
//  Selftest: the check must pass a frame drawn the way the viewer draws one
//  and fail a blank picture, noise, and frames missing any one part.

#define ST_W 960
#define ST_H 720

static void s_fill_rect (uint8_t *rgb, int x, int y, int w, int h, uint8_t v)
{
    for (int yy = y; yy < y + h; yy++)
        memset (rgb + ((size_t) yy * ST_W + x) * 3, v, (size_t) w * 3);
}

//  A dark frame; parts is a mask: 1 paddles, 2 ball, 4 text (names and
//  score), 8 bright net, 16 a short right paddle, 32 one name only.
static void s_synth (uint8_t *rgb, int parts)
{
    memset (rgb, 12, (size_t) ST_W * ST_H * 3);
    s_fill_rect (rgb, 68, 90, 824, 618, 24);
    if (parts & 1) {
        s_fill_rect (rgb, 91, 348, 16, 103, 230);
        s_fill_rect (rgb, 853, 348, 16, parts & 16? 75: 103, 230);
    }
    if (parts & 2)
        s_fill_rect (rgb, 474, 393, 12, 12, 240);
    if (parts & 4)              //  a name, a score, a name
        for (int x = 70; x < 890; x += 20)
            if (x < 200 || (x > 420 && x < 540) || x > 760)
                s_fill_rect (rgb, x, 20, 3, 20, 240);
    if (parts & 32)             //  one name only
        for (int x = 70; x < 200; x += 20)
            s_fill_rect (rgb, x, 20, 3, 20, 240);
    if (parts & 8)
        for (int y = 90; y < 700; y += 40)
            if (y < 380 || y > 420)
                s_fill_rect (rgb, 478, y, 4, 20, 240);
}

//  Noise: each pixel grey at random; one in share/256 white, or random
//  colours when share is 256.
static void s_noise (uint8_t *rgb, int share)
{
    uint32_t seed = 12345;
    for (size_t p = 0; p < (size_t) ST_W * ST_H; p++) {
        for (int c = 0; c < 3; c++) {
            seed = seed * 1103515245 + 12345;
            rgb[p * 3 + c] = (uint8_t) (seed >> 24);
        }
        if (share < 256)
            memset (rgb + p * 3, rgb[p * 3] < share? 255: 12, 3);
    }
}

static int s_selftest (void)
{
    uint8_t *rgb = malloc ((size_t) ST_W * ST_H * 3);
    assert (rgb);
    struct { int parts; bool pass; const char *what; } cases[] = {
        { 1 | 2 | 4, true, "a frame" },
        { 1 | 2 | 4 | 8, true, "a frame with a bright net" },
        { 0, false, "a blank picture" },
        { 2 | 4 | 8, false, "net, ball and text, no paddles" },
        { 1 | 4, false, "no ball" },
        { 1 | 2, false, "no text" },
        { 1 | 2 | 32, false, "one name, no score" },
        { 1 | 2 | 4 | 16, false, "paddles of different sizes" },
        { -1, false, "noise" },
        { -2, false, "sparse noise on a dark frame" },
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].parts >= 0)
            s_synth (rgb, cases[i].parts);
        else
            s_noise (rgb, cases[i].parts == -1? 256: 12);
        printf ("-- %s\n", cases[i].what);
        const char *fail = s_check (rgb, ST_W, ST_H);
        printf ("%s\n", fail? fail: "found");
        if ((fail == NULL) != cases[i].pass) {
            printf ("selftest: %s: wrong verdict (%s)\n", cases[i].what,
                    fail? fail: "passed");
            failed++;
        }
    }
    free (rgb);
    printf ("selftest: %s\n", failed? "FAILED": "OK");
    return failed? 1: 0;
}

//  --------------------------------------------------------------------------
//  --lines: where the text is. Any pixel clearly lighter than the dark
//  backgrounds is ink; its components, less the paddles (tall filled
//  bars), are grouped into lines by vertical overlap. One JSON object:
//  the image's size and each line's box and number of components, for a
//  test to judge (enough lines, tall enough to read, none cut by an edge).

#define INK_MIN     100         //  luminance of ink, above every background
#define LINES_MAX   256

typedef struct {
    int x0, y0, x1, y1;
    int glyphs;
} line_t;

static int s_by_top (const void *a, const void *b)
{
    return ((const blob_t *) a)->y0 - ((const blob_t *) b)->y0;
}

static int s_lines (const uint8_t *rgb, int w, int h)
{
    size_t total = (size_t) w * h;
    uint8_t *mask = malloc (total);
    if (!mask)
        return 1;
    for (size_t i = 0; i < total; i++) {
        const uint8_t *p = rgb + i * 3;
        mask[i] = (299 * p[0] + 587 * p[1] + 114 * p[2]) / 1000 >= INK_MIN;
    }
    blobs_t blobs = { 0 };
    int rc = s_components (mask, w, h, &blobs);
    free (mask);
    if (rc)
        return 1;
    qsort (blobs.items, blobs.count, sizeof (blob_t), s_by_top);
    line_t lines[LINES_MAX];
    int count = 0;
    for (size_t i = 0; i < blobs.count; i++) {
        const blob_t *b = &blobs.items[i];
        bool bar = s_fill (b) >= FILLED_MIN && s_h (b) >= 3 * s_w (b)
                && s_h (b) > h / 10;
        if (bar || s_w (b) > w / 2)
            continue;
        int at = -1;
        for (int k = count - 1; k >= 0 && at < 0; k--) {
            int top = b->y0 > lines[k].y0? b->y0: lines[k].y0;
            int bottom = b->y1 < lines[k].y1? b->y1: lines[k].y1;
            int lh = lines[k].y1 - lines[k].y0 + 1;
            int least = s_h (b) < lh? s_h (b): lh;
            if (bottom - top + 1 >= (least + 1) / 2)
                at = k;
        }
        if (at < 0 && count == LINES_MAX)
            continue;
        if (at < 0) {
            lines[count++] = (line_t) { b->x0, b->y0, b->x1, b->y1, 0 };
            at = count - 1;
        }
        line_t *l = &lines[at];
        l->x0 = b->x0 < l->x0? b->x0: l->x0;
        l->y0 = b->y0 < l->y0? b->y0: l->y0;
        l->x1 = b->x1 > l->x1? b->x1: l->x1;
        l->y1 = b->y1 > l->y1? b->y1: l->y1;
        l->glyphs++;
    }
    free (blobs.items);
    printf ("{\"width\": %d, \"height\": %d, \"lines\": [", w, h);
    for (int k = 0; k < count; k++)
        printf ("%s[%d, %d, %d, %d, %d]", k? ", ": "", lines[k].x0,
                lines[k].y0, lines[k].x1, lines[k].y1, lines[k].glyphs);
    printf ("]}\n");
    return 0;
}

int main (int argc, char **argv)
{
    if (argc == 2 && strcmp (argv[1], "--selftest") == 0)
        return s_selftest ();
    bool lines = argc == 3 && strcmp (argv[1], "--lines") == 0;
    if (lines)
        argv++;
    else
    if (argc != 2 || argv[1][0] == '-') {
        fprintf (stderr, "usage: rally-frame-check [--lines] FILE.png"
                 " | --selftest\n");
        return argc == 2 && strcmp (argv[1], "--help") == 0? 0: 2;
    }
    int w, h, n;
    uint8_t *rgb = stbi_load (argv[1], &w, &h, &n, 3);
    if (!rgb) {
        printf ("FAIL: cannot read %s: %s\n", argv[1],
                stbi_failure_reason ());
        return 1;
    }
    if (lines) {
        int rc = s_lines (rgb, w, h);
        stbi_image_free (rgb);
        return rc;
    }
    const char *fail = s_check (rgb, w, h);
    stbi_image_free (rgb);
    if (fail) {
        printf ("FAIL: %s\n", fail);
        return 1;
    }
    printf ("OK: two paddles, a ball, and text left, middle and right\n");
    return 0;
}
