"""Where text comes from: the Corpus interface, its readers, and text cleaning.

    corpora      Corpus (read, iter_pairs, fingerprint, check, paths), SPLITS, check_aligned, iter_aligned
    files        ParallelTextCorpus, FilesCorpus: plain text, TSV, WMT SGML/XML files
    hf           a Hugging Face `datasets` corpus (imported only when used)
    factory      build_corpus: the data config's `corpus` setting -> a Corpus (the one module knowing every reader)
    cleaning     normalization and the training-split filters, with a count per reason
    textio       read_lines: line reading that only splits on "\n", errors naming file and line
    test_files   the source/reference files of `evaluate src=FILE ref=FILE`
"""
