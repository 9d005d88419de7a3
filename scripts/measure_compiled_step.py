"""Does compiling the training step (`compile.enabled=true`) pay for a job? Times the trainer's own forward +
loss (`training/module/compiled_step.py`), eager and compiled, with backward and fused Adam, on the job's real
training batches (token-bucketed, lengths padded as `data.pad_to_multiple_of` says).

    python scripts/measure_compiled_step.py                                  # the default job, on this CPU
    python scripts/measure_compiled_step.py --device cuda data.pad_to_multiple_of=8
    python scripts/measure_compiled_step.py --threads 2 experiment=toy model.d_model=256   # any overrides

1. Warm-up: the compiled step runs the first `--warmup` batches; the time beyond that many compiled steps is
   what compiling cost (torch.compile with the job's `compile.dynamic`: the first batch's shapes, then once
   more with the sizes symbolic, once more for a batch without source padding).
2. The next `--steps` batches, each run eager and compiled (alternating which goes first): median step times.
Then the updates after which the compiled step has paid for its compiling, beside the job's `trainer.max_steps`.
Judge by the ratio on a quiet machine; on a shared one, say its load. Compiling reuses inductor's on-disk
cache of earlier runs: for what a first run pays, point TORCHINDUCTOR_CACHE_DIR at an empty folder.
"""

from __future__ import annotations

import argparse
import copy
import statistics

import torch

from transformer_lab.benchmark.measure import timed
from transformer_lab.model import build_transformer
from transformer_lab.model.attention import source_padding_mask
from transformer_lab.training.module.compiled_step import forward_and_loss, training_loss_function


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the training job (default: the default job)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--precision", choices=["bf16", "fp32"],
                        help="default: what the job would use (trainer=cpu decides by the CPU; bf16 on a GPU)")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--warmup", type=int, default=20, help="compiled steps that include the compiling")
    parser.add_argument("--steps", type=int, default=30, help="timed batches, each eager and compiled")
    return parser.parse_args()


def job(overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from transformer_lab.train import CONFIG_DIR
    from transformer_lab.training import preflight

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    settings = preflight.check_job_config(cfg, multirun=False)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    tokenizer = datamodule.tokenizer
    settings = preflight.module_settings(cfg, vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id)
    return cfg, settings, datamodule


class Step:
    """One training update without Lightning: the trainer's mask decision, forward + loss, backward, fused Adam."""

    def __init__(self, model: torch.nn.Module, loss_function, label_smoothing: float, pad_id: int,
                 autocast_dtype: torch.dtype | None) -> None:
        self.model, self.loss_function = model, loss_function
        self.label_smoothing, self.pad_id, self.autocast_dtype = label_smoothing, pad_id, autocast_dtype
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9, fused=True)

    def __call__(self, batch: dict[str, torch.Tensor]) -> None:
        device = batch["src"].device
        dtype = self.autocast_dtype
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            src_mask = source_padding_mask(batch["src"], self.pad_id)
            sums = self.loss_function(self.model, batch["src"], batch["tgt_in"], batch["tgt_out"], src_mask,
                                      self.label_smoothing, self.pad_id)
        loss = sums.smoothed / sums.n_tokens.clamp(min=1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg, settings, datamodule = job(args.overrides)
    precision = args.precision
    if precision is None:
        precision = "bf16" if device.type == "cuda" or "bf16" in str(cfg.trainer.precision) else "fp32"
    autocast_dtype = torch.bfloat16 if precision == "bf16" else None
    loader = datamodule.train_dataloader()
    batches = []
    for batch in loader:
        batches.append({key: value.to(device) for key, value in batch.items()})
        if len(batches) == args.warmup + args.steps:
            break
    torch.manual_seed(0)
    model = build_transformer(settings.model).to(device).train()
    compile_config = settings.compile.__class__(enabled=True, dynamic=settings.compile.dynamic)
    eager = Step(model, forward_and_loss, settings.loss.label_smoothing, settings.model.pad_id, autocast_dtype)
    compiled = Step(copy.deepcopy(model), training_loss_function(compile_config), settings.loss.label_smoothing,
                    settings.model.pad_id, autocast_dtype)
    multiple = datamodule.pad_to_multiple_of
    print(f"{device.type} ({torch.get_num_threads()} threads), {precision}, d_model {settings.model.d_model}, "
          f"{settings.model.n_layers} layers, max_tokens {datamodule.max_tokens}, pad_to_multiple_of {multiple}, "
          f"compile.dynamic={compile_config.dynamic}")

    warm = [timed(lambda: compiled(batch), device) for batch in batches[: args.warmup]]
    eager_times, compiled_times = [], []
    for i, batch in enumerate(batches[args.warmup :]):
        pair = [(eager, eager_times), (compiled, compiled_times)]
        for step, times in pair if i % 2 == 0 else pair[::-1]:
            times.append(timed(lambda: step(batch), device))
    eager_ms, compiled_ms = statistics.median(eager_times) * 1e3, statistics.median(compiled_times) * 1e3
    compile_s = sum(warm) - len(warm) * compiled_ms / 1e3
    print(f"compiling: {compile_s:.1f} s (the first {len(warm)} compiled steps took {sum(warm):.1f} s)")
    print(f"step median over {len(eager_times)} batches: eager {eager_ms:.1f} ms, compiled {compiled_ms:.1f} ms "
          f"({eager_ms / compiled_ms:.2f}x)")
    saved_ms = eager_ms - compiled_ms
    max_steps = int(cfg.trainer.max_steps)
    if saved_ms <= 0:
        print(f"the compiled step is not faster: compiling does not pay (the job runs {max_steps} updates)")
    else:
        break_even = compile_s * 1e3 / saved_ms
        net = max_steps * saved_ms / 1e3 - compile_s
        print(f"pays after {break_even:.0f} updates; over the job's {max_steps} updates it "
              f"{'saves' if net > 0 else 'costs'} {abs(net):.0f} s of training time")


if __name__ == "__main__":
    main()
