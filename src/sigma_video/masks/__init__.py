"""Token masks for masked video modelling: which tubes of a clip the encoder sees and
which the decoder predicts.

- ``token_mask``: ``TokenMask`` (sorted visible / masked indices of a batch), the counts and
  checks every kind shares, ``gather_tokens``.
- one module per kind, each a pure batch or per-clip function and a generator of one
  sample's masks: ``tube`` (the reference), ``random``, ``mgm`` (codec motion vectors),
  ``mgmae`` (optical flow).
- ``builder``: ``MaskConfig``, the registry of kinds and the builder that picks where masks
  are made; ``attach``: the loader's part (with each sample, in the workers); ``device``:
  MGMAE's part on the training device (RAFT flow).
"""
