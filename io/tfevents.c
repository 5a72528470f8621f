/* tfevents.c - TensorBoard event files; see tfevents.h.
 *
 * CRC-32C is computed here with a 256-entry table of the reflected
 * Castagnoli polynomial 0x82F63B78: a few hundred bytes per record, so
 * speed does not matter, and Debian 12 packages no C library for it. */
#include "tfevents.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base.h"
#include "tfevent.pb-c.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "TFRecord lengths and CRCs are written as little-endian bytes");

uint32_t tfevents_crc32c(const void *data, size_t n)
{
    static uint32_t table[256];
    static int ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t tfevents_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static int write_record(TfEvents *w, const ShardnetTb__Event *ev)
{
    size_t n = shardnet_tb__event__get_packed_size(ev);
    unsigned char *data = xmalloc(n ? n : 1);
    shardnet_tb__event__pack(ev, data);
    uint64_t len = n;
    uint32_t len_crc = tfevents_mask(tfevents_crc32c(&len, sizeof len));
    uint32_t data_crc = tfevents_mask(tfevents_crc32c(data, n));
    int ok = fwrite(&len, sizeof len, 1, w->f) == 1 &&
             fwrite(&len_crc, sizeof len_crc, 1, w->f) == 1 &&
             (n == 0 || fwrite(data, n, 1, w->f) == 1) &&
             fwrite(&data_crc, sizeof data_crc, 1, w->f) == 1 && fflush(w->f) == 0;
    free(data);
    if (!ok)
        return base_error_set("TensorBoard events %s: write failed: %s", w->path,
                              strerror(errno));
    return 0;
}

int tfevents_open(TfEvents *w, const char *path, double wall_time)
{
    memset(w, 0, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", path);
    struct stat sb;
    int fresh = stat(path, &sb) != 0 || sb.st_size == 0;
    w->f = fopen(path, "ab");
    if (!w->f)
        return base_error_set("TensorBoard events %s: cannot open for appending: %s", path,
                              strerror(errno));
    if (!fresh)
        return 0;
    ShardnetTb__Event ev = SHARDNET_TB__EVENT__INIT;
    ev.has_wall_time = 1;
    ev.wall_time = wall_time;
    ev.file_version = (char *)"brain.Event:2";
    return write_record(w, &ev);
}

int tfevents_scalar(TfEvents *w, double wall_time, int64_t step, const char *tag, float value)
{
    if (!w->f)
        return 0;
    ShardnetTb__Summary__Value v = SHARDNET_TB__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.has_simple_value = 1;
    v.simple_value = value;
    ShardnetTb__Summary__Value *values[1] = {&v};
    ShardnetTb__Summary summary = SHARDNET_TB__SUMMARY__INIT;
    summary.n_value = 1;
    summary.value = values;
    ShardnetTb__Event ev = SHARDNET_TB__EVENT__INIT;
    ev.has_wall_time = 1;
    ev.wall_time = wall_time;
    ev.has_step = 1;
    ev.step = step;
    ev.summary = &summary;
    return write_record(w, &ev);
}

int tfevents_close(TfEvents *w)
{
    if (!w->f)
        return 0;
    int bad = ferror(w->f);
    int rc = fclose(w->f);
    w->f = NULL;
    if (bad || rc == EOF)
        return base_error_set("TensorBoard events %s: write failed on close", w->path);
    return 0;
}
