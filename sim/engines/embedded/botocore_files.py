"""How the embedded backend reads botocore's data files (service models, the endpoints
table): through one boto3 session for the process, into plain dicts. Start-up parses a
dozen of them, some of a megabyte; this was most of what creating clients cost."""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from botocore.loaders import JSONFileLoader


class DictFileLoader(JSONFileLoader):  # type: ignore[misc]  # botocore is untyped
    """botocore's JSON file loader without its ``object_pairs_hook=OrderedDict``: a dict
    keeps the file's order too, and json's C decoder builds dicts twice as fast. The same
    values otherwise (should botocore stop calling ``_load_file``, its own parse is used)."""

    def _load_file(self, full_path: str, open_method: Any) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            return json.loads(fp.read().decode("utf-8"))


def read_into_dicts(loader: Any) -> Any:
    """``loader`` (a botocore ``Loader``), its files now parsed by :class:`DictFileLoader`."""
    loader.file_loader = DictFileLoader()
    return loader


@functools.cache
def boto3_session() -> Any:
    """The one boto3 session of the process: the embedded backend's clients are made from
    it, and moto reads each service's Regions from it (the adapter's ``regions_session``
    seam), so each model and the endpoints table is parsed once, not once per session."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    read_into_dicts(core.get_component("data_loader"))
    return boto3.Session(botocore_session=core)
