/* outpath.h - the one way every command treats an output path.
 *
 * The policy, the same for every option that names an output (train --run,
 * --scaling-report, export --out, prepare --out):
 *   - checked BEFORE any work starts, so a bad path never costs a run;
 *   - missing parent directories are created (like mkdir -p); a parent that
 *     exists but is not a directory, or cannot be written, is refused;
 *   - an existing output is never overwritten silently: it is refused unless
 *     the caller's --force (or, for a run directory, --resume) says so;
 *   - messages name the option and the path the user gave, never a
 *     temporary file;
 *   - a failure to write a requested output later makes the exit status
 *     non-zero (the callers' job; the checks here only come first).
 * Files only, no MPI (the trainer calls these on rank 0).  Every function
 * returns 0, or -1 with base_error() saying what was wrong and what to do. */
#ifndef SHARDNET_OUTPATH_H
#define SHARDNET_OUTPATH_H

#include <stdbool.h>

/* Creates dir and its missing parents.  flag names the option ("--run")
 * for the message. */
int outpath_mkdirs(const char *dir, const char *flag);

/* An output file: its parent directory exists afterwards (created when
 * missing) and is writable; when path exists and replace is false, -1 with
 * a message that names the option and `how` (e.g. "give --force to replace
 * it").  Nothing is created when the check fails for another reason. */
int outpath_file(const char *path, const char *flag, bool replace, const char *how);

/* Does path exist (any kind of file)? */
bool outpath_exists(const char *path);

/* Is dir a directory holding at least one entry (besides . and ..)? */
bool outpath_dir_used(const char *dir);

#endif
