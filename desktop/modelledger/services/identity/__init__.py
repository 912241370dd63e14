"""Signed identity: each person's private key on their workstation (`keystore`), and enrolling,
approving, rotating and revoking keys in the workspace, bootstrapping the first admin and signed
checkpoints (`service`). Uses changes and storage; the role rules themselves are in
core.identity and are applied to every event by the audit appender."""
