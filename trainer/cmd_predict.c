/* cmd_predict.c - `shardnet predict CHECKPOINT INPUT...`: the top-k classes
 * and their probabilities for single images, as a table or JSON.
 *
 * Inputs, recognised by their first bytes: PNG and JPEG files (fitted to the
 * model's input by image.h's rule, the one `shardnet prepare` applies to
 * image folders: gray <-> RGB converted, the size must match unless
 * --resize), HDF5 dataset files from `shardnet prepare` and IDX image files
 * (.gz or plain), whose rows --rows chooses.  Pixels become floats exactly
 * as the trainer's loader makes them (x/255, or with the checkpoint's
 * normalisation (x/255 - mean[c]) / std[c] as x * scale + shift in float),
 * and go through the same ops/ LeNet forward as `shardnet eval`, so a
 * dataset row gets the probabilities eval computes its loss from.
 * Probabilities are the softmax of the logits, in double.
 * One process, no MPI; its OpenMP threads are set as every computing
 * command sets them (threads.h: --threads, else OMP_NUM_THREADS, else 1).
 * Exit status: 0 printed, 1 an input or the checkpoint is bad (nothing
 * printed), 2 usage error. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base.h"
#include "ckpt.h"
#include "commands.h"
#include "dataset.h"
#include "idx.h"
#include "image.h"
#include "lenet.h"
#include "opts.h"
#include "threads.h"

#define DEFAULT_TOP 5
#define PREDICT_BATCH 128

static void predict_usage(FILE *out)
{
    fprintf(out,
            "usage: shardnet predict [options] CHECKPOINT INPUT...\n\n"
            "Prints the most probable classes of each input under the checkpoint's model.\n"
            "INPUT is a PNG or JPEG file, an HDF5 dataset from `shardnet prepare`, or an\n"
            "IDX images file (.gz or plain); of the last two, --rows chooses the rows.\n"
            "Images are fitted as `shardnet prepare` fits an image folder: gray images are\n"
            "copied to R, G and B for an RGB model, RGB images become BT.601 luma for a\n"
            "gray one; the size must be the model's unless --resize.  The checkpoint's input\n"
            "normalisation is applied.\n\n"
            "  --top K        the K most probable classes, 1..%d (default: %d, or every\n"
            "                 class when the model has fewer)\n"
            "  --rows LIST    rows of HDF5/IDX inputs: all, or N and A-B (inclusive)\n"
            "                 separated by commas, e.g. 0,5,10-19 (default: 0)\n"
            "  --split S      rows of an HDF5 dataset's train or test split (default: test)\n"
            "  --resize       resample images of another size (bilinear, antialiased when\n"
            "                 shrinking: prepare --resize's rule)\n"
            "  --json         one JSON document instead of the table\n"
            "  --threads N    OpenMP threads (default: OMP_NUM_THREADS if set, else 1)\n"
            "  --help         this text\n"
            "Exit status: 0 printed, 1 a bad input or checkpoint, 2 usage error.\n",
            CKPT_MAX_CLASSES, DEFAULT_TOP);
}

typedef struct {
    const char *checkpoint;
    char **inputs;
    int n_inputs;
    int64_t top;       /* 0: the default */
    const char *rows;
    int split;         /* DatasetSplit */
    bool resize, json;
} PredictOptions;

/* One sample to predict: where it came from and its pixels' row. */
typedef struct {
    const char *input;
    long row;   /* -1 for an image file */
    int label;  /* -1 unknown */
} Item;

typedef struct {
    int64_t c, h, w, classes;
    size_t sample;  /* c*h*w */
    Item *items;
    uint8_t *pixels; /* (count, C, H, W) */
    size_t count, cap;
} Batch;

static uint8_t *batch_add(Batch *b, const char *input, long row, int label)
{
    if (b->count == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        Item *it = realloc(b->items, b->cap * sizeof *it);
        uint8_t *px = realloc(b->pixels, b->cap * b->sample);
        if (!it || !px)
            die("out of memory for %zu inputs", b->cap);
        b->items = it;
        b->pixels = px;
    }
    b->items[b->count] = (Item){input, row, label};
    return b->pixels + b->count++ * b->sample;
}

/* --rows: "all" -> *all = 1; else ascending-or-not list of rows, ranges
 * expanded.  -1 when malformed (*rows is then still to be freed). */
static int parse_rows(const char *s, long **rows, size_t *n, int *all)
{
    *rows = NULL;
    *n = 0;
    *all = !strcmp(s, "all");
    if (*all)
        return 0;
    size_t cap = 0;
    const char *p = s;
    for (;;) {
        char *end;
        if (*p < '0' || *p > '9')
            return -1;
        long a = strtol(p, &end, 10), b = a;
        if (*end == '-') {
            if (end[1] < '0' || end[1] > '9')
                return -1;
            b = strtol(end + 1, &end, 10);
        }
        if (b < a || a < 0 || b - a > 100000000)
            return -1;
        for (long r = a; r <= b; r++) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 16;
                long *g = realloc(*rows, cap * sizeof *g);
                if (!g)
                    die("out of memory for --rows");
                *rows = g;
            }
            (*rows)[(*n)++] = r;
        }
        if (!*end)
            return 0;
        if (*end != ',')
            return -1;
        p = end + 1;
    }
}

static int check_rows(const char *input, const char *what, size_t have, const long *rows,
                      size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((size_t)rows[i] >= have)
            return base_error_set("%s: row %ld asked for (--rows), but it has %zu %s rows", input,
                                  rows[i], have, what);
    return 0;
}

static int add_image(Batch *b, const char *path, const uint8_t *bytes, size_t n, int resize)
{
    Image img;
    if (image_decode(&img, bytes, n, path))
        return -1;
    if (b->c != 1 && b->c != 3) {
        image_free(&img);
        return base_error_set("%s: the model takes %lld input channels; image files fit only "
                              "1- or 3-channel models", path, (long long)b->c);
    }
    uint8_t *dst = batch_add(b, path, -1, -1);
    int rc = image_fit(&img, (size_t)b->c, (size_t)b->h, (size_t)b->w, resize, dst, path);
    if (rc) {
        b->count--;
        char why[4096];
        snprintf(why, sizeof why, "%s", base_error());
        base_error_set("%s; the model's input is %lldx%lldx%lld", why, (long long)b->c,
                       (long long)b->h, (long long)b->w);
    }
    image_free(&img);
    return rc;
}

static int add_dataset(Batch *b, const char *path, const PredictOptions *o, const long *rows,
                       size_t n_rows, int all)
{
    Dataset ds;
    if (dataset_open(&ds, path))
        return -1;
    const char *split = o->split == DATASET_TRAIN ? "train" : "test";
    int rc = 0;
    if (ds.channels != (size_t)b->c || ds.height != (size_t)b->h || ds.width != (size_t)b->w)
        rc = base_error_set("%s: samples are %zux%zux%zu, the model's input is %lldx%lldx%lld",
                            path, ds.channels, ds.height, ds.width, (long long)b->c,
                            (long long)b->h, (long long)b->w);
    else if (ds.num_classes != b->classes)
        rc = base_error_set("%s: %d classes, the model has %lld: not the data it was trained "
                            "for", path, ds.num_classes, (long long)b->classes);
    size_t have = ds.count[o->split], n = all ? have : n_rows;
    if (!rc && !all)
        rc = check_rows(path, split, have, rows, n_rows);
    /* The whole split in one read: rows may come in any order, and reading
     * them one by one would check a whole chunk's checksum per row. */
    uint8_t *images = NULL, *labels = NULL;
    if (!rc) {
        images = xmalloc(have * ds.sample_size + 1);
        labels = xmalloc(have + 1);
        rc = dataset_read_range(&ds, (DatasetSplit)o->split, 0, have, images, labels);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        size_t r = all ? i : (size_t)rows[i];
        memcpy(batch_add(b, path, (long)r, labels[r]), images + r * ds.sample_size,
               ds.sample_size);
    }
    free(images);
    free(labels);
    dataset_free(&ds);
    return rc;
}

static int add_idx(Batch *b, const char *path, const PredictOptions *o, const long *rows,
                   size_t n_rows, int all)
{
    Idx idx = {0};
    if (idx_read(&idx, path, 3)) {
        char why[4096];
        snprintf(why, sizeof why, "%s", base_error());
        return base_error_set("%s (not a PNG, JPEG or HDF5 file either)", why);
    }
    size_t have = idx.count, n = all ? have : n_rows;
    int rc = all ? 0 : check_rows(path, "image", have, rows, n_rows);
    for (size_t i = 0; !rc && i < n; i++) {
        size_t r = all ? i : (size_t)rows[i];
        /* An IDX row is a gray image: the image rule fits it. */
        Image img = {1, idx.dims[1], idx.dims[2], idx.data + r * idx.item_size};
        char name[4200];
        snprintf(name, sizeof name, "%s row %zu", path, r);
        uint8_t *dst = batch_add(b, path, (long)r, -1);
        if (b->c != 1 && b->c != 3)
            rc = base_error_set("%s: the model takes %lld input channels; IDX images fit only "
                                "1- or 3-channel models", path, (long long)b->c);
        else
            rc = image_fit(&img, (size_t)b->c, (size_t)b->h, (size_t)b->w, o->resize, dst, name);
    }
    idx_free(&idx);
    return rc;
}

static int load_inputs(Batch *b, const PredictOptions *o)
{
    long *rows;
    size_t n_rows;
    int all;
    if (parse_rows(o->rows, &rows, &n_rows, &all))
        die("--rows was checked by the parser");
    int rc = 0;
    for (int i = 0; i < o->n_inputs && !rc; i++) {
        const char *path = o->inputs[i];
        uint8_t *bytes;
        size_t n;
        if (image_slurp(path, &bytes, &n)) {
            rc = -1;
            break;
        }
        static const uint8_t HDF5_SIGNATURE[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
        if (image_is_png(bytes, n) || image_is_jpeg(bytes, n))
            rc = add_image(b, path, bytes, n, o->resize);
        else if (n >= 8 && !memcmp(bytes, HDF5_SIGNATURE, 8))
            rc = add_dataset(b, path, o, rows, n_rows, all);
        else
            rc = add_idx(b, path, o, rows, n_rows, all);
        free(bytes);
    }
    free(rows);
    if (!rc && !b->count)
        rc = base_error_set("no samples to predict (an empty dataset?)");
    return rc;
}

/* probs (count, classes): softmax of the logits of every sample. */
static void run_model(const TrainState *st, const float *params, const Batch *b, double *probs)
{
    const size_t k = (size_t)st->num_classes, batch = b->count < PREDICT_BATCH ? b->count
                                                                               : PREDICT_BATCH;
    LeNet m;
    if (lenet_init(&m, st->arch, (int64_t)batch, b->c, b->h, b->w, st->num_classes,
                   LAYOUT_NHWC) < 0)
        die("the checkpoint's model cannot be built: %s", base_error());
    float scale[CKPT_MAX_CHANNELS], shift[CKPT_MAX_CHANNELS];
    for (int64_t c = 0; c < b->c; c++) {
        scale[c] = (float)(1.0 / (255.0 * st->std[c]));
        shift[c] = (float)(-st->mean[c] / st->std[c]);
    }
    const size_t plane = (size_t)(b->h * b->w);
    float *src = xaligned(batch * b->sample * sizeof *src); /* (batch, C, H, W) */
    for (size_t first = 0; first < b->count; first += batch) {
        size_t n = b->count - first < batch ? b->count - first : batch;
        for (size_t j = 0; j < n; j++)
            for (int64_t c = 0; c < b->c; c++) {
                const uint8_t *x = b->pixels + (first + j) * b->sample + (size_t)c * plane;
                float *dst = src + j * b->sample + (size_t)c * plane;
                for (size_t i = 0; i < plane; i++)
                    dst[i] = (float)x[i] * scale[c] + shift[c];
            }
        lenet_forward(&m, params, src);
        for (size_t j = 0; j < n; j++) {
            const float *logits = m.logits + j * k;
            double *p = probs + (first + j) * k, top = logits[0], sum = 0;
            for (size_t c = 1; c < k; c++)
                top = logits[c] > top ? logits[c] : top;
            for (size_t c = 0; c < k; c++)
                sum += p[c] = exp((double)logits[c] - top);
            for (size_t c = 0; c < k; c++)
                p[c] /= sum;
        }
    }
    free(src);
    lenet_free(&m);
}

/* The k best classes of p (classes), most probable first; ties: lower index. */
static void top_k(const double *p, size_t classes, size_t k, size_t *best)
{
    for (size_t i = 0; i < k; i++) {
        size_t pick = SIZE_MAX;
        for (size_t c = 0; c < classes; c++) {
            int used = 0;
            for (size_t j = 0; j < i; j++)
                used |= best[j] == c;
            if (!used && (pick == SIZE_MAX || p[c] > p[pick]))
                pick = c;
        }
        best[i] = pick;
    }
}

static void print_table(const TrainState *st, const Batch *b, const double *probs, size_t k,
                        const PredictOptions *o)
{
    const size_t classes = (size_t)st->num_classes;
    printf("predict: %s (LeNet %s, input %lldx%lldx%lld, %zu classes, %s)\n", o->checkpoint,
           lenet_arch_name(st->arch), (long long)b->c, (long long)b->h, (long long)b->w,
           classes, st->std[0] != 1.0 || st->mean[0] != 0.0 ? "normalised input" : "input x/255");
    printf("%-40s %-16s %4s  %-16s %s\n", "INPUT", "LABEL", "RANK", "CLASS", "PROBABILITY");
    size_t best[CKPT_MAX_CLASSES];
    for (size_t i = 0; i < b->count; i++) {
        const Item *it = &b->items[i];
        char name[4200];
        if (it->row < 0)
            snprintf(name, sizeof name, "%s", it->input);
        else if (it->label >= 0)
            snprintf(name, sizeof name, "%s:%s[%ld]", it->input,
                     o->split == DATASET_TRAIN ? "train" : "test", it->row);
        else
            snprintf(name, sizeof name, "%s[%ld]", it->input, it->row);
        const char *label = it->label >= 0 ? st->class_names[it->label] : "-";
        top_k(probs + i * classes, classes, k, best);
        for (size_t r = 0; r < k; r++)
            printf("%-40s %-16s %4zu  %-16s %.6f\n", name, label, r + 1,
                   st->class_names[best[r]], probs[i * classes + best[r]]);
    }
}

static void print_json(const TrainState *st, const Batch *b, const double *probs, size_t k,
                       const PredictOptions *o)
{
    const size_t classes = (size_t)st->num_classes;
    json_t *names = json_array(), *preds = json_array();
    for (size_t c = 0; c < classes; c++)
        json_array_append_new(names, json_string(st->class_names[c]));
    size_t best[CKPT_MAX_CLASSES];
    for (size_t i = 0; i < b->count; i++) {
        const Item *it = &b->items[i];
        json_t *top = json_array();
        top_k(probs + i * classes, classes, k, best);
        for (size_t r = 0; r < k; r++)
            json_array_append_new(top, json_pack("{s:I, s:s, s:f}", "class", (json_int_t)best[r],
                                                 "name", st->class_names[best[r]],
                                                 "probability", probs[i * classes + best[r]]));
        json_t *p = json_pack("{s:s, s:o, s:o, s:o}", "input", it->input, "row",
                              it->row < 0 ? json_null() : json_integer(it->row), "label",
                              it->label < 0 ? json_null() : json_integer(it->label), "top", top);
        json_array_append_new(preds, p);
    }
    json_t *doc = json_pack("{s:s, s:s, s:[I,I,I], s:o, s:b, s:o}", "checkpoint", o->checkpoint,
                            "arch", lenet_arch_name(st->arch), "input", (json_int_t)b->c,
                            (json_int_t)b->h, (json_int_t)b->w, "class_names", names,
                            "normalized", st->std[0] != 1.0 || st->mean[0] != 0.0,
                            "predictions", preds);
    if (!doc)
        die("cannot build the JSON output (a class name that is not UTF-8?)");
    json_dumpf(doc, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    printf("\n");
    json_decref(doc);
}

/* --rows: checks the list, keeps the text (load_inputs expands it). */
static int read_rows(const char *arg, void *dst)
{
    long *rows;
    size_t n;
    int all, rc = parse_rows(arg, &rows, &n, &all);
    free(rows);
    if (rc)
        return base_error_set("'%s' is not valid", arg);
    *(const char **)dst = arg;
    return 0;
}

int cmd_predict(int argc, char **argv)
{
    static const char *const splits[] = {"train", "test", NULL};
    PredictOptions o = {.rows = "0"};
    int split_index = 1;
    int64_t threads = 0;
    const Opt opts[] = {
        OPTION_INT("top", &o.top, 1, CKPT_MAX_CLASSES),
        OPTION_CUSTOM("rows", &o.rows, read_rows,
                      "all, or rows N and ranges A-B with A <= B, separated by commas, "
                      "e.g. 0,5,10-19"),
        OPTION_CHOICE("split", &split_index, splits),
        OPTION_FLAG("resize", &o.resize),
        OPTION_FLAG("json", &o.json),
        OPTION_INT("threads", &threads, 1, THREADS_MAX),
        OPTS_END,
    };
    const OptSpec spec = {"predict", opts, "a CHECKPOINT and one or more INPUTs", 2, -1};
    int n_pos, rc = opts_parse(&spec, argc, argv, &n_pos);
    if (rc == OPTS_HELP) {
        predict_usage(stdout);
        return 0;
    }
    if (rc || threads_setup(threads, &threads) < 0)
        return opts_fail("predict", base_error());
    o.split = split_index == 0 ? DATASET_TRAIN : DATASET_TEST;
    o.checkpoint = argv[1];
    o.inputs = argv + 2;
    o.n_inputs = n_pos - 1;
    base_flush_denormals();
    TrainState st;
    float *params = NULL, *momentum = NULL;
    size_t n_params;
    if (ckpt_read(o.checkpoint, &st, &params, &momentum, &n_params) < 0) {
        fprintf(stderr, "shardnet predict: %s\n", base_error());
        return 1;
    }
    free(momentum);
    const size_t classes = (size_t)st.num_classes;
    if (o.top > (int64_t)classes) {
        base_error_set("--top: %lld is more than the %zu classes of %s (an integer in 1..%zu)",
                       (long long)o.top, classes, o.checkpoint, classes);
        free(params);
        return opts_fail("predict", base_error());
    }
    size_t k = o.top ? (size_t)o.top : classes < DEFAULT_TOP ? classes : DEFAULT_TOP;
    Batch b = {.c = st.input_c, .h = st.input_h, .w = st.input_w, .classes = st.num_classes,
               .sample = (size_t)(st.input_c * st.input_h * st.input_w)};
    rc = 0;
    if (load_inputs(&b, &o)) {
        fprintf(stderr, "shardnet predict: %s\n", base_error());
        rc = 1;
    } else {
        double *probs = xmalloc(b.count * classes * sizeof *probs);
        run_model(&st, params, &b, probs);
        if (o.json)
            print_json(&st, &b, probs, k, &o);
        else
            print_table(&st, &b, probs, k, &o);
        free(probs);
    }
    free(b.items);
    free(b.pixels);
    free(params);
    return rc;
}
