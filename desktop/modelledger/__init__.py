"""ModelLedger: model lifecycle management with a verifiable audit timeline."""

__version__ = "0.1.0"
