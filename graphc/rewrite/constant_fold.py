"""Constant folding: a node whose inputs are all constants is evaluated once,
at compile time, with its reference ``perform``."""

import numpy as np

from ..graph.basic import Constant
from ..tensor.var import TensorConstant
from .engine import GraphRewrite, pipeline

#: Results larger than this stay computed at run time (folding a large
#: ``alloc`` would only move memory from run time into the compiled function).
MAX_FOLDED_BYTES = 1 << 20


class ConstantFold(GraphRewrite):
    name = "constant_fold"

    def apply(self, fgraph):
        mapping = {}
        folded = 0
        for node in fgraph.toposort():
            inputs = [mapping.get(i, i) for i in node.inputs]
            if not all(isinstance(i, Constant) for i in inputs) or not node.op.do_constant_folding(node):
                continue
            try:
                with np.errstate(all="ignore"):  # the warning belongs to run time, if anywhere
                    values = node.op.perform(node, [i.data for i in inputs])
            except Exception:  # noqa: BLE001 - leave it to fail at run time, with context
                continue
            if any(np.asarray(v).nbytes > MAX_FOLDED_BYTES for v in values):
                continue
            for out, value in zip(node.outputs, values):
                value = np.asarray(value, dtype=out.type.dtype)
                mapping[out] = TensorConstant(out.type, value.copy(), name=out.name)
            folded += 1
        if mapping:
            fgraph.replace_all(list(mapping.items()))
        return folded


constant_fold = pipeline.register(ConstantFold(), 1, "fast_run", "fast_compile")
