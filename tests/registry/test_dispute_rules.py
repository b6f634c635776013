"""registry.rules.dispute_refusal, the one rule both filing paths call: every combination of scheme, verification
and cap (interop.md "Domain control"); registry.rules.dispute_stands (domain.md "Disputes")."""
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.rules import DOMAIN_NOT_VERIFIED, TOO_MANY_DISPUTES, WEB_SCHEMES, dispute_refusal, dispute_stands


@given(scheme=st.sampled_from(["url", "url-prefix", "domain", "isbn", "doi"]), holder=st.booleans(),
       claimant=st.booleans(), open_now=st.integers(0, 5), cap=st.integers(0, 5))
def test_dispute_refusal(scheme, holder, claimant, open_now, cap):
    refusal = dispute_refusal(scheme=scheme, holder_verified=holder, claimant_verified=claimant,
                              claimant_open_disputes=open_now, cap=cap)
    if scheme in WEB_SCHEMES and holder and not claimant:
        assert refusal == DOMAIN_NOT_VERIFIED
    elif cap and open_now >= cap:
        assert refusal == TOO_MANY_DISPUTES
    else:
        assert refusal is None


@pytest.mark.parametrize("scheme", sorted(WEB_SCHEMES))
def test_verified_claimant_may_dispute_a_verified_holder(scheme):
    assert dispute_refusal(scheme=scheme, holder_verified=True, claimant_verified=True, claimant_open_disputes=0,
                           cap=0) is None


def test_hoshis_open_dispute_over_an_identifier_stands_whatever_work_it_was_filed_against():
    """registry.rules.dispute_stands: an open dispute by the same claimant over the same identifier (any work)
    stands; otherwise the latest over this work decides (open, kept or withdrawn: stands; transferred: not)."""
    settled = {"kept", "withdrawn"}
    open_elsewhere = SimpleNamespace(resolved_at=None, resolution="")
    transferred = SimpleNamespace(resolved_at="2026-01-01", resolution="transferred")
    kept = SimpleNamespace(resolved_at="2026-01-01", resolution="kept")
    assert dispute_stands(None, settled, open_now=open_elsewhere)
    assert dispute_stands(transferred, settled, open_now=open_elsewhere)
    assert not dispute_stands(None, settled) and not dispute_stands(transferred, settled)
    assert dispute_stands(kept, settled)
