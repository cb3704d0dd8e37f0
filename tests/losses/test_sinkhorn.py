import math

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sigma_video import sinkhorn_knopp
from sigma_video.losses import sinkhorn as sinkhorn_module
from tests.reference import log_domain_sinkhorn, textbook_sinkhorn


def cosine_scores(n: int, k: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(n, 16, generator=g), dim=1)
    c = torch.nn.functional.normalize(torch.randn(k, 16, generator=g), dim=1)
    return x @ c.T


@pytest.mark.parametrize(
    ("n", "k", "epsilon", "iterations"),
    [
        (7, 3, 0.05, 1),
        (50, 10, 0.05, 10),
        (200, 30, 0.03, 10),
        (64, 64, 0.1, 3),
        (33, 500, 0.05, 25),
    ],
)
def test_matches_float64_textbook(n, k, epsilon, iterations):
    scores = cosine_scores(n, k, seed=n + k)
    codes = sinkhorn_knopp(scores, epsilon, iterations)
    expected = textbook_sinkhorn(scores, epsilon, iterations)
    assert codes.dtype == torch.float32 and codes.shape == (n, k)
    torch.testing.assert_close(codes.double(), expected, rtol=2e-5, atol=1e-7)


def test_marginals():
    n, k = 300, 12
    codes = sinkhorn_knopp(cosine_scores(n, k, seed=1), 0.05, 50)
    torch.testing.assert_close(codes.sum(1), torch.ones(n), rtol=0, atol=1e-5)
    # After enough rounds the prototype marginal is the equipartition N / K.
    torch.testing.assert_close(codes.sum(0), torch.full((k,), n / k), rtol=1e-3, atol=0)


def test_hand_computed_two_by_two():
    # exp(scores/ε) = [[e, 1], [1, 1]] with ε = 1. One round: prototype columns scaled to
    # equal mass, then rows to one. Column sums e+1 and 2 -> Q = [[e/(e+1), 1/2],
    # [1/(e+1), 1/2]]; rows normalised.
    e = math.e
    scores = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    a, b = e / (e + 1), 1 / (e + 1)
    expected = torch.tensor([[a / (a + 0.5), 0.5 / (a + 0.5)], [b / (b + 0.5), 0.5 / (b + 0.5)]])
    torch.testing.assert_close(sinkhorn_knopp(scores, 1.0, 1), expected)


def test_extreme_scores_stay_finite_and_exact():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(100, 20, generator=g) * 5  # exp(|s|/0.03) up to e^500: float32 overflows
    assert not torch.isfinite(torch.exp(scores / 0.03)).all()
    codes = sinkhorn_knopp(scores, 0.03, 10)
    assert torch.isfinite(codes).all()
    torch.testing.assert_close(codes.sum(1), torch.ones(100))
    torch.testing.assert_close(
        codes.double(), log_domain_sinkhorn(scores, 0.03, 10), rtol=1e-4, atol=1e-6
    )
    huge = sinkhorn_knopp(torch.randn(40, 8, generator=g) * 1e4, 0.03, 10)
    assert torch.isfinite(huge).all()
    torch.testing.assert_close(huge.sum(1), torch.ones(40))


@pytest.mark.parametrize(("epsilon", "low"), [(0.02, -1.0), (0.03, -2.14), (0.01, -1.0)])
def test_sharp_problems_stay_exact(epsilon, low):
    """Logit spreads of 87-200: float32 subnormals appear; the result must not degrade."""
    scores = cosine_scores(512, 16, seed=11)
    scores[:, 0] = low  # one prototype far from every row
    codes = sinkhorn_knopp(scores, epsilon, 10)
    expected = log_domain_sinkhorn(scores, epsilon, 10)
    torch.testing.assert_close(codes.double(), expected, rtol=1e-4, atol=1e-6)
    assert torch.equal(codes.argmax(1), expected.argmax(1))


def test_fast_path_for_cosine_scores_and_fallback_only_for_extreme_ones(monkeypatch):
    calls = []
    original = sinkhorn_module._log_domain
    monkeypatch.setattr(sinkhorn_module, "_log_domain", lambda *a: calls.append(1) or original(*a))
    sinkhorn_knopp(cosine_scores(500, 50, seed=4), 0.03, 10)
    assert calls == []
    sinkhorn_knopp(torch.randn(100, 20, generator=torch.Generator().manual_seed(3)) * 5, 0.03, 10)
    assert calls == [1]


def test_log_domain_path_matches_textbook():
    scores = cosine_scores(80, 9, seed=6)
    codes = sinkhorn_module._log_domain(scores / 0.05, 10, False, None)
    torch.testing.assert_close(
        codes.double(), textbook_sinkhorn(scores, 0.05, 10), rtol=2e-5, atol=1e-7
    )


def test_float32_under_autocast_and_low_precision_input():
    scores = cosine_scores(64, 8, seed=5)
    expected = textbook_sinkhorn(scores.bfloat16().float(), 0.05, 10)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        codes = sinkhorn_knopp(scores.bfloat16(), 0.05, 10)
    assert codes.dtype == torch.float32
    torch.testing.assert_close(codes.double(), expected, rtol=2e-5, atol=1e-7)


def test_no_gradient_flows():
    scores = cosine_scores(10, 4, seed=2).requires_grad_()
    assert not sinkhorn_knopp(scores).requires_grad


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scores": torch.zeros(4, 1)}, "K >= 2"),
        ({"scores": torch.zeros(4)}, "2-D"),
        ({"scores": torch.zeros(4, 3), "epsilon": 0.0}, "epsilon"),
        ({"scores": torch.zeros(4, 3), "epsilon": -1.0}, "epsilon"),
        ({"scores": torch.zeros(4, 3), "iterations": 0}, "iterations"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sinkhorn_knopp(**kwargs)


def _rank_main(rank, world, init_file, scores, out_file, eps, split):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        mine = scores[sum(split[:rank]) : sum(split[: rank + 1])]
        codes = sinkhorn_knopp(mine, eps, 10)
        torch.save(codes, f"{out_file}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("split", [(5, 13), (0, 18)])  # uneven shares; a rank with no rows
@pytest.mark.parametrize("extreme", [False, True])  # fast path, log-domain fallback
def test_two_processes_equal_one_process_on_concatenated_rows(tmp_path, extreme, split):
    if extreme:
        scores, eps = torch.randn(18, 6, generator=torch.Generator().manual_seed(3)) * 20, 0.03
        assert not sinkhorn_module._scaled(scores / eps, 10, False, None)[1]  # fast path fails
    else:
        scores, eps = cosine_scores(18, 6, seed=9), 0.05
    out = str(tmp_path / "codes")
    args = (2, str(tmp_path / "init"), scores, out, eps, split)
    mp.spawn(_rank_main, args=args, nprocs=2, join=True)
    gathered = torch.cat([torch.load(f"{out}.{r}", weights_only=True) for r in range(2)])
    single = sinkhorn_knopp(scores, eps, 10)
    torch.testing.assert_close(gathered, single, rtol=1e-5, atol=1e-6)  # float32 sum order
    if split[0]:  # and a local solve differs: the reduction is what makes them equal
        local = sinkhorn_knopp(scores[: split[0]], eps, 10)
        assert not torch.allclose(local, single[: split[0]], atol=1e-4)
