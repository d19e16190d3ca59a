"""The joint record: a signed, hash-chained, Merkle-checkpointed ledger each party can verify alone.

Pure code — no database, no web framework, no clock.  The service writes entries with
:func:`make_entry` and checkpoints them with :class:`MerkleTree` and
:func:`sign_tree_head`; anyone checks an export offline with :func:`verify_export`.
The format: :mod:`.entry` (entries and the chain), :mod:`.merkle` (checkpoints),
:mod:`.treehead` (signed tree heads), :mod:`.verify` (the export, and what is checked).
"""

from .canonical import GENESIS_PREV, b64url_decode, b64url_encode, canonical, commitment, format_at, sha256_hex
from .entry import KINDS, Entry, make_entry, redact, request_digest
from .keys import Signer, VerifyKey, generate_key, kid_of
from .merkle import MerkleTree, verify_consistency, verify_inclusion
from .treehead import TreeHead, sign_tree_head, verify_tree_head
from .verify import EXPORT_FORMAT, Report, verify_export

__all__ = [
    "EXPORT_FORMAT",
    "GENESIS_PREV",
    "KINDS",
    "Entry",
    "MerkleTree",
    "Report",
    "Signer",
    "TreeHead",
    "VerifyKey",
    "b64url_decode",
    "b64url_encode",
    "canonical",
    "commitment",
    "format_at",
    "generate_key",
    "kid_of",
    "make_entry",
    "redact",
    "request_digest",
    "sha256_hex",
    "sign_tree_head",
    "verify_consistency",
    "verify_export",
    "verify_inclusion",
    "verify_tree_head",
]
