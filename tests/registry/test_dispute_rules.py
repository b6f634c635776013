"""registry.rules.dispute_refusal, the one rule both filing paths call: every combination of scheme, verification
and cap (interop.md "Domain control")."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.rules import DOMAIN_NOT_VERIFIED, TOO_MANY_DISPUTES, WEB_SCHEMES, dispute_refusal


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
