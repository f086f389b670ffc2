"""The embedded backend reads botocore's data files into plain dicts (start-up speed): every
file it reads must give exactly what botocore's own loader gives, in the same order."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import botocore
import pytest
from botocore.loaders import JSONFileLoader

from sim.engines.embedded.botocore_files import DictFileLoader, boto3_session

DATA = Path(botocore.__file__).parent / "data"
#: What a started embedded backend reads: its clients' services and moto's (logs, for Lambda).
SERVICES = sorted({"cloudwatch", "dynamodb", "events", "iam", "lambda", "logs", "secretsmanager", "sns", "sqs", "stepfunctions"})


def _files() -> list[str]:
    out = [str(DATA / "endpoints"), str(DATA / "partitions"), str(DATA / "sdk-default-configuration")]
    for service in SERVICES:
        for version in sorted((DATA / service).iterdir()):
            names = {p.name.split(".json")[0] for p in version.iterdir() if ".json" in p.name}
            out += [str(version / name) for name in sorted(names)]
    return out


def _shape(value: object) -> object:
    """The value with its mappings' key order made visible (botocore keeps the files' order)."""
    if isinstance(value, dict):
        return [(k, _shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return (type(value).__name__, value)


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(Path(p).relative_to(DATA)))
def test_every_file_start_up_reads_gives_what_botocore_gives_in_the_same_order(path):
    assert _shape(DictFileLoader().load_file(path)) == _shape(JSONFileLoader().load_file(path))


def test_a_missing_file_is_none_as_with_botocore(tmp_path):
    assert DictFileLoader().load_file(str(tmp_path / "absent")) is None


def test_gzipped_files_are_read(tmp_path):
    with gzip.open(tmp_path / "model.json.gz", "wb") as f:
        f.write(json.dumps({"b": 1, "a": [2, {"c": None}]}).encode())
    assert _shape(DictFileLoader().load_file(str(tmp_path / "model"))) == _shape({"b": 1, "a": [2, {"c": None}]})


def test_the_backends_session_reads_its_files_into_dicts():
    assert isinstance(boto3_session()._session.get_component("data_loader").file_loader, DictFileLoader)
