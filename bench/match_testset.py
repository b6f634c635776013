"""Precision and recall of phash and PDQ on a procedural test set (docs/match.md, "Precision and recall").

    .venv/bin/python bench/match_testset.py [--images 300] [--seed 1]

Builds N procedural originals (demo/images.py: no licence to check, nothing committed), applies each
transformation of demo.images.TRANSFORMS, and computes the codes with registry.fingerprints (the server's and a
crawler's code path). Recall at distance d: the share of transformed copies within d of their original.
Precision at d: of all (copy, registered original) pairs within d, the share that are the right original; every
copy is compared with every original (N x N x transformations pairs). Also prints the smallest distance between
two different originals (the distance at which false matches start).

`pdq-dihedral` is PDQ as `POST /api/v1/match` uses it for a file (and a client sending `pdq_dihedral`): the copy's
eight dihedral PDQ codes (pdqhash.compute_dihedral) against each original's registered `pdq`, a pair's distance
being its nearest variant's. Its band row counts a copy as found when a variant within d shares a band.
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

BITS = {"phash": 64, "pdq": 256, "pdq-dihedral": 256}
DISTANCES = {"phash": (0, 2, 4, 6, 8, 10, 12, 14, 16), "pdq": (10, 20, 31, 40, 50, 60, 70, 80, 90),
             "pdq-dihedral": (10, 20, 31, 40, 50, 60, 70, 80, 90)}
VARIANTS = 8


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


def _variants(codes: list[dict], method: str) -> list[list[str]]:
    """Per image, the codes a query searches with: the eight dihedral PDQ codes, or the one code."""
    if method == "pdq-dihedral":
        return [c["pdq_dihedral"] for c in codes]
    return [[c[method]] for c in codes]


def _nearest(queries: list[list[str]], registered: np.ndarray, bits: int):
    """(queries x originals) distances, each a query's nearest variant's; and the distances per variant."""
    per_variant = [_distances(_bits([q[k] for q in queries], bits), registered) for k in range(len(queries[0]))]
    return np.minimum.reduce(per_variant), per_variant


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    originals = [procedural_image(args.seed * 100_000 + i) for i in range(args.images)]
    # dihedral=True adds pdq_dihedral; its first code is `pdq` itself, so one pass gives both methods' codes
    codes = [codes_for_bytes(image_bytes(im), dihedral=True) for im in originals]
    copies = {name: [codes_for_bytes(image_bytes(fn(im)), dihedral=True) for im in originals]
              for name, fn in TRANSFORMS.items()}
    print(f"{args.images} originals x {len(TRANSFORMS)} transformations, codes in "
          f"{time.perf_counter() - started:.1f} s")
    for method, bits in BITS.items():
        stored = "pdq" if method == "pdq-dihedral" else method  # what holders register
        registered_codes = [c[stored] for c in codes]
        registered = _bits(registered_codes, bits)
        own, _ = _nearest(_variants(codes, method), registered, bits)
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
            queries = _variants(copy_codes, method)
            distances, per_variant = _nearest(queries, registered, bits)
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
            for d in DISTANCES[method]:
                found = right <= d
                by_index = np.zeros(len(queries), dtype=bool)
                for k, variant in enumerate(per_variant):  # a variant within d that shares a band is returned
                    bands = _shares_band([q[k] for q in queries], registered_codes)
                    by_index |= (variant.diagonal() <= d) & bands
                band_found[d] += int((found & by_index).sum())
                band_total[d] += int(found.sum())
            print(f"| {name} | {int(np.median(right))} | " + " | ".join(cells) + " |")
        print("| pooled precision, all transformations | | " + " | ".join(
            f"{total_true[d] / total_hits[d]:.3f}" if total_hits[d] else "-" for d in DISTANCES[method]) + " |")
        print("| share of those found that the band index finds | | " + " | ".join(
            f"{band_found[d] / band_total[d]:.3f}" if band_total[d] else "-" for d in DISTANCES[method]) + " |")
    print(f"\ntotal {time.perf_counter() - started:.1f} s")

if __name__ == "__main__":
    main()
