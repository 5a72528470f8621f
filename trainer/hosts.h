/* hosts.h - the "P ranks on H hosts" line from the gathered host names.
 * Pure; dist_hosts (dist.h) gathers the names on rank 0 and calls it. */
#ifndef SHARDNET_HOSTS_H
#define SHARDNET_HOSTS_H

#include <stddef.h>

/* names: P NUL-terminated names, name r at names + r * stride.  Writes
 * "P ranks on H hosts: a (2 ranks), b (1 rank)" with hosts in order of their
 * first rank, and returns H. */
int hosts_format(const char *names, size_t stride, int P, char *out, size_t cap);

#endif
