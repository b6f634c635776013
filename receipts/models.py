"""Signing keys for receipts."""
