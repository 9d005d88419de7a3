"""Peak memory and time of `average_checkpoints` on synthetic checkpoints of the base model's size.

    PYTHONPATH=src nice -n 5 python scripts/benchmark_averaging.py            # base, 37k vocabulary, N = 2 and 10
    PYTHONPATH=src python scripts/benchmark_averaging.py --model transformer_big --counts 2 20

Writes N checkpoints holding the weights of a freshly built model (the layout training writes: tied
embeddings, `state_dict` keys under `model.`), then runs each averaging in a fresh child process and
reports that process's own peak RSS (ru_maxrss). For comparison, the same N checkpoints are also
averaged the way a loader that holds every checkpoint at once would ("all in memory").
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write_checkpoints(directory: Path, model: str, vocab_size: int, count: int) -> int:
    """`count` checkpoints of `model`; returns the bytes of one checkpoint's weights."""
    from transformer_lab.model import build_transformer

    config = OmegaConf.to_container(OmegaConf.load(CONF / f"{model}.yaml"))
    config.pop("defaults", None)
    config["positional"] = OmegaConf.to_container(OmegaConf.load(CONF / "positional" / "sinusoidal.yaml"))
    config["vocab_size"] = vocab_size
    transformer = build_transformer(config)
    state = {f"model.{key}": value for key, value in transformer.state_dict().items()}
    directory.mkdir(parents=True, exist_ok=True)
    for step in range(1, count + 1):
        with torch.no_grad():
            for tensor in transformer.parameters():
                tensor.mul_(1.001)  # a different file each time
        torch.save({"state_dict": state, "global_step": step * 1000, "hyper_parameters": {"model": config}},
                   directory / f"step{step * 1000:07d}.ckpt")
    return sum(p.numel() * p.element_size() for p in transformer.parameters())


def _child(mode: str, directory: str, count: int, output: str, results) -> None:
    from transformer_lab.average_checkpoints import main
    from transformer_lab.checkpointing.averaging import average_state_dicts
    from transformer_lab.checkpointing.reading import load_checkpoint_file

    imports = _peak_mib()
    start = time.perf_counter()
    if mode == "running sum":
        main([directory, "--last", str(count), "-o", output])
    else:
        paths = sorted(Path(directory).glob("*.ckpt"))[-count:]
        everything = [load_checkpoint_file(path)["state_dict"] for path in paths]
        torch.save({"state_dict": average_state_dicts(everything)}, output)
    results.put({"seconds": time.perf_counter() - start, "peak_mib": _peak_mib(), "imports_mib": imports})


def measure(mode: str, directory: Path, count: int) -> dict:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    with tempfile.TemporaryDirectory() as out:
        child = context.Process(target=_child, args=(mode, str(directory), count, f"{out}/avg.ckpt", results))
        child.start()
        result = results.get()
        child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="transformer_base", help="a conf/model/ file")
    parser.add_argument("--vocab-size", type=int, default=37000)
    parser.add_argument("--counts", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--no-baseline", action="store_true", help="skip the all-in-memory comparison")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tlab_bench_avg_"))
    try:
        weight_bytes = write_checkpoints(workdir, args.model, args.vocab_size, max(args.counts))
        print(f"{args.model}, vocab {args.vocab_size}: {weight_bytes / 2**20:,.0f} MiB of weights per checkpoint; "
              f"{os.cpu_count()} cores, load average {os.getloadavg()}")
        print("| checkpoints | method | peak RSS (MiB) | after imports (MiB) | time (s) |")
        print("|---|---|---|---|---|")
        modes = ["running sum"] + ([] if args.no_baseline else ["all in memory"])
        for count in args.counts:
            for mode in modes:
                r = measure(mode, workdir, count)
                print(f"| {count} | {mode} | {r['peak_mib']:,.0f} | {r['imports_mib']:,.0f} | {r['seconds']:.1f} |",
                      flush=True)
        print(f"load average after: {os.getloadavg()}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
