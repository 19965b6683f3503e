"""Run the Pulumi program of one stack under mocks, the way the Pulumi CLI would run it.

The CLI merges the defaults declared in Pulumi.yaml with Pulumi.<stack>.yaml and hands the
program its config in PULUMI_CONFIG and its secret keys in PULUMI_CONFIG_SECRET_KEYS; this
harness does the same, so the config code under test reads exactly what it reads for real. Only
the cloud is mocked: every resource registration is recorded with its inputs.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.settings as runtime_settings
import yaml
from pulumi.runtime.mocks import MockMonitor

REPO = Path(__file__).resolve().parents[2]
PROJECT = "mlops-platform"
FAKE_ACCOUNT = "123456789012"


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    provider: str | None
    # URNs of the resources this one waits for (depends_on and input dependencies).
    dependencies: list[str] = field(default_factory=list)
    urn: str = ""
    parent: str = ""
    # Input name -> URNs of the resources that input's value comes from.
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class StackRun:
    resources: list[Registered]
    outputs: dict[str, Any]
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, type_token: str) -> list[Registered]:
        return [resource for resource in self.resources if resource.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Registered:
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_token} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Registered:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource; returns plausible outputs for the few that the program reads."""

    def __init__(self) -> None:
        self.resources: list[Registered] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs), args.provider))
        state = dict(args.inputs)
        arn_name = args.inputs.get("name") or args.name
        state.setdefault("arn", f"arn:aws:mock:us-east-1:{FAKE_ACCOUNT}:{args.typ.split(':')[-1].lower()}/{arn_name}")
        if args.typ == "eks:index:Cluster":
            issuer = f"oidc.eks.us-east-1.amazonaws.com/id/{args.name.upper()}"
            state.update(
                kubeconfigJson=json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": []}),
                oidcProviderArn=f"arn:aws:iam::{FAKE_ACCOUNT}:oidc-provider/{issuer}",
                oidcProviderUrl=f"https://{issuer}",
            )
        elif args.typ == "aws:s3/bucket:Bucket":
            state["bucket"] = f"{args.inputs.get('bucketPrefix', args.name)}0001"
            state["arn"] = f"arn:aws:s3:::{state['bucket']}"
        elif args.typ == "aws:ecr/repository:Repository":
            state["repositoryUrl"] = f"{FAKE_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{args.inputs['name']}"
        elif args.typ == "aws:iam/role:Role":
            state["arn"] = f"arn:aws:iam::{FAKE_ACCOUNT}:role/{args.name}"
            state["name"] = args.name
        elif args.typ == "aws:sagemaker/endpoint:Endpoint":
            state["arn"] = f"arn:aws:sagemaker:us-east-1:{FAKE_ACCOUNT}:endpoint/{args.inputs['name']}"
        elif args.typ == "aws:apigatewayv2/api:Api":
            state["executionArn"] = f"arn:aws:execute-api:us-east-1:{FAKE_ACCOUNT}:{args.name}-id"
        elif args.typ == "aws:apigatewayv2/stage:Stage":
            state["invokeUrl"] = "https://api-id.execute-api.us-east-1.amazonaws.com/"
        elif args.typ == "aws:lambda/function:Function":
            state["invokeArn"] = f"arn:aws:apigateway:us-east-1:lambda:path/functions/{args.inputs['name']}/invocations"
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            state["arn"] = f"arn:aws:logs:us-east-1:{FAKE_ACCOUNT}:log-group:{args.inputs['name']}"
        elif args.typ == "aws:kms/key:Key":
            state["keyId"] = f"key-{args.name}"
        elif args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = "generated-by-random-password"
        return f"{args.name}-id", state

    def record_registration(self, request: Any, urn: str) -> None:
        for resource in self.resources:
            if resource.type == request.type and resource.name == request.name:
                resource.dependencies = list(request.dependencies)
                resource.urn = urn
                resource.parent = request.parent
                resource.property_dependencies = {
                    key: list(value.urns) for key, value in request.propertyDependencies.items()
                }

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": FAKE_ACCOUNT, "arn": f"arn:aws:iam::{FAKE_ACCOUNT}:user/ci", "userId": "ci"}, []
        return {}, None


class RecordingMonitor(MockMonitor):
    """The mock resource monitor, also noting each registration's dependencies."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method's name)
        response = super().RegisterResource(request)
        self.recording.record_registration(request, response.urn)
        return response


def stack_config(
    stack: str, overrides: Mapping[str, Any] | None = None, remove: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Pulumi.yaml defaults merged with Pulumi.<stack>.yaml, then `overrides` (keys without namespace
    belong to the project), as the CLI merges them."""
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    merged: dict[str, Any] = {
        f"{PROJECT}:{key}": spec["default"] for key, spec in project.get("config", {}).items() if "default" in spec
    }
    stack_file = REPO / f"Pulumi.{stack}.yaml"
    if stack_file.exists():
        merged.update((yaml.safe_load(stack_file.read_text()) or {}).get("config", {}))
    for key, value in (overrides or {}).items():
        merged[key if ":" in key else f"{PROJECT}:{key}"] = value
    for key in remove:
        merged.pop(key if ":" in key else f"{PROJECT}:{key}", None)
    return merged


def _config_env_value(value: Any) -> str:
    # The CLI passes every value as a string; lists and objects as JSON.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


@contextmanager
def cli_environment(config: Mapping[str, Any], secret_keys: tuple[str, ...] = ()) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")}
    os.environ["PULUMI_CONFIG"] = json.dumps({key: _config_env_value(value) for key, value in config.items()})
    os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(
        [key if ":" in key else f"{PROJECT}:{key}" for key in secret_keys]
    )
    pulumi.runtime.set_all_config({}, [])
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@cache
def _moto_regions() -> set[str]:
    import boto3

    return set(boto3.session.Session().get_available_regions("sagemaker"))


@contextmanager
def model_registry(config: Mapping[str, Any], approved: Sequence[str] | None) -> Iterator[None]:
    """SageMaker (moto's) as the program finds it when it checks the versions it serves: the
    stack's model package group with an Approved package for each of `approved` (None: for every
    version the config serves)."""
    from moto import mock_aws

    prefix = f"{PROJECT}:"
    served = [config.get(prefix + key) for key in ("modelVersion", "modelCanaryVersion")]
    versions = [v for v in served if v] if approved is None else list(approved)
    region = str(config.get("aws:region", "us-east-1"))
    if not any(served) or not config.get(prefix + "awsEnabled"):
        yield  # nothing served on AWS: the program reads no registry
        return
    with mock_aws():
        # A region moto does not know is one the config refuses before the registry matters.
        if config.get(prefix + "awsEnabled") and region in _moto_regions():
            import boto3

            client = boto3.client("sagemaker", region_name=region)
            from components.model_registry import package_group_name
            from delivery.model_registry import register
            from stacks.config.stack import MODELS_PREFIX

            group = package_group_name(f"mlops-{config['__stack']}", MODELS_PREFIX)
            client.create_model_package_group(ModelPackageGroupName=group)
            for version in versions:
                arn = register(
                    client,
                    group=group,
                    image_uri="model-service:test",
                    model_data_url=f"s3://models/{MODELS_PREFIX}/{version}/model.tar.gz",
                    report_uri=f"s3://models/{MODELS_PREFIX}/{version}/gate.json",
                    dataset="test",
                )
                client.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
        yield


def run_program(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    remove: tuple[str, ...] = (),
    preview: bool = False,
    approved: Sequence[str] | None = None,
) -> StackRun:
    """Run `__main__`'s program for `stack` under mocks; return the registered resources and outputs.

    `secrets` are set like `pulumi config set --secret` would; raises what the program raises.
    `approved`: the versions with an Approved package in the stack's model registry (moto's
    SageMaker); None approves every version the config serves.
    """
    config = stack_config(stack, {**(overrides or {}), **(secrets or {})}, remove)
    with model_registry({**config, "__stack": stack}, approved):
        return _run(stack, config, secrets, preview)


def _run(stack: str, config: dict[str, Any], secrets: Mapping[str, str] | None, preview: bool) -> StackRun:
    mocks = RecordingMocks()
    with cli_environment(config, tuple(secrets or ())):
        # The Pulumi runtime drives its own event loop; give it a fresh one (asyncio.run in other
        # tests leaves none behind).
        asyncio.set_event_loop(asyncio.new_event_loop())
        runtime_settings.set_root_resource(None)  # type: ignore[arg-type]
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=RecordingMonitor(mocks))
        from stacks.platform import main

        resolved: dict[str, Any] = {}
        secret_names: set[str] = set()

        async def resolve_outputs() -> None:
            root = runtime_settings.get_root_resource()
            for name, value in root.outputs.items():  # type: ignore[union-attr]
                output = pulumi.Output.from_input(value)
                resolved[name] = await output.future()
                if await output.is_secret():
                    secret_names.add(name)

        @pulumi.runtime.test
        def program() -> pulumi.Output[None]:
            main()
            return pulumi.Output.from_input(None)

        program()
        pulumi.runtime.mocks._sync_await(resolve_outputs())
    return StackRun(mocks.resources, resolved, secret_names)
