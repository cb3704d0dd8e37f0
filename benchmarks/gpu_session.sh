#!/usr/bin/env bash
# Every GPU measurement the issues owe, in one script of under ten minutes: its own timeouts
# add up to 570 s plus the installs, and what it has written under $OUT is kept if it is cut
# short. Not run on a GPU yet.
#
# Prepare on a machine with the network (the GPU machine is expected to have torch, numpy,
# safetensors, scikit-learn, tqdm, tensorboard, pillow and pytest, but no PyAV):
#   mkdir -p wheels && .venv/bin/pip download av --no-deps --only-binary=:all: \
#       --python-version 3.12 --platform manylinux_2_28_x86_64 -d wheels
#   echo /wheels/ >> .git/info/exclude
# Then, on the GPU machine, in the repository with wheels/ beside it:
#   OUT=results bash benchmarks/gpu_session.sh
# Record the results in BENCHMARKS.md with the card's name.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install --quiet --no-deps --no-index wheels/*.whl
python3 -m pip install --quiet --no-deps --no-build-isolation -e . || exit 1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"

# 1. correctness of the fast paths against the plain ones, on the GPU (a few seconds)
timeout 60 python3 -m pytest -q -m gpu tests/test_gpu.py 2>&1 | tail -5 | tee "$OUT/gpu_tests.txt"

# 2. Sinkhorn at 45 056 x 3000 and the ViT-S/B steps (SIGMA-MLP, pixel baseline), batch 32
timeout 100 python3 benchmarks/core.py --device cuda 2>&1 | tee "$OUT/core.jsonl"
timeout 40 python3 benchmarks/dino_precision.py --device cuda --batch-size 32 2>&1 | tail -1 \
    | tee -a "$OUT/core.jsonl"
timeout 50 sigma-video bench step --batch-size 32 model.arch=vit_base model.target.kind=dino \
    --device cuda 2>&1 | tail -1 | tee -a "$OUT/core.jsonl"
timeout 50 sigma-video bench step --batch-size 128 model.arch=vit_base model.grad_checkpointing=true \
    --device cuda 2>&1 | tail -1 | tee -a "$OUT/core.jsonl"
timeout 70 sigma-video bench step --batch-size 32 --compile model.arch=vit_base \
    --device cuda 2>&1 | tail -1 | tee -a "$OUT/core.jsonl"

# 2b. beyond the paper (issue 30): ViT-L and ViT-H SIGMA-MLP steps at bf16 with activation
#     checkpointing; compare peak_memory_gib with `sigma-video plan --gpus 1 --json
#     model.arch=vit_large` (states + 32 × per-clip bytes: the plan needs no GPU)
timeout 40 sigma-video bench step --batch-size 32 --repeats 3 model.arch=vit_large \
    model.grad_checkpointing=true --device cuda 2>&1 | tail -1 | tee -a "$OUT/core.jsonl"
timeout 40 sigma-video bench step --batch-size 32 --repeats 3 model.arch=vit_huge \
    model.grad_checkpointing=true --device cuda 2>&1 | tail -1 | tee -a "$OUT/core.jsonl"
#     decoder masking (mask.decoder_ratio=0.5): the ViT-L step above with half the masked
#     tubes decoded (its FLOPs and step time against the line before last)
timeout 20 sigma-video bench step --batch-size 32 --repeats 3 model.arch=vit_large \
    model.grad_checkpointing=true mask.decoder_ratio=0.5 --device cuda 2>&1 | tail -1 \
    | tee -a "$OUT/core.jsonl"

# 3. the whole pipeline on real decoded video: GPU-busy share per loader worker count
timeout 60 sigma-video bench pipeline --config vit_b_ssv2_mlp --steps 25 --workers 4,8,14 \
    optim.batch_size=32 run.device=cuda 2>&1 | tee "$OUT/pipeline.jsonl"

# 4. decoding in the training step (issue 18, `data.decode_in=step`): the workers only plan,
#    the training process decodes and crops on the GPU — PyAV + GPU crops always, NVDEC when
#    torchcodec loads on the box (it needs FFmpeg's shared libraries there); k400-like files
timeout 40 sigma-video bench data --like k400 --count 3 --clips 32 --workers 4 \
    --num-sample 1,4 --no-baseline --decode-in step --device cuda 2>&1 \
    | tee "$OUT/step_decode.jsonl"
