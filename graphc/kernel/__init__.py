"""The kernel IR (see ``ir``): fused elementwise loop nests, optionally
ending in a reduction, that the optimizer builds and backends lower."""

from .ir import (KApply, KConst, KInput, Kernel, KernelInput, KNode, Reduction, apply_scalar,
                 broadcast_shape, cast, evaluate)
