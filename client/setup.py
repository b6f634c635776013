"""The optional compiled accelerator of the bulk offline check (kyodaku._offline, docs/client.md): built where a C
compiler is found, skipped otherwise (optional=True: the install still succeeds and the pure-Python path is used).
SHA-256 (the filter's stated hash) comes from OpenSSL's libcrypto, as hashlib's does; without its headers the
module is built without it and hands every id that needs the filter back to the Python path."""
import os
import sysconfig

from setuptools import Extension, setup


def openssl_headers() -> bool:
    dirs = [sysconfig.get_paths()["include"], "/usr/include", "/usr/local/include", "/opt/homebrew/include",
            *filter(None, os.environ.get("CPATH", "").split(os.pathsep))]
    return any(os.path.exists(os.path.join(d, "openssl", "sha.h")) for d in dirs)


openssl = openssl_headers()
setup(ext_modules=[Extension(
    "kyodaku._offline", ["kyodaku/_offline.c"], optional=True,
    define_macros=[("KYODAKU_OPENSSL", "1")] if openssl else [], libraries=["crypto"] if openssl else [],
    extra_compile_args=["-O2"] if os.name != "nt" else [])])
