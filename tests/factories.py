import factory
from django.contrib.auth import get_user_model

from registry.models import Holder, Membership


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.django.Password("correct-horse-battery")


class HolderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Holder
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"holder-{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())
    kind = "studio"
    country = "JP"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # Through the service, so that holders made in tests are audited like real ones.
        from registry.services import holder_create

        existing = model_class.objects.filter(code=kwargs["code"]).first()
        return existing or holder_create(**kwargs)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    holder = factory.SubFactory(HolderFactory)
    role = "editor"
