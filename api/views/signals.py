"""Signals out (interop.md): what a holder with a verified domain can publish, regenerated on every request.
Public when the holder marks the domain's signals public, else visible to the holder's users only (404 to others)."""
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.signals import (
    cawg_assertion,
    domain_signals,
    headers_for,
    robots_txt,
    tdmrep_json,
    url_signals,
    url_work,
    work_signals,
)
from consent.signals_import import signals_import
from consent.signals_in import KINDS, MAX_BYTES
from consent.vocabulary import AIPREF_LATEST, validate_jurisdiction
from core.errors import NotFound, ValidationFailed, field_error
from domains.selectors import signals_claim_for
from domains.services import domain_normalise
from registry.identifiers import InvalidIdentifier, domain_chain
from registry.selectors import default_holder_code, holder_for_filing, works_readable

from ..auth import (
    ApiKeyAuthentication,
    IsHolderUser,
    IsHolderUserOrReadOnlyApiKey,
    TokenAuthentication,
    api_key_of,
)
from ..fields import StrictSerializer, query_params
from ..serializers import ProblemSerializer


class SignalsQuery(serializers.Serializer):
    jurisdiction = serializers.CharField(required=False, default="EU", max_length=8,
                                         help_text="Whose rules the holder's declarations are read for (default EU).")


class HeadersQuery(SignalsQuery):
    url = serializers.CharField(max_length=8192, help_text="An http(s) URL on a verified domain.")


class _Signals(APIView):
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]

    @staticmethod
    def _query(serializer_class, request) -> dict:
        query = query_params(serializer_class, request)
        query["jurisdiction"] = validate_jurisdiction(query["jurisdiction"])
        return query

    @staticmethod
    def _claim(domains, request):
        claim = signals_claim_for(domains=domains, user=request.user, at=timezone.now())
        if claim is None:
            raise NotFound("No verified domain with signals you may read.")
        return claim

    def _domain_entries(self, request, domain):
        query = self._query(SignalsQuery, request)
        try:
            domain = domain_normalise(domain)
        except ValidationFailed:
            raise NotFound("No verified domain with signals you may read.") from None
        claim = self._claim([domain], request)
        return claim, query["jurisdiction"], domain_signals(holder=claim.holder, domain=claim.domain,
                                                            jurisdiction=query["jurisdiction"])


class DomainRobotsDetailApi(_Signals):
    @extend_schema(operation_id="signals_robots", summary="robots.txt fragment for a verified domain",
                   parameters=[SignalsQuery], responses={(200, "text/plain"): OpenApiTypes.STR}, tags=["signals"])
    def get(self, request, domain):
        claim, jurisdiction, entries = self._domain_entries(request, domain)
        text = robots_txt(holder=claim.holder, domain=claim.domain, jurisdiction=jurisdiction, entries=entries)
        return HttpResponse(text, content_type="text/plain; charset=utf-8")


class DomainTdmrepDetailApi(_Signals):
    @extend_schema(operation_id="signals_tdmrep", summary="/.well-known/tdmrep.json for a verified domain",
                   parameters=[SignalsQuery], responses={200: OpenApiResponse(OpenApiTypes.OBJECT)}, tags=["signals"])
    def get(self, request, domain):
        _claim, _jurisdiction, entries = self._domain_entries(request, domain)
        return Response(tdmrep_json(entries=entries))


class SignalHeadersDetailApi(_Signals):
    @extend_schema(operation_id="signals_headers", summary="Response headers a site would send for one URL",
                   parameters=[HeadersQuery], responses={200: OpenApiResponse(OpenApiTypes.OBJECT)}, tags=["signals"])
    def get(self, request):
        query = self._query(HeadersQuery, request)
        try:
            url, host = url_work(query["url"])
        except InvalidIdentifier as exc:
            raise ValidationFailed(f"Not an http(s) URL: {exc}",
                                   errors=[field_error("url", "invalid-identifier", str(exc))]) from None
        claim = self._claim(domain_chain(host), request)
        entry = url_signals(holder_id=claim.holder_id, url=url, jurisdiction=query["jurisdiction"])
        if entry is None:
            raise NotFound("No work of this domain's holder at this URL.")
        return Response(headers_for(entry))


class WorkCawgDetailApi(_Signals):
    """Readable by whoever may read the work (its holder's users; API keys)."""

    authentication_classes = [TokenAuthentication, ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsHolderUserOrReadOnlyApiKey]

    @extend_schema(operation_id="works_cawg", summary="The cawg.training-mining assertion for one work",
                   parameters=[SignalsQuery], responses={200: OpenApiResponse(OpenApiTypes.OBJECT)}, tags=["signals"])
    def get(self, request, id):
        query = self._query(SignalsQuery, request)
        work = works_readable(user=request.user, api_key=api_key_of(request)).filter(pk=id).first()
        if work is None:
            raise NotFound("No such work.")
        return Response(cawg_assertion(work_signals(work=work, jurisdiction=query["jurisdiction"])))


class SignalImportApi(APIView):
    """Signals in: a holder's user hands Kyodaku a file the holder already publishes."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsHolderUser]

    class InputSerializer(StrictSerializer):
        holder = serializers.CharField(required=False, help_text="Holder code (default: your own).")
        kind = serializers.CharField(max_length=16, help_text="One of: " + ", ".join(KINDS) + ".")
        content = serializers.CharField(trim_whitespace=False, max_length=MAX_BYTES,
                                        help_text="The file's text (robots.txt, ai.txt, tdmrep.json or a CAWG "
                                                  "assertion as JSON).")
        domain = serializers.CharField(required=False, max_length=253,
                                       help_text="The verified domain the file is from (web kinds).")
        work = serializers.UUIDField(required=False, help_text="The work a CAWG assertion is for.")
        jurisdiction = serializers.CharField(required=False, default="*", max_length=8)
        vocabulary = serializers.CharField(required=False, default=AIPREF_LATEST, max_length=64,
                                           help_text="How robots.txt `Content-Usage` terms are read.")
        dry_run = serializers.BooleanField(required=False, default=False)

    @extend_schema(operation_id="signals_import", summary="File declarations from a robots.txt, ai.txt, "
                   "tdmrep.json or CAWG assertion", request=InputSerializer,
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT),
                              (409, "application/problem+json"): OpenApiResponse(
                                  ProblemSerializer, description="The domain is not verified for the holder.")},
                   tags=["signals"])
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        holder, agent = holder_for_filing(user=request.user,
                                          code=data.get("holder") or default_holder_code(request.user))
        work = None
        if data.get("work"):
            work = works_readable(user=request.user, api_key=None).filter(pk=data["work"]).first()
            if work is None:
                raise NotFound("No such work.")
        domain = domain_normalise(data["domain"]) if data.get("domain") else None
        result = signals_import(holder=holder, kind=data["kind"], content=data["content"], domain=domain, work=work,
                                jurisdiction=data["jurisdiction"], vocabulary_key=data["vocabulary"],
                                dry_run=data["dry_run"], actor=request.user, agent=agent)
        return Response(result)
