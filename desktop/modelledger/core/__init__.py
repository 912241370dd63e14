"""The domain without a database or a window: values and enums, lifecycle rules, the audit hash
chain and evidence-pack format, estimator introspection, and the monitoring statistics (drift,
quality, performance, KPIs) as pure functions over numpy arrays. Imports nothing of ours above
it."""
