/* paths.c - file identity for output/input checks; see paths.h. */
#include "paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic.h"
#include "base.h"

/* realpath of path's parent + "/" + its last component, for a path that
 * does not exist (yet); 0 on failure. */
static int resolve_missing(const char *path, char *out, size_t n)
{
    char dir[4096], real[PATH_MAX];
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (atomic_dirname(path, dir, sizeof dir) < 0 || !realpath(dir, real))
        return 0;
    return (size_t)snprintf(out, n, "%s/%s", real, name) < n;
}

int paths_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea && eb)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ea != eb)
        return 0; /* one exists, the other does not: different names */
    char ra[4096 + 256], rb[4096 + 256];
    if (!resolve_missing(a, ra, sizeof ra) || !resolve_missing(b, rb, sizeof rb))
        return !strcmp(a, b);
    return !strcmp(ra, rb);
}

static int clash(const PathRole *x, const PathRole *y, const char *what)
{
    return base_error_set("%s '%s' is the same file as %s '%s': refusing to %s it", x->role,
                          x->path, y->role, y->path, what);
}

int paths_check_outputs(const PathRole *outputs, size_t n_out, const PathRole *inputs,
                        size_t n_in)
{
    for (size_t i = 0; i < n_out; i++) {
        if (!outputs[i].path)
            continue;
        for (size_t j = 0; j < n_in; j++)
            if (inputs[j].path && paths_same_file(outputs[i].path, inputs[j].path))
                return clash(&outputs[i], &inputs[j], "overwrite");
        for (size_t j = i + 1; j < n_out; j++)
            if (outputs[j].path && paths_same_file(outputs[i].path, outputs[j].path))
                return clash(&outputs[i], &outputs[j], "write both to");
    }
    return 0;
}
