/* checkpoint.h - who writes and who reads checkpoints during training.
 *
 * Rank 0 alone writes (io/ckptdir.h: atomic, verified, pruned); every rank
 * learns the outcome through one broadcast, so that with --on-ckpt-error
 * stop all ranks stop together.  On resume rank 0 reads and verifies the
 * checkpoint and broadcasts the state, parameters and momentum; all ranks
 * then hold the same bits.  Every function here is COLLECTIVE. */
#ifndef SHARDNET_CHECKPOINT_H
#define SHARDNET_CHECKPOINT_H

#include "train.h"

/* Before training: check that the checkpoint directory is writable and has
 * room (rank 0).  0, or -1 when training must not start (message printed). */
int checkpoint_prepare(Trainer *t);
/* --resume, before the model exists (the job's ISA is pinned before the
 * first primitive): the oneDNN ISA recorded in the checkpoint that
 * checkpoint_resume will take, into isa (n bytes) on every rank; "" when
 * there is nothing to resume, it records none (an older file), or it cannot
 * be read (checkpoint_resume then says why). */
void checkpoint_recorded_isa(const Trainer *t, char *isa, size_t n);
/* --resume: restore parameters, momentum and position.  0 (also when auto
 * finds nothing: a fresh start), or -1 (message printed by rank 0). */
int checkpoint_resume(Trainer *t);
/* Write a checkpoint of the current state.  TRAIN_OK, or TRAIN_FAILED when
 * the write failed and --on-ckpt-error is stop. */
int checkpoint_save(Trainer *t);
/* --val: the model is the best so far (figure: val loss, or minus the val
 * accuracy; lower is better): rank 0 writes RUN/best.h5 (never pruned by
 * --keep) and RUN/best.json.  TRAIN_OK, or TRAIN_FAILED when the write
 * failed and --on-ckpt-error is stop. */
int checkpoint_save_best(Trainer *t, double figure, double val_loss, double val_accuracy);

#endif
