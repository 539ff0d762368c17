/*  render - every OpenGL call of the viewer, and nothing else.

    One shader program draws coloured rectangles given in pixels (origin at
    the top left, y down) through an orthographic projection. Text is real
    fonts (font.h) rasterised at the size asked for, drawn the same way. A frame is:
    render_begin(), any number of render_rect() and render_text(), then
    render_end(), which sends the batch to the GPU. The caller owns the
    window and its context; render_new() needs that context to be current.
*/
#ifndef RENDER_H_INCLUDED
#define RENDER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct _render_t render_t;

typedef struct {
    uint8_t r, g, b, a;
} render_color_t;

//  A GL function by name, as glfwGetProcAddress() gives it.
typedef void (*render_proc_t) (void);
typedef render_proc_t (*render_loader_t) (const char *name);

//  Loads OpenGL 3.3 core through load and builds the shader and buffers.
//  NULL, with a reason logged, if the context cannot do it.
render_t *render_new (render_loader_t load);

//  Frees the GL objects; nulls *self_p. The context must still be current.
void render_destroy (render_t **self_p);

//  Starts a frame of width x height pixels (the framebuffer's size).
void render_begin (render_t *self, int width, int height, render_color_t clear);

//  Queues a filled rectangle; x, y is its top-left corner.
void render_rect (render_t *self, float x, float y, float w, float h,
                  render_color_t color);

//  Queues UTF-8 text with the top-left corner of its first line at x, y,
//  at px pixels a line (the font's em size, rounded to whole pixels).
//  Any script a face on the machine has is drawn; '\n' starts a new line.
void render_text (render_t *self, float x, float y, float px,
                  render_color_t color, const char *text);

//  Size in pixels that render_text() would cover: the widest line, and
//  the lines' height.
float render_text_width (render_t *self, const char *text, float px);
float render_text_height (render_t *self, const char *text, float px);

//  Draws everything queued since render_begin().
void render_end (render_t *self);

//  Reads the frame just drawn (the back buffer, before the swap) and writes
//  it to path as a PNG. Returns 0, or -1.
int render_screenshot (render_t *self, const char *path);

#endif
