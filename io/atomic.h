/* atomic.h - replace a file so that readers see the old or the new content,
 * never a mixture, also across a crash or power loss; and clean up the
 * temporary files of writers that were killed.
 *
 * atomic_write_file(path, data, size): creates ".<name>.tmp.XXXXXX" in
 * path's directory (mkstemp: a unique name, so a restarted process that
 * gets the PID of a killed one never collides with its leftovers), holds an
 * open-file-description write lock on it while it writes, fsyncs it,
 * renames it over path and fsyncs the directory.  On failure before the
 * rename the temporary file is removed and path is untouched; -1 and
 * base_error() naming the file and the errno text.  A failure of the final
 * directory fsync is reported too (the new file is then in place but its
 * name may not survive a power loss).
 *
 * The lock is how a later run tells a live writer's temporary file from a
 * dead one's: atomic_clean_stale() removes only files nobody holds locked. */
#ifndef SHARDNET_ATOMIC_H
#define SHARDNET_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

int atomic_write_file(const char *path, const void *data, size_t size);

/* fsync the directory dir; -1 and base_error() on failure. */
int atomic_fsync_dir(const char *dir);

/* Directory part of path ("." when there is none) into out (size n);
 * -1 if it does not fit. */
int atomic_dirname(const char *path, char *out, size_t n);

/* Test only: write files in pieces of `piece` bytes with delay_ms between
 * them, so that a test can kill the writer mid-write (0, 0: normal). */
void atomic_set_write_pace(size_t piece, unsigned delay_ms);

/* Is name one of our temporary files: "[.]<name>.tmp.<suffix>" with a
 * mkstemp suffix (6 letters/digits) or an older PID suffix (digits)? */
int atomic_is_temp_name(const char *name);

/* Creates a unique temporary file from template (ending in "XXXXXX") and
 * locks it (see above); returns the open descriptor, or -1 and
 * base_error().  Keep it open until the file is renamed or removed. */
int atomic_create_locked(char *template_path);

/* Removes the temporary files in dir whose name passes atomic_is_temp_name
 * and, when base is not NULL, starts with base or "." base, and that no
 * live process holds locked (a writer that was killed).  Each removal is
 * reported on report (may be NULL).  Returns how many were removed. */
int atomic_clean_stale(const char *dir, const char *base, FILE *report);

#endif
