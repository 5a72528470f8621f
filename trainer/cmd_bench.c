/* cmd_bench.c - `shardnet bench`: time LeNet training steps (forward,
 * backward, SGD update) on one process with synthetic data, the op-level
 * throughput figure.  Multi-rank and end-to-end figures: scripts/bench.sh. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base.h"
#include "threads.h"
#include "commands.h"
#include "lenet.h"
#include "loss.h"
#include "rng.h"
#include "sgd.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench_usage(FILE *out)
{
    fprintf(out,
            "usage: shardnet bench [options]\n\n"
            "Times LeNet training steps (forward + backward + SGD) in this process on\n"
            "synthetic 1x28x28 images, and prints images per second.\n\n"
            "  --arch classic|modern   network (default classic)\n"
            "  --batch N               images per step (default 128)\n"
            "  --steps N               timed steps (default 200, after 20 warm-up steps)\n"
            "  --layout nhwc|nchw      activation layout (default nhwc)\n"
            "  --no-ftz                keep denormals (default: flush to zero)\n"
            "  --profile               also print time per layer, forward and backward\n"
            "  --help                  this text\n"
            "Threads: OMP_NUM_THREADS (oneDNN's OpenMP runtime).\n");
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"arch", required_argument, 0, 'a'}, {"batch", required_argument, 0, 'b'},
        {"steps", required_argument, 0, 's'}, {"layout", required_argument, 0, 'l'},
        {"no-ftz", no_argument, 0, 'f'},     {"help", no_argument, 0, 'h'},
        {"profile", no_argument, 0, 'p'},
        {0, 0, 0, 0}};
    LeNetArch arch = ARCH_CLASSIC;
    long batch = 128, steps = 200;
    Layout layout = LAYOUT_NHWC;
    int ftz = 1, profile = 0, c;
    char *end;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            if (lenet_arch_parse(optarg, &arch) < 0) {
                fprintf(stderr, "shardnet bench: --arch: %s\n", base_error());
                return 2;
            }
            break;
        case 'b':
        case 's': {
            long v = strtol(optarg, &end, 10);
            long hi = c == 'b' ? 4096 : 1000000;
            if (*end || end == optarg || optarg[0] < '0' || optarg[0] > '9' || v < 1 || v > hi) {
                fprintf(stderr, "shardnet bench: --%s needs an integer 1..%ld, got '%s'\n",
                        c == 'b' ? "batch" : "steps", hi, optarg);
                return 2;
            }
            *(c == 'b' ? &batch : &steps) = v;
            break;
        }
        case 'l':
            if (!strcmp(optarg, "nhwc"))
                layout = LAYOUT_NHWC;
            else if (!strcmp(optarg, "nchw"))
                layout = LAYOUT_NCHW;
            else {
                fprintf(stderr, "shardnet bench: --layout must be nhwc or nchw, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'f': ftz = 0; break;
        case 'p': profile = 1; break;
        case 'h': bench_usage(stdout); return 0;
        default: bench_usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "shardnet bench: unexpected argument '%s'\n", argv[optind]);
        bench_usage(stderr);
        return 2;
    }
    const char *env = getenv("OMP_NUM_THREADS");
    long want = env && *env ? strtol(env, &end, 10) : 1;
    if (env && *env && (*end || want < 1)) {
        fprintf(stderr, "shardnet bench: OMP_NUM_THREADS='%s' is not a positive integer\n", env);
        return 2;
    }
    if (threads_check("OMP_NUM_THREADS", want) < 0) {
        fprintf(stderr, "shardnet bench: %s\n", base_error());
        return 2;
    }
    if (ftz)
        base_flush_denormals();

    LeNet m;
    if (lenet_init(&m, arch, batch, 1, 28, 28, 10, layout) < 0)
        die("%s", base_error());
    float *params = xaligned(m.n_params * sizeof(float));
    float *grads = xaligned(m.n_params * sizeof(float));
    float *momentum = xaligned(m.n_params * sizeof(float));
    float *images = xaligned((size_t)batch * 784 * sizeof(float));
    float *diff = xaligned((size_t)batch * 10 * sizeof(float));
    int32_t *labels = xmalloc((size_t)batch * sizeof(int32_t));
    lenet_init_params(&m, params, 1);
    Rng rng = {7};
    for (long i = 0; i < batch * 784; i++)
        images[i] = rng_uniform01(&rng);
    for (long i = 0; i < batch; i++)
        labels[i] = (int32_t)(rng_next(&rng) % 10);
    SgdConfig sgd = {0.1f, 0.0f, 0.0f};

    double t0 = 0, t_loss = 0, t_sgd = 0;
    LossResult r = {0};
    LeNetProfile prof;
    for (long s = 0; s < steps + 20; s++) {
        if (s == 20) {
            memset(&prof, 0, sizeof prof);
            m.profile = profile ? &prof : NULL;
            t_loss = t_sgd = 0;
            t0 = now();
        }
        lenet_forward(&m, params, images);
        double t1 = now();
        r = loss_softmax_xent(m.logits, labels, (size_t)batch, 10, diff);
        t_loss += now() - t1;
        lenet_backward(&m, params, images, diff, grads);
        t1 = now();
        sgd_step(&sgd, params, grads, momentum, m.n_params);
        t_sgd += now() - t1;
    }
    double dt = now() - t0;
    printf("bench: arch=%s batch=%ld layout=%s ftz=%s threads=%s\n", lenet_arch_name(arch), batch,
           layout == LAYOUT_NHWC ? "nhwc" : "nchw", ftz ? "on" : "off",
           getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "(default)");
    printf("bench: conv1 %s / %s / %s\n", m.conv1.core.impl_fwd, m.conv1.core.impl_bwd_data,
           m.conv1.core.impl_bwd_weights);
    printf("bench: conv2 %s / %s / %s\n", m.conv2.core.impl_fwd, m.conv2.core.impl_bwd_data,
           m.conv2.core.impl_bwd_weights);
    printf("bench: pool  %s / %s\n", m.pool1.impl_fwd, m.pool1.impl_bwd);
    printf("bench: fc1   %s / %s / %s\n", m.fc1.core.impl_fwd, m.fc1.core.impl_bwd_data,
           m.fc1.core.impl_bwd_weights);
    printf("bench: %ld steps in %.3f s: %.0f img/s (%.3f ms/step), final loss %.4f\n", steps, dt,
           (double)steps * (double)batch / dt, 1e3 * dt / (double)steps, r.loss);
    if (profile) {
        printf("bench: per step, microseconds:  forward  backward\n");
        for (int i = 0; i < LENET_STAGES; i++)
            printf("bench:   %-8s %24.1f %9.1f\n", lenet_stage_names[i],
                   1e6 * prof.forward[i] / (double)steps, 1e6 * prof.backward[i] / (double)steps);
        printf("bench:   %-8s %24.1f\n", "loss", 1e6 * t_loss / (double)steps);
        printf("bench:   %-8s %24.1f\n", "sgd", 1e6 * t_sgd / (double)steps);
    }
    lenet_free(&m);
    free(params), free(grads), free(momentum), free(images), free(diff), free(labels);
    return 0;
}
