"""``curalog repair embeddings``: every decision image gets a vector, and sound orphan vectors an entry.

Two gaps the store can have after old bugs or killed runs:
  1. an image some decision names has no index entry (it was never embedded, or the entry was
     lost): applying embeds it (missing-only, so nothing already embedded is touched);
  2. a vector file that no index entry names (an orphan): applying adopts it when it is sound and
     its hash matches an image under the root (``Project.adopt_orphans``), else says why not.
The plan only reads; like the other repairs, nothing changes until the plan is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from curalog.embeddings.runner import EmbedResult
from curalog.embeddings.store import PutResult, StoreProblem
from curalog.progress import Progress
from curalog.project import Project

ORPHAN_CODE = "embedding.orphan_file"


@dataclass
class EmbeddingsPlan:
    """What ``repair embeddings`` would do."""

    missing: list[str] = field(default_factory=list)  # decision images with no index entry
    orphans: list[StoreProblem] | None = None  # vector files no entry names; None: not looked for


@dataclass
class EmbeddingsRepair:
    """What applying the plan did."""

    embedded: EmbedResult  # the missing images' embedding run
    adopted: list[PutResult] = field(default_factory=list)  # orphans tried (an ``error`` says why not)
    not_adopted: list[tuple[str, str]] = field(default_factory=list)  # (vector file, reason) skipped

    @property
    def ok(self) -> bool:
        """No image failed to embed and no orphan was passed over."""
        return not self.embedded.failed and not self.not_adopted


def plan_embeddings(project: Project, *, orphans: bool = True) -> EmbeddingsPlan:
    """What ``repair embeddings`` would do (reads only). ``orphans=False`` skips the store check
    that lists the orphan vector files: applying finds them itself, so a run that applies at once
    need not read every vector file twice."""
    embeddings = project.embeddings
    missing = [p for p in project.ledger.referenced_images() if embeddings.lookup(p) is None]
    found = None
    if orphans:
        found = [p for p in project.verify().problems if p.code == ORPHAN_CODE]
    return EmbeddingsPlan(missing=missing, orphans=found)


def apply_embeddings(
    project: Project, plan: EmbeddingsPlan, progress: Progress | None = None
) -> EmbeddingsRepair:
    """Embed the plan's missing images with the project's embedder, then adopt every sound orphan
    vector whose hash matches an image under the root."""
    result = project.embed(plan.missing, missing_only=True, progress=progress)
    adopted, skipped = project.adopt_orphans(progress=progress)
    return EmbeddingsRepair(embedded=result, adopted=adopted, not_adopted=skipped)
