"""curalog: curation decisions and embeddings that cannot rot silently.

import curalog
proj = curalog.open_project("path/to/project")
with proj.session(tool="multi_crop") as s:
    s.log_crop("set_0042", "mojo1/selected", paths, chosen_idx=1, crop_coords=(10, 20, 800, 600))
"""

from curalog.config import Config, load_config
from curalog.errors import (
    ConfigError,
    CuralogError,
    DecisionRejected,
    DecisionWarning,
    ImageError,
    PathAmbiguous,
    PathError,
    PathOutsideRoot,
    PathUnresolved,
    Problem,
)
from curalog.project import Project, init_project, log_select_crop_entry, open_project
from curalog.version import __version__

__all__ = [
    "Config",
    "ConfigError",
    "CuralogError",
    "DecisionRejected",
    "DecisionWarning",
    "ImageError",
    "PathAmbiguous",
    "PathError",
    "PathOutsideRoot",
    "PathUnresolved",
    "Problem",
    "Project",
    "__version__",
    "init_project",
    "load_config",
    "log_select_crop_entry",
    "open_project",
]
