/* cmd_bench.c - `shardnet bench`: time LeNet training steps (forward,
 * backward, SGD update) on one process with synthetic data, the op-level
 * throughput figure.  Multi-rank and end-to-end figures: scripts/bench.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base.h"
#include "threads.h"
#include "commands.h"
#include "lenet.h"
#include "opts.h"
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
            "  --arch classic|modern   network (default: classic)\n"
            "  --batch N               images per step, 1..4096 (default: 128)\n"
            "  --steps N               timed steps after 20 warm-up steps, 1..1000000\n"
            "                          (default: 200)\n"
            "  --layout nhwc|nchw      activation layout (default: nhwc)\n"
            "  --threads N             OpenMP threads (default: OMP_NUM_THREADS if set,\n"
            "                          else 1)\n"
            "  --no-ftz                keep denormals (default: flush to zero)\n"
            "  --profile               also print time per layer, forward and backward\n"
            "  --help                  this text\n"
            "Exit status: 0 measured, 2 usage error.\n");
}

int cmd_bench(int argc, char **argv)
{
    static const char *const arch_names[] = {"classic", "modern", NULL};
    static const char *const layout_names[] = {"nhwc", "nchw", NULL};
    int arch = ARCH_CLASSIC, layout_index = 0;
    int64_t batch = 128, steps = 200, threads = 0;
    bool ftz = true, profile = false;
    const Opt opts[] = {
        OPTION_CHOICE("arch", &arch, arch_names),
        OPTION_INT("batch", &batch, 1, 4096),
        OPTION_INT("steps", &steps, 1, 1000000),
        OPTION_CHOICE("layout", &layout_index, layout_names),
        OPTION_INT("threads", &threads, 1, THREADS_MAX),
        OPTION_UNFLAG("no-ftz", &ftz),
        OPTION_FLAG("profile", &profile),
        OPTS_END,
    };
    const OptSpec spec = {"bench", opts, NULL, 0, 0};
    int n_pos, rc = opts_parse(&spec, argc, argv, &n_pos);
    if (rc == OPTS_HELP) {
        bench_usage(stdout);
        return 0;
    }
    if (rc || threads_setup(threads, &threads) < 0)
        return opts_fail("bench", base_error());
    Layout layout = layout_index == 0 ? LAYOUT_NHWC : LAYOUT_NCHW;
    if (ftz)
        base_flush_denormals();

    LeNet m;
    if (lenet_init(&m, (LeNetArch)arch, batch, 1, 28, 28, 10, layout) < 0)
        die("%s", base_error());
    float *params = xaligned(m.n_params * sizeof(float));
    float *grads = xaligned(m.n_params * sizeof(float));
    float *momentum = xaligned(m.n_params * sizeof(float));
    float *images = xaligned((size_t)batch * 784 * sizeof(float));
    float *diff = xaligned((size_t)batch * 10 * sizeof(float));
    int32_t *labels = xmalloc((size_t)batch * sizeof(int32_t));
    lenet_init_params(&m, params, 1);
    Rng rng = {7};
    for (int64_t i = 0; i < batch * 784; i++)
        images[i] = rng_uniform01(&rng);
    for (int64_t i = 0; i < batch; i++)
        labels[i] = (int32_t)(rng_next(&rng) % 10);
    SgdConfig sgd = {0.1f, 0.0f, 0.0f};

    double t0 = 0, t_loss = 0, t_sgd = 0;
    LossResult r = {0};
    LeNetProfile prof;
    for (int64_t s = 0; s < steps + 20; s++) {
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
    printf("bench: arch=%s batch=%lld layout=%s ftz=%s threads=%lld\n",
           lenet_arch_name((LeNetArch)arch), (long long)batch, layout_names[layout_index],
           ftz ? "on" : "off", (long long)threads);
    printf("bench: conv1 %s / %s / %s\n", m.conv1.core.impl_fwd, m.conv1.core.impl_bwd_data,
           m.conv1.core.impl_bwd_weights);
    printf("bench: conv2 %s / %s / %s\n", m.conv2.core.impl_fwd, m.conv2.core.impl_bwd_data,
           m.conv2.core.impl_bwd_weights);
    printf("bench: pool  %s / %s\n", m.pool1.impl_fwd, m.pool1.impl_bwd);
    printf("bench: fc1   %s / %s / %s\n", m.fc1.core.impl_fwd, m.fc1.core.impl_bwd_data,
           m.fc1.core.impl_bwd_weights);
    printf("bench: %lld steps in %.3f s: %.0f img/s (%.3f ms/step), final loss %.4f\n", (long long)steps, dt,
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
