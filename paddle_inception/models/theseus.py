"""The backbone methods PaddleClas pipelines call (its `TheseusLayer` API), for every model.

PaddleClas builds retrieval models (PP-ShiTu's `RecModel`) by calling `stop_after` on a backbone
(`BackboneStopLayer` in a config), fine-tunes with `freeze_befor`, and takes intermediate maps
with `update_res` / `return_patterns` / `return_stages`. `TheseusMixin` gives every
`InceptionModel` these methods with PaddleClas' names, arguments and return values, written for
how our models run: a body walked in `block_names` order (not in sub-layer registration order,
which PaddleClas' generic version assumes; Inception-v3 registers `AuxLogits` between `Mixed_6e`
and `Mixed_7a`), then `head` (global_pool -> flatten -> dropout -> fc), with optional auxiliary
heads on the side.

Layer names are patterns as in PaddleClas: attribute names joined by dots, container indices in
brackets or, as in Paddle's parameter names, after a dot (`"Mixed_6e"`, `"repeat_1[9]"` =
`"repeat_1.9"`, `"head.global_pool"`, `"Mixed_5b.branch_pool.conv"`).

Stop points (`stop_after`, `freeze_befor`; listed by `stop_points()`):
- every name of `block_names` (after `stop_after`, `forward` returns that block's 4-D map);
- `"<block>[i]"` inside a block that is a sequence of blocks (Inception-ResNet's `repeat`,
  `repeat_1`, `repeat_2`);
- `"head.global_pool"` and `"head.dropout"` (forward returns pooled features (N, num_features):
  the stop point for an embedding neck), `"head.fc"` and `"head"` (logits).
A layer *inside* a multi-branch Inception block is not a stop point: its output is one branch,
not what the network computes at that depth (PaddleClas would blank the later branches and
concatenate the rest, a silently different block), so it raises ValueError.

Deliberate differences from TheseusLayer:
- an unknown or unsupported name (or an out-of-range `return_stages` index) raises ValueError
  listing the valid ones; TheseusLayer logs a warning and returns False (or drops the index),
  which `RecModel` ignores, leaving a model that silently computes something else;
- `stop_after` also drops the auxiliary heads (`aux_logits` becomes False): they branch off the
  body and are not part of what the stopped network returns;
- `freeze_befor` sets `stop_gradient` on the parameters of the named layer and of everything
  before it instead of wrapping the layer in a new sub-layer (which would rename its parameters
  in the state dict); the effect on training is the same (no gradient reaches them). Auxiliary
  heads are side branches and stay trainable.
"""

from __future__ import annotations

import re

import paddle.nn as nn

__all__ = ["Identity", "TheseusMixin", "HEAD_STOP_POINTS"]

#: stop points inside `ClassifierHead`, in execution order
HEAD_STOP_POINTS = ("head.global_pool", "head.dropout", "head.fc")

_SEGMENT = re.compile(r"^(\w+)((?:\[\d+\])*)$")  # name or index, then [i][j]...


class Identity(nn.Layer):
    """Returns its input; accepts (and ignores) the extra arguments of the layer it replaces
    (e.g. `head(x, pre_logits=...)`)."""

    def forward(self, x, *args, **kwargs):
        return x


class _SaveOutput:
    """Forward post-hook of a `return_patterns` layer: stores its output under its pattern.

    A small object (not a closure) holding the model, so that `copy.deepcopy(model)` (PaddleClas'
    export does one) yields hooks that write into the copy."""

    def __init__(self, owner, pattern: str):
        self.owner, self.pattern = owner, pattern

    def __call__(self, layer, inputs, output):
        self.owner.res_dict[self.pattern] = output


def _return_dict(model, inputs, output):
    """Forward post-hook of the model after `update_res`: TheseusLayer's output dict."""
    res = {"logits": output}
    for key in list(model.res_dict):
        res[key] = model.res_dict.pop(key)  # emptied per call, as TheseusLayer does
    return res


class TheseusMixin:
    """PaddleClas `TheseusLayer` methods for a model with `block_names` and a `head`."""

    # ---- patterns -----------------------------------------------------------------------
    @property
    def stages_pattern(self) -> list:
        """The stage names `return_stages` indexes (the blocks of `feature_info`)."""
        return [f["name"] for f in self.feature_info]

    def _resolve(self, pattern: str) -> list:
        """`pattern` -> [(parent, key, layer), ...] from the model down to the named layer."""
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(
                f"{type(self).__name__}: a layer name must be a non-empty string, got {pattern!r}"
            )
        chain, parent = [], self
        for segment in pattern.split("."):
            m = _SEGMENT.match(segment)
            if m is None:
                raise ValueError(self._unknown(pattern))
            for key in [m.group(1)] + re.findall(r"\[(\d+)\]", m.group(2)):
                layer = parent._sub_layers.get(key) if isinstance(parent, nn.Layer) else None
                if layer is None:
                    raise ValueError(self._unknown(pattern))
                chain.append((parent, key, layer))
                parent = layer
        return chain

    def _unknown(self, pattern) -> str:
        return (
            f"{type(self).__name__}: no layer {pattern!r}; stop points are "
            f"{', '.join(self.stop_points())} (return_patterns also take any sub-layer path, "
            f"e.g. 'Mixed_5b.branch_pool')"
        )

    def stop_points(self) -> list:
        """Names `stop_after` and `freeze_befor` accept, in execution order."""
        names = []
        for name in self.block_names:
            names.append(name)
            block = getattr(self, name)
            if isinstance(block, nn.Sequential):
                names += [f"{name}[{i}]" for i in range(len(block))]
        return names + ["head"] + list(HEAD_STOP_POINTS)

    def _stop_point(self, name: str, what: str):
        """Validate a stop point -> (block name, index inside a sequence or None)."""
        chain = self._resolve(name)
        top = chain[0][1]
        if top == "head":
            if name == "head" or name in HEAD_STOP_POINTS:
                return "head", None
        elif top in self.block_names:
            if len(chain) == 1:
                return top, None
            block = chain[0][2]  # "repeat_1[3]" or, as Paddle names it, "repeat_1.3"
            if len(chain) == 2 and isinstance(block, nn.Sequential) and chain[1][1].isdigit():
                return top, int(chain[1][1])
        raise ValueError(
            f"{type(self).__name__}.{what}({name!r}): not a stop point. A layer inside a "
            f"multi-branch block outputs one branch, not what the network computes at that depth; "
            f"stop at a block instead. Stop points: {', '.join(self.stop_points())}"
        )

    # ---- TheseusLayer API -----------------------------------------------------------------
    def stop_after(self, stop_layer_name: str) -> bool:
        """Make `forward` return the output of `stop_layer_name` (PaddleClas'
        `BackboneStopLayer`): every later block becomes an Identity (its parameters leave the
        model) and the auxiliary heads are dropped. `"head.global_pool"` gives pooled features
        (N, num_features); a block name gives its feature map. Returns True (raises ValueError
        for a name that is not a stop point, see `stop_points()`)."""
        top, index = self._stop_point(stop_layer_name, "stop_after")
        if top == "head":
            inner = [p.split(".")[1] for p in HEAD_STOP_POINTS]
            if stop_layer_name != "head":
                for key in inner[inner.index(stop_layer_name.split(".")[1]) + 1 :]:
                    setattr(self.head, key, Identity())
        else:
            if index is not None:
                seq = getattr(self, top)
                for j in range(index + 1, len(seq)):
                    seq._sub_layers[str(j)] = Identity()
            for name in self.block_names[self.block_names.index(top) + 1 :]:
                setattr(self, name, Identity())
            self.head = Identity()
        for _, head in self.aux_taps:
            if getattr(self, head, None) is not None:
                setattr(self, head, None)
        self.aux_logits = False
        self.stop_layer_name = stop_layer_name
        return True

    def freeze_befor(self, layer_name: str) -> bool:
        """Freeze `layer_name` and every layer before it (PaddleClas' spelling): their
        parameters get `stop_gradient=True`, so no gradient reaches them. BatchNorm statistics
        still update in training mode, as in PaddleClas. Returns True (raises ValueError for a
        name that is not a stop point)."""
        top, index = self._stop_point(layer_name, "freeze_befor")
        frozen = []
        for name in self.block_names:
            if name == top and index is not None:
                frozen += [getattr(self, name)[j] for j in range(index + 1)]
                break
            frozen.append(getattr(self, name))
            if name == top:
                break
        if top == "head":
            keys = [p.split(".")[1] for p in HEAD_STOP_POINTS]
            stop = len(keys) if layer_name == "head" else keys.index(layer_name.split(".")[1]) + 1
            frozen += [
                getattr(self.head, key)
                for key in keys[:stop]
                if isinstance(getattr(self.head, key, None), nn.Layer)
            ]
        for layer in frozen:
            for p in layer.parameters():
                p.stop_gradient = True
        return True

    def update_res(self, return_patterns) -> list:
        """Make `forward` return TheseusLayer's dict: `{"logits": <usual output>, pattern:
        output of that layer, ...}` for each pattern (a name or a list; any sub-layer path).
        Replaces the patterns of an earlier call. Returns the patterns set (raises ValueError
        for a path that names no layer)."""
        patterns = [return_patterns] if isinstance(return_patterns, str) else list(return_patterns)
        layers = [self._resolve(p)[-1][2] for p in patterns]  # validate all before changing
        for handle in getattr(self, "_res_hooks", []):
            handle.remove()
        self.res_dict = {}
        self._res_hooks = [
            layer.register_forward_post_hook(_SaveOutput(self, p))
            for layer, p in zip(layers, patterns)
        ]
        self._res_hooks.append(self.register_forward_post_hook(_return_dict))
        return patterns

    def init_net(
        self, return_patterns=None, return_stages=None, freeze_befor=None, stop_after=None
    ) -> None:
        """TheseusLayer's constructor options, applied to a built model (the PaddleClas-style
        factories pass them on). `return_stages`: True (all of `stages_pattern`), an index or a
        list of indices; it overrides `return_patterns` when both are given, as in PaddleClas."""
        if return_stages is not None and return_stages is not False:
            stages = self.stages_pattern
            if return_stages is True:
                picked = list(range(len(stages)))
            else:
                picked = [return_stages] if isinstance(return_stages, int) else list(return_stages)
            bad = [i for i in picked if not (isinstance(i, int) and 0 <= i < len(stages))]
            if bad:
                raise ValueError(
                    f"{type(self).__name__}: return_stages {bad} out of range; "
                    f"the stages are {stages}"
                )
            return_patterns = [stages[i] for i in picked]
        if stop_after is not None:
            self.stop_after(stop_after)
        if freeze_befor is not None:
            self.freeze_befor(freeze_befor)
        if return_patterns:
            self.update_res(return_patterns)
