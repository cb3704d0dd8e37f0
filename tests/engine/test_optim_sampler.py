import torch

from sigma_video import PretrainerConfig, build_pretrainer
from sigma_video.engine.optim import build_optimizer, parameter_groups
from sigma_video.engine.sampler import EpochSampler, epoch_order
from sigma_video.models.config import ObjectiveSettings


def test_no_decay_for_biases_norms_tables_and_mask_token():
    model = build_pretrainer(
        PretrainerConfig(arch="vit_tiny", objective=ObjectiveSettings(num_prototypes=8))
    )
    decay, no_decay = parameter_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    kept = {names[id(p)] for p in no_decay["params"]}
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert "decoder.mask_token" in kept and "encoder.blocks.0.attn.q_bias" in kept
    assert "encoder.norm.weight" in kept and "encoder.blocks.0.mlp.fc1.bias" in kept
    assert (
        "encoder.blocks.0.attn.qkv.weight" in decayed and "objective.prototypes.weight" in decayed
    )
    assert len(decayed) + len(kept) == sum(1 for _ in model.parameters())
    optimizer = build_optimizer(model, 1e-3, 0.05, (0.9, 0.95))
    assert optimizer.defaults["betas"] == (0.9, 0.95)


def test_ranks_together_see_the_single_process_batches():
    single = list(EpochSampler(20, batch_size=4, seed=1, epoch=2))
    ranks = [
        list(EpochSampler(20, batch_size=2, seed=1, epoch=2, rank=r, world_size=2)) for r in (0, 1)
    ]
    for b in range(5):
        together = ranks[0][2 * b : 2 * b + 2] + ranks[1][2 * b : 2 * b + 2]
        assert together == single[4 * b : 4 * b + 4]
    assert {e for _, e in single} == {2}


def test_resume_skips_batches_and_epochs_differ():
    full = list(EpochSampler(20, 4, seed=0, epoch=0))
    assert list(EpochSampler(20, 4, seed=0, epoch=0, start_batch=3)) == full[12:]
    assert len(EpochSampler(22, 4, seed=0, epoch=0, max_batches=4)) == 16
    assert epoch_order(20, 0, 0) != epoch_order(20, 0, 1)
    assert sorted(epoch_order(20, 0, 1)) == list(range(20))
    assert torch.equal(torch.tensor(epoch_order(9, 3, 4)), torch.tensor(epoch_order(9, 3, 4)))


def test_run_sampler_chains_epochs_and_resumes():
    from sigma_video.engine.sampler import RunSampler

    epochs = [list(EpochSampler(20, 4, seed=0, epoch=e, max_batches=4)) for e in range(3)]
    whole = list(RunSampler(20, 4, seed=0, batches_per_epoch=4, epochs=3))
    assert whole == epochs[0] + epochs[1] + epochs[2] and len(RunSampler(20, 4, 0, 4, 3)) == 48
    resumed = list(RunSampler(20, 4, seed=0, batches_per_epoch=4, epochs=3, start=6))
    assert resumed == whole[6 * 4 :]
