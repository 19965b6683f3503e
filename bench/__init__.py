"""Benchmark of the model service against a Flask + gunicorn baseline and a bare endpoint."""
