"""Data pipeline: text files -> cleaned pairs -> joint BPE -> binarized cache -> token-bucket batches.

Public API (docs/ARCHITECTURE.md): `TranslationDataModule`, `Tokenizer`, the samplers, the readers and
`DataError`. Importing this package downloads nothing and imports `datasets` only for `hf` corpora.
"""

from transformer_lab.data.batching.encoding import encode_sources, length_sorted_batches, make_batch
from transformer_lab.data.batching.samplers import EvalBatchSampler, TokenBucketBatchSampler
from transformer_lab.data.builtin.corpus import BuiltinCorpus, copy_baseline_bleu
from transformer_lab.data.cache.dataset import TranslationDataset
from transformer_lab.data.cache.pipeline import DataSettings, prepare
from transformer_lab.data.datamodule import TranslationDataModule
from transformer_lab.data.errors import DataError
from transformer_lab.data.readers.cleaning import CleaningReport, normalize_whitespace
from transformer_lab.data.readers.corpora import Corpus
from transformer_lab.data.readers.factory import build_corpus
from transformer_lab.data.readers.files import FilesCorpus, ParallelTextCorpus
from transformer_lab.data.readers.textio import read_lines
from transformer_lab.data.tokenizers.bpe import Tokenizer
from transformer_lab.data.wmt.formats import read_sgm_pair, read_tsv, read_wmt_xml

__all__ = [
    "BuiltinCorpus", "CleaningReport", "Corpus", "DataError", "DataSettings", "EvalBatchSampler",
    "FilesCorpus", "ParallelTextCorpus", "TokenBucketBatchSampler", "Tokenizer", "TranslationDataModule",
    "TranslationDataset", "build_corpus", "copy_baseline_bleu", "encode_sources", "length_sorted_batches",
    "make_batch", "normalize_whitespace", "prepare", "read_lines", "read_sgm_pair", "read_tsv", "read_wmt_xml",
]
