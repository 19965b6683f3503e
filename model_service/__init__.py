"""The model service: training, serving (Open Inference Protocol + SageMaker contract), metrics."""

__version__ = "0.1.0"
