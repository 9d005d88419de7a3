"""The fast paths compute what the CPU float32 path computes: bf16 autocast (CPU and CUDA), cuda float32,
flash-eligible SDPA, torch.compile and beam search. The CUDA cases are skipped where PyTorch sees no CUDA
device (CI); run them on a GPU node with `python -m pytest tests/model/test_fast_paths.py`."""

import pytest
import torch
from model_helpers import source_batch

from transformer_lab.decoding import beam_search, greedy_search
from transformer_lab.model import build_transformer, padding_mask
from transformer_lab.special_tokens import PAD_ID
from transformer_lab.training.module.loss import label_smoothed_loss

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

VOCAB = 64


@pytest.fixture(autouse=True)
def exact_fp32():
    """cuda float32 means float32 here (no TF32 matrix products), as in the benchmark."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def small_model(seed: int = 0, dropout: float = 0.0):
    torch.manual_seed(seed)
    cfg = dict(vocab_size=VOCAB, n_layers=2, d_model=64, d_ff=128, n_heads=4, dropout=dropout)
    cfg["positional"] = {"name": "sinusoidal", "max_len": 256}
    return build_transformer(cfg)


def words(batch: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(4, VOCAB, (batch, length), generator=g)


def loss_and_grads(model, src, tgt_in, tgt_out, autocast_dtype=None):
    model.zero_grad(set_to_none=True)
    device = src.device.type
    with torch.autocast(device, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
        sums = label_smoothed_loss(model(src, tgt_in), tgt_out, 0.1, PAD_ID)
    loss = sums.smoothed / sums.n_tokens
    loss.backward()
    return loss.detach().float().cpu(), {n: p.grad.detach().float().cpu() for n, p in model.named_parameters()}


def batch(lengths, tgt_len, device):
    src = source_batch(lengths, seed=3)
    src = torch.where(src >= 4, src % (VOCAB - 4) + 4, src)  # words in this test's vocabulary
    tgt = words(len(lengths), tgt_len + 1, seed=4)
    tgt[:, 0] = 1  # bos
    return src.to(device), tgt[:, :-1].to(device), tgt[:, 1:].to(device)


@needs_cuda
def test_cuda_float32_loss_and_gradients_equal_cpu():
    model = small_model()
    cpu_loss, cpu_grads = loss_and_grads(model, *batch([7, 5, 9], 8, "cpu"))
    cuda_loss, cuda_grads = loss_and_grads(model.cuda(), *batch([7, 5, 9], 8, "cuda"))
    torch.testing.assert_close(cuda_loss, cpu_loss, rtol=1e-5, atol=1e-6)
    for name, grad in cpu_grads.items():
        torch.testing.assert_close(cuda_grads[name], grad, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=needs_cuda)])
def test_bf16_autocast_loss_and_gradients_stay_within_bf16_tolerance(device):
    """bf16 keeps 8 significant bits (relative rounding 2^-9 = 2e-3 per operation). With the log-softmax and
    the loss in float32 the loss stays within 5e-4 of float32's (measured 4e-5 on a Zen 4; a log-softmax left
    in bf16 gives 3e-3 and fails), and the gradient vector within 8% relative L2 (measured 2.6%), pointing
    the same way (cosine > 0.995)."""
    model = small_model()
    ref_loss, ref_grads = loss_and_grads(model, *batch([7, 5, 9], 8, "cpu"))
    model.to(device)
    bf16_loss, bf16_grads = loss_and_grads(model, *batch([7, 5, 9], 8, device), autocast_dtype=torch.bfloat16)
    assert abs(float(bf16_loss - ref_loss)) / float(ref_loss) < 5e-4
    flat_ref = torch.cat([g.flatten() for g in ref_grads.values()])
    flat_bf16 = torch.cat([bf16_grads[n].flatten() for n in ref_grads])
    relative = float((flat_bf16 - flat_ref).norm() / flat_ref.norm())
    cosine = float(torch.nn.functional.cosine_similarity(flat_bf16, flat_ref, dim=0))
    assert relative < 8e-2 and cosine > 0.995, f"bf16 vs float32 gradients: relative L2 {relative:.3g}, cosine {cosine:.4f}"


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_unpadded_batch_takes_sdpa_without_a_mask_and_equals_the_masked_call(dtype):
    model = small_model().cuda().eval()
    src, tgt_in, _ = batch([40, 40], 12, "cuda")
    explicit = padding_mask(src, PAD_ID)
    assert bool(explicit.all())
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        unmasked = model(src, tgt_in).float()  # no key mask: flash / memory-efficient SDPA may run
        memory, _ = model.encoder(src, explicit)
        hidden, _, _ = model.decoder(tgt_in, memory, explicit)
        masked = model.generator(hidden).float()
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=3e-2, atol=3e-2)
    torch.testing.assert_close(unmasked, masked, **tol)


@needs_cuda
def test_compiled_forward_equals_eager():
    model = small_model().cuda().eval()
    src, tgt_in, _ = batch([9, 9, 9], 8, "cuda")
    compiled = torch.compile(model, dynamic=False)
    with torch.no_grad():
        torch.testing.assert_close(compiled(src, tgt_in), model(src, tgt_in), rtol=1e-4, atol=1e-4)


@needs_cuda
@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_cuda_float32_search_outputs_equal_cpu(search):
    model = small_model(seed=5).eval()
    with torch.no_grad():
        model.generator.weight.mul_(4.0)  # sharper distributions: real choices, few near-ties
    src = batch([6, 3, 8, 5], 2, "cpu")[0]

    def run(m, s):
        if search == "beam":
            return beam_search(m, s, beam_size=4, max_len_b=10)
        return greedy_search(m, s, max_len_b=10)

    cpu_out = run(model, src)
    cuda_out = run(model.cuda(), src.cuda())
    assert torch.equal(cuda_out.tokens.cpu(), cpu_out.tokens)
    torch.testing.assert_close(cuda_out.scores.cpu(), cpu_out.scores, rtol=1e-4, atol=1e-5)
