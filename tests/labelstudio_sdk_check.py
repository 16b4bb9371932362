"""Run by the tests in the Label Studio SDK's own venv (.venv-labelstudio, see the Makefile):
validate a labeling config and a task export with ``label_studio_sdk``'s ``LabelInterface``.
Prints one line per problem and exits 1 when there is any; prints "ok N" otherwise."""

import json
import sys
from pathlib import Path

from label_studio_sdk.label_interface import LabelInterface

config_path, tasks_path = sys.argv[1], sys.argv[2]
interface = LabelInterface(Path(config_path).read_text(encoding="utf-8"))
interface.validate()  # the config: schema, unique names, toName targets, tag attributes
problems = []
tasks = json.loads(Path(tasks_path).read_text(encoding="utf-8"))
checked = 0
for t, task in enumerate(tasks):
    if not interface.validate_task({"data": task["data"]}):
        problems.append(f"task {t}: its data lacks a key the config's objects read")
    for a, annotation in enumerate(task.get("annotations", [])):
        checked += 1
        for error in interface.validate_prediction(annotation, return_errors=True):
            problems.append(f"task {t} annotation {a}: {error}")
for line in problems:
    print(line)
print(f"ok {checked}" if not problems else f"{len(problems)} problems")
sys.exit(1 if problems else 0)
