"""``python -m gateway schema ...``: show and check the attribute schema without starting the server.

- ``schema show [FILE | --preset NAME | --config FILE | --demo] [--format toml|json]`` prints
  the effective schema: a site file merged over its base preset, SIP secrets masked.
- ``schema check [...]`` validates it, reports every problem with the file and key it came from,
  and lists the directory attributes the service account must be able to read.
- ``schema presets`` lists the shipped presets.

None of them needs the rest of the configuration (servers, bind password): with ``--config``
only the ``[mapping]`` table is read, and ``GATEWAY_MAPPING__PRESET`` / ``GATEWAY_MAPPING__FILE``
override it as they do for the gateway itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from gateway.mapping.export import literal_secrets, schema_data, to_toml
from gateway.mapping.presets import LoadedSchema, load_layers, load_schema, preset_names
from gateway.mapping.spec import AttributeSchema

DEFAULT_PRESET = "active-directory"  # MappingSettings' default


def add_schema_commands(commands: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the ``schema`` command group; its commands run without a full configuration."""
    schema = commands.add_parser("schema", help="show or check the attribute schema (no server started)")
    actions = schema.add_subparsers(required=True, metavar="ACTION")

    show = actions.add_parser("show", help="print the effective schema (a site file merged over its preset)")
    _source_arguments(show, add_common)
    show.add_argument("--format", choices=("toml", "json"), default="toml", help="output format (default: toml)")
    show.set_defaults(run=run_show, standalone=True)

    check = actions.add_parser("check", help="validate the schema and list the directory attributes it reads")
    _source_arguments(check, add_common)
    check.set_defaults(run=run_check, standalone=True)

    presets = actions.add_parser("presets", help="list the shipped presets")
    presets.set_defaults(run=run_presets, standalone=True)


def _source_arguments(parser: argparse.ArgumentParser, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE", help="a schema or site file")
    parser.add_argument("--preset", metavar="NAME", help=f"a shipped preset ({', '.join(preset_names())})")
    add_common(parser)


def run_show(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    try:
        loaded = _load(args, os.environ if environ is None else environ)
    except ConfigError as exc:
        _print_problems(exc.problems, sys.stderr)
        return 1
    data = schema_data(loaded.schema)
    if args.format == "json":
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(to_toml(data, header=_header(loaded)), end="")
    return 0


def run_check(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    try:
        loaded = _load(args, os.environ if environ is None else environ)
    except ConfigError as exc:
        _print_problems(exc.problems, sys.stdout)
        return 1
    print(f"schema ok: {' over '.join(reversed(loaded.files))}")
    print("\n".join(_report(loaded.schema)))
    return 0


def run_presets(args: argparse.Namespace) -> int:
    for name in preset_names():
        print(f"{name:<18} {load_schema(preset=name).description}")
    return 0


def _load(args: argparse.Namespace, environ: Mapping[str, str]) -> LoadedSchema:
    preset, file = _source(args, environ)
    return load_layers(preset=preset, file=file)


def _source(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[str | None, Path | None]:
    """Which schema the gateway would use: the arguments, else the configuration's [mapping]."""
    if args.file is not None and args.preset is not None:
        raise ConfigError(["give a schema FILE or --preset NAME, not both"])
    if args.file is not None or args.preset is not None:
        return args.preset, args.file
    if args.demo or args.demo_directory:
        from gateway.demo import DEMO_SCHEMA

        return None, DEMO_SCHEMA
    mapping = _mapping_table(args.config, environ)
    if mapping.get("file"):
        return None, Path(str(mapping["file"]))
    return str(mapping.get("preset") or DEFAULT_PRESET), None


def _mapping_table(config: Path | None, environ: Mapping[str, str]) -> dict[str, object]:
    from gateway.settings import CONFIG_ENV, read_config_file

    path = config or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    raw = read_config_file(path).get("mapping", {}) if path else {}
    mapping: dict[str, object] = dict(raw) if isinstance(raw, dict) else {}
    for key in ("preset", "file"):
        if environ.get(f"GATEWAY_MAPPING__{key.upper()}"):
            mapping[key] = environ[f"GATEWAY_MAPPING__{key.upper()}"]
    return mapping


def _header(loaded: LoadedSchema) -> str:
    return "Effective attribute schema (SIP secrets masked), built from:\n" + "\n".join(
        f"  {file}" for file in loaded.files
    )


def _report(schema: AttributeSchema) -> list[str]:
    from gateway.directory.entry import EntryReader

    profile = schema.directory
    labels = [account.label(number) for number, account in enumerate(schema.accounts, start=1)]
    reader = EntryReader(flavour=profile.flavour, user_key=profile.user_key)
    member_attribute = "memberOf" if profile.group_membership == "member-of" else None
    searched = reader.requested(schema.attributes() | set(profile.login_attributes), member_attribute)
    lines = [
        f"accounts:            {', '.join(labels)}",
        f"attributes read:     {', '.join(sorted(schema.attributes(), key=str.lower))}",
        f"groups tested:       {'; '.join(sorted(schema.groups(), key=str.lower)) or 'none'}",
        f"login attributes:    {', '.join(profile.login_attributes)} (filter {profile.user_filter})",
        f"service account reads: {', '.join(searched)}",
    ]
    lines.extend(
        f"warning: {label}: the SIP secret is fixed text in the schema; keep the file readable by the gateway only"
        for label in literal_secrets(schema)
    )
    return lines


def _print_problems(problems: list[str], stream: Any) -> None:
    print(f"schema has {len(problems)} problem{'s' if len(problems) != 1 else ''}:", file=stream)
    for problem in problems:
        print(f"  - {problem}", file=stream)
