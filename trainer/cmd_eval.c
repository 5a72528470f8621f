/* cmd_eval.c - `shardnet eval CHECKPOINT`: test-set loss, accuracy, per-class
 * accuracy and the confusion matrix of a checkpoint.  Runs on one process
 * or under mpirun (each rank evaluates its share of the test set; integer
 * counts are summed, so the figures are the same for any P).  Rank 0 reads
 * the checkpoint and broadcasts it; rank 0 prints.
 *
 * --predictions FILE.csv: every rank keeps its share's logits, rank 0
 * gathers them and writes one row per test sample (index, label, predicted
 * class, softmax probabilities in double from the float logits) with
 * atomic_write_file: FILE is complete or absent.  FILE is checked before any
 * work (io/outpath.h: never an input, an existing file only with --force). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <math.h>

#include "atomic.h"
#include "base.h"
#include "jsonw.h"
#include "outpath.h"
#include "paths.h"
#include "threads.h"
#include "ckpt.h"
#include "commands.h"
#include "dist.h"
#include "evaluate.h"
#include "opts.h"

static void eval_usage(FILE *out)
{
    fprintf(out,
            "usage: shardnet eval [options] CHECKPOINT      (optionally under mpirun -np P)\n\n"
            "Evaluates a checkpoint on the test split: loss, accuracy, per-class accuracy\n"
            "(class names from the dataset) and the confusion matrix.\n\n"
            "  --data FILE   HDF5 dataset (default: data/fashion-mnist.h5)\n"
            "  --batch N     images per forward pass, 1..4096 (default: 128)\n"
            "  --threads N   OpenMP threads per rank (default: OMP_NUM_THREADS if set,\n"
            "                else 1)\n"
            "  --predictions FILE.csv\n"
            "                also write each test sample's index, label, predicted class and\n"
            "                class probabilities (header: the class names); an existing FILE\n"
            "                is refused\n"
            "  --force       replace an existing --predictions FILE\n"
            "  --help        this text\n"
            "Exit status: 0 evaluated, 1 failure, 2 usage error.\n");
}

typedef struct {
    const char *data, *checkpoint;
    int64_t batch, threads;
    const char *predictions;
    bool force;
} EvalOptions;

/* The checks between options and arguments once they are read; -1 with
 * base_error(). */
static int check_options(const EvalOptions *o)
{
    if (o->force && !o->predictions)
        return base_error_set("--force: only applies to --predictions FILE (give --predictions "
                              "FILE.csv with it)");
    PathRole out[] = {{"--predictions", o->predictions}};
    PathRole in[] = {{"the checkpoint", o->checkpoint}, {"--data", o->data}};
    return o->predictions ? paths_check_outputs(out, 1, in, 2) : 0;
}

/* Rank 0 checks --predictions FILE (io/outpath.h) before any work; every
 * rank learns the outcome.  0 ok, -1 (message printed by rank 0). */
static int check_predictions_path(const EvalOptions *o)
{
    int32_t ok = 1;
    if (o->predictions && dist_rank() == 0 &&
        outpath_file(o->predictions, "--predictions", o->force, "give --force to replace it") < 0) {
        fprintf(stderr, "shardnet eval: %s\n", base_error());
        ok = 0;
    }
    dist_broadcast(&ok, sizeof ok, 0);
    return ok ? 0 : -1;
}

/* One CSV field: quoted (RFC 4180) when it holds a comma, quote or line break. */
static void csv_field(Text *t, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        text_put(t, s);
        return;
    }
    text_put(t, "\"");
    for (const char *c = s; *c; c++) {
        char one[2] = {*c, 0};
        text_put(t, *c == '"' ? "\"\"" : one);
    }
    text_put(t, "\"");
}

/* Rows for test samples [0, n): logits (n, k) and labels (n). */
static int write_predictions(const char *path, const TrainState *st, const Dataset *ds,
                             const float *logits, const uint8_t *labels, size_t n)
{
    const size_t k = (size_t)st->num_classes;
    Text t = {0};
    text_put(&t, "index,label,label_name,predicted,predicted_name");
    for (size_t c = 0; c < k; c++) {
        text_put(&t, ",");
        csv_field(&t, ds->class_names[c]);
    }
    text_put(&t, "\n");
    double *p = xmalloc(k * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        const float *l = logits + i * k;
        size_t pred = 0;
        for (size_t c = 1; c < k; c++) /* the first of equal maxima, as evaluator_run */
            if (l[c] > l[pred])
                pred = c;
        double sum = 0;
        for (size_t c = 0; c < k; c++)
            sum += p[c] = exp((double)l[c] - (double)l[pred]);
        text_printf(&t, "%zu,%u,", i, labels[i]);
        csv_field(&t, ds->class_names[labels[i]]);
        text_printf(&t, ",%zu,", pred);
        csv_field(&t, ds->class_names[pred]);
        for (size_t c = 0; c < k; c++)
            text_printf(&t, ",%.9g", p[c] / sum);
        text_put(&t, "\n");
    }
    free(p);
    int rc = atomic_write_file(path, t.data, t.len);
    text_free(&t);
    if (rc < 0)
        return base_error_set("--predictions %s: %s", path, base_error());
    return 0;
}

/* Rank 0 reads and verifies; every rank gets state and parameters.
 * Returns the parameter buffer, or NULL on every rank (message printed). */
static float *load_checkpoint(const char *path, TrainState *st, size_t *n)
{
    struct {
        int32_t ok;
        uint64_t n;
        char message[2048];
    } o = {1, 0, ""};
    float *params = NULL, *momentum = NULL;
    size_t count = 0;
    if (dist_rank() == 0) {
        if (ckpt_read(path, st, &params, &momentum, &count) < 0) {
            o.ok = 0;
            snprintf(o.message, sizeof o.message, "%s", base_error());
        }
        o.n = count;
        free(momentum);
    }
    dist_broadcast(&o, sizeof o, 0);
    if (!o.ok) {
        if (dist_rank() == 0)
            fprintf(stderr, "shardnet eval: %s\n", o.message);
        return NULL;
    }
    dist_broadcast(st, sizeof *st, 0);
    *n = (size_t)o.n;
    if (dist_rank() != 0)
        params = xmalloc(*n * sizeof(float));
    dist_broadcast(params, *n * sizeof(float), 0);
    return params;
}

static void print_report(const TrainState *st, const Dataset *ds, const EvalCounts *c,
                         const EvalOptions *o)
{
    const int64_t k = c->classes;
    printf("eval: %s (LeNet %s, step %" PRIu64 ") on %s: %lld test samples, %d rank(s)\n",
           o->checkpoint, lenet_arch_name(st->arch), st->step, o->data,
           (long long)c->totals.samples, dist_size());
    printf("test loss %.6f  accuracy %.4f (%lld/%lld)\n\nper-class accuracy:\n",
           control_mean_loss(&c->totals), control_accuracy(&c->totals),
           (long long)c->totals.correct, (long long)c->totals.samples);
    for (int64_t i = 0; i < k; i++) {
        int64_t total = 0;
        for (int64_t j = 0; j < k; j++)
            total += c->confusion[i * k + j];
        int64_t hit = c->confusion[i * k + i];
        printf("  %2lld %-16s %.4f (%lld/%lld)\n", (long long)i, ds->class_names[i],
               total ? (double)hit / (double)total : 0.0, (long long)hit, (long long)total);
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted class):\n      ");
    for (int64_t j = 0; j < k; j++)
        printf(" %5lld", (long long)j);
    printf("\n");
    for (int64_t i = 0; i < k; i++) {
        printf("  %2lld  ", (long long)i);
        for (int64_t j = 0; j < k; j++)
            printf(" %5lld", (long long)c->confusion[i * k + j]);
        printf("\n");
    }
}

/* Every rank's share of logits and labels to rank 0 (padded to the
 * largest share), which writes the CSV; collective.  0, or -1 on every rank. */
static int gather_and_write(const EvalOptions *o, const TrainState *st, const Dataset *ds,
                            const EvalSet *ev, const float *logits)
{
    const size_t k = (size_t)st->num_classes, n = ds->count[DATASET_TEST];
    const int ranks = dist_size();
    size_t most = 0, first, count;
    for (int r = 0; r < ranks; r++) {
        shard_eval_range(n, ranks, r, &first, &count);
        most = count > most ? count : most;
    }
    const size_t row = k * sizeof(float) + 1; /* logits, then the label byte */
    uint8_t *mine = xcalloc(most * row + 1, 1);
    for (size_t i = 0; i < ev->count; i++) {
        memcpy(mine + i * row, logits + i * k, k * sizeof(float));
        mine[i * row + k * sizeof(float)] = ev->labels[i];
    }
    uint8_t *all = dist_rank() == 0 ? xmalloc((size_t)ranks * most * row + 1) : NULL;
    dist_gather_bytes(mine, most * row, all);
    int32_t ok = 1;
    if (dist_rank() == 0) {
        float *l = xmalloc(n * k * sizeof(float) + 1);
        uint8_t *labels = xmalloc(n + 1);
        for (int r = 0; r < ranks; r++) {
            shard_eval_range(n, ranks, r, &first, &count);
            for (size_t i = 0; i < count; i++) {
                const uint8_t *src = all + ((size_t)r * most + i) * row;
                memcpy(l + (first + i) * k, src, k * sizeof(float));
                labels[first + i] = src[k * sizeof(float)];
            }
        }
        if (write_predictions(o->predictions, st, ds, l, labels, n) < 0) {
            fprintf(stderr, "shardnet eval: %s\n", base_error());
            ok = 0;
        } else {
            printf("predictions: %zu test samples written to %s\n", n, o->predictions);
        }
        free(l);
        free(labels);
    }
    free(mine);
    free(all);
    dist_broadcast(&ok, sizeof ok, 0);
    return ok ? 0 : -1;
}

static int run_eval(const EvalOptions *o)
{
    if (check_predictions_path(o) < 0)
        return 1;
    TrainState st;
    size_t n = 0;
    float *params = load_checkpoint(o->checkpoint, &st, &n);
    if (!params)
        return 1;
    Dataset ds;
    int ok = dataset_open(&ds, o->data) == 0;
    if (ok && (st.input_c != (int64_t)ds.channels || st.input_h != (int64_t)ds.height ||
               st.input_w != (int64_t)ds.width || st.num_classes != ds.num_classes)) {
        base_error_set("%s: images %zux%zux%zu with %d classes, the checkpoint expects "
                       "%lldx%lldx%lld with %lld classes", o->data, ds.channels, ds.height,
                       ds.width, ds.num_classes, (long long)st.input_c, (long long)st.input_h,
                       (long long)st.input_w, (long long)st.num_classes);
        ok = 0;
    }
    Evaluator e = {0};
    EvalSet ev = {0};
    /* The checkpoint's input normalisation (what the model was trained on,
     * as the exports carry it), not the file's statistics. */
    ok = ok && loader_eval_init(&ev, &ds, dist_size(), dist_rank(), 0) == 0;
    if (ok)
        loader_eval_set_norm(&ev, st.mean, st.std);
    ok = ok && evaluator_init(&e, st.arch, &ds, (size_t)o->batch) == 0;
    const size_t k = (size_t)st.num_classes;
    if (ok && o->predictions)
        e.logits_out = xcalloc(ev.count * k + 1, sizeof(float));
    EvalCounts counts;
    evalcounts_init(&counts, st.num_classes);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ok = ok && evaluator_run(&e, &ev, params, &counts) == 0;
    clock_gettime(CLOCK_MONOTONIC, &b);
    double seconds = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    dist_max_f64(&seconds);
    if (!ok)
        fprintf(stderr, "[rank %d] shardnet eval: %s\n", dist_rank(), base_error());
    int64_t bad = !ok;
    dist_sum_i64(&bad, 1);
    int status = 1;
    if (!bad) {
        dist_sum_i64((int64_t *)&counts.totals, CONTROL_N);
        dist_sum_i64(counts.confusion, (size_t)(st.num_classes * st.num_classes));
        if (dist_rank() == 0) {
            print_report(&st, &ds, &counts, o);
            printf("\ninference: %lld images in %.3f s, %.0f img/s (%d rank(s) x %lld "
                   "thread(s), batch %lld)\n", (long long)counts.totals.samples, seconds,
                   (double)counts.totals.samples / seconds, dist_size(), (long long)o->threads,
                   (long long)o->batch);
        }
        status = 0;
    }
    if (!bad && o->predictions && gather_and_write(o, &st, &ds, &ev, e.logits_out) < 0)
        status = 1;
    free(e.logits_out);
    evalcounts_free(&counts);
    evaluator_free(&e);
    loader_eval_free(&ev);
    dataset_free(&ds);
    free(params);
    return status;
}

int cmd_eval(int argc, char **argv)
{
    dist_init(&argc, &argv);
    EvalOptions o = {.data = "data/fashion-mnist.h5", .batch = 128};
    /* 4096 images a forward pass already need ~0.5 GB. */
    const Opt opts[] = {
        OPTION_STRING("data", &o.data, "an HDF5 dataset file"),
        OPTION_INT("batch", &o.batch, 1, 4096),
        OPTION_INT("threads", &o.threads, 1, THREADS_MAX),
        OPTION_STRING("predictions", &o.predictions, "a CSV file name"),
        OPTION_FLAG("force", &o.force),
        OPTS_END,
    };
    const OptSpec spec = {"eval", opts, "one CHECKPOINT", 1, 1};
    int n_pos, rc = opts_parse(&spec, argc, argv, &n_pos);
    if (rc == OPTS_OK)
        o.checkpoint = argv[1];
    /* Every rank reads the same arguments and reaches the same verdict;
     * rank 0 says it. */
    if (rc == OPTS_HELP) {
        if (dist_rank() == 0)
            eval_usage(stdout);
        rc = 0;
    } else if (rc || threads_setup(o.threads, &o.threads) < 0 || check_options(&o) < 0) {
        rc = dist_rank() == 0 ? opts_fail("eval", base_error()) : 2;
    } else {
        base_flush_denormals();
        rc = run_eval(&o);
    }
    dist_finalize();
    return rc;
}
