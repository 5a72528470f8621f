/* atomic.h - replace a file so that readers see the old or the new content,
 * never a mixture, also across a crash or power loss.
 *
 * atomic_write_file(path, data, size): writes ".<name>.tmp.<pid>" in path's
 * directory (O_EXCL), fsyncs it, renames it over path and fsyncs the
 * directory.  On failure before the rename the temporary file is removed
 * and path is untouched; -1 and base_error() naming the file and the errno
 * text.  A failure of the final directory fsync is reported too (the new
 * file is then in place but its name may not survive a power loss). */
#ifndef SHARDNET_ATOMIC_H
#define SHARDNET_ATOMIC_H

#include <stddef.h>

int atomic_write_file(const char *path, const void *data, size_t size);

/* For writers that produce the file themselves (HDF5): the temporary name
 * ".<name>.tmp.<pid>" next to path, into tmp (size n); -1 if too long. */
int atomic_temp_path(const char *path, char *tmp, size_t n);

/* tmp is complete and closed: fsync it, rename it to path, fsync the
 * directory.  On failure before the rename tmp is removed. */
int atomic_commit(const char *tmp, const char *path);

/* fsync the directory dir; -1 and base_error() on failure. */
int atomic_fsync_dir(const char *dir);

/* Directory part of path ("." when there is none) into out (size n);
 * -1 if it does not fit. */
int atomic_dirname(const char *path, char *out, size_t n);

/* Test only: write files in pieces of `piece` bytes with delay_ms between
 * them, so that a test can kill the writer mid-write (0, 0: normal). */
void atomic_set_write_pace(size_t piece, unsigned delay_ms);

/* Is name one of our temporary files (".<name>.tmp.<digits>")? */
int atomic_is_temp_name(const char *name);

#endif
