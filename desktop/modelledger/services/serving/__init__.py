"""Consuming models: the scoring server (`server`, `app`: an MLflow-compatible HTTP API over
uvicorn and Starlette that follows promotions by hot swap), the request payloads it accepts
(`payloads`), the versions it holds (`served`), its bearer tokens (`tokens`) and batch scoring
of files (`batch`). No Qt: the server runs headless."""
