"""Experiment specs: typed schema, YAML loading with line-accurate errors, overrides."""

from nnctl.spec.errors import SpecError
from nnctl.spec.loader import json_schema, load_spec, locate, parse_spec, spec_to_yaml
from nnctl.spec.schema import Spec

__all__ = ["Spec", "SpecError", "json_schema", "load_spec", "locate", "parse_spec", "spec_to_yaml"]
