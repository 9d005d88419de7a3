"""Using a trained model: what translate, evaluate, export and the benchmarks share.

    loading       module_from_checkpoint: a TranslationModule (model, tokenizer, settings) from a file alone
    translation   LineTranslator, translate_lines, Hypothesis: text lines to translations (n-best, scores),
                  a line the model cannot take warned about and skipped
    scoring       evaluate_checkpoint: sacreBLEU BLEU / chrF / chrF++ and paper-style BLEU of a checkpoint
                  on a split or on test files; the evaluation record (evaluation.json, NAME.hyp.txt)

Import from the module that defines a name; this package file imports nothing.
"""
