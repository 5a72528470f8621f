/* h5image.h - build an HDF5 file in memory and take its bytes.
 *
 * HDF5 1.10 crashes in its exit handler (H5F__close_cb during
 * H5_term_library) when it could not close a file because its disk was
 * full.  So shardnet never lets HDF5 write to a real filesystem: files are
 * built with the core (memory) driver, and at H5Fclose the finished image
 * is handed over here instead of being freed; the caller writes those bytes
 * with plain write() (atomic_write_file), where a full disk is an ordinary
 * errno.  The image is a cleanly closed file, so HDF5's own metadata
 * checksums are right (H5Fget_file_image of a file still open gave images
 * whose checksums failed). */
#ifndef SHARDNET_H5IMAGE_H
#define SHARDNET_H5IMAGE_H

#include <stddef.h>

#include <hdf5.h>

typedef struct {
    void *image; /* the closed file's bytes (malloc'd; free() them), or NULL */
    size_t size, cap;
} H5Image;

/* Sets fapl to the core driver without backing store, capturing into im
 * (zeroed by the caller, alive until the file is closed).  -1 on failure. */
int h5image_fapl(hid_t fapl, H5Image *im);

/* The innermost message of the current HDF5 error stack, with an errno text
 * HDF5 embeds ("..., error message = 'No space left on device', ...") cut
 * out; "unknown HDF5 error" when the stack is empty.  Returns out. */
const char *h5image_cause(char out[256]);

/* Whether such a cause is a checksum failure (Fletcher-32 on data, or
 * HDF5's own metadata checksums): a damaged file, not a missing object. */
int h5image_is_checksum(const char *cause);

/* Whether a dataset creation property list (H5Dget_create_plist) has the
 * Fletcher-32 filter on chunked storage; 0 for an invalid dcpl. */
int h5image_has_fletcher32(hid_t dcpl);

#endif
