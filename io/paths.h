/* paths.h - is this output one of the inputs?  Compared by identity, not
 * by spelling: "D/./CKPT", "D//CKPT", a symlink or a hard link all name the
 * same file as "D/CKPT", and writing one of them destroys the other.
 *
 * An existing file is identified by device and inode.  An output that does
 * not exist yet cannot be any existing input, except through its directory
 * part (a symlinked directory): it is identified by the realpath of its
 * parent plus its last component.  No MPI; 0/-1 with base_error(). */
#ifndef SHARDNET_PATHS_H
#define SHARDNET_PATHS_H

#include <stddef.h>

/* 1 when a and b name the same file (see above), 0 otherwise. */
int paths_same_file(const char *a, const char *b);

/* A named path: what it is for ("--out", "the checkpoint") and the path
 * (NULL entries are skipped). */
typedef struct {
    const char *role;
    const char *path;
} PathRole;

/* Every output differs from every input and from every other output;
 * otherwise -1 and base_error() naming both roles and paths, e.g.
 * "--out 'd/./c.h5' is the same file as the checkpoint 'd/c.h5': refusing to
 * overwrite it". */
int paths_check_outputs(const PathRole *outputs, size_t n_out, const PathRole *inputs,
                        size_t n_in);

#endif
