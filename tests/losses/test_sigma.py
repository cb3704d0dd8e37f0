import math

import pytest
import torch
import torch.nn.functional as F

from sigma_video.losses import (
    cross_entropy,
    l2_loss,
    prototype_scores,
    prototype_usage,
    sigma_loss,
    sinkhorn_knopp,
)
from tests.reference import textbook_sinkhorn


def tiny_problem(seed: int = 0, m: int = 12, d: int = 5, k: int = 4):
    g = torch.Generator().manual_seed(seed)
    x_psi = torch.randn(m, d, generator=g, dtype=torch.float64)
    x_phi = torch.randn(m, d, generator=g, dtype=torch.float64)
    protos = F.normalize(torch.randn(k, d, generator=g, dtype=torch.float64), dim=1)
    return x_psi, x_phi, protos


def manual_terms(x_psi, x_phi, protos, tau, eps, iters, hard):
    """Eq. 5-7 written out in float64 with explicit stop-gradients."""

    def scores(x, c):
        return (x / x.norm(dim=1, keepdim=True)) @ c.T

    s_phi = scores(x_phi, protos)
    s_psi = scores(x_psi, protos.detach())
    q_phi = textbook_sinkhorn(s_phi.detach(), eps, iters)
    q_psi = textbook_sinkhorn(s_psi.detach(), eps, iters)
    if hard:
        q_phi = F.one_hot(q_phi.argmax(1), protos.shape[0]).double()
        q_psi = F.one_hot(q_psi.argmax(1), protos.shape[0]).double()

    def ce(s, q):
        logits = s / tau
        log_p = logits - torch.log(torch.exp(logits).sum(1, keepdim=True))
        return -(q * log_p).sum(1).mean()

    return ce(s_phi, q_psi), ce(s_psi, q_phi)


@pytest.mark.parametrize("targets", ["hard", "soft"])
def test_sigma_loss_value_and_gradients_match_float64_manual(targets):
    x_psi, x_phi, protos = tiny_problem()
    leaves = [t.clone().float().requires_grad_() for t in (x_psi, x_phi, protos)]
    out = sigma_loss(*leaves, temperature=0.1, epsilon=0.05, iterations=10, codes=targets)
    out.loss.backward()

    ref = [t.clone().requires_grad_() for t in (x_psi, x_phi, protos)]
    term_phi, term_psi = manual_terms(*ref, tau=0.1, eps=0.05, iters=10, hard=targets == "hard")
    (term_phi + term_psi).backward()

    torch.testing.assert_close(out.loss.double(), term_phi + term_psi, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.loss_phi.double(), term_phi.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.loss_psi.double(), term_psi.detach(), rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(leaves, ref, strict=True):
        torch.testing.assert_close(ours.grad.double(), theirs.grad, rtol=1e-4, atol=1e-6)


def test_gradient_routing_between_terms():
    """Codes carry no gradient; the prototypes learn only from the φ-prediction term."""
    x_psi, x_phi, protos = (t.float().requires_grad_() for t in tiny_problem(seed=3))
    out = sigma_loss(x_psi, x_phi, protos)
    g_psi, g_phi, g_protos = torch.autograd.grad(out.loss, [x_psi, x_phi, protos])

    # CE(x̃Ψ, qφ) alone must give all of x_psi's gradient, CE(x̃φ, qΨ) alone all of x_phi's
    # and the prototypes': i.e. the codes are constants and C is detached in the Ψ term.
    s_phi = prototype_scores(x_phi, protos)
    s_psi = prototype_scores(x_psi, protos)
    label_phi = sinkhorn_knopp(s_phi).argmax(1)
    label_psi = sinkhorn_knopp(s_psi).argmax(1)
    only_phi = cross_entropy(s_phi, label_psi, 0.1)
    only_psi = cross_entropy(s_psi, label_phi, 0.1)
    torch.testing.assert_close(g_phi, torch.autograd.grad(only_phi, x_phi, retain_graph=True)[0])
    torch.testing.assert_close(g_protos, torch.autograd.grad(only_phi, protos)[0])
    torch.testing.assert_close(g_psi, torch.autograd.grad(only_psi, x_psi, retain_graph=True)[0])
    # and the Ψ term, left alone, would have moved the prototypes: the detach matters
    assert torch.autograd.grad(only_psi, protos, allow_unused=True)[0].abs().sum() > 0


def test_cross_entropy_hand_case():
    scores = torch.tensor([[0.1, 0.0], [0.0, 0.2]])
    # logits /0.1 = [[1, 0], [0, 2]]; labels [0, 1]
    expected = 0.5 * (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-2)))
    assert cross_entropy(scores, torch.tensor([0, 1]), 0.1).item() == pytest.approx(expected)
    soft = torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    p0 = torch.log_softmax(torch.tensor([1.0, 0.0]), 0)
    expected_soft = 0.5 * (-(0.5 * p0[0] + 0.5 * p0[1]) + math.log(1 + math.exp(-2)))
    assert cross_entropy(scores, soft, 0.1).item() == pytest.approx(expected_soft.item())


def test_prototype_usage_hand_case():
    entropy, used = prototype_usage(torch.tensor([0, 0, 1, 1]), 4)
    assert entropy.item() == pytest.approx(math.log(2)) and used.item() == 2
    entropy, used = prototype_usage(torch.tensor([3, 3, 3]), 4)
    assert entropy.item() == pytest.approx(0.0) and used.item() == 1
    entropy, _ = prototype_usage(torch.arange(8), 8)
    assert entropy.item() == pytest.approx(math.log(8))


def test_usage_diagnostics_detect_exact_collapse():
    _, _, protos = tiny_problem()
    same = torch.ones(12, 5)
    out = sigma_loss(same, same, protos.float())
    # identical rows: φ's raw scores send every tube to one prototype ...
    assert out.score_usage_entropy.item() == pytest.approx(0.0)
    # ... while the equipartition makes each row's codes uniform, so the code labels are a
    # float tie-break (SIMD summation order) and cannot show an exact collapse
    codes = sinkhorn_knopp(prototype_scores(same, protos.float()), 0.05, 10)
    torch.testing.assert_close(codes, torch.full_like(codes, 1 / 4), rtol=1e-5, atol=0)
    x_psi, x_phi, protos = tiny_problem(m=400, k=8)
    out = sigma_loss(x_psi.float(), x_phi.float(), protos.float())
    assert out.prototypes_in_use.item() == 8
    assert out.usage_entropy.item() > 0.95 * math.log(8)


def test_l2_loss_hand_case():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    target = torch.tensor([[0.0, 2.0], [3.0, 6.0]], requires_grad=True)
    loss = l2_loss(pred, target)
    assert loss.item() == pytest.approx((1 + 0 + 0 + 4) / 4)
    loss.backward()
    assert torch.equal(pred.grad, -target.grad)  # both branches are trained (Eq. 2 ablation)


def test_bad_arguments():
    x_psi, x_phi, protos = (t.float() for t in tiny_problem())
    with pytest.raises(ValueError, match="codes"):
        sigma_loss(x_psi, x_phi, protos, codes="fuzzy")
    with pytest.raises(ValueError, match="temperature"):
        sigma_loss(x_psi, x_phi, protos, temperature=0.0)
    with pytest.raises(ValueError, match="same shape"):
        sigma_loss(x_psi, x_phi[:3], protos)
    with pytest.raises(ValueError, match="prototypes"):
        sigma_loss(x_psi, x_phi, protos[:, :2])
    with pytest.raises(ValueError, match="epsilon"):
        sigma_loss(x_psi, x_phi, protos, epsilon=0.0)
    with pytest.raises(ValueError, match="no masked tubes"):
        sigma_loss(x_psi[:0], x_phi[:0], protos)
    with pytest.raises(ValueError, match="differ"):
        l2_loss(x_psi, x_phi[:2])
