/* dnn.c - descriptor, memory and port helpers for the oneDNN ops; see dnn.h. */
#include "dnn.h"

#include <stdio.h>
#include <string.h>

dnnl_memory_desc_t dnn_md_tag(int ndims, const int64_t *dims, dnnl_format_tag_t tag)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t d;
    for (int i = 0; i < ndims; i++)
        d[i] = dims[i];
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&md, ndims, d, dnnl_f32, tag));
    return md;
}

dnnl_memory_desc_t dnn_md4(int64_t n, int64_t c, int64_t h, int64_t w, Layout layout)
{
    int64_t dims[4] = {n, c, h, w};
    return dnn_md_tag(4, dims, layout == LAYOUT_NHWC ? dnnl_nhwc : dnnl_nchw);
}

dnnl_memory_desc_t dnn_query(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what, index);
    if (!md)
        die("oneDNN primitive descriptor has no memory descriptor for query %d/%d", (int)what, index);
    return *md;
}

dnnl_memory_t dnn_mem(const dnnl_memory_desc_t *md)
{
    dnnl_memory_t mem;
    DNNL_CHECK(dnnl_memory_create(&mem, md, base_engine(), DNNL_MEMORY_NONE));
    return mem;
}

dnnl_memory_t dnn_mem_owned(const dnnl_memory_desc_t *md)
{
    dnnl_memory_t mem;
    DNNL_CHECK(dnnl_memory_create(&mem, md, base_engine(), DNNL_MEMORY_ALLOCATE));
    return mem;
}

void dnn_bind(dnnl_memory_t mem, const void *ptr)
{
    DNNL_CHECK(dnnl_memory_set_data_handle_v2(mem, (void *)ptr, base_stream()));
}

void *dnn_data(dnnl_memory_t mem)
{
    void *ptr = NULL;
    DNNL_CHECK(dnnl_memory_get_data_handle(mem, &ptr));
    return ptr;
}

void dnn_mem_free(dnnl_memory_t *mem)
{
    if (*mem)
        dnnl_memory_destroy(*mem);
    *mem = NULL;
}

dnnl_primitive_desc_t dnn_pd(const void *op_desc, const_dnnl_primitive_attr_t attr,
                             const_dnnl_primitive_desc_t hint)
{
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, op_desc, attr, base_engine(), hint));
    return pd;
}

static int name_in(const char *name, const char *const *list)
{
    for (; list && *list; list++)
        if (!strcmp(name, *list))
            return 1;
    return 0;
}

static int is_reference(const char *name)
{
    return !strncmp(name, "ref", 3) || !strncmp(name, "simple", 6);
}

dnnl_primitive_desc_t dnn_pd_avoiding(const void *op_desc, const_dnnl_primitive_attr_t attr,
                                      const_dnnl_primitive_desc_t hint,
                                      const char *const *avoid)
{
    dnnl_primitive_desc_iterator_t it;
    DNNL_CHECK(dnnl_primitive_desc_iterator_create(&it, op_desc, attr, base_engine(), hint));
    dnnl_primitive_desc_t first = NULL, pick = NULL;
    char name[64];
    do {
        dnnl_primitive_desc_t pd = dnnl_primitive_desc_iterator_fetch(it);
        if (!pd)
            die("dnnl_primitive_desc_iterator_fetch returned no primitive descriptor");
        dnn_impl(pd, name, sizeof name);
        if (!first) {
            first = pd; /* oneDNN's own choice */
            if (!name_in(name, avoid)) {
                pick = pd;
                break;
            }
        } else if (!name_in(name, avoid) && !is_reference(name)) {
            pick = pd;
            break;
        } else {
            dnnl_primitive_desc_destroy(pd);
        }
    } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
    if (pick && pick != first)
        dnnl_primitive_desc_destroy(first);
    return pick ? pick : first;
}

dnnl_primitive_t dnn_prim(const_dnnl_primitive_desc_t pd)
{
    dnnl_primitive_t prim;
    DNNL_CHECK(dnnl_primitive_create(&prim, pd));
    return prim;
}

void dnn_exec(dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args)
{
    DNNL_CHECK(dnnl_primitive_execute(prim, base_stream(), nargs, args));
}

void dnn_impl(const_dnnl_primitive_desc_t pd, char *out, size_t size)
{
    const char *s = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s)
        s = "?";
    snprintf(out, size, "%s", s);
}

void port_init(Port *p, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md,
               int is_output)
{
    memset(p, 0, sizeof *p);
    p->user = dnn_mem(user_md);
    if (dnnl_memory_desc_equal(user_md, prim_md)) {
        p->prim = p->user;
        return;
    }
    p->prim = dnn_mem_owned(prim_md);
    dnnl_primitive_desc_t pd;
    const dnnl_memory_desc_t *from = is_output ? prim_md : user_md;
    const dnnl_memory_desc_t *to = is_output ? user_md : prim_md;
    DNNL_CHECK(dnnl_reorder_primitive_desc_create(&pd, from, base_engine(), to, base_engine(), NULL));
    p->reorder = dnn_prim(pd);
    dnnl_primitive_desc_destroy(pd);
}

static void port_reorder(Port *p, dnnl_memory_t from, dnnl_memory_t to)
{
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    dnn_exec(p->reorder, 2, args);
}

void port_in(Port *p, const void *ptr)
{
    dnn_bind(p->user, ptr);
    if (p->reorder)
        port_reorder(p, p->user, p->prim);
}

void port_out_begin(Port *p, void *ptr) { dnn_bind(p->user, ptr); }

void port_out_end(Port *p)
{
    if (p->reorder)
        port_reorder(p, p->prim, p->user);
}

void port_free(Port *p)
{
    if (p->prim && p->prim != p->user)
        dnn_mem_free(&p->prim);
    dnn_mem_free(&p->user);
    if (p->reorder)
        dnnl_primitive_destroy(p->reorder);
    memset(p, 0, sizeof *p);
}
