"""Exercise 06 (token pruning), a mutant: Hard_keep thresholds every token: [CLS] and padding can
be pruned.."""


from tinydyn.grading.exercises.ex06_token_pruning import SOLUTION


def hard_keep(scores, threshold, prunable):
    return scores >= threshold


importance_scores = SOLUTION.importance_scores
soft_mask = SOLUTION.soft_mask
prune_layer = SOLUTION.prune_layer
