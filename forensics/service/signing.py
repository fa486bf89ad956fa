"""Where the service's signing identity comes from. The private key stays inside this process: it is read
once (file or environment), kept only in the SigningIdentity object, never logged, never returned by an
endpoint. With a KMS or HSM the key never enters the process at all: a callback signs the bytes c2pa hands
it (c2pa-python's ``Signer.from_callback``) and only the certificate chain is local.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Callable

from ..errors import ConfigError
from ..provenance.signing import SigningIdentity

ENV_KEY = "FORENSICS_SIGNING_KEY_PEM"
ENV_CERT = "FORENSICS_SIGNING_CERT_PEM"


class CallbackSigningIdentity(SigningIdentity):
    """A signing identity whose private operation is a callable ``sign(data: bytes) -> signature bytes``
    (DER ECDSA for es256/384/512, as c2pa expects) — e.g. a call into a KMS or an HSM."""

    def __init__(self, cert_chain_pem: bytes, sign: Callable[[bytes], bytes], alg: str = "es256",
                 tsa_url: str | None = None):
        super().__init__(cert_chain_pem, b"", alg=alg, tsa_url=tsa_url)
        self.sign = sign

    def _signer(self):  # the hook forensics.provenance.signing uses to build its c2pa Signer
        import c2pa

        from ..errors import CredentialsError

        alg = getattr(c2pa.C2paSigningAlg, self.alg.upper())
        try:
            return c2pa.Signer.from_callback(self.sign, alg, self.cert_chain_pem.decode(), self.tsa_url)
        except c2pa.C2paError as exc:
            raise CredentialsError(f"cannot create a callback signer: {exc}") from None


def _load_callable(spec: str) -> Callable[[bytes], bytes]:
    module, _, attr = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"signer_callback {spec!r} cannot be imported: {exc}") from None
    if not callable(fn):
        raise ConfigError(f"signer_callback {spec!r} is not callable")
    return fn


def load_identity(settings) -> SigningIdentity:
    """In order: a KMS/HSM callback (``signer_callback`` + ``signing_cert``), PEMs in the environment
    (``FORENSICS_SIGNING_KEY_PEM`` / ``FORENSICS_SIGNING_CERT_PEM``; the key variable is removed from the
    environment once read, so child processes never inherit it), ``signing_cert`` + ``signing_key`` files,
    else the ``forensics keys init`` identity."""
    if settings.signer_callback:
        if not settings.signing_cert:
            raise ConfigError("signer_callback needs signing_cert (the PEM certificate chain)")
        chain = Path(settings.signing_cert).expanduser().read_bytes()
        return CallbackSigningIdentity(chain, _load_callable(settings.signer_callback), alg=settings.signing_alg)
    if os.environ.get(ENV_KEY):
        key = os.environ.pop(ENV_KEY).encode()
        cert = os.environ.get(ENV_CERT)
        if cert is None and settings.signing_cert:
            cert = Path(settings.signing_cert).expanduser().read_text()
        if not cert:
            raise ConfigError(f"{ENV_KEY} is set but no certificate chain ({ENV_CERT} or signing_cert)")
        return SigningIdentity(cert.encode(), key, alg=settings.signing_alg)
    if settings.signing_cert or settings.signing_key:
        if not (settings.signing_cert and settings.signing_key):
            raise ConfigError("set both signing_cert and signing_key")
        return SigningIdentity.from_files(settings.signing_cert, settings.signing_key, alg=settings.signing_alg)
    return SigningIdentity.default()
