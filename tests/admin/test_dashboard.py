"""The holder's dashboard (issue 17): the admin index shows a holder's users how often AI developers asked about
their works, with what answers, where and who (by name only when the organisation agreed); operators see the whole
registry. Personas: Studio Kaze and Hoshi Publishing, who never see each other's figures."""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from consent.models import LookupCount, LookupOrganisationCount
from keys.services import organisation_ensure

pytestmark = pytest.mark.django_db


@pytest.fixture
def figures(studio_kaze, hoshi_pub, make_work):
    """Kaze: 7 denied (5 pointed to its licensing URL) + 2 allowed; Hoshi: 40 allowed. Open Labs agreed to be
    named, Quiet Labs did not."""
    today = timezone.now().date()
    kaze_work = make_work(studio_kaze.holder, "SK-1", title="Kaze no Oto")
    hoshi_work = make_work(hoshi_pub.holder, "HP-1", title="Hoshi no Umi")
    open_labs = organisation_ensure(name="Open Labs")
    open_labs.name_shown_to_holders = True
    open_labs.save()
    quiet = organisation_ensure(name="Quiet Labs")

    def count(holder, work, day, outcome, n, *, purpose="train-ai", jurisdiction="JP", pointed=False):
        LookupCount.objects.create(holder=holder, work=work, day=day, purpose=purpose, jurisdiction=jurisdiction,
                                   outcome=outcome, pointed_to_licence=pointed, count=n)

    count(studio_kaze.holder, kaze_work, today, "denied", 5, pointed=True)
    count(studio_kaze.holder, kaze_work, today - timedelta(days=3), "denied", 2, purpose="train-genai",
          jurisdiction="EU")
    count(studio_kaze.holder, kaze_work, today, "allowed", 2, purpose="search", jurisdiction="US")
    count(hoshi_pub.holder, hoshi_work, today, "allowed", 40)
    LookupOrganisationCount.objects.create(holder=studio_kaze.holder, organisation=open_labs, day=today,
                                           outcome="denied", count=4)
    LookupOrganisationCount.objects.create(holder=studio_kaze.holder, organisation=quiet, day=today,
                                           outcome="denied", count=3)
    LookupOrganisationCount.objects.create(holder=hoshi_pub.holder, organisation=quiet, day=today,
                                           outcome="allowed", count=40)
    return kaze_work, hoshi_work


def dashboard(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response.context["report"], response.content.decode()


def test_a_studio_editor_sees_her_works_figures_and_never_another_holders(login, studio_kaze, figures):
    report, page = dashboard(login(studio_kaze.user))
    assert (report.total, report.by_outcome, report.pointed_to_licence) == (9, {"denied": 7, "allowed": 2}, 5)
    assert [row["purpose"] for row in report.by_purpose] == ["train-ai", "search", "train-genai"]
    assert {row["jurisdiction"]: row["total"] for row in report.by_jurisdiction} == {"JP": 5, "US": 2, "EU": 2}
    assert [row["title"] for row in report.top_works] == ["Kaze no Oto"]
    assert sum(report.by_day["denied"]) == 7 and report.by_day["denied"][-1] == 5
    assert "Hoshi no Umi" not in page and ">40<" not in page
    assert 'id="dashboard-data"' in page and "consent/vendor/chartjs/chart.umd.js" in page


def test_the_publisher_sees_only_its_own_figures(login, hoshi_pub, figures):
    report, page = dashboard(login(hoshi_pub.user))
    assert (report.total, report.by_outcome) == (40, {"allowed": 40})
    assert "Kaze no Oto" not in page


def test_an_organisation_is_named_to_a_holder_only_if_it_agreed(login, studio_kaze, figures):
    report, page = dashboard(login(studio_kaze.user))
    assert report.organisations == [{"name": "Open Labs", "total": 4, "denied": 4},
                                    {"name": None, "total": 3, "denied": 3}]
    assert "Open Labs" in page and "Quiet Labs" not in page
    assert "AI developers who did not share their name" in page


def test_an_operator_sees_the_whole_registry_with_every_name(login, operator, figures):
    report, page = dashboard(login(operator))
    assert report.total == 49
    assert {row["name"] for row in report.organisations} == {"Open Labs", "Quiet Labs"}
    assert "Kaze no Oto" in page and "Hoshi no Umi" in page


def test_the_csv_download_holds_the_holders_figures_only(login, studio_kaze, figures):
    response = login(studio_kaze.user).get(reverse("admin:lookup-statistics-csv") + "?days=7")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8")
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0] == "day,purpose,jurisdiction,outcome,pointed_to_licence,lookups"
    assert sum(int(line.rsplit(",", 1)[1]) for line in lines[1:]) == 9
    assert len(lines) == 4


def test_the_dashboard_reads_in_japanese(login, studio_kaze, figures, compiled_translations):
    client = login(studio_kaze.user)
    client.cookies["django_language"] = "ja"
    _, page = dashboard(client)
    assert "AI 開発者による作品の照会" in page
    assert "CSV をダウンロード" in page


def test_the_admin_answers_at_slash_admin_too(client, studio_kaze):
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"] == "/"
    response = client.get("/admin/registry/work/?q=kaze")
    assert response["Location"] == "/registry/work/?q=kaze"
    assert client.get("/admin//evil.example/")["Location"] == "/evil.example/"  # never another site
    assert client.get("/admin/login/", follow=True).status_code == 200


def test_the_figures_cost_a_fixed_number_of_queries_whatever_the_rows(studio_kaze, figures, make_work,
                                                                     django_assert_num_queries):
    """Rule: the dashboard aggregates in the database; more works and days add no query."""
    from consent.usage_reports import lookup_report, report_period

    since, until = report_period(30)
    with django_assert_num_queries(6):
        lookup_report(holder_ids={studio_kaze.holder.pk}, since=since, until=until)
    today = timezone.now().date()
    for n in range(20):
        work = make_work(studio_kaze.holder, f"MORE-{n}")
        LookupCount.objects.create(holder=studio_kaze.holder, work=work, day=today - timedelta(days=n % 30),
                                   purpose="tdm", jurisdiction="FR", outcome="allowed", count=n + 1)
    with django_assert_num_queries(6):
        report = lookup_report(holder_ids={studio_kaze.holder.pk}, since=since, until=until)
    assert report.total == 9 + sum(range(1, 21))
