"""Models that leave the lab: a checkpoint as a Hugging Face MarianMT directory or a CTranslate2 model.

    python -m transformer_lab.export CKPT --to hf OUT_DIR
    python -m transformer_lab.export CKPT --to ct2 OUT_DIR [--quantization int8]

`export_hf(module, out_dir)` and `export_ct2(module, out_dir, quantization)` take a TranslationModule from
`inference.loading.module_from_checkpoint`; `CT2Translator(dir).translate(lines)` translates with a CT2 export.
Variants MarianMT cannot express are refused before anything is written (`check_exportable`).
"""

from transformer_lab.export.compatibility import UnexportableModelError, check_exportable
from transformer_lab.export.ct2 import QUANTIZATIONS, CT2Translator, export_ct2
from transformer_lab.export.hf import ExportError, export_hf

__all__ = [
    "QUANTIZATIONS",
    "CT2Translator",
    "ExportError",
    "UnexportableModelError",
    "check_exportable",
    "export_ct2",
    "export_hf",
]
