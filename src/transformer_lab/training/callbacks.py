"""Callbacks that turn evaluations into files and W&B panels: attention maps, samples, run summary."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import matplotlib.pyplot as plt
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from transformer_lab.data.encoding import append_eos_and_pad
from transformer_lab.special_tokens import BOS_ID, EOS_ID
from transformer_lab.training.attention_plots import attention_entropy, plot_attention_heads
from transformer_lab.training.best_metrics import BestTracker, define_wandb_best_metrics
from transformer_lab.training.provenance import collect_provenance
from transformer_lab.training.run_record import read_summary, write_summary


def _wandb_loggers(trainer: L.Trainer) -> list[WandbLogger]:
    return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]


def _run_dir(trainer: L.Trainer) -> Path:
    return Path(trainer.default_root_dir)


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
        out_dir = _run_dir(trainer) / "attention" / f"step{trainer.global_step:07d}"
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
        for logger in _wandb_loggers(trainer):
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
    from transformer_lab.training.config import SearchConfig

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
        out_dir = _run_dir(trainer) / "translations"
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{name}.hyp.txt").write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
        references_file = out_dir / f"{split}.ref.txt"  # the report's significance tests pair hypotheses on it
        if not references_file.is_file():
            references_file.write_text("".join(r + "\n" for r in references), encoding="utf-8")
        rows = [[sources[i], references[i], hypotheses[i]] for i in range(min(self.n_samples, len(hypotheses)))]
        with open(out_dir / f"{name}.samples.tsv", "w", encoding="utf-8") as handle:
            handle.write("source\treference\thypothesis\n")
            handle.writelines("\t".join(row) + "\n" for row in rows)
        for logger in _wandb_loggers(trainer):
            logger.log_table(key=f"samples/{split}", columns=["source", "reference", "hypothesis"], data=rows,
                             step=trainer.global_step)


def _record_kind(record: dict[str, Any]) -> str:
    """"val" for an evaluation's record, "train" for a training update's."""
    return "val" if any(key.startswith("val/") for key in record) else "train"


class RunSummaryCallback(L.Callback):
    """Keeps `metrics.jsonl` (every evaluation's metrics) and `summary.json` (final metrics, parameter
    counts, status) in the run directory: the machine-readable record the report reads."""

    def __init__(self, monitor: str = "val/bleu") -> None:
        self.monitor = monitor
        self.status = "running"
        self.best: float | None = None
        self.bests = BestTracker()  # best dev BLEU/chrF/chrF++ and lowest dev perplexity, with their steps
        self.last_val: dict[str, float] = {}
        self.extra: dict[str, Any] = {}
        self._start = time.time()
        self._written_at_resume: set[tuple[str, int]] = set()  # (kind, step) of records kept at the resumed step
        self._last_train_step = 0  # the update whose training record was last considered
        self._validation_ending: int | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.time()
        if trainer.ckpt_path is not None:  # a resumed run keeps the record of the attempts before it
            previous = read_summary(_run_dir(trainer))
            self.extra.update({k: previous[k] for k in ("interrupted_at_steps", "validated_step") if k in previous})
        self._write_summary(trainer, pl_module)
        for logger in _wandb_loggers(trainer):
            if trainer.is_global_zero:
                logger.experiment.summary["sacrebleu_signature"] = pl_module.bleu_signature
                define_wandb_best_metrics(logger.experiment)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # The loops are restored by now (not yet at on_fit_start): global_step is the resumed step.
        self._last_train_step = trainer.global_step
        self._forget_records_after(trainer, trainer.global_step)  # a resume re-runs the steps after its checkpoint

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = self._scalars(trainer, prefix="val/")
        self.last_val = metrics
        value = metrics.get(self.monitor)
        if value is not None and math.isfinite(value) and (self.best is None or value > self.best):
            self.best = value
        for key in self.bests.update(metrics, trainer.global_step):
            for logger in _wandb_loggers(trainer):
                if trainer.is_global_zero:
                    logger.experiment.summary[f"{key}_best_step"] = trainer.global_step
        self._append(trainer, {"step": trainer.global_step, "epoch": trainer.current_epoch,
                               "time_s": self._elapsed(), **metrics})
        self._write_summary(trainer, pl_module)
        self._validation_ending = trainer.global_step  # completed once every callback's hook has run

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self._write_summary(trainer, pl_module)  # a killed run's summary shows the step it had reached

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._record_completed_validation(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record_completed_validation(trainer, pl_module)

    def _record_completed_validation(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """`validated_step`: the last validation whose hooks (best-checkpoint save included) all ran; read
        by ValidateWhatWasDue on resume."""
        if self._validation_ending is not None:
            self.extra["validated_step"] = self._validation_ending
            self._validation_ending = None
            self._write_summary(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # Runs once per micro-batch: under gradient accumulation several batches end at the same update,
        # which gets one record (the batch that completed it, when global_step moved on).
        if trainer.global_step == self._last_train_step:
            return
        self._last_train_step = trainer.global_step
        if trainer.global_step % max(trainer.log_every_n_steps, 1) == 0:
            metrics = self._scalars(trainer, prefix="train/")
            if metrics:
                lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None
                self._append(trainer, {"step": trainer.global_step, "epoch": trainer.current_epoch,
                                       "time_s": self._elapsed(), "lr": lr, **metrics})

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.status == "running":
            self.status = "completed"
        self._write_summary(trainer, pl_module)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.extra.update(self._scalars(trainer, prefix="test/"))
        self._write_summary(trainer, pl_module)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if getattr(exception, "run_status", None):
            self.status = exception.run_status
        elif isinstance(exception, SIGTERMException):
            self.status = "preempted"
        elif isinstance(exception, KeyboardInterrupt):
            self.status = "interrupted"
        else:
            self.status = "failed"
        self.extra["error"] = f"{type(exception).__name__}: {exception}"[:2000]
        self._write_summary(trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {"best_val": self.bests.state_dict()}  # in every checkpoint: a resumed run keeps its bests

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.bests.load_state_dict(state_dict.get("best_val", {}))
        if self.monitor in self.bests.best and self.bests.best_of.get(self.monitor) == "max":
            self.best = self.bests.best[self.monitor]["value"]

    # ----------------------------------------------------------------------------------------- helpers
    def _elapsed(self) -> float:
        return round(time.time() - self._start, 1)  # seconds since this process started fitting

    @staticmethod
    def _scalars(trainer: L.Trainer, prefix: str) -> dict[str, float]:
        out = {}
        for key, value in trainer.callback_metrics.items():
            if key.startswith(prefix) and isinstance(value, (torch.Tensor, float, int)):
                out[key] = float(value)
        return out

    def _append(self, trainer: L.Trainer, record: dict[str, Any]) -> None:
        kind = _record_kind(record)
        if not trainer.is_global_zero or (kind, record["step"]) in self._written_at_resume:
            return  # rank 0 writes; a resume does not repeat a record its checkpoint's step already has
        with open(_run_dir(trainer) / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def _forget_records_after(self, trainer: L.Trainer, step: int) -> None:
        """Drops the records of steps after `step` (an interrupted attempt's, which the resumed run writes
        again) and remembers which kinds of record `step` itself has, so that none is written twice."""
        path = _run_dir(trainer) / "metrics.jsonl"
        if not trainer.is_global_zero or step == 0 or not path.is_file():
            return
        lines = path.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
        self._written_at_resume = {(_record_kind(r), step) for r in map(json.loads, kept) if r.get("step") == step}
        if len(kept) != len(lines):
            temporary = path.with_suffix(".jsonl.tmp")
            temporary.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            temporary.replace(path)

    def _write_summary(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        summary = {
            "status": self.status,
            "global_step": trainer.global_step,
            "epoch": trainer.current_epoch,
            "wall_time_s": self._elapsed(),
            "best_val_bleu": self.best,
            "best_val": self.bests.state_dict(),  # {"val/bleu": {"value", "step"}, "val/ppl": ...}
            "last_val": self.last_val,
            "parameters": pl_module.model.parameter_counts(),
            "bleu_signature": pl_module.bleu_signature,
            "provenance": collect_provenance(trainer),
            **self.extra,
        }
        write_summary(_run_dir(trainer), summary)
