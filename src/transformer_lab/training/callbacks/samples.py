"""Callbacks that turn evaluations into files and W&B panels: attention maps and sample translations (the run
summary is `run_summary.py`)."""

from __future__ import annotations

import lightning as L
import matplotlib.pyplot as plt
import torch

from transformer_lab.checkpointing.layout import RunLayout
from transformer_lab.data.batching.encoding import append_eos_and_pad
from transformer_lab.special_tokens import BOS_ID, EOS_ID
from transformer_lab.training.callbacks.attention_plots import attention_entropy, plot_attention_heads
from transformer_lab.training.logging.loggers import wandb_loggers


class AttentionMapsCallback(L.Callback):
    """At each validation: heatmaps of every layer and head for a few fixed dev sentences, plus the mean
    attention entropy of every head as scalars (to compare head behaviour across a head-count sweep).

    The decoder side is the model's own greedy translation, so cross-attention shows the alignment the
    model actually uses. PNGs go to `<run dir>/attention/step<N>/`, and to W&B as images.

    Under DDP the drawing, the slow part, is shared: every rank computes the (small) attention maps and
    draws every world_size-th figure, so no rank draws them all while the others wait; rank 0 then logs.
    """

    KINDS = ("encoder_self", "decoder_self", "cross")

    def __init__(self, n_sentences: int = 2, every_n_validations: int = 1, max_tokens: int = 40) -> None:
        self.n_sentences = n_sentences
        self.every_n_validations = every_n_validations
        self.max_tokens = max_tokens  # longer sentences are cut for readable plots
        self._validations = 0

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.n_sentences <= 0:
            return
        self._validations += 1
        if (self._validations - 1) % self.every_n_validations:
            return
        tokenizer = pl_module.tokenizer
        sources = pl_module.context.sources("valid")[: self.n_sentences]
        out_dir = RunLayout.of_trainer(trainer).attention_dir / f"step{trainer.global_step:07d}"
        out_dir.mkdir(parents=True, exist_ok=True)
        rank, world_size = trainer.global_rank, trainer.world_size
        entropies: dict[tuple[str, int], list[torch.Tensor]] = {}  # (kind, layer) -> per sentence (H,)
        images: dict[str, str] = {}  # one W&B key per (kind, layer, sentence): sizes differ per sentence
        was_training = pl_module.training
        pl_module.eval()
        try:
            for sid, source in enumerate(sources):
                maps, src_labels, tgt_labels = self._attention_for(pl_module, tokenizer, source)
                for kind, layers in zip(self.KINDS, (maps.encoder_self, maps.decoder_self, maps.cross)):
                    queries = src_labels if kind == "encoder_self" else tgt_labels
                    keys = tgt_labels if kind == "decoder_self" else src_labels
                    for layer, weights in enumerate(layers):  # weights (1, H, Tq, Tk)
                        entropies.setdefault((kind, layer), []).append(attention_entropy(weights))
                        path = out_dir / f"s{sid}_{kind}_layer{layer}.png"
                        if len(images) % world_size == rank:  # this rank's share of the figures
                            fig = plot_attention_heads(weights[0], queries, keys, f"{kind} layer {layer} (sentence {sid})")
                            fig.savefig(path, dpi=80)
                            plt.close(fig)
                        images[f"attention/{kind}/layer{layer}/sentence{sid}"] = str(path)
        finally:
            pl_module.train(was_training)
        trainer.strategy.barrier("attention figures")  # every share written before rank 0 logs them
        if not trainer.is_global_zero:
            return
        scalars = {
            f"attn_entropy/{kind}/layer{layer}/head{head}": float(value)
            for (kind, layer), per_sentence in entropies.items()
            for head, value in enumerate(torch.stack(per_sentence).mean(0))
        }
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=trainer.global_step)
        for logger in wandb_loggers(trainer):
            for key, path in images.items():
                logger.log_image(key=key, images=[path], step=trainer.global_step)

    @torch.no_grad()
    def _attention_for(self, pl_module, tokenizer, source: str):
        device = pl_module.device
        src = append_eos_and_pad([tokenizer.encode(source)[: self.max_tokens - 1]]).to(device)  # (1, S)
        src_ids = src[0].tolist()
        hyp = pl_module.search(src, _greedy(self.max_tokens)).tokens[0].tolist()
        hyp = [t for t in hyp if t not in (EOS_ID,) and t != pl_module.pad_id][: self.max_tokens - 1]
        tgt_in = torch.tensor([[BOS_ID] + hyp], device=device)
        _, maps = pl_module.model(src, tgt_in, return_attention=True)
        src_labels = [tokenizer.id_to_piece(i) for i in src_ids]
        tgt_labels = [tokenizer.id_to_piece(i) for i in [BOS_ID] + hyp]
        return maps, src_labels, tgt_labels


def _greedy(max_len: int):
    from transformer_lab.decoding.config import SearchConfig

    return SearchConfig(strategy="greedy", max_len_a=0.0, max_len_b=max_len)


class TranslationsCallback(L.Callback):
    """Writes each evaluation's hypotheses in split order (and the split's references once, beside them)
    and logs a table of sample translations."""

    def __init__(self, n_samples: int = 8) -> None:
        self.n_samples = n_samples

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._write(trainer, pl_module, "valid", f"valid_step{trainer.global_step:07d}")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, pl_module, "test", "test")

    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule, split: str, name: str) -> None:
        hypotheses = pl_module.translations.get(split)
        if not trainer.is_global_zero or hypotheses is None:
            return
        sources, references = pl_module.context.split_texts(split)
        out_dir = RunLayout.of_trainer(trainer).translations_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{name}.hyp.txt").write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
        references_file = out_dir / f"{split}.ref.txt"  # the report's significance tests pair hypotheses on it
        if not references_file.is_file():
            references_file.write_text("".join(r + "\n" for r in references), encoding="utf-8")
        rows = [[sources[i], references[i], hypotheses[i]] for i in range(min(self.n_samples, len(hypotheses)))]
        with open(out_dir / f"{name}.samples.tsv", "w", encoding="utf-8") as handle:
            handle.write("source\treference\thypothesis\n")
            handle.writelines("\t".join(row) + "\n" for row in rows)
        for logger in wandb_loggers(trainer):
            logger.log_table(key=f"samples/{split}", columns=["source", "reference", "hypothesis"], data=rows,
                             step=trainer.global_step)
