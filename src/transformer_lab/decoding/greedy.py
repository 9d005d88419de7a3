"""The greedy search loop, shared by the dynamic and the fixed-shape search: what differs between them (which
sentences a step decodes, how its results reach the batch's, when to stop) goes through a BatchPolicy
(batch_policy.py).

Shapes: B sentences, B' those a step decodes (all B on the fixed-shape path), L maximum output length, V vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from transformer_lab.decoding.batch_policy import BatchPolicy
from transformer_lab.decoding.hypotheses import SearchOutput, length_penalty

# choose(logp (B', V), rows (B',)) -> tokens (B',): the next token of the step's sentences (rows: their rows
# in the batch's results, which stay the same as sentences leave)
TokenChoice = Callable[[Tensor, Tensor], Tensor]


def greedy_loop(policy: BatchPolicy, *, alpha: float, eos_id: int, choose: TokenChoice | None = None) -> SearchOutput:
    """The argmax continuation of every sentence `policy` set up (rows_per_sentence = 1), until each has
    generated eos (forced at its maximum length); alpha only scales the reported scores. `choose`: pick each
    next token another way (sampling.py's Sampler) instead of the argmax; the score stays the sum of the
    chosen tokens' log-probabilities."""
    B, L, device = policy.size, policy.max_len, policy.first_input.device
    tokens = torch.full((B, L), policy.pad_id, dtype=torch.long, device=device)  # (B, L)
    logprob = torch.zeros(B, dtype=torch.float32, device=device)  # (B,)
    lengths = torch.zeros(B, dtype=torch.long, device=device)  # (B,)
    inp = policy.first_input  # (B', 1)
    rows = torch.arange(B, device=device)  # (B,)
    for step in range(L):
        logp = policy.next_logp(inp)  # (B', V)
        policy.rules.apply_(logp, step, policy.must_end(step))
        if choose is None:
            tok_logp, tok = logp.max(dim=-1)  # (B',), (B',)
        else:
            tok = choose(logp, policy.rows_of(rows))  # (B',)
            tok_logp = logp.gather(1, tok[:, None]).squeeze(1)  # (B',)
        policy.record_greedy(tokens[:, step], logprob, lengths, tok_logp, tok)
        if policy.stop(step, tok == eos_id):
            break
        inp = policy.advance(tok)
    width = policy.greedy_width(step, lengths)
    return SearchOutput(tokens[:, :width], logprob / length_penalty(lengths.float(), alpha))
