"""What is never copied from the inputs into a scenario: account ids and secrets.

Values are replaced by placeholders and the scenario's notes say what was replaced and
where (never the value). A variable is taken for a secret when its name says so
(password, secret, token, key, credential, ...) or its value looks like one (an AWS access
key id, a TFC token, a private key, a JWT, a long random string).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sim.controlplane.models import SecretRef

ACCOUNT = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
SECRET_NAME = re.compile(r"pass(word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|private|credential|auth|session|signature|cert|pwd", re.I)
SECRET_VALUE = [
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # an AWS access key id
    re.compile(r"[A-Za-z0-9]{10,}\.atlasv1\.[A-Za-z0-9_=-]{20,}"),  # a TFC token
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # a JWT
    re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9+/=_-]{32,}$"),  # a long random string
]
PLACEHOLDER_ACCOUNT = "<account>"


@dataclass
class Scrubber:
    notes: list[str] = field(default_factory=list)
    _accounts: int = 0
    _noted: set[str] = field(default_factory=set)

    def text(self, value: str) -> str:
        """Free text (a comment, a name): account ids out."""
        out, n = ACCOUNT.subn(PLACEHOLDER_ACCOUNT, value)
        self._accounts += n
        return out

    def variables(self, variables: dict[str, str | SecretRef], where: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in variables.items():
            why = None
            if isinstance(value, SecretRef):
                # Its value is in production's Secrets Manager, never in the event: a
                # placeholder, sensitive in the replay too.
                out[key] = {"value": f"redacted-{key.lower().replace('_', '-')}", "sensitive": True}
                note = f"variable {key!r} ({where}) is sensitive: its value is not in the event; a placeholder replaces it"
                if note not in self._noted:
                    self._noted.add(note)
                    self.notes.append(note)
                continue
            if SECRET_NAME.search(key):
                why = "its name says it is a secret"
            elif any(p.search(value) for p in SECRET_VALUE):
                why = "its value looks like a secret"
            elif ACCOUNT.search(value):
                why = "its value holds an account id"
            if why is None:
                out[key] = value
                continue
            out[key] = f"redacted-{key.lower().replace('_', '-')}"
            note = f"variable {key!r} ({where}) replaced by a placeholder: {why}"
            if note not in self._noted:
                self._noted.add(note)
                self.notes.append(note)
        return out

    def summary(self) -> list[str]:
        out = list(self.notes)
        if self._accounts:
            out.append(f"account ids are not copied: {self._accounts} occurrence(s) in names and sources read {PLACEHOLDER_ACCOUNT}")
        return out
