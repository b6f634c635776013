"""RFC 6962 (section 2.1) Merkle hash trees: pure functions, no Django, so clients and tests can import them alone.

    leaf hash = SHA-256(0x00 || leaf bytes)        node hash = SHA-256(0x01 || left || right)

The tree over n leaves splits at the largest power of two below n (RFC 6962 2.1). Built level by level, that is
the same as pairing neighbours and carrying an unpaired last node up unchanged, which is what `MerkleTree` does:
O(n) hashes for the root and every audit path together. Proofs are checked with RFC 9162 2.1.3.2's algorithm.
"""
from collections.abc import Sequence
from hashlib import sha256

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(leaf: bytes) -> bytes:
    return sha256(LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(NODE_PREFIX + left + right).digest()


class MerkleTree:
    """Every level of the tree over `leaves` (already encoded bytes), leaves first."""

    def __init__(self, leaves: Sequence[bytes]):
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        level = [leaf_hash(leaf) for leaf in leaves]
        self.levels = [level]
        while len(level) > 1:
            paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                paired.append(level[-1])
            self.levels.append(paired)
            level = paired

    @property
    def size(self) -> int:
        return len(self.levels[0])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def path(self, index: int) -> list[bytes]:
        """The audit path of leaf `index`, from its sibling up to the child of the root (RFC 6962 2.1.1)."""
        if not 0 <= index < self.size:
            raise IndexError(index)
        hashes = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                hashes.append(level[sibling])
            index //= 2
        return hashes


def root_from_path(*, leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that `path` leads to from `leaf` at `index` in a tree of `size` leaves (RFC 9162 2.1.3.2), or None
    when the path cannot belong to such a tree (wrong length, index out of range)."""
    if not 0 <= index < size:
        return None
    fn, sn = index, size - 1
    digest = leaf_hash(leaf)
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            digest = node_hash(sibling, digest)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            digest = node_hash(digest, sibling)
        fn >>= 1
        sn >>= 1
    return digest if sn == 0 else None
