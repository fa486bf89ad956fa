"""C2PA Asset Signals: the statements of the C2PA Asset Rubrics 1.0 signals rubric, in Python.

Source: ``asset-rubric-signals-local.yml`` (C2PA Conformance Task Force, version 1.0, 2026-08-06; shipped in
``forensics/provenance/trust``, CC BY 4.0). The rubric's expressions are json-formula over crJSON; there is
no json-formula engine on PyPI, so each statement is implemented here over one crJSON manifest, as the
rubric says: every manifest of the provenance chain is evaluated *locally* (its own assertions only).

Evaluation notes, following the expressions exactly:
- actions are read from the ``c2pa.actions.v2`` assertion only (``_manifest_signalActions``); an absent
  list counts as empty (``length(...) == 0``), which makes ``transformation:signal_ambiguousActions`` true.
- ``inception:signal_mediaUnknownProvenance`` looks at the assertion labelled exactly ``c2pa.ingredient.v3``.
- a statement is reported when it evaluates to true, with the rubric's English ``true`` text.
"""
from __future__ import annotations

from typing import Any, Callable

RUBRIC = {"name": "C2PA Asset Signals Rubric (Local)", "issuer": "C2PA Conformance Task Force",
          "version": "1.0", "date": "2026-08-06"}

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
INCEPTION_ACTIONS = ("c2pa.created", "c2pa.opened")
NON_EDITORIAL_ACTIONS = (
    "c2pa.converted", "c2pa.published", "c2pa.repackaged", "c2pa.transcoded", "c2pa.resized.proportional",
    "c2pa.enhanced", "c2pa.edited.metadata", "c2pa.watermarked", "c2pa.watermarked.bound",
    "c2pa.watermarked.unbound", "c2pa.redacted",
)
GENAI_DST_TYPES = (IPTC + "trainedAlgorithmicMedia", IPTC + "compositeWithTrainedAlgorithmicMedia",
                   IPTC + "compositeSynthetic", "http://c2pa.org/digitalsourcetype/trainedAlgorithmicData")
POSSIBLY_GENAI_DST_TYPES = (IPTC + "digitalArt", IPTC + "composite")

# inception statements of the form _createdWithDst(@, URI) [|| _createdWithDst(@, URI2)]: id -> (URIs, text)
CREATED_WITH_DST: dict[str, tuple[tuple[str, ...], str]] = {
    "inception:signal_blankCanvas": (("http://c2pa.org/digitalsourcetype/empty",), "Contains Blank Canvas"),
    "inception:signal_capturedMedia": ((IPTC + "digitalCapture", IPTC + "computationalCapture"),
                                       "Contains Captured Media"),
    "inception:signal_capturedMediaStitched": ((IPTC + "compositeCapture",), "Contains Stitched Captured Media"),
    "inception:signal_compositionMayContainGenAI": ((IPTC + "composite",),
                                                    "Contains Composition which may contain GenAI content"),
    "inception:signal_fullyGenAIMedia": ((IPTC + "trainedAlgorithmicMedia",), "Contains Fully GenAI Media"),
    "inception:signal_nonGenAIDigitalCreation": ((IPTC + "digitalCreation",), "Contains Non-GenAI digital creation"),
    "inception:signal_partlyGenAICreation": ((IPTC + "compositeWithTrainedAlgorithmicMedia",),
                                             "Contains Partly GenAI Creation"),
    "inception:signal_screenCaptureMayContainGenAI": ((IPTC + "screenCapture",),
                                                      "Contains Screen Capture Which May Contain GenAI Content"),
}

# the signals the verdict policy treats as evidence
GENAI_SIGNALS = ("inception:signal_fullyGenAIMedia", "inception:signal_partlyGenAICreation",
                 "transformation:signal_perceptibleGenAI")
MAYBE_GENAI_SIGNALS = ("inception:signal_compositionMayContainGenAI", "inception:signal_screenCaptureMayContainGenAI",
                       "transformation:signal_perceptiblePossiblyGenAI")


def _assertions(m: dict) -> dict:
    a = m.get("assertions")
    return a if isinstance(a, dict) else {}


def _signal_actions(m: dict) -> list[dict] | None:
    """``$args[0].assertions.'c2pa.actions.v2'.actions``; None when absent."""
    a = _assertions(m).get("c2pa.actions.v2")
    acts = a.get("actions") if isinstance(a, dict) else None
    return [x for x in acts if isinstance(x, dict)] if isinstance(acts, list) else None


def _created_with_dst(m: dict, uri: str) -> bool:
    return any(a.get("action") in INCEPTION_ACTIONS and a.get("digitalSourceType") == uri
               for a in _signal_actions(m) or [])


def _perceptible(a: dict) -> bool:
    act = a.get("action")
    return act is not None and act not in INCEPTION_ACTIONS and act not in NON_EDITORIAL_ACTIONS


def media_unknown_provenance(m: dict) -> bool:
    ing = _assertions(m).get("c2pa.ingredient.v3")
    return ing is not None and (not isinstance(ing, dict) or ing.get("activeManifest") is None)


def ambiguous_actions(m: dict) -> bool:
    acts = _signal_actions(m) or []
    v2 = _assertions(m).get("c2pa.actions.v2")
    claim = m.get("claim.v2") if isinstance(m.get("claim.v2"), dict) else {}
    gathered = claim.get("gathered_assertions") if isinstance(claim.get("gathered_assertions"), list) else []
    return (len(acts) == 0
            or not (isinstance(v2, dict) and v2.get("allActionsIncluded") is True)
            or any(isinstance(a.get("action"), str) and not a["action"].startswith("c2pa.") for a in acts)
            or any(a.get("action") == "c2pa.unknown" for a in acts)
            or any(isinstance(g, dict) and "c2pa.actions" in str(g.get("url") or "") for g in gathered))


def non_editorial(m: dict) -> bool:
    return any(a.get("action") is not None and a.get("action") in NON_EDITORIAL_ACTIONS
               for a in _signal_actions(m) or [])


def perceptible_genai(m: dict) -> bool:
    return any(_perceptible(a) and a.get("digitalSourceType") in GENAI_DST_TYPES for a in _signal_actions(m) or [])


def perceptible_non_genai(m: dict) -> bool:
    return any(_perceptible(a) and a.get("digitalSourceType") is not None
               and a.get("digitalSourceType") not in GENAI_DST_TYPES for a in _signal_actions(m) or [])


def perceptible_possibly_genai(m: dict) -> bool:
    return any(_perceptible(a) and a.get("digitalSourceType") in POSSIBLY_GENAI_DST_TYPES
               for a in _signal_actions(m) or [])


# every statement of the rubric, in the rubric's order: (id, predicate, English text when true)
STATEMENTS: list[tuple[str, Callable[[dict], bool], str]] = []
for _id, (_uris, _text) in CREATED_WITH_DST.items():
    STATEMENTS.append((_id, (lambda uris: lambda m: any(_created_with_dst(m, u) for u in uris))(_uris), _text))
STATEMENTS += [
    ("inception:signal_mediaUnknownProvenance", media_unknown_provenance, "Contains Media of Unknown Provenance"),
    ("transformation:signal_ambiguousActions", ambiguous_actions, "Contains ambiguous actions"),
    ("transformation:signal_nonEditorial", non_editorial, "Contains Non-editorial Transformations"),
    ("transformation:signal_perceptibleGenAI", perceptible_genai, "Contains Perceptible GenAI Transformations"),
    ("transformation:signal_perceptibleNonGenAI", perceptible_non_genai,
     "Contains Perceptible Non-GenAI Transformations"),
    ("transformation:signal_perceptiblePossiblyGenAI", perceptible_possibly_genai,
     "Contains Perceptible Transformations Possibly Using GenAI"),
]
_ORDER = ["inception:signal_blankCanvas", "inception:signal_capturedMedia", "inception:signal_capturedMediaStitched",
          "inception:signal_compositionMayContainGenAI", "inception:signal_fullyGenAIMedia",
          "inception:signal_mediaUnknownProvenance", "inception:signal_nonGenAIDigitalCreation",
          "inception:signal_partlyGenAICreation", "inception:signal_screenCaptureMayContainGenAI",
          "transformation:signal_ambiguousActions", "transformation:signal_nonEditorial",
          "transformation:signal_perceptibleGenAI", "transformation:signal_perceptibleNonGenAI",
          "transformation:signal_perceptiblePossiblyGenAI"]
STATEMENTS.sort(key=lambda s: _ORDER.index(s[0]))


def evaluate(manifest: dict) -> list[dict[str, str]]:
    """The signals of one crJSON manifest: ``[{"id": …, "text": …}]`` for each statement that is true."""
    if not isinstance(manifest, dict):
        return []
    return [{"id": sid, "text": text} for sid, pred, text in STATEMENTS if pred(manifest)]


def crjson_manifests(crjson: dict | None) -> dict[str, dict]:
    """label -> manifest of a crJSON document."""
    out: dict[str, dict] = {}
    for m in (crjson or {}).get("manifests") or []:
        if isinstance(m, dict) and isinstance(m.get("label"), str):
            out[m["label"]] = m
    return out


def crjson_from_store(store: dict) -> dict[str, Any]:
    """A crJSON-shaped document built from c2pa's manifest store JSON (``Reader.json()``), for stores kept
    only as JSON: assertions keyed by label, actions as c2pa reports them. It has no ``claim.v2`` (the
    store JSON does not carry the claim), so the gathered-assertions clause of ambiguousActions is false."""
    manifests = []
    active = store.get("active_manifest")
    items = sorted((store.get("manifests") or {}).items(), key=lambda kv: kv[0] != active)
    for label, m in items:
        if not isinstance(m, dict):
            continue
        assertions: dict[str, Any] = {}
        for a in m.get("assertions") or []:
            if isinstance(a, dict) and isinstance(a.get("label"), str):
                assertions[a["label"]] = a.get("data")
        for i, ing in enumerate(m.get("ingredients") or []):
            if isinstance(ing, dict):  # the store JSON lists ingredients apart; crJSON labels them like this
                key = "c2pa.ingredient.v3" + (f"__{i}" if i else "")
                entry = dict(ing)
                if ing.get("active_manifest"):
                    entry["activeManifest"] = {"url": f"self#jumbf=/c2pa/{ing['active_manifest']}"}
                assertions.setdefault(key, entry)
        manifests.append({"label": label, "assertions": assertions})
    return {"manifests": manifests}
