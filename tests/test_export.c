/* test_export.c - the export writers on a synthetic ExportSource (no files):
 * JSON escaping and UTF-8 rules, base64 (RFC 4648 vectors), float32 LE,
 * the safetensors header rules byte by byte, and the ONNX model read back
 * with the same generated protobuf-c code (structure, attributes, raw
 * initializer bytes, symbolic batch).  The real runtimes are in export.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "export.h"
#include "export_onnx.h"
#include "export_safetensors.h"
#include "jsonw.h"
#include "onnx.pb-c.h"

/* ---- a synthetic source ------------------------------------------------ */

static void make_source(ExportSource *s, LeNetArch arch, const char *class0)
{
    memset(s, 0, sizeof *s);
    TrainState *st = &s->st;
    st->arch = arch;
    st->input_c = 1, st->input_h = 28, st->input_w = 28, st->num_classes = 10;
    st->global_batch = st->micro_batch = 1, st->world_size = 1, st->step = 7;
    snprintf(st->sched.name, sizeof st->sched.name, "constant");
    for (int i = 0; i < 10; i++)
        snprintf(st->class_names[i], CKPT_CLASS_LEN, "class%d", i);
    snprintf(st->class_names[0], CKPT_CLASS_LEN, "%s", class0);
    st->mean[0] = 0.25, st->std[0] = 0.5;
    assert_int_equal(ckpt_describe(st, &s->net), 0);
    size_t n = s->net.n_params;
    s->params = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        s->params[i] = (float)i * 1e-3f - 7.0f;
    s->tensor_le = xmalloc(4 * n);
    export_put_f32le(s->tensor_le, s->params, n);
    assert_int_equal(checksum_sha256(s->tensor_le, 4 * n, s->params_sha256), 0);
    memset(s->checkpoint_sha256, 'a', CHECKSUM_HEX_LEN);
    snprintf(s->checkpoint_name, sizeof s->checkpoint_name, "ckpt-00000007.h5");
    snprintf(s->data_name, sizeof s->data_name, "fm.h5");
    s->golden_count = 2;
    s->golden_images = xcalloc(2 * 784, sizeof(float));
    s->golden_logits = xcalloc(2 * 10, sizeof(float));
    s->golden_labels = xcalloc(2, 1);
    s->golden_logits[3] = 0.1f, s->golden_labels[1] = 9;
}

/* ---- JSON pieces ------------------------------------------------------- */

static void test_json_string(void **state)
{
    (void)state;
    Text t = {0};
    assert_int_equal(text_json_string(&t, "a\"b\\c\n\t\x01/\xc3\xa9"), 0);
    assert_string_equal(t.data, "\"a\\\"b\\\\c\\n\\t\\u0001/\xc3\xa9\"");
    text_free(&t);
    const char *bad[] = {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Text u = {0};
        assert_int_equal(text_json_string(&u, bad[i]), -1);
        assert_non_null(strstr(base_error(), "not valid UTF-8"));
        text_free(&u);
    }
}

static void test_base64_rfc4648(void **state)
{
    (void)state;
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        Text t = {0};
        text_put(&t, "");
        text_base64(&t, in[i], strlen(in[i]));
        assert_string_equal(t.data, out[i]);
        text_free(&t);
    }
}

static void test_numbers_round_trip(void **state)
{
    (void)state;
    Text t = {0};
    float x = 0.1f;
    text_json_f32(&t, x);
    assert_true(strtof(t.data, NULL) == x);
    text_free(&t);
    uint8_t le[8];
    export_put_f32le(le, (const float[]){1.0f, -2.5f}, 2);
    const uint8_t want[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0};
    assert_memory_equal(le, want, 8);
}

/* ---- safetensors ------------------------------------------------------- */

static uint64_t le64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static void test_safetensors_layout(void **state)
{
    (void)state;
    ExportSource s;
    make_source(&s, ARCH_CLASSIC, "T\"shirt\\top");
    uint8_t *buf;
    size_t size;
    assert_int_equal(export_safetensors_encode(&s, &buf, &size), 0);
    uint64_t h = le64(buf);
    assert_int_equal(h % 8, 0);
    assert_int_equal(size, 8 + h + 4 * s.net.n_params);
    assert_memory_equal(buf + 8 + h, s.tensor_le, 4 * s.net.n_params);
    char *json = strndup((const char *)buf + 8, h);
    size_t end = strlen(json);
    while (end && json[end - 1] == ' ')
        end--;
    assert_true(json[0] == '{' && json[end - 1] == '}' && h - end < 8);
    assert_non_null(strstr(json, "{\"__metadata__\":{\"format\":\"pt\","));
    assert_non_null(strstr(json, "\\\"T\\\\\\\"shirt\\\\\\\\top\\\"")); /* escaped twice */
    /* every tensor in table order, contiguous from 0, PyTorch shapes */
    const char *want[] = {
        "\"0.weight\":{\"dtype\":\"F32\",\"shape\":[6,1,5,5],\"data_offsets\":[0,600]}",
        "\"0.bias\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[600,624]}",
        "\"3.weight\":{\"dtype\":\"F32\",\"shape\":[16,6,5,5],\"data_offsets\":[624,10224]}",
        "\"3.bias\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[10224,10288]}",
        "\"7.weight\":{\"dtype\":\"F32\",\"shape\":[120,400],\"data_offsets\":[10288,202288]}",
        "\"7.bias\":{\"dtype\":\"F32\",\"shape\":[120],\"data_offsets\":[202288,202768]}",
        "\"9.weight\":{\"dtype\":\"F32\",\"shape\":[84,120],\"data_offsets\":[202768,243088]}",
        "\"9.bias\":{\"dtype\":\"F32\",\"shape\":[84],\"data_offsets\":[243088,243424]}",
        "\"11.weight\":{\"dtype\":\"F32\",\"shape\":[10,84],\"data_offsets\":[243424,246784]}",
        "\"11.bias\":{\"dtype\":\"F32\",\"shape\":[10],\"data_offsets\":[246784,246824]}}",
    };
    const char *at = json;
    for (int i = 0; i < 10; i++) {
        const char *hit = strstr(at, want[i]);
        assert_non_null(hit);
        at = hit;
    }
    assert_int_equal(246824, 4 * s.net.n_params);
    free(json);
    free(buf);
    export_source_free(&s);
}

static void test_safetensors_refuses_bad_utf8(void **state)
{
    (void)state;
    ExportSource s;
    make_source(&s, ARCH_CLASSIC, "bad\xff");
    uint8_t *buf = NULL;
    size_t size = 0;
    assert_int_equal(export_safetensors_encode(&s, &buf, &size), -1);
    assert_non_null(strstr(base_error(), "shardnet.classes"));
    assert_null(buf);
    export_source_free(&s);
}

/* ---- ONNX, read back --------------------------------------------------- */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, name))
            return n->attribute[i];
    return NULL;
}

static void check_graph(const Onnx__GraphProto *g, const ExportSource *s, const char *const ops[])
{
    assert_int_equal(g->n_node, LENET_LAYERS);
    for (size_t i = 0; i < g->n_node; i++)
        assert_string_equal(g->node[i]->op_type, ops[i]);
    assert_string_equal(g->node[0]->input[0], "images");
    assert_string_equal(g->node[0]->input[1], "conv1.weight");
    assert_string_equal(g->node[11]->output[0], "logits");
    assert_int_equal(attr(g->node[0], "pads")->n_ints, 4);
    assert_int_equal(attr(g->node[0], "pads")->ints[0], 2);
    assert_int_equal(attr(g->node[3], "pads")->ints[0], 0);
    assert_int_equal(attr(g->node[2], "kernel_shape")->ints[1], 2);
    assert_int_equal(attr(g->node[2], "strides")->ints[0], 2);
    assert_int_equal(attr(g->node[7], "transB")->i, 1);
    assert_int_equal(attr(g->node[6], "axis")->i, 1);
    assert_int_equal(g->n_initializer, LENET_TENSORS);
    for (size_t t = 0; t < g->n_initializer; t++) {
        const Onnx__TensorProto *init = g->initializer[t];
        const TensorView *v = &s->net.tensors[t];
        assert_string_equal(init->name, v->name);
        assert_non_null(strstr(init->doc_string, v->key));
        assert_int_equal(init->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
        assert_int_equal(init->n_dims, v->ndims);
        assert_int_equal(init->dims[0], v->dims[0]);
        assert_int_equal(init->raw_data.len, 4 * v->count);
        assert_memory_equal(init->raw_data.data, s->tensor_le + 4 * v->offset, 4 * v->count);
    }
    const Onnx__TensorShapeProto *in = g->input[0]->type->tensor_type->shape;
    assert_int_equal(in->n_dim, 4);
    assert_string_equal(in->dim[0]->dim_param, "N");
    assert_int_equal(in->dim[3]->dim_value, 28);
    const Onnx__TensorShapeProto *out = g->output[0]->type->tensor_type->shape;
    assert_string_equal(out->dim[0]->dim_param, "N");
    assert_int_equal(out->dim[1]->dim_value, 10);
}

static void check_onnx(LeNetArch arch, const char *const ops[])
{
    ExportSource s;
    make_source(&s, arch, "T-shirt/top");
    uint8_t *buf;
    size_t size;
    assert_int_equal(export_onnx_encode(&s, &buf, &size), 0);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, buf);
    assert_non_null(m);
    assert_int_equal(m->ir_version, 7);
    assert_int_equal(m->n_opset_import, 1);
    assert_string_equal(m->opset_import[0]->domain, "");
    assert_int_equal(m->opset_import[0]->version, 13);
    check_graph(m->graph, &s, ops);
    int golden = 0, digest = 0;
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        golden |= !strcmp(m->metadata_props[i]->key, "shardnet.golden");
        digest |= !strcmp(m->metadata_props[i]->key, "shardnet.params_sha256") &&
                  !strcmp(m->metadata_props[i]->value, s.params_sha256);
    }
    assert_true(golden && digest);
    onnx__model_proto__free_unpacked(m, NULL);
    free(buf);
    export_source_free(&s);
}

static void test_onnx_classic(void **state)
{
    (void)state;
    const char *const ops[] = {"Conv", "Sigmoid", "AveragePool", "Conv", "Sigmoid", "AveragePool",
                               "Flatten", "Gemm", "Sigmoid", "Gemm", "Sigmoid", "Gemm"};
    check_onnx(ARCH_CLASSIC, ops);
}

static void test_onnx_modern(void **state)
{
    (void)state;
    const char *const ops[] = {"Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool",
                               "Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm"};
    check_onnx(ARCH_MODERN, ops);
}

static void test_pixels_to_input(void **state)
{
    (void)state;
    ExportSource s;
    make_source(&s, ARCH_CLASSIC, "x");
    uint8_t px[784] = {0};
    px[0] = 255, px[1] = 51;
    float in[784];
    export_pixels_to_input(&s.st, px, 1, in);
    assert_float_equal(in[0], (1.0 - 0.25) / 0.5, 1e-6); /* (x/255 - mean) / std */
    assert_float_equal(in[1], (0.2 - 0.25) / 0.5, 1e-6);
    assert_float_equal(in[2], -0.5, 1e-6);
    export_source_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test(test_numbers_round_trip),
        cmocka_unit_test(test_safetensors_layout),
        cmocka_unit_test(test_safetensors_refuses_bad_utf8),
        cmocka_unit_test(test_onnx_classic),
        cmocka_unit_test(test_onnx_modern),
        cmocka_unit_test(test_pixels_to_input),
    };
    return cmocka_run_group_tests_name("export", tests, NULL, NULL);
}
