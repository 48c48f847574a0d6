"""Mode specialization: resolve the training-mode switch for a train or an inference program."""

from __future__ import annotations

import numpy as np

from kgraph.ir import Graph, Tensor

__all__ = ["specialize"]


def specialize(graph: Graph, training: bool) -> Graph:
    """Replaces LearningPhase by a constant and each InTrainPhase by the branch of the mode."""
    phase = None
    for node in graph.nodes():
        if node.op == "LearningPhase":
            if phase is None:
                phase = graph.constant(np.asarray(training))
            graph.replace_uses(Tensor(graph, node.id), phase)
        elif node.op == "InTrainPhase":
            train, test = graph.inputs(node.id)
            graph.replace_uses(Tensor(graph, node.id), train if training else test)
    return graph
