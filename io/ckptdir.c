/* ckptdir.c - naming, listing, pruning, the latest pointer, resume choice
 * and room check of a checkpoint directory; see ckptdir.h. */
#include "ckptdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "atomic.h"
#include "base.h"

#define PREFIX "ckpt-"
#define SUFFIX ".h5"

static int name_of(uint64_t step, char *out, size_t n)
{
    int len = snprintf(out, n, PREFIX "%08llu" SUFFIX, (unsigned long long)step);
    return len < 0 || (size_t)len >= n ? base_error_set("checkpoint name too long") : 0;
}

int ckpt_path(const char *dir, uint64_t step, char *out, size_t n)
{
    int len = snprintf(out, n, "%s/" PREFIX "%08llu" SUFFIX, dir, (unsigned long long)step);
    return len < 0 || (size_t)len >= n ? base_error_set("path too long in '%s'", dir) : 0;
}

/* "ckpt-<1..20 digits>.h5" -> step; 0 if name is anything else. */
static int parse_name(const char *name, uint64_t *step)
{
    size_t lp = strlen(PREFIX), ls = strlen(SUFFIX), len = strlen(name);
    if (len <= lp + ls || len > lp + ls + 20 || strncmp(name, PREFIX, lp) ||
        strcmp(name + len - ls, SUFFIX))
        return 0;
    uint64_t v = 0;
    for (size_t i = lp; i < len - ls; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *step = v;
    return 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int ckpt_list(const char *dir, uint64_t **steps, size_t *count)
{
    *steps = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT)
        return 0;
    if (!d)
        return base_error_set("cannot list checkpoint directory '%s': %s", dir, strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t s;
        if (!parse_name(e->d_name, &s))
            continue;
        if (*count == cap) {
            cap = cap ? 2 * cap : 16;
            uint64_t *grown = realloc(*steps, cap * sizeof **steps);
            if (!grown)
                die("out of memory listing '%s'", dir);
            *steps = grown;
        }
        (*steps)[(*count)++] = s;
    }
    closedir(d);
    if (*count)
        qsort(*steps, *count, sizeof **steps, cmp_u64);
    return 0;
}

int ckpt_prune(const char *dir, size_t keep, uint64_t protect)
{
    uint64_t *steps;
    size_t n;
    if (keep == 0 || ckpt_list(dir, &steps, &n) < 0)
        return keep == 0 ? 0 : -1;
    int rc = 0;
    for (size_t i = 0, left = n; i < n && left > keep && rc == 0; i++) {
        char path[4096];
        if (steps[i] == protect)
            continue;
        rc = ckpt_path(dir, steps[i], path, sizeof path);
        if (rc == 0 && unlink(path) < 0 && errno != ENOENT)
            rc = base_error_set("cannot remove old checkpoint '%s': %s", path, strerror(errno));
        left--;
    }
    free(steps);
    return rc < 0 ? -1 : atomic_fsync_dir(dir);
}

int ckpt_set_latest(const char *dir, uint64_t step)
{
    char name[64], text[80], path[4096];
    if (name_of(step, name, sizeof name) < 0)
        return -1;
    int len = snprintf(path, sizeof path, "%s/latest", dir);
    if (len < 0 || (size_t)len >= sizeof path)
        return base_error_set("path too long in '%s'", dir);
    len = snprintf(text, sizeof text, "%s\n", name);
    return atomic_write_file(path, text, (size_t)len);
}

int ckpt_get_latest(const char *dir, char *out, size_t n)
{
    char path[4096], buf[128];
    snprintf(path, sizeof path, "%s/latest", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return base_error_set("cannot read '%s': %s", path, strerror(errno));
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    uint64_t step;
    if (line)
        buf[strcspn(buf, "\n")] = '\0';
    if (!line || !parse_name(buf, &step))
        return base_error_set("'%s' does not name a checkpoint", path);
    if (strlen(buf) >= n)
        return base_error_set("name in '%s' too long", path);
    memcpy(out, buf, strlen(buf) + 1);
    return 0;
}

int ckpt_save(const char *dir, const TrainState *st, const float *params, const float *momentum,
              size_t n_params, size_t keep, char *path_out, size_t n)
{
    char path[4096];
    if (ckpt_path(dir, st->step, path, sizeof path) < 0 ||
        ckpt_write(path, st, params, momentum, n_params) < 0)
        return -1;
    if (path_out)
        snprintf(path_out, n, "%s", path);
    if (ckpt_set_latest(dir, st->step) < 0)
        return -1;
    return ckpt_prune(dir, keep, st->step);
}

int ckpt_find_resume(const char *dir, char *path, size_t n, FILE *report)
{
    uint64_t *steps;
    size_t count;
    if (ckpt_list(dir, &steps, &count) < 0)
        return -1;
    if (count == 0)
        return 1;
    int rc = -1;
    for (size_t i = count; i-- > 0 && rc < 0;) {
        char p[4096];
        if (ckpt_path(dir, steps[i], p, sizeof p) < 0)
            break;
        if (ckpt_verify(p, NULL) == 0) {
            rc = (size_t)snprintf(path, n, "%s", p) < n ? 0
                                                        : base_error_set("path too long: '%s'", p);
            if (rc == 0 && i + 1 < count && report)
                fprintf(report, "resuming from older checkpoint %s\n", p);
        } else if (report)
            fprintf(report, "skipping %s: %s\n", p, base_error());
    }
    if (rc < 0 && !strstr(base_error(), "path too long"))
        base_error_set("none of the %zu checkpoints in '%s' verifies", count, dir);
    free(steps);
    return rc;
}

/* mkdir -p; errors name the component that failed. */
static int make_dirs(const char *dir)
{
    char p[4096];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof p)
        return base_error_set("bad checkpoint directory name '%s'", dir);
    memcpy(p, dir, len + 1);
    for (char *s = p + 1;; s++) {
        int end = *s == '\0';
        if (*s != '/' && !end)
            continue;
        *s = '\0';
        struct stat sb;
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return base_error_set("cannot create checkpoint directory '%s': %s", p, strerror(errno));
        if (stat(p, &sb) < 0 || !S_ISDIR(sb.st_mode))
            return base_error_set("cannot create checkpoint directory '%s': '%s' is not a "
                                  "directory", dir, p);
        if (end)
            return 0;
        *s = '/';
    }
}

int ckpt_check_room(const char *dir, size_t bytes)
{
    char probe[4096];
    if (make_dirs(dir) < 0)
        return -1;
    int len = snprintf(probe, sizeof probe, "%s/.probe.tmp.XXXXXX", dir);
    if (len < 0 || (size_t)len >= sizeof probe)
        return base_error_set("path too long in '%s'", dir);
    int fd = atomic_create_locked(probe);
    if (fd < 0)
        return base_error_set("checkpoint directory '%s' is not writable: %s", dir,
                              strerror(errno));
    int gone = unlink(probe);
    close(fd);
    if (gone < 0)
        return base_error_set("cannot remove probe file '%s': %s", probe, strerror(errno));
    struct statvfs vfs;
    if (statvfs(dir, &vfs) < 0)
        return base_error_set("cannot stat filesystem of '%s': %s", dir, strerror(errno));
    unsigned long long avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    if (avail < bytes)
        return base_error_set("no room for a checkpoint in '%s': %llu bytes free, need about %zu",
                              dir, avail, bytes);
    return 0;
}
