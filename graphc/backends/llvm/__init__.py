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

from ..array_struct import layout_matches
from ..base import Backend, register_backend
from . import codegen, gemm, rowwise, runtime
from .jit import toolchain
from .scalar import NotLowerable
from .types import SUPPORTED_DTYPES


class LLVMBackend(Backend):
    name = "llvm"

    def __init__(self):
        if not layout_matches():
            raise RuntimeError("the llvm backend needs 64-bit CPython with NumPy's standard "
                               "array struct layout; use mode='python'")
        self.toolchain = toolchain()

    def make_thunk(self, node):
        return self.make_thunks([node])[0]

    def make_thunks(self, nodes):
        """Thunks for a whole schedule: the kernels of all its nodes compile
        together (one LLVM module, one cache entry; see ``jit.py``)."""
        plans = [self._plan(node) for node in nodes]
        # a node's plan is one kernel, or a (reduction, epilogue) pair of kernels
        parts = [() if plan is None else plan if isinstance(plan, tuple) else (plan,)
                 for plan in plans]
        addresses = iter(self._load([part for node_parts in parts for part in node_parts]))
        thunks = []
        for node, node_parts in zip(nodes, parts):
            found = [next(addresses) for _ in node_parts]
            if not found or None in found:  # not a kernel, or one the code generator can't lower
                thunks.append(self.perform_thunk(node))
                continue
            compiled = [part.make_thunk(address) for part, address in zip(node_parts, found)]
            for thunk, part in zip(compiled, node_parts):
                thunk.source = _PlanIR(part)
                thunk.source_language = "LLVM IR"
            if len(compiled) == 1:
                thunks.append(compiled[0])
            else:
                chained = _chain_epilogue(*compiled, node_parts[1].late)
                chained.source = _JoinedSource([t.source for t in compiled])
                chained.source_language = "LLVM IR"
                thunks.append(chained)
        return thunks

    def _load(self, parts):
        """Entry addresses of plans, in order.  Plans of a ``module_group``
        (``gemm.MODULE_GROUP``: code calling CBLAS) compile into modules of
        their own, so no other function ever loads their object code; so do
        plans whose loops gain nothing from unrolling (``unroll = False``:
        rows of a few classes, one pass after BLAS), which LLVM then compiles
        in about half the time."""
        groups = {}
        for k, part in enumerate(parts):
            group = (getattr(part, "module_group", None), getattr(part, "unroll", True))
            groups.setdefault(group, []).append(k)
        addresses = [None] * len(parts)
        for (_, unroll), members in groups.items():
            found = self.toolchain.load([(parts[k].text, parts[k].build) for k in members],
                                        unroll=unroll)
            for k, address in zip(members, found):
                addresses[k] = address
        return addresses

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
        row_plan = rowwise.plan(node)
        if row_plan is not None:
            return row_plan
        gemm_plan = gemm.GemmPlan.of(node) or _GemmActivationPlan.of(node)
        if gemm_plan is not None:
            return gemm_plan
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
        if kernel.epilogue is not None:
            return self._plan_epilogue(kernel, positions, inplace)
        if not self.can_lower(kernel):
            return None
        return _KernelPlan(kernel, positions, codegen.inplace_pairs(kernel, inplace))

    def _plan_epilogue(self, kernel, positions, inplace):
        """A reduction with an epilogue runs as two compiled kernels: the
        reduction (possibly split across threads, its partial results combined
        by the runtime), then the epilogue over the reduced output space."""
        if inplace:
            return None
        body, tail, loop, late = kernel.split_epilogue()
        if not (self.can_lower(body) and self.can_lower(tail)):
            return None
        where = positions if positions is not None else range(len(kernel.inputs))
        where = list(where)
        body_plan = _KernelPlan(body, [where[k] for k in loop], ())
        tail_plan = _KernelPlan(tail, None, ())
        tail_plan.late = tuple(where[k] for k in late)
        return body_plan, tail_plan

    #: ctypes passes at most 1024 arguments; kernels this wide also compile slowly
    MAX_OPERANDS = 256

    def can_lower(self, kernel):
        dtypes = {i.dtype for i in kernel.inputs} | {n.dtype for n in kernel.nodes}
        if not dtypes <= SUPPORTED_DTYPES or not kernel.inputs:
            return False
        if kernel.epilogue is not None:  # lowered as two kernels: see _plan_epilogue
            return False
        if len(kernel.inputs) + len(kernel.outputs) > self.MAX_OPERANDS:
            return False
        return "float16" not in dtypes or self.toolchain.has_f16c

    def compile(self, kernel, inplace=()):
        """Entry address of ``kernel``'s machine code (compiled or cached);
        ``inplace``: its (output, input) pairs computed in one buffer -- give
        ``runtime.make_thunk`` the same pairs (the code reads the input
        through the output)."""
        inplace = codegen.inplace_pairs(kernel, inplace)
        (address,) = self.toolchain.load(
            [(_kernel_text(kernel, inplace),
              functools.partial(codegen.build_module, kernel, inplace=inplace))])
        if address is None:
            raise NotLowerable(f"the llvm backend cannot lower {kernel!r}")
        return address


class _KernelPlan:
    """A node lowered to a kernel: the kernel, the node-input position of
    each kernel input (None: the same order) and its in-place pairs
    (``codegen.inplace_pairs``: the code and the thunk must agree on them)."""

    __slots__ = ("kernel", "positions", "inplace", "late")

    def __init__(self, kernel, positions, inplace):
        self.kernel = kernel
        self.positions = positions
        self.inplace = inplace
        self.late = ()  # epilogue part: node-input positions of its own inputs

    @property
    def text(self):
        return _kernel_text(self.kernel, self.inplace)

    def build(self, symbol):
        return codegen.build_module(self.kernel, symbol, inplace=self.inplace)

    def make_thunk(self, address):
        return runtime.make_thunk(self.kernel, address, self.positions, self.inplace)


class _GemmActivationPlan(_KernelPlan):
    """Without a CBLAS binding (``gemm.GemmPlan`` compiles Gemms otherwise),
    a Gemm with a relu epilogue: the product in BLAS (``Gemm.perform``
    without its activation), then the activation as a compiled kernel in
    place on the product -- 3-4x faster than NumPy's in-place ``fmax`` pass
    (256x512 float32: 14 vs 45-53 us).  The kernel computes exactly what
    ``GEMM_ACTIVATIONS`` does: ``relu`` is ``switch(x > 0, x, 0)`` (NaN and
    -0.0 give +0.0), ``maximum0`` is ``maximum(x, 0)`` (NaN propagates)."""

    __slots__ = ("node", "product")

    @classmethod
    def of(cls, node):
        from ...ops.blas import Gemm

        op = node.op
        if type(op) is not Gemm or op.activation not in ("relu", "maximum0"):
            return None
        dtype = node.outputs[0].type.dtype
        if dtype not in ("float32", "float64"):
            return None
        return cls(node, _activation_kernel(op.activation, dtype, node.outputs[0].type.ndim))

    def __init__(self, node, kernel):
        super().__init__(kernel, None, codegen.inplace_pairs(kernel, {0: 0}))
        self.node = node
        self.product = node.op.clone_with(activation=None)

    def make_thunk(self, address):
        activate = runtime.make_thunk(self.kernel, address, None, self.inplace)
        node, product = self.node, self.product

        def thunk(values):
            return activate(product.perform(node, values))
        thunk.kernel = self.kernel
        return thunk


def _activation_kernel(activation, dtype, ndim):
    """The one-input Kernel computing a Gemm activation elementwise."""
    from ...kernel.ir import KConst, KInput, Kernel, KernelInput, apply_scalar
    from ...ops import scalar as scal

    x, zero = KInput(0, dtype), KConst(0.0, dtype)
    if activation == "relu":
        out = apply_scalar(scal.switch, apply_scalar(scal.gt, x, zero), x, zero)
    else:
        out = apply_scalar(scal.maximum, x, zero)
    return Kernel([KernelInput(dtype, ndim)], [out], ndim)


class _PlanIR:
    """The LLVM IR of a compiled plan (``_KernelPlan`` or ``rowwise.RowwisePlan``),
    generated when first printed (a warm compile-cache hit builds no IR, so
    reports must not force it)."""

    def __init__(self, plan):
        self.plan = plan
        self._text = None

    def __str__(self):
        if self._text is None:
            self._text = str(self.plan.build("kernel"))
        return self._text


class _JoinedSource:
    """The sources of a reduction kernel and its epilogue kernel, in order."""

    def __init__(self, parts):
        self.parts = parts

    def __str__(self):
        return "\n".join(str(p) for p in self.parts)


def _chain_epilogue(body, tail, late):
    """One thunk running a reduction kernel then its epilogue kernel; the
    epilogue reads the reduced values then the node inputs at ``late``."""
    def thunk(inputs):
        return tail([*body(inputs), *[inputs[k] for k in late]])

    return thunk


def _kernel_text(kernel, inplace):
    """What identifies a kernel's machine code (its cache key's text): the
    in-place pairs change the code and how it must be called."""
    return f"{kernel.text}\ninplace={tuple(inplace)}"


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
