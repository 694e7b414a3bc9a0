#!/usr/bin/env python3
"""Unpacks a `faceanime pack-cache` folder into the PGFG tensor-shard cache.

For a GPU machine whose only LibTorch is the one inside PyTorch: the cache is
built on the CPU machine (`faceanime gen-data`), packed there (`faceanime
pack-cache`: WebP, about 1/20 of the raw shards), carried over, and unpacked
here into the layout of gen/pgfg/dataset.h, which pgfg_train reads:

    python3 gen/pgfg/unpack_cache.py PACKED_DIR CACHE_DIR
    build-pgfg/pgfg_train --data CACHE_DIR ...

Needs PyTorch, NumPy and Pillow (with WebP). Shards are written as
TorchScript archives of uint8 buffers (what C++'s
torch::serialize::InputArchive reads), with format_version = 1. Images:
source/warp/target RGB; prior_s/prior_t RGB and mask_s/mask_t from RGBA
files (mask = alpha, lossless), the prior's colours set to black where the
mask is 0 (as gen-data writes them; the lossy coding bleeds into those
pixels). manifest.tsv is written from pack.tsv's first seven columns.
"""
import argparse
import csv
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image

SHARD_FORMAT_VERSION = 1  # gen/pgfg/dataset.h, kShardFormatVersion.
MANIFEST = ["split", "shard", "index", "kind", "name", "source_frame", "target_frame"]
COLUMNS = MANIFEST + ["source", "prior_s", "warp", "prior_t", "target"]


class _Shard(torch.nn.Module):
    """Holds a shard's tensors as buffers; scripted and saved, it is a C++ archive."""

    def __init__(self, tensors):
        super().__init__()
        for name, tensor in tensors.items():
            self.register_buffer(name, tensor)

    def forward(self) -> torch.Tensor:
        return self.format_version


def _read(folder, name, mode):
    path = os.path.join(folder, name)
    try:
        with Image.open(path) as image:
            if image.mode != mode:
                raise ValueError(f"is {image.mode}, expected {mode}")
            return np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError) as error:
        raise SystemExit(f"unpack_cache: cannot read '{path}' ({error}); re-run faceanime pack-cache")


def _colours(rgba):
    """The RGB of an RGBA prior, black where the mask (alpha) is 0."""
    return np.where(rgba[..., 3:] > 0, rgba[..., :3], 0).astype(np.uint8)


def _chw(array):
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def unpack(packed, out):
    table = os.path.join(packed, "pack.tsv")
    if not os.path.isfile(table):
        raise SystemExit(f"unpack_cache: '{table}' is missing: '{packed}' is not a folder written by "
                         "faceanime pack-cache")
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows or list(rows[0].keys()) != COLUMNS:
        raise SystemExit(f"unpack_cache: '{table}' has no samples or not the columns {COLUMNS}")
    shards = {}
    for row in rows:
        shards.setdefault((row["split"], int(row["shard"])), []).append(row)
    os.makedirs(out, exist_ok=True)
    size = None
    total = 0
    for (split, shard), members in sorted(shards.items()):
        members.sort(key=lambda r: int(r["index"]))
        indices = [int(r["index"]) for r in members]
        if indices != list(range(len(members))):
            raise SystemExit(f"unpack_cache: '{table}': shard {split}/{shard} has indices {indices[:5]}..., "
                             "not 0..n-1")
        fields = {name: [] for name in ("source", "warp", "prior_s", "mask_s", "prior_t", "mask_t", "target")}
        for r in members:
            source = _read(packed, r["source"], "RGB")
            prior_s = _read(packed, r["prior_s"], "RGBA")
            warp = _read(packed, r["warp"], "RGB")
            prior_t = _read(packed, r["prior_t"], "RGBA")
            target = _read(packed, r["target"], "RGB")
            for name, image in (("source", source), ("warp", warp), ("prior_s", _colours(prior_s)),
                                ("mask_s", prior_s[..., 3:]), ("prior_t", _colours(prior_t)),
                                ("mask_t", prior_t[..., 3:]), ("target", target)):
                if image.shape[0] != image.shape[1] or (size is not None and image.shape[0] != size):
                    raise SystemExit(f"unpack_cache: {split}/{shard}/{r['index']} '{name}' is "
                                     f"{image.shape[1]}x{image.shape[0]}, expected square {size or ''}")
                size = image.shape[0]
                fields[name].append(_chw(image))
        tensors = {name: torch.stack(images) for name, images in fields.items()}
        tensors["format_version"] = torch.tensor([SHARD_FORMAT_VERSION], dtype=torch.int64)
        os.makedirs(os.path.join(out, split), exist_ok=True)
        path = os.path.join(out, split, f"shard_{shard:05d}.pt")
        torch.jit.save(torch.jit.script(_Shard(tensors)), path)
        total += len(members)
        print(f"unpack_cache: {path}: {len(members)} samples", file=sys.stderr)
    with open(os.path.join(out, "manifest.tsv"), "w", newline="") as f:
        f.write("\t".join(MANIFEST) + "\n")
        for row in sorted(rows, key=lambda r: (r["split"], int(r["shard"]), int(r["index"]))):
            f.write("\t".join(row[c] for c in MANIFEST) + "\n")
    for name in ("README.txt", "PACKED.txt", "recognition.pt"):
        if os.path.isfile(os.path.join(packed, name)):
            shutil.copyfile(os.path.join(packed, name), os.path.join(out, name))
    print(f"unpack_cache: {total} samples of {size}x{size} in {len(shards)} shard(s); wrote {out}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packed", help="folder written by faceanime pack-cache")
    parser.add_argument("out", help="cache folder to write (train/, heldout/, manifest.tsv)")
    args = parser.parse_args()
    unpack(args.packed, args.out)


if __name__ == "__main__":
    main()
