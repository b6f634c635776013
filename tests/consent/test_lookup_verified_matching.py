"""Matching with KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS (interop.md's optional setting): an unverified holder's web
identifier is no match at all. Property: resolving an id while refusing unverified candidates is exactly resolving
it in a registry from which those identifiers were removed (the id falls through to the next candidate: the other
scheme's url, a shorter url-prefix, a parent domain; else nothing). Pure: no database.

Persona: a crawler asking about pages of a site on which two holders registered urls, url-prefixes and domains,
each verified for some domains and not others."""
from hypothesis import given
from hypothesis import strategies as st

from consent.lookup.batch import DOMAIN, URL, URL_PREFIX, Matches, _resolve, parse_ids
from domains.selectors import host_verified
from registry.identifiers import url_host
from registry.lookups import url_scheme_and_rest

from .test_engine import PROPERTY_SETTINGS

HOSTS = ["a.example", "www.a.example", "b.a.example"]
PATHS = ["/", "/x/", "/x/y/", "/x/y/z"]
HOLDERS = ["h1", "h2"]
schemes = st.sampled_from(["http", "https"])


@st.composite
def registries(draw):
    """(identifiers {(scheme, value): holder}, verified {(holder, domain)}): identifiers each on a work of its own."""
    identifiers = {}
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from([URL, URL_PREFIX, DOMAIN]))
        host = draw(st.sampled_from(HOSTS))
        if kind == DOMAIN:
            value = host
        else:
            path = draw(st.sampled_from(PATHS))
            if kind == URL_PREFIX and not path.endswith("/"):
                path += "/"
            value = f"{draw(schemes)}://{host}{path}"
        identifiers[(kind, value)] = draw(st.sampled_from(HOLDERS))
    verified = draw(st.sets(st.tuples(st.sampled_from(HOLDERS), st.sampled_from(HOSTS + ["example"]))))
    return identifiers, verified


def matches_of(identifiers: dict) -> Matches:
    """What batch.match builds from the match query's rows, here for every identifier given."""
    matches = Matches()
    for work_id, ((scheme, value), holder) in enumerate(sorted(identifiers.items())):
        matches.found[(scheme, value)] = work_id
        matches.works[work_id] = ("title", "website", f"W{work_id}", holder, holder, holder, "")
        if scheme == URL_PREFIX:
            prefix_scheme, rest = url_scheme_and_rest(value)
            matches.prefixes.setdefault(url_host(value), []).append((rest, prefix_scheme, work_id))
    for candidates in matches.prefixes.values():
        candidates.sort(key=lambda c: len(c[0]), reverse=True)
    return matches


def entry_host(scheme: str, value: str) -> str:
    return value if scheme == DOMAIN else url_host(value)


@PROPERTY_SETTINGS
@given(registry=registries(), scheme=schemes, host=st.sampled_from(HOSTS), path=st.sampled_from(PATHS + ["/x/q"]),
       kind=st.sampled_from([URL, URL_PREFIX, DOMAIN]))
def test_refusing_unverified_candidates_is_resolving_without_them(registry, scheme, host, path, kind):
    identifiers, verified = registry
    if kind == URL:
        raw = f"url:{scheme}://{host}{path}"
    elif kind == URL_PREFIX:
        raw = f"url-prefix:{scheme}://{host}{path if path.endswith('/') else path + '/'}"
    else:
        raw = f"domain:{host}"
    item = parse_ids([raw]).items[0]
    everything = matches_of(identifiers)

    def accept(work_id, matched_host):
        return host_verified(verified, everything.works[work_id][3], matched_host)

    strict = _resolve(item, everything, accept)
    kept = {key: holder for key, holder in identifiers.items()
            if host_verified(verified, holder, entry_host(*key))}
    only_verified = matches_of(kept)
    expected = _resolve(item, only_verified)

    # the same identifier (work ids differ between the two registries: compare what the work holds)
    def key_of(resolved, matches):
        work_id, _ = resolved
        if work_id is None:
            return None
        return next(k for k, w in matches.found.items() if w == work_id), resolved[1]

    assert key_of(strict, everything) == key_of(expected, only_verified)
    if strict[0] is not None:
        assert accept(*strict)  # whatever matched is verified
    first = _resolve(item, everything)  # the setting off
    if first != strict:  # it fell through only because the first candidate was refused
        assert first[0] is not None and not accept(*first)
