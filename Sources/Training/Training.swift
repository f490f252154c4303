// LAMM training.
