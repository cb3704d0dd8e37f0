"""State dicts from anywhere: the one prefix stripper and the one fit check every loader
uses (pure functions; a leaf module, so model code may use it too)."""

from __future__ import annotations

from torch import Tensor

# added by DDP, torch.compile and some exporters; stripped repeatedly, in any order
PREFIXES = ("module.", "_orig_mod.", "backbone.")


def strip_prefix(key: str) -> str:
    """``key`` without any leading ``module.``/``_orig_mod.``/``backbone.``."""
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def strip_prefixes(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {strip_prefix(k): v for k, v in state.items()}


def fit_problems(expected: dict[str, Tensor], state: dict[str, Tensor], strict: bool) -> str:
    """What keeps ``state`` from loading where ``expected`` (a state dict) is: missing keys,
    shape mismatches and, when ``strict``, unexpected keys; "" when it fits."""
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    parts = [
        f"missing {missing[:4]}" if missing else "",
        f"shapes {wrong[:3]}" if wrong else "",
        f"unexpected {extra[:4]}" if strict and extra else "",
    ]
    return "; ".join(p for p in parts if p)


def check_fit(
    expected: dict[str, Tensor],
    state: dict[str, Tensor],
    source: str,
    what: str,
    strict: bool = False,
    hint: str = "",
) -> None:
    """Raise the one-line ``"{source} does not fit {what}: ..."`` error when it does not."""
    detail = fit_problems(expected, state, strict)
    if detail:
        raise ValueError(f"{source} does not fit {what}: {detail}{hint}")
