"""toxiguard: multi-label toxic-comment detection (Bi-LSTM) for self-hosted moderation."""

__version__ = "0.1.0"
