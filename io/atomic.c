/* atomic.c - temporary file, fsync, rename, directory fsync; see atomic.h. */
#include "atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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
    const char *t = strstr(name, ".tmp.");
    if (name[0] != '.' || !t)
        return 0;
    for (const char *p = t + 5; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return t[5] != '\0';
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

/* Writes tmp (atomic_commit fsyncs it); removes it on failure. */
static int write_temp(const char *tmp, const void *data, size_t size)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return base_error_set("cannot create temporary file '%s': %s", tmp, strerror(errno));
    const char *step = "write";
    int rc = write_all(fd, data, size);
    int err = errno;
    if (close(fd) < 0 && rc == 0) {
        step = "close";
        rc = -1;
        err = errno;
    }
    if (rc < 0) {
        unlink(tmp);
        return base_error_set("%s of '%s' failed: %s", step, tmp, strerror(err));
    }
    return 0;
}

int atomic_temp_path(const char *path, char *tmp, size_t n)
{
    char dir[4096];
    if (atomic_dirname(path, dir, sizeof dir) < 0)
        return -1;
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (!*name)
        return base_error_set("'%s' names a directory, not a file", path);
    int len = snprintf(tmp, n, "%s/.%s.tmp.%ld", dir, name, (long)getpid());
    if (len < 0 || (size_t)len >= n)
        return base_error_set("path too long: '%s'", path);
    return 0;
}

/* fsync an existing file by name. */
static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return base_error_set("cannot open '%s' to fsync it: %s", path, strerror(errno));
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    if (rc < 0)
        return base_error_set("fsync of '%s' failed: %s", path, strerror(err));
    return 0;
}

int atomic_commit(const char *tmp, const char *path)
{
    char dir[4096];
    if (atomic_dirname(path, dir, sizeof dir) < 0 || fsync_path(tmp) < 0) {
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        int err = errno;
        unlink(tmp);
        return base_error_set("cannot rename '%s' to '%s': %s", tmp, path, strerror(err));
    }
    return atomic_fsync_dir(dir);
}

int atomic_write_file(const char *path, const void *data, size_t size)
{
    char tmp[4096];
    if (atomic_temp_path(path, tmp, sizeof tmp) < 0 || write_temp(tmp, data, size) < 0)
        return -1;
    return atomic_commit(tmp, path);
}
