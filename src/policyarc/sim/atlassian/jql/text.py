"""JQL text search (`~`, `!~`), a small model of Jira's Lucene matching.

Rules implemented:
- Text and query are split into words (runs of letters, digits and '_'), compared case-insensitively;
  English stop words ("the", "and", "of", ...) are ignored on both sides, as Lucene's analyser does.
- Every word of the query must occur in the field (Jira Cloud ANDs the terms); order does not matter.
- A word ending in `*` matches any word with that prefix (`auth*`); `?` matches one character.
  A leading wildcard is refused, as in Jira.
- A part in double quotes inside the value ('"exact phrase"', or "\\"exact phrase\\"") must occur as
  consecutive words.
- Not modelled: stemming ("customers" does not match "customer"), fuzzy `~`, boosts, Lucene OR/NOT syntax.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

_STOP_TEXT = (
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with"
)
STOP_WORDS = frozenset(_STOP_TEXT.split())
_WORD = re.compile(r"\w+")
_QUERY_PART = re.compile(r'"([^"]*)"|([^\s"]+)')
_QUERY_WORD = re.compile(r"[\w*?]+")


class TextQueryError(ValueError):
    """A text query Jira refuses; the message is Jira's."""


@lru_cache(maxsize=16384)
def analyze(text: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """The words of `text` in order (stop words dropped), and as a set."""
    words = tuple(w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS)
    return words, frozenset(words)


def compile_text_query(query: str, field: str) -> Callable[[str], bool]:
    """A predicate over a field's text, true when the text contains the query (see the module rules)."""
    if not query.strip():
        raise TextQueryError(f"The field '{field}' does not support searching for an empty string.")
    exact: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    phrases: list[tuple[str, ...]] = []
    for phrase, loose in _QUERY_PART.findall(query.lower()):
        if phrase:
            words = analyze(phrase)[0]
            if len(words) > 1:
                phrases.append(words)
            exact.update(words)
            continue
        for word in _QUERY_WORD.findall(loose):
            if word[0] in "*?":
                raise TextQueryError(
                    f"The text query '{query}' for field '{field}' is not allowed to start with a wildcard."
                )
            if "*" in word or "?" in word:
                regex = "".join(r"\w*" if c == "*" else r"\w" if c == "?" else re.escape(c) for c in word)
                patterns.append(re.compile(regex))
            elif word not in STOP_WORDS:
                exact.update(_WORD.findall(word))
    if not (exact or patterns):
        return lambda text: False

    def matches(text: str) -> bool:
        words, vocabulary = analyze(text)
        if not exact <= vocabulary:
            return False
        if any(not any(p.fullmatch(w) for w in vocabulary) for p in patterns):
            return False
        return all(_contains_run(words, phrase) for phrase in phrases)

    return matches


def _contains_run(words: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    first = phrase[0]
    return any(words[i : i + n] == phrase for i, w in enumerate(words) if w == first)
