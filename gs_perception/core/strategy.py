"""Densification: gsplat 1.5.3's DefaultStrategy, with its opacity-reset bug worked around.

In gsplat 1.5.3 ``step % reset_every == 0 & step > 0`` parses as ``step % reset_every == (0 & step) > 0``,
a chained comparison that is always false, so opacities are never reset (fixed upstream after 1.5.3).
:class:`FixedDefaultStrategy` resets them itself; the reset clamps opacity to ``2 · prune_opa``, which is
idempotent, so it stays right on a gsplat that has the fix. gsplat is imported lazily: its strategy code is
pure torch and runs on CPU, but importing gsplat at module import would break the rule that nothing below
``ros`` pulls it in on a CPU-only machine (see the layer tests).
"""

from __future__ import annotations

from typing import Any


def make_strategy(config: Any, scene_scale: float) -> tuple[Any, dict]:
    """A :class:`FixedDefaultStrategy` from a :class:`~gs_perception.core.fit.FitConfig` and its state.

    Returns:
        (strategy, state) as gsplat's ``strategy.step_*`` methods expect them.
    """
    cls = fixed_default_strategy_class()
    strategy = cls(
        refine_start_iter=config.refine_start,
        refine_stop_iter=config.refine_stop,
        refine_every=config.refine_every,
        reset_every=config.reset_every,
        grow_grad2d=config.grow_grad2d,
        max_gaussians=config.max_gaussians,
        prune_scale3d=config.prune_scale,
    )
    return strategy, strategy.initialize_state(scene_scale=scene_scale)


def fixed_default_strategy_class() -> type:
    """Build the subclass on first use (lazy gsplat import)."""
    global _FIXED
    if _FIXED is not None:
        return _FIXED
    from dataclasses import dataclass

    import torch
    from gsplat.strategy import DefaultStrategy
    from gsplat.strategy.ops import remove, reset_opa

    @dataclass
    class FixedDefaultStrategy(DefaultStrategy):
        """DefaultStrategy whose opacity reset fires at ``step > 0, step % reset_every == 0`` (before
        ``refine_stop_iter``), and whose cloud never exceeds ``max_gaussians``: growth stops at the budget,
        and when one refine step's clones and splits overshoot it, the least opaque Gaussians go."""

        max_gaussians: int = 1_000_000

        def step_post_backward(self, params, optimizers, state, step, info, packed=False):
            n = len(params["means"])
            grow = self.grow_grad2d
            if n >= self.max_gaussians:
                self.grow_grad2d = float("inf")  # over budget: prune only, never clone or split
            try:
                super().step_post_backward(params, optimizers, state, step, info, packed=packed)
            finally:
                self.grow_grad2d = grow
            excess = len(params["means"]) - self.max_gaussians
            if excess > 0:  # a hard budget: time and memory per step stay bounded
                weakest = torch.topk(params["opacities"].detach().flatten(), excess, largest=False).indices
                mask = torch.zeros(len(params["means"]), dtype=torch.bool, device=weakest.device)
                mask[weakest] = True
                remove(params=params, optimizers=optimizers, state=state, mask=mask)
            if 0 < step < self.refine_stop_iter and step % self.reset_every == 0:
                reset_opa(params=params, optimizers=optimizers, state=state, value=self.prune_opa * 2.0)

    _FIXED = FixedDefaultStrategy
    return _FIXED


_FIXED: type | None = None
