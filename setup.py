"""Build hook for the optional C accelerator; everything else is in pyproject.toml.

The extension reads JSONL blocks for manifests (pytest_airecovery/data/_jsonl_scan.c) and links
OpenSSL's libcrypto, which CPython's hashlib already uses. It is optional: without a compiler or
OpenSSL's headers the install goes on, and the kit falls back to its numpy reader.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pytest_airecovery.data._jsonl_scan",
            sources=["pytest_airecovery/data/_jsonl_scan.c"],
            libraries=["crypto"],
            optional=True,
        )
    ]
)
