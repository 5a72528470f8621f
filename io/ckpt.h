/* ckpt.h - HDF5 training checkpoints: one file holds the learnable tensors,
 * their momentum buffers and the training state needed to resume.
 *
 * File layout (format_version 2):
 *   /params/<name>    float32, the tensor's dims from the LeNet table, chunked
 *                     (one chunk = the whole tensor), Fletcher-32; attribute
 *                     `key` = the textbook nn.Sequential key ("0.weight").
 *   /momentum/<name>  the same for the SGD momentum buffer.
 *   /state            group whose attributes are the fields of TrainState,
 *                     plus `param_digest`: SHA-256 (lowercase hex) of the raw
 *                     little-endian float32 bytes of every /params tensor and
 *                     then every /momentum tensor, in LeNet table order, and
 *                     (format 2) then of every /state field as text
 *                     (state_text in ckpt.c).  Format 1 files (tensors only,
 *                     no dataset_id) are still read.
 *
 * Contract:
 * - io/ touches files only; no MPI.  Which rank writes and how the state
 *   reaches the other ranks is the trainer's business.
 * - Every function returns 0 on success, -1 with base_error() naming the
 *   path and the first bad dataset or attribute on failure.  Nothing here
 *   dies on bad input, and file contents are checked in release builds.
 * - ckpt_write never leaves a partial file under the final name: it writes
 *   a temporary ".<name>.tmp.XXXXXX" (atomic.h) in the same directory, fsyncs it,
 *   renames it over the final name and fsyncs the directory.  On failure
 *   the temporary file is removed and an existing file is left untouched.
 * - HDF5's automatic error printing is switched off (process-wide) by the
 *   first call into this module; HDF5 failures become base_error() text.
 */
#ifndef SHARDNET_CKPT_H
#define SHARDNET_CKPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lenet.h"

#define CKPT_FORMAT_VERSION 2 /* 2: the digest covers /state too; 1 is still read */
#define CKPT_VERSION_LEN 32    /* shardnet version string, with its NUL */
#define CKPT_SCHED_LEN 32      /* schedule name, with its NUL */
#define CKPT_MAX_CLASSES LENET_MAX_CLASSES
#define CKPT_CLASS_LEN 64      /* one class name, with its NUL */
#define CKPT_MAX_CHANNELS LENET_MAX_CHANNELS /* input channels (normalisation mean/std) */
#define CKPT_MAX_SIDE LENET_MAX_SIDE /* input height/width accepted from a file */
#define CKPT_CONFIG_LEN 8192   /* config text, with its NUL */
#define CKPT_DATASET_ID_LEN 96 /* dataset identity text, with its NUL */
#define CKPT_ISA_LEN 32        /* oneDNN ISA name, with its NUL */

/* The learning-rate schedule and optimizer constants (the fields of the
 * trainer's Schedule and Config).  The LR of update t (0-based, global) is
 * a pure function of these fields and t, so together with TrainState.step
 * they are the whole schedule state: a resumed run computes the same LR
 * for every later update.  Fields a schedule does not use are stored as
 * given (0 by convention). */
typedef struct {
    char name[CKPT_SCHED_LEN]; /* "constant", "step", "cosine" */
    double lr;                 /* base (peak) learning rate */
    double momentum;           /* SGD momentum coefficient */
    double weight_decay;       /* L2 coefficient */
    int64_t warmup;            /* linear warm-up updates */
    int64_t step_size;         /* "step": updates between decays */
    double gamma;              /* "step": decay factor */
    int64_t total_steps;       /* updates in the whole run (cosine horizon) */
} CkptSchedule;

/* Everything besides the tensors.  A flat struct with fixed-size strings:
 * the trainer can broadcast it as bytes.  Strings are NUL-terminated. */
typedef struct {
    int32_t format_version;                    /* read: from file; write: ignored (always 1) */
    char shardnet_version[CKPT_VERSION_LEN];   /* read: from file; write: ignored (SHARDNET_VERSION) */
    uint64_t step;          /* global optimizer steps completed */
    uint64_t epoch;         /* epoch of the next step (0-based) */
    uint64_t step_in_epoch; /* steps of that epoch already done (0 = at its start) */
    uint64_t seed;          /* run seed: init, data order */
    int64_t global_batch;   /* B: images per optimizer step over all ranks */
    int64_t micro_batch;    /* m: images per forward/backward pass */
    int32_t world_size;     /* ranks at save time: informational only */
    LeNetArch arch;         /* stored as "classic" / "modern" */
    int64_t input_c, input_h, input_w;
    int64_t num_classes;
    char class_names[CKPT_MAX_CLASSES][CKPT_CLASS_LEN]; /* first num_classes used */
    double mean[CKPT_MAX_CHANNELS]; /* input normalisation, first input_c used */
    double std[CKPT_MAX_CHANNELS];
    CkptSchedule sched;
    char config[CKPT_CONFIG_LEN];   /* free text (e.g. JSON) from the trainer */
    char dataset_id[CKPT_DATASET_ID_LEN]; /* the training data's identity ("" in format 1) */
    char cpu_isa[CKPT_ISA_LEN];     /* oneDNN ISA the job ran ("AVX2"); "" = not recorded
                                     * (optional attribute: older files lack it) */
} TrainState;

/* The tensor table for the state's arch, input shape and classes (batch 1).
 * -1 when the state is out of the limits above or LeNet rejects it. */
int ckpt_describe(const TrainState *st, LeNet *m);

/* Bytes a checkpoint of this state takes on disk, rounded up generously
 * (for ckpt_check_room); 0 when the state is invalid. */
size_t ckpt_size_estimate(const TrainState *st);

/* Writes path atomically (see above).  params and momentum hold n_params
 * floats each; n_params must match the LeNet table of st. */
int ckpt_write(const char *path, const TrainState *st, const float *params,
               const float *momentum, size_t n_params);

/* Reads and verifies path: structure (every dataset of the LeNet table of
 * the stored arch/input/classes, float32, right dims, Fletcher-32 filter),
 * format version, the Fletcher-32 checksum of every chunk, the parameter
 * digest, finite values; a file smaller than the tensors it declares is
 * refused before anything is allocated.  On success *params and *momentum
 * are new buffers of *n_params floats each (free() them) and *st is filled.  On failure nothing is
 * allocated and *st is unspecified. */
int ckpt_read(const char *path, TrainState *st, float **params, float **momentum,
              size_t *n_params);

/* The checks of ckpt_read, printing each check to report (may be NULL). */
int ckpt_verify(const char *path, FILE *report);

#endif
