"""A corpus with five reader groups (and open documents) for the access-control tests.

Every document repeats topics that documents of other groups share (so an unfiltered search finds
restricted documents for almost any question), and carries codewords of its own group
(``HR-CODE-17``): a codeword of a group the user is not in, anywhere in what the user gets back, is a
leak.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from rag.core.access import AccessRules, User, can_read

GROUPS = ("hr", "finance", "legal", "engineering", "board")
RULES: dict[str, list[str]] = {
    "hr/**": ["hr"],
    "finance/**": ["finance"],
    "legal/**": ["legal"],
    "engineering/**": ["engineering"],
    "board/**": ["board"],
    "shared/finance-legal/**": ["finance", "legal"],
}
FOLDERS = {"hr": "hr", "finance": "finance", "legal": "legal", "engineering": "engineering",
           "board": "board", "finance+legal": "shared/finance-legal", "open": "public"}  # fmt: skip
TOPICS = (
    ("travel budget", "The travel budget for the next quarter is {n} euros per person."),
    ("laptop refresh", "Laptops are replaced every {n} months under the refresh plan."),
    ("office move", "The office move to the new building starts in week {n}."),
    ("bonus pool", "The bonus pool this year is {n} percent of salaries."),
    ("vendor contract", "The cleaning vendor contract runs for {n} years."),
    ("security incident", "The last security incident was closed after {n} hours."),
    ("hiring plan", "The hiring plan adds {n} engineers in the spring."),
    ("parental leave", "Parental leave is {n} weeks at full pay."),
)
CODE = re.compile(r"\b([A-Z]+)-CODE-\d+\b")


def codeword(folder_key: str, number: int) -> str:
    return f"{folder_key.replace('+', '').upper()}-CODE-{number}"


def write_corpus(root: Path, documents_per_folder: int = 4, seed: int = 7) -> dict[str, str]:
    """Write the corpus under ``root``; source path -> its folder key."""
    rng = random.Random(seed)
    written = {}
    for key, folder in FOLDERS.items():
        for number in range(documents_per_folder):
            lines = [f"# {key.title()} notes {number}", ""]
            for section, (topic, sentence) in enumerate(rng.sample(TOPICS, 4)):
                code = codeword(key, number * 10 + section)
                lines += [f"## {topic.title()}", "", sentence.format(n=rng.randint(2, 90)) +
                          f" The codeword for {topic} is {code}.", ""]  # fmt: skip
            path = root / folder / f"{key.replace('+', '-')}-{number}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines), encoding="utf-8")
            written[path.relative_to(root).as_posix()] = key
    return written


def random_user(rng: random.Random, number: int) -> User:
    return User.of(f"user{number}", rng.sample(GROUPS, rng.randint(0, 3)))


def random_question(rng: random.Random) -> str:
    if rng.random() < 0.4:  # a codeword of some group: keyword search finds exactly that document
        key = rng.choice(list(FOLDERS))
        return f"What is the codeword {codeword(key, rng.randint(0, 3) * 10 + rng.randint(0, 3))} about?"
    topic = rng.choice(TOPICS)[0]
    return rng.choice([f"What is the {topic}?", f"Tell me about the {topic}.", f"{topic} details"])


def forbidden_codes(text: str, user: User, rules: AccessRules) -> list[str]:
    """Codewords in ``text`` from documents ``user`` may not read."""
    leaks = []
    for found in CODE.finditer(text):
        prefix = found.group(1)
        key = next(k for k in FOLDERS if k.replace("+", "").upper() == prefix)
        folder = FOLDERS[key]
        if not can_read(user, rules.labels(f"{folder}/x.md")):
            leaks.append(found.group(0))
    return leaks
