/* h5image.c - HDF5 core-driver file images; see h5image.h. */
#include "h5image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *img_malloc(size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    H5Image *im = udata;
    im->cap = size;
    return malloc(size ? size : 1);
}

static void *img_memcpy(void *dst, const void *src, size_t size, H5FD_file_image_op_t op,
                        void *udata)
{
    (void)op, (void)udata;
    return memcpy(dst, src, size);
}

static void *img_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    H5Image *im = udata;
    void *p = realloc(ptr, size ? size : 1);
    if (p)
        im->cap = size;
    return p;
}

/* At close, keep the finished image instead of freeing it. */
static herr_t img_free(void *ptr, H5FD_file_image_op_t op, void *udata)
{
    H5Image *im = udata;
    if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE && ptr) {
        free(im->image);
        im->image = ptr;
        im->size = im->cap;
    } else {
        free(ptr);
    }
    return 0;
}

/* HDF5 copies udata with the property list; ours is borrowed, not owned. */
static void *img_udata_copy(void *udata) { return udata; }
static herr_t img_udata_free(void *udata)
{
    (void)udata;
    return 0;
}

int h5image_fapl(hid_t fapl, H5Image *im)
{
    H5FD_file_image_callbacks_t cb = {img_malloc, img_memcpy, img_realloc, img_free,
                                      img_udata_copy, img_udata_free, im};
    /* Increment 1 byte: the core driver grows the buffer to exactly the
     * file's end, so the captured buffer is the file (size = cap).  glibc
     * grows large blocks with mremap, without copying. */
    return H5Pset_fapl_core(fapl, 1, 0) < 0 || H5Pset_file_image_callbacks(fapl, &cb) < 0 ? -1
                                                                                         : 0;
}

static herr_t cause_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc)
        snprintf(data, 256, "%s", e->desc);
    return 0;
}

const char *h5image_cause(char out[256])
{
    out[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, cause_walk, out);
    if (!out[0])
        snprintf(out, 256, "unknown HDF5 error");
    const char *key = "error message = '";
    char *p = strstr(out, key);
    if (p) {
        p += strlen(key);
        size_t len = strcspn(p, "'");
        memmove(out, p, len);
        out[len] = '\0';
    }
    return out;
}

int h5image_is_checksum(const char *cause)
{
    return strstr(cause, "Fletcher32") || strstr(cause, "checksum");
}

int h5image_has_fletcher32(hid_t dcpl)
{
    unsigned flags;
    size_t nelm = 0;
    return dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED &&
           H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &nelm, NULL, 0, NULL,
                                NULL) >= 0;
}
