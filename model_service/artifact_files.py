"""The files of a model artifact, by name. Standard library only (like drift_contract), so that the
infrastructure that grants access to an artifact and builds its URIs, and the release scripts
that register it, name its files as the service that writes and reads them does."""

MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
DRIFT_FILE = "drift_reference.json"
# What SageMaker and the cluster load: the three above, packed.
ARCHIVE_FILE = "model.tar.gz"
