from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The README's demo data (`manage.py seed_demo`). Above every domain app, as it files through all of them."""

    name = "demo"
    verbose_name = "Demo"
