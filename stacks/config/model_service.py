"""Config of the model service area: chart profile, image, model version, replicas, capture, tracing."""

from __future__ import annotations

import re

from components.load_generator import LoadGeneratorSpec
from components.model_service import ModelServiceSpec, Profile
from stacks.config.reader import Reader


def read(reader: Reader) -> ModelServiceSpec:
    profile: Profile = reader.choice("modelServiceProfile", Profile)
    tag = reader.string("modelServiceImageTag")
    if tag and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        reader.problem("modelServiceImageTag", tag, "must be a valid image tag (letters, digits, _ . -)")
    version = reader.string("modelVersion")
    if version and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", version):
        reader.problem("modelVersion", version, "must be a version directory name as `model-service train` prints it")
    minimum = reader.integer("modelServiceMinReplicas", minimum=1)
    maximum = reader.integer("modelServiceMaxReplicas", minimum=1)
    reader.range_order("modelServiceMinReplicas", minimum, "modelServiceMaxReplicas", maximum)
    return ModelServiceSpec(
        profile=profile,
        image_repository=reader.string("modelServiceImageRepository"),
        image_tag=tag,
        model_version=version,
        min_replicas=minimum,
        max_replicas=maximum,
        capture_percent=reader.integer("modelServiceCapturePercent", minimum=0, maximum=100),
        trace_sample_ratio=reader.number("modelServiceTraceSampleRatio", minimum=0, maximum=1),
        canary_version=_canary_version(reader, version),
        canary_replicas=reader.integer("modelCanaryReplicas", minimum=1, maximum=10),
    )


def _canary_version(reader: Reader, stable: str) -> str:
    canary = reader.string("modelCanaryVersion")
    if canary and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", canary):
        reader.problem(
            "modelCanaryVersion", canary, "must be a version directory name as `model-service train` prints it"
        )
    if canary and not stable:
        reader.problem("modelCanaryVersion", canary, "needs a modelVersion to compare with (the stable track)")
    if canary and canary == stable:
        reader.problem("modelCanaryVersion", canary, "is the stable modelVersion already")
    return canary


def read_load_generator(reader: Reader) -> LoadGeneratorSpec:
    return LoadGeneratorSpec(
        users=reader.integer("loadGeneratorUsers", minimum=0, maximum=200),
        drift=reader.boolean("loadGeneratorDrift"),
    )
