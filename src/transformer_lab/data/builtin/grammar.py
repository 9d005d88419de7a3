"""Grammar of the toy pair: one random clause structure rendered as English and as German.

German phenomena covered: gender/case/number agreement of articles and adjectives (der/den/dem,
ein großer / einen großen / einem großen), weak nouns, dative verbs, preposition+article contractions
(in dem -> im), verb-second order with fronted adverbials and fronted subordinate clauses, verb-final
subordinate clauses, the verb bracket (hat ... gesehen, wird ... sehen, kann ... sehen), separable verbs
(ruft ... an / anruft), negation (nicht; "not a" -> kein), do-support dropped in questions and negation,
compounds, and English time adverbs moving into the German middle field.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from transformer_lab.data.builtin import lexicon as lex

# Article endings: (kind, case) -> {m, f, n, pl}
DEFINITE = {"nom": ("der", "die", "das", "die"), "acc": ("den", "die", "das", "die"),
            "dat": ("dem", "der", "dem", "den")}
EIN = {"nom": ("", "e", "", "e"), "acc": ("en", "e", "", "e"), "dat": ("em", "er", "em", "en")}
DIES = {"nom": ("er", "e", "es", "e"), "acc": ("en", "e", "es", "e"), "dat": ("em", "er", "em", "en")}
# Adjective endings after a definite/dies- word, after an ein-word, and with no article (plural).
WEAK = {"nom": ("e", "e", "e", "en"), "acc": ("en", "e", "e", "en"), "dat": ("en", "en", "en", "en")}
MIXED = {"nom": ("er", "e", "es", "en"), "acc": ("en", "e", "es", "en"), "dat": ("en", "en", "en", "en")}
STRONG_PL = {"nom": "e", "acc": "e", "dat": "en"}
SLOT = {"m": 0, "f": 1, "n": 2}

# English determiner -> (German word or stem, declension kind, plural?)
DETERMINERS_SG = [("the", "d", "def"), ("a", "ein", "ein"), ("this", "dies", "dies"), ("my", "mein", "ein"),
                  ("his", "sein", "ein"), ("her", "ihr", "ein"), ("our", "unser", "ein")]
DETERMINERS_PL = [("the", "d", "def"), ("these", "dies", "dies"), ("my", "mein", "ein"),
                  ("two", "zwei", "none"), ("three", "drei", "none"), ("many", "viele", "none"),
                  ("some", "einige", "none")]
PRONOUNS = {  # English subject -> (German subject, person, English object, German acc, German dat)
    "I": ("ich", "1sg", "me", "mich", "mir"), "he": ("er", "3sg", "him", "ihn", "ihm"),
    "she": ("sie", "3sg", "her", "sie", "ihr"), "we": ("wir", "1pl", "us", "uns", "uns"),
    "they": ("sie", "3pl", "them", "sie", "ihnen"),
}
MODALS = {"can": ("kann", "können"), "must": ("muss", "müssen"), "wants to": ("will", "wollen")}
IRREGULAR_1SG = {"mögen": "mag"}


@dataclass
class Phrase:
    en: list[str]
    de: list[str]
    person: str = "3sg"
    indefinite: bool = False  # "a X": negation turns German ein -> kein
    pronoun: bool = False  # German pronoun objects precede adverbs in the middle field


def noun_phrase(rng: random.Random, case: str, animate: bool = False) -> Phrase:
    plural = rng.random() < 0.3
    if rng.random() < 0.12 and not animate:
        mod_en, mod_de = rng.choice(lex.MODIFIERS)
        head = rng.choice(lex.COMPOUND_HEADS)
        noun = lex.Noun(f"{mod_en} {head.en}", f"{mod_en} {head.en_pl}", mod_de + head.de.lower(),
                        mod_de + head.de_pl.lower(), head.gender)
    else:
        noun = rng.choice(lex.ANIMATE if animate else lex.ANIMATE + lex.THINGS)
    en_det, de_det, kind = rng.choice(DETERMINERS_PL if plural else DETERMINERS_SG)
    slot = 3 if plural else SLOT[noun.gender]
    if kind == "def":
        article, adj_end = DEFINITE[case][slot], WEAK[case][slot]
    elif kind == "dies":
        article, adj_end = de_det + DIES[case][slot], WEAK[case][slot]
    elif kind == "ein":
        article, adj_end = de_det + EIN[case][slot], MIXED[case][slot]
    else:  # viele/einige decline like adjectives (vielen in the dative); zwei/drei do not
        article = de_det + "n" if case == "dat" and de_det.endswith("e") else de_det
        adj_end = STRONG_PL[case]
    adjectives = rng.sample(lex.ADJECTIVES, k=rng.choice((0, 0, 1, 1, 2)))
    en = (noun.en_pl if plural else noun.en).split()
    en = [a[0] for a in adjectives] + en
    if en_det == "a" and en[0][0] in "aeiou":
        en_det = "an"
    de = [article] + [a[2] + adj_end for a in adjectives] + [noun.de_form(case, plural)]
    return Phrase([en_det] + en, de, "3pl" if plural else "3sg", indefinite=(en_det in ("a", "an")))


def subject(rng: random.Random) -> Phrase:
    r = rng.random()
    if r < 0.25:
        en = rng.choice(list(PRONOUNS))
        return Phrase([en], [PRONOUNS[en][0]], PRONOUNS[en][1])
    if r < 0.35:
        name = rng.choice(lex.NAMES)
        return Phrase([name], [name], "3sg")
    return noun_phrase(rng, "nom", animate=True)


def obj(rng: random.Random, case: str) -> Phrase:
    r = rng.random()
    if r < 0.15:
        entry = PRONOUNS[rng.choice(list(PRONOUNS))]
        return Phrase([entry[2]], [entry[3] if case == "acc" else entry[4]], pronoun=True)
    if r < 0.22:
        name = rng.choice(lex.NAMES)
        return Phrase([name], [name])
    return noun_phrase(rng, case)


def prep_phrase(rng: random.Random) -> Phrase:
    en_prep, de_prep, case = rng.choice(lex.PREPOSITIONS)
    np_ = noun_phrase(rng, case)
    de = list(np_.de)
    contracted = lex.CONTRACTIONS.get((de_prep, de[0]))
    de = [contracted] + de[1:] if contracted else [de_prep] + de
    return Phrase(en_prep.split() + np_.en, de)


@dataclass
class Clause:
    """A clause as fields that both languages order their own way."""

    subj: Phrase
    verb: lex.Verb | None  # None: copula with a predicate adjective
    tense: str  # present, past, future, modal
    modal: str = ""
    negated: bool = False
    obj: Phrase | None = None
    adjective: tuple[str, str, str] | None = None
    pp: Phrase | None = None
    adverb: tuple[str, str] | None = None  # English end position / German middle field

    # ---- German ----------------------------------------------------------------------------------
    def _de_finite_and_rest(self) -> tuple[str, list[str], str]:
        """(finite verb, right-bracket words, separable prefix of a simple finite verb)."""
        person, verb = self.subj.person, self.verb
        if verb is None:  # copula
            if self.tense == "present":
                return {"1sg": "bin", "3sg": "ist"}.get(person, "sind"), [], ""
            if self.tense == "past":
                return {"1sg": "war", "3sg": "war"}.get(person, "waren"), [], ""
            return self._aux_future_or_modal(person), ["sein"], ""
        if self.tense == "present":
            finite = IRREGULAR_1SG.get(verb.de_inf, verb.de_present(person)) if person == "1sg" else verb.de_present(person)
            return finite, [], verb.prefix
        if self.tense == "past":
            table = {"haben": ("habe", "hat", "haben"), "sein": ("bin", "ist", "sind")}[verb.aux]
            finite = table[0] if person == "1sg" else table[1] if person == "3sg" else table[2]
            return finite, [verb.de_participle()], ""
        return self._aux_future_or_modal(person), [verb.de_infinitive()], ""

    def _aux_future_or_modal(self, person: str) -> str:
        if self.tense == "future":
            return {"1sg": "werde", "3sg": "wird"}.get(person, "werden")
        singular, plural = MODALS[self.modal]
        return singular if person in ("1sg", "3sg") else plural

    def _de_middle(self, adverb: bool = True) -> list[str]:
        adverb_words = list(self.adverb[1].split()) if self.adverb and adverb else []
        negation = ["nicht"] if self.negated else []
        words: list[str] = []
        if self.obj is not None:
            object_words = list(self.obj.de)
            if self.negated and self.obj.indefinite:  # nicht + ein -> kein
                object_words[0] = "k" + object_words[0]
                negation = []
            words = object_words + adverb_words if self.obj.pronoun else adverb_words + object_words
        else:
            words = adverb_words
        words += negation
        if self.pp is not None:
            words += self.pp.de
        if self.adjective is not None:
            words.append(self.adjective[1])
        return words

    def german_main(self, front: list[str] | None = None, adverb_fronted: bool = False) -> list[str]:
        """Declarative main clause; with `front` (a fronted adverbial or clause): verb second."""
        finite, rest, prefix = self._de_finite_and_rest()
        tail = rest + ([prefix] if prefix else [])
        if front:  # verb second: the fronted part, then the finite verb, then the subject
            return front + [finite] + self.subj.de + self._de_middle(not adverb_fronted) + tail
        return self.subj.de + [finite] + self._de_middle() + tail

    def german_question(self) -> list[str]:
        finite, rest, prefix = self._de_finite_and_rest()
        return [finite] + self.subj.de + self._de_middle() + rest + ([prefix] if prefix else [])

    def german_subordinate(self) -> list[str]:
        finite, rest, prefix = self._de_finite_and_rest()
        return self.subj.de + self._de_middle() + rest + [prefix + finite]

    # ---- English ---------------------------------------------------------------------------------
    def _en_verb_group(self, question: bool = False) -> tuple[list[str], list[str]]:
        """(words before the subject in a question, verb words after the subject)."""
        person, verb = self.subj.person, self.verb
        third = person == "3sg"
        neg = ["not"] if self.negated else []
        main = verb.en.split() if verb is not None else ["be"]
        if verb is None and self.tense in ("present", "past"):
            if self.tense == "present":
                be = {"1sg": "am", "3sg": "is"}.get(person, "are")
            else:
                be = "was" if person in ("1sg", "3sg") else "were"
            return ([be], neg) if question else ([], [be] + neg)
        if self.tense == "modal" and self.modal == "wants to":
            do = "does" if third else "do"
            if question:
                return [do], neg + ["want", "to"] + main
            if self.negated:
                return [], [do, "not", "want", "to"] + main
            return [], ["wants" if third else "want", "to"] + main
        if self.tense in ("future", "modal"):
            aux = "will" if self.tense == "future" else self.modal
            return ([aux], neg + main) if question else ([], [aux] + neg + main)
        if question or self.negated:
            do = "did" if self.tense == "past" else ("does" if third else "do")
            return ([do], neg + main) if question else ([], [do] + neg + main)
        if self.tense == "past":
            return [], verb.en_past.split()
        return [], (verb.en_s if third else verb.en).split()

    def _en_rest(self, with_adverb: bool = True) -> list[str]:
        words = list(self.obj.en) if self.obj is not None else []
        if self.adjective is not None:
            words.append(self.adjective[0])
        if self.pp is not None:
            words += self.pp.en
        if with_adverb and self.adverb:
            words += self.adverb[0].split()
        return words

    def english(self, adverb_first: bool = False) -> list[str]:
        _, verb_words = self._en_verb_group()
        front = self.adverb[0].split() if adverb_first and self.adverb else []
        return front + self.subj.en + verb_words + self._en_rest(with_adverb=not adverb_first)

    def english_question(self) -> list[str]:
        before, after = self._en_verb_group(question=True)
        return before + self.subj.en + after + self._en_rest()
