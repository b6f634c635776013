"""The bottom layer: small helpers every app of ours may use and that know nothing of the domain
(docs/architecture.md). It imports no other app of the project."""
