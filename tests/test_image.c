/* test_image.c - io/image.h: PNG files written by libpng's own writer
 * decode to their pixels (8-bit gray and RGB, 16-bit gray keeps the high
 * byte); alpha, empty, non-image and cut files are refused with the path
 * and the reason; the fit rule: gray <-> RGB (BT.601 luma with Pillow's
 * integer rounding), an exact size copies, another size is refused without
 * resize, and resampling keeps a constant image constant and a ramp
 * monotonic. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "image.h"

/* A PNG of the given format in memory (libpng's simplified writer). */
static uint8_t *write_png(uint32_t format, const void *pixels, uint32_t w, uint32_t h,
                          size_t *n)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = w;
    im.height = h;
    im.format = format;
    png_alloc_size_t size = 0;
    assert_true(png_image_write_to_memory(&im, NULL, &size, 0, pixels, 0, NULL));
    uint8_t *buf = malloc(size);
    assert_true(png_image_write_to_memory(&im, buf, &size, 0, pixels, 0, NULL));
    *n = size;
    return buf;
}

static void test_png_gray_and_rgb(void **state)
{
    (void)state;
    uint8_t gray[6] = {0, 10, 20, 200, 254, 255}, rgb[18];
    for (int i = 0; i < 18; i++)
        rgb[i] = (uint8_t)(i * 13);
    size_t n;
    Image img;
    uint8_t *png = write_png(PNG_FORMAT_GRAY, gray, 3, 2, &n);
    assert_int_equal(image_decode(&img, png, n, "g.png"), 0);
    assert_int_equal(img.channels, 1);
    assert_int_equal(img.height, 2);
    assert_int_equal(img.width, 3);
    assert_memory_equal(img.pixels, gray, 6);
    image_free(&img);
    free(png);
    png = write_png(PNG_FORMAT_RGB, rgb, 3, 2, &n);
    assert_int_equal(image_decode(&img, png, n, "c.png"), 0);
    assert_int_equal(img.channels, 3);
    assert_memory_equal(img.pixels, rgb, 18); /* interleaved (H, W, C) */
    image_free(&img);
    free(png);
}

static void test_png_16bit_keeps_high_byte(void **state)
{
    (void)state;
    uint16_t deep[2] = {0x12ff, 0xab00};
    size_t n;
    Image img;
    uint8_t *png = write_png(PNG_FORMAT_LINEAR_Y, deep, 2, 1, &n);
    assert_int_equal(image_decode(&img, png, n, "d.png"), 0);
    assert_int_equal(img.channels, 1);
    /* The simplified writer stores linear values as written; no gamma applied on reading. */
    assert_int_equal(img.pixels[0], 0x12);
    assert_int_equal(img.pixels[1], 0xab);
    image_free(&img);
    free(png);
}

static void test_refusals(void **state)
{
    (void)state;
    uint8_t rgba[16] = {0};
    size_t n;
    Image img;
    uint8_t *png = write_png(PNG_FORMAT_RGBA, rgba, 2, 2, &n);
    assert_int_equal(image_decode(&img, png, n, "a.png"), -1);
    assert_non_null(strstr(base_error(), "a.png: PNG with RGBA"));
    assert_null(img.pixels);
    assert_int_equal(image_decode(&img, png, n / 2, "cut.png"), -1);
    assert_non_null(strstr(base_error(), "cut.png: not a readable PNG image"));
    free(png);
    assert_int_equal(image_decode(&img, (const uint8_t *)"", 0, "e.jpg"), -1);
    assert_string_equal(base_error(), "e.jpg: empty file, not an image");
    assert_int_equal(image_decode(&img, (const uint8_t *)"GIF89a..", 8, "x.png"), -1);
    assert_non_null(strstr(base_error(), "x.png: not a PNG or JPEG image"));
    static const uint8_t jpeg_head[] = {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F'};
    assert_int_equal(image_decode(&img, jpeg_head, sizeof jpeg_head, "h.jpg"), -1);
    assert_non_null(strstr(base_error(), "h.jpg: not a readable JPEG image"));
    assert_int_equal(image_read(&img, "/nonexistent/p.png"), -1);
    assert_non_null(strstr(base_error(), "/nonexistent/p.png: cannot open: No such file"));
}

static void test_fit_channels(void **state)
{
    (void)state;
    /* (H, W, C) = (1, 4, 3): red, green, blue, white. */
    uint8_t rgb[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    Image img = {3, 1, 4, rgb};
    uint8_t gray[4], planes[12];
    assert_int_equal(image_fit(&img, 1, 1, 4, 0, gray, "c.png"), 0);
    /* (19595 R + 38470 G + 7471 B + 32768) >> 16 */
    assert_int_equal(gray[0], 76);
    assert_int_equal(gray[1], 150);
    assert_int_equal(gray[2], 29);
    assert_int_equal(gray[3], 255);
    assert_int_equal(image_fit(&img, 3, 1, 4, 0, planes, "c.png"), 0);
    const uint8_t want[12] = {255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255}; /* (C, H, W) */
    assert_memory_equal(planes, want, 12);
    Image g = {1, 1, 4, gray};
    assert_int_equal(image_fit(&g, 3, 1, 4, 0, planes, "g.png"), 0);
    for (int c = 0; c < 3; c++)
        assert_memory_equal(planes + 4 * c, gray, 4);
}

static void test_fit_size(void **state)
{
    (void)state;
    uint8_t px[12 * 10];
    for (int i = 0; i < 120; i++)
        px[i] = 77;
    Image img = {1, 12, 10, px};
    uint8_t out[40 * 40];
    assert_int_equal(image_fit(&img, 1, 12, 11, 0, out, "s.png"), -1);
    assert_string_equal(base_error(), "s.png: image is 12x10 (HxW), expected 12x11 (resize the "
                                      "images, or give --resize to resample them)");
    size_t sizes[3][2] = {{5, 3}, {12, 10}, {40, 33}};
    for (int s = 0; s < 3; s++) {
        size_t h = sizes[s][0], w = sizes[s][1];
        assert_int_equal(image_fit(&img, 1, h, w, 1, out, "s.png"), 0);
        for (size_t i = 0; i < h * w; i++)
            assert_int_equal(out[i], 77);
    }
    /* A horizontal ramp stays a non-decreasing ramp, shrunk or grown. */
    for (int y = 0; y < 12; y++)
        for (int x = 0; x < 10; x++)
            px[y * 10 + x] = (uint8_t)(x * 25);
    for (int s = 0; s < 3; s += 2) {
        size_t h = sizes[s][0], w = sizes[s][1];
        assert_int_equal(image_fit(&img, 1, h, w, 1, out, "s.png"), 0);
        for (size_t y = 0; y < h; y++)
            for (size_t x = 1; x < w; x++)
                assert_true(out[y * w + x] >= out[y * w + x - 1]);
        assert_true(out[0] < 40 && out[w - 1] > 185);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_gray_and_rgb), cmocka_unit_test(test_png_16bit_keeps_high_byte),
        cmocka_unit_test(test_refusals),         cmocka_unit_test(test_fit_channels),
        cmocka_unit_test(test_fit_size),
    };
    return cmocka_run_group_tests_name("image", tests, NULL, NULL);
}
