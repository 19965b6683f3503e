"""Config of the registry area: which ECR repositories, how many images each keeps."""

from __future__ import annotations

import re

from components.registry import RegistrySpec
from stacks.config.reader import Reader

_ECR_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
MODEL_IMAGE = "model-service"


def read(reader: Reader) -> RegistrySpec:
    repositories = reader.string_list("ecrRepositories")
    reader.each(
        "ecrRepositories",
        repositories,
        lambda name: (
            None
            if _ECR_NAME.match(name) and len(name) <= 200
            else "is not a valid ECR repository name (lowercase letters, digits, . _ - /)"
        ),
    )
    if MODEL_IMAGE not in repositories:
        reader.problem("ecrRepositories", list(repositories), f"must include {MODEL_IMAGE} (the model image)")
    return RegistrySpec(repositories, reader.integer("ecrKeepImages", minimum=1, maximum=1000))
