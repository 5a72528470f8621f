/* jsonw.c - see jsonw.h. */
#include "jsonw.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

void text_init(Text *t)
{
    t->cap = 256;
    t->len = 0;
    t->data = xmalloc(t->cap);
    t->data[0] = '\0';
}

void text_free(Text *t)
{
    free(t->data);
    memset(t, 0, sizeof *t);
}

static void reserve(Text *t, size_t extra)
{
    if (!t->data)
        text_init(t);
    if (t->len + extra + 1 <= t->cap)
        return;
    while (t->len + extra + 1 > t->cap)
        t->cap *= 2;
    char *grown = xmalloc(t->cap);
    memcpy(grown, t->data, t->len + 1);
    free(t->data);
    t->data = grown;
}

void text_putn(Text *t, const void *bytes, size_t n)
{
    reserve(t, n);
    memcpy(t->data + t->len, bytes, n);
    t->len += n;
    t->data[t->len] = '\0';
}

void text_put(Text *t, const char *s) { text_putn(t, s, strlen(s)); }

void text_printf(Text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("text_printf: bad format '%s'", fmt);
    reserve(t, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(t->data + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* Length of the UTF-8 sequence at s (1..4), or 0 if it is not valid UTF-8
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!n || s[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

int text_json_string(Text *t, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    for (const unsigned char *q = p; *q;) {
        size_t n = utf8_len(q);
        if (!n)
            return base_error_set("string '%s' is not valid UTF-8 (byte %zu)", s, (size_t)(q - p));
        q += n;
    }
    text_put(t, "\"");
    for (; *p; p++) {
        switch (*p) {
        case '"': text_put(t, "\\\""); break;
        case '\\': text_put(t, "\\\\"); break;
        case '\n': text_put(t, "\\n"); break;
        case '\r': text_put(t, "\\r"); break;
        case '\t': text_put(t, "\\t"); break;
        case '\b': text_put(t, "\\b"); break;
        case '\f': text_put(t, "\\f"); break;
        default:
            if (*p < 0x20)
                text_printf(t, "\\u%04x", *p);
            else
                text_putn(t, p, 1);
        }
    }
    text_put(t, "\"");
    return 0;
}

void text_json_f32(Text *t, float x)
{
    if (isfinite(x))
        text_printf(t, "%.9g", (double)x);
    else
        text_put(t, "null");
}

void text_json_f64(Text *t, double x)
{
    if (isfinite(x))
        text_printf(t, "%.17g", x);
    else
        text_put(t, "null");
}

void text_base64(Text *t, const void *bytes, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *b = bytes;
    reserve(t, (n + 2) / 3 * 4);
    char *o = t->data + t->len;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)b[i + 1] << 8;
        if (i + 2 < n)
            v |= b[i + 2];
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = i + 1 < n ? abc[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? abc[v & 63] : '=';
    }
    t->len = (size_t)(o - t->data);
    t->data[t->len] = '\0';
}
