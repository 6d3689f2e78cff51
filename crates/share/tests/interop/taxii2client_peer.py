"""Drives a TAXII 2.1 server with the OASIS taxii2-client, as a partner would.

Lists collections, pages through one collection's objects two at a time, reads one
object, its versions and the manifest, adds a bundle and re-reads its status (the client
polls the status URL without a trailing slash). Prints a JSON summary for the caller to
check. Usage: taxii2client_peer.py DISCOVERY_URL USER PASSWORD COLLECTION_ID BUNDLE_FILE
"""
import json
import sys

from taxii2client.v21 import Server, as_pages

discovery_url, user, password, collection_id, bundle_file = sys.argv[1:6]

server = Server(discovery_url, user=user, password=password)
api_root = server.default or server.api_roots[0]
summary = {
    "title": server.title,
    "api_root": api_root.url,
    "api_root_versions": api_root.versions,
    "collections": [
        {"id": c.id, "title": c.title, "can_read": c.can_read, "can_write": c.can_write}
        for c in api_root.collections
    ],
}
collection = next(c for c in api_root.collections if c.id == collection_id)

pages = []
for envelope in as_pages(collection.get_objects, per_request=2):
    pages.append([o["id"] for o in envelope.get("objects", [])])
summary["pages"] = pages

first_id = pages[0][0]
summary["object"] = collection.get_object(first_id)["objects"][0]["id"]
summary["versions"] = collection.object_versions(first_id)["versions"]
summary["manifest_count"] = len(collection.get_manifest()["objects"])

with open(bundle_file, encoding="utf-8") as f:
    bundle = f.read()
status = collection.add_objects(bundle, wait_for_completion=False)
status.refresh()
summary["status"] = {
    "id": status.id,
    "status": status.status,
    "total_count": status.total_count,
    "success_count": status.success_count,
    "failure_count": status.failure_count,
    "url": status.url,
}
print(json.dumps(summary))
