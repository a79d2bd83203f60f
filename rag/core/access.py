"""Who may read what: path-glob rules mapping corpus files to groups, and the user asking.

``access_rules`` maps gitignore-style globs of paths relative to the corpus root to the groups
that may read the matching files; the first rule that matches a file decides (in the order written).
A file no rule matches is readable by everyone. The groups are stored on every chunk at ingestion
(the ``access`` list, :data:`EVERYONE` for an open file), so search filters by them inside Chroma
and the keyword index; a rule change re-labels the stored chunks on the next ingestion without
embedding anything again.

``user=None`` everywhere means unrestricted: an in-process caller (a script, the CLI, ``make eval``)
or single-user mode. Entry points that serve several people (the HTTP API, the chat) pass a
:class:`User` taken from the login or a trusted proxy's headers.

Example::

    rules = AccessRules({"hr/**": ["hr"], "finance/board/**": ["board", "cfo"]})
    rules.labels("hr/salaries.xlsx")        # ["hr"]
    rules.labels("handbook.pdf")            # ["*"]: everyone
    alice = User("alice", groups={"hr"})
    can_read(alice, ["hr"])                 # True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

EVERYONE = "*"  # the label of a file no rule restricts
ACCESS_KEY = "access"  # the chunk record's list of labels


@dataclass(frozen=True, slots=True)
class User:
    """Someone asking: an id (for logs) and the groups they belong to.

    Example::

        User("alice@example.com", frozenset({"hr", "staff"}))
        User.of("bob", ["finance"])
    """

    id: str
    groups: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, user_id: str, groups: Iterable[str] = ()) -> User:
        return cls(user_id, frozenset(g.strip() for g in groups if g and g.strip()))

    @property
    def labels(self) -> frozenset[str]:
        """The chunk labels this user may read: their groups and :data:`EVERYONE`."""
        return self.groups | {EVERYONE}


class AccessRules:
    """Compiled ``access_rules``: glob -> groups, first match wins, no match = everyone.

    Globs are gitignore patterns (pathspec): ``hr/**`` is everything under ``hr``, ``*.xlsx`` any
    spreadsheet at any depth, ``/board.pdf`` only the top-level file.

    Example::

        AccessRules({"legal/**": ["legal"]}).labels("legal/nda.docx")   # ["legal"]
    """

    def __init__(self, rules: Mapping[str, Sequence[str]] | None = None) -> None:
        from pathspec import PathSpec

        self.rules = dict(rules or {})
        self._compiled = [
            (PathSpec.from_lines("gitignore", [glob]), sorted({g.strip() for g in groups if g.strip()}))
            for glob, groups in self.rules.items()
        ]

    def __bool__(self) -> bool:
        return bool(self.rules)

    def labels(self, source: str) -> list[str]:
        """The groups that may read ``source`` (a path relative to the corpus root)."""
        for spec, groups in self._compiled:
            if spec.match_file(source):
                return groups or [EVERYONE]
        return [EVERYONE]


def can_read(user: User | None, labels: Iterable[str] | None) -> bool:
    """Whether ``user`` (None: unrestricted) may read a chunk labelled ``labels``; a chunk without
    labels (indexed before access control, not yet re-labelled) is read only by unrestricted callers."""
    if user is None:
        return True
    return labels is not None and not user.labels.isdisjoint(labels)


def can_write(user: User | None, writer_groups: Iterable[str]) -> bool:
    """Whether ``user`` may upload and delete documents: unrestricted callers, or a writer group."""
    return user is None or not user.groups.isdisjoint(writer_groups)


def chroma_where(user: User | None) -> dict[str, Any] | None:
    """The Chroma ``where`` clause that keeps only chunks ``user`` may read (None: no restriction)."""
    if user is None:
        return None
    terms: list[dict[str, Any]] = [{ACCESS_KEY: {"$contains": label}} for label in sorted(user.labels)]
    return terms[0] if len(terms) == 1 else {"$or": terms}
