"""Mode specialization: resolve the training-mode switch for a train or an inference program."""

from __future__ import annotations

import numpy as np

from kgraph.ir import Graph, Tensor

__all__ = ["specialize"]


def specialize(graph: Graph, training: bool) -> dict[Tensor, Tensor]:
    """Replaces LearningPhase by a constant and each InTrainPhase by the branch of the mode.

    Returns the replaced tensors mapped to their replacements (for callers holding them).
    """
    replaced: dict[Tensor, Tensor] = {}
    phase = None
    for node in graph.nodes():
        if node.op == "LearningPhase":
            if phase is None:
                phase = graph.constant(np.asarray(training))
            graph.replace_uses(Tensor(graph, node.id), phase)
            replaced[Tensor(graph, node.id)] = phase
        elif node.op == "InTrainPhase":
            train, test = graph.inputs(node.id)
            chosen = train if training else test
            graph.replace_uses(Tensor(graph, node.id), chosen)
            replaced[Tensor(graph, node.id)] = chosen
    return replaced
