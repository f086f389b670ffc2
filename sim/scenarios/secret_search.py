"""Finding many secret values in many texts at once (Aho-Corasick): the cost is the length
of the text, whatever the number of values. Looking for each value in turn cost values times
text, which in a long run is tenants times records."""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick


class SecretFinder:
    def __init__(self, values: Iterable[str]) -> None:
        self.values = [v for v in dict.fromkeys(values) if v]
        self._automaton = ahocorasick.Automaton()
        for value in self.values:
            self._automaton.add_word(value, value)
        if self.values:
            self._automaton.make_automaton()

    def found_in(self, text: str) -> set[str]:
        """The values that occur in ``text``."""
        if not self.values or not text:
            return set()
        return {value for _, value in self._automaton.iter(text)}

    def any_in(self, text: str) -> bool:
        if not self.values or not text:
            return False
        return next(iter(self._automaton.iter(text)), None) is not None
