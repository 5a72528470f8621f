/* cpuisa.c - the job's oneDNN ISA; see cpuisa.h.
 *
 * Why a child process: oneDNN 2.6 lets dnnl_set_max_cpu_isa succeed only
 * before anything has read the ISA, and dnnl_get_effective_cpu_isa reads
 * it.  A forked child asks (with the parent's environment, so oneDNN's own
 * parsing of ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA and its own CPU and OS
 * checks apply) and reports through a pipe; the parent stays free to pin. */
#include "cpuisa.h"

#include <errno.h>
#include <stdio.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base.h"

static const struct {
    const char *name;
    dnnl_cpu_isa_t isa;
} ladder[CPUISA_LEVELS] = {
    {"SSE41", dnnl_cpu_isa_sse41},
    {"AVX", dnnl_cpu_isa_avx},
    {"AVX2", dnnl_cpu_isa_avx2},
    {"AVX512_CORE", dnnl_cpu_isa_avx512_core},
    {"AVX512_CORE_VNNI", dnnl_cpu_isa_avx512_core_vnni},
    {"AVX512_CORE_BF16", dnnl_cpu_isa_avx512_core_bf16},
    {"AVX512_CORE_AMX", dnnl_cpu_isa_avx512_core_amx},
};

static int level_of(dnnl_cpu_isa_t isa)
{
    for (int i = 0; i < CPUISA_LEVELS; i++)
        if (ladder[i].isa == isa)
            return i;
    if (isa == dnnl_cpu_isa_avx2_vnni || isa == dnnl_cpu_isa_avx512_mic ||
        isa == dnnl_cpu_isa_avx512_mic_4ops)
        return 2;
    return -1;
}

const char *cpuisa_name(int level)
{
    return level >= 0 && level < CPUISA_LEVELS ? ladder[level].name : "?";
}

int cpuisa_parse(const char *name)
{
    for (int i = 0; i < CPUISA_LEVELS; i++)
        if (!strcasecmp(name, ladder[i].name))
            return i;
    return -1;
}

int cpuisa_probe(void)
{
    static int cached = -2;
    static char error[256];
    if (cached == -1)
        return base_error_set("%s", error);
    if (cached != -2)
        return cached;
    cached = -1; /* until the probe succeeds */
    int fd[2];
    int piped = pipe(fd) == 0;
    pid_t pid = piped ? fork() : -1;
    if (pid < 0) {
        snprintf(error, sizeof error, "cannot probe the CPU's ISA: %s failed (errno %d)",
                 piped ? "fork" : "pipe", errno);
        if (piped)
            close(fd[0]), close(fd[1]);
        return base_error_set("%s", error);
    }
    if (pid == 0) {
        close(fd[0]);
        int level = level_of(dnnl_get_effective_cpu_isa());
        _exit(write(fd[1], &level, sizeof level) == sizeof level ? 0 : 1);
    }
    close(fd[1]);
    int level = -1;
    ssize_t got;
    do
        got = read(fd[0], &level, sizeof level);
    while (got < 0 && errno == EINTR);
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got != (ssize_t)sizeof level || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        snprintf(error, sizeof error, "cannot probe the CPU's ISA: the probing child failed");
    else if (level < 0)
        snprintf(error, sizeof error, "oneDNN offers no ISA from SSE41 up here (check "
                 "ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA; shardnet needs at least SSE41)");
    if (error[0])
        return base_error_set("%s", error);
    cached = level;
    return level;
}

int cpuisa_pin(int level)
{
    if (level < 0 || level >= CPUISA_LEVELS)
        return base_error_set("no oneDNN ISA level %d", level);
    dnnl_status_t s = dnnl_set_max_cpu_isa(ladder[level].isa);
    if (s != dnnl_success)
        return base_error_set("oneDNN refused to pin ISA %s (%s): it was already in use",
                              ladder[level].name, base_dnnl_status_str(s));
    int now = cpuisa_effective();
    if (now != level)
        return base_error_set("this CPU cannot run oneDNN ISA %s (it runs %s at most)",
                              ladder[level].name, cpuisa_name(now));
    return 0;
}

int cpuisa_effective(void) { return level_of(dnnl_get_effective_cpu_isa()); }
