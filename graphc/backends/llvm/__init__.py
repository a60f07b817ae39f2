"""The LLVM CPU backend: Kernels (fused elementwise loops, optionally ending
in a reduction) become host machine code through llvmlite.

* ``KernelOp`` nodes lower their ``Kernel``; a lone ``Elemwise`` node lowers
  the one-node Kernel of ``graphc.kernel.from_graph.kernel_from_elemwise``.
* Every other node (and a kernel the code generator cannot handle) runs its
  NumPy ``perform`` inside the same compiled function; the Runner lists those
  nodes in ``fallbacks`` (``f.runner.fallbacks``).
* Code generation: ``codegen.py`` (loops) and ``scalar.py`` (scalar ops);
  compilation and the on-disk cache: ``jit.py`` (``make_thunks`` hands it
  all the kernels of a function at once: one module, one cache entry); the
  call path and threading: ``runtime.py``.
"""

import functools

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
        return self.make_thunks([node])[0]

    def make_thunks(self, nodes):
        """Thunks for a whole schedule: the kernels of all its nodes compile
        together (one LLVM module, one cache entry; see ``jit.py``)."""
        plans = [self._plan(node) for node in nodes]
        requests = [(_kernel_text(plan.kernel, plan.aliased),
                     functools.partial(codegen.build_module, plan.kernel, aliased=plan.aliased))
                    for plan in plans if plan is not None]
        addresses = iter(self.toolchain.load(requests))
        thunks = []
        for node, plan in zip(nodes, plans):
            address = next(addresses) if plan is not None else None
            if address is None:  # not a kernel, or one the code generator cannot lower
                thunks.append(self.perform_thunk(node))
            else:
                thunks.append(runtime.make_thunk(plan.kernel, address, plan.positions,
                                                 plan.inplace))
        return thunks

    def _plan(self, node):
        """What ``node`` compiles to (a ``_KernelPlan``), or None for a node
        that runs its NumPy ``perform``."""
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
                return None
        else:
            return None
        if not self.can_lower(kernel):
            return None
        return _KernelPlan(kernel, positions, inplace,
                           tuple(sorted(_aliased_operands(kernel, inplace))))

    #: ctypes passes at most 1024 arguments; kernels this wide also compile slowly
    MAX_OPERANDS = 256

    def can_lower(self, kernel):
        dtypes = {i.dtype for i in kernel.inputs} | {n.dtype for n in kernel.nodes}
        if not dtypes <= SUPPORTED_DTYPES or not kernel.inputs:
            return False
        if kernel.epilogue is not None:  # not lowered yet: see codegen.build_module
            return False
        if len(kernel.inputs) + len(kernel.outputs) > self.MAX_OPERANDS:
            return False
        return "float16" not in dtypes or self.toolchain.has_f16c

    def compile(self, kernel, aliased=()):
        """Entry address of ``kernel``'s machine code (compiled or cached);
        ``aliased``: operand indices that may share memory (in-place pairs)."""
        aliased = tuple(sorted(aliased))
        (address,) = self.toolchain.load(
            [(_kernel_text(kernel, aliased),
              functools.partial(codegen.build_module, kernel, aliased=aliased))])
        if address is None:
            raise NotLowerable(f"the llvm backend cannot lower {kernel!r}")
        return address


class _KernelPlan:
    """A node lowered to a kernel: the kernel, the node-input position of
    each kernel input (None: the same order), its in-place pairs and the
    operands they let alias."""

    __slots__ = ("kernel", "positions", "inplace", "aliased")

    def __init__(self, kernel, positions, inplace, aliased):
        self.kernel = kernel
        self.positions = positions
        self.inplace = inplace
        self.aliased = aliased


def _kernel_text(kernel, aliased):
    """What identifies a kernel's machine code (its cache key's text)."""
    return f"{kernel.text}\naliased={aliased}"


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
