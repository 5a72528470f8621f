/* ckptdir.h - the checkpoint directory: file names that carry the step,
 * keeping the K newest, the `latest` pointer, picking the checkpoint to
 * resume from, and checking for room before a write.  Part of the ckpt
 * module (ckpt.h is the file format).
 *
 * Layout of a directory:
 *   ckpt-00001234.h5   one checkpoint per saved step (8+ digits, so names
 *                      sort by step up to 10^8; listing parses the number)
 *   latest             text "ckpt-00001234.h5\n": the last one written,
 *                      replaced atomically (temp + rename + dir fsync)
 *   .<name>.tmp.XXXXXX a write in progress or killed (mkstemp name, locked
 *                      while written; atomic_clean_stale removes dead ones); never taken for a
 *                      checkpoint, never listed.
 *
 * Contract: files only, no MPI (the trainer calls these on rank 0).  0 on
 * success, -1 and base_error() naming the path and cause on failure.
 */
#ifndef SHARDNET_CKPTDIR_H
#define SHARDNET_CKPTDIR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ckpt.h"

/* "dir/ckpt-00001234.h5" into out (size n). */
int ckpt_path(const char *dir, uint64_t step, char *out, size_t n);

/* Steps of the checkpoint files in dir ("ckpt-<digits>.h5"), ascending.
 * *steps is malloc'd (NULL when *count is 0).  A missing dir is empty. */
int ckpt_list(const char *dir, uint64_t **steps, size_t *count);

/* Removes the oldest checkpoints so that at most keep remain (keep 0: keep
 * all).  The checkpoint of step `protect` is never removed. */
int ckpt_prune(const char *dir, size_t keep, uint64_t protect);

/* Points `latest` at the checkpoint of step (atomically). */
int ckpt_set_latest(const char *dir, uint64_t step);

/* The name `latest` points to, into out (size n); -1 when there is none. */
int ckpt_get_latest(const char *dir, char *out, size_t n);

/* One save: ckpt_write to ckpt_path(dir, st->step), then ckpt_set_latest,
 * then ckpt_prune(keep).  path_out (may be NULL) receives the file name.
 * A failed write leaves the directory as it was. */
int ckpt_save(const char *dir, const TrainState *st, const float *params, const float *momentum,
              size_t n_params, size_t keep, char *path_out, size_t n);

/* For --resume auto: the newest checkpoint in dir that passes ckpt_verify,
 * into path (size n).  Each newer one that fails is reported on report
 * (may be NULL) as "skipping <path>: <reason>".  Returns 0 when found,
 * 1 when dir holds no checkpoint at all (a fresh start), -1 when there are
 * checkpoints but none verifies (base_error() says how many were tried). */
int ckpt_find_resume(const char *dir, char *path, size_t n, FILE *report);

/* Before the first write: dir exists or can be created (with parents), a
 * probe file can be created and removed in it, and the filesystem has at
 * least bytes available (ckpt_size_estimate()).  Clear error otherwise. */
int ckpt_check_room(const char *dir, size_t bytes);

#endif
