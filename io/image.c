/* image.c - PNG/JPEG decoding and the fit rule; see image.h.
 *
 * Both libraries report errors by longjmp.  Everything a decoder allocates
 * hangs off a context struct that exists before setjmp, so the error path
 * frees it without relying on locals changed after setjmp. */
#include "image.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>

#include "base.h"

static const uint8_t PNG_SIGNATURE[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

int image_is_png(const uint8_t *head, size_t n)
{
    return n >= 8 && !memcmp(head, PNG_SIGNATURE, 8);
}

int image_is_jpeg(const uint8_t *head, size_t n)
{
    return n >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff;
}

int image_slurp(const char *path, uint8_t **bytes, size_t *n)
{
    *bytes = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return base_error_set("%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return base_error_set("%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    uint8_t *buf = xmalloc(size + 1);
    size_t got = fread(buf, 1, size, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != size) {
        free(buf);
        return base_error_set("%s: cannot read: %s", path, err ? strerror(errno) : "short read");
    }
    *bytes = buf;
    *n = size;
    return 0;
}

static int check_dims(const char *path, size_t h, size_t w)
{
    if (h == 0 || w == 0 || h > IMAGE_MAX_SIDE || w > IMAGE_MAX_SIDE)
        return base_error_set("%s: image of %zux%zu pixels (each side must be 1..%d)", path, h,
                              w, IMAGE_MAX_SIDE);
    return 0;
}

/* ---- PNG ---- */

typedef struct {
    const uint8_t *bytes;
    size_t n, pos;
    char message[200];
    png_bytep *rows;
    uint8_t *pixels;
} PngCtx;

static void png_read_mem(png_structp png, png_bytep out, png_size_t len)
{
    PngCtx *c = png_get_io_ptr(png);
    if (len > c->n - c->pos)
        png_error(png, "file ends early (truncated)");
    memcpy(out, c->bytes + c->pos, len);
    c->pos += len;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    PngCtx *c = png_get_error_ptr(png);
    snprintf(c->message, sizeof c->message, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg; /* ancillary-chunk complaints do not change the pixels */
}

static int decode_png(Image *img, const uint8_t *bytes, size_t n, const char *path)
{
    PngCtx c = {.bytes = bytes, .n = n};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, png_on_error,
                                             png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return base_error_set("%s: libpng could not start (out of memory?)", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(c.rows);
        free(c.pixels);
        return base_error_set("%s: not a readable PNG image: %s", path, c.message);
    }
    png_set_read_fn(png, &c, png_read_mem);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    const char *alpha = NULL;
    if (type & PNG_COLOR_MASK_ALPHA)
        alpha = type & PNG_COLOR_MASK_COLOR ? "RGBA" : "gray+alpha";
    else if (png_get_valid(png, info, PNG_INFO_tRNS))
        alpha = "transparency (tRNS)";
    if (alpha) {
        png_destroy_read_struct(&png, &info, NULL);
        return base_error_set("%s: PNG with %s: images with an alpha channel are not accepted "
                              "(flatten it onto a background first)", path, alpha);
    }
    if (check_dims(path, h, w)) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16)
        png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t channels = png_get_channels(png, info);
    if (channels != 1 && channels != 3)
        png_error(png, "unexpected channel count after expansion");
    size_t stride = (size_t)w * channels;
    c.pixels = xmalloc((size_t)h * stride);
    c.rows = xmalloc((size_t)h * sizeof *c.rows);
    for (size_t y = 0; y < h; y++)
        c.rows[y] = c.pixels + y * stride;
    png_read_image(png, c.rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(c.rows);
    *img = (Image){channels, h, w, c.pixels};
    return 0;
}

/* ---- JPEG ---- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    uint8_t *pixels;
} JpegErr;

static void jpeg_on_error(j_common_ptr cinfo)
{
    JpegErr *e = (JpegErr *)cinfo->err;
    e->pub.format_message(cinfo, e->message);
    longjmp(e->jump, 1);
}

/* Warnings (e.g. "Premature end of JPEG file"): the first is kept for the
 * error message; the decode then fails below. */
static void jpeg_on_message(j_common_ptr cinfo)
{
    JpegErr *e = (JpegErr *)cinfo->err;
    if (!e->message[0])
        e->pub.format_message(cinfo, e->message);
}

static int decode_jpeg(Image *img, const uint8_t *bytes, size_t n, const char *path)
{
    struct jpeg_decompress_struct d;
    JpegErr e = {0};
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpeg_on_error;
    e.pub.output_message = jpeg_on_message;
    if (setjmp(e.jump)) {
        jpeg_destroy_decompress(&d);
        free(e.pixels);
        return base_error_set("%s: not a readable JPEG image: %s", path, e.message);
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, bytes, (unsigned long)n);
    jpeg_read_header(&d, TRUE);
    if (d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&d);
        return base_error_set("%s: CMYK JPEG: only grayscale and RGB (YCbCr) images are "
                              "accepted (convert it to RGB first)", path);
    }
    d.out_color_space = d.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    if (check_dims(path, d.image_height, d.image_width)) {
        jpeg_destroy_decompress(&d);
        return -1;
    }
    jpeg_start_decompress(&d);
    size_t channels = (size_t)d.output_components, stride = d.output_width * channels;
    e.pixels = xmalloc(d.output_height * stride);
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = e.pixels + d.output_scanline * stride;
        jpeg_read_scanlines(&d, &row, 1);
    }
    /* libjpeg pads a truncated file with grey and only warns: a cut file
     * must not become a training sample. */
    long warnings = e.pub.num_warnings;
    jpeg_finish_decompress(&d);
    size_t h = d.output_height, w = d.output_width;
    jpeg_destroy_decompress(&d);
    if (warnings) {
        free(e.pixels);
        return base_error_set("%s: damaged JPEG image (libjpeg: %s)", path, e.message);
    }
    *img = (Image){channels, h, w, e.pixels};
    return 0;
}

int image_decode(Image *img, const uint8_t *bytes, size_t n, const char *path)
{
    *img = (Image){0};
    if (image_is_png(bytes, n))
        return decode_png(img, bytes, n, path);
    if (image_is_jpeg(bytes, n))
        return decode_jpeg(img, bytes, n, path);
    if (n == 0)
        return base_error_set("%s: empty file, not an image", path);
    return base_error_set("%s: not a PNG or JPEG image (its first bytes are neither's "
                          "signature)", path);
}

int image_read(Image *img, const char *path)
{
    *img = (Image){0};
    uint8_t *bytes;
    size_t n;
    if (image_slurp(path, &bytes, &n))
        return -1;
    int rc = image_decode(img, bytes, n, path);
    free(bytes);
    return rc;
}

void image_free(Image *img)
{
    free(img->pixels);
    *img = (Image){0};
}

/* ---- fit: channels, then size ---- */

/* Interleaved (h, w, from) -> planar (to, h, w). */
static void convert_channels(const uint8_t *src, size_t h, size_t w, size_t from, size_t to,
                             uint8_t *dst)
{
    const size_t plane = h * w;
    for (size_t i = 0; i < plane; i++) {
        const uint8_t *p = src + i * from;
        if (from == to) {
            for (size_t c = 0; c < to; c++)
                dst[c * plane + i] = p[c];
        } else if (to == 3) {
            dst[i] = dst[plane + i] = dst[2 * plane + i] = p[0];
        } else {
            dst[i] = (uint8_t)((19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 32768u) >> 16);
        }
    }
}

/* Weights of the triangle filter for one axis: out samples, each a window
 * [first[i], first[i] + len[i]) of in samples with weights w[i * span ..]. */
typedef struct {
    size_t span;
    size_t *first, *len;
    double *w;
} Taps;

static void taps_init(Taps *t, size_t in, size_t out)
{
    double scale = (double)in / (double)out, filter = scale > 1.0 ? scale : 1.0;
    double support = filter; /* the triangle's half-width is 1 input pixel, widened */
    t->span = (size_t)ceil(support) * 2 + 1;
    t->first = xmalloc(out * sizeof *t->first);
    t->len = xmalloc(out * sizeof *t->len);
    t->w = xcalloc(out * t->span, sizeof *t->w);
    for (size_t i = 0; i < out; i++) {
        double centre = ((double)i + 0.5) * scale;
        double lo = floor(centre - support + 0.5), hi = floor(centre + support + 0.5);
        size_t a = lo < 0 ? 0 : (size_t)lo, b = hi > (double)in ? in : (size_t)hi;
        if (b - a > t->span)
            b = a + t->span;
        double sum = 0;
        for (size_t j = a; j < b; j++) {
            double x = fabs(((double)j - centre + 0.5) / filter);
            double v = x < 1.0 ? 1.0 - x : 0.0;
            t->w[i * t->span + (j - a)] = v;
            sum += v;
        }
        for (size_t j = a; j < b && sum > 0; j++)
            t->w[i * t->span + (j - a)] /= sum;
        t->first[i] = a;
        t->len[i] = b - a;
    }
}

static void taps_free(Taps *t)
{
    free(t->first), free(t->len), free(t->w);
}

/* One plane (h, w) -> (oh, ow): rows first, then columns, rounding once. */
static void resize_plane(const uint8_t *src, size_t h, size_t w, size_t oh, size_t ow,
                         const Taps *tx, const Taps *ty, double *tmp, uint8_t *dst)
{
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < ow; x++) {
            const double *wt = tx->w + x * tx->span;
            const uint8_t *p = src + y * w + tx->first[x];
            double s = 0;
            for (size_t k = 0; k < tx->len[x]; k++)
                s += wt[k] * p[k];
            tmp[y * ow + x] = s;
        }
    for (size_t y = 0; y < oh; y++)
        for (size_t x = 0; x < ow; x++) {
            const double *wt = ty->w + y * ty->span;
            double s = 0;
            for (size_t k = 0; k < ty->len[y]; k++)
                s += wt[k] * tmp[(ty->first[y] + k) * ow + x];
            long v = lround(s);
            dst[y * ow + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
}

int image_fit(const Image *img, size_t channels, size_t height, size_t width, int resize,
              uint8_t *dst, const char *path)
{
    if (channels != 1 && channels != 3)
        return base_error_set("%s: %zu channels asked for; 1 or 3 are possible", path, channels);
    if (img->height == height && img->width == width) {
        convert_channels(img->pixels, height, width, img->channels, channels, dst);
        return 0;
    }
    if (!resize)
        return base_error_set("%s: image is %zux%zu (HxW), expected %zux%zu (resize the images, "
                              "or give --resize to resample them)", path, img->height,
                              img->width, height, width);
    uint8_t *planar = xmalloc(channels * img->height * img->width);
    convert_channels(img->pixels, img->height, img->width, img->channels, channels, planar);
    Taps tx, ty;
    taps_init(&tx, img->width, width);
    taps_init(&ty, img->height, height);
    double *tmp = xmalloc(img->height * width * sizeof *tmp);
    for (size_t c = 0; c < channels; c++)
        resize_plane(planar + c * img->height * img->width, img->height, img->width, height,
                     width, &tx, &ty, tmp, dst + c * height * width);
    free(tmp);
    taps_free(&tx);
    taps_free(&ty);
    free(planar);
    return 0;
}
