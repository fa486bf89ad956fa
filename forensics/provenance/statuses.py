"""Plain-language explanations of C2PA validation status codes (C2PA 2.x spec, CAWG identity 1.x).

c2pa's own ``explanation`` strings are written for developers ("hashed uri matched: self#jumbf=…"); a
newsroom reader needs to know what the code means for the picture in front of them. The table is data;
:func:`explain` falls back to a generic sentence built from the code's last part for codes it does not
know yet (new SDK versions add codes), and always keeps c2pa's own text in the result.
"""
from __future__ import annotations

from ..report import Status

SUCCESS, INFO, FAILURE = "success", "informational", "failure"

# code -> (kind, plain-language explanation)
STATUS_CODES: dict[str, tuple[str, str]] = {
    # --- claim signature and signer ------------------------------------------------------------
    "claimSignature.validated": (SUCCESS, "The manifest's digital signature is intact: nothing in the manifest changed since it was signed."),
    "claimSignature.insideValidity": (SUCCESS, "The signing certificate was within its validity period when the manifest was signed."),
    "claimSignature.missing": (FAILURE, "The manifest has no signature, so nobody vouches for it."),
    "claimSignature.mismatch": (FAILURE, "The manifest's signature does not match its contents: the manifest was altered after signing, or the signature is forged."),
    "claimSignature.outsideValidity": (FAILURE, "The signing certificate was expired or not yet valid when the manifest was signed."),
    "signingCredential.trusted": (SUCCESS, "The signer's certificate chains to a trust anchor you accept."),
    "signingCredential.untrusted": (FAILURE, "The signer's certificate does not chain to any trust anchor you accept: the signature is intact, but we cannot say who the signer really is."),
    "signingCredential.invalid": (FAILURE, "The signer's certificate is malformed or not allowed for signing Content Credentials."),
    "signingCredential.revoked": (FAILURE, "The signer's certificate has been revoked by its issuer."),
    "signingCredential.expired": (FAILURE, "The signer's certificate had expired."),
    "signingCredential.ocsp.notRevoked": (SUCCESS, "An online revocation (OCSP) response says the signer's certificate was not revoked."),
    "signingCredential.ocsp.revoked": (FAILURE, "An online revocation (OCSP) response says the signer's certificate was revoked."),
    "signingCredential.ocsp.unknown": (INFO, "The revocation (OCSP) service does not know the signer's certificate."),
    "signingCredential.ocsp.skipped": (INFO, "Certificate revocation was not checked online (offline verification)."),
    "signingCredential.ocsp.inaccessible": (INFO, "The certificate revocation (OCSP) service could not be reached."),
    "timeStamp.trusted": (SUCCESS, "The signing time comes from a trusted timestamp authority."),
    "timeStamp.validated": (SUCCESS, "The timestamp on the signature is intact."),
    "timeStamp.untrusted": (FAILURE, "The timestamp authority is not trusted, so the signing time is only the signer's claim."),
    "timeStamp.mismatch": (FAILURE, "The timestamp does not match the signature it claims to date."),
    "timeStamp.outsideValidity": (FAILURE, "The timestamp authority's certificate was not valid at the time of stamping."),
    "timeStamp.malformed": (FAILURE, "The timestamp is malformed."),
    "timeOfSigning.insideValidity": (SUCCESS, "The signing time lies within the certificate's validity period."),
    "timeOfSigning.outsideValidity": (FAILURE, "The signing time lies outside the certificate's validity period."),
    "algorithm.unsupported": (FAILURE, "The manifest uses a signature or hash algorithm that is not allowed, so it cannot be validated."),
    "algorithm.deprecated": (INFO, "The manifest uses a deprecated algorithm; it still validates but is weaker than current practice."),
    # --- claim and manifest structure ----------------------------------------------------------
    "claim.missing": (FAILURE, "A referenced manifest claim is missing."),
    "claim.multiple": (FAILURE, "The manifest contains more than one claim, which is not allowed."),
    "claim.malformed": (FAILURE, "The manifest claim is malformed."),
    "claim.cbor.invalid": (FAILURE, "The manifest claim is not valid CBOR data."),
    "claim.hardBindings.missing": (FAILURE, "The manifest does not bind itself to the media content, so it proves nothing about these pixels."),
    "claim.required.missing": (FAILURE, "The manifest claim lacks a required field."),
    "manifest.inaccessible": (FAILURE, "The manifest is stored remotely and could not be fetched."),
    "manifest.multipleParents": (FAILURE, "The manifest declares more than one parent ingredient."),
    "manifest.update.invalid": (FAILURE, "An update manifest contains changes that update manifests may not make."),
    "manifest.update.wrongParents": (FAILURE, "An update manifest does not have exactly one parent."),
    "manifest.timestamp.invalid": (FAILURE, "A timestamp manifest is invalid."),
    "manifest.timestamp.wrongParents": (FAILURE, "A timestamp manifest does not have exactly one parent."),
    "manifest.compressed.invalid": (FAILURE, "A compressed manifest cannot be decompressed."),
    "manifest.unknownProvenance": (INFO, "Part of the history has no Content Credentials, so its origin is unknown."),
    "general.error": (FAILURE, "The validator hit an unexpected error while checking the manifest."),
    "hashedURI.missing": (FAILURE, "Something the manifest references is missing."),
    "hashedURI.mismatch": (FAILURE, "Something the manifest references was changed after signing."),
    # --- ingredients ---------------------------------------------------------------------------
    "ingredient.manifest.validated": (SUCCESS, "An ingredient's own Content Credentials validate."),
    "ingredient.claimSignature.validated": (SUCCESS, "An ingredient's manifest signature is intact."),
    "ingredient.hashedURI.mismatch": (FAILURE, "An ingredient's recorded manifest does not match what is embedded: the history was altered."),
    "ingredient.manifest.missing": (FAILURE, "An ingredient's manifest is referenced but missing."),
    "ingredient.manifest.mismatch": (FAILURE, "An ingredient's manifest does not match the one recorded when it was used."),
    "ingredient.claimSignature.missing": (FAILURE, "An ingredient's manifest has no signature."),
    "ingredient.claimSignature.mismatch": (FAILURE, "An ingredient's manifest signature does not match: that part of the history was altered."),
    "ingredient.unknownProvenance": (INFO, "An ingredient has no Content Credentials, so its origin is unknown (common when a photo without credentials is first signed)."),
    # --- assertions ----------------------------------------------------------------------------
    "assertion.accessible": (SUCCESS, "An assertion referenced by the manifest could be read."),
    "assertion.hashedURI.match": (SUCCESS, "An assertion is unchanged since signing."),
    "assertion.hashedURI.mismatch": (FAILURE, "An assertion in the manifest was changed after signing."),
    "assertion.dataHash.match": (SUCCESS, "The media content is byte-for-byte what was signed (hard binding matches)."),
    "assertion.dataHash.mismatch": (FAILURE, "The media content changed after signing: the pixels or file bytes are not what the signer signed."),
    "assertion.dataHash.malformed": (FAILURE, "The content hash in the manifest is malformed."),
    "assertion.bmffHash.match": (SUCCESS, "The video/BMFF content is what was signed (hard binding matches)."),
    "assertion.bmffHash.mismatch": (FAILURE, "The video/BMFF content changed after signing."),
    "assertion.bmffHash.additionalExclusionsPresent": (INFO, "The video's content hash excludes more parts of the file than usual; those parts could change without breaking the signature."),
    "assertion.bmffHash.malformed": (FAILURE, "The video content hash in the manifest is malformed."),
    "assertion.boxesHash.match": (SUCCESS, "The file's content boxes are what was signed (hard binding matches)."),
    "assertion.boxesHash.mismatch": (FAILURE, "Some of the file's content boxes changed after signing."),
    "assertion.boxesHash.unknownBox": (FAILURE, "The file contains a content box the manifest does not account for."),
    "assertion.collectionHash.match": (SUCCESS, "Every file of the signed collection is what was signed."),
    "assertion.collectionHash.mismatch": (FAILURE, "A file of the signed collection changed after signing."),
    "assertion.collectionHash.incorrectFileCount": (FAILURE, "The signed collection has a different number of files than was signed."),
    "assertion.collectionHash.invalidURI": (FAILURE, "The signed collection references a file by an invalid path."),
    "assertion.collectionHash.malformed": (FAILURE, "The collection hash is malformed."),
    "assertion.missing": (FAILURE, "An assertion referenced by the manifest is missing."),
    "assertion.multipleHardBindings": (FAILURE, "The manifest has more than one hard binding to the content, which is not allowed."),
    "assertion.undeclared": (FAILURE, "The manifest contains an assertion its claim does not declare."),
    "assertion.inaccessible": (FAILURE, "An assertion referenced by the manifest cannot be read."),
    "assertion.notRedacted": (FAILURE, "An assertion marked as redacted is still present."),
    "assertion.outsideManifest": (FAILURE, "An assertion points outside its manifest."),
    "assertion.selfRedacted": (FAILURE, "A manifest tries to redact its own assertion."),
    "assertion.required.missing": (FAILURE, "An assertion lacks a required field."),
    "assertion.json.invalid": (FAILURE, "An assertion is not valid JSON."),
    "assertion.cbor.invalid": (FAILURE, "An assertion is not valid CBOR."),
    "assertion.action.ingredientMismatch": (FAILURE, "An action refers to an ingredient that does not match the recorded ingredients."),
    "assertion.action.missing": (FAILURE, "A required action (such as created or opened) is missing."),
    "assertion.action.redacted": (FAILURE, "An action assertion was redacted, which is not allowed."),
    "assertion.action.redactionMismatch": (FAILURE, "A redaction action does not match what was actually redacted."),
    "assertion.action.malformed": (FAILURE, "An action is malformed (for example a created action without a source type)."),
    "assertion.ingredient.malformed": (FAILURE, "An ingredient assertion is malformed."),
    "assertion.cloud-data.hardBinding": (FAILURE, "A hard binding is stored as cloud data, which is not allowed."),
    "assertion.cloud-data.actions": (FAILURE, "Actions are stored as cloud data, which is not allowed."),
    "assertion.metadata.disallowed": (FAILURE, "A metadata assertion contains fields that are not allowed."),
    "assertion.timestamp.malformed": (FAILURE, "A timestamp assertion is malformed."),
    # --- CAWG identity assertions --------------------------------------------------------------
    "cawg.identity.well-formed": (SUCCESS, "The creator identity assertion (CAWG) is well formed."),
    "cawg.identity.trusted": (SUCCESS, "The creator identity (CAWG) is backed by a trusted credential."),
    "cawg.identity.malformed": (FAILURE, "The creator identity assertion (CAWG) is malformed."),
    "cawg.identity.sig_type.unknown": (FAILURE, "The creator identity assertion (CAWG) uses an unknown signature type."),
    "cawg.identity.signature.mismatch": (FAILURE, "The creator identity assertion's (CAWG) signature does not match."),
    "cawg.identity.hard_binding_missing": (FAILURE, "The creator identity assertion (CAWG) does not cover the content binding."),
    "cawg.identity.assertion.mismatch": (FAILURE, "The creator identity assertion (CAWG) refers to assertions that do not match."),
    "cawg.x509.signature.validated": (SUCCESS, "The creator identity assertion's (CAWG) X.509 signature is intact."),
    "cawg.x509.credential.valid": (SUCCESS, "The creator identity's X.509 credential (CAWG) is valid."),
    "cawg.x509.credential.trusted": (SUCCESS, "The creator identity's X.509 credential (CAWG) is trusted."),
    "cawg.x509.credential.untrusted": (FAILURE, "The creator identity's X.509 credential (CAWG) does not chain to a trust anchor you accept: we cannot confirm who the named creator is."),
    "cawg.x509.credential.invalid": (FAILURE, "The creator identity's X.509 credential (CAWG) is invalid."),
    "cawg.ica.credential_valid": (SUCCESS, "The creator identity's aggregated credential (CAWG) is valid."),
    "cawg.ica.invalid_issuer": (FAILURE, "The creator identity's aggregated credential (CAWG) has an invalid issuer."),
    "cawg.ica.signature_mismatch": (FAILURE, "The creator identity's aggregated credential (CAWG) signature does not match."),
    # --- our own (forensics.*) codes -----------------------------------------------------------
    "forensics.manifest.unreadable": (INFO, "c2pa could not read or validate this manifest, so it proves nothing either way."),
    "forensics.manifest.remote": (INFO, "The manifest is stored remotely; it was not fetched because verification is offline (use --allow-network)."),
    "forensics.manifest.remote.fetchFailed": (INFO, "The manifest is stored remotely; fetching it failed, so these credentials could not be checked."),
    "forensics.manifest.remote.fetched": (INFO, "The manifest is stored remotely; it was fetched (--allow-network) and validated like an embedded one."),
    "forensics.format.unsupported": (INFO, "c2pa cannot read Content Credentials in this file format, so none were checked."),
    "forensics.trustList.interim": (INFO, "The signer chains to the interim trust list (the known-certificate list of contentcredentials.org/verify, frozen 2026-01-01), not to the official C2PA trust list: signed under the interim trust list, frozen 2026-01-01."),
    "forensics.trustList.tsaOnly": (FAILURE, "The signer's certificate chains only to a time-stamping authority on the C2PA TSA trust list; such roots vouch for timestamps, not for who signed the content."),
    "forensics.trustList.stale": (INFO, "A trust list in use is past its own next-update date; run `forensics trust update --allow-network`."),
    "forensics.ingredients.truncated": (INFO, "The ingredient tree shown is cut at a fixed depth; the origin was computed over the whole history."),
    "forensics.asset.unparsable": (INFO, "c2pa could not parse the file's structure, so Content Credentials could not be checked."),
}

_SUFFIX_HINTS = {
    "match": (SUCCESS, "matches what was signed"),
    "validated": (SUCCESS, "was validated"),
    "trusted": (SUCCESS, "is trusted"),
    "mismatch": (FAILURE, "does not match what was signed: something changed after signing"),
    "missing": (FAILURE, "is missing"),
    "malformed": (FAILURE, "is malformed"),
    "invalid": (FAILURE, "is invalid"),
    "untrusted": (FAILURE, "is not trusted"),
    "revoked": (FAILURE, "was revoked"),
    "inaccessible": (FAILURE, "could not be accessed"),
    "skipped": (INFO, "was skipped"),
}


def _fallback(code: str) -> tuple[str, str]:
    parts = code.split(".")
    subject = " ".join(parts[:-1]) or code
    hint = _SUFFIX_HINTS.get(parts[-1])
    if hint:
        return hint[0], f"Validation check '{subject}' {hint[1]}."
    return INFO, f"Validation reported '{code}'."


def is_known(code: str) -> bool:
    return code in STATUS_CODES


def explain(code: str, kind: str | None = None, detail: str | None = None, url: str | None = None) -> Status:
    """A :class:`Status` with a plain-language explanation; ``kind`` from c2pa wins over the table's."""
    table_kind, text = STATUS_CODES.get(code) or _fallback(code)
    kind = kind or table_kind
    # c2pa's own text helps with failures and unknown codes; for routine successes it is just noise
    if detail and detail.strip() and (kind == FAILURE or code not in STATUS_CODES or code.startswith("forensics.")):
        text = f"{text} (c2pa: {detail.strip()})"
    return Status(code=code, explanation=text, kind=kind, url=url)
