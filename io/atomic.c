/* atomic.c - temporary file, fsync, rename, directory fsync; stale
 * temporary files; see atomic.h. */
#define _GNU_SOURCE /* mkostemp, F_OFD_SETLK */
#include "atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base.h"

int atomic_dirname(const char *path, char *out, size_t n)
{
    const char *slash = strrchr(path, '/');
    int len;
    if (!slash)
        len = snprintf(out, n, ".");
    else if (slash == path)
        len = snprintf(out, n, "/");
    else
        len = snprintf(out, n, "%.*s", (int)(slash - path), path);
    return len < 0 || (size_t)len >= n ? base_error_set("path too long: '%s'", path) : 0;
}

int atomic_is_temp_name(const char *name)
{
    const char *t = NULL;
    for (const char *p = strstr(name, ".tmp."); p; p = strstr(p + 1, ".tmp."))
        t = p; /* the last one */
    if (!t || t == name)
        return 0;
    size_t len = strlen(t + 5), digits = strspn(t + 5, "0123456789");
    size_t alnum = strspn(t + 5, "0123456789abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    return len > 0 && (digits == len || (len == 6 && alnum == 6));
}

/* An exclusive lock on the whole file, owned by the open file description
 * (not the process: it goes away exactly when the writer's descriptor is
 * closed, also when the writer is killed). */
static int lock_fd(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    return fcntl(fd, F_OFD_SETLK, &fl);
}

int atomic_create_locked(char *template_path)
{
    int fd = mkostemp(template_path, O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        base_error_set("cannot create temporary file '%s': %s", template_path, strerror(err));
        errno = err; /* for callers with their own message */
        return -1;
    }
    if (lock_fd(fd) < 0 || fchmod(fd, 0644) < 0) {
        int err = errno;
        close(fd);
        unlink(template_path);
        return base_error_set("cannot lock temporary file '%s': %s", template_path,
                              strerror(err));
    }
    return fd;
}

static int has_prefix(const char *name, const char *base)
{
    size_t n = strlen(base);
    if (name[0] == '.' && !strncmp(name + 1, base, n) && !strncmp(name + 1 + n, ".tmp.", 5))
        return 1;
    return !strncmp(name, base, n) && !strncmp(name + n, ".tmp.", 5);
}

int atomic_clean_stale(const char *dir, const char *base, FILE *report)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!atomic_is_temp_name(e->d_name) || (base && !has_prefix(e->d_name, base)))
            continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path)
            continue;
        int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        struct stat sb;
        if (fd < 0)
            continue;
        /* Locked: a live writer.  Unlocked: its writer died (or was an
         * older shardnet, which never locked and is gone as well). */
        if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && lock_fd(fd) == 0 &&
            unlink(path) == 0) {
            removed++;
            if (report)
                fprintf(report, "removed a stale temporary file of a killed writer: %s\n", path);
        }
        close(fd);
    }
    closedir(d);
    return removed;
}

int atomic_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return base_error_set("cannot open directory '%s' to fsync it: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    if (rc < 0)
        return base_error_set("fsync of directory '%s' failed: %s", dir, strerror(err));
    return 0;
}

static size_t g_piece;       /* test pacing: bytes per write() (0: all at once) */
static unsigned g_delay_ms;  /* ... and the pause after each */

void atomic_set_write_pace(size_t piece, unsigned delay_ms)
{
    g_piece = piece;
    g_delay_ms = delay_ms;
}

/* write() until done; -1 with errno set on failure. */
static int write_all(int fd, const char *p, size_t size)
{
    while (size > 0) {
        size_t want = g_piece && g_piece < size ? g_piece : size;
        ssize_t n = write(fd, p, want);
        if (g_piece && g_delay_ms && n > 0)
            nanosleep(&(struct timespec){g_delay_ms / 1000, (long)(g_delay_ms % 1000) * 1000000L},
                      NULL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

int atomic_write_file(const char *path, const void *data, size_t size)
{
    char dir[4096], tmp[4096];
    if (atomic_dirname(path, dir, sizeof dir) < 0)
        return -1;
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (!*name)
        return base_error_set("'%s' names a directory, not a file", path);
    int len = snprintf(tmp, sizeof tmp, "%s/.%s.tmp.XXXXXX", dir, name);
    if (len < 0 || (size_t)len >= sizeof tmp)
        return base_error_set("path too long: '%s'", path);
    int fd = atomic_create_locked(tmp);
    if (fd < 0)
        return -1;
    /* The lock holds until close(), after the rename: a cleaner never
     * takes a file that is still being written for a stale one. */
    const char *step = "write";
    int rc = write_all(fd, data, size);
    if (rc == 0 && (step = "fsync", fsync(fd)) < 0)
        rc = -1;
    int err = errno;
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -1;
        err = errno;
        unlink(tmp);
        close(fd);
        return base_error_set("cannot rename '%s' to '%s': %s", tmp, path, strerror(err));
    }
    if (rc < 0) {
        unlink(tmp);
        close(fd);
        return base_error_set("%s of '%s' failed: %s", step, tmp, strerror(err));
    }
    if (close(fd) < 0)
        return base_error_set("close of '%s' failed: %s", path, strerror(errno));
    return atomic_fsync_dir(dir);
}
