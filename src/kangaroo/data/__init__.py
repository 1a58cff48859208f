"""Training and evaluation records: one schema, importers, exporters, validation, mixtures.

`import kangaroo.data` imports no torch (probing videos during validation imports PyAV lazily).
See ``docs/data.md``.
"""

from .importers import (
    DEFAULT_CAPTION_PROMPT,
    EXPORT_FORMATS,
    IMPORT_FORMATS,
    export_llava,
    from_captions,
    from_llava,
    from_videochat2,
    import_file,
)
from .mixture import MixtureError, Sampling, load_mixture, parse_sampling, read_mixture
from .records import (
    LANGUAGES,
    ROLES,
    Record,
    RecordError,
    count_video_parts,
    read_records,
    schema_problems,
    video_paths,
    write_records,
)
from .validate import PROBLEM_CODES, Problem, Report, check_record, validate_records

__all__ = [
    "DEFAULT_CAPTION_PROMPT",
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "LANGUAGES",
    "PROBLEM_CODES",
    "ROLES",
    "MixtureError",
    "Problem",
    "Record",
    "RecordError",
    "Report",
    "Sampling",
    "check_record",
    "count_video_parts",
    "export_llava",
    "from_captions",
    "from_llava",
    "from_videochat2",
    "import_file",
    "load_mixture",
    "parse_sampling",
    "read_mixture",
    "read_records",
    "schema_problems",
    "validate_records",
    "video_paths",
    "write_records",
]
