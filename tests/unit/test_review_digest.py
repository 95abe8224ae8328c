"""Question digest: paraphrased questions are grouped, biggest group first."""

from __future__ import annotations

import pytest

from review.reviews.digest import Question, cluster_questions

WEIGHT_DECAY_1 = Question(
    "q1", "ayse", "Why is L2 regularization not the same as weight decay when using Adam?"
)
SCHEDULE_1 = Question(
    "q2", "burak", "How should the learning rate schedule be chosen when using warm restarts?"
)
WEIGHT_DECAY_2 = Question(
    "q3", "cem", "Isn't weight decay equivalent to L2 regularization? Why does it differ for Adam?"
)
UNRELATED = Question(
    "q4", "deniz", "Could Grad-CAM style visualizations explain what the network learned?"
)
WEIGHT_DECAY_3 = Question(
    "q5",
    "elif",
    "What is the difference between weight decay and an L2 penalty in adaptive optimizers like Adam?",
)
SCHEDULE_2 = Question(
    "q6", "furkan", "Is cosine annealing with restarts a better learning rate schedule than step decay?"
)

SESSION_QUESTIONS = [WEIGHT_DECAY_1, SCHEDULE_1, WEIGHT_DECAY_2, UNRELATED, WEIGHT_DECAY_3, SCHEDULE_2]


def grouping(clusters: list) -> list[list[str]]:
    return [[question.key for question in cluster.members] for cluster in clusters]


def test_paraphrases_are_grouped_biggest_group_first() -> None:
    clusters = cluster_questions(SESSION_QUESTIONS)
    assert grouping(clusters) == [["q1", "q3", "q5"], ["q2", "q6"], ["q4"]]
    assert [cluster.count for cluster in clusters] == [3, 2, 1]


def test_grouping_does_not_depend_on_input_order() -> None:
    clusters = cluster_questions(list(reversed(SESSION_QUESTIONS)))
    assert grouping(clusters) == [["q5", "q3", "q1"], ["q6", "q2"], ["q4"]]


def test_groups_of_equal_size_keep_order_of_first_appearance() -> None:
    clusters = cluster_questions([UNRELATED, SCHEDULE_1, WEIGHT_DECAY_1, SCHEDULE_2, WEIGHT_DECAY_2])
    assert grouping(clusters) == [["q2", "q6"], ["q1", "q3"], ["q4"]]


def test_representative_is_the_most_central_question_not_merely_the_shortest() -> None:
    weight_decay = cluster_questions(SESSION_QUESTIONS)[0]
    # q3 shares "weight decay", "L2 regularization" and "Adam" with q1 and "differ(ence)",
    # "weight decay", "L2" and "Adam" with q5, so it stands for both; q1 is shorter but has
    # nothing in common with q5 beyond the shared terms.
    assert weight_decay.representative == WEIGHT_DECAY_2
    assert len(WEIGHT_DECAY_1.text) < len(WEIGHT_DECAY_2.text)


def test_representative_of_two_equally_central_questions_is_the_shorter() -> None:
    (pair,) = cluster_questions([SCHEDULE_2, SCHEDULE_1])
    assert pair.representative == SCHEDULE_1
    assert len(SCHEDULE_1.text) < len(SCHEDULE_2.text)


def test_identical_questions_form_one_group_with_every_author() -> None:
    same = "Does AdamW remove the need for learning rate warmup?"
    clusters = cluster_questions(
        [Question(1, "ayse", same), Question(2, "burak", same.lower()), Question(3, "ayse", same + " ")]
    )
    assert grouping(clusters) == [[1, 2, 3]]
    assert clusters[0].author_keys == ("ayse", "burak")
    assert clusters[0].representative.key == 1


def test_stricter_threshold_splits_paraphrases_apart() -> None:
    clusters = cluster_questions(SESSION_QUESTIONS, threshold=0.9)
    assert [cluster.count for cluster in clusters] == [1] * len(SESSION_QUESTIONS)


def test_looser_threshold_merges_more() -> None:
    clusters = cluster_questions(SESSION_QUESTIONS, threshold=0.05)
    assert clusters[0].count > 3


def test_no_questions_no_clusters() -> None:
    assert cluster_questions([]) == []


def test_single_question_is_its_own_cluster() -> None:
    (cluster,) = cluster_questions([UNRELATED])
    assert cluster.representative == UNRELATED and cluster.count == 1


def test_questions_made_only_of_stop_words_stay_alone() -> None:
    only_stop_words = [Question(1, "a", "Why?"), Question(2, "b", "Why?"), Question(3, "c", "How?")]
    clusters = cluster_questions(only_stop_words)
    assert grouping(clusters) == [[1], [2], [3]]
    clusters = cluster_questions([Question(1, "a", "Why?"), WEIGHT_DECAY_1, WEIGHT_DECAY_2])
    assert grouping(clusters) == [["q1", "q3"], [1]]


@pytest.mark.parametrize("threshold", [0.0, 1.01])
def test_threshold_outside_unit_interval_is_rejected(threshold: float) -> None:
    with pytest.raises(ValueError):
        cluster_questions(SESSION_QUESTIONS, threshold=threshold)


def test_a_realistic_session_groups_by_topic_not_by_shared_vocabulary() -> None:
    # Every question below is about the same paper and most mention Adam or weight decay; the
    # groups must follow what is asked, not which of the paper's terms appear.
    asked = {
        "wd1": "Why is L2 regularization not the same as weight decay when using Adam?",
        "lr1": "How should the learning rate schedule be chosen when using warm restarts?",
        "wd2": "Isn't weight decay equivalent to L2 regularization? Why does it differ for Adam?",
        "un1": "Could Grad-CAM style visualizations explain what the network learned?",
        "wd3": (
            "What is the difference between weight decay and an L2 penalty in adaptive "
            "optimizers like Adam?"
        ),
        "lr2": "Is cosine annealing with restarts a better learning rate schedule than step decay?",
        "bn1": (
            "Does batch normalization make weight decay unnecessary, since the network becomes "
            "scale invariant?"
        ),
        "bn2": "With batch norm the weights are scale invariant, so what does weight decay even do?",
        "sg1": "Why does SGD with momentum generalize better than Adam on image classification?",
        "sg2": "Why do adaptive methods like Adam generalize worse than SGD?",
        "sg3": "Is the generalization gap between Adam and SGD still there with AdamW?",
        "tr1": "Would AdamW help when training transformers for language modeling?",
        "tr2": "Does decoupled weight decay matter for large language models and transformers?",
        "hp1": "How were the hyperparameters for the ImageNet experiments tuned?",
        "hw1": "What hardware did the authors use and how long did training take?",
        "lr3": "Can warm restarts of the learning rate replace a tuned learning rate schedule?",
    }
    clusters = cluster_questions([Question(key, f"by-{key}", text) for key, text in asked.items()])
    assert grouping(clusters) == [
        ["wd1", "wd2", "wd3"],
        ["lr1", "lr2", "lr3"],
        ["sg1", "sg2", "sg3"],
        ["bn1", "bn2"],
        ["tr1", "tr2"],
        ["un1"],
        ["hp1"],
        ["hw1"],
    ]


# --- identical and near-identical copies collapse into one entry (15 copies were 15 entries) ---

COPIED = "What happens to the results when the batch size is much smaller?"


def test_identical_copies_collapse_into_one_entry_with_a_count() -> None:
    copies = [Question(f"c{n}", f"student{n}", COPIED) for n in range(15)]
    clusters = cluster_questions(copies + [UNRELATED])
    assert [len(cluster.entries) for cluster in clusters] == [1, 1]
    entry = clusters[0].entries[0]
    assert entry.count == 15 and entry.representative.key == "c0"
    assert len(entry.author_keys) == 15


def test_near_identical_copies_collapse_but_paraphrases_stay_separate_entries() -> None:
    near = [Question("n1", "a", COPIED),
            Question("n2", "b", "what happens to the results when the batch size is much smaller"),
            Question("n3", "c", "What  happens to the results, when the batch-size is much smaller ?!"),
            Question("n4", "d", "What happens to the result when the batch size is much smaller?")]
    clusters = cluster_questions(near + [WEIGHT_DECAY_1, WEIGHT_DECAY_2, WEIGHT_DECAY_3])
    by_key = {cluster.members[0].key: cluster for cluster in clusters}
    assert [entry.count for entry in by_key["n1"].entries] == [4]
    # Paraphrases share a topic (one cluster) but are different questions (separate entries).
    assert [entry.count for entry in by_key["q1"].entries] == [1, 1, 1]
