"""Exports a learner takes away as plain PyTorch: ``to_code(spec)`` writes the network as a
module class (:mod:`.module`); ``export_run(run, out)`` writes a run as a standalone folder
(train.py, model.py, the data: :mod:`.run`)."""
from .module import class_name, doc_text, module_code, to_code
from .run import ExportError, export_run, export_zip

__all__ = ["to_code", "class_name", "doc_text", "module_code", "ExportError", "export_run", "export_zip"]
