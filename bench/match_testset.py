"""Precision and recall of phash and PDQ on a procedural test set (docs/match.md, "Precision and recall").

    .venv/bin/python bench/match_testset.py [--images 300] [--seed 1]

Builds N procedural originals (demo/images.py: no licence to check, nothing committed), applies each
transformation of demo.images.TRANSFORMS, and computes the codes with registry.fingerprints (the server's and a
crawler's code path). Recall at distance d: the share of transformed copies within d of their original.
Precision at d: of all (copy, registered original) pairs within d, the share that are the right original; every
copy is compared with every original (N x N x transformations pairs). Also prints the smallest distance between
two different originals (the distance at which false matches start).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from demo.images import TRANSFORMS, image_bytes, procedural_image  # noqa: E402
from registry.fingerprints import codes_for_bytes  # noqa: E402

BITS = {"phash": 64, "pdq": 256}
DISTANCES = {"phash": (0, 2, 4, 6, 8, 10, 12, 14, 16), "pdq": (10, 20, 31, 40, 50, 60, 70, 80, 90)}


def _bits(hex_codes: list[str], bits: int) -> np.ndarray:
    return np.array([[int(c, 16) >> (bits - 1 - i) & 1 for i in range(bits)] for c in hex_codes], dtype=np.uint8)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All pairwise Hamming distances (rows of a x rows of b)."""
    a, b = a.astype(np.int32), b.astype(np.int32)
    return (a[:, None, :] != b[None, :, :]).sum(axis=2)


def _shares_band(copies: list[str], originals: list[str]) -> np.ndarray:
    """Per copy: does it share at least one 16-bit band (4 hex digits at the same place) with its own original?
    That is what the band index of registry.models finds; the rest is missed whatever max_distance says."""
    return np.array([any(c[i:i + 4] == o[i:i + 4] for i in range(0, len(c), 4))
                     for c, o in zip(copies, originals, strict=True)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    originals = [procedural_image(args.seed * 100_000 + i) for i in range(args.images)]
    codes = [codes_for_bytes(image_bytes(im)) for im in originals]
    copies = {name: [codes_for_bytes(image_bytes(fn(im))) for im in originals] for name, fn in TRANSFORMS.items()}
    print(f"{args.images} originals x {len(TRANSFORMS)} transformations, codes in "
          f"{time.perf_counter() - started:.1f} s")
    for method, bits in BITS.items():
        registered = _bits([c[method] for c in codes], bits)
        own = _distances(registered, registered)
        np.fill_diagonal(own, bits)
        print(f"\n{method}: smallest distance between two different originals: {own.min()}; "
              f"1st percentile of those distances: {np.percentile(own[own < bits], 1):.0f}")
        print("| transformation | median distance | " + " | ".join(f"d<={d} R / P" for d in DISTANCES[method])
              + " |")
        print("|---|---|" + "---|" * len(DISTANCES[method]))
        total_hits = {d: 0 for d in DISTANCES[method]}
        total_true = {d: 0 for d in DISTANCES[method]}
        band_found = {d: 0 for d in DISTANCES[method]}
        band_total = {d: 0 for d in DISTANCES[method]}
        for name, copy_codes in copies.items():
            distances = _distances(_bits([c[method] for c in copy_codes], bits), registered)
            right = distances.diagonal()
            cells = []
            for d in DISTANCES[method]:
                recall = (right <= d).mean()
                within = (distances <= d).sum()
                true = (right <= d).sum()
                total_hits[d] += within
                total_true[d] += true
                precision = true / within if within else 1.0
                cells.append(f"{recall:.2f} / {precision:.2f}")
            bands = _shares_band([c[method] for c in copy_codes], [c[method] for c in codes])
            for d in DISTANCES[method]:
                found = right <= d
                band_found[d] += int((found & bands).sum())
                band_total[d] += int(found.sum())
            print(f"| {name} | {int(np.median(right))} | " + " | ".join(cells) + " |")
        print("| pooled precision, all transformations | | " + " | ".join(
            f"{total_true[d] / total_hits[d]:.3f}" if total_hits[d] else "-" for d in DISTANCES[method]) + " |")
        print("| share of those found that the band index finds | | " + " | ".join(
            f"{band_found[d] / band_total[d]:.3f}" if band_total[d] else "-" for d in DISTANCES[method]) + " |")
    print(f"\ntotal {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
