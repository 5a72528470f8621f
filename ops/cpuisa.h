/* cpuisa.h - which oneDNN instruction set a process runs, chosen by the job.
 *
 * oneDNN picks its kernels, and so the rounding of every sum, by the ISA it
 * may use.  Bit-identical weights across ranks (and across a resume on other
 * hosts) need one ISA for the whole job, pinned with dnnl_set_max_cpu_isa
 * before the first primitive exists.  Levels form one ladder, lowest first,
 * so that "the highest ISA every rank supports" is a minimum:
 *   0 SSE41, 1 AVX, 2 AVX2, 3 AVX512_CORE, 4 AVX512_CORE_VNNI,
 *   5 AVX512_CORE_BF16, 6 AVX512_CORE_AMX
 * (oneDNN's AVX2_VNNI and AVX512_MIC* count as AVX2: they are not above
 * AVX512_CORE on every CPU).  Names are the ONEDNN_MAX_CPU_ISA spellings.
 *
 * Pinning the ISA fixes which kernels oneDNN may use, not everything they
 * do: oneDNN also sizes some blockings from the cache sizes it detects, and
 * another blocking can split a reduction differently, so two CPU models
 * pinned to the same ISA are likely, not certain, to agree.  Tested here
 * (tests/isa_mpi.sh, ranks capped to simulate CPU generations): ranks capped
 * to different ISAs give the weights of a uniform run at the lowest of them,
 * and a resume keeps the recorded ISA (checkpoint /state/cpu_isa) or is
 * refused, naming the rank, its host and its maximum.
 *
 * Contract: cpuisa_probe must run before any other oneDNN call of the
 * process (asking oneDNN for its ISA fixes it); it asks oneDNN in a forked
 * child, so call it before MPI_Init.  cpuisa_pin once, before the first
 * primitive. */
#ifndef SHARDNET_CPUISA_H
#define SHARDNET_CPUISA_H

#include <stddef.h>

enum { CPUISA_LEVELS = 7 };

/* The highest level this process may run: what the CPU supports, capped by
 * the user's ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA (oneDNN reads those in
 * the child).  The answer is cached; -1 with base_error() when oneDNN
 * offers none of the levels (a CPU without SSE4.1) or the child failed. */
int cpuisa_probe(void);

/* "AVX2" for level 2; "?" outside the ladder. */
const char *cpuisa_name(int level);
/* The level of a name (case-insensitive, as cpuisa_name spells it); -1. */
int cpuisa_parse(const char *name);

/* Pins level for this process.  -1 with base_error() when oneDNN refuses
 * (some oneDNN call came first) or its effective ISA is then another level
 * (this CPU cannot run it). */
int cpuisa_pin(int level);

/* The level oneDNN runs now (fixes it if nothing was pinned); -1 if none. */
int cpuisa_effective(void);

#endif
