"""The generator zoo: named sets of frozen, checked generators (``faces``, ``tiny``) and user plugins.

Public API::

    zoo_names() -> list[str]
    zoo_specs(name) -> list[GeneratorSpec]                     # no weights loaded
    load_zoo(name, *, device="cpu") -> list[Generator]          # fixed order
    load_plugin("ID=package.module:factory[:checkpoint]", *, device) -> Generator
    ZooError(ValueError)                                        # one clear line for every bad name/spec/file
"""

from reconstruction_pipeline.zoo.errors import ZooError
from reconstruction_pipeline.zoo.plugins import load_plugin, parse_plugin_spec
from reconstruction_pipeline.zoo.registry import load_generator, load_zoo, zoo_names, zoo_specs

__all__ = ["ZooError", "load_generator", "load_plugin", "load_zoo", "parse_plugin_spec", "zoo_names", "zoo_specs"]
