"""Signals in, in the admin: a holder's user pastes or uploads a robots.txt, ai.txt, tdmrep.json or CAWG assertion,
sees each line's fate (a dry run), and files the declarations once confirmed (consent.signals_import)."""
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from registry.admin_base import holders_for_filing, may_write
from registry.selectors import holder_for_filing, works_visible_to

from .signals_import import signals_import
from .signals_in import KINDS, MAX_BYTES
from .vocabulary import AIPREF_LATEST, VOCABULARIES


class SignalImportForm(forms.Form):
    holder = forms.ModelChoiceField(queryset=None, label=_("holder"), to_field_name="code")
    kind = forms.ChoiceField(choices=[(k, k) for k in KINDS], label=_("kind of file"))
    domain = forms.CharField(required=False, label=_("domain"), help_text=_("For robots.txt, ai.txt, tdmrep.json."))
    work = forms.UUIDField(required=False, label=_("work id"), help_text=_("For a CAWG assertion."))
    jurisdiction = forms.CharField(initial="*", max_length=8, label=_("jurisdiction"))
    vocabulary = forms.ChoiceField(choices=[(v.key, f"{v.name} ({v.version})") for v in VOCABULARIES
                                            if v.key.startswith("aipref")], initial=AIPREF_LATEST,
                                   label=_("Content-Usage vocabulary"))
    content = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 12, "cols": 100}),
                              label=_("paste the file"))
    upload = forms.FileField(required=False, label=_("or upload it"))

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["holder"].queryset = holders_for_filing(request)

    def clean(self):
        data = super().clean()
        upload = data.get("upload")
        if upload is not None:
            if upload.size > MAX_BYTES:
                raise forms.ValidationError(_("The file is larger than %(max)d bytes.") % {"max": MAX_BYTES})
            data["content"] = upload.read()
        if not data.get("content"):
            raise forms.ValidationError(_("Paste the file or upload it."))
        return data


def signals_import_view(request, admin_site):
    if not may_write(request):
        raise PermissionDenied
    form = SignalImportForm(request.POST or None, request.FILES or None, request=request,
                            initial={"domain": request.GET.get("domain", "")})
    result = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        confirm = "confirm" in request.POST
        try:
            holder, agent = holder_for_filing(user=request.user, code=data["holder"].code)
            work = works_visible_to(request.user).filter(pk=data["work"]).first() if data.get("work") else None
            result = signals_import(holder=holder, kind=data["kind"], content=data["content"],
                                    domain=(data.get("domain") or "").strip().lower() or None, work=work,
                                    jurisdiction=data["jurisdiction"], vocabulary_key=data["vocabulary"],
                                    dry_run=not confirm, actor=request.user, agent=agent)
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            if confirm:
                messages.success(request, _("Filed %(declarations)d declaration(s) and registered %(works)d "
                                            "work(s).") % {"declarations": result["declarations_created"],
                                                           "works": result["works_created"]})
                return HttpResponseRedirect(request.get_full_path())
            if isinstance(data["content"], bytes):  # keep an upload for the confirming post
                form.data = form.data.copy()
                form.data["content"] = data["content"].decode("utf-8", "replace")
    context = {**admin_site.each_context(request), "title": _("Import signals"), "form": form, "result": result}
    return TemplateResponse(request, "admin/kyodaku/signals_import.html", context)
