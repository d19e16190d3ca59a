"""Signed tree heads: the service's signed statement "the record had this many entries, with this root".

A party keeps the tree heads it was given.  Later, any export or consistency proof
must agree with them; if the service rewrote history, the root at that size differs.

The service signs ``canonical({"tree_size", "root", "at", "kid"})`` with its key ``kid``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import ValidationError
from .canonical import canonical, check_at, check_kid, check_sig, format_at, is_hex64
from .keys import Signer, VerifyKey

__all__ = ["TreeHead", "sign_tree_head", "verify_tree_head"]


@dataclass(frozen=True)
class TreeHead:
    """A signed tree head: ``tree_size`` entries whose Merkle root is ``root`` (hex)."""

    tree_size: int
    root: str
    at: str
    kid: str
    sig: str

    def signed_bytes(self) -> bytes:
        """What the service signs: ``canonical({"tree_size", "root", "at", "kid"})``."""
        return canonical({"tree_size": self.tree_size, "root": self.root, "at": self.at, "kid": self.kid})

    def to_dict(self) -> dict[str, Any]:
        """The tree head as JSON (the value of a ``{"tree_head": …}`` export line)."""
        return {"tree_size": self.tree_size, "root": self.root, "at": self.at, "kid": self.kid, "sig": self.sig}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TreeHead:
        """Read a tree head; a ``ValidationError`` names the first field that is wrong."""
        if not isinstance(data, Mapping):
            raise ValidationError("tree_head", "must be a JSON object")
        for name in ("tree_size", "root", "at", "kid", "sig"):
            if name not in data:
                raise ValidationError(name, "is missing")
        extra = sorted(set(data) - {"tree_size", "root", "at", "kid", "sig"})
        if extra:
            raise ValidationError(extra[0], "is not a field of a tree head")
        size = data["tree_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1 or size > 2**53 - 1:
            raise ValidationError("tree_size", "must be a whole number from 1")
        if not is_hex64(data["root"]):
            raise ValidationError("root", "must be 64 lowercase hexadecimal characters")
        return cls(size, data["root"], check_at(data["at"]), check_kid(data["kid"]), check_sig(data["sig"]))


def sign_tree_head(tree_size: int, root: str, at: datetime | str, signer: Signer) -> TreeHead:
    """The service's signed tree head for the first ``tree_size`` entries, whose root is ``root``."""
    stamp = format_at(at) if isinstance(at, datetime) else check_at(at)
    unsigned = TreeHead(tree_size, root, stamp, signer.kid, "")
    return TreeHead(tree_size, root, stamp, signer.kid, signer.sign(unsigned.signed_bytes()))


def verify_tree_head(head: TreeHead, key: VerifyKey) -> bool:
    """Whether ``head`` is signed by ``key`` (and names it)."""
    return head.kid == key.kid and key.verify(head.sig, head.signed_bytes())
