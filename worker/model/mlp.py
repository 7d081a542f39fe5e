"""The MLP tower: ReLU hidden layers and a logit layer, forward and backward over ``xp``.

Parameters are a flat dict of named arrays (``mlp/hidden_<i>/kernel`` (in, out),
``mlp/hidden_<i>/bias`` (out,), ``mlp/logit/kernel`` (in, 1), ``mlp/logit/bias`` (1,)),
because each is one named dense variable on the PS.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from itertools import pairwise
from types import ModuleType
from typing import Any

import numpy as np


def layer_names(num_hidden: int) -> list[str]:
    return [f"mlp/hidden_{i}" for i in range(num_hidden)] + ["mlp/logit"]


def mlp_param_shapes(input_width: int, hidden_units: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every MLP parameter, layers in order."""
    shapes: dict[str, tuple[int, ...]] = {}
    widths = [input_width, *hidden_units, 1]
    layers = zip(layer_names(len(hidden_units)), pairwise(widths), strict=True)
    for name, (fan_in, fan_out) in layers:
        shapes[f"{name}/kernel"] = (fan_in, fan_out)
        shapes[f"{name}/bias"] = (fan_out,)
    return shapes


def init_params(shapes: Mapping[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Glorot-uniform kernels, zero biases; host float32.

    Each parameter draws from its own generator keyed by ``(seed, crc32(name))``, so a
    parameter's initial value depends only on its name, shape and the seed: any process
    (a PS owning a shard of the variables, a worker) computes the same value.
    """
    params = {}
    for name, shape in shapes.items():
        if name.endswith("/kernel"):
            rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
            limit = math.sqrt(6.0 / max(sum(shape), 1))
            params[name] = rng.uniform(-limit, limit, size=shape).astype(np.float32)
        else:
            params[name] = np.zeros(shape, dtype=np.float32)
    return params


def mlp_forward(xp: ModuleType, x: Any, params: Mapping[str, Any], num_hidden: int
                ) -> tuple[Any, list[Any]]:
    """x: (b, in) -> logits (b,); also the inputs of every layer, for backward."""
    inputs = []
    h = x
    for name in layer_names(num_hidden)[:-1]:
        inputs.append(h)
        h = xp.maximum(h @ params[f"{name}/kernel"] + params[f"{name}/bias"], 0)
    inputs.append(h)
    logits = (h @ params["mlp/logit/kernel"] + params["mlp/logit/bias"])[:, 0]
    return logits, inputs


def mlp_backward(xp: ModuleType, grad_logits: Any, params: Mapping[str, Any],
                 inputs: list[Any], num_hidden: int) -> tuple[Any, dict[str, Any]]:
    """grad_logits: (b,) -> (grad of x (b, in), gradient per parameter name)."""
    grads = {}
    grad = grad_logits[:, None]
    names = layer_names(num_hidden)
    for i in range(len(names) - 1, -1, -1):
        name, h = names[i], inputs[i]
        kernel = params[f"{name}/kernel"]
        grads[f"{name}/kernel"] = h.T @ grad
        grads[f"{name}/bias"] = grad.sum(axis=0)
        grad = grad @ kernel.T
        if i > 0:
            grad = grad * (h > 0)
    return grad, grads
