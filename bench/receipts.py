"""Benchmark: signing receipts for a batch of lookup answers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench .venv/bin/python bench/receipts.py [--n 10000]

Migrates the database it is given (use a scratch one), signs with a throw-away key (given as KYODAKU_SIGNING_KEY), and
prints the median of --repeat runs for: the fast signer alone, joserfc's `jws.serialize_compact` for comparison,
`receipts_attach` on N lookup results (its 2 queries included), the lookup itself, and jwcrypto verifying 1,000.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from joserfc.jwk import OKPKey

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["KYODAKU_SIGNING_KEY_DIR"] = tempfile.mkdtemp(prefix="kyodaku-bench-keys-")
# A throw-away key through the setting: published (the previous run's retired) on first use, no file left behind.
os.environ["KYODAKU_SIGNING_KEY"] = OKPKey.generate_key("Ed25519").as_pem(private=True).decode()
os.environ["DEBUG"] = "false"  # no query log growing in memory


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from joserfc import jws
    from jwcrypto import jwk as jwcrypto_jwk
    from jwcrypto import jws as jwcrypto_jws

    from consent.lookup import lookup_many
    from receipts.selectors import signing_keys_jwks
    from receipts.services import canonical_payload, receipt_payload, receipt_signer, receipts_attach

    n = args.n
    ids = [f"doi:10.5555/bench-{i}" for i in range(n)]
    signer = receipt_signer()
    head = {"seq": 123456, "hash": "ab" * 32}
    sample = lookup_many(ids=ids[:1], purpose="train-genai", jurisdiction="JP")[0]
    payloads = [canonical_payload(receipt_payload({**sample, "id": i}, head=head, iat=1_790_000_000,
                                                  iss="https://kyodaku.example.org", sub="bench-key")) for i in ids]

    figures = {}
    figures["fast signer (ReceiptSigner.sign)"] = timed(lambda: [signer.sign(p) for p in payloads], args.repeat)
    raw_key, message = signer.key.private_key, b"x" * 500
    figures["floor: raw Ed25519 sign (cryptography)"] = timed(lambda: [raw_key.sign(message) for _ in payloads],
                                                              args.repeat)
    figures["joserfc jws.serialize_compact"] = timed(
        lambda: [jws.serialize_compact(signer.header, p, signer.key, algorithms=["EdDSA"]) for p in payloads],
        args.repeat)
    figures["lookup_many (for scale, no receipts)"] = timed(
        lambda: lookup_many(ids=ids, purpose="train-genai", jurisdiction="JP"), args.repeat)
    results_sets = [lookup_many(ids=ids, purpose="train-genai", jurisdiction="JP") for _ in range(args.repeat)]
    figures["receipts_attach (2 queries + signing)"] = timed(lambda: receipts_attach(results_sets.pop()),
                                                             args.repeat)
    tokens = [signer.sign(p) for p in payloads[:1000]]
    keyset = jwcrypto_jwk.JWKSet.from_json(json.dumps(signing_keys_jwks()))
    key = keyset.get_key(signer.kid)

    def verify_all():
        for token in tokens:
            signed = jwcrypto_jws.JWS()
            signed.deserialize(token)
            signed.verify(key, alg="EdDSA")

    verify_seconds = timed(verify_all, args.repeat)

    print(f"receipts for a batch of {n} (median of {args.repeat}, {os.cpu_count()} CPUs shared):")
    for name, seconds in figures.items():
        print(f"  {name:42s} {seconds:7.3f} s   {seconds / n * 1e6:7.1f} µs/receipt")
    print(f"  {'jwcrypto verify, 1,000 receipts':42s} {verify_seconds:7.3f} s   "
          f"{verify_seconds / 1000 * 1e6:7.1f} µs/receipt")
    print(f"  receipt size: {len(tokens[0])} bytes")


if __name__ == "__main__":
    main()
