/* cmd_export.c - `shardnet export CHECKPOINT --format onnx|safetensors`:
 * verifies the checkpoint (ckpt_read), computes the golden batch (the first
 * EXPORT_GOLDEN_COUNT test images of --data, else of the dataset the
 * checkpoint's run recorded, else synthetic images - an export never fails
 * for want of data - and shardnet's logits for them) and writes the export
 * atomically (no partial file on any failure).
 * Exit 0 written, 1 failure (message names the file and the problem),
 * 2 usage error.  One process, no MPI. */
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "base.h"
#include "outpath.h"
#include "commands.h"
#include "export.h"
#include "export_onnx.h"
#include "export_safetensors.h"
#include "opts.h"
#include "paths.h"

static void export_usage(FILE *out)
{
    fprintf(out,
            "usage: shardnet export CHECKPOINT --format onnx|safetensors [--out FILE] [--force]\n"
            "                       [--data FILE] [--bake-normalization]\n\n"
            "Writes the checkpoint's LeNet for other runtimes, after verifying the checkpoint:\n"
            "  onnx         the whole network (IR 7, opset 13), input `images` (N,C,H,W),\n"
            "               output `logits` (N,classes)\n"
            "  safetensors  the learnable tensors under the nn.Sequential keys 0.weight..11.bias\n"
            "Both carry metadata (classes, input normalisation, source checkpoint digest) and\n"
            "the golden batch: the first %d test images and shardnet's logits for them.\n"
            "See README.md.\n\n"
            "  --format F    onnx or safetensors (required)\n"
            "  --out FILE    output file (default: CHECKPOINT with .onnx / .safetensors);\n"
            "                missing directories are created, an existing FILE is refused\n"
            "  --force       replace an existing --out FILE\n"
            "  --data FILE   HDF5 dataset for the golden batch (default: the one the checkpoint's\n"
            "                run recorded; when that is not there, synthetic images, said on\n"
            "                stderr and in the metadata)\n"
            "  --bake-normalization\n"
            "                onnx only: the graph starts with the checkpoint's per-channel\n"
            "                (x - mean) / std, so a runtime feeds raw pixel / 255\n"
            "  --help        this text\n"
            "Exit status: 0 written, 1 failure (nothing written), 2 usage error.\n",
            EXPORT_GOLDEN_COUNT);
}

typedef enum { FORMAT_ONNX, FORMAT_SAFETENSORS } ExportFormat;

static const char *const format_names[] = {"onnx", "safetensors", NULL};

typedef struct {
    const char *checkpoint, *out, *data, *format_name;
    ExportFormat format;
    bool force, bake;
    char default_out[4096];
} ExportOptions;

/* CHECKPOINT with its extension (if any, in the last path component)
 * replaced by .onnx / .safetensors. */
static int default_out(ExportOptions *o)
{
    const char *ext = o->format == FORMAT_ONNX ? ".onnx" : ".safetensors";
    const char *slash = strrchr(o->checkpoint, '/');
    const char *dot = strrchr(o->checkpoint, '.');
    size_t stem = dot && dot > (slash ? slash : o->checkpoint) && dot[1] != '/'
                      ? (size_t)(dot - o->checkpoint) : strlen(o->checkpoint);
    int n = snprintf(o->default_out, sizeof o->default_out, "%.*s%s", (int)stem, o->checkpoint,
                     ext);
    if (n < 0 || (size_t)n >= sizeof o->default_out)
        return base_error_set("--out: not given, and the checkpoint's path is too long to "
                              "name it after (give --out FILE)");
    o->out = o->default_out;
    return 0;
}

/* The checks between options and the argument once they are read, and
 * the default --out; -1 with base_error(). */
static int settle(ExportOptions *o, bool format_given)
{
    if (!format_given)
        return base_error_set("--format: not given (onnx|safetensors; it is required)");
    o->format_name = format_names[o->format];
    if (o->bake && o->format != FORMAT_ONNX)
        return base_error_set("--bake-normalization: only for --format onnx (safetensors holds "
                              "the tensors only)");
    if (!o->out && default_out(o) < 0)
        return -1;
    PathRole out[] = {{"--out", o->out}};
    PathRole in[] = {{"the checkpoint", o->checkpoint}, {"--data", o->data}};
    return paths_check_outputs(out, 1, in, 2);
}

static int run_export(const ExportOptions *o)
{
    if (outpath_file(o->out, "--out", o->force, "give --force to replace it") < 0) {
        fprintf(stderr, "shardnet export: %s\n", base_error());
        return 1;
    }
    ExportSource s;
    char dir[4096];
    const char *slash = strrchr(o->out, '/');
    if (atomic_dirname(o->out, dir, sizeof dir) == 0) /* a killed export's leftovers */
        atomic_clean_stale(dir, slash ? slash + 1 : o->out, stderr);
    int rc = export_source_load(&s, o->checkpoint, o->data, EXPORT_GOLDEN_COUNT, o->bake);
    if (rc == 0 && s.synthetic)
        fprintf(stderr, "shardnet export: note: %s; the golden batch is %zu synthetic images "
                "(the metadata says so); give --data FILE for real test images\n",
                s.golden_note, s.golden_count);
    else if (rc == 0 && s.golden_note[0])
        fprintf(stderr, "shardnet export: %s\n", s.golden_note);
    if (rc == 0)
        rc = o->format == FORMAT_ONNX ? export_onnx_write(&s, o->out)
                                      : export_safetensors_write(&s, o->out);
    if (rc < 0) {
        fprintf(stderr, "shardnet export: %s\n", base_error());
        export_source_free(&s);
        return 1;
    }
    printf("export: wrote %s (%s%s) from %s: LeNet %s, step %llu, %zu parameters, golden batch "
           "of %zu %s%s; parameters sha256 %s\n",
           o->out, o->format_name, s.baked ? ", normalisation baked in: input pixel / 255" : "",
           o->checkpoint, lenet_arch_name(s.st.arch), (unsigned long long)s.st.step,
           s.net.n_params, s.golden_count, s.synthetic ? "synthetic images" : "test images of ",
           s.synthetic ? "" : s.data_name, s.params_sha256);
    export_source_free(&s);
    return 0;
}

int cmd_export(int argc, char **argv)
{
    ExportOptions o = {0};
    int format = FORMAT_ONNX;
    bool format_given = false;
    const Opt opts[] = {
        OPTION_CHOICE("format", &format, format_names, .given = &format_given),
        OPTION_STRING("out", &o.out, "a file name"),
        OPTION_STRING("data", &o.data, "an HDF5 dataset file"),
        OPTION_FLAG("force", &o.force),
        OPTION_FLAG("bake-normalization", &o.bake),
        OPTS_END,
    };
    const OptSpec spec = {"export", opts, "one CHECKPOINT", 1, 1};
    int n_pos, rc = opts_parse(&spec, argc, argv, &n_pos);
    if (rc == OPTS_HELP) {
        export_usage(stdout);
        return 0;
    }
    if (rc == OPTS_OK) {
        o.checkpoint = argv[1];
        o.format = (ExportFormat)format;
    }
    if (rc || settle(&o, format_given) < 0)
        return opts_fail("export", base_error());
    /* One thread whatever OMP_NUM_THREADS says: the golden logits in the
     * file do not depend on the environment the export ran in. */
    base_flush_denormals();
    omp_set_num_threads(1);
    return run_export(&o);
}
