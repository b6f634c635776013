"""Bulk claim submissions (CSV)."""
