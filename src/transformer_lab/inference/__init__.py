"""Using a trained model: what translate, evaluate, export and the benchmarks share.

    loading       module_from_checkpoint: a TranslationModule (model, tokenizer, settings) from a file alone
    translation   LineTranslator, translate_lines, Hypothesis: text lines to translations (n-best, scores),
                  a line the model cannot take warned about and skipped
    scoring       evaluate_checkpoint, score_files: sacreBLEU BLEU / chrF / chrF++ and the tokenized BLEU (as in
                  the paper) of a checkpoint on a split or on test files, or of a hypothesis file; the record
    int8          int8_copy, Int8Linear: a model's copy with int8 linear layers (CPU int8 decoding)
    test_sets     which prepared WMT test set a reference file is (newstest2014 full, newstest2013)

Import from the module that defines a name; this package file imports nothing.
"""
