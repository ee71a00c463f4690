"""Tamper-evident records (4-8-6(4)): RFC 9162 Merkle tree over salted commitments, signed
checkpoints in the C2SP signed-note format, proofs, full verification, exports, retention."""
