#!/usr/bin/env python3
"""Extract the small demo sample shipped in Sources/OutpostData/Samples/.

Reads the real data in ../shared/data (relative to the repository root) and
writes, in the official layouts:

  Samples/mnist/t10k-{images-idx3,labels-idx1}-ubyte.gz   first 100 MNIST test images
  Samples/fashion-mnist/t10k-...-ubyte.gz                 first 200 Fashion-MNIST test images
  Samples/photos32/photos32.bin + classes.txt             first 10 patches of each of the 6 classes

Standard library only. Gzip members are written with mtime 0 so the output is
byte-for-byte reproducible.

Usage: python3 scripts/data/extract_samples.py [--data ../shared/data]
"""
import argparse
import gzip
import io
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "Sources", "OutpostData", "Samples")


def read_idx(path, rank):
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic = raw[:4]
    if magic != bytes([0, 0, 8, rank]):
        sys.exit(f"{path}: unexpected IDX magic {magic.hex()}")
    dims = struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank])
    return dims, raw[4 + 4 * rank:]


def gz(data):
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as handle:
        handle.write(data)
    return buffer.getvalue()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    print(f"wrote {os.path.relpath(path, ROOT)} ({len(data)} bytes)")


def idx_sample(data_dir, name, count):
    source = os.path.join(data_dir, name)
    (n, rows, cols), pixels = read_idx(os.path.join(source, "t10k-images-idx3-ubyte.gz"), 3)
    (m,), labels = read_idx(os.path.join(source, "t10k-labels-idx1-ubyte.gz"), 1)
    if n != m or count > n:
        sys.exit(f"{name}: {n} images, {m} labels, {count} requested")
    size = rows * cols
    images = struct.pack(">BBBBIII", 0, 0, 8, 3, count, rows, cols) + pixels[:count * size]
    label_file = struct.pack(">BBBBI", 0, 0, 8, 1, count) + labels[:count]
    target = os.path.join(SAMPLES, name)
    write(os.path.join(target, "t10k-images-idx3-ubyte.gz"), gz(images))
    write(os.path.join(target, "t10k-labels-idx1-ubyte.gz"), gz(label_file))


def photos_sample(data_dir, per_class):
    source = os.path.join(data_dir, "photos32")
    with open(os.path.join(source, "photos32.bin"), "rb") as handle:
        raw = handle.read()
    record = 1 + 3 * 32 * 32
    if len(raw) % record:
        sys.exit("photos32.bin is not a whole number of records")
    records = [raw[i:i + record] for i in range(0, len(raw), record)]
    chosen = []
    for label in range(6):
        of_class = [r for r in records if r[0] == label]
        chosen += of_class[:per_class]
    target = os.path.join(SAMPLES, "photos32")
    write(os.path.join(target, "photos32.bin"), b"".join(chosen))
    with open(os.path.join(source, "classes.txt"), "rb") as handle:
        write(os.path.join(target, "classes.txt"), handle.read())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    args = parser.parse_args()
    idx_sample(args.data, "mnist", 100)
    idx_sample(args.data, "fashion-mnist", 200)
    photos_sample(args.data, 10)


if __name__ == "__main__":
    main()
