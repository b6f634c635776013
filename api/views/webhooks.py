"""Webhooks (sync.md, "Webhooks"): an AI developer registers, lists, enables and deletes its own webhooks and reads
their delivery log. API key only; another key's webhook is 404."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from sync.webhooks import (
    webhook_delete,
    webhook_deliveries,
    webhook_enable,
    webhook_of,
    webhook_register,
    webhooks_of,
)

from ..auth import api_key_of
from ..fields import StrictSerializer, query_params
from ..pagination import CursorPagination
from .sync import _ApiKeyView


class WebhookSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    purpose = serializers.CharField()
    jurisdiction = serializers.CharField()
    active = serializers.BooleanField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField(help_text="Why Kyodaku disabled it (empty while active).")
    cursor = serializers.CharField(source="cursor_text", help_text="Changes up to here have been sent or are pending.")
    created_at = serializers.DateTimeField()


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="The signing secret (whsec_...): shown this once.")


class DeliverySerializer(serializers.Serializer):
    id = serializers.CharField(source="message_id", help_text="The message's `webhook-id`.")
    status = serializers.ChoiceField(choices=["pending", "delivered", "failed"])
    after = serializers.CharField(help_text="The changes after this cursor ...")
    cursor = serializers.CharField(help_text="... up to this one.")
    count = serializers.IntegerField(help_text="Changes in the message.")
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status = serializers.IntegerField(allow_null=True, help_text="HTTP status of the last attempt.")
    last_error = serializers.CharField(help_text="What went wrong at the last attempt (empty on success).")
    delivered_at = serializers.DateTimeField(allow_null=True)


def _out(webhook, serializer=WebhookSerializer, **extra) -> dict:
    webhook.cursor_text = str(webhook.cursor)
    return {**serializer(webhook).data, **extra}


class _NewestFirst(CursorPagination):
    ordering = ("-created_at", "-id")


class _PageQuery(StrictSerializer):
    cursor = serializers.CharField(required=False)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=1000)


def _page(view, request, queryset, out):
    """One page of a list, as every list of the API (api.md: `next`, `previous`, `results`)."""
    query_params(_PageQuery, request)
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response([out(item) for item in page])


class WebhookListApi(_ApiKeyView):
    pagination_class = _NewestFirst

    @extend_schema(operation_id="webhooks_list", summary="Your webhooks, newest first",
                   parameters=[_PageQuery], responses={200: WebhookSerializer(many=True)}, tags=["sync"])
    def get(self, request):
        return _page(self, request, webhooks_of(api_key=api_key_of(request)), _out)


class WebhookCreateApi(_ApiKeyView):
    class InputSerializer(StrictSerializer):
        url = serializers.URLField(max_length=2000, help_text="https URL on a public address; redirects are not "
                                                              "followed.")
        purpose = serializers.CharField(max_length=64)
        jurisdiction = serializers.CharField(max_length=8)
        secret = serializers.CharField(required=False, max_length=200, help_text=(
            "A Standard Webhooks secret (whsec_ + 24-64 bytes, base64); left out, Kyodaku makes one."))

    @extend_schema(operation_id="webhooks_create", summary="Register a webhook",
                   description=("Kyodaku posts the change-feed entries that can alter answers for the pair, signed "
                                "per Standard Webhooks, from the changes after now. See docs/sync.md."),
                   request=InputSerializer, responses={201: WebhookCreatedSerializer}, tags=["sync"])
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook, secret = webhook_register(api_key=api_key_of(request), **serializer.validated_data)
        return Response(_out(webhook, WebhookCreatedSerializer, secret=secret), status=201)


class WebhookDetailApi(_ApiKeyView):
    @extend_schema(operation_id="webhook_get", summary="One of your webhooks", responses={200: WebhookSerializer},
                   tags=["sync"])
    def get(self, request, id):
        return Response(_out(webhook_of(api_key=api_key_of(request), webhook_id=id)))


class WebhookDeleteApi(_ApiKeyView):
    @extend_schema(operation_id="webhook_delete", summary="Delete a webhook (and its delivery log)",
                   responses={204: None}, tags=["sync"])
    def delete(self, request, id):
        webhook_delete(webhook=webhook_of(api_key=api_key_of(request), webhook_id=id))
        return Response(status=204)


class WebhookEnableApi(_ApiKeyView):
    @extend_schema(operation_id="webhook_enable", summary="Enable a disabled webhook again",
                   description="The changes of its failed delivery, if any, are sent again.", request=None,
                   responses={200: WebhookSerializer}, tags=["sync"])
    def post(self, request, id):
        webhook = webhook_enable(webhook=webhook_of(api_key=api_key_of(request), webhook_id=id))
        return Response(_out(webhook))


class WebhookDeliveryListApi(_ApiKeyView):
    pagination_class = _NewestFirst

    @extend_schema(operation_id="webhook_deliveries", summary="A webhook's delivery log, newest first",
                   parameters=[_PageQuery], responses={200: DeliverySerializer(many=True)}, tags=["sync"])
    def get(self, request, id):
        webhook = webhook_of(api_key=api_key_of(request), webhook_id=id)
        return _page(self, request, webhook_deliveries(webhook=webhook), lambda d: DeliverySerializer(d).data)
