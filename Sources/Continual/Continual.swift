// Continual learning over stages.
