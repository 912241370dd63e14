"""Training: recipes run in a worker process, challengers judged against the champion."""
