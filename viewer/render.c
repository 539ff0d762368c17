/*  render - every OpenGL call of the viewer. See render.h.

    Everything on screen is a coloured rectangle, so one tiny shader and one
    growing vertex array are enough: rectangles are appended as two
    triangles in pixel coordinates and the whole frame goes to the GPU in a
    few draw calls: runs of plain rectangles go through a flat shader, runs
    of glyphs through one that multiplies the colour by the glyph atlas
    (font.c), in the order they were queued. Glyph edges land on whole pixels, so text stays
    sharp at every size.
*/
#include "render.h"

#include "font.h"

#include <glad/gl.h>
#include <czmq.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

//  The glyph atlas, pixels a side.
#define RENDER_ATLAS        2048

//  Runs of quads of one kind (flat, glyph) in a frame, drawn in order.
#define RENDER_RUNS_MAX     256

typedef struct {
    float x, y;
    float u, v;
    uint8_t r, g, b, a;
} render_vertex_t;

struct _render_t {
    GLuint program;             //  the glyph shader (samples the atlas)
    GLint u_size;               //  its viewport-size uniform
    GLuint flat;                //  the rectangle shader (colour alone)
    GLint u_flat_size;          //  its viewport-size uniform
    size_t runs[RENDER_RUNS_MAX];   //  where each run of one kind starts
    size_t run_count;           //  runs this frame; even ones flat
    bool glyphs;                //  the last quad was a glyph
    GLuint vao, vbo;            //  vertex layout and buffer
    render_vertex_t *verts;     //  this frame's triangles
    size_t count;               //  vertices queued
    size_t capacity;            //  vertices verts can hold
    int width, height;          //  this frame's size in pixels
    font_t *font;               //  faces and the glyph atlas
    GLuint atlas;               //  the atlas as a texture
    GLint u_atlas;              //  its sampler uniform
};

static const char *s_vertex_src =
    "#version 330 core\n"
    "layout (location = 0) in vec2 a_pos;\n"
    "layout (location = 1) in vec2 a_uv;\n"
    "layout (location = 2) in vec4 a_color;\n"
    "uniform vec2 u_size;\n"
    "out vec2 v_uv;\n"
    "out vec4 v_color;\n"
    "void main () {\n"
    "    gl_Position = vec4 (a_pos.x / u_size.x * 2.0 - 1.0,\n"
    "                        1.0 - a_pos.y / u_size.y * 2.0, 0.0, 1.0);\n"
    "    v_uv = a_uv;\n"
    "    v_color = a_color;\n"
    "}\n";

static const char *s_fragment_src =
    "#version 330 core\n"
    "in vec2 v_uv;\n"
    "in vec4 v_color;\n"
    "uniform sampler2D u_atlas;\n"
    "out vec4 o_color;\n"
    "void main () {\n"
    "    o_color = vec4 (v_color.rgb, v_color.a * texture (u_atlas, v_uv).r);\n"
    "}\n";

//  Rectangles need no texture: a software renderer fills the field and
//  the shades far faster without sampling one at every pixel.
static const char *s_flat_src =
    "#version 330 core\n"
    "in vec4 v_color;\n"
    "out vec4 o_color;\n"
    "void main () {\n"
    "    o_color = v_color;\n"
    "}\n";

static GLuint s_compile (GLenum type, const char *src)
{
    GLuint shader = glCreateShader (type);
    glShaderSource (shader, 1, &src, NULL);
    glCompileShader (shader);
    GLint ok = 0;
    glGetShaderiv (shader, GL_COMPILE_STATUS, &ok);
    if (!ok) {
        char log[1024];
        glGetShaderInfoLog (shader, sizeof log, NULL, log);
        zsys_error ("render: shader does not compile: %s", log);
        glDeleteShader (shader);
        return 0;
    }
    return shader;
}

static GLuint s_link (const char *fragment_src)
{
    GLuint vs = s_compile (GL_VERTEX_SHADER, s_vertex_src);
    GLuint fs = s_compile (GL_FRAGMENT_SHADER, fragment_src);
    GLuint program = 0;
    if (vs && fs) {
        program = glCreateProgram ();
        glAttachShader (program, vs);
        glAttachShader (program, fs);
        glLinkProgram (program);
        GLint ok = 0;
        glGetProgramiv (program, GL_LINK_STATUS, &ok);
        if (!ok) {
            char log[1024];
            glGetProgramInfoLog (program, sizeof log, NULL, log);
            zsys_error ("render: shader does not link: %s", log);
            glDeleteProgram (program);
            program = 0;
        }
    }
    if (vs)
        glDeleteShader (vs);
    if (fs)
        glDeleteShader (fs);
    return program;
}

//  The atlas texture: one channel, sampled without mipmaps.
static GLuint s_atlas_texture (int size)
{
    GLuint texture;
    glGenTextures (1, &texture);
    glBindTexture (GL_TEXTURE_2D, texture);
    glPixelStorei (GL_UNPACK_ALIGNMENT, 1);
    glTexImage2D (GL_TEXTURE_2D, 0, GL_R8, size, size, 0, GL_RED,
                  GL_UNSIGNED_BYTE, NULL);
    glTexParameteri (GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
    glTexParameteri (GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    glTexParameteri (GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
    glTexParameteri (GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    return texture;
}

static void s_attribute (GLuint index, GLint count, GLenum type,
                         GLboolean normalise, size_t offset)
{
    glVertexAttribPointer (index, count, type, normalise,
                           sizeof (render_vertex_t), (void *) offset);
    glEnableVertexAttribArray (index);
}

render_t *render_new (render_loader_t load)
{
    assert (load);
    int version = gladLoadGL ((GLADloadfunc) load);
    if (version == 0) {
        zsys_error ("render: cannot load OpenGL");
        return NULL;
    }
    if (GLAD_VERSION_MAJOR (version) < 3
    || (GLAD_VERSION_MAJOR (version) == 3 && GLAD_VERSION_MINOR (version) < 3)) {
        zsys_error ("render: OpenGL 3.3 needed, have %d.%d",
                    GLAD_VERSION_MAJOR (version), GLAD_VERSION_MINOR (version));
        return NULL;
    }
    render_t *self = (render_t *) zmalloc (sizeof (render_t));
    self->font = font_new (RENDER_ATLAS);
    self->capacity = 4096;
    self->verts = (render_vertex_t *) malloc (self->capacity * sizeof (render_vertex_t));
    self->program = s_link (s_fragment_src);
    self->flat = s_link (s_flat_src);
    if (!self->font || !self->verts || !self->program || !self->flat) {
        render_destroy (&self);
        return NULL;
    }
    self->u_size = glGetUniformLocation (self->program, "u_size");
    self->u_atlas = glGetUniformLocation (self->program, "u_atlas");
    self->u_flat_size = glGetUniformLocation (self->flat, "u_size");
    self->atlas = s_atlas_texture (RENDER_ATLAS);

    glGenVertexArrays (1, &self->vao);
    glGenBuffers (1, &self->vbo);
    glBindVertexArray (self->vao);
    glBindBuffer (GL_ARRAY_BUFFER, self->vbo);
    s_attribute (0, 2, GL_FLOAT, GL_FALSE, offsetof (render_vertex_t, x));
    s_attribute (1, 2, GL_FLOAT, GL_FALSE, offsetof (render_vertex_t, u));
    s_attribute (2, 4, GL_UNSIGNED_BYTE, GL_TRUE, offsetof (render_vertex_t, r));
    glBindVertexArray (0);

    zsys_debug ("render: OpenGL %s, %s; %zu font face(s), the first %s",
                glGetString (GL_VERSION), glGetString (GL_RENDERER),
                font_face_count (self->font), font_face_file (self->font, 0));
    return self;
}

void render_destroy (render_t **self_p)
{
    assert (self_p);
    render_t *self = *self_p;
    if (!self)
        return;
    if (self->atlas)
        glDeleteTextures (1, &self->atlas);
    if (self->vbo)
        glDeleteBuffers (1, &self->vbo);
    if (self->vao)
        glDeleteVertexArrays (1, &self->vao);
    if (self->program)
        glDeleteProgram (self->program);
    if (self->flat)
        glDeleteProgram (self->flat);
    free (self->verts);
    font_destroy (&self->font);
    free (self);
    *self_p = NULL;
}

void render_begin (render_t *self, int width, int height, render_color_t clear)
{
    assert (self);
    self->width = width > 0? width: 1;
    self->height = height > 0? height: 1;
    self->count = 0;
    self->run_count = 1;        //  run 0, flat, starts at 0
    self->runs[0] = 0;
    self->glyphs = false;
    font_trim (self->font);
    glViewport (0, 0, self->width, self->height);
    glClearColor (clear.r / 255.0f, clear.g / 255.0f, clear.b / 255.0f, 1.0f);
    glClear (GL_COLOR_BUFFER_BIT);
}

//  Makes room for n more vertices; false if memory ran out.
static bool s_reserve (render_t *self, size_t n)
{
    if (self->count + n <= self->capacity)
        return true;
    size_t capacity = self->capacity * 2;
    while (capacity < self->count + n)
        capacity *= 2;
    render_vertex_t *verts = (render_vertex_t *)
        realloc (self->verts, capacity * sizeof (render_vertex_t));
    if (!verts)
        return false;
    self->verts = verts;
    self->capacity = capacity;
    return true;
}

//  Appends a quad's two triangles: corners (x0, y0) and (x1, y1) on
//  screen, (u0, v0) and (u1, v1) in the atlas.
static void s_quad (render_t *self, float x0, float y0, float x1, float y1,
                    float u0, float v0, float u1, float v1, render_color_t c)
{
    bool glyph = u0 >= 0;
    if (glyph != self->glyphs) {
        if (self->run_count == RENDER_RUNS_MAX)
            return;             //  a frame that busy is cut short
        self->runs[self->run_count++] = self->count;
        self->glyphs = glyph;
    }
    if (!s_reserve (self, 6))
        return;
    render_vertex_t *v = self->verts + self->count;
    v[0] = (render_vertex_t) { x0, y0, u0, v0, c.r, c.g, c.b, c.a };
    v[1] = (render_vertex_t) { x1, y0, u1, v0, c.r, c.g, c.b, c.a };
    v[2] = (render_vertex_t) { x1, y1, u1, v1, c.r, c.g, c.b, c.a };
    v[3] = v[0];
    v[4] = v[2];
    v[5] = (render_vertex_t) { x0, y1, u0, v1, c.r, c.g, c.b, c.a };
    self->count += 6;
}

void render_rect (render_t *self, float x, float y, float w, float h,
                  render_color_t color)
{
    assert (self);
    if (w <= 0 || h <= 0)
        return;
    //  No texture coordinates: drawn by the flat shader.
    s_quad (self, x, y, x + w, y + h, -1, -1, -1, -1, color);
}

//  Lays out one line of text from s to end with its baseline at y,
//  starting at x; draws it when draw. Returns the width.
static float s_line (render_t *self, float x, float y, int px,
                     render_color_t color, const char *s, const char *end,
                     bool draw)
{
    float pen = 0;
    uint32_t cp;
    while ((cp = font_utf8_next (&s, end))) {
        font_glyph_t g;
        font_glyph (self->font, cp, px, &g);
        if (draw && g.visible) {
            float gx = roundf (x + pen), gy = roundf (y);
            s_quad (self, gx + g.x0, gy + g.y0, gx + g.x1, gy + g.y1,
                    g.u0, g.v0, g.u1, g.v1, color);
        }
        pen += g.advance;
    }
    return pen;
}

static int s_px (float px)
{
    return (int) lroundf (px < 1? 1: px);
}

void render_text (render_t *self, float x, float y, float px,
                  render_color_t color, const char *text)
{
    assert (self && text);
    int size = s_px (px);
    float ascent = font_ascent (self->font, size);
    float line = font_line_height (self->font, size);
    while (true) {
        const char *end = strchr (text, '\n');
        if (!end)
            end = text + strlen (text);
        s_line (self, x, y + ascent, size, color, text, end, true);
        if (!*end)
            break;
        text = end + 1;
        y += line;
    }
}

float render_text_width (render_t *self, const char *text, float px)
{
    assert (self && text);
    int size = s_px (px);
    float widest = 0;
    while (true) {
        const char *end = strchr (text, '\n');
        if (!end)
            end = text + strlen (text);
        float w = s_line (self, 0, 0, size, (render_color_t) { 0, 0, 0, 0 },
                          text, end, false);
        if (w > widest)
            widest = w;
        if (!*end)
            break;
        text = end + 1;
    }
    return widest;
}

float render_text_height (render_t *self, const char *text, float px)
{
    assert (self && text);
    int lines = 1;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    return (float) lines * font_line_height (self->font, s_px (px));
}

//  Sends the atlas rows that changed since the last frame.
static void s_upload_atlas (render_t *self)
{
    int size, row0, row1;
    const uint8_t *pixels = font_atlas (self->font, &size, &row0, &row1);
    glActiveTexture (GL_TEXTURE0);
    glBindTexture (GL_TEXTURE_2D, self->atlas);
    if (row0 < row1) {
        glPixelStorei (GL_UNPACK_ALIGNMENT, 1);
        glTexSubImage2D (GL_TEXTURE_2D, 0, 0, row0, size, row1 - row0, GL_RED,
                         GL_UNSIGNED_BYTE, pixels + (size_t) row0 * (size_t) size);
        font_atlas_clean (self->font);
    }
}

void render_end (render_t *self)
{
    assert (self);
    glEnable (GL_BLEND);
    glBlendFunc (GL_SRC_ALPHA, GL_ONE_MINUS_SRC_ALPHA);
    glUseProgram (self->program);
    s_upload_atlas (self);
    glUniform1i (self->u_atlas, 0);
    glUniform2f (self->u_size, (float) self->width, (float) self->height);
    glUseProgram (self->flat);
    glUniform2f (self->u_flat_size, (float) self->width, (float) self->height);
    glBindVertexArray (self->vao);
    glBindBuffer (GL_ARRAY_BUFFER, self->vbo);
    glBufferData (GL_ARRAY_BUFFER,
                  (GLsizeiptr) (self->count * sizeof (render_vertex_t)),
                  self->verts, GL_STREAM_DRAW);
    //  Runs alternate, flat first, in the order they were queued.
    for (size_t i = 0; i < self->run_count; i++) {
        size_t end = i + 1 < self->run_count? self->runs[i + 1]: self->count;
        if (end == self->runs[i])
            continue;
        glUseProgram (i % 2? self->program: self->flat);
        glDrawArrays (GL_TRIANGLES, (GLint) self->runs[i],
                      (GLsizei) (end - self->runs[i]));
    }
    glBindVertexArray (0);
    GLenum error = glGetError ();
    if (error != GL_NO_ERROR)
        zsys_warning ("render: GL error 0x%x", error);
}

int render_screenshot (render_t *self, const char *path)
{
    assert (self && path);
    size_t stride = (size_t) self->width * 3;
    uint8_t *pixels = (uint8_t *) malloc (stride * (size_t) self->height);
    uint8_t *row = (uint8_t *) malloc (stride);
    if (!pixels || !row) {
        free (pixels);
        free (row);
        return -1;
    }
    glFinish ();
    glReadBuffer (GL_BACK);
    glPixelStorei (GL_PACK_ALIGNMENT, 1);
    glReadPixels (0, 0, self->width, self->height, GL_RGB, GL_UNSIGNED_BYTE,
                  pixels);
    //  GL's rows go bottom-up, a PNG's top-down.
    for (int y = 0; y < self->height / 2; y++) {
        uint8_t *top = pixels + (size_t) y * stride;
        uint8_t *bottom = pixels + (size_t) (self->height - 1 - y) * stride;
        memcpy (row, top, stride);
        memcpy (top, bottom, stride);
        memcpy (bottom, row, stride);
    }
    int ok = stbi_write_png (path, self->width, self->height, 3, pixels,
                             (int) stride);
    free (pixels);
    free (row);
    return ok? 0: -1;
}
