"""Operation definitions: one place per op (make_node, perform, gradient)."""
