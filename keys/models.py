"""API keys for AI developers."""
