#!/usr/bin/python3
"""make_kquant_ref.py - outside-reference test vectors for the GGUF K-quant blocks.

For Q4_K (type 12, 144 bytes / 256 weights), Q5_K (type 13, 176 bytes) and Q6_K (type 14,
210 bytes) it makes 6 blocks of random bytes (fixed numpy seed, every bit random) except for
the f16 super-block factors, which are set to sane values with |v| in [1e-3, 0.05]:
Q4_K/Q5_K d (byte 0) and dmin (byte 2), both positive; Q6_K d (byte 208), random sign.
It dequantizes them with llama.cpp's Python reference (gguf-py/gguf/quants.py) and writes

    <out>/<type>.blocks   the 6 raw blocks
    <out>/<type>.f32      6*256 little-endian float32, the reference dequantization

with <type> = q4_k, q5_k, q6_k. The reference is NOT part of this repository: --ref-dir must be
a directory that holds llama.cpp's gguf-py `gguf` package (at least gguf/quants.py with the
constants and lazy modules it imports); it is put first on the import path (as PYTHONPATH).

    /usr/bin/python3 tools/ref/make_kquant_ref.py --ref-dir /path/to/gguf-py [--out tests/data/kquant]
"""
import argparse
import os
import sys

import numpy as np

N_BLOCKS = 6
SEED = 20240612
# name, ggml type, block bytes, offsets of the f16 factors, factors positive?
TYPES = [
    ("q4_k", 12, 144, (0, 2), True),
    ("q5_k", 13, 176, (0, 2), True),
    ("q6_k", 14, 210, (208,), False),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref-dir", required=True, help="directory holding llama.cpp gguf-py's gguf package")
    ap.add_argument("--out", default="tests/data/kquant")
    a = ap.parse_args()
    sys.path.insert(0, os.path.abspath(a.ref_dir))
    from gguf import quants
    from gguf.constants import GGMLQuantizationType, GGML_QUANT_SIZES

    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for name, qtype, nbytes, f16_offs, positive in TYPES:
        qt = GGMLQuantizationType(qtype)
        assert GGML_QUANT_SIZES[qt] == (256, nbytes), (name, GGML_QUANT_SIZES[qt])
        blocks = rng.integers(0, 256, size=(N_BLOCKS, nbytes), dtype=np.uint8)
        for off in f16_offs:
            v = rng.uniform(1e-3, 0.05, size=N_BLOCKS)
            if not positive:
                v *= rng.choice([-1.0, 1.0], size=N_BLOCKS)
            blocks[:, off:off + 2] = v.astype("<f2").view(np.uint8).reshape(N_BLOCKS, 2)
        ref = quants.dequantize(blocks, qt)  # (N_BLOCKS, 256) float32
        assert ref.shape == (N_BLOCKS, 256) and ref.dtype == np.float32
        assert np.all(np.isfinite(ref))
        with open(os.path.join(a.out, name + ".blocks"), "wb") as f:
            f.write(blocks.tobytes())
        with open(os.path.join(a.out, name + ".f32"), "wb") as f:
            f.write(ref.astype("<f4").tobytes())
        print(f"{name}: {N_BLOCKS} blocks, max|x| = {np.abs(ref).max():.6g}")


if __name__ == "__main__":
    main()
