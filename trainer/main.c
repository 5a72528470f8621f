/* main.c - the shardnet binary: git-style subcommands.
 *
 *   shardnet <command> [options]     shardnet <command> --help
 *   shardnet help [<command>]        shardnet --version
 *
 * `shardnet help CMD` is `shardnet CMD --help`.  A missing or unknown
 * command is a usage error in opts.h's shape (exit 2). */
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
                 "  or:  shardnet <command> --help   (or: shardnet help <command>)\n"
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

static const Command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name))
            return &commands[i];
    return NULL;
}

/* "what is wrong (LEAD prepare|summary|...)" on stderr, then the Try line. */
static int top_fail(const char *what, const char *lead)
{
    fprintf(stderr, "shardnet: %s (%s", what, lead);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(stderr, "%s%s", i ? "|" : "", commands[i].name);
    fprintf(stderr, ")\nTry 'shardnet --help'.\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return top_fail("no command given", "give one of ");
    const char *name = argv[1];
    char *help_argv[] = {NULL, "--help", NULL};
    if (!strcmp(name, "help")) {
        if (argc == 2) {
            usage(stdout);
            return 0;
        }
        if (argc > 3) {
            char what[256];
            snprintf(what, sizeof what, "help: unexpected argument '%.100s'", argv[3]);
            return top_fail(what, "give one command: ");
        }
        name = argv[2];
        if (!find_command(name)) {
            char what[256];
            snprintf(what, sizeof what, "help: '%.100s' is not a command", name);
            return top_fail(what, "");
        }
        /* From here on, exactly `shardnet CMD --help`. */
        help_argv[0] = argv[2];
        argc = 2;
        argv = help_argv;
    } else if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        usage(stdout);
        return 0;
    } else if (!strcmp(name, "--version")) {
        print_versions();
        return 0;
    } else {
        argc--;
        argv++;
    }
    const Command *cmd = find_command(name);
    if (!cmd) {
        char what[256];
        snprintf(what, sizeof what, "'%.100s' is not a command", name);
        return top_fail(what, "");
    }
    static char full[64]; /* argv[0] = "shardnet prepare" (opts_parse skips it) */
    snprintf(full, sizeof full, "shardnet %s", cmd->name);
    argv[0] = full;
    return cmd->run(argc, argv);
}
