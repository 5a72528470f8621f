#!/usr/bin/python3
"""tfevents_check.py - an independent reader for shardnet's TensorBoard event
file, checked against the run's metrics file.

    tfevents_check.py RUN_DIR

Reads RUN_DIR/events.out.tfevents.shardnet as TFRecords (uint64 length,
masked CRC-32C of the length, data, masked CRC-32C of the data), checking
every CRC with Debian's python3-crc32c, and decodes each record with Debian's
python3-protobuf using a descriptor built HERE from TensorBoard's field
numbers (Event: wall_time 1 double, step 2 int64, file_version 3 string,
summary 5; Summary: value 1 repeated Value; Value: tag 1 string,
simple_value 2 float), not from shardnet's .proto.  Then every scalar must
equal, in order, the float32 of the value the metrics file records for it:
step records (train/loss, train/accuracy, train/lr, train/img_per_s) and
epoch records (epoch/train_loss, epoch/train_accuracy, val/*, test/*).
Prints a summary line; exits 1 with the first difference."""
import json
import math
import struct
import sys

import crc32c
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto


def build_event_class():
    fd = descriptor_pb2.FileDescriptorProto(name="tb_check.proto", package="tbcheck", syntax="proto2")
    summary = fd.message_type.add(name="Summary")
    value = summary.nested_type.add(name="Value")
    value.field.add(name="tag", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    value.field.add(name="simple_value", number=2, type=F.TYPE_FLOAT, label=F.LABEL_OPTIONAL)
    summary.field.add(name="value", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                      type_name=".tbcheck.Summary.Value")
    event = fd.message_type.add(name="Event")
    event.field.add(name="wall_time", number=1, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    event.field.add(name="step", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    event.field.add(name="file_version", number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    event.field.add(name="summary", number=5, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                    type_name=".tbcheck.Summary")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("tbcheck.Event"))


def masked(data):
    c = crc32c.crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(path):
    with open(path, "rb") as f:
        blob = f.read()
    at, n = 0, 0
    while at < len(blob):
        if len(blob) - at < 12:
            sys.exit(f"tfevents_check: {path}: {len(blob) - at} stray bytes at offset {at}")
        head = blob[at:at + 8]
        (length,) = struct.unpack("<Q", head)
        (head_crc,) = struct.unpack("<I", blob[at + 8:at + 12])
        if head_crc != masked(head):
            sys.exit(f"tfevents_check: {path}: record {n}: bad length CRC")
        data = blob[at + 12:at + 12 + length]
        if len(data) != length or at + 16 + length > len(blob):
            sys.exit(f"tfevents_check: {path}: record {n}: truncated")
        (data_crc,) = struct.unpack("<I", blob[at + 12 + length:at + 16 + length])
        if data_crc != masked(data):
            sys.exit(f"tfevents_check: {path}: record {n}: bad data CRC")
        yield data
        at += 16 + length
        n += 1


def f32(x):
    return float("nan") if x is None else struct.unpack("<f", struct.pack("<f", x))[0]


def expected(metrics_path):
    """(step, tag, float32 value) in the order the trainer writes them."""
    out = []
    step_tags = [("train/loss", "loss"), ("train/accuracy", "accuracy"), ("train/lr", "lr"),
                 ("train/img_per_s", "img_per_s")]
    with open(metrics_path) as f:
        for line in f:
            r = json.loads(line)
            if r["type"] == "step":
                out += [(r["step"], tag, f32(r[key])) for tag, key in step_tags]
            elif r["type"] == "epoch":
                tags = [("epoch/train_loss", "train_loss"), ("epoch/train_accuracy", "train_accuracy")]
                if r["val_loss"] is not None:
                    tags += [("val/loss", "val_loss"), ("val/accuracy", "val_accuracy")]
                if r["test_loss"] is not None:
                    tags += [("test/loss", "test_loss"), ("test/accuracy", "test_accuracy")]
                out += [(r["step"], tag, f32(r[key])) for tag, key in tags]
    return out


def same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def main():
    run = sys.argv[1]
    event_class = build_event_class()
    got, versions, first = [], 0, None
    for i, data in enumerate(records(f"{run}/events.out.tfevents.shardnet")):
        ev = event_class()
        ev.ParseFromString(data)
        if i == 0:
            first = ev.file_version
        if ev.file_version:
            versions += 1
            continue
        for v in ev.summary.value:
            got.append((ev.step, v.tag, v.simple_value))
    if first != "brain.Event:2":
        sys.exit(f"tfevents_check: the first record's file_version is {first!r}, not 'brain.Event:2'")
    want = expected(f"{run}/metrics.jsonl")
    if len(got) != len(want):
        sys.exit(f"tfevents_check: {len(got)} scalars in the event file, {len(want)} in the metrics file")
    for k, (g, w) in enumerate(zip(got, want)):
        if g[0] != w[0] or g[1] != w[1] or not same(g[2], w[2]):
            sys.exit(f"tfevents_check: scalar {k}: event file {g}, metrics file {w}")
    steps = sorted({g[0] for g in got})
    print(f"tfevents_check: {len(got)} scalars at {len(steps)} steps ({steps[0]}..{steps[-1]}) match "
          f"the metrics file; {versions} file_version record(s); every CRC good")


if __name__ == "__main__":
    main()
