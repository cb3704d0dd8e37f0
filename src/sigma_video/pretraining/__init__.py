"""Pretraining: the config, the recipe ``engine.train`` runs, initialisation from other
weights, and the collapse monitor."""
