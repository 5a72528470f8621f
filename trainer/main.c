/* main.c - the shardnet binary: git-style subcommands.
 *
 *   shardnet <command> [options]     shardnet <command> --help
 *
 * Unknown commands give the usage and exit 2. */
#include <stdio.h>
#include <string.h>

#include <hdf5.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "commands.h"
#include "dist.h"
#include "shardnet_version.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command commands[] = {
    {"prepare", cmd_prepare, "convert IDX files (Fashion-MNIST by default), an image folder or CIFAR-10 into the HDF5 dataset"},
    {"summary", cmd_summary, "print LeNet's layers, output shapes and parameter counts"},
    {"bench", cmd_bench, "time LeNet training steps in one process (op-level throughput)"},
    {"train", cmd_train, "train LeNet data-parallel (run under mpirun -np P)"},
    {"predict", cmd_predict, "top-k classes of images (PNG/JPEG) or dataset rows under a checkpoint"},
    {"eval", cmd_eval, "test-set accuracy, per-class accuracy and confusion matrix of a checkpoint"},
    {"verify", cmd_verify, "check checkpoints: structure, version, checksums, parameter digest"},
    {"info", cmd_info, "what a run or a checkpoint is: config, step, metrics, fingerprint"},
    {"export", cmd_export, "write a checkpoint as ONNX or safetensors, with a golden-batch proof"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: shardnet <command> [options]\n"
                 "  or:  shardnet <command> --help\n"
                 "  or:  shardnet --version\n\n"
                 "Data-parallel LeNet training on oneDNN and MPI.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

/* shardnet's version and the versions of the libraries it runs on. */
static void print_versions(void)
{
    const dnnl_version_t *d = dnnl_version();
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    char mpi[256];
    dist_library_version(mpi, sizeof mpi);
    printf("shardnet %s\n", SHARDNET_VERSION);
    printf("oneDNN %d.%d.%d (CPU ISA %s)\n", d->major, d->minor, d->patch,
           dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()));
    printf("HDF5 %u.%u.%u\n", maj, min, rel);
    printf("MPI: %s\n", mpi);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        print_versions();
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            static char name[64]; /* "shardnet train" in getopt's messages */
            snprintf(name, sizeof name, "shardnet %s", commands[i].name);
            argv[1] = name;
            return commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "shardnet: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
