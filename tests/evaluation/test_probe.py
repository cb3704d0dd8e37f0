import pytest
import torch

from sigma_video.evaluation import linear_probe, topk_accuracy
from sigma_video.evaluation.probe import fit_linear


def test_topk_hand_case():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.05, 0.15], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 2, 0])
    assert topk_accuracy(logits, labels, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(logits, labels, 2) == pytest.approx(2 / 3)  # row 3's label ranks 3rd
    assert topk_accuracy(logits, labels, 5) == 1.0
    with pytest.raises(ValueError, match="no samples"):
        topk_accuracy(logits[:0], labels[:0])


def test_probe_separates_separable_classes_and_not_noise():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(300) % 5
    x = torch.nn.functional.one_hot(y, 5).float() * 3 + torch.randn(300, 5, generator=g)
    result = linear_probe(x[:200], y[:200], x[200:], y[200:])
    assert result["top1"] > 0.9 and result["num_train"] == 200 and result["num_val"] == 100
    noise = torch.randn(300, 5, generator=g)
    assert linear_probe(noise[:200], y[:200], noise[200:], y[200:])["top1"] < 0.4
    with pytest.raises(ValueError, match="labelled"):
        linear_probe(x[:10], -torch.ones(10, dtype=torch.long), x[:10], y[:10])


def test_fit_linear_matches_scikit_learn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(1)
    y = torch.arange(60) % 3
    x = torch.randn(60, 4, generator=g, dtype=torch.float64) + y[:, None].double()
    wd = 0.05
    weight, bias = fit_linear(x, y, 3, weight_decay=wd)
    # sklearn minimises ½‖W‖² + C·Σ CE, the same objective with C = 1 / (N · wd)
    ref = LogisticRegression(C=1 / (60 * wd), tol=1e-10, max_iter=10_000).fit(x.numpy(), y)
    ours = torch.softmax(x @ weight.T + bias, 1)
    torch.testing.assert_close(
        ours, torch.from_numpy(ref.predict_proba(x.numpy())), atol=1e-4, rtol=0
    )
    # the softmax is shift-invariant per column: compare the centred weights
    centred = weight - weight.mean(0)
    torch.testing.assert_close(centred, torch.from_numpy(ref.coef_), atol=1e-4, rtol=0)


def test_probe_weights_do_not_depend_on_the_thread_count():
    # L-BFGS stops after max_iter iterations, short of the optimum on correlated features;
    # in float32 the rounding of 1 vs 2 threads moved these weights by 1e-2 (relative; 7e-2
    # on the demo's random-init features, 2 points of probe), in float64 not at all
    g = torch.Generator().manual_seed(0)
    y = torch.arange(960) % 6
    z = torch.randn(960, 16, generator=g) + 0.5 * torch.randn(6, 16, generator=g)[y]
    x = z @ torch.randn(16, 192, generator=g) + 0.01 * torch.randn(960, 192, generator=g)
    x = (x - x.mean(0)) / x.std(0)  # float32, as extracted features are
    threads = torch.get_num_threads()
    try:
        fits = []
        for count in (1, 2):
            torch.set_num_threads(count)
            fits.append(fit_linear(x, y, 6))
    finally:
        torch.set_num_threads(threads)
    for one, two in zip(*fits, strict=True):
        assert one.dtype == torch.float64
        torch.testing.assert_close(one, two, rtol=0, atol=1e-9 * one.abs().max().item())


def test_knn_hand_case():
    from sigma_video.evaluation.knn import knn_scores

    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    query = torch.tensor([[1.0, 0.05]])
    scores = knn_scores(bank, labels, query, k=2, temperature=0.1)
    sims = (
        torch.nn.functional.normalize(bank, dim=1) @ torch.nn.functional.normalize(query, dim=1).T
    )
    expected0 = torch.exp(sims[0] / 0.1) + torch.exp(sims[1] / 0.1)
    torch.testing.assert_close(scores[0, 0], expected0[0])
    assert scores[0, 1] == 0  # the class-1 item is not among the 2 nearest
    far = knn_scores(bank, labels, torch.tensor([[0.0, 1.0]]), k=1)
    assert far.argmax().item() == 1
    with pytest.raises(ValueError, match="empty"):
        knn_scores(bank[:0], labels[:0], query)


def test_demo_report_compares_the_run_with_its_initialisation(synth_root, tmp_path):
    import json

    from sigma_video.evaluation.report import probe_report
    from sigma_video.pretraining.trainer import pretrain
    from tests.pretraining.test_trainer import tiny

    run = tmp_path / "run"
    pretrain(tiny(synth_root, run, "optim.max_steps=4", "optim.warmup_epochs=0"), log=print)
    saved = json.loads((run / "config.json").read_text())
    saved["data"]["train"] = None  # as if it had trained on the embedded dataset (synth_root)
    (run / "config.json").write_text(json.dumps(saved))
    lines = []
    results = probe_report(run, log=lines.append, root=synth_root, max_sequences=2)
    assert set(results) == {"SIGMA (this run)", "random init"}
    assert {"probe_motion", "knn20_appearance", "vos_clustering"} <= set(results["random init"])
    assert results["SIGMA (this run)"] != results["random init"]
    initial = results["random init"]
    assert 1 < initial["vos_clustering"] <= 100  # percent, as the commands print scores
    shown = f"{initial['probe_motion']:>7.1f}% {initial['probe_appearance']:>10.1f}%"
    assert any(line.startswith("random init") and shown in line for line in lines)
    assert any("VOS mIoU" in line for line in lines)
    assert any(line.startswith("chance") for line in lines)
    assert any(line.startswith("Reading: ") for line in lines)
    assert lines[-1].startswith("report: ")  # where the table is kept
    saved_table = (run / "report.md").read_text()
    assert "SIGMA (this run)" in saved_table and "Reading: " in saved_table
    kept = json.loads((run / "report.json").read_text())
    assert kept["results"] == results and kept["classes"] == {"motion": 6, "appearance": 6}


def test_feature_cache_hit_builds_no_model(synth_root, tmp_path, monkeypatch):
    from sigma_video.evaluation import cache

    args = ("random:demo", str(synth_root / "val.csv"), str(synth_root))
    first = cache.features_for(*args, cache_dir=tmp_path)

    def refuse(*_, **__):
        raise AssertionError("a cache hit must not load the encoder")

    monkeypatch.setattr(cache, "load_model", refuse)
    again = cache.features_for(*args, cache_dir=tmp_path)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    with pytest.raises(AssertionError, match="cache hit"):  # other options: a miss
        cache.features_for(*args, num_crops=3, cache_dir=tmp_path)
