"""Counted loops in LLVM IR, the one spelling the code generators share."""

from llvmlite import ir

from .types import I64


def counted_loop(b, start, stop, body, carried=(), step=1):
    """``for i in range(start, stop, step)`` at builder ``b``'s position (i64
    bounds, constant positive ``step``): ``body(i, *values) -> values`` emits
    one iteration and threads
    the loop-carried ``carried`` values through; returns their final values
    (the phis seen after the loop).  The builder ends after the loop."""
    head_block = b.block
    cond = b.append_basic_block("loop.cond")
    body_block = b.append_basic_block("loop.body")
    done = b.append_basic_block("loop.done")
    b.branch(cond)
    b.position_at_end(cond)
    i = b.phi(I64)
    i.add_incoming(start, head_block)
    phis = []
    for value in carried:
        phi = b.phi(value.type)
        phi.add_incoming(value, head_block)
        phis.append(phi)
    b.cbranch(b.icmp_signed("<", i, stop), body_block, done)
    b.position_at_end(body_block)
    results = body(i, *phis)
    results = tuple(results) if results is not None else ()
    nxt = b.add(i, ir.Constant(I64, step))
    i.add_incoming(nxt, b.block)
    for phi, value in zip(phis, results):
        phi.add_incoming(value, b.block)
    b.branch(cond)
    b.position_at_end(done)
    return phis
