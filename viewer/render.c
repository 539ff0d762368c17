/*  render - every OpenGL call of the viewer. See render.h.

    Everything on screen is a coloured rectangle, so one tiny shader and one
    growing vertex array are enough: rectangles are appended as two
    triangles in pixel coordinates and the whole frame goes to the GPU in a
    single draw call. Text is stb_easy_font's quads, scaled and appended
    the same way.
*/
#include "render.h"

#include <glad/gl.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

//  Longest text drawn in one call, in bytes; longer text is cut.
#define RENDER_TEXT_MAX     512
//  stb_easy_font's quads are 64 bytes; no glyph has more than 16 of them.
#define RENDER_FONT_BUF     (RENDER_TEXT_MAX * 16 * 64)

typedef struct {
    float x, y;
    uint8_t r, g, b, a;
} render_vertex_t;

struct _render_t {
    GLuint program;             //  the rectangle shader
    GLint u_size;               //  its viewport-size uniform
    GLuint vao, vbo;            //  vertex layout and buffer
    render_vertex_t *verts;     //  this frame's triangles
    size_t count;               //  vertices queued
    size_t capacity;            //  vertices verts can hold
    int width, height;          //  this frame's size in pixels
    char *font_buf;             //  stb_easy_font's output
};

static const char *s_vertex_src =
    "#version 330 core\n"
    "layout (location = 0) in vec2 a_pos;\n"
    "layout (location = 1) in vec4 a_color;\n"
    "uniform vec2 u_size;\n"
    "out vec4 v_color;\n"
    "void main () {\n"
    "    gl_Position = vec4 (a_pos.x / u_size.x * 2.0 - 1.0,\n"
    "                        1.0 - a_pos.y / u_size.y * 2.0, 0.0, 1.0);\n"
    "    v_color = a_color;\n"
    "}\n";

static const char *s_fragment_src =
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

static GLuint s_link (void)
{
    GLuint vs = s_compile (GL_VERTEX_SHADER, s_vertex_src);
    GLuint fs = s_compile (GL_FRAGMENT_SHADER, s_fragment_src);
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
    self->font_buf = (char *) malloc (RENDER_FONT_BUF);
    self->capacity = 4096;
    self->verts = (render_vertex_t *) malloc (self->capacity * sizeof (render_vertex_t));
    self->program = s_link ();
    if (!self->font_buf || !self->verts || !self->program) {
        render_destroy (&self);
        return NULL;
    }
    self->u_size = glGetUniformLocation (self->program, "u_size");

    glGenVertexArrays (1, &self->vao);
    glGenBuffers (1, &self->vbo);
    glBindVertexArray (self->vao);
    glBindBuffer (GL_ARRAY_BUFFER, self->vbo);
    glVertexAttribPointer (0, 2, GL_FLOAT, GL_FALSE, sizeof (render_vertex_t),
                           (void *) offsetof (render_vertex_t, x));
    glEnableVertexAttribArray (0);
    glVertexAttribPointer (1, 4, GL_UNSIGNED_BYTE, GL_TRUE,
                           sizeof (render_vertex_t),
                           (void *) offsetof (render_vertex_t, r));
    glEnableVertexAttribArray (1);
    glBindVertexArray (0);

    zsys_debug ("render: OpenGL %s, %s", glGetString (GL_VERSION),
                glGetString (GL_RENDERER));
    return self;
}

void render_destroy (render_t **self_p)
{
    assert (self_p);
    render_t *self = *self_p;
    if (!self)
        return;
    if (self->vbo)
        glDeleteBuffers (1, &self->vbo);
    if (self->vao)
        glDeleteVertexArrays (1, &self->vao);
    if (self->program)
        glDeleteProgram (self->program);
    free (self->verts);
    free (self->font_buf);
    free (self);
    *self_p = NULL;
}

void render_begin (render_t *self, int width, int height, render_color_t clear)
{
    assert (self);
    self->width = width > 0? width: 1;
    self->height = height > 0? height: 1;
    self->count = 0;
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

//  Appends a quad's two triangles; (x0, y0) and (x1, y1) are corners.
static void s_quad (render_t *self, float x0, float y0, float x1, float y1,
                    render_color_t c)
{
    if (!s_reserve (self, 6))
        return;
    render_vertex_t *v = self->verts + self->count;
    v[0] = (render_vertex_t) { x0, y0, c.r, c.g, c.b, c.a };
    v[1] = (render_vertex_t) { x1, y0, c.r, c.g, c.b, c.a };
    v[2] = (render_vertex_t) { x1, y1, c.r, c.g, c.b, c.a };
    v[3] = (render_vertex_t) { x0, y0, c.r, c.g, c.b, c.a };
    v[4] = (render_vertex_t) { x1, y1, c.r, c.g, c.b, c.a };
    v[5] = (render_vertex_t) { x0, y1, c.r, c.g, c.b, c.a };
    self->count += 6;
}

void render_rect (render_t *self, float x, float y, float w, float h,
                  render_color_t color)
{
    assert (self);
    if (w <= 0 || h <= 0)
        return;
    s_quad (self, x, y, x + w, y + h, color);
}

//  The letters U+00C0..U+00FF (Latin-1: "Zoë", "José") without their
//  accents, so that most European names still read right.
static const char s_latin1[] =
    "AAAAAAACEEEEIIIIDNOOOOOxOUUUUYTs"
    "aaaaaaaceeeeiiiidnooooo/ouuuuyty";

//  Copies text into buf as printable ASCII, which is all the font has:
//  accented Latin letters lose their accents, anything else shows as '?'.
static void s_ascii (const char *text, char *buf, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *) text;
         *p && n + 1 < size; p++) {
        if (*p == 0xC3 && p[1] >= 0x80 && p[1] < 0xC0)
            buf[n++] = s_latin1[*++p - 0x80];
        else
        if (*p >= 0x80 && *p < 0xC0)
            continue;           //  a UTF-8 continuation: its lead shows
        else
        if (*p == '\n' || (*p >= 32 && *p < 127))
            buf[n++] = (char) *p;
        else
            buf[n++] = '?';
    }
    buf[n] = 0;
}

void render_text (render_t *self, float x, float y, float scale,
                  render_color_t color, const char *text)
{
    assert (self && text);
    char ascii[RENDER_TEXT_MAX + 1];
    s_ascii (text, ascii, sizeof ascii);
    int quads = stb_easy_font_print (0, 0, ascii, NULL, self->font_buf,
                                     RENDER_FONT_BUF);
    //  Each quad is four vertices of 16 bytes: x, y, z floats, then colour.
    for (int i = 0; i < quads; i++) {
        const float *q0 = (const float *) (self->font_buf + i * 64);
        const float *q2 = (const float *) (self->font_buf + i * 64 + 32);
        s_quad (self, x + q0[0] * scale, y + q0[1] * scale,
                      x + q2[0] * scale, y + q2[1] * scale, color);
    }
}

float render_text_width (const char *text, float scale)
{
    char ascii[RENDER_TEXT_MAX + 1];
    s_ascii (text, ascii, sizeof ascii);
    return (float) stb_easy_font_width (ascii) * scale;
}

float render_text_height (const char *text, float scale)
{
    char ascii[RENDER_TEXT_MAX + 1];
    s_ascii (text, ascii, sizeof ascii);
    //  Glyphs are 7 font pixels high with descenders; a line is 12.
    int lines = 1;
    for (const char *p = ascii; *p; p++)
        lines += *p == '\n';
    return (float) ((lines - 1) * 12 + 8) * scale;
}

void render_end (render_t *self)
{
    assert (self);
    glEnable (GL_BLEND);
    glBlendFunc (GL_SRC_ALPHA, GL_ONE_MINUS_SRC_ALPHA);
    glUseProgram (self->program);
    glUniform2f (self->u_size, (float) self->width, (float) self->height);
    glBindVertexArray (self->vao);
    glBindBuffer (GL_ARRAY_BUFFER, self->vbo);
    glBufferData (GL_ARRAY_BUFFER,
                  (GLsizeiptr) (self->count * sizeof (render_vertex_t)),
                  self->verts, GL_STREAM_DRAW);
    glDrawArrays (GL_TRIANGLES, 0, (GLsizei) self->count);
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
