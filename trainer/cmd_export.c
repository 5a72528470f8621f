/* cmd_export.c - `shardnet export CHECKPOINT --format onnx|safetensors`:
 * verifies the checkpoint (ckpt_read), computes the golden batch (the first
 * EXPORT_GOLDEN_COUNT test images of --data, else of the dataset the
 * checkpoint's run recorded, else synthetic images - an export never fails
 * for want of data - and shardnet's logits for them) and writes the export
 * atomically (no partial file on any failure).
 * Exit 0 written, 1 failure (message names the file and the problem),
 * 2 usage error.  One process, no MPI. */
#include <getopt.h>
#include <omp.h>
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

typedef struct {
    const char *checkpoint, *out, *data, *format_name;
    ExportFormat format;
    int force, bake;
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
    if (n < 0 || (size_t)n >= sizeof o->default_out) {
        fprintf(stderr, "shardnet export: checkpoint path too long\n");
        return 2;
    }
    o->out = o->default_out;
    return 0;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "shardnet export: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n");
    export_usage(stderr);
    return 2;
}

/* 0 ok, 1 --help, 2 usage error (printed). */
static int parse(int argc, char **argv, ExportOptions *o)
{
    static const struct option opts[] = {{"format", required_argument, 0, 'f'},
                                         {"out", required_argument, 0, 'o'},
                                         {"data", required_argument, 0, 'd'},
                                         {"force", no_argument, 0, 'F'},
                                         {"bake-normalization", no_argument, 0, 'B'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f': o->format_name = optarg; break;
        case 'o': o->out = optarg; break;
        case 'd': o->data = optarg; break;
        case 'F': o->force = 1; break;
        case 'B': o->bake = 1; break;
        case 'h': return 1;
        default: export_usage(stderr); return 2;
        }
    }
    if (argc - optind != 1)
        return usage_error("give exactly one checkpoint%s", "");
    o->checkpoint = argv[optind];
    if (!o->format_name)
        return usage_error("--format onnx|safetensors is required%s", "");
    if (!strcmp(o->format_name, "onnx"))
        o->format = FORMAT_ONNX;
    else if (!strcmp(o->format_name, "safetensors"))
        o->format = FORMAT_SAFETENSORS;
    else
        return usage_error("unknown format '%s' (expected onnx or safetensors)", o->format_name);
    if (o->bake && o->format != FORMAT_ONNX)
        return usage_error("--bake-normalization needs --format onnx (safetensors holds the "
                           "tensors only)%s", "");
    if (o->data && !o->data[0])
        return usage_error("--data: empty file name%s", "");
    if (!o->out && default_out(o) != 0)
        return 2;
    PathRole out[] = {{"--out", o->out}};
    PathRole in[] = {{"the checkpoint", o->checkpoint}, {"--data", o->data}};
    if (paths_check_outputs(out, 1, in, 2) < 0)
        return usage_error("%s", base_error());
    return 0;
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
    ExportOptions o;
    int rc = parse(argc, argv, &o);
    if (rc == 1) {
        export_usage(stdout);
        return 0;
    }
    if (rc != 0)
        return rc;
    base_flush_denormals(); /* as `shardnet eval` computes */
    omp_set_num_threads(1);
    return run_export(&o);
}
