"""Run in the Label Studio SDK's venv (.venv-labelstudio): convert a Label Studio JSON export to
COCO with Label Studio's own converter (``label_studio_sdk.converter.Converter``), as its "Export:
COCO" button does. Arguments: the labeling config, the export, the output folder."""

import sys
from pathlib import Path

from label_studio_sdk.converter import Converter

config, export, out = sys.argv[1:4]
converter = Converter(
    config=Path(config).read_text(encoding="utf-8"), project_dir=None, download_resources=False
)
converter.convert_to_coco(input_data=export, output_dir=out, is_dir=False)
