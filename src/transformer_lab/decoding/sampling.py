"""Sampling: each next token drawn from the model's distribution, sharpened or flattened by a temperature and
cut to the top-k / top-p (nucleus, Holtzman et al. 2020) tokens -- for back-translation, where Edunov et al.
(2018) found sampled source sides train better models than beam-searched ones.

Shapes: B sentences, N samples per sentence, R = B x N rows, L maximum output length, V vocabulary, W tokens kept.

The filters, in the order fairseq and Hugging Face apply them: log p / temperature, softmax; keep the top_k most
probable tokens (0: all); keep the smallest set of the most probable tokens whose probability reaches top_p
(1: all); renormalize. The token rules (no pad/bos, eos forced at the maximum length, `min_len`) are applied
before, to the model's log-probabilities, as in every search.

Seeded without the global random state: every row (sentence, sample number j) has its own torch.Generator,
seeded from (seed, j, the sentence's source token ids), which draws the row's L uniforms once; the token of step
t is where the row's uniform t falls in the cumulative distribution. So a sentence gets the same draws whatever
batch it is in, wherever it is in its input, and sample j is the same whatever the number of samples. The tokens
are the same too unless the model's float rounding, which depends on the batch's shape, moves a boundary of the
cumulative distribution across a draw (a difference of about 1e-7 of probability mass). Identical source
sentences get identical samples.

The score of a sample is the model's length-normalized log-probability of it (temperature 1, no cut), like a
beam hypothesis's, so samples and beam outputs can be compared and filtered alike.
The N samples of a sentence run as N rows of their own (the source encoded N times): simple, and cheap next to
decoding them.
"""

from __future__ import annotations

import hashlib

import torch
from torch import Tensor

from transformer_lab.decoding.dynamic_batch import DynamicBatch
from transformer_lab.decoding.ensemble import Ensemble
from transformer_lab.decoding.greedy import greedy_loop
from transformer_lab.decoding.hypotheses import SearchOutput
from transformer_lab.model.transformer import Transformer


def sampling_distribution(logp: Tensor, *, temperature: float, top_k: int, top_p: float) -> tuple[Tensor, Tensor]:
    """logp (R, V) float32 log-probabilities (-inf: banned) -> the distribution to draw from: probabilities
    (R, W), most probable first, renormalized over the tokens kept (zero for those the nucleus cuts), and their
    token ids (R, W). W = min(top_k, V), or V without top-k. Without any cut: in vocabulary order (no sort)."""
    scaled = logp / temperature if temperature != 1.0 else logp
    if not top_k and top_p >= 1.0:
        ids = torch.arange(logp.size(-1), device=logp.device).expand_as(logp)  # (R, V), a view
        return torch.softmax(scaled, dim=-1), ids
    width = min(top_k, logp.size(-1)) if top_k else logp.size(-1)
    values, ids = scaled.topk(width, dim=-1)  # (R, W), descending
    probs = torch.softmax(values, dim=-1)  # renormalized over the top-k
    if top_p < 1.0:
        before = probs.cumsum(dim=-1) - probs  # (R, W): the mass of the more probable tokens
        probs = probs.masked_fill(before >= top_p, 0.0)  # the most probable token always stays
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs, ids


def row_seed(seed: int, sample: int, source: list[int]) -> int:
    """The seed of one row's generator: a hash of (seed, sample number, source ids) -- stable across runs and
    machines (not Python's `hash`)."""
    digest = hashlib.blake2b(f"{seed}/{sample}/{','.join(map(str, source))}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class Sampler:
    """The `choose` of greedy_loop for sampling: draws each row's next token from `sampling_distribution`
    with the row's own uniforms (R, L), drawn once from its generator (module docstring)."""

    def __init__(self, seeds: list[int], *, max_len: int, temperature: float, top_k: int, top_p: float,
                 device: torch.device) -> None:
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        uniforms = [torch.rand(max_len, generator=torch.Generator().manual_seed(s), dtype=torch.float64)
                    for s in seeds]
        self.uniforms = torch.stack(uniforms).to(device)  # (R, L) in [0, 1)
        self.step = 0

    def __call__(self, logp: Tensor, rows: Tensor) -> Tensor:
        """logp (R', V) of the rows still going, rows (R',) their rows in the batch -> tokens (R',)."""
        probs, ids = sampling_distribution(logp, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)
        cdf = probs.double().cumsum(dim=-1)  # (R', W)
        # (1 - u) in (0, 1]: the first token whose cumulative probability reaches it has a probability > 0
        target = (1.0 - self.uniforms[rows, self.step]) * cdf[:, -1]  # (R',)
        self.step += 1
        index = torch.searchsorted(cdf, target[:, None]).clamp_(max=cdf.size(1) - 1)  # (R', 1)
        return ids.gather(1, index).squeeze(1)


@torch.no_grad()
def sample_search(
    model: Transformer | Ensemble,
    src: Tensor,
    *,
    samples: int = 1,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
    alpha: float = 0.6,
    max_len_a: float = 1.0,
    max_len_b: int = 50,
    min_len: int = 0,
    bos_id: int,
    eos_id: int,
) -> SearchOutput:
    """src (B, S) -> `samples` sampled translations of every sentence: tokens/scores the first sample's, and
    with samples = N > 1 nbest_tokens (B, N, L) / nbest_scores (B, N) all N, in the order drawn (sample j
    is the same whatever N), not sorted by score."""
    B, N = src.size(0), samples
    rows = src.repeat_interleave(N, dim=0) if N > 1 else src  # (R, S): sentence b's samples are rows bN..bN+N-1
    sources = [[t for t in row if t != model.pad_id] for row in src.tolist()]
    seeds = [row_seed(seed, j, sources[b]) for b in range(B) for j in range(N)]
    policy = DynamicBatch(model, rows, rows_per_sentence=1, max_len_a=max_len_a, max_len_b=max_len_b,
                          min_len=min_len, bos_id=bos_id, eos_id=eos_id)
    sampler = Sampler(seeds, max_len=policy.max_len, temperature=temperature, top_k=top_k, top_p=top_p,
                      device=src.device)
    out = greedy_loop(policy, alpha=alpha, eos_id=eos_id, choose=sampler)  # (R, L'), (R,)
    if N == 1:
        return out
    tokens, scores = out.tokens.view(B, N, -1), out.scores.view(B, N)
    first = tokens[:, 0]
    width = int((first != model.pad_id).sum(dim=1).max())
    return SearchOutput(first[:, :width], scores[:, 0], tokens, scores)
