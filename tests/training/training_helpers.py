"""Helpers for end-to-end tests: run the CLIs in subprocesses, tiny settings, read W&B offline runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


TINY = [
    "debug=tiny",
    "data.max_tokens=512",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]
FAST = [*TINY, "test=false", "callbacks.attention_maps.n_sentences=0"]  # no test pass, no attention figures
EIGHT_STEPS = [*FAST, "trainer.max_steps=8", "trainer.val_check_interval=4",
               "callbacks.periodic_checkpoint.every_n_train_steps=4", "callbacks.resume_checkpoint.every_n_train_steps=4"]


def run_cli(module: str, *args: str, cwd: Path | None = None, timeout: float = 300, check: bool = True,
            env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Runs `python -m <module> args...` and returns the finished process (output captured)."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"python -m {module} {' '.join(args)} exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-8000:]}"
        )
    return proc


def read_wandb_offline_run(run_dir: Path) -> dict:
    """Parses an offline W&B run (`offline-run-*/run-<id>.wandb`, a LevelDB-style record log of protobuf
    `Record`s) into {"id", "group", "tags", "config", "history", "summary", "exit_code"}, for assertions in
    tests. "summary" is the run summary as W&B keeps it: the summary updates merged in order."""
    import json
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = list(Path(run_dir).glob("run-*.wandb"))
    data = path.read_bytes()
    block, pos, pending, payloads = 32768, 7, b"", []  # 7-byte file header, 32 KiB blocks
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer too short for a record header
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        if kind == 0 and length == 0:
            break
        chunk, pos = data[pos : pos + length], pos + length
        if kind == 1:  # FULL
            payloads.append(chunk)
        elif kind == 2:  # FIRST
            pending = chunk
        elif kind == 3:  # MIDDLE
            pending += chunk
        elif kind == 4:  # LAST
            payloads.append(pending + chunk)
    run: dict = {"config": {}, "history": [], "summary": {}, "exit_code": None}
    for payload in payloads:
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(id=record.run.run_id, group=record.run.run_group, tags=list(record.run.tags))
            for item in record.run.config.update:
                run["config"][item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                run["config"][item.key] = json.loads(item.value_json)
        elif kind == "history":
            run["history"].append(
                {(item.key or "/".join(item.nested_key)): json.loads(item.value_json) for item in record.history.item}
            )
        elif kind == "summary":
            for item in record.summary.update:
                run["summary"][item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "exit":
            run["exit_code"] = record.exit.exit_code
    return run


def offline_runs(run_dir: Path) -> list[Path]:
    return sorted(Path(run_dir).glob("wandb/offline-run-*"))
