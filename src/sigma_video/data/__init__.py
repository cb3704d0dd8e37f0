"""Video data: annotation lists (``annotations``), decoding (``decode``), sampling,
augmentation (``transforms``, ``randaugment``), the training and evaluation datasets
(``dataset``, ``eval_clips``), batching (``collate``) and bad-file accounting (``skips``).
Each name is imported from its module."""
