"""The Training tab: recipes, runs, champion vs challenger, the promotion gate."""
