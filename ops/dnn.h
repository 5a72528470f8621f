/* dnn.h - small wrappers shared by the oneDNN operators (internal to ops/).
 *
 * A Port joins a caller's buffer, in the caller's layout, to the memory a
 * primitive reads or writes, in the layout the primitive chose.  When the
 * two layouts agree the port only swaps data handles; otherwise it owns a
 * buffer in the primitive's layout and a reorder, so that layout changes
 * stay inside the op (parameters and gradients are always plain).
 */
#ifndef SHARDNET_DNN_H
#define SHARDNET_DNN_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"

/* Activation layouts an op can be built for.  Parameters are always plain. */
typedef enum { LAYOUT_NCHW, LAYOUT_NHWC } Layout;

/* Plain (N, C, H, W) or (N, C) descriptor in the given layout. */
dnnl_memory_desc_t dnn_md4(int64_t n, int64_t c, int64_t h, int64_t w, Layout layout);
dnnl_memory_desc_t dnn_md_tag(int ndims, const int64_t *dims, dnnl_format_tag_t tag);
/* Copy of a pd's memory descriptor (the pointer dnnl returns is the pd's). */
dnnl_memory_desc_t dnn_query(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index);

/* Memory with no buffer yet; dnn_bind() gives it one per call. */
dnnl_memory_t dnn_mem(const dnnl_memory_desc_t *md);
/* Memory with its own buffer (scratch between primitives). */
dnnl_memory_t dnn_mem_owned(const dnnl_memory_desc_t *md);
void dnn_bind(dnnl_memory_t mem, const void *ptr);
void *dnn_data(dnnl_memory_t mem);
void dnn_mem_free(dnnl_memory_t *mem);

/* Creates the pd for op_desc (first implementation oneDNN offers) and its primitive. */
dnnl_primitive_desc_t dnn_pd(const void *op_desc, const_dnnl_primitive_attr_t attr,
                             const_dnnl_primitive_desc_t hint);
dnnl_primitive_t dnn_prim(const_dnnl_primitive_desc_t pd);
/* Like dnn_pd, but passes over implementations named in `avoid` (NULL-
 * terminated list of exact names, e.g. "jit:avx512_core") when oneDNN offers
 * another that is not a reference one.  The choice depends only on the
 * descriptor and the CPU, so every rank on the same ISA picks the same
 * implementation (which exactness needs). */
dnnl_primitive_desc_t dnn_pd_avoiding(const void *op_desc, const_dnnl_primitive_attr_t attr,
                                      const_dnnl_primitive_desc_t hint,
                                      const char *const *avoid);
void dnn_exec(dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args);
/* Name of the implementation oneDNN chose for pd, copied into out. */
void dnn_impl(const_dnnl_primitive_desc_t pd, char *out, size_t size);

typedef struct {
    dnnl_memory_t user;      /* caller's layout, handle bound per call */
    dnnl_memory_t prim;      /* primitive's layout; == user when no reorder */
    dnnl_primitive_t reorder; /* user->prim for inputs, prim->user for outputs */
} Port;

void port_init(Port *p, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md,
               int is_output);
/* Input: binds ptr and reorders it into the primitive's layout if needed. */
void port_in(Port *p, const void *ptr);
/* Output: binds ptr before the primitive runs ... */
void port_out_begin(Port *p, void *ptr);
/* ... and copies the result back to the caller's layout afterwards. */
void port_out_end(Port *p);
void port_free(Port *p);

#endif
