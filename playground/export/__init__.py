"""Exports a learner takes away as plain PyTorch: ``to_code(spec)`` writes the network as a
module class (:mod:`.module`)."""
from .module import class_name, doc_text, module_code, to_code

__all__ = ["to_code", "class_name", "doc_text", "module_code"]
