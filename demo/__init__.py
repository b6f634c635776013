"""The demo data of `make run` (`manage.py seed_demo`): a top-layer app, as the demo files through registry,
consent, domains and keys alike (docs/architecture.md)."""
