"""Validates a STIX file with the OASIS stix2-validator in its default mode.

Prints one JSON object: {"valid": bool, "errors": [str], "warnings": [str]}.
Usage: validate.py FILE
"""
import json
import sys

from stix2validator import ValidationOptions, validate_file

result = validate_file(sys.argv[1], ValidationOptions())
report = {"valid": bool(result.is_valid), "errors": [], "warnings": []}
if result.fatal:
    report["errors"].append("fatal: " + str(result.fatal.message))
for obj in result.object_results or []:
    for error in obj.errors or []:
        report["errors"].append(f"{obj.object_id}: {error.message}")
    for warning in obj.warnings or []:
        report["warnings"].append(f"{obj.object_id}: {warning}")
print(json.dumps(report))
