"""The built-in toy corpus: English -> simplified German, generated offline from a seed.

Every English sentence has exactly one German translation, produced by the grammar in
`builtin_grammar.py` from the lexicon in `builtin_lexicon.py` (about 130 nouns, 400 productive compounds,
50 adjectives, 60 verbs, 20 adverbials). Translating needs real reordering (verb second, verb-final
subordinate clauses, verb brackets, separable verbs), agreement (case, gender, number) and lexical
mappings that are not one-to-one, so copying the source scores low while a small Transformer learns it.
Sentences are 5-25 words. Splits are disjoint by English sentence.
"""

from __future__ import annotations

import random
from functools import lru_cache

from transformer_lab.data.builtin import lexicon as lex
from transformer_lab.data.builtin.grammar import Clause, obj, prep_phrase, subject
from transformer_lab.data.errors import DataError
from transformer_lab.data.readers.corpora import SPLITS, Corpus, Pairs
from transformer_lab.data.readers.textio import stable_hash

GRAMMAR_VERSION = 1  # bump whenever generated text changes (the cache key includes it)
MIN_WORDS, MAX_WORDS = 5, 25
TENSES = (("present", 0.45), ("past", 0.3), ("future", 0.1), ("modal", 0.15))


def random_clause(rng: random.Random) -> Clause:
    r = rng.random()
    verb, adjective, object_ = None, None, None
    if r < 0.12:
        adjective = rng.choice(lex.ADJECTIVES)
    elif r < 0.62:
        verb = rng.choice(lex.TRANSITIVE)
        object_ = obj(rng, "acc")
    elif r < 0.72:
        verb = rng.choice(lex.DATIVE)
        object_ = obj(rng, "dat")
    else:
        verb = rng.choice(lex.INTRANSITIVE)
    tense = rng.choices([t for t, _ in TENSES], [w for _, w in TENSES])[0]
    adverb = rng.choice(lex.ADVERBS) if rng.random() < 0.3 else None
    negated = rng.random() < 0.2 and not (adverb and adverb[0] == "never")
    return Clause(subj=subject(rng), verb=verb, tense=tense, modal=rng.choice(list(("can", "must", "wants to"))),
                  negated=negated, obj=object_, adjective=adjective,
                  pp=prep_phrase(rng) if rng.random() < 0.3 else None, adverb=adverb)


def random_pair(rng: random.Random) -> tuple[list[str], list[str]]:
    """One sentence pair as word lists (punctuation as separate words)."""
    main = random_clause(rng)
    r = rng.random()
    if r < 0.40:
        return main.english() + ["."], main.german_main() + ["."]
    if r < 0.55:
        if main.adverb is None:
            main.adverb = rng.choice(lex.ADVERBS)
            main.negated = main.negated and main.adverb[0] != "never"
        return (main.english(adverb_first=True) + ["."],
                main.german_main(front=main.adverb[1].split(), adverb_fronted=True) + ["."])
    if r < 0.65:
        return main.english_question() + ["?"], main.german_question() + ["?"]
    sub = random_clause(rng)
    en_conj, de_conj = rng.choice(lex.CONJUNCTIONS)
    if r < 0.88:  # main clause, then the subordinate clause (German: comma + verb-final)
        return (main.english() + [en_conj] + sub.english() + ["."],
                main.german_main() + [",", de_conj] + sub.german_subordinate() + ["."])
    # subordinate clause first: it fills the German first position, so the main verb comes next
    return (en_conj.split() + sub.english() + [","] + main.english() + ["."],
            main.german_main(front=[de_conj] + sub.german_subordinate() + [","]) + ["."])


def render(words: list[str]) -> str:
    """Words -> sentence text: punctuation attached, first letter capitalized."""
    text = " ".join(words).replace(" ,", ",").replace(" .", ".").replace(" ?", "?")
    return text[0].upper() + text[1:]


@lru_cache(maxsize=4)
def generate(total: int, seed: int) -> tuple[tuple[str, str], ...]:
    """`total` distinct (English, German) pairs, deterministic for a given seed."""
    rng = random.Random(seed)
    seen: set[str] = set()
    pairs: list[tuple[str, str]] = []
    attempts = 0
    while len(pairs) < total:
        attempts += 1
        if attempts > 20 * total + 1000:
            raise DataError(f"builtin corpus: could not generate {total} distinct sentences; ask for fewer.")
        en_words, de_words = random_pair(rng)
        if not MIN_WORDS <= len(en_words) - 1 <= MAX_WORDS:
            continue
        en = render(en_words)
        if en in seen:
            continue
        seen.add(en)
        pairs.append((en, render(de_words)))
    return tuple(pairs)


class BuiltinCorpus(Corpus):
    """Generated English -> German toy corpus (`corpus: builtin`). Nothing is downloaded or shipped."""

    src_lang, tgt_lang = "en", "de"

    def __init__(self, train_size: int = 60000, valid_size: int = 800, test_size: int = 800,
                 seed: int = 0) -> None:
        self.sizes = {"train": int(train_size), "valid": int(valid_size), "test": int(test_size)}
        if min(self.sizes.values()) < 1:
            raise DataError(f"builtin corpus sizes must be positive, got {self.sizes}")
        self.seed = int(seed)

    def read(self, split: str) -> Pairs:
        pairs = generate(sum(self.sizes.values()), self.seed)
        # valid and test come first so that they stay the same when train_size changes
        start = {"valid": 0, "test": self.sizes["valid"], "train": self.sizes["valid"] + self.sizes["test"]}[split]
        chunk = pairs[start : start + self.sizes[split]]
        return [en for en, _ in chunk], [de for _, de in chunk]

    def fingerprint(self, split: str) -> str:
        return stable_hash("builtin", GRAMMAR_VERSION, self.seed, self.sizes, split)


def copy_baseline_bleu(split: str = "valid", **corpus_options: int) -> float:
    """sacreBLEU of copying the English source as the German output (the floor a model must beat)."""
    import sacrebleu

    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}")
    sources, references = BuiltinCorpus(**corpus_options).read(split)
    return float(sacrebleu.corpus_bleu(sources, [references]).score)
