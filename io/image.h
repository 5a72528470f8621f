/* image.h - one PNG or JPEG file to uint8 pixels, and the one rule that fits
 * any decoded image to a model's input (channels and size), shared by
 * `shardnet prepare` (image folders) and `shardnet predict`.
 *
 * image_read decodes with Debian's libpng 1.6 and libjpeg-turbo; the format
 * is recognised by the file's first bytes, not its name.  Modes:
 *   PNG  gray (1, 2, 4, 8, 16 bit) -> 1 channel; RGB and palette -> 3;
 *        16-bit samples keep their high byte; no gamma correction.
 *        An alpha channel (RGBA, gray+alpha, a palette with transparency)
 *        is refused: what lies under a transparent pixel is not defined.
 *   JPEG grayscale -> 1 channel; YCbCr/RGB -> 3 (libjpeg's defaults, the
 *        same pixels Pillow decodes); CMYK/YCCK is refused.
 * Pixels are interleaved (H, W, C), as the libraries deliver them.
 *
 * image_fit writes planar (C, H, W) pixels of the wanted channels and size:
 *   channels  1 -> 3 copies the gray value into R, G and B; 3 -> 1 takes the
 *             ITU-R BT.601 luma (19595 R + 38470 G + 7471 B + 32768) >> 16,
 *             Pillow's convert("L").
 *   size      must equal the image's own unless `resize` is set; then the
 *             image is resampled with a separable triangle (bilinear) filter
 *             whose support widens by the shrink factor (antialiased when
 *             shrinking), pixel centres at (i + 0.5) * in / out: Pillow's
 *             resize(BILINEAR) within one grey level.
 *
 * Functions return 0, or -1 with base_error() starting with the file's
 * path and saying what is wrong with it.  No MPI, no HDF5.  The caller owns
 * an Image; image_free is safe on a zeroed one.
 */
#ifndef SHARDNET_IMAGE_H
#define SHARDNET_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Decoded images larger than this on either side are refused before the
 * pixel buffer is allocated (a header can claim anything). */
#define IMAGE_MAX_SIDE 16384

typedef struct {
    size_t channels, height, width; /* channels: 1 or 3 */
    uint8_t *pixels;                /* (H, W, C), owned */
} Image;

/* 1 when the bytes start like a PNG or a JPEG file. */
int image_is_png(const uint8_t *head, size_t n);
int image_is_jpeg(const uint8_t *head, size_t n);

/* Decodes bytes[0..n) (a PNG or JPEG file's contents); path names it in errors. */
int image_decode(Image *img, const uint8_t *bytes, size_t n, const char *path);
/* Reads and decodes the file at path. */
int image_read(Image *img, const char *path);
void image_free(Image *img);

/* img -> dst (channels, height, width) planar, by the rules above; path
 * names the image in errors (a size mismatch without resize). */
int image_fit(const Image *img, size_t channels, size_t height, size_t width, int resize,
              uint8_t *dst, const char *path);

/* Reads a whole regular file into a new buffer (*n bytes; free() it).
 * The error names the path and says why (missing, a directory, unreadable). */
int image_slurp(const char *path, uint8_t **bytes, size_t *n);

#endif
