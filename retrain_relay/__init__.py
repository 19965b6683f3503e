"""The retrain relay: drift and accuracy alerts start the retrain workflow (GitHub repository_dispatch)."""
