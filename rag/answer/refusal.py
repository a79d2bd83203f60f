"""Refusals from one calibrated score: the estimated chance that an answer is right.

Instead of a stack of hand-set gates, the engine measures a few signals for every candidate answer
(how close the best passage is, how many of the question's words it holds, whether a name of the
question is missing from the hits, how sure the model was of the span it copied, whether the answer
only restates the question) and a logistic regression, fitted with scikit-learn on a fit split,
turns them into a probability. The engine refuses when it is below ``min_confidence`` (default
0.5: answer when a right answer is more likely than a wrong one).

A fit is specific to a backend and a decoding (extractive spans of the bundled model carry
log-probabilities; free text from a server does not). The bundled fits live in
``rag/calibration/``; ``python -m rag.eval --fit-refusal`` fits one for the configured backend and
saves it in ``refusal_dir`` (default ``models_dir``).

Example::

    model = RefusalModel.load(path)
    chance = model.confidence({"passage_score": 0.71, "lexical": 0.5, ...})
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag.answer.gates import unknown_names
from rag.answer.passages import Passage
from rag.core.schema import Hit
from rag.core.settings import Settings
from rag.core.text import content_words, words

BUILTIN_DIR = Path(__file__).parent / "calibration"

# What each signal is; every fit uses the ones its decoding produces.
SIGNALS = {
    "dense_top": "cosine similarity of the best dense hit",
    "passage_score": "similarity of the best passage (cosine + lexical share)",
    "lexical": "share of the question's content words in the best passage",
    "missing_names": "1 when a capitalised name of the question is in no hit",
    "echo": "share of the answer's content words that are in the question",
    "answer_words": "log(1 + words of the answer)",
    "support": "share of the answer's words in its passage",
    "mean_logprob": "mean log-probability of the copied span's tokens (extractive)",
    "allowed_mass": "probability share the model gave to copying (extractive)",
    "refusal_prob": "probability of starting 'I don't know' (extractive)",
}


def measure(
    question: str,
    hits: Sequence[Hit],
    passages: Sequence[Passage],
    answer: str,
    support: float,
    extra: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """The signals of one candidate answer (see :data:`SIGNALS`)."""
    asked = set(content_words(question))
    best = passages[0] if passages else None
    in_best = set(words(best.text)) if best else set()
    said = content_words(answer)
    dense = [float(h.metadata.get("dense_score", 0.0) or 0.0) for h in hits]
    signals = {
        "dense_top": max(dense, default=0.0),
        "passage_score": best.score if best else 0.0,
        "lexical": len(asked & in_best) / len(asked) if asked else 0.0,
        "missing_names": 1.0 if unknown_names(question, list(hits)) else 0.0,
        "echo": sum(1 for w in said if w in asked) / len(said) if said else 1.0,
        "answer_words": math.log1p(len(words(answer))),
        "support": support,
    }
    signals.update(extra or {})
    return signals


@dataclass(slots=True)
class RefusalModel:
    """A fitted logistic regression over named signals (standardised), stored as JSON.

    Example::

        model = RefusalModel.load(Path("rag/answer/calibration/gemma-3-270m.extractive.json"))
        model.confidence(signals)            # 0.0 .. 1.0
    """

    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float = 0.5  # refuse below this confidence (fitted: see ``choose_threshold``)
    fitted_on: str = ""
    held_out: dict[str, Any] = field(default_factory=dict)
    backend: str = ""

    def confidence(self, signals: Mapping[str, float]) -> float:
        z = self.intercept
        for name, mean, scale, weight in zip(self.features, self.mean, self.scale, self.coef, strict=True):
            z += weight * (float(signals.get(name, mean)) - mean) / scale
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    @classmethod
    def load(cls, path: Path) -> RefusalModel:
        try:
            return _load(str(path), path.stat().st_mtime)
        except (OSError, ValueError, TypeError) as error:
            raise ValueError(f"{path}: not a refusal model: {error}") from error

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


@lru_cache(maxsize=16)
def _load(path: str, mtime: float) -> RefusalModel:
    """The model in ``path`` (read again when the file changes)."""
    return RefusalModel(**json.loads(Path(path).read_text(encoding="utf-8")))


def fit(
    rows: Sequence[Mapping[str, float]], correct: Sequence[bool], features: Sequence[str], fitted_on: str
) -> RefusalModel:
    """Fit P(correct | signals) with scikit-learn's logistic regression on standardised signals."""
    import numpy as np

    from rag.core.errors import require

    require("sklearn", "eval")
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.array([[float(r.get(f, 0.0)) for f in features] for r in rows])
    y = np.array([1 if c else 0 for c in correct])
    if len(set(y.tolist())) < 2:
        raise ValueError("the fit needs both right and wrong answers")
    scaler = StandardScaler().fit(x)
    scale = [float(s) if s > 0 else 1.0 for s in scaler.scale_]
    model = LogisticRegression(C=1.0, max_iter=1000).fit((x - scaler.mean_) / scale, y)
    return RefusalModel(
        features=list(features),
        mean=[float(m) for m in scaler.mean_],
        scale=scale,
        coef=[float(c) for c in model.coef_[0]],
        intercept=float(model.intercept_[0]),
        fitted_on=fitted_on,
    )


MAX_FALSE_REFUSALS = 0.15  # the operating point keeps false refusals on the fit split at most this


def choose_threshold(
    confidences: Sequence[float | None], answerable: Sequence[bool], max_false_refusals: float
) -> float:
    """The confidence threshold that refuses the most unanswerable questions while refusing at
    most ``max_false_refusals`` of the answerable ones (None: no candidate answer, a refusal)."""
    pairs = list(zip(confidences, answerable, strict=True))
    needed = [c for c, a in pairs if a]
    candidates = sorted({c for c, _ in pairs if c is not None})
    best = 0.0
    for threshold in candidates:
        refused = sum(1 for c in needed if c is None or c < threshold)
        if needed and refused / len(needed) > max_false_refusals:
            break
        best = threshold
    return round(best, 4)


def builtin_model(decoding: str) -> Path:
    """The bundled fit for the bundled model and a decoding (extractive or free)."""
    return BUILTIN_DIR / f"gemma-3-270m.{decoding}.json"


def fitted_path(settings: Settings, decoding: str) -> Path:
    """Where ``python -m rag.eval --fit-refusal`` saves the fit for the configured backend."""
    folder = settings.refusal_dir or settings.models_dir
    return folder / f"refusal.{backend_key(settings)}.{decoding}.json"


def backend_key(settings: Settings) -> str:
    """A file-name-safe name of the configured model: ``bundled``, the GGUF's stem, or the
    server's model name."""
    if settings.llm_mode == "openai":
        name = f"openai-{settings.llm_model}"
    elif settings.llm_model_path:
        name = Path(settings.llm_model_path).stem
    else:
        name = "bundled"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def find_refusal_model(settings: Settings, info: Any, decoding: str) -> RefusalModel | None:
    """The fit saved by ``--fit-refusal`` for this model, else the bundled model's fit (a
    stand-in for other models: fit your own)."""
    if settings.llm_mode == "fake" or (settings.min_confidence is not None and settings.min_confidence <= 0):
        return None
    path = fitted_path(settings, decoding)
    if path.is_file():
        return RefusalModel.load(path)
    builtin = builtin_model(decoding)
    return RefusalModel.load(builtin) if builtin.is_file() else None
