"""The built-in corpus: a generated English-German toy corpus for offline runs and tests.

    corpus    BuiltinCorpus (the Corpus of `data=toy`), copy_baseline_bleu
    grammar   the sentence generator (subjects, verbs, objects, agreement)
    lexicon   the word table: English and German forms
"""
