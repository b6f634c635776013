import json
from datetime import timedelta
from io import StringIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from consent.licence_services import licence_file
from consent.request_services import request_open
from consent.services import declaration_file
from demo.images import image_bytes, procedural_image
from registry.fingerprints import codes_for_bytes
from registry.management.output import KyodakuCommand
from registry.models import Holder, Organisation
from registry.services import holder_create, holder_user_set, mandate_create, work_register

DEMO_PASSWORD = "kyodaku-demo"
DEMO_DOMAIN = "studio-kaze.example"
# The AI developer's organisation the demo key belongs to: it holds one licence (Hoshi Publishing licenses
# Starfall Academy 2 for AI training in Japan) and has one open permission request (to Studio Kaze, for
# "Rain, Again"), so a newcomer sees both sides (docs/licences.md).
DEMO_ORGANISATION = "Mirai AI (demo)"
LICENSED_ID = "isbn:978-4-9918609-1-1"

HOLDERS = [
    ("jaa", "Japan Animation Rights Association", "collective", "JP", "https://jaa.example/licensing"),
    ("studio-kaze", "Studio Kaze", "studio", "JP", "https://studio-kaze.example/licensing"),
    ("tsubasa-anime", "Tsubasa Animation", "studio", "JP", ""),
    ("hoshi-pub", "Hoshi Publishing", "publisher", "JP", "https://hoshi-pub.example/licensing"),
    ("neko-records", "Neko Records", "label", "JP", ""),
]

# (holder, work_ref, title, original title, kind, identifiers)
WORKS = [
    ("studio-kaze", "KZ-0001", "The Wind Between Towers", "塔のあいだの風", "film",
     ["isbn:978-4-9952601-8-2", "url:https://studio-kaze.example/works/kz-0001"]),
    ("studio-kaze", "KZ-0002", "Lantern Festival", "灯籠祭り", "series", ["isbn:9784991590832"]),
    ("studio-kaze", "KZ-0003", "Rain, Again", "また雨", "illustration",
     ["sha256:9f86d081884c7d659a2feb1a1c0c82b85d34c8c1a8f42f7a91a86c0e9e0b0a3b"]),
    ("studio-kaze", "KZ-SITE", "Studio Kaze website", "", "website", ["domain:studio-kaze.example"]),
    ("studio-kaze", "KZ-PRESS", "Studio Kaze press kit", "", "website",
     ["url-prefix:https://studio-kaze.example/press/"]),
    ("tsubasa-anime", "TB-0100", "Skyward Engineers", "空の技師たち", "series",
     ["url-prefix:https://tsubasa-anime.example/skyward/"]),
    ("tsubasa-anime", "TB-0101", "Skyward Engineers: Episode 1", "空の技師たち 第1話", "episode",
     ["url:https://tsubasa-anime.example/skyward/ep1"]),
    ("hoshi-pub", "HP-100", "Starfall Academy 1", "星降る学園 1", "manga", ["isbn:978-4-9901661-3-7"]),
    ("hoshi-pub", "HP-101", "Starfall Academy 2", "星降る学園 2", "manga", ["isbn:978-4-9918609-1-1"]),
    ("hoshi-pub", "HP-102", "Starfall Academy 3", "星降る学園 3", "manga", ["isbn:9784993909960"]),
    ("neko-records", "NR-001", "Evening Train", "夕方の電車", "recording", ["isrc:JP-K01-25-00001"]),
    ("neko-records", "NR-002", "Evening Train (Composition)", "夕方の電車", "music", ["iswc:T-034.524.680-1"]),
]

# Studio Kaze's key-frame stills, registered by their content codes (sha256, iscc, phash, pdq) only: the images are
# demo.images.procedural_image(seed), so `python -c "from demo.images import *; ..."` recreates them and a resized
# copy is found by POST /api/v1/match (docs/match.md). (holder, work_ref, title, original title, seed)
DEMO_STILLS = [
    ("studio-kaze", "KZ-0001-S1", "The Wind Between Towers: key frame 1", "塔のあいだの風 原画 1", 1001),
    ("studio-kaze", "KZ-0001-S2", "The Wind Between Towers: key frame 2", "塔のあいだの風 原画 2", 1002),
    ("studio-kaze", "KZ-0001-S3", "The Wind Between Towers: key frame 3", "塔のあいだの風 原画 3", 1003),
]

# (holder, work_ref or None for catalogue, purposes, jurisdiction, consent, licence URL, conditions)
DECLARATIONS = [
    ("studio-kaze", None, ["train-ai"], "*", "reserve", "https://studio-kaze.example/licensing", ""),
    ("studio-kaze", "KZ-0002", ["train-genai"], "JP", "grant", "https://studio-kaze.example/licensing",
     "Non-commercial research models only, attribution required"),
    ("studio-kaze", "KZ-SITE", ["search"], "*", "grant", "", ""),
    ("studio-kaze", "KZ-SITE", ["tdm"], "EU", "reserve", "https://studio-kaze.example/licensing", ""),
    ("studio-kaze", "KZ-PRESS", ["train-ai"], "*", "grant", "", "Press images may be used for training"),
    ("tsubasa-anime", None, ["tdm"], "EU", "reserve", "", ""),
    ("tsubasa-anime", "TB-0100", ["ai-use"], "*", "grant", "", "Retrieval with a link back only"),
    ("hoshi-pub", "HP-100", ["train-ai"], "JP", "reserve", "", ""),
    ("hoshi-pub", "HP-101", ["train-ai", "search"], "EU", "reserve", "", ""),
    ("hoshi-pub", "HP-102", ["search"], "*", "grant", "", ""),
    ("neko-records", None, ["train-genai"], "*", "reserve", "", ""),
    ("neko-records", "NR-001", ["train-ai"], "US", "grant", "", "Licensed through 2027 under agreement NR-2025-7"),
]


class Command(KyodakuCommand):
    help = ("Load a small, realistic demo: a collective with member studios under mandates, works with valid "
            "identifiers, grants and reservations, one open dispute, an operator login and an API key whose "
            "organisation holds one licence and one open permission request.")

    def handle(self, *args, **options):
        User = get_user_model()
        with transaction.atomic():
            created = not Holder.objects.filter(code="jaa").exists()
            if created:
                self._load()
            if not User.objects.filter(username="operator").exists():
                User.objects.create_superuser("operator", "operator@kyodaku.example", DEMO_PASSWORD)
        out = StringIO()
        call_command("create_api_key", "demo-developer", "--jurisdiction", "JP", "--organisation", DEMO_ORGANISATION,
                     "--json", stdout=out)
        key = json.loads(out.getvalue().strip().splitlines()[-1])["key"]
        payload = {"loaded": created, "operator": {"username": "operator", "password": DEMO_PASSWORD},
                   "holder_users": [{"username": u, "password": DEMO_PASSWORD} for u in ("kaze", "jaa", "hoshi")],
                   "api_key": key, "organisation": Organisation.objects.get(name=DEMO_ORGANISATION).code}
        base = settings.KYODAKU_BASE_URL.rstrip("/")  # what `make run HOST=...` serves (and receipts' `iss`)
        summary = "\n".join([
            "Demo data " + ("loaded." if created else "already present; left as it was."),
            f"Web admin: {base}/  operator / {DEMO_PASSWORD}",
            "Holder users (same password): kaze (Studio Kaze), jaa (the collective), hoshi (Hoshi Publishing)",
            f"API key (shown once): {key}",
            "Try: curl -H 'Authorization: Api-Key " + key + "' "
            f"'{base}/api/v1/lookup?id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JP'",
            f"The key belongs to the organisation {DEMO_ORGANISATION}, which holds a licence from Hoshi Publishing "
            "(Starfall Academy 2, AI training in Japan) and has an open permission request to Studio Kaze:",
            "  curl -H 'Authorization: Api-Key " + key + "' "
            f"'{base}/api/v1/lookup?id={LICENSED_ID}&purpose=train-genai&jurisdiction=JP'   # licensed",
            f"  curl -H 'Authorization: Api-Key {key}' '{base}/api/v1/licences'",
            f"  curl -H 'Authorization: Api-Key {key}' '{base}/api/v1/permission-requests?state=open'",
            "  The holder's side: log in as kaze (Consent > Permission requests) or hoshi (Consent > Licences).",
            f"Verified demo domain {DEMO_DOMAIN} (Studio Kaze), its signals public:",
            f"  {base}/api/v1/signals/{DEMO_DOMAIN}/robots.txt",
            f"  {base}/api/v1/signals/{DEMO_DOMAIN}/tdmrep.json",
            "Spawning-compatible (datadiligence; the key's default jurisdiction is JP):",
            "  curl -H 'Authorization: API " + key + "' -H 'Content-Type: text/plain' --data-binary "
            f"$'https://{DEMO_DOMAIN}/works/kz-0001\\nhttps://{DEMO_DOMAIN}/press/a.jpg' "
            f"'{base}/api/v2/query/urls/'",
            f"  python: SpawningAPI.SPAWNING_AI_API_URL = '{base}/api/v2/query/urls/' (docs/interop.md)",
        ])
        self.emit(options, payload, summary)

    def _load(self):
        now = timezone.now()
        holders = {}
        for code, name, kind, country, url in HOLDERS:
            holders[code] = holder_create(code=code, name=name, kind=kind, country=country, licensing_url=url,
                                          verified=True)
        mandate_create(agent=holders["jaa"], principal=holders["studio-kaze"], valid_from=now - timedelta(days=30))
        mandate_create(agent=holders["jaa"], principal=holders["tsubasa-anime"],
                       valid_from=now - timedelta(days=30), valid_until=now + timedelta(days=365))
        holder_user_set(holder=holders["studio-kaze"], username="kaze", role="editor",
                        email="licensing@studio-kaze.example", password=DEMO_PASSWORD)
        holder_user_set(holder=holders["jaa"], username="jaa", role="admin", email="rights@jaa.example",
                        password=DEMO_PASSWORD)
        holder_user_set(holder=holders["hoshi-pub"], username="hoshi", role="editor",
                        email="rights@hoshi-pub.example", password=DEMO_PASSWORD)
        works = {}
        for code, ref, title, original, kind, identifiers in WORKS:
            agent = holders["jaa"] if code in ("studio-kaze", "tsubasa-anime") else None
            works[(code, ref)] = work_register(holder=holders[code], work_ref=ref, title=title,
                                               original_title=original, kind=kind, identifiers=identifiers,
                                               agent=agent).work
        for code, ref, title, original, seed in DEMO_STILLS:  # content codes of generated images (docs/match.md)
            codes = codes_for_bytes(image_bytes(procedural_image(seed)))
            works[(code, ref)] = work_register(holder=holders[code], work_ref=ref, title=title,
                                               original_title=original, kind="illustration",
                                               identifiers=[f"{m}:{v}" for m, v in sorted(codes.items())],
                                               agent=holders["jaa"]).work
        for code, ref, purposes, jurisdiction, consent, url, conditions in DECLARATIONS:
            for purpose in purposes:
                declaration_file(holder=holders[code], scope="catalogue" if ref is None else "work",
                                 work=works[(code, ref)] if ref else None, purpose=purpose,
                                 jurisdiction=jurisdiction, consent=consent, license_url=url, conditions=conditions)
        # Studio Kaze's site: control shown to the operator (a demo has no DNS to check), its signals public.
        from domains.services import domain_claim_create, domain_signals_publish, domain_verify_operator

        claim, _ = domain_claim_create(holder=holders["studio-kaze"], domain=DEMO_DOMAIN, actor="command:seed_demo")
        domain_verify_operator(claim=claim, note="Demo: registrar's letter shown to the operator",
                               actor="command:seed_demo")
        domain_signals_publish(claim=claim, public=True, actor="command:seed_demo")
        # Both sides of prior permission: a licence to the demo organisation, and its open request.
        organisation, _ = Organisation.objects.get_or_create(
            name=DEMO_ORGANISATION, defaults={"contact_email": "legal@mirai-ai.example"})
        licence_file(holder=holders["hoshi-pub"], licensee=organisation, scope="work",
                     work=works[("hoshi-pub", "HP-101")], purposes=["train-ai"], jurisdictions=["JP"],
                     license_url="https://hoshi-pub.example/licensing/mirai", conditions="Credit Hoshi Publishing.",
                     effective_until=now + timedelta(days=365), actor="command:seed_demo")
        request_open(organisation=organisation, works=[str(works[("studio-kaze", "KZ-0003")].pk)],
                     purposes=["train-genai"], jurisdictions=["JP"], message="For our Japanese illustration model.",
                     contact="legal@mirai-ai.example")
        # Hoshi Publishing says the ISBN of Studio Kaze's film is its own art book: the one open dispute.
        work_register(holder=holders["hoshi-pub"], work_ref="HP-900", title="The Wind Between Towers: Art Book",
                      original_title="塔のあいだの風 画集", kind="book", identifiers=["isbn:978-4-9952601-8-2"],
                      evidence="Printed colophon lists Hoshi Publishing as the publisher of this ISBN.")
