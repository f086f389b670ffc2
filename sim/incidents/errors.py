"""The one error the importer raises: an input that is not what it claims to be, or an
incident a scenario cannot reproduce. The message names the file and what is wrong."""

from __future__ import annotations


class IncidentInputError(ValueError):
    """An input the importer refuses, with where and why (never a silently wrong scenario)."""
