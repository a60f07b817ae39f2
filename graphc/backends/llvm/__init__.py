"""The LLVM CPU backend: Kernels (fused elementwise loops, optionally ending
in a reduction) become host machine code through llvmlite.

* ``KernelOp`` nodes lower their ``Kernel``; a lone ``Elemwise`` node lowers
  the one-node Kernel of ``graphc.kernel.from_graph.kernel_from_elemwise``.
* Every other node (and a kernel the code generator cannot handle) runs its
  NumPy ``perform`` inside the same compiled function; the Runner lists those
  nodes in ``fallbacks`` (``f.runner.fallbacks``).
* Code generation: ``codegen.py`` (loops) and ``scalar.py`` (scalar ops);
  compilation and the on-disk cache: ``jit.py``; the call path and threading:
  ``runtime.py``.
"""

from ..base import Backend, register_backend
from . import codegen, runtime
from .jit import toolchain
from .scalar import NotLowerable
from .types import SUPPORTED_DTYPES


class LLVMBackend(Backend):
    name = "llvm"

    def __init__(self):
        if not runtime.check_array_layout():
            raise RuntimeError("the llvm backend needs 64-bit CPython with NumPy's standard "
                               "array struct layout; use mode='python'")
        self.toolchain = toolchain()

    def make_thunk(self, node):
        # imported here: backends load before the op modules they lower
        from ...kernel.from_graph import kernel_from_elemwise
        from ...ops.elemwise import Elemwise
        from ...ops.kernel import KernelOp

        op = node.op
        positions = None
        inplace = ()
        if isinstance(op, KernelOp):
            kernel = op.kernel
            inplace = op.inplace
        elif isinstance(op, Elemwise):
            kernel, input_vars = kernel_from_elemwise(node)
            positions = _input_positions(node, input_vars)
            if positions is None:
                return self.perform_thunk(node)
        else:
            return self.perform_thunk(node)
        if not self.can_lower(kernel):
            return self.perform_thunk(node)
        try:
            address = self.compile(kernel, aliased=_aliased_operands(kernel, inplace))
        except NotLowerable:
            return self.perform_thunk(node)
        return runtime.make_thunk(kernel, address, positions, inplace)

    #: ctypes passes at most 1024 arguments; kernels this wide also compile slowly
    MAX_OPERANDS = 256

    def can_lower(self, kernel):
        dtypes = {i.dtype for i in kernel.inputs} | {n.dtype for n in kernel.nodes}
        if not dtypes <= SUPPORTED_DTYPES or not kernel.inputs:
            return False
        if len(kernel.inputs) + len(kernel.outputs) > self.MAX_OPERANDS:
            return False
        return "float16" not in dtypes or self.toolchain.has_f16c

    def compile(self, kernel, aliased=()):
        """Entry address of ``kernel``'s machine code (compiled or cached);
        ``aliased``: operand indices that may share memory (in-place pairs)."""
        aliased = tuple(sorted(aliased))
        text = f"{kernel.text}\naliased={aliased}"
        return self.toolchain.load(
            text, lambda symbol: codegen.build_module(kernel, symbol, aliased))


def _aliased_operands(kernel, inplace):
    """Operand indices (inputs, then outputs) of the in-place pairs."""
    nin = len(kernel.inputs)
    return {i for _, i in inplace} | {nin + o for o, _ in inplace}


def _input_positions(node, input_vars):
    """Index among ``node.inputs`` of each kernel input variable (kernel
    inputs are the node's inputs with broadcast padding stripped)."""
    from ...kernel.from_graph import unpad

    positions = []
    for var in input_vars:
        for i, inp in enumerate(node.inputs):
            if inp is var or unpad(inp) is var:
                positions.append(i)
                break
        else:
            return None
    return positions


register_backend("llvm", LLVMBackend)


def compile_kernel(kernel):
    """A callable running ``kernel`` as machine code: ``fn(arrays) -> tuple``
    of outputs, with the semantics of ``graphc.kernel.ir.evaluate``."""
    backend = LLVMBackend()
    if not backend.can_lower(kernel):
        raise NotLowerable(f"the llvm backend cannot lower {kernel!r}")
    return runtime.make_thunk(kernel, backend.compile(kernel))
