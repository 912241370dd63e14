"""The user's tabular data: reading files, folders and SQL queries (`sources`) and fingerprinting
training data (`fingerprints`). Uses core and the artifact store only; monitoring, the registry
and, later, training and scoring read data through it."""
