/* outpath.c - output path policy; see outpath.h. */
#include "outpath.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"

bool outpath_exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

bool outpath_dir_used(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    struct dirent *e;
    bool used = false;
    while (!used && (e = readdir(d)))
        used = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return used;
}

/* mkdir that accepts an existing directory (and only a directory). */
static int make_one(const char *dir, const char *flag, const char *target)
{
    if (mkdir(dir, 0777) == 0)
        return 0;
    int err = errno;
    struct stat sb;
    if (err == EEXIST && stat(dir, &sb) == 0) {
        if (S_ISDIR(sb.st_mode))
            return 0;
        return base_error_set("%s %s: %s exists and is not a directory", flag, target, dir);
    }
    return base_error_set("%s %s: cannot create directory %s: %s", flag, target, dir,
                          strerror(err));
}

static int mkdirs(const char *dir, const char *flag, const char *target)
{
    char buf[4096];
    if (!*dir)
        return 0;
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return base_error_set("%s: path too long", flag);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = '\0';
        int rc = make_one(buf, flag, target);
        *p = '/';
        if (rc < 0)
            return -1;
    }
    return make_one(buf, flag, target);
}

int outpath_mkdirs(const char *dir, const char *flag)
{
    return mkdirs(dir, flag, dir);
}

int outpath_file(const char *path, const char *flag, bool replace, const char *how)
{
    if (!*path)
        return base_error_set("%s: empty file name", flag);
    char parent[4096];
    if (snprintf(parent, sizeof parent, "%s", path) >= (int)sizeof parent)
        return base_error_set("%s: path too long", flag);
    char *slash = strrchr(parent, '/');
    if (slash == parent)
        parent[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(parent, sizeof parent, ".");
    if (slash && slash[1] == '\0')
        return base_error_set("%s %s: names a directory, expected a file", flag, path);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return base_error_set("%s %s: is a directory, expected a file", flag, path);
    if (outpath_exists(path) && !replace)
        return base_error_set("%s %s: the file exists and is not overwritten; %s", flag, path,
                              how);
    if (mkdirs(parent, flag, path) < 0)
        return -1;
    if (access(parent, W_OK | X_OK) < 0)
        return base_error_set("%s %s: cannot write in directory %s: %s", flag, path, parent,
                              strerror(errno));
    return 0;
}
