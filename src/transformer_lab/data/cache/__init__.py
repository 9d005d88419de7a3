"""The binarized cache: corpus -> cleaned pairs -> BPE -> flat token arrays, built once and memory-mapped.

    pipeline   DataSettings, prepare(): the whole preparation under a file lock, keyed by corpus and settings
    dataset    SplitWriter (appends encoded chunks), TranslationDataset (memory-maps one split)
"""
