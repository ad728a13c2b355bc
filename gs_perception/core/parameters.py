"""Gaussians as optimisable parameters, shared by the per-scene fit (:mod:`.fit`) and the memory
(:mod:`.memory`): gsplat's parameter names (its strategies need them), one Adam per parameter, and edits that
keep each Adam's moments. Raw parameters: log scales, opacity logits, quaternions wxyz, SH coefficients.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .gaussians import GaussianCloud


def gaussian_parameters(cloud: GaussianCloud, device: torch.device) -> torch.nn.ParameterDict:
    """A cloud as gsplat-named parameters (copies on ``device``): means, scales (log), quats (wxyz),
    opacities (logits), sh0 [N, 1, 3] and, above SH degree 0, shN [N, K - 1, 3]."""
    p = {
        "means": cloud.means,
        "scales": cloud.log_scales,
        "quats": cloud.quats,
        "opacities": cloud.opacity_logits,
        "sh0": cloud.sh[:, :1],
    }
    if cloud.sh.shape[1] > 1:
        p["shN"] = cloud.sh[:, 1:]
    return torch.nn.ParameterDict(
        {k: torch.nn.Parameter(v.detach().clone().to(device)) for k, v in p.items()}
    )


def cloud_from_parameters(params: torch.nn.ParameterDict) -> GaussianCloud:
    """The cloud the parameters describe (sharing their storage: differentiable, not a copy)."""
    sh = params["sh0"] if "shN" not in params else torch.cat([params["sh0"], params["shN"]], dim=1)
    return GaussianCloud(params["means"], params["scales"], params["quats"], params["opacities"], sh)


def per_parameter_adam(
    params: torch.nn.ParameterDict,
    lr_means: float,
    lr_scales: float,
    lr_quats: float,
    lr_opacities: float,
    lr_sh0: float,
) -> dict[str, torch.optim.Optimizer]:
    """One Adam per parameter (what gsplat's strategies expect), each param group named like its parameter;
    higher SH bands learn at ``lr_sh0 / 20``. ``lr_means`` is in world units (scale it by the scene)."""
    lrs = dict(means=lr_means, scales=lr_scales, quats=lr_quats, opacities=lr_opacities)
    lrs.update(sh0=lr_sh0, shN=lr_sh0 / 20.0)
    return {
        k: torch.optim.Adam([{"params": [v], "lr": lrs[k], "name": k}], eps=1e-15) for k, v in params.items()
    }


def edit_parameters(
    params: torch.nn.ParameterDict,
    optimizers: dict[str, torch.optim.Optimizer],
    keep: Tensor | None = None,
    extra: GaussianCloud | None = None,
) -> None:
    """Keep the rows ``keep`` (indices [M] or bool [N]; None: all) of every parameter (gsplat-named, as
    :func:`gaussian_parameters` builds them) and append ``extra``'s Gaussians, in place, carrying each Adam's
    moments along: kept rows keep theirs, new rows start at zero (rebuilding the optimisers instead would
    forget every Gaussian's moments each time a keyframe adds a few)."""
    added = None if extra is None else gaussian_parameters(extra, params["means"].device)
    for name in list(params.keys()):
        old = params[name]
        data = old.detach() if keep is None else old.detach()[keep]
        if added is not None:
            data = torch.cat([data, added[name].detach().to(data)])
        new = torch.nn.Parameter(data.contiguous())
        optimizer = optimizers[name]
        state = optimizer.state.pop(old, None)
        if state:
            for key, value in state.items():
                if key == "step" or not torch.is_tensor(value) or value.shape != old.shape:
                    continue
                value = value if keep is None else value[keep]
                if added is not None:
                    value = torch.cat([value, value.new_zeros((added[name].shape[0],) + value.shape[1:])])
                state[key] = value
            optimizer.state[new] = state
        optimizer.param_groups[0]["params"] = [new]
        params[name] = new
