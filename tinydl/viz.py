"""Draw the autograd graph: ``to_dot(t)`` returns Graphviz DOT text (no Graphviz needed).

Paste the text into any DOT viewer, or run ``dot -Tpng graph.dot -o graph.png`` if Graphviz is
installed. Tensors are boxes (shape and dtype; leaves that require grad are filled), ops are
ellipses named after their Function, and edges follow the data from inputs to outputs.
"""
from __future__ import annotations

from tinydl.tensor import Tensor


def _label(tensor: Tensor) -> str:
    name = f"{tensor.name}\\n" if tensor.name else ""
    return f"{name}{tuple(tensor.shape)} {tensor.dtype}"


def to_dot(root: Tensor, graph_name: str = "tinydl") -> str:
    """The graph that produced ``root`` as DOT text (iterative: deep graphs are fine)."""
    lines = [f"digraph {graph_name} {{", "  rankdir=LR;", "  node [fontname=Helvetica];"]
    tensor_ids: dict[int, str] = {}
    seen_ops: set[int] = set()

    def tensor_node(tensor: Tensor) -> str:
        key = id(tensor)
        if key not in tensor_ids:
            node_id = f"t{len(tensor_ids)}"
            tensor_ids[key] = node_id
            style = ', style=filled, fillcolor="#cfe8ff"' if tensor.is_leaf and tensor.requires_grad else ""
            lines.append(f'  {node_id} [shape=box, label="{_label(tensor)}"{style}];')
        return tensor_ids[key]

    stack = [root]
    while stack:
        tensor = stack.pop()
        out_id = tensor_node(tensor)
        ctx = tensor._ctx
        if ctx is None:
            continue
        op_id = f"op{id(ctx)}"
        lines.append(f"  {op_id} -> {out_id};")
        if id(ctx) in seen_ops:
            continue
        seen_ops.add(id(ctx))
        lines.append(f'  {op_id} [shape=ellipse, label="{ctx.fn.__name__}"];')
        for parent in ctx.graph_inputs:
            lines.append(f"  {tensor_node(parent)} -> {op_id};")
            stack.append(parent)
    lines.append("}")
    return "\n".join(dict.fromkeys(lines))  # each node/edge once, order kept
