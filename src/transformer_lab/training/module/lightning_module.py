"""`TranslationModule`: the LightningModule around the Transformer. Thin on purpose.

Training: label-smoothed cross-entropy (§5.4), Adam(0.9, 0.98, 1e-9) with the inverse-square-root warmup
schedule (§5.3). Evaluation: loss, perplexity, and corpus sacreBLEU/chrF/chrF++ over the whole split from
sufficient statistics summed across DDP ranks, decoding with greedy or beam search as configured.
Lightning owns the loops, devices, precision, accumulation, clipping and checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from torchmetrics.aggregation import SumMetric

from transformer_lab.checkpointing.layout import RunLayout
from transformer_lab.decoding.config import SearchConfig
from transformer_lab.decoding.search import search as search_with
from transformer_lab.decoding.static_decoding import release_static_decoders
from transformer_lab.model import build_transformer
from transformer_lab.model.attention import source_padding_mask
from transformer_lab.special_tokens import UNK_ID
from transformer_lab.training.module.compiled_step import training_loss_function
from transformer_lab.training.module.loss import label_smoothed_loss
from transformer_lab.training.module.metrics import CorpusBLEU, CorpusChrF, paper_style_bleu
from transformer_lab.training.module.nonfinite import NonFiniteGuard
from transformer_lab.training.module.rng import capture_rng_states_of_every_rank, restore_rng_state, rng_state_of_rank
from transformer_lab.training.module.run_context import RunContext
from transformer_lab.training.module.schedule import inverse_sqrt_scheduler
from transformer_lab.training.module.settings import ModuleSettings
from transformer_lab.training.module.tokenized_bleu import LANGUAGE_CODE
from transformer_lab.training.records.provenance import collect_provenance

SUMMARY_EXAMPLE_TOKENS = 32  # source and target length of the model summary's example sentence pair


def summary_example() -> tuple[torch.Tensor, torch.Tensor]:
    """(src, tgt_in), each (1, SUMMARY_EXAMPLE_TOKENS) of <unk>: one sentence pair with no padding. The FLOPs the
    model summary prints are one forward pass over it; the ids do not change the count."""
    tokens = torch.full((1, SUMMARY_EXAMPLE_TOKENS), UNK_ID)
    return tokens, tokens.clone()


class TranslationModule(L.LightningModule):
    """settings: the typed model/optim/loss/decoding/nonfinite/compile sections (`training.preflight`);
    context: the tokenizer, the split texts and the data settings of the run (`RunContext`)."""

    def __init__(self, settings: ModuleSettings, context: RunContext) -> None:
        super().__init__()
        if settings.model.pad_id != context.tokenizer.pad_id:
            raise ValueError(f"model.pad_id={settings.model.pad_id} but the tokenizer's <pad> is id "
                             f"{context.tokenizer.pad_id}; build the settings with training.preflight.module_settings")
        self.save_hyperparameters(settings.to_plain())  # plain containers: checkpoints load with weights_only
        self.settings, self.context = settings, context
        self.model = build_transformer(settings.model)
        self.optim_config, self.loss_config, self.decoding_config = settings.optim, settings.loss, settings.decoding
        self.nonfinite_guard = NonFiniteGuard(settings.nonfinite)
        self.training_loss = training_loss_function(settings.compile)  # forward + loss, compiled when configured
        self.pad_id = context.tokenizer.pad_id

        self.eval_bleu = CorpusBLEU()
        self.eval_chrf = CorpusChrF()
        self.eval_chrf_pp = CorpusChrF(word_order=2)  # chrF++
        self.eval_nll = SumMetric()
        self.eval_smoothed = SumMetric()
        self.eval_tokens = SumMetric()
        self.eval_sentences = SumMetric()  # read after sync: must equal the split's size under DDP
        self._hypotheses: list[tuple[int, str]] = []  # (index in split, hypothesis) seen by this rank
        self.translations: dict[str, list[str]] = {}  # split -> hypotheses of the last evaluation, in order
        self.bleu_signature: str = self.eval_bleu.signature()
        self._pending_rng_state: dict[str, Any] | None = None
        self._losses_finite: torch.Tensor | None = None  # were all losses since the last update finite
        # What Lightning's model summary runs through the model (eval mode, no grad: no dropout draws, so
        # the run's random stream is untouched) to show each module's input/output sizes and forward FLOPs.
        self.example_input_array = summary_example()

    @property
    def tokenizer(self):
        return self.context.tokenizer

    @property
    def data_config(self) -> Mapping[str, Any] | None:
        return self.context.data_config

    # ----------------------------------------------------------------------------------------- training
    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.model(src, tgt_in)  # (B, T, V)

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        src_mask = source_padding_mask(batch["src"], self.pad_id)  # a device read: kept out of the compiled step
        sums = self.training_loss(self.model, batch["src"], batch["tgt_in"], batch["tgt_out"], src_mask,
                                  self.loss_config.label_smoothing, self.pad_id)
        n_tokens = sums.n_tokens.clamp(min=1)
        loss = sums.smoothed / n_tokens
        batch_size = batch["src"].size(0)
        # Not on the progress bar: the bar reads its values every batch, a device sync per batch.
        self.log("train/loss", loss, batch_size=batch_size)
        self.log("train/nll", sums.nll / n_tokens, batch_size=batch_size)
        self.log("train/tokens", sums.n_tokens.float(), reduce_fx="sum", batch_size=batch_size)
        finite = torch.isfinite(loss.detach())  # on the device: read once per update, under a loss scaler only
        self._losses_finite = finite if self._losses_finite is None else self._losses_finite & finite
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Gradients are already reduced across ranks here, so every rank decides alike.
        last = RunLayout(self.trainer.default_root_dir).last_checkpoint
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)  # 16-mixed: its GradScaler
        scaler = scaler if scaler is not None and scaler.is_enabled() else None
        losses_finite, self._losses_finite = self._losses_finite, None  # of this update's micro-batches
        applied = self.nonfinite_guard.check(
            [p for p in self.parameters() if p.requires_grad], self.trainer.global_step, last,
            scaler=scaler, losses_finite=losses_finite,
        )
        if not applied:
            self.log("train/skipped_updates", float(self.nonfinite_guard.skipped_total))

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.optim_config
        optimizer = torch.optim.Adam(  # fused: one kernel for the whole update (CPU and CUDA); foreach was ~4x slower on CPU
            self.parameters(), lr=1.0, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay, fused=True
        )
        scheduler = inverse_sqrt_scheduler(optimizer, self.model.config.d_model, cfg.warmup_steps, cfg.lr_scale)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # -------------------------------------------------------------------------------------- evaluation
    def on_validation_epoch_start(self) -> None:
        self._reset_eval()

    def on_test_epoch_start(self) -> None:
        self._reset_eval()

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "valid", self.decoding_config.val)

    def test_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test", self.decoding_config.test)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("valid", "val")
        release_static_decoders(self.model)  # CUDA graphs and their buffers: training needs the memory back

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test", "test")
        release_static_decoders(self.model)

    def _reset_eval(self) -> None:
        metrics = (self.eval_bleu, self.eval_chrf, self.eval_chrf_pp, self.eval_nll, self.eval_smoothed, self.eval_tokens,
                   self.eval_sentences)
        for metric in metrics:
            metric.reset()
        self._hypotheses = []

    def _eval_step(self, batch: Mapping[str, torch.Tensor], split: str, search: SearchConfig) -> None:
        logits = self.model(batch["src"], batch["tgt_in"])
        sums = label_smoothed_loss(logits, batch["tgt_out"], self.loss_config.label_smoothing, self.pad_id)
        self.eval_nll.update(sums.nll)
        self.eval_smoothed.update(sums.smoothed)
        self.eval_tokens.update(sums.n_tokens.float())
        if self.trainer.sanity_checking:
            return  # decoding an untrained model to max length is slow and says nothing
        hypotheses = self.translate_ids(batch["src"], search)
        references = self._references(split)
        indices = batch["index"].tolist()
        self.eval_bleu.update(hypotheses, [references[i] for i in indices])
        self.eval_chrf.update(hypotheses, [references[i] for i in indices])
        self.eval_chrf_pp.update(hypotheses, [references[i] for i in indices])
        self.eval_sentences.update(torch.tensor(float(len(hypotheses))))
        self._hypotheses.extend(zip(indices, hypotheses))

    def _eval_epoch_end(self, split: str, prefix: str) -> None:
        n_tokens = self.eval_tokens.compute().clamp(min=1)  # summed across ranks
        nll = self.eval_nll.compute() / n_tokens
        self.log(f"{prefix}/loss", self.eval_smoothed.compute() / n_tokens)
        self.log(f"{prefix}/nll", nll)
        self.log(f"{prefix}/ppl", torch.exp(nll.clamp(max=50.0)))
        if self.trainer.sanity_checking:
            return
        bleu, chrf = self.eval_bleu.compute(), self.eval_chrf.compute()
        self.log(f"{prefix}/bleu", bleu.float(), prog_bar=True)
        self.log(f"{prefix}/chrf", chrf.float())
        self.log(f"{prefix}/chrf++", self.eval_chrf_pp.compute().float())
        self.log(f"{prefix}/n_sentences", self.eval_sentences.compute())
        ordered = self._gather_hypotheses()
        self.translations[split] = ordered
        tgt_lang = str((self.data_config or {}).get("tgt_lang") or "de")  # the built-in corpus names none
        if LANGUAGE_CODE.fullmatch(tgt_lang):  # data=tsv names its columns "tgt": no language, no number
            # every evaluation: the report's Table 3 sets the dev (newstest2013) value beside the paper's
            self.log(f"{prefix}/paper_bleu", paper_style_bleu(ordered, self._references(split), tgt_lang))

    def _gather_hypotheses(self) -> list[str]:
        """Every rank's (index, hypothesis) pairs, merged in split order on every rank."""
        pairs = self._hypotheses
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            gathered: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, pairs)
            pairs = [pair for part in gathered for pair in part]
        return [hyp for _, hyp in sorted(pairs)]

    def _references(self, split: str) -> Sequence[str]:
        return self.context.references(split)

    # ------------------------------------------------------------------------------------- translation
    @torch.no_grad()
    def search(self, src: torch.Tensor, search: SearchConfig, n_best: int = 1):
        """src (B, S) -> the search result (token ids (B, L) and scores (B,); with n_best > 1, beam search
        only, also the n_best best hypotheses)."""
        return search_with(self.model, src, search, n_best=n_best)

    def translate_ids(self, src: torch.Tensor, search: SearchConfig) -> list[str]:
        """src (B, S) -> B detokenized hypotheses."""
        tokens = self.search(src, search).tokens.tolist()
        return [self.tokenizer.decode(ids) for ids in tokens]

    # ------------------------------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # RNG states make a mid-epoch resume continue the same dropout stream (plain tensors/ints only), on
        # every rank: each rank's generators are gathered (a collective; every rank saves together).
        checkpoint["rng_states_per_rank"] = capture_rng_states_of_every_rank()
        # The tokenizer travels with the weights, so translate/evaluate need only the checkpoint.
        checkpoint["tokenizer_json"] = self.tokenizer.to_json()
        if self.data_config is not None:
            checkpoint["data_config"] = dict(self.data_config)
        if self.context.init_from is not None:  # the data is encoded with the tokenizer above, not data_config's
            checkpoint["init_from"] = dict(self.context.init_from)
        checkpoint["provenance"] = collect_provenance(self._trainer)  # plain strings and bools

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._pending_rng_state = rng_state_of_rank(checkpoint, self.global_rank)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Restored here, not in on_load_checkpoint: Lightning draws random numbers between loading and
        # the first batch (dataloader seeds), which the uninterrupted run drew at the epoch start instead.
        if self._pending_rng_state is not None:
            restore_rng_state(self._pending_rng_state)
            self._pending_rng_state = None


