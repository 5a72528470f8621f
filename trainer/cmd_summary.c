/* cmd_summary.c - `shardnet summary`: one row per layer of LeNet with its
 * output shape and parameter count, for a given input shape (the textbook's
 * layer summary). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "commands.h"
#include "lenet.h"
#include "opts.h"

static void summary_usage(FILE *out)
{
    fprintf(out,
            "usage: shardnet summary [--arch classic|modern] [--input N,C,H,W] [--classes K]\n\n"
            "Prints LeNet's layers with their output shapes and parameter counts.\n"
            "Layer sizes are inferred from the input shape, like the textbook's lazy layers.\n\n"
            "  --arch classic|modern  sigmoid and average pooling, or ReLU and max pooling\n"
            "                         (default: classic)\n"
            "  --input N,C,H,W        input shape (default: 1,1,28,28)\n"
            "  --classes K            number of classes, 2..256 (default: 10)\n"
            "  --help                 this text\n"
            "Exit status: 0 printed, 2 usage error.\n");
}

/* "256,3,28,28" -> four positive sizes; -1 with base_error() otherwise. */
static int parse_shape(const char *s, void *dst)
{
    int64_t *out = dst;
    const char *p = s;
    for (int i = 0; i < 4; i++) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 1 || (i < 3 ? *end != ',' : *end != '\0'))
            return base_error_set("'%s' is not valid", s);
        out[i] = v;
        p = end + 1;
    }
    return 0;
}

static void print_shape(const LayerInfo *l)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "(");
    for (int d = 0; d < l->ndims; d++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%lld", d ? ", " : "", (long long)l->out[d]);
    snprintf(buf + n, sizeof buf - (size_t)n, ")");
    printf("%-24s", buf);
}

int cmd_summary(int argc, char **argv)
{
    static const char *const arch_names[] = {"classic", "modern", NULL};
    int arch = ARCH_CLASSIC;
    int64_t in[4] = {1, 1, 28, 28}, classes = 10;
    const Opt opts[] = {
        OPTION_CHOICE("arch", &arch, arch_names),
        OPTION_CUSTOM("input", in, parse_shape, "four positive integers N,C,H,W"),
        OPTION_INT("classes", &classes, 2, LENET_MAX_CLASSES),
        OPTS_END,
    };
    const OptSpec spec = {"summary", opts, NULL, 0, 0};
    int n_pos, rc = opts_parse(&spec, argc, argv, &n_pos);
    if (rc == OPTS_HELP) {
        summary_usage(stdout);
        return 0;
    }
    if (rc)
        return opts_fail("summary", base_error());
    LeNet m;
    if (lenet_describe(&m, (LeNetArch)arch, in[0], in[1], in[2], in[3], classes) < 0) {
        /* The shape came from the command line: a usage error. */
        char what[1024];
        snprintf(what, sizeof what, "--input: %s", base_error());
        return opts_fail("summary", what);
    }
    printf("LeNet (%s), input (%lld, %lld, %lld, %lld)\n", lenet_arch_name((LeNetArch)arch),
           (long long)in[0], (long long)in[1], (long long)in[2], (long long)in[3]);
    printf("%-3s %-12s %-24s %10s\n", "#", "Layer", "Output shape", "Params");
    for (int i = 0; i < LENET_LAYERS; i++) {
        printf("%-3d %-12s ", i, m.layers[i].kind);
        print_shape(&m.layers[i]);
        printf(" %10zu\n", m.layers[i].n_params);
    }
    printf("Total learnable parameters: %zu (%zu bytes as float32)\n", m.n_params,
           m.n_params * sizeof(float));
    for (int t = 0; t < LENET_TENSORS; t++) {
        const TensorView *v = &m.tensors[t];
        printf("  %-13s %-10s (", v->name, v->key);
        for (int d = 0; d < v->ndims; d++)
            printf("%s%lld", d ? ", " : "", (long long)v->dims[d]);
        printf(")\n");
    }
    return 0;
}
