/* export_safetensors.c - see export_safetensors.h. */
#include "export_safetensors.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "base.h"
#include "jsonw.h"

static int header_metadata(Text *t, const ExportSource *s)
{
    ExportMeta meta[EXPORT_META_MAX];
    size_t n = 0;
    if (export_metadata(s, meta, &n) < 0)
        return -1;
    int rc = 0;
    text_put(t, "{\"__metadata__\":{\"format\":\"pt\"");
    for (size_t i = 0; i < n && rc == 0; i++) {
        text_put(t, ",");
        rc = text_json_string(t, meta[i].key);
        text_put(t, ":");
        rc = rc ? rc : text_json_string(t, meta[i].value);
    }
    text_put(t, "}");
    export_metadata_free(meta, n);
    return rc;
}

/* The whole header: JSON, padded with spaces to a multiple of 8 bytes. */
static int header(Text *t, const ExportSource *s)
{
    if (header_metadata(t, s) < 0)
        return -1;
    size_t begin = 0;
    for (int i = 0; i < LENET_TENSORS; i++) {
        const TensorView *v = &s->net.tensors[i];
        assert(4 * v->offset == begin); /* the table's offsets are contiguous in order */
        text_printf(t, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", v->key);
        for (int d = 0; d < v->ndims; d++)
            text_printf(t, "%s%lld", d ? "," : "", (long long)v->dims[d]);
        text_printf(t, "],\"data_offsets\":[%zu,%zu]}", begin, begin + 4 * v->count);
        begin += 4 * v->count;
    }
    text_put(t, "}");
    while (t->len % 8)
        text_put(t, " ");
    return 0;
}

int export_safetensors_encode(const ExportSource *s, uint8_t **out, size_t *size)
{
    Text t = {0};
    if (header(&t, s) < 0) {
        text_free(&t);
        return -1;
    }
    const size_t data = 4 * s->net.n_params;
    *size = 8 + t.len + data;
    *out = xmalloc(*size);
    for (int b = 0; b < 8; b++)
        (*out)[b] = (uint8_t)((uint64_t)t.len >> (8 * b));
    memcpy(*out + 8, t.data, t.len);
    /* tensor_le is in table order, the order of the header's offsets */
    memcpy(*out + 8 + t.len, s->tensor_le, data);
    text_free(&t);
    return 0;
}

int export_safetensors_write(const ExportSource *s, const char *path)
{
    uint8_t *buf;
    size_t size;
    if (export_safetensors_encode(s, &buf, &size) < 0)
        return -1;
    int rc = atomic_write_file(path, buf, size);
    free(buf);
    return rc;
}
