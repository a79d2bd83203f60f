"""Words of any script, the way every comparison in the engine reads them.

Passage scoring, the support check and the refusal signals all compare words of a question, a
passage and an answer. ``\\w+`` alone reads a run of Chinese or Japanese as one huge "word" and glues
digits to it (``默认512``, ``1.0即禁用``), so an answer of "512" was never found in its own passage.
Here each run of those scripts becomes its overlapping character bigrams (single characters for a
run of one), set apart from the digits and Latin words around it; other scripts (Latin, Cyrillic,
Arabic, Hangul, ...) are split on ``\\w+`` and lower-cased (``casefold``) where they have case.

Stop words come from libraries, chosen by each word's script so that no list removes a real word of
another language: bm25s's lists (NLTK's English list for Latin words, its Chinese, Russian and Korean
lists) and spaCy's where bm25s has none (Japanese, Arabic, Persian, Urdu, Hindi, Greek, Hebrew,
Thai). spaCy's English list was tried first and dropped: it holds content words ("move", "fire",
"bill", "side") that questions are about.

Example::

    words("默认512，1.0即禁用")       # ["默认", "512", "1", "0", "即禁", "禁用"]
    content_words("What is the size of 罗店镇?")   # ["size", "罗店", "店镇"]
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Scripts written without spaces: Han (Chinese, Japanese kanji), kana, iteration and prolonged
# sound marks. Hangul is written with spaces and is read as words.
_HAN = "\u3005\u3006\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
UNSPACED_CHARS = _HAN  # the character class, for patterns of other modules
UNSPACED = re.compile(f"[{_HAN}]+")
_TOKEN = re.compile(f"[{_HAN}]+|[^\\W_{_HAN}]+")
NUMBER = re.compile(r"\d+")

# Stop lists per script of the word: bm25s list names, then spaCy language packages.
_STOP_LISTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "latin": (("STOPWORDS_EN_PLUS",), ()),
    "han": (("STOPWORDS_CHINESE",), ("ja",)),
    "cyrillic": (("STOPWORDS_RUSSIAN",), ()),
    "hangul": (("STOPWORDS_KOREAN",), ()),
    "arabic": ((), ("ar", "fa", "ur")),
    "devanagari": ((), ("hi", "mr")),
    "greek": ((), ("el",)),
    "hebrew": ((), ("he",)),
    "thai": ((), ("th",)),
}


def words(text: str) -> list[str]:
    """Lower-cased words of ``text``; runs of Chinese/Japanese as character bigrams."""
    found: list[str] = []
    for match in _TOKEN.finditer(text.casefold()):
        token = match.group(0)
        if UNSPACED.fullmatch(token):
            found += bigrams(token)
        else:
            found.append(token)
    return found


def bigrams(run: str) -> list[str]:
    """Overlapping character pairs of a run of Chinese/Japanese ("教学语言" -> 教学 学语 语言); a
    single character stays itself."""
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def content_words(text: str) -> list[str]:
    """:func:`words` without the stop words of each word's script and single Latin letters;
    numbers, spelled out too ("six", "hundred"), always count."""
    found = []
    for word in words(text):
        kind = script(word)
        if (kind == "latin" and (word.isdigit() or _like_number(word))) or (
            word not in stop_words(kind) and not (kind == "latin" and len(word) == 1)
        ):
            found.append(word)
    return found


def _like_number(word: str) -> bool:
    from spacy.lang.en.lex_attrs import like_num

    return bool(like_num(word))


def numbers(text: str) -> list[str]:
    """The digit runs of ``text`` ("v1.0 at 18:00" -> ["1", "0", "18", "00"])."""
    return NUMBER.findall(text)


def script(word: str) -> str:
    """The script of a word's first letter: latin (and digits), han, arabic, cyrillic, ..."""
    for char in word:
        if char.isdigit() or char.isascii():
            return "latin"
        if UNSPACED.match(char):
            return "han"
        name = unicodedata.name(char, "").split(" ")[0].lower()
        return name if name in _STOP_LISTS else "latin" if name in ("latin", "") else name
    return "latin"


@lru_cache(maxsize=32)
def stop_words(script_name: str) -> frozenset[str]:
    """The stop words of the languages written in ``script_name`` (empty for others)."""
    import importlib

    import bm25s.stopwords

    lists, languages = _STOP_LISTS.get(script_name, ((), ()))
    found: set[str] = {w.casefold() for name in lists for w in getattr(bm25s.stopwords, name)}
    for language in languages:
        try:
            module = importlib.import_module(f"spacy.lang.{language}.stop_words")
        except ImportError:
            continue
        found |= {w.casefold() for w in module.STOP_WORDS}
    if script_name == "han":
        # The Chinese list also holds digits and punctuation; only Han/kana words matter here.
        found = {w for w in found if UNSPACED.fullmatch(w)}
    return frozenset(found)


def has_unspaced(text: str) -> bool:
    """Whether ``text`` holds Chinese or Japanese characters."""
    return UNSPACED.search(text) is not None
