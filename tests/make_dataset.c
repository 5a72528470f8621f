/* make_dataset.c - test tool: a small learnable dataset file written by
 * dataset_write (the writer every `shardnet prepare` producer goes through),
 * for tests that need more than one channel.
 *
 *   make_dataset OUT.h5 C H W NTRAIN NTEST CLASSES
 *
 * Sample i has class i % CLASSES; channel c of a class-k image is a bright
 * square in the quadrant (k + c) % 4 on a noisy background whose level
 * differs per channel (so the per-channel statistics differ), all from
 * SplitMix64 with a fixed seed: the same bytes on any host.  Source format
 * "synthetic", source path "make_dataset".  Exit 0, or 1 with a message. */
#include <stdio.h>
#include <stdlib.h>

#include "base.h"
#include "dataset.h"
#include "rng.h"

static long arg(const char *s, long lo, long hi, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || end == s || v < lo || v > hi) {
        fprintf(stderr, "make_dataset: %s must be an integer %ld..%ld, got '%s'\n", what, lo, hi,
                s);
        exit(2);
    }
    return v;
}

static void fill(uint8_t *images, uint8_t *labels, size_t n, size_t c, size_t h, size_t w,
                 int classes, Rng *r)
{
    for (size_t i = 0; i < n; i++) {
        int k = (int)(i % (size_t)classes);
        labels[i] = (uint8_t)k;
        for (size_t ch = 0; ch < c; ch++) {
            size_t quad = (size_t)(k + (int)ch) % 4;
            size_t y0 = quad / 2 * (h / 2), x0 = quad % 2 * (w / 2);
            for (size_t y = 0; y < h; y++)
                for (size_t x = 0; x < w; x++) {
                    int in = y >= y0 && y < y0 + h / 2 && x >= x0 && x < x0 + w / 2;
                    int base = in ? 150 + 20 * (int)ch : 20 + 30 * (int)ch;
                    int v = base + (int)(rng_next(r) % 60);
                    images[((i * c + ch) * h + y) * w + x] = (uint8_t)(v > 255 ? 255 : v);
                }
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: make_dataset OUT.h5 C H W NTRAIN NTEST CLASSES\n");
        return 2;
    }
    size_t c = (size_t)arg(argv[2], 1, LENET_MAX_CHANNELS, "C");
    size_t h = (size_t)arg(argv[3], 2, LENET_MAX_SIDE, "H");
    size_t w = (size_t)arg(argv[4], 2, LENET_MAX_SIDE, "W");
    size_t ntrain = (size_t)arg(argv[5], 1, 100000, "NTRAIN");
    size_t ntest = (size_t)arg(argv[6], 1, 100000, "NTEST");
    int classes = (int)arg(argv[7], 2, 26, "CLASSES");
    static const char *const names[26] = {
        "alpha", "beta, with comma", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
        "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon",
        "phi", "chi", "psi", "omega", "digamma", "san"};
    static const char *const files[1] = {"make_dataset"};
    static const char *const sha[1] = {
        "0000000000000000000000000000000000000000000000000000000000000000"};
    size_t ss = c * h * w;
    uint8_t *xt = xmalloc(ntrain * ss), *yt = xmalloc(ntrain);
    uint8_t *xe = xmalloc(ntest * ss), *ye = xmalloc(ntest);
    Rng r = {12345};
    fill(xt, yt, ntrain, c, h, w, classes, &r);
    fill(xe, ye, ntest, c, h, w, classes, &r);
    DatasetContents contents = {
        .train = {xt, yt, ntrain}, .test = {xe, ye, ntest},
        .channels = c, .height = h, .width = w,
        .num_classes = classes, .class_names = names,
        .num_sources = 1, .source_files = files, .source_sha256 = sha,
        .source_format = "synthetic", .source_path = "make_dataset",
    };
    int rc = dataset_write(argv[1], &contents, NULL);
    if (rc)
        fprintf(stderr, "make_dataset: %s\n", base_error());
    else
        printf("%s: %zu+%zu samples %zux%zux%zu, %d classes\n", argv[1], ntrain, ntest, c, h, w,
               classes);
    free(xt), free(yt), free(xe), free(ye);
    return rc ? 1 : 0;
}
