"""Memory planning for pretraining: what a step keeps per GPU (weights, gradients, AdamW
state, the activations saved for the backward pass) for DDP and FSDP2, with and without
activation checkpointing, and the largest micro-batch that fits (``sigma-video plan``)."""
