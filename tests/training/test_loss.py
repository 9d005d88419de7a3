import math

import pytest
import torch

from transformer_lab.training.module.loss import label_smoothed_loss

PAD = 0


def test_label_smoothing_matches_hand_computation():
    # One sentence, V = 3, two real targets and one pad.
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.5, 0.5, 1.0], [9.0, 9.0, 9.0]]])  # (1, 3, 3)
    target = torch.tensor([[1, 2, PAD]])
    eps, V = 0.1, 3
    expected_smoothed = expected_nll = 0.0
    for t, gold in enumerate([1, 2]):
        z = logits[0, t].tolist()
        log_norm = math.log(sum(math.exp(v) for v in z))
        logp = [v - log_norm for v in z]
        # q = (1 - eps) * onehot(gold) + eps / V
        expected_smoothed += -sum(((1 - eps) * (k == gold) + eps / V) * logp[k] for k in range(V))
        expected_nll += -logp[gold]
    sums = label_smoothed_loss(logits, target, epsilon=eps, pad_id=PAD)
    assert sums.smoothed.item() == pytest.approx(expected_smoothed, rel=1e-6)
    assert sums.nll.item() == pytest.approx(expected_nll, rel=1e-6)
    assert sums.n_tokens.item() == 2


def test_padding_contributes_nothing():
    logits = torch.randn(2, 4, 7)
    target = torch.tensor([[3, 4, PAD, PAD], [5, 6, 1, PAD]])
    base = label_smoothed_loss(logits, target, 0.1, PAD)
    changed = logits.clone()
    changed[0, 2:] = 100.0 * torch.randn(2, 7)  # logits at pad positions
    assert label_smoothed_loss(changed, target, 0.1, PAD).smoothed.item() == pytest.approx(base.smoothed.item())


def test_zero_smoothing_is_plain_nll():
    logits = torch.randn(3, 5, 11)
    target = torch.randint(1, 11, (3, 5))
    sums = label_smoothed_loss(logits, target, 0.0, PAD)
    assert sums.smoothed.item() == pytest.approx(sums.nll.item())


def test_invalid_epsilon_names_the_key():
    with pytest.raises(ValueError, match="label_smoothing"):
        label_smoothed_loss(torch.randn(1, 1, 3), torch.tensor([[1]]), 1.0, PAD)


def test_equals_pytorch_cross_entropy_with_label_smoothing():
    import torch.nn.functional as F

    logits, target = torch.randn(4, 7, 13), torch.randint(0, 13, (4, 7))
    target[0, 5:] = PAD
    sums = label_smoothed_loss(logits, target, 0.1, PAD)
    reference = F.cross_entropy(logits.reshape(-1, 13), target.reshape(-1), ignore_index=PAD,
                                label_smoothing=0.1, reduction="sum")
    assert sums.smoothed.item() == pytest.approx(reference.item(), rel=1e-5)
