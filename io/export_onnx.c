/* export_onnx.c - see export_onnx.h.  The model is built as a tree of
 * generated protobuf-c structs (onnx.pb-c.h), every node allocated from one
 * Arena and freed together after packing.  Tensor data is not copied: the
 * initializers point into ExportSource.tensor_le. */
#include "export_onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "base.h"
#include "onnx.pb-c.h"
#include "shardnet_version.h"

typedef struct {
    void **ptr;
    size_t n, cap;
} Arena;

static void *arena_new(Arena *a, size_t size)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        void **grown = xmalloc(a->cap * sizeof *grown);
        if (a->n)
            memcpy(grown, a->ptr, a->n * sizeof *grown);
        free(a->ptr);
        a->ptr = grown;
    }
    return a->ptr[a->n++] = xcalloc(1, size);
}

static char *arena_str(Arena *a, const char *s)
{
    char *d = arena_new(a, strlen(s) + 1);
    memcpy(d, s, strlen(s) + 1);
    return d;
}

static void arena_free(Arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->ptr[i]);
    free(a->ptr);
    memset(a, 0, sizeof *a);
}

static void *arena_copy(Arena *a, const void *init, size_t size)
{
    return memcpy(arena_new(a, size), init, size);
}

/* A new message of type T in the arena, set to its generated INIT value. */
#define NEW(a, T, INIT) ((T *)arena_copy(a, &(T)INIT, sizeof(T)))

/* A float tensor value: dims[0] < 0 is the symbolic batch dimension "N". */
static Onnx__ValueInfoProto *value_info(Arena *a, const char *name, const int64_t *dims, int nd)
{
    Onnx__TensorShapeProto *shape = NEW(a, Onnx__TensorShapeProto, ONNX__TENSOR_SHAPE_PROTO__INIT);
    shape->n_dim = (size_t)nd;
    shape->dim = arena_new(a, (size_t)nd * sizeof *shape->dim);
    for (int d = 0; d < nd; d++) {
        Onnx__TensorShapeProto__Dimension *dim =
            NEW(a, Onnx__TensorShapeProto__Dimension, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT);
        if (dims[d] < 0) {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim->dim_param = arena_str(a, "N");
        } else {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = dims[d];
        }
        shape->dim[d] = dim;
    }
    Onnx__TypeProto__Tensor *tt = NEW(a, Onnx__TypeProto__Tensor, ONNX__TYPE_PROTO__TENSOR__INIT);
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = shape;
    Onnx__TypeProto *type = NEW(a, Onnx__TypeProto, ONNX__TYPE_PROTO__INIT);
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tt;
    Onnx__ValueInfoProto *v = NEW(a, Onnx__ValueInfoProto, ONNX__VALUE_INFO_PROTO__INIT);
    v->name = arena_str(a, name);
    v->type = type;
    return v;
}

static Onnx__AttributeProto *attr_ints(Arena *a, const char *name, int64_t x, size_t count)
{
    Onnx__AttributeProto *at = NEW(a, Onnx__AttributeProto, ONNX__ATTRIBUTE_PROTO__INIT);
    at->name = arena_str(a, name);
    at->has_type = 1;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    at->n_ints = count;
    at->ints = arena_new(a, count * sizeof *at->ints);
    for (size_t i = 0; i < count; i++)
        at->ints[i] = x;
    return at;
}

static Onnx__AttributeProto *attr_int(Arena *a, const char *name, int64_t x)
{
    Onnx__AttributeProto *at = NEW(a, Onnx__AttributeProto, ONNX__ATTRIBUTE_PROTO__INIT);
    at->name = arena_str(a, name);
    at->has_type = 1;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    at->has_i = 1;
    at->i = x;
    return at;
}

static Onnx__TensorProto *initializer(Arena *a, const ExportSource *s, const TensorView *v)
{
    Onnx__TensorProto *t = NEW(a, Onnx__TensorProto, ONNX__TENSOR_PROTO__INIT);
    t->name = arena_str(a, v->name);
    char doc[96];
    snprintf(doc, sizeof doc, "nn.Sequential key %s", v->key);
    t->doc_string = arena_str(a, doc);
    t->n_dims = (size_t)v->ndims;
    t->dims = arena_new(a, (size_t)v->ndims * sizeof *t->dims);
    memcpy(t->dims, v->dims, (size_t)v->ndims * sizeof *t->dims);
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->has_raw_data = 1;
    t->raw_data.len = 4 * v->count;
    t->raw_data.data = s->tensor_le + 4 * v->offset;
    return t;
}

/* Node `op` for layer i of the LeNet table, reading `in`, writing `out`;
 * the layer's weight and bias (if any) are its 2nd and 3rd inputs. */
static Onnx__NodeProto *layer_node(Arena *a, const LeNet *net, int i, const char *in,
                                   const char *out)
{
    const LayerInfo *l = &net->layers[i];
    int conv = !strcmp(l->kind, "Conv2d"), linear = !strcmp(l->kind, "Linear");
    int avg = !strcmp(l->kind, "AvgPool2d"), max = !strcmp(l->kind, "MaxPool2d");
    const char *op = conv ? "Conv" : linear ? "Gemm" : avg ? "AveragePool" : max ? "MaxPool"
                   : !strcmp(l->kind, "Flatten") ? "Flatten" : !strcmp(l->kind, "ReLU") ? "Relu"
                   : !strcmp(l->kind, "Sigmoid") ? "Sigmoid" : NULL;
    if (!op)
        die("export_onnx: layer %d has kind '%s' with no ONNX operator", i, l->kind);
    Onnx__NodeProto *node = NEW(a, Onnx__NodeProto, ONNX__NODE_PROTO__INIT);
    char name[64];
    snprintf(name, sizeof name, "%d.%s", i, l->kind);
    node->name = arena_str(a, name);
    node->op_type = arena_str(a, op);
    node->input = arena_new(a, 3 * sizeof(char *));
    node->input[node->n_input++] = arena_str(a, in);
    for (int t = 0; t < LENET_TENSORS; t++)
        if (net->tensors[t].layer == i && net->tensors[t].name)
            node->input[node->n_input++] = arena_str(a, net->tensors[t].name);
    node->n_output = 1;
    node->output = arena_new(a, sizeof(char *));
    node->output[0] = arena_str(a, out);
    node->attribute = arena_new(a, 6 * sizeof *node->attribute);
    Onnx__AttributeProto **at = node->attribute;
    size_t n = 0;
    if (conv || avg || max) {
        at[n++] = attr_ints(a, "kernel_shape", l->kernel, 2);
        at[n++] = attr_ints(a, "strides", l->stride, 2);
        at[n++] = attr_ints(a, "pads", l->pad, 4);
    }
    if (conv)
        at[n++] = attr_ints(a, "dilations", 1, 2), at[n++] = attr_int(a, "group", 1);
    if (avg) /* shardnet's average pooling counts padding; there is none here anyway */
        at[n++] = attr_int(a, "count_include_pad", 1);
    if (avg || max)
        at[n++] = attr_int(a, "ceil_mode", 0);
    if (linear)
        at[n++] = attr_int(a, "transB", 1);
    if (!strcmp(op, "Flatten"))
        at[n++] = attr_int(a, "axis", 1);
    node->n_attribute = n;
    return node;
}

static Onnx__NodeProto *node(Arena *a, const char *name, const char *op, const char *in0,
                             const char *in1, const char *out)
{
    Onnx__NodeProto *n = NEW(a, Onnx__NodeProto, ONNX__NODE_PROTO__INIT);
    n->name = arena_str(a, name);
    n->op_type = arena_str(a, op);
    n->input = arena_new(a, 2 * sizeof(char *));
    if (in0)
        n->input[n->n_input++] = arena_str(a, in0);
    if (in1)
        n->input[n->n_input++] = arena_str(a, in1);
    n->n_output = 1;
    n->output = arena_new(a, sizeof(char *));
    n->output[0] = arena_str(a, out);
    return n;
}

/* A Constant node: float32 (1, C, 1, 1) of v, broadcast over N, H, W. */
static Onnx__NodeProto *constant(Arena *a, const char *name, const double *v, int64_t c)
{
    Onnx__TensorProto *t = NEW(a, Onnx__TensorProto, ONNX__TENSOR_PROTO__INIT);
    t->name = arena_str(a, name);
    t->n_dims = 4;
    t->dims = arena_new(a, 4 * sizeof *t->dims);
    t->dims[0] = 1, t->dims[1] = c, t->dims[2] = 1, t->dims[3] = 1;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    float f[CKPT_MAX_CHANNELS];
    for (int64_t i = 0; i < c; i++)
        f[i] = (float)v[i];
    t->has_raw_data = 1;
    t->raw_data.len = 4 * (size_t)c;
    t->raw_data.data = arena_new(a, 4 * (size_t)c);
    export_put_f32le(t->raw_data.data, f, (size_t)c);
    Onnx__AttributeProto *at = NEW(a, Onnx__AttributeProto, ONNX__ATTRIBUTE_PROTO__INIT);
    at->name = arena_str(a, "value");
    at->has_type = 1;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    at->t = t;
    Onnx__NodeProto *n = node(a, name, "Constant", NULL, NULL, name);
    n->n_attribute = 1;
    n->attribute = arena_new(a, sizeof *n->attribute);
    n->attribute[0] = at;
    return n;
}

static Onnx__GraphProto *graph(Arena *a, const ExportSource *s)
{
    const LeNet *net = &s->net;
    Onnx__GraphProto *g = NEW(a, Onnx__GraphProto, ONNX__GRAPH_PROTO__INIT);
    char name[64], prev[32] = "images", out[32];
    snprintf(name, sizeof name, "shardnet_lenet_%s", lenet_arch_name(s->st.arch));
    g->name = arena_str(a, name);
    g->node = arena_new(a, (LENET_LAYERS + 4) * sizeof *g->node);
    if (s->baked) { /* images are pixel / 255: (images - mean[c]) / std[c] first */
        g->node[g->n_node++] = constant(a, "input_mean", s->st.mean, s->st.input_c);
        g->node[g->n_node++] = constant(a, "input_std", s->st.std, s->st.input_c);
        g->node[g->n_node++] = node(a, "normalize.sub", "Sub", "images", "input_mean", "centred");
        g->node[g->n_node++] = node(a, "normalize.div", "Div", "centred", "input_std",
                                    "normalized");
        snprintf(prev, sizeof prev, "normalized");
    }
    for (int i = 0; i < LENET_LAYERS; i++) {
        if (i == LENET_LAYERS - 1)
            snprintf(out, sizeof out, "logits");
        else
            snprintf(out, sizeof out, "%d.out", i);
        g->node[g->n_node++] = layer_node(a, net, i, prev, out);
        memcpy(prev, out, sizeof prev);
    }
    g->initializer = arena_new(a, LENET_TENSORS * sizeof *g->initializer);
    for (int t = 0; t < LENET_TENSORS; t++)
        g->initializer[g->n_initializer++] = initializer(a, s, &net->tensors[t]);
    const int64_t in[4] = {-1, s->st.input_c, s->st.input_h, s->st.input_w};
    const int64_t logits[2] = {-1, s->st.num_classes};
    g->n_input = g->n_output = 1;
    g->input = arena_new(a, sizeof *g->input);
    g->output = arena_new(a, sizeof *g->output);
    g->input[0] = value_info(a, "images", in, 4);
    g->output[0] = value_info(a, "logits", logits, 2);
    return g;
}

static Onnx__ModelProto *model(Arena *a, const ExportSource *s, const ExportMeta *meta,
                               size_t n_meta)
{
    Onnx__ModelProto *m = NEW(a, Onnx__ModelProto, ONNX__MODEL_PROTO__INIT);
    m->has_ir_version = 1;
    m->ir_version = EXPORT_ONNX_IR_VERSION;
    Onnx__OperatorSetIdProto *opset =
        NEW(a, Onnx__OperatorSetIdProto, ONNX__OPERATOR_SET_ID_PROTO__INIT);
    opset->domain = arena_str(a, "");
    opset->has_version = 1;
    opset->version = EXPORT_ONNX_OPSET;
    m->n_opset_import = 1;
    m->opset_import = arena_new(a, sizeof *m->opset_import);
    m->opset_import[0] = opset;
    m->producer_name = arena_str(a, "shardnet");
    m->producer_version = arena_str(a, SHARDNET_VERSION);
    m->doc_string = arena_str(a, "LeNet trained by shardnet. Input and the golden-batch proof: "
                                 "see metadata_props shardnet.input and shardnet.golden.");
    m->graph = graph(a, s);
    m->n_metadata_props = n_meta;
    m->metadata_props = arena_new(a, n_meta * sizeof *m->metadata_props);
    for (size_t i = 0; i < n_meta; i++) {
        Onnx__StringStringEntryProto *e =
            NEW(a, Onnx__StringStringEntryProto, ONNX__STRING_STRING_ENTRY_PROTO__INIT);
        e->key = (char *)meta[i].key; /* borrowed for the packing only */
        e->value = meta[i].value;
        m->metadata_props[i] = e;
    }
    return m;
}

int export_onnx_encode(const ExportSource *s, uint8_t **out, size_t *size)
{
    ExportMeta meta[EXPORT_META_MAX];
    size_t n_meta = 0;
    if (export_metadata(s, meta, &n_meta) < 0)
        return -1;
    Arena a = {0};
    Onnx__ModelProto *m = model(&a, s, meta, n_meta);
    *size = onnx__model_proto__get_packed_size(m);
    *out = xmalloc(*size);
    size_t packed = onnx__model_proto__pack(m, *out);
    arena_free(&a);
    export_metadata_free(meta, n_meta);
    if (packed != *size) {
        free(*out);
        *out = NULL;
        return base_error_set("export_onnx: packed %zu bytes, expected %zu", packed, *size);
    }
    return 0;
}

int export_onnx_write(const ExportSource *s, const char *path)
{
    uint8_t *buf;
    size_t size;
    if (export_onnx_encode(s, &buf, &size) < 0)
        return -1;
    int rc = atomic_write_file(path, buf, size);
    free(buf);
    return rc;
}
