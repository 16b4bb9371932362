"""Findings and the report, shaped exactly as findings.md's JSON report."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field

from curalog.codes import (
    RECOMMEND,
    SEVERITY,  # noqa: F401  (re-exported: the severity of each code)
)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    source: str
    line: int | None
    project: str
    path: str
    message: str
    fix: str

    def to_dict(self) -> dict:
        return asdict(self)

    def values(self) -> tuple[str, str, str, int | None, str, str, str, str]:
        """The fields in order (``Finding(*values)`` is this finding again)."""
        return (self.code, self.severity, self.source, self.line, self.project, self.path, self.message,
                self.fix)  # fmt: skip


@dataclass
class Report:
    root: str
    generated_at: str
    selections: int = 0
    crops: int = 0
    index_entries: int = 0
    embedding_files: int = 0
    usable_selections: int = 0
    usable_crops: int = 0
    findings: list[Finding] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    reused: bool = False  # True when no input changed and the last full result was reused
    appended: int = 0  # lines judged on their own (``validate.resume``); 0: a full run, or reused

    @staticmethod
    def order(f: Finding) -> tuple:
        """The report's order of findings: by source, line, path, code."""
        return (f.source, f.line or 0, f.path, f.code)

    def recommend(self) -> None:
        """The commands that fix the findings, the one that fixes the most first."""
        fixes: dict[str, int] = {}
        for code, n in self.by_code.items():
            if code in RECOMMEND:
                fixes[RECOMMEND[code]] = fixes.get(RECOMMEND[code], 0) + n
        self.recommendations = [cmd for cmd, _n in sorted(fixes.items(), key=lambda kv: -kv[1])]

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def by_code(self) -> dict[str, int]:
        return dict(sorted(Counter(f.code for f in self.findings).items()))

    def exit_code(self, strict: bool = False) -> int:
        """0 no error · 1 at least one error (or, with strict, a warning)."""
        return 1 if self.errors or (strict and self.warnings) else 0

    @classmethod
    def from_dict(cls, data: dict) -> Report:
        s = data["summary"]
        return cls(
            data["root"], data["generated_at"], s["selections"], s["crops"], s["index_entries"],
            s["embedding_files"], s["usable_selections"], s["usable_crops"],
            [Finding(**f) for f in data["findings"]], list(data["recommendations"]),
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> Report | None:
        """The report ``to_json`` wrote, or None when the text is not one (a damaged memo)."""
        import orjson

        try:
            return cls.from_dict(orjson.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def to_json(self, *, indent: bool = False) -> str:
        """findings.md's JSON report (indented by two, or compact). orjson writes the findings
        straight from their dataclasses, byte for byte what ``json.dumps(self.to_dict(), ...,
        ensure_ascii=False)`` writes, ~20x faster at 100k findings; text it cannot encode (a lone
        surrogate) takes the standard library's path."""
        import orjson

        try:
            data = orjson.dumps(self.document(), option=orjson.OPT_INDENT_2 if indent else 0)
            return data.decode("utf-8")
        except (orjson.JSONEncodeError, UnicodeDecodeError):
            # compact (the validator's memo, stored as UTF-8): escaped, so a surrogate survives
            return json.dumps(self.to_dict(), indent=2 if indent else None, ensure_ascii=not indent,
                              separators=None if indent else (",", ":"))  # fmt: skip

    def document(self) -> dict:
        """``to_dict`` with the findings left as they are (dataclasses, in order): what a JSON
        encoder that knows dataclasses (orjson) writes without a dict per finding."""
        return {**self.to_dict(findings=False), "findings": self.findings,
                "recommendations": list(self.recommendations)}  # fmt: skip

    def to_dict(self, findings: bool = True) -> dict:
        """findings.md's JSON report as plain data (without the findings: the head only)."""
        head = {
            "root": self.root,
            "generated_at": self.generated_at,
            "summary": {
                "selections": self.selections,
                "crops": self.crops,
                "index_entries": self.index_entries,
                "embedding_files": self.embedding_files,
                "usable_selections": self.usable_selections,
                "usable_crops": self.usable_crops,
                "errors": self.errors,
                "warnings": self.warnings,
                "by_code": self.by_code,
            },
        }
        if not findings:
            return head
        return {**head, "findings": [f.to_dict() for f in self.findings],
                "recommendations": list(self.recommendations)}  # fmt: skip
