"""Patterns written once for Python and for the OpenAPI document.

The document is read by JavaScript validators and code generators, so a pattern is written in
the subset ECMA-262 and Python share: `^...$` anchors, no `\\A`, `\\Z` or inline flags. Python's
`$` also matches before a trailing newline, so `Pattern` checks with `fullmatch`: "1234\\n" is
not four digits.
"""

from __future__ import annotations

from marshmallow import ValidationError, validate


class Pattern(validate.Regexp):
    """A marshmallow Regexp that must match the whole value (the `pattern` in the document)."""

    def __init__(self, regex: str, *, error: str | None = None):
        if not (regex.startswith("^") and regex.endswith("$")) or "\\A" in regex or "\\Z" in regex:
            raise ValueError(f"Write {regex!r} as ^...$ so ECMA-262 and Python agree.")
        super().__init__(regex, error=error)

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value
