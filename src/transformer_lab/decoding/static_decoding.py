"""One decoder step over fixed shapes, replayed as a CUDA graph (eager on CPU), for `cuda_graphs=True`.

Shapes: B sentences, G rows per sentence (beams), R = B*G decoder rows, S source capacity, C target
capacity, V vocabulary.

Why: at beam-search batch sizes a decoder step on a GPU is bound by kernel launches, not arithmetic -- each
step launches a few hundred small kernels from Python (per layer: self-attention, cross-attention, FFN,
LayerNorms; then the output projection and log-softmax). A CUDA graph records those launches once and
replays them with one call. A graph replays fixed shapes and fixed memory addresses, so the step runs on a
StaticDecoderCache (static_cache.py): the inputs are copied into fixed buffers (token ids (R, 1), the parent
row of every beam (R,)), the position lives on the device, and the output is a fixed (R, V) float32 buffer.

One step = reorder the cache rows by the parents (beam search only), decode the tokens at `position`,
advance the position, log-softmax in float32 -- the same arithmetic as DynamicBatch.next_logp
(dynamic_batch.py), except that self-attention reads a fixed number of key slots under a mask (masked slots
weigh exactly 0).
A graph fixes the slots a step works on, so there is one graph per `extent` -- the first TIER, 2*TIER,
4*TIER, ... slots (doubling: at most twice the slots needed, and few graphs to capture), then all C; step s
uses the smallest extent above s -- and, for beam search, which alternates between two cache buffer sets
(static_cache.py), per step parity. The early steps of a long capacity (a * S + b with b = 50 leaves most
of it unused) then attend and reorder a short prefix. The graphs of one decoder share a
memory pool and write one output buffer: they never run concurrently, and nothing they allocate outlives
their capture, so any replay order is safe.

Capture happens on first use of a shape: a few eager warm-up steps on a side stream (cuBLAS workspaces,
kernel selection), then `torch.cuda.graph`. Decoders are kept per model and shape (`static_decoder`), so
repeated batches of one shape replay the same graph. Shapes are bucketed to bound the number of captures:
the source and target capacities are rounded up to a multiple of `BUCKET` (extra slots are masked, which
costs a little attention arithmetic and nothing else); the batch is not padded, since every extra row
would cost a full row of decoding. Autocast is part of the key: a step captured in bf16 replays bf16.
"""

from __future__ import annotations

import contextlib
import weakref
from collections import OrderedDict

import torch
from torch import Tensor, nn

from transformer_lab.decoding.static_cache import StaticDecoderCache, static_cache_bytes
from transformer_lab.model.transformer import Transformer

BUCKET = 8  # source and target capacities are rounded up to a multiple of this
TIER = 16  # the smallest step extent (slots a step works on); extents double from it up to the capacity
MAX_DECODERS_PER_MODEL = 8  # least recently used decoders (their graphs and buffers) are dropped beyond this
# ... and beyond this fraction of the GPU's memory in key/value buffers, so that a validation pass over many
# batch shapes cannot take the memory training needs (the base model at 1,024 rows holds ~5.6 GB in fp32)
MAX_MEMORY_FRACTION = 0.25
WARMUP_STEPS = 2


def step_dtype(model: Transformer, device: torch.device) -> torch.dtype:
    """The dtype the decoder's keys/values come out in: autocast's when it is on, else the weights'."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return model.generator.weight.dtype


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def step_extents(capacity: int) -> list[int]:
    """The slot counts steps work on: TIER, 2*TIER, 4*TIER, ... below the capacity, then the capacity."""
    extents = []
    while (extents[-1] * 2 if extents else TIER) < capacity:
        extents.append(extents[-1] * 2 if extents else TIER)
    return extents + [capacity]


class DecodeStep(nn.Module):
    """`model.decode` as a module's forward, for torch.func.functional_call (which calls forward)."""

    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, memory_mask: Tensor, cache: StaticDecoderCache) -> Tensor:
        # memory None: cross-attention reads its keys/values from the cache (loaded by StaticDecoder.start)
        return self.model.decode(tokens, None, memory_mask, cache)  # (R, 1, V)


_WARMUP_STREAMS: dict[torch.device, torch.cuda.Stream] = {}


def warmup_stream(device: torch.device) -> torch.cuda.Stream:
    """The side stream every decoder on `device` warms up on before capture (PyTorch's CUDA-graph recipe).

    One per device, not one per decoder: cuBLAS keeps a workspace (~32 MiB on Hopper) for every stream it has
    run on, for the life of the process, so a new stream per decoder grew GPU memory by a workspace each time
    decoders were made again (every validation) -- measured on an H200 before this was shared.
    """
    device = torch.device("cuda", torch.cuda.current_device()) if device.index is None else device
    if device not in _WARMUP_STREAMS:
        _WARMUP_STREAMS[device] = torch.cuda.Stream(device)
    return _WARMUP_STREAMS[device]


class StaticDecoder:
    """The decoder step of `model` for B sentences x G rows, sources up to S tokens and outputs up to C.

    `start(memory, src_mask)` loads a batch; `step(tokens, parents)` decodes one position and returns the
    next token's float32 log-probabilities (R, V) -- a buffer the next step overwrites. With `capture`
    (CUDA only) every variant of the step (extent x parity) is captured once, here, and `step` replays one.
    """

    def __init__(self, model: Transformer, *, sentences: int, rows_per_sentence: int, src_capacity: int,
                 capacity: int, device: torch.device, capture: bool) -> None:
        if capture and device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, got {device}")
        self._model = weakref.ref(model)  # the model's decoder cache must not keep the model alive
        self.device = device
        self.dtype, self.autocast = step_dtype(model, device), torch.is_autocast_enabled(device.type)
        self.cache = StaticDecoderCache(model, sentences=sentences, rows_per_sentence=rows_per_sentence,
                                        src_capacity=src_capacity, capacity=capacity, dtype=self.dtype, device=device)
        rows = self.cache.rows
        self.reorders = rows_per_sentence > 1
        self.tokens = torch.zeros(rows, 1, dtype=torch.long, device=device)  # (R, 1) this step's input ids
        self.identity = torch.arange(rows, device=device)  # (R,)
        self.parents = self.identity.clone()  # (R,) parent row of every row (beam search)
        self.parities = 2 if self.reorders else 1  # buffer sets: step s uses number s % parities
        self.extents = step_extents(capacity)
        self.extent_index = [next(i for i, e in enumerate(self.extents) if s < e) for s in range(capacity)]
        vocab = model.generator.out_features
        self.logp = torch.zeros(rows, vocab, dtype=torch.float32, device=device)  # (R, V) every step's output
        self.graphs: dict[tuple[int, int], torch.cuda.CUDAGraph] = {}  # (extent index, parity) -> graph
        self.steps = 0  # steps since `start`
        # Autocast casts the weights of every matrix product to its dtype at every use, so a graph would replay
        # those casts each step (about a quarter of the base model's kernels). Copies already in that dtype,
        # refreshed per batch, take their place in the step: the same values (autocast's cast is a plain
        # rounding), and autocast leaves a weight of its own dtype as it is.
        self.cast_weights: dict[str, Tensor] = {}  # DecodeStep parameter name -> copy in self.dtype
        if self.autocast and self.dtype != model.generator.weight.dtype:
            layers = model.decoder.layers.named_modules(prefix="decoder.layers")
            linears = [(name, m) for name, m in layers if isinstance(m, nn.Linear) and not name.endswith(".kv")]
            for name, linear in [*linears, ("generator", model.generator)]:  # cross_attn.kv: used in `start`
                for kind, p in linear.named_parameters(recurse=False):  # weight, bias
                    self.cast_weights[f"model.{name}.{kind}"] = p.new_empty(p.shape, dtype=self.dtype)
            self._refresh_cast_weights()
        if capture:
            self._capture()

    @property
    def nbytes(self) -> int:
        """Bytes of its key/value buffers (what `static_decoder`'s memory budget counts)."""
        return self.cache.nbytes

    @property
    def model(self) -> Transformer:
        model = self._model()
        if model is None:
            raise RuntimeError("the model of this static decoder no longer exists")
        return model

    def _autocast(self) -> contextlib.AbstractContextManager:
        # cache_enabled=False: autocast's cache of cast weights must not hold tensors of the graph's pool
        if not self.autocast:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype, cache_enabled=False)

    def _step(self, parity: int, extent: int) -> Tensor:
        """What a step with this parity and extent does, eagerly or while being captured:
        -> `logp` (R, V), float32 log-probabilities."""
        self.cache.select(parity, extent)
        if self.reorders:
            self.cache.reorder_(self.parents)
        inputs = (self.tokens, self.cache.memory_mask, self.cache)
        if self.cast_weights:  # tie_weights=False: the embedding keeps its own (float32) table
            logits = torch.func.functional_call(DecodeStep(self.model), self.cast_weights, inputs, tie_weights=False)
        else:
            logits = DecodeStep(self.model)(*inputs)
        logits = logits[:, -1]  # (R, V)
        self.cache.advance_()
        return self.logp.copy_(torch.log_softmax(logits, dim=-1, dtype=torch.float32))

    def _variants(self) -> list[tuple[int, int]]:
        return [(index, parity) for index in range(len(self.extents)) for parity in range(self.parities)]

    @torch.no_grad()
    def _capture(self) -> None:
        with torch.cuda.device(self.device):  # capture records the current device's stream
            self._capture_on_device()

    def _capture_on_device(self) -> None:
        side = warmup_stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), self._autocast():
            for _ in range(WARMUP_STEPS):  # lazy initialization and kernel choice stay out of the graph
                for index, parity in self._variants():
                    self._step(parity, self.extents[index])
                    self.cache.position.zero_()  # capacity may be 1: never step past it
        torch.cuda.current_stream(self.device).wait_stream(side)
        pool = torch.cuda.graph_pool_handle()
        for index, parity in self._variants():
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool), self._autocast():
                self._step(parity, self.extents[index])
            self.graphs[index, parity] = graph

    @torch.no_grad()
    def _refresh_cast_weights(self) -> None:
        for name, copy in self.cast_weights.items():
            copy.copy_(self.model.get_parameter(name.removeprefix("model.")))

    @torch.no_grad()
    def start(self, memory: Tensor, src_mask: Tensor) -> None:
        """A new batch: memory (B, S', D) and its source mask (B, 1, 1, S'), S' <= S; position 0, no reorder."""
        with self._autocast():
            self.cache.load_memory(self.model, memory, src_mask)
        self._refresh_cast_weights()  # the model's weights may have changed since (training)
        self.parents.copy_(self.identity)
        self.steps = 0

    @torch.no_grad()
    def step(self, tokens: Tensor, parents: Tensor | None = None) -> Tensor:
        """tokens (R, 1) ids at the current position, parents (R,) the row each row continues (None: the
        same row) -> `logp` (R, V), float32 log-probabilities of the next token, valid until the next step.
        The position moves on by one."""
        if self.steps >= self.cache.capacity:
            raise RuntimeError(f"static decoder stepped past its capacity of {self.cache.capacity} positions")
        self.tokens.copy_(tokens)
        if self.reorders:  # one row per sentence: its parent can only be itself
            self.parents.copy_(self.identity if parents is None else parents)
        index, parity = self.extent_index[self.steps], self.steps % self.parities
        self.steps += 1
        if self.graphs:
            self.graphs[index, parity].replay()
            return self.logp
        with self._autocast():
            return self._step(parity, self.extents[index])


_DECODERS: weakref.WeakKeyDictionary[Transformer, OrderedDict[tuple, StaticDecoder]] = weakref.WeakKeyDictionary()


def default_memory_budget(device: torch.device) -> int | None:
    """Bytes of key/value buffers the kept decoders of one model may hold on `device` (None: no bound, CPU)."""
    if device.type != "cuda":
        return None
    return int(MAX_MEMORY_FRACTION * torch.cuda.get_device_properties(device).total_memory)


def static_decoder(model: Transformer, *, sentences: int, rows_per_sentence: int, src_len: int, max_len: int,
                   device: torch.device, capture: bool, memory_budget: int | None = -1) -> StaticDecoder:
    """A StaticDecoder for this model and shape (capacities rounded up to BUCKET), reused across calls.

    Reuse is keyed by everything a captured graph bakes in: the shapes, the device, the autocast setting
    and dtype, and the addresses of the model's parameters and buffers (a model moved or reloaded gets new
    ones). The model must be in eval mode: a graph replays its dropout masks.
    At most MAX_DECODERS_PER_MODEL decoders are kept per model, and their key/value buffers together stay
    within `memory_budget` bytes (-1: `default_memory_budget`, a quarter of the GPU; None: no bound): the
    least recently used go first. A decoder larger than the budget on its own is still made, and kept alone.
    """
    if model.training:
        raise ValueError("static decoding needs model.eval(): a captured step would replay fixed dropout masks")
    table = model.decoder.positional.table_length
    capacity = round_up(max_len, BUCKET)
    if table is not None:
        capacity = min(capacity, max(table, max_len))  # never past the table (unless max_len is: that fails)
    src_capacity, dtype = round_up(src_len, BUCKET), step_dtype(model, device)
    key = (
        sentences, rows_per_sentence, src_capacity, capacity, str(device), capture,
        torch.is_autocast_enabled(device.type), dtype,
        tuple(t.data_ptr() for t in (*model.parameters(), *model.buffers())),
    )
    decoders = _DECODERS.setdefault(model, OrderedDict())
    if key in decoders:
        decoders.move_to_end(key)
        return decoders[key]
    budget = default_memory_budget(device) if memory_budget == -1 else memory_budget
    needed = static_cache_bytes(model, sentences=sentences, rows_per_sentence=rows_per_sentence,
                                src_capacity=src_capacity, capacity=capacity, dtype=dtype)
    while decoders and (len(decoders) >= MAX_DECODERS_PER_MODEL
                        or (budget is not None and needed + sum(d.nbytes for d in decoders.values()) > budget)):
        decoders.popitem(last=False)
    # normal tensors, not inference tensors: a decoder made under torch.inference_mode (Lightning's test
    # loop) is reused under no_grad, and in-place updates of inference tensors are refused outside it
    with torch.inference_mode(False):
        decoder = StaticDecoder(model, sentences=sentences, rows_per_sentence=rows_per_sentence,
                                src_capacity=src_capacity, capacity=capacity, device=device, capture=capture)
    decoders[key] = decoder
    return decoder


def release_static_decoders(model: Transformer) -> int:
    """Drop the model's static decoders (their CUDA graphs and buffers); returns how many there were."""
    return len(_DECODERS.pop(model, {}))
