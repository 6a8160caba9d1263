"""The IVR: declarative flows (`flow.py`), the engine that runs them (`engine.py`), and what it needs from a
call (`ports.py`)."""
from .catalog import CatalogError, PromptCatalog, load_catalog
from .engine import Enqueue, Hangup, Outcome, run_flow
from .flow import Flow, FlowError, Registry, check_prompts, load_flow
from .ports import IvrPort, KeyBuffer

__all__ = [
    "CatalogError", "Enqueue", "Flow", "FlowError", "Hangup", "IvrPort", "KeyBuffer", "Outcome",
    "PromptCatalog", "Registry", "check_prompts", "load_catalog", "load_flow", "run_flow",
]
