"""Pulumi entry point. Everything lives in stacks/ (config, composition) and components/."""

from stacks.platform import main

main()
