/* jsonw.h - a growable text buffer with the few JSON pieces the exports
 * write: escaped strings, numbers that round-trip float32/float64, base64.
 *
 * Contract: Text owns its buffer (text_free; safe on a zeroed Text); the
 * text is always NUL-terminated.  Allocation failure dies (xmalloc).
 * text_json_string rejects strings that are not valid UTF-8 (-1 and
 * base_error()), because JSON text must be UTF-8; everything else cannot
 * fail.  No file I/O here. */
#ifndef SHARDNET_JSONW_H
#define SHARDNET_JSONW_H

#include <stddef.h>

typedef struct {
    char *data;
    size_t len, cap;
} Text;

void text_init(Text *t);
void text_free(Text *t);
void text_putn(Text *t, const void *bytes, size_t n);
void text_put(Text *t, const char *s);
void text_printf(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* s as a JSON string literal: quotes, \" \\ \n \r \t \b \f, other control
 * characters as \u00XX; UTF-8 passes through.  -1 if s is not UTF-8. */
int text_json_string(Text *t, const char *s);
/* A float32 as a JSON number that parses back to the same float ("%.9g");
 * non-finite values have no JSON form: written as null. */
void text_json_f32(Text *t, float x);
/* A float64 the same way ("%.17g"). */
void text_json_f64(Text *t, double x);
/* Standard base64 (RFC 4648, with '=' padding, no line breaks). */
void text_base64(Text *t, const void *bytes, size_t n);

#endif
