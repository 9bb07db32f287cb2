"""Mutant of exercise 01: a correct but recursive topological order (fails on deep graphs)."""

from tinydyn.grading.exercises.ex01_autograd import SOLUTION


def topological_order(graph):
    order, done = [], set()

    def visit(node):  # the bug: one Python frame per level of depth
        if node in done:
            return
        done.add(node)
        for parent in graph[node]:
            visit(parent)
        order.append(node)

    for node in graph:
        visit(node)
    return order


softmax_cross_entropy_backward = SOLUTION.softmax_cross_entropy_backward
layer_norm_backward = SOLUTION.layer_norm_backward
