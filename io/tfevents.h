/* tfevents.h - TensorBoard event files: scalars that `tensorboard --logdir
 * RUN` shows.
 *
 * A file is a sequence of TFRecords, each
 *     uint64 length (little-endian), uint32 masked_crc32c(those 8 bytes),
 *     length bytes of data, uint32 masked_crc32c(data),
 * where masked_crc32c(x) = ((c >> 15) | (c << 17)) + 0xa282ead8 (32-bit) of
 * c = CRC-32C (Castagnoli) of x.  The data of each record is an Event
 * protobuf (io/tfevent.proto, TensorBoard's field numbers, encoded by
 * protobuf-c); the first Event of a file carries file_version
 * "brain.Event:2".
 *
 * tfevents_open APPENDS to an existing file (a resumed run continues its
 * curves in the same file; TensorBoard reads records in order, so later
 * points at an already seen step replace nothing but are drawn after it).
 * Every record is flushed when written.  Files only, no MPI (rank 0 calls
 * these).  0, or -1 with base_error() naming the file. */
#ifndef SHARDNET_TFEVENTS_H
#define SHARDNET_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *f;
    char path[4096];
} TfEvents;

/* Opens (creating with the file_version record, or appending to) path. */
int tfevents_open(TfEvents *w, const char *path, double wall_time);
/* One Event with one scalar value (tag, value) at step. */
int tfevents_scalar(TfEvents *w, double wall_time, int64_t step, const char *tag, float value);
/* Safe on a zeroed TfEvents; -1 if a buffered write failed. */
int tfevents_close(TfEvents *w);

/* CRC-32C of n bytes and its TFRecord mask (exposed for the tests). */
uint32_t tfevents_crc32c(const void *data, size_t n);
uint32_t tfevents_mask(uint32_t crc);

#endif
