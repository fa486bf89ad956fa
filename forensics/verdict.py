"""One verdict policy: typed findings in, one label with reasons out.

The policy is an ordered list of rules (config as data). Each rule looks at the findings and either
returns reasons (it fires) or nothing. The first rule that fires decides the label; every other rule that
fires still adds its reasons, so the user sees all the evidence, including the evidence that disagrees.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .provenance.signals import GENAI_SIGNALS, MAYBE_GENAI_SIGNALS
from .provenance.signals import RUBRIC as SIGNALS_RUBRIC
from .report import (CredentialsFinding, DetectorFinding, MetadataFinding, Report, Verdict,
                     WatermarkFinding, is_ai_source_type)
from .report import VerdictLabel  # noqa: F401  (the labels decide() returns)


def _short_dst(uri: str | None) -> str:
    return (uri or "").rstrip("/").rsplit("/", 1)[-1]


TRUST_LIST_TEXT = {
    "c2pa": "trusted: on the C2PA trust list",
    "interim": "trusted: signed under the interim trust list, frozen 2026-01-01",
    "local": "trusted: chains to a local trust anchor",
}


def _trusted_text(c: CredentialsFinding) -> str:
    return f" ({TRUST_LIST_TEXT.get(c.trust_list or '', 'trusted')})"


def _signer_text(c: CredentialsFinding) -> str:
    if c.signer and (c.signer.common_name or c.signer.organization):
        who = c.signer.organization or c.signer.common_name
        return f"signed by {who}" + (_trusted_text(c) if c.state == "Trusted" else " (signer not on a trust list)")
    return "signed" + (_trusted_text(c) if c.state == "Trusted" else "")


RUBRIC_CITE = f"C2PA Asset Signals rubric {SIGNALS_RUBRIC['version']}"


def _signal_reasons(c: CredentialsFinding, ids: tuple[str, ...]) -> list[str]:
    out = [f'{RUBRIC_CITE}: "{s["text"]}" ({s["id"]}), {_signer_text(c)}' for s in c.signals if s.get("id") in ids]
    for h in c.history_signals:
        if h.get("relationship") not in ("parentOf", "componentOf"):
            continue
        for s in h.get("signals") or []:
            if s.get("id") in ids:
                out.append(f'{RUBRIC_CITE}: ingredient "{h.get("title") or h.get("manifest_id")}" '
                           f'(depth {h.get("depth")}): "{s["text"]}" ({s["id"]})')
    return out


def rule_signals_genai(r: Report) -> list[str]:
    """Fully/partly GenAI media and perceptible GenAI edits, in the manifest or anywhere in its history."""
    c = r.credentials
    if c and c.present and c.state in ("Trusted", "Valid"):
        return _signal_reasons(c, GENAI_SIGNALS)
    return []


def rule_signals_maybe_genai(r: Report) -> list[str]:
    c = r.credentials
    if c and c.present and c.state in ("Trusted", "Valid"):
        return _signal_reasons(c, MAYBE_GENAI_SIGNALS)
    return []


def rule_trust_list_notes(r: Report) -> list[str]:
    c = r.credentials
    if not (c and c.present):
        return []
    return [s.explanation for s in c.statuses if s.code == "forensics.trustList.stale"]


def rule_tampered(r: Report) -> list[str]:
    c: CredentialsFinding | None = r.credentials
    if c and c.present and c.state == "Invalid" and not c.recovered_from:
        codes = ", ".join(sorted({s.code for s in c.failures})) or "validation failed"
        return [f"Content Credentials are present but do not validate: {codes}"]
    return []


def rule_credentials_ai(r: Report) -> list[str]:
    c = r.credentials
    if c and c.present and c.state in ("Trusted", "Valid") and c.ai_generated:
        src = {"watermark": " (recovered through the invisible watermark)",
               "fingerprint": " (recovered through the image fingerprint)"}.get(c.recovered_from or "", "")
        return [f"Content Credentials{src} declare {_short_dst(c.digital_source_type)}, {_signer_text(c)}"
                + (f"; generator {c.claim_generator}" if c.claim_generator else "")]
    return []


def rule_watermark_ai(r: Report) -> list[str]:
    w: WatermarkFinding | None = r.watermarks
    if not w:
        return []
    out = []
    for d in w.detected:
        if d.implies_ai:
            p = f"{d.false_positive_probability:.1e}" if d.false_positive_probability is not None else "n/a"
            out.append(f"invisible watermark '{d.scheme}' of {d.source or 'a known generator'} detected "
                       f"({d.bits_matched}/{d.bits_total} bits, false-positive probability {p})")
    return out


def rule_metadata_ai(r: Report) -> list[str]:
    m: MetadataFinding | None = r.metadata
    if not m:
        return []
    out = []
    if is_ai_source_type(m.xmp_digital_source_type):
        out.append(f"unsigned XMP metadata declares {_short_dst(m.xmp_digital_source_type)}")
    if m.generator_text:
        out.append(f"unsigned metadata written by a generator ({m.generator_hint or 'generation parameters'})")
    return out


def rule_detector_synthetic(r: Report) -> list[str]:
    d: DetectorFinding | None = r.detector
    if d and d.label == "synthetic":
        return [f"detector {d.model}: probability synthetic {d.probability_synthetic:.2f} "
                f"(threshold {d.threshold:.2f})"]
    return []


def rule_authentic(r: Report) -> list[str]:
    c = r.credentials
    if c and c.present and c.state in ("Trusted", "Valid") and not c.ai_generated:
        return [f"valid Content Credentials, {_signer_text(c)}"
                + (f"; source type {_short_dst(c.digital_source_type)}" if c.digital_source_type else "")]
    return []


def rule_other_watermarks(r: Report) -> list[str]:
    w = r.watermarks
    if not w:
        return []
    out = []
    for d in w.detected:
        if not d.implies_ai:
            link = f", links to manifest {d.manifest_id}" if d.manifest_id and d.content_match is not False else ""
            out.append(f"invisible watermark '{d.scheme}' detected, payload {d.payload}{link}")
    return out


def rule_watermark_not_this_image(r: Report) -> list[str]:
    """A watermark that leads to a manifest issued for another image (a transplanted or forged mark)."""
    w = r.watermarks
    if not w:
        return []
    return [f"the watermark points to manifest {d.manifest_id}, but this image is not a copy of the image "
            f"{d.manifest_id} was issued for" for d in w.detected if d.manifest_id and d.content_match is False]


def rule_credentials_unchecked(r: Report) -> list[str]:
    c = r.credentials
    if c and c.present and c.state is None and not c.recovered_from:
        detail = "; ".join(s.explanation for s in c.statuses) or "unreadable manifest"
        return [f"Content Credentials are present but could not be checked: {detail}"]
    return []


def _invalid_ingredients(nodes: list[dict]) -> list[str]:
    out = []
    stack = list(reversed(nodes or []))
    while stack:  # iterative: the tree may be as deep as the provenance history
        n = stack.pop()
        if not isinstance(n, dict):
            continue
        if n.get("state") == "Invalid":
            out.append(str(n.get("title") or n.get("manifest_id") or "untitled"))
        stack.extend(reversed(n.get("ingredients") or []))
    return out


def rule_invalid_ingredients(r: Report) -> list[str]:
    """A valid manifest can carry an ingredient whose own credentials failed (a re-signed altered file)."""
    c = r.credentials
    if c and c.present and c.state in ("Trusted", "Valid"):
        bad = _invalid_ingredients(c.ingredients)
        if bad:
            return [f"ingredient credentials do not validate: {', '.join(bad[:5])}"
                    + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                    + " (the signer vouches for the new file, not for that history)"]
    return []


def rule_detector_context(r: Report) -> list[str]:
    d = r.detector
    if d and d.label != "synthetic":
        return [f"detector {d.model}: probability synthetic {d.probability_synthetic:.2f} ({d.label})"]
    return []


@dataclass(frozen=True)
class Rule:
    label: str | None  # None: adds context only, never decides
    check: Callable[[Report], list[str]]


def rule_lookup_failed(r: Report) -> list[str]:
    """A manifest-repository lookup that failed is a reason, not only an analyser error: without it, stripped
    credentials could not be recovered, and "no evidence" would say more than was checked."""
    return [f"the manifest repository could not be searched, so credentials stripped from this file could "
            f"not be recovered ({e.get('message', 'lookup failed')})"
            for e in r.analyser_errors if e.get("analyser") == "recovery"]


# Order = precedence. Broken credentials first: a failed hard binding is the strongest statement we can make.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("tampered", rule_tampered),
    Rule("ai-generated", rule_credentials_ai),
    Rule("ai-generated", rule_signals_genai),
    Rule("ai-generated", rule_watermark_ai),
    Rule("authentic-credentials", rule_authentic),
    Rule("ai-generated", rule_metadata_ai),
    Rule("likely-synthetic", rule_detector_synthetic),
    Rule(None, rule_watermark_not_this_image),
    Rule(None, rule_other_watermarks),
    Rule(None, rule_credentials_unchecked),
    Rule(None, rule_invalid_ingredients),
    Rule(None, rule_signals_maybe_genai),
    Rule(None, rule_trust_list_notes),
    Rule(None, rule_detector_context),
    Rule(None, rule_lookup_failed),
)


def decide(report: Report, rules: tuple[Rule, ...] = DEFAULT_RULES) -> Verdict:
    if report.error is not None:
        return Verdict("error", [report.error.message])
    label: str | None = None
    reasons: list[str] = []
    for rule in rules:
        fired = rule.check(report)
        if fired:
            if label is None and rule.label is not None:
                label = rule.label
            reasons.extend(fired)
    if label is None:
        label = "no-evidence"
        c = report.credentials
        # a detected mark is listed among the reasons: then say it links to no credentials, not that there is none
        found = report.watermarks.detected if report.watermarks else []
        linked = any(d.manifest_id and d.content_match is not False for d in found)
        marks = "no watermark that links to credentials" if found and not linked else "no known watermark"
        if c is not None and c.present:  # present but unreadable/remote: do not claim there are none
            reasons.insert(0, f"no validated Content Credentials, {marks} and no detector evidence of synthesis")
        else:
            reasons.insert(0, f"no Content Credentials, {marks} and no detector evidence of synthesis")
    return Verdict(label, reasons)
