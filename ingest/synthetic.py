"""Generate a synthetic company corpus of a given size (for benchmarks and crash tests).

Usage:
    python -m ingest.synthetic OUT_DIR [--files 200] [--sections 12] [--seed 7]

Each file has headed sections of plausible policy prose (about one chunk per section); a share of
the files are HTML, plain text, DOCX and PDF so the whole parsing pipeline is exercised.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

WORDS = [
    "employee",
    "manager",
    "policy",
    "approval",
    "request",
    "travel",
    "expense",
    "receipt",
    "laptop",
    "office",
    "access",
    "security",
    "incident",
    "report",
    "password",
    "account",
    "training",
    "leave",
    "holiday",
    "contract",
    "salary",
    "budget",
    "project",
    "client",
    "meeting",
    "deadline",
    "review",
    "quarter",
    "annual",
    "document",
    "system",
    "network",
    "backup",
    "device",
    "storage",
    "encryption",
    "supplier",
    "invoice",
    "payment",
    "department",
    "team",
    "schedule",
    "shift",
    "safety",
    "equipment",
    "parking",
    "building",
    "visitor",
    "badge",
    "register",
    "record",
    "archive",
    "retention",
    "audit",
]


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
    words.insert(rng.randint(1, len(words) - 1), str(rng.randint(2, 500)))
    return " ".join(words).capitalize() + "."


def section_text(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(5, 9)))


def write_file(path: Path, title: str, sections: list[tuple[str, str]]) -> None:
    suffix = path.suffix
    if suffix == ".md":
        body = "\n\n".join(f"## {h}\n\n{t}" for h, t in sections)
        path.write_text(f"# {title}\n\n{body}\n")
    elif suffix == ".txt":
        path.write_text(title.upper() + "\n\n" + "\n\n".join(f"{h}\n{t}" for h, t in sections) + "\n")
    elif suffix == ".html":
        body = "".join(f"<h2>{h}</h2><p>{t}</p>" for h, t in sections)
        path.write_text(f"<html><body><h1>{title}</h1>{body}</body></html>")
    elif suffix == ".docx":
        import docx

        document = docx.Document()
        document.add_heading(title, level=0)
        for heading, text in sections:
            document.add_heading(heading, level=1)
            document.add_paragraph(text)
        document.save(str(path))
    elif suffix == ".pdf":
        from reportlab.lib.styles import getSampleStyleSheet
        from reportlab.platypus import Paragraph, SimpleDocTemplate

        styles = getSampleStyleSheet()
        story = [Paragraph(title, styles["Title"])]
        for heading, text in sections:
            story += [Paragraph(heading, styles["Heading2"]), Paragraph(text, styles["BodyText"])]
        SimpleDocTemplate(str(path)).build(story)


def generate(out: Path, files: int, sections: int, seed: int = 7) -> list[Path]:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    kinds = [".md"] * 5 + [".txt"] * 2 + [".html"] * 2 + [".docx", ".pdf"]
    paths = []
    for index in range(files):
        suffix = kinds[index % len(kinds)]
        path = out / f"dept{index % 7}" / f"policy_{index:05d}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        secs = [
            (f"Section {s + 1}: {rng.choice(WORDS)} {rng.choice(WORDS)}", section_text(rng))
            for s in range(sections)
        ]
        write_file(path, f"Policy {index}: {rng.choice(WORDS)} rules", secs)
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--sections", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"wrote {len(generate(args.out, args.files, args.sections, args.seed))} files to {args.out}")
