"""Capture and restore the random number generators, as plain tensors and ints (weights_only-safe).

Under DDP every rank's generators are saved (`capture_rng_states_of_every_rank`, a collective: every rank
calls it while saving a checkpoint, as Lightning's save is), and each rank restores its own on resume, so
that every rank's dropout stream continues where it stopped.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


def capture_rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gauss": float(cached_gauss)},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    numpy_state = state["numpy"]
    np.random.set_state(("MT19937", numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["cached_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def capture_rng_states_of_every_rank() -> list[dict[str, Any]]:
    """[rank 0's state, rank 1's, ...]; a collective under DDP (every rank must call it)."""
    state = capture_rng_state()
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return [state]
    states: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(states, state)
    return states


def rng_state_of_rank(checkpoint: dict[str, Any], rank: int) -> dict[str, Any] | None:
    """The state `rank` saved, or None when the checkpoint was written by fewer ranks (the rank then keeps
    its seeded generators). Checkpoints from before per-rank states hold rank 0's state only."""
    states = checkpoint.get("rng_states_per_rank")
    if states is None:
        return checkpoint.get("rng_state") if rank == 0 else None
    return states[rank] if rank < len(states) else None
