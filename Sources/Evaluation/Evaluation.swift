// Accuracy and continual-learning metrics.
