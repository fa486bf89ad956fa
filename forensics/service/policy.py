"""The newsroom's prompt policy, checked before any generation: deny patterns (regular expressions) and the
real people the newsroom does not depict. A refusal carries a reason the reporter can act on."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyDecision:
    allowed: bool
    reason: str | None = None
    rule: str | None = None  # which rule refused, for the audit log


def _fold(text: str) -> str:
    """Case-, accent- and spacing-insensitive form: "José  GARCÍA" -> "jose garcia"."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


class PromptPolicy:
    def __init__(self, deny_patterns: list[str] | None = None, deny_people: list[str] | None = None):
        self.patterns: list[tuple[str, re.Pattern]] = []
        for p in deny_patterns or []:
            try:
                self.patterns.append((p, re.compile(p, re.IGNORECASE)))
            except re.error as exc:
                from ..errors import ConfigError

                raise ConfigError(f"policy deny pattern {p!r} is not a valid regular expression: {exc}") from None
        # Whole-word match on the folded text, so "Ann Lee" does not match "Joann Leeds".
        self.people: list[tuple[str, re.Pattern]] = [
            (name, re.compile(r"(?<!\w)" + re.escape(_fold(name)) + r"(?!\w)"))
            for name in (deny_people or []) if _fold(name)]

    @classmethod
    def from_settings(cls, settings) -> "PromptPolicy":
        return cls(list(settings.deny_patterns), list(settings.deny_people))

    def check(self, prompt: str) -> PolicyDecision:
        folded = _fold(prompt)
        for name, rx in self.people:
            if rx.search(folded):
                return PolicyDecision(False, f"the prompt names {name}, a real person this newsroom does not "
                                             "depict in generated images", rule="deny_people")
        for source, rx in self.patterns:
            if rx.search(prompt) or rx.search(folded):
                return PolicyDecision(False, f"the prompt matches the newsroom's deny pattern {source!r}",
                                      rule="deny_patterns")
        return PolicyDecision(True)
