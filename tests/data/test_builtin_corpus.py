import re

from transformer_lab.data import BuiltinCorpus, copy_baseline_bleu
from transformer_lab.data.builtin.corpus import MAX_WORDS, MIN_WORDS

SMALL = dict(train_size=3000, valid_size=300, test_size=300)


def test_builtin_corpus_is_deterministic_with_requested_sizes() -> None:
    a, b = BuiltinCorpus(**SMALL), BuiltinCorpus(**SMALL)
    for split, size in (("train", 3000), ("valid", 300), ("test", 300)):
        sources, targets = a.read(split)
        assert len(sources) == len(targets) == size
        assert (sources, targets) == b.read(split)
    assert BuiltinCorpus(**SMALL, seed=1).read("valid") != a.read("valid")


def test_builtin_splits_are_disjoint() -> None:
    corpus = BuiltinCorpus(**SMALL)
    train, valid, test = (set(corpus.read(s)[0]) for s in ("train", "valid", "test"))
    assert not (train & valid) and not (train & test) and not (valid & test)


def test_dev_set_does_not_depend_on_train_size() -> None:
    assert BuiltinCorpus(**SMALL).read("valid") == BuiltinCorpus(train_size=100, valid_size=300, test_size=300).read("valid")


def test_sentences_are_moderately_short() -> None:
    sources, _ = BuiltinCorpus(**SMALL).read("train")
    assert all(MIN_WORDS <= len(s.split()) <= MAX_WORDS + 1 for s in sources)


def test_translation_needs_reordering_and_agreement() -> None:
    sources, targets = BuiltinCorpus(**SMALL).read("train")
    pairs = dict(zip(sources, targets))
    # verb-final subordinate clause and verb bracket
    assert any(", weil" in t and t.endswith("hat.") for t in targets)
    # case agreement: accusative masculine after a transitive verb, dative after a dative verb
    assert any(" den " in t for t in targets) and any(" dem " in t for t in targets)
    # separable verb: split around the object in a main clause, joined at the end of a subordinate one
    assert any(" calls " in s and " ruft " in pairs[s] and pairs[s].endswith(" an.") for s in sources)
    assert any(" calls " in s and pairs[s].endswith(" anruft.") for s in sources)
    # negation of an indefinite object becomes kein-
    negated_indefinite = [s for s in sources if re.search(r"\b(does|do|did) not \w+ an? ", s)]
    assert negated_indefinite and all(" kein" in pairs[s] for s in negated_indefinite)


def test_copying_the_source_scores_far_below_a_translation() -> None:
    assert copy_baseline_bleu("valid", **SMALL) < 5.0
