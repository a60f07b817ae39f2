"""The kernel IR (see ``ir``): fused elementwise loop nests, optionally
ending in a reduction and its epilogue, that the optimizer builds and
backends lower."""

from .ir import (KApply, KConst, KInput, Kernel, KernelInput, KNode, KReduced, Reduction,
                 apply_scalar, broadcast_shape, cast, evaluate, output_shape)
