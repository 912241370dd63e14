"""What a reviewer relies on: the audit log (`audit`, `as_of`), evidence packs and their
signing keys, model cards, the governance report and documents, the review export, the
inventory CSV and the support log bundle. Reads the other features through their public
functions (registry, health); monitoring never imports it."""
