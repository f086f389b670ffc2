"""How the embedded backend reads botocore's data files (service models, the endpoints
table): through one boto3 session for the process, parsed with orjson. Start-up parses a
dozen of them, some of a megabyte; this is most of what creating clients costs."""

from __future__ import annotations

import functools
import gzip
import os
import re
from typing import Any

import orjson
from botocore.loaders import JSONFileLoader

#: The files botocore ships, by how it names them (``botocore.loaders._JSON_OPEN_METHODS``).
_OPENERS: tuple[tuple[str, Any], ...] = ((".json", open), (".json.gz", gzip.open))
#: orjson reads an integer beyond 64 bits as a float where json reads an int: a file with a
#: run of 19 digits (in a number or not) is left to botocore's parser.
_LONG_DIGITS = re.compile(rb"\d{19}")


class OrjsonFileLoader(JSONFileLoader):  # type: ignore[misc]  # botocore is untyped
    """botocore's JSON file loader, parsing with orjson: the same values, in the files'
    order as botocore's OrderedDicts kept it, about twice as fast. A file orjson refuses
    or could read otherwise (long integers), or a kind of file botocore reads that this
    loader does not know, is read by botocore's own loader."""

    def load_file(self, file_path: str) -> Any:
        for ext, opener in _OPENERS:
            path = file_path + ext
            if not os.path.isfile(path):
                continue
            with opener(path, "rb") as fp:
                payload = fp.read()
            if _LONG_DIGITS.search(payload) is None:
                try:
                    return orjson.loads(payload)
                except orjson.JSONDecodeError:
                    pass
            break
        return super().load_file(file_path)


def read_with_orjson(loader: Any) -> Any:
    """``loader`` (a botocore ``Loader``), its files now parsed by :class:`OrjsonFileLoader`."""
    loader.file_loader = OrjsonFileLoader()
    return loader


@functools.cache
def boto3_session() -> Any:
    """The one boto3 session of the process: the embedded backend's clients are made from
    it, and moto reads each service's Regions from it (the adapter's ``regions_session``
    seam), so each model and the endpoints table is parsed once, not once per session."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    read_with_orjson(core.get_component("data_loader"))
    return boto3.Session(botocore_session=core)
