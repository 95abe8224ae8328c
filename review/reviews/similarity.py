"""Suspicious overlap between the reviews of one paper session, for the instructor to inspect.

Every student reviews the same paper, so all reviews share its vocabulary; what sets a copied
review apart is long runs of identical wording. This module scores every pair of reviews in a
session, flags the pairs above a threshold, and shows where the shared wording is. It flags for a
human to look at; it proves nothing on its own.

Public API:
    find_similar_reviews(reviews, *, threshold=DEFAULT_THRESHOLD, min_passage_words=6)
        -> list[SimilarPair[Key]]
        ``reviews`` is a sequence of ``(key, text)`` with distinct hashable keys (review ids,
        student ids...). Flagged pairs come most similar first; in each pair ``first_key`` is
        the review that came first in the input.
    shared_passages(first_text, second_text, *, min_words=6) -> list[SharedPassage]
        The maximal runs of at least ``min_words`` identical words (ignoring case and
        punctuation) found in both texts, in either order, as character spans in each text.
    highlight_spans(text, spans) -> markupsafe.Markup
        ``text`` escaped for HTML with every span wrapped in ``<mark>``. Line breaks stay as
        newlines, so show it in an element styled ``white-space: pre-wrap``.

Data:
    TextSpan(start, end)                        characters ``text[start:end]``
    SharedPassage(first, second, word_count)    one passage: its span in each text
    SimilarPair(first_key, second_key, score, passages)
        ``score`` is the TF-IDF cosine similarity in [0, 1]; ``first_spans``/``second_spans``
        give the passages' spans per text, ready for ``highlight_spans``.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from markupsafe import Markup, escape

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

Key = TypeVar("Key", bound=Hashable)

# With word 1-3-grams, independent reviews of one paper score below about 0.15 (shared
# terminology is down-weighted by IDF, and independent writers rarely share three-word runs),
# while a copied review with light edits scores about 0.55-0.8. 0.5 sits in the gap with a margin
# on the side of not missing copies: a false flag costs the instructor a glance, since the
# highlighted passages make innocent overlap obvious.
DEFAULT_THRESHOLD = 0.5
DEFAULT_MIN_PASSAGE_WORDS = 6

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class TextSpan:
    """Characters ``text[start:end]`` of one text."""

    start: int
    end: int


@dataclass(frozen=True)
class SharedPassage:
    """A run of identical words found in both texts, located in each."""

    first: TextSpan
    second: TextSpan
    word_count: int


@dataclass(frozen=True)
class SimilarPair(Generic[Key]):
    """Two reviews whose similarity reached the threshold, with their shared passages."""

    first_key: Key
    second_key: Key
    score: float
    passages: tuple[SharedPassage, ...]

    @property
    def first_spans(self) -> list[TextSpan]:
        return [passage.first for passage in self.passages]

    @property
    def second_spans(self) -> list[TextSpan]:
        return [passage.second for passage in self.passages]


def find_similar_reviews(
    reviews: Sequence[tuple[Key, str]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_passage_words: int = DEFAULT_MIN_PASSAGE_WORDS,
) -> list[SimilarPair[Key]]:
    """Flag the pairs of reviews whose TF-IDF cosine similarity is at least ``threshold``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    keys = [key for key, _ in reviews]
    if len(set(keys)) != len(keys):
        raise ValueError("review keys must be distinct")
    # A review without a single word has nothing to compare, and an all-empty session would
    # leave the vectorizer with no vocabulary at all.
    worded = [(key, text) for key, text in reviews if _WORD.search(text)]
    if len(worded) < 2:
        return []

    # Word 1-3-grams rather than single words or character n-grams: single words and character
    # n-grams mostly measure the shared topic (every review says "weight decay", "Adam", "L2"),
    # so independent reviews already score 0.5 and a copy barely stands out. Word bigrams and
    # trigrams measure shared phrasing, which independent writers rarely have; keeping unigrams
    # lets a copy with a synonym every few words still score high. Sublinear TF stops one
    # repeated phrase from dominating. IDF is fitted on this session only, so the paper's own
    # terms, used by everyone, count for little.
    vectorizer = TfidfVectorizer(
        analyzer="word", token_pattern=_WORD.pattern, ngram_range=(1, 3), sublinear_tf=True
    )
    similarities = cosine_similarity(vectorizer.fit_transform([text for _, text in worded]))

    flagged: list[SimilarPair[Key]] = []
    for first, second in itertools.combinations(range(len(worded)), 2):
        score = float(similarities[first, second])
        if score < threshold:
            continue
        (first_key, first_text), (second_key, second_text) = worded[first], worded[second]
        passages = shared_passages(first_text, second_text, min_words=min_passage_words)
        flagged.append(SimilarPair(first_key, second_key, min(score, 1.0), tuple(passages)))
    # Stable sort: equal scores keep input order.
    flagged.sort(key=lambda pair: -pair.score)
    return flagged


def shared_passages(
    first_text: str, second_text: str, *, min_words: int = DEFAULT_MIN_PASSAGE_WORDS
) -> list[SharedPassage]:
    """Maximal runs of at least ``min_words`` equal words common to both texts, in first-text order.

    Unlike difflib's matching blocks, which only pair passages appearing in the same order,
    this finds a copied paragraph wherever it was moved to, because reordering sections is the
    cheapest disguise for a copied review.
    """
    if min_words < 1:
        raise ValueError(f"min_words must be at least 1, got {min_words}")
    first_words = [(match.group().casefold(), match.span()) for match in _WORD.finditer(first_text)]
    second_words = [(match.group().casefold(), match.span()) for match in _WORD.finditer(second_text)]
    first_tokens = [token for token, _ in first_words]
    second_tokens = [token for token, _ in second_words]

    starts_in_first: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index in range(len(first_tokens) - min_words + 1):
        starts_in_first[tuple(first_tokens[index : index + min_words])].append(index)

    runs: list[tuple[int, int, int]] = []
    for second_start in range(len(second_tokens) - min_words + 1):
        seed = tuple(second_tokens[second_start : second_start + min_words])
        for first_start in starts_in_first.get(seed, []):
            continues_earlier_run = (
                first_start > 0
                and second_start > 0
                and first_tokens[first_start - 1] == second_tokens[second_start - 1]
            )
            if continues_earlier_run:
                continue
            length = min_words
            while (
                first_start + length < len(first_tokens)
                and second_start + length < len(second_tokens)
                and first_tokens[first_start + length] == second_tokens[second_start + length]
            ):
                length += 1
            runs.append((length, first_start, second_start))

    # Longest first, so that text repeated within one review is paired once, with its best match.
    runs.sort(key=lambda run: (-run[0], run[1], run[2]))
    used_in_first = [False] * len(first_tokens)
    used_in_second = [False] * len(second_tokens)
    passages: list[SharedPassage] = []
    for length, first_start, second_start in runs:
        first_range = range(first_start, first_start + length)
        second_range = range(second_start, second_start + length)
        if any(used_in_first[i] for i in first_range) or any(used_in_second[i] for i in second_range):
            continue
        for i in first_range:
            used_in_first[i] = True
        for i in second_range:
            used_in_second[i] = True
        passages.append(
            SharedPassage(
                first=_span_of_words(first_words, first_start, length),
                second=_span_of_words(second_words, second_start, length),
                word_count=length,
            )
        )
    passages.sort(key=lambda passage: passage.first.start)
    return passages


def highlight_spans(text: str, spans: Iterable[TextSpan]) -> Markup:
    """Escape ``text`` for HTML and wrap each span (overlapping spans merged) in ``<mark>``."""
    merged: list[TextSpan] = []
    for span in sorted(spans, key=lambda span: (span.start, span.end)):
        if not 0 <= span.start <= span.end <= len(text):
            raise ValueError(f"span {span} does not fit a text of {len(text)} characters")
        if span.start == span.end:
            continue
        if merged and span.start <= merged[-1].end:
            merged[-1] = TextSpan(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    pieces: list[str] = []
    position = 0
    for span in merged:
        pieces.append(escape(text[position : span.start]))
        pieces.append(Markup("<mark>") + escape(text[span.start : span.end]) + Markup("</mark>"))
        position = span.end
    pieces.append(escape(text[position:]))
    return Markup("").join(pieces)


def _span_of_words(words: list[tuple[str, tuple[int, int]]], start: int, length: int) -> TextSpan:
    return TextSpan(words[start][1][0], words[start + length - 1][1][1])
