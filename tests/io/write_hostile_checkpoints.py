"""Writes malformed and unusual torch.save-style checkpoints for the C++ reader tests.

Usage: write_hostile_checkpoints.py OUT_DIR
Each file is a zip like torch.save's (built by hand here so that every field can be set),
with a hand-assembled data.pkl. expected.json lists, per file, "ok" or the error text the
reader must report.
"""
import io
import json
import os
import struct
import sys
import zlib

import torch


# --- a minimal zip writer: stored or deflated records, optional ZIP64 structures everywhere
def zip_bytes(records, zip64=False, deflate=()):
    out = io.BytesIO()
    central = []
    for name, data in records:
        name_b = name.encode()
        crc = zlib.crc32(data)
        method = 8 if name in deflate else 0
        payload = zlib.compress(data)[2:-4] if method == 8 else data
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0, crc,
                              len(payload), len(data), len(name_b), 0))
        out.write(name_b)
        out.write(payload)
        central.append((name_b, crc, method, len(payload), len(data), offset))
    cd_offset = out.tell()
    for name_b, crc, method, csize, usize, offset in central:
        extra = b""
        if zip64:
            extra = struct.pack("<HHQQQ", 1, 24, usize, csize, offset)
            csize = usize = offset = 0xFFFFFFFF
        out.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0, crc,
                              csize, usize, len(name_b), len(extra), 0, 0, 0, 0, offset))
        out.write(name_b)
        out.write(extra)
    cd_size = out.tell() - cd_offset
    count = len(central)
    if zip64:
        zip64_offset = out.tell()
        out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, cd_size, cd_offset))
        out.write(struct.pack("<IIQI", 0x07064B50, 0, zip64_offset, 1))
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    else:
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, cd_size, cd_offset, 0))
    return out.getvalue()


# --- hand-assembled pickles (protocol 2 opcodes, as torch.save emits them)
def s(text):
    b = text.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def i(v):
    return b"J" + struct.pack("<i", v)


def tup(items):
    return b"(" + b"".join(items) + b"t"


def tensor(key, numel, size, stride, offset=0, storage="FloatStorage", rebuild="_rebuild_tensor_v2"):
    pid = tup([s("storage"), b"ctorch\n" + storage.encode() + b"\n", s(key), s("cpu"), i(numel)])
    args = [pid + b"Q", i(offset), tup([i(v) for v in size]), tup([i(v) for v in stride])]
    if rebuild != "_rebuild_tensor":
        args += [b"\x89", b"ccollections\nOrderedDict\n)R"]
    return b"ctorch._utils\n" + rebuild.encode() + b"\n" + tup(args) + b"R"


def state(entries):
    return b"\x80\x02}(" + b"".join(s(k) + v for k, v in entries) + b"u."


def checkpoint(pickle, storages, **kw):
    records = [("archive/data.pkl", pickle), ("archive/byteorder", b"little")]
    records += [(f"archive/data/{k}", v) for k, v in storages.items()]
    records += [("archive/version", b"3\n")]
    return zip_bytes(records, **kw)


FLOATS = struct.pack("<6f", 0, 1, 2, 3, 4, 5)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    files = {}

    def write(name, data, expect):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        files[name] = expect

    good = state([("w", tensor("0", 6, [2, 3], [3, 1]))])
    write("handmade.bin", checkpoint(good, {"0": FLOATS}), "ok")
    write("zip64.bin", checkpoint(good, {"0": FLOATS}, zip64=True), "ok")
    write("old_rebuild.bin", checkpoint(state([("w", tensor("0", 6, [3, 2], [1, 3], rebuild="_rebuild_tensor"))]),
                                        {"0": FLOATS}), "ok")
    write("offset_view.bin", checkpoint(state([("w", tensor("0", 6, [2], [2], offset=1))]), {"0": FLOATS}), "ok")
    write("compressed.bin", checkpoint(good, {"0": FLOATS}, deflate=("archive/data/0",)), "compressed")
    write("missing_record.bin", checkpoint(good, {}), "no record 'archive/data/0'")
    write("short_record.bin", checkpoint(good, {"0": FLOATS[:20]}), "pickle declares 24")
    write("view_out_of_bounds.bin", checkpoint(state([("w", tensor("0", 6, [3, 3], [3, 1]))]), {"0": FLOATS}),
          "view needs 36 bytes")
    write("offset_out_of_bounds.bin", checkpoint(state([("w", tensor("0", 6, [2], [1], offset=5))]), {"0": FLOATS}),
          "view needs")
    write("negative_stride.bin", checkpoint(state([("w", tensor("0", 6, [2], [-1], offset=3))]), {"0": FLOATS}),
          "negative stride")
    write("negative_size.bin", checkpoint(state([("w", tensor("0", 6, [-2], [1]))]), {"0": FLOATS}), "negative size")
    write("rank_mismatch.bin", checkpoint(state([("w", tensor("0", 6, [2, 3], [1]))]), {"0": FLOATS}), "strides")
    write("unknown_storage.bin", checkpoint(state([("w", tensor("0", 6, [6], [1], storage="ComplexFloatStorage"))]),
                                            {"0": FLOATS}), "unsupported storage type torch.ComplexFloatStorage")
    write("duplicate_name.bin", checkpoint(state([("w", tensor("0", 6, [6], [1])), ("w", tensor("0", 6, [6], [1]))]),
                                           {"0": FLOATS}), "duplicate tensor name 'w'")
    marker = os.path.join(out, "pwned")
    evil = b"\x80\x02}(" + s("w") + b"cos\nsystem\n" + tup([s("touch " + marker)]) + b"Ru."
    write("evil_global.bin", checkpoint(evil, {}), "unsupported callable os.system")
    write("not_a_dict.bin", checkpoint(b"\x80\x02]" + tensor("0", 6, [6], [1]) + b"a.", {"0": FLOATS}),
          "not a dict")
    write("deep_nesting.bin", checkpoint(b"\x80\x02" + b"]" * 5000 + b"a" * 4999 + b".", {}), "nested deeper")
    write("recursive.bin", checkpoint(b"\x80\x02}q\x00" + s("self") + b"h\x00s.", {}), "a container inside itself")  # refused when stored (it leaked before)
    write("bad_opcode.bin", checkpoint(b"\x80\x02}\xff.", {}), "unsupported pickle opcode 0xff")
    write("unterminated_pickle.bin", checkpoint(b"\x80\x02}(" + s("w"), {}), "pickle ends early")
    write("stack_underflow.bin", checkpoint(b"\x80\x02s.", {}), "stack underflow")
    write("bad_memo.bin", checkpoint(b"\x80\x02h\x07.", {}), "memo entry 7")
    write("big_endian.bin", zip_bytes([("archive/data.pkl", good), ("archive/byteorder", b"big"),
                                       ("archive/data/0", FLOATS)]), "byteorder 'big'")
    write("no_data_pkl.bin", zip_bytes([("archive/other.pkl", good)]), "without <folder>/data.pkl")
    write("garbage.bin", b"PK\x03\x04" + b"\x00" * 100, "no end of central directory")
    write("truncated_directory.bin", checkpoint(good, {"0": FLOATS})[:-30], "")

    legacy = os.path.join(out, "legacy.bin")
    torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    files["legacy.bin"] = "legacy"

    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(files, f, indent=1)


if __name__ == "__main__":
    main()
