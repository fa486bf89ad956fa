"""A signed head of the audit log, kept outside the database: the anchor that makes truncation visible.

The hash chain in ``service_audit_log`` shows an edit or a deletion *inside* the log, but not the loss of its
newest rows (the remaining chain is still consistent). After every append the service signs
``{database, rows, head_id, head_sha256, at}`` with its signing key and writes it atomically to a file
(default ``$FORENSICS_HOME/audit-checkpoints/<database digest>.json``). :meth:`ServiceStore.verify_audit_chain`
then checks the chain against that checkpoint: the head row must exist with that digest and exactly ``rows``
rows must lead to it. What this does and does not guarantee is in docs/service.md.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ConfigError

VERSION = 1


def database_digest(url: str) -> str:
    """A stable name for the database (its URL without the password), so one file belongs to one log."""
    from ..db import safe_url

    return hashlib.sha256(safe_url(url).encode()).hexdigest()[:16]


def _message(fields: dict) -> bytes:
    return json.dumps({k: fields[k] for k in ("v", "database", "rows", "head_id", "head_sha256", "at")},
                      sort_keys=True, separators=(",", ":")).encode()


def _hash_for(alg: str):
    from cryptography.hazmat.primitives import hashes

    return {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}.get(alg[-3:], hashes.SHA256())


def _sign(identity, data: bytes) -> bytes:
    sign = getattr(identity, "sign", None)
    if callable(sign):  # a KMS/HSM callback: the key never enters this process
        return sign(data)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    key = serialization.load_pem_private_key(identity.private_key_pem, password=None)
    alg = identity.alg
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(_hash_for(alg)))
    if isinstance(key, rsa.RSAPrivateKey):
        h = _hash_for(alg)
        return key.sign(data, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise ConfigError(f"cannot sign audit checkpoints with a {type(key).__name__}")


def _verify(cert_chain_pem: bytes, alg: str, data: bytes, signature: bytes) -> bool:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    try:
        pub = x509.load_pem_x509_certificate(cert_chain_pem).public_key()  # the first (signing) certificate
        if isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(signature, data, ec.ECDSA(_hash_for(alg)))
        elif isinstance(pub, rsa.RSAPublicKey):
            h = _hash_for(alg)
            pub.verify(signature, data, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
        elif isinstance(pub, ed25519.Ed25519PublicKey):
            pub.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@dataclass
class AuditCheckpoint:
    """Writes and checks the signed head of one database's audit log."""

    path: Path
    identity: object  # a SigningIdentity (or CallbackSigningIdentity)
    database: str  # database_digest(url)

    @classmethod
    def for_settings(cls, settings, identity, url: str) -> "AuditCheckpoint":
        from .. import config

        digest = database_digest(url)
        path = Path(settings.audit_checkpoint).expanduser() if settings.audit_checkpoint else \
            config.home() / "audit-checkpoints" / f"{digest}.json"
        return cls(path, identity, digest)

    def write(self, rows: int, head_id: int | None, head_sha256: str) -> dict:
        cp = {"v": VERSION, "database": self.database, "rows": rows, "head_id": head_id,
              "head_sha256": head_sha256, "at": datetime.now(timezone.utc).isoformat()}
        cp["alg"] = self.identity.alg
        cp["signature"] = base64.b64encode(_sign(self.identity, _message(cp))).decode("ascii")
        cp["cert_sha256"] = hashlib.sha256(self.identity.cert_chain_pem).hexdigest()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(cp, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)  # atomic: a reader sees the old or the new checkpoint, never half
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return cp

    def read(self) -> tuple[dict | None, str | None]:
        """(checkpoint, None) when there is a valid one; (None, None) when there is none; (None, why) when
        the file is there but unreadable, for another database, or not signed by this service's key."""
        try:
            raw = self.path.read_text()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"cannot read the audit checkpoint {self.path}: {exc.strerror or exc}"
        try:
            cp = json.loads(raw)
            signature = base64.b64decode(cp["signature"], validate=True)
            message = _message(cp)
        except (ValueError, KeyError, TypeError):
            return None, f"the audit checkpoint {self.path} is damaged"
        if cp["database"] != self.database:
            return None, f"the audit checkpoint {self.path} belongs to another database"
        if not _verify(self.identity.cert_chain_pem, cp.get("alg", self.identity.alg), message, signature):
            return None, f"the audit checkpoint {self.path} is not signed by this service's signing key"
        return cp, None
