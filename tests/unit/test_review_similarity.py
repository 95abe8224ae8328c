"""Overlap detection between the reviews of one session: copies stand out, independent reviews don't."""

from __future__ import annotations

import re

import pytest

from review.reviews.similarity import (
    DEFAULT_THRESHOLD,
    TextSpan,
    find_similar_reviews,
    highlight_spans,
    shared_passages,
)

# Six independent reviews of "Decoupled Weight Decay Regularization" (week 5): same paper, same
# guideline headings, same terminology, different wording.
INDEPENDENT_REVIEWS: dict[str, str] = {
    "ayse": (
        "Summary: The paper shows that L2 regularization and weight decay are not the same thing "
        "for adaptive optimizers like Adam, and proposes AdamW, which applies the decay directly to "
        "the weights instead of adding it to the gradient.\n\n"
        "Strengths: The argument is simple and convincing. I learned that the equivalence we saw in "
        "the lecture only holds for plain SGD. The experiments on CIFAR-10 and ImageNet32 show that "
        "the best learning rate and decay factor become much less coupled.\n\n"
        "Weaknesses: Most experiments use image classification with ResNets, so it is unclear whether "
        "the conclusions transfer to language models. The normalized weight decay heuristic feels "
        "ad hoc.\n\n"
        "Ideas: Try the method on transformers and on tasks with very long training.\n\n"
        "Questions: Why does Adam with L2 generalize worse than SGD with momentum?"
    ),
    "burak": (
        "This work studies how weight decay interacts with Adam. The authors observe that adding an "
        "L2 penalty to the loss gets rescaled by Adam's per-parameter step sizes, so weights with "
        "large gradient history are regularized less than they should be. Their fix, decoupling the "
        "decay from the gradient step, is one line of code.\n\n"
        "What I liked most is the hyperparameter heatmaps: with AdamW the good region is a diagonal "
        "band that is much wider, which makes tuning easier. Combining it with warm restarts "
        "(AdamWR) also gave strong anytime performance.\n\n"
        "A limitation is that the theory is mostly informal; there is no convergence proof for the "
        "decoupled version. The comparison with SGD uses a fixed budget of epochs.\n\n"
        "Maybe one could derive the optimal decay schedule from the learning rate schedule. "
        "Does decoupling still matter when batch normalization makes the network scale invariant?"
    ),
    "cem": (
        "Loshchilov and Hutter point out a subtle bug in how most libraries implemented weight decay "
        "for Adam: they used L2 regularization, which is equivalent to weight decay only for SGD. "
        "They propose decoupled weight decay (AdamW and SGDW) and normalized weight decay that "
        "depends on the number of batch passes.\n\n"
        "The main takeaway for me: regularization and optimization choices interact, and a "
        "'standard' trick can silently change meaning under a different optimizer. The paper is "
        "clearly written and the fix was adopted by PyTorch.\n\n"
        "On the negative side, the evaluation is limited to small image datasets and a few "
        "architectures, and the gains over well tuned Adam are sometimes small. The paper also does "
        "not discuss what happens with gradient clipping.\n\n"
        "It would be interesting to test AdamW on reinforcement learning where Adam is the default. "
        "Question: how should we choose the decay factor when training for very few epochs?"
    ),
    "deniz": (
        "In one sentence, the paper argues that Adam generalizes poorly partly because of the way "
        "weight decay was implemented, and fixes it by decoupling the decay step.\n\n"
        "I appreciated the clear derivation showing that for SGD an L2 term and multiplicative decay "
        "are equivalent after reparametrizing the decay factor, but for Adam the preconditioner breaks "
        "this. The cosine annealing experiments were also useful to understand warm restarts.\n\n"
        "I am not fully convinced by the claim that AdamW closes the gap with SGD; several figures "
        "show overlapping error bars and only a couple of random seeds. Fundamental question: the "
        "decay is still a global constant while Adam adapts everything else.\n\n"
        "An idea would be a per-layer decay that adapts like the learning rate does. "
        "Discussion question: is weight decay in AdamW really regularization, or does it act through "
        "the effective learning rate?"
    ),
    "elif": (
        "The authors show that L2 regularization is not effective in Adam and propose AdamW, where "
        "the weight decay term is applied separately from the adaptive gradient update.\n\n"
        "Strong points: a simple change with a big practical impact, plus a good analysis of the "
        "hyperparameter space, showing that the optimal weight decay no longer depends so much on the "
        "learning rate. I learned why many people get worse results with Adam on CIFAR.\n\n"
        "Weak points: they only consider image classification; experiments on NLP are missing. The "
        "normalization of the decay by the total number of updates is introduced without much "
        "justification.\n\n"
        "To fix this one could run a large study on language modeling. I did not understand the "
        "section on scheduled multipliers.\n\n"
        "Question for class: does AdamW remove the need for learning rate warmup?"
    ),
    "furkan": (
        "The paper is about the difference between weight decay and L2 regularization for adaptive "
        "gradient methods. It introduces AdamW and also SGDW with warm restarts.\n\n"
        "The strongest part is the observation itself, which is obvious in hindsight but had a big "
        "effect: frameworks changed their optimizers afterwards. The experiments separating the "
        "learning rate from the decay factor are convincing.\n\n"
        "Limitations: results are on small networks trained on CIFAR-10 and a downsampled ImageNet, "
        "and improvements are a few tenths of a percent. The method still needs the decay factor "
        "to be tuned by hand.\n\n"
        "One could learn the decay factor with hypergradients. "
        "Question: why does the paper normalize the weight decay by the number of epochs?"
    ),
}

# Ayşe's review copied with light edits: a few synonyms, the "Ideas" section moved up, one
# sentence replaced.
LIGHTLY_EDITED_COPY_OF_AYSE = (
    "Summary: This paper shows that L2 regularization and weight decay are not the same thing "
    "for adaptive optimizers such as Adam, and proposes AdamW, which applies the decay directly to "
    "the weights rather than adding it to the gradient.\n\n"
    "Strengths: The argument is simple and very convincing. I learned that the equivalence we saw "
    "in class only holds for plain SGD. The experiments on CIFAR-10 and ImageNet32 show that the "
    "best learning rate and decay factor become much less coupled.\n\n"
    "Ideas: Try the method on transformers and on tasks with very long training runs.\n\n"
    "Weaknesses: Most experiments use image classification with ResNets, so it is not clear "
    "whether the conclusions transfer to language models. The paper is also quite short.\n\n"
    "Questions: Why does Adam with L2 generalize worse than SGD with momentum?"
)

# Cem's review copied with heavier edits: a synonym in nearly every sentence, sections swapped.
HEAVILY_EDITED_COPY_OF_CEM = (
    "Loshchilov and Hutter identify a subtle bug in how most libraries implemented weight decay "
    "for Adam: they used L2 regularization, which matches weight decay only for plain SGD. "
    "They introduce decoupled weight decay (AdamW and SGDW) and a normalized weight decay that "
    "depends on the number of batch passes.\n\n"
    "On the negative side, the evaluation is restricted to small image datasets and a handful of "
    "architectures, and the improvements over well tuned Adam are often small. The paper also does "
    "not say what happens with gradient clipping.\n\n"
    "The key takeaway for me: regularization and optimization choices interact, and a "
    "standard trick can quietly change meaning under another optimizer. The paper is "
    "well written and PyTorch adopted the fix.\n\n"
    "It would be nice to try AdamW on reinforcement learning where Adam is the default. "
    "Question: how do we pick the decay factor when training for only a few epochs?"
)


def session_with(*planted: tuple[str, str]) -> list[tuple[str, str]]:
    return [*INDEPENDENT_REVIEWS.items(), *planted]


def words(text: str) -> list[str]:
    return [word.casefold() for word in re.findall(r"\w+", text)]


def test_independent_reviews_of_the_same_paper_are_not_flagged() -> None:
    assert find_similar_reviews(session_with()) == []


def test_lightly_edited_copy_is_the_only_pair_flagged() -> None:
    flagged = find_similar_reviews(session_with(("gizem", LIGHTLY_EDITED_COPY_OF_AYSE)))
    assert [(pair.first_key, pair.second_key) for pair in flagged] == [("ayse", "gizem")]
    assert DEFAULT_THRESHOLD <= flagged[0].score <= 1.0


def test_both_planted_copies_are_flagged_most_similar_first() -> None:
    flagged = find_similar_reviews(
        session_with(("gizem", LIGHTLY_EDITED_COPY_OF_AYSE), ("hakan", HEAVILY_EDITED_COPY_OF_CEM))
    )
    assert [(pair.first_key, pair.second_key) for pair in flagged] == [
        ("ayse", "gizem"),
        ("cem", "hakan"),
    ]
    assert flagged[0].score > flagged[1].score


def test_copies_score_far_above_the_most_similar_independent_pair() -> None:
    scored = find_similar_reviews(
        session_with(("gizem", LIGHTLY_EDITED_COPY_OF_AYSE)), threshold=0.001
    )
    planted = next(pair for pair in scored if {pair.first_key, pair.second_key} == {"ayse", "gizem"})
    best_independent = max(pair.score for pair in scored if pair is not planted)
    assert planted.score > 3 * best_independent


def test_identical_reviews_are_flagged_even_at_the_strictest_threshold() -> None:
    text = INDEPENDENT_REVIEWS["deniz"]
    flagged = find_similar_reviews([("a", text), ("b", text)], threshold=0.999)
    assert [(pair.first_key, pair.second_key) for pair in flagged] == [("a", "b")]
    assert flagged[0].passages[0].first == TextSpan(0, len(text.rstrip("?")))


def test_threshold_is_configurable() -> None:
    session = session_with(("gizem", LIGHTLY_EDITED_COPY_OF_AYSE))
    assert len(find_similar_reviews(session, threshold=0.01)) == 21  # every pair of 7
    assert find_similar_reviews(session, threshold=0.99) == []


def test_shared_passages_match_word_for_word_in_both_texts() -> None:
    (pair,) = find_similar_reviews(session_with(("gizem", LIGHTLY_EDITED_COPY_OF_AYSE)))
    original, copy = INDEPENDENT_REVIEWS["ayse"], LIGHTLY_EDITED_COPY_OF_AYSE
    assert pair.passages
    for passage in pair.passages:
        in_original = words(original[passage.first.start : passage.first.end])
        in_copy = words(copy[passage.second.start : passage.second.end])
        assert in_original == in_copy
        assert len(in_original) == passage.word_count >= 6


def test_a_moved_paragraph_is_still_found() -> None:
    (pair,) = find_similar_reviews(session_with(("gizem", LIGHTLY_EDITED_COPY_OF_AYSE)))
    moved = "Ideas: Try the method on transformers and on tasks with very long training"
    copied_texts = [
        LIGHTLY_EDITED_COPY_OF_AYSE[span.start : span.end] for span in pair.second_spans
    ]
    assert moved in copied_texts


def test_passages_stop_at_the_edits() -> None:
    original = "we saw in the lecture only holds for plain SGD and nothing else at all."
    edited = "we saw in class only holds for plain SGD and nothing else at all!"
    passages = shared_passages(original, edited, min_words=6)
    assert [passage.word_count for passage in passages] == [10]
    assert passages[0].first == TextSpan(original.index("only"), len(original) - 1)
    assert passages[0].second == TextSpan(edited.index("only"), len(edited) - 1)


def test_runs_shorter_than_the_minimum_are_not_passages() -> None:
    assert shared_passages("the learning rate is too high", "a learning rate is too high", min_words=6) == []
    assert len(shared_passages("the learning rate is too high", "the learning rate is too high")) == 1


def test_passages_ignore_case_and_punctuation() -> None:
    passages = shared_passages(
        "Adam, with L2 - generalizes worse than SGD!",
        "adam with l2 generalizes worse (than) SGD",
        min_words=6,
    )
    assert [passage.word_count for passage in passages] == [7]


def test_reviews_without_words_are_ignored() -> None:
    assert find_similar_reviews([("a", ""), ("b", "  \n"), ("c", "Adam")]) == []
    (pair,) = find_similar_reviews([("a", "!!!"), ("b", "Adam and SGD"), ("c", "Adam and SGD")])
    assert (pair.first_key, pair.second_key) == ("b", "c")


def test_duplicate_keys_are_rejected() -> None:
    with pytest.raises(ValueError):
        find_similar_reviews([("a", "one text"), ("a", "another text")])


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5])
def test_threshold_outside_unit_interval_is_rejected(threshold: float) -> None:
    with pytest.raises(ValueError):
        find_similar_reviews(session_with(), threshold=threshold)


def test_highlighting_wraps_spans_in_mark() -> None:
    text = "alpha beta gamma delta"
    assert highlight_spans(text, [TextSpan(6, 10), TextSpan(17, 22)]) == (
        "alpha <mark>beta</mark> gamma <mark>delta</mark>"
    )


def test_highlighting_escapes_html_inside_and_outside_spans() -> None:
    text = '<script>alert("x")</script> & <img src=x onerror=alert(1)> <b>tail</b>'
    highlighted = highlight_spans(text, [TextSpan(0, 8), TextSpan(30, text.index(" <b>"))])
    assert "<script" not in highlighted and "<img" not in highlighted and "<b>" not in highlighted
    assert highlighted == (
        "<mark>&lt;script&gt;</mark>alert(&#34;x&#34;)&lt;/script&gt; &amp; "
        "<mark>&lt;img src=x onerror=alert(1)&gt;</mark> &lt;b&gt;tail&lt;/b&gt;"
    )


def test_highlighting_merges_overlapping_spans_and_skips_empty_ones() -> None:
    text = "one two three four"
    highlighted = highlight_spans(text, [TextSpan(4, 13), TextSpan(0, 7), TextSpan(18, 18)])
    assert highlighted == "<mark>one two three</mark> four"


def test_highlighting_rejects_spans_outside_the_text() -> None:
    with pytest.raises(ValueError):
        highlight_spans("short", [TextSpan(2, 50)])


def test_flagged_pair_highlights_the_copied_text_in_both_reviews() -> None:
    (pair,) = find_similar_reviews(session_with(("gizem", LIGHTLY_EDITED_COPY_OF_AYSE)))
    original = highlight_spans(INDEPENDENT_REVIEWS["ayse"], pair.first_spans)
    copy = highlight_spans(LIGHTLY_EDITED_COPY_OF_AYSE, pair.second_spans)
    assert original.count("<mark>") == copy.count("<mark>") == len(pair.passages)
    last_question = "Questions: Why does Adam with L2 generalize worse than SGD with momentum"
    assert f"<mark>{last_question}</mark>?" in copy
