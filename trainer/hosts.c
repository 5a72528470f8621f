/* hosts.c - summarise host names.  See hosts.h. */
#include "hosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

int hosts_format(const char *names, size_t stride, int P, char *out, size_t cap)
{
    int *count = xcalloc((size_t)P, sizeof *count); /* per first rank of a host */
    int hosts = 0;
    for (int r = 0; r < P; r++) {
        int first = r;
        for (int q = 0; q < r; q++)
            if (!strcmp(names + (size_t)q * stride, names + (size_t)r * stride)) {
                first = q;
                break;
            }
        if (first == r)
            hosts++;
        count[first]++;
    }
    size_t len = 0;
    int n = snprintf(out, cap, "%d rank%s on %d host%s:", P, P == 1 ? "" : "s", hosts,
                     hosts == 1 ? "" : "s");
    len = n > 0 ? (size_t)n : 0;
    for (int r = 0, shown = 0; r < P && len < cap; r++) {
        if (!count[r])
            continue;
        n = snprintf(out + len, cap - len, "%s %s (%d rank%s)", shown ? "," : "",
                     names + (size_t)r * stride, count[r], count[r] == 1 ? "" : "s");
        len += n > 0 ? (size_t)n : 0;
        shown++;
    }
    free(count);
    return hosts;
}
