"""The greedy search loop, shared by the dynamic and the fixed-shape search: what differs between them (which
sentences a step decodes, how its results reach the batch's, when to stop) goes through a BatchPolicy
(batch_policy.py).

Shapes: B sentences, B' those a step decodes (all B on the fixed-shape path), L maximum output length, V vocabulary.
"""

from __future__ import annotations

import torch

from transformer_lab.decoding.batch_policy import BatchPolicy
from transformer_lab.decoding.hypotheses import SearchOutput, length_penalty


def greedy_loop(policy: BatchPolicy, *, alpha: float, eos_id: int) -> SearchOutput:
    """The argmax continuation of every sentence `policy` set up (rows_per_sentence = 1), until each has
    generated eos (forced at its maximum length); alpha only scales the reported scores."""
    B, L, device = policy.size, policy.max_len, policy.first_input.device
    tokens = torch.full((B, L), policy.pad_id, dtype=torch.long, device=device)  # (B, L)
    logprob = torch.zeros(B, dtype=torch.float32, device=device)  # (B,)
    lengths = torch.zeros(B, dtype=torch.long, device=device)  # (B,)
    inp = policy.first_input  # (B', 1)
    for step in range(L):
        logp = policy.next_logp(inp)  # (B', V)
        policy.rules.apply_(logp, step, policy.must_end(step))
        tok_logp, tok = logp.max(dim=-1)  # (B',), (B',)
        policy.record_greedy(tokens[:, step], logprob, lengths, tok_logp, tok)
        if policy.stop(step, tok == eos_id):
            break
        inp = policy.advance(tok)
    width = policy.greedy_width(step, lengths)
    return SearchOutput(tokens[:, :width], logprob / length_penalty(lengths.float(), alpha))
