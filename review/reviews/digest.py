"""The question digest of a paper session: students' discussion questions, grouped.

Every review ends with questions for discussion in class. Before the session the presenters and
the instructor want to see which questions many students asked, most asked first, instead of
reading the same question thirty times. This module groups near-duplicate questions (same topic,
different wording) and picks one to show for each group.

Public API:
    cluster_questions(questions, *, threshold=DEFAULT_THRESHOLD) -> list[QuestionCluster[Key]]
        Groups of near-duplicate questions, biggest first; groups of equal size keep the order
        in which their first question appeared. Members keep input order. Deterministic: the
        same input always gives the same output. Within a group, identical and near-identical
        copies (case, punctuation, a typo) collapse into one ``entries`` item with a count, so
        fifteen copies of one sentence are listed once.

Data:
    Question(key, author_key, text)             one question, keys are any hashable ids
    QuestionCluster(representative, members, entries)
                                                ``count``: number of questions;
                                                ``author_keys``: distinct askers in input order
    QuestionEntry(representative, members)      copies of one question; ``count``, ``author_keys``
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar


if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

Key = TypeVar("Key", bound=Hashable)

# Average-linkage cosine similarity two groups need to be merged. On paraphrased questions about
# one paper, questions on one topic average about 0.2-0.4 and questions on different topics that
# share the paper's vocabulary stay below about 0.15.
DEFAULT_THRESHOLD = 0.2
# Similarity above which two questions are copies of one sentence rather than paraphrases: a
# changed letter or a dropped word keeps copies above 0.8; paraphrases of one question stay
# below about 0.5.
NEAR_IDENTICAL = 0.8

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Question(Generic[Key]):
    """One discussion question written by one student."""

    key: Key
    author_key: Hashable
    text: str


@dataclass(frozen=True)
class QuestionEntry(Generic[Key]):
    """Copies of one question (identical or nearly so); the first copy stands for them all."""

    members: tuple[Question[Key], ...]

    @property
    def representative(self) -> Question[Key]:
        return self.members[0]

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def author_keys(self) -> tuple[Hashable, ...]:
        return tuple(dict.fromkeys(question.author_key for question in self.members))


@dataclass(frozen=True)
class QuestionCluster(Generic[Key]):
    """Questions asking the same thing; ``representative`` is the one to show for all of them."""

    representative: Question[Key]
    members: tuple[Question[Key], ...]
    # The members with copies collapsed, most copies first (ties keep input order).
    entries: tuple[QuestionEntry[Key], ...] = ()

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def author_keys(self) -> tuple[Hashable, ...]:
        return tuple(dict.fromkeys(question.author_key for question in self.members))


def cluster_questions(
    questions: Sequence[Question[Key]], *, threshold: float = DEFAULT_THRESHOLD
) -> list[QuestionCluster[Key]]:
    """Group near-duplicate questions, biggest group first."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if not questions:
        return []
    similarity = _similarity_matrix([question.text for question in questions])
    labels = _cluster_labels(similarity, threshold)

    members_by_label: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        members_by_label.setdefault(int(label), []).append(index)
    # Dicts keep insertion order, so groups are already in order of their first question;
    # the stable sort keeps that order among groups of equal size.
    groups = sorted(members_by_label.values(), key=len, reverse=True)
    return [
        QuestionCluster(
            representative=questions[_most_central(group, similarity, questions)],
            members=tuple(questions[index] for index in group),
            entries=_collapse_copies(group, similarity, questions),
        )
        for group in groups
    ]


def _normalised(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


def _collapse_copies(
    group: list[int], similarity: NDArray[np.float64], questions: Sequence[Question[Key]]
) -> tuple[QuestionEntry[Key], ...]:
    """Each question joins the first entry it copies (same words, or nearly the same text)."""
    entries: list[list[int]] = []
    for index in group:
        words = _normalised(questions[index].text)
        for entry in entries:
            first = entry[0]
            if words == _normalised(questions[first].text) or similarity[index, first] >= NEAR_IDENTICAL:
                entry.append(index)
                break
        else:
            entries.append([index])
    entries.sort(key=len, reverse=True)
    return tuple(QuestionEntry(tuple(questions[index] for index in entry)) for entry in entries)


def _similarity_matrix(texts: list[str]) -> NDArray[np.float64]:
    # Stop words go first: in short questions "why does the ... when" would otherwise make
    # unrelated questions look alike. Character n-grams within words then match the same terms
    # in different forms ("restart"/"restarts", "generalize"/"generalization"), which is most of
    # what tells paraphrases apart from different questions that use the paper's vocabulary.
    import numpy as np
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity
    content = [
        " ".join(word for word in _WORD.findall(text.casefold()) if word not in ENGLISH_STOP_WORDS)
        for text in texts
    ]
    similarity = np.eye(len(texts))
    # A question made only of stop words ("Why?") has nothing to compare and stays alone; if
    # every question is like that, the vectorizer would have no vocabulary at all.
    if any(content):
        vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5)).fit_transform(content)
        similarity = np.clip(cosine_similarity(vectors), 0.0, 1.0)
        np.fill_diagonal(similarity, 1.0)
    return similarity


def _cluster_labels(similarity: NDArray[np.float64], threshold: float) -> NDArray[np.int64]:
    import numpy as np
    from sklearn.cluster import AgglomerativeClustering
    if len(similarity) == 1:
        return np.zeros(1, dtype=np.int64)
    # Average linkage rather than connected components over the threshold: a single borderline
    # pair cannot chain two topics into one group, because groups merge only when their
    # questions are similar on average.
    clustering = AgglomerativeClustering(
        n_clusters=None,
        metric="precomputed",
        linkage="average",
        distance_threshold=1.0 - threshold,
    )
    labels: NDArray[np.int64] = clustering.fit_predict(1.0 - similarity)
    return labels


def _most_central(
    group: list[int], similarity: NDArray[np.float64], questions: Sequence[Question[Key]]
) -> int:
    """The member most similar to the rest; ties go to the shorter, then the earlier question."""

    def centrality(index: int) -> float:
        others = [other for other in group if other != index]
        # Rounded so that float noise cannot decide between equally central questions.
        return round(float(similarity[index, others].mean()), 9) if others else 1.0

    return min(group, key=lambda index: (-centrality(index), len(questions[index].text), index))
