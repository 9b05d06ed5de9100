"""The restore's own yardstick: the items of a backup POSTed by bench.py's raw client, as plainly as it posts the
objects it makes (issue 18 item 3).

The raw CREATE of bench.py posts the objects the bench seeded; a restore of their backup posts more and other
items (the Services' Endpoints, the namespaces' ServiceAccounts and ConfigMaps the controllers have often made
already). This takes the backup's tarball from the storage location and posts every item the restore would
(``restore/skips.py``'s rules, the preferred copy of each), each with the server-set metadata and status dropped
and its namespace mapped, in the order a restore must keep (``restore/plan.py``'s tiers: namespaces, service
accounts, secrets, config maps, endpoints, services, then the rest), each tier's items at the raw CREATE's
concurrency and a tier begun once the one before is done, as the restore does. The order matters on this bed:
posted in archive order (Services last) the endpoint slice controller's work for them falls after the step, in
the restore's order it falls within it. A 409 (already there) counts as done, as the restore counts it.
Returns (items posted, items created, seconds)."""
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedr.backup.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubedr.backup.plugins.module_utils.restore.item_actions import SERVER_METADATA_FIELDS
from ansible_collections.kubedr.backup.plugins.module_utils.restore.plan import restore_tiers
from ansible_collections.kubedr.backup.plugins.module_utils.restore.skips import skip_reason
from ansible_collections.kubedr.backup.plugins.module_utils.storage import layout
from ansible_collections.kubedr.backup.plugins.module_utils.storage.store import download_to_tempfile, open_store


def plain_item(item, mapping):
    """The item as a client would post it again: no server-set metadata, no status, its namespace mapped."""
    metadata = dict((k, v) for k, v in item["metadata"].items() if k not in SERVER_METADATA_FIELDS)
    if metadata.get("namespace"):
        metadata["namespace"] = mapping.get(metadata["namespace"], metadata["namespace"])
    plain = dict((k, v) for k, v in item.items() if k != "status")
    plain["metadata"] = metadata
    return plain


def item_path(entry, item, mapping):
    """The collection URL of an item: ``/api/v1`` or ``/apis/<group>/<version>``, its namespace, its resource."""
    prefix = "/api/" + item["apiVersion"] if "/" not in item["apiVersion"] else "/apis/" + item["apiVersion"]
    resource = entry.group_resource.split(".", 1)[0]
    if entry.namespace is None:
        return "%s/%s" % (prefix, resource)
    return "%s/namespaces/%s/%s" % (prefix, mapping.get(entry.namespace, entry.namespace), resource)


def backup_posts(location, backup_name, mapping):
    """[[(url, body)] of each tier] of the backup's items, as the restore takes them, in its order."""
    store = open_store(location)
    tarball = download_to_tempfile(store, layout.backup_keys(backup_name)["tarball"], tempfile.gettempdir())
    by_group_resource = {}
    try:
        for entry, item in archive.iter_items(tarball):
            if skip_reason(item, entry.group_resource) is not None:
                continue
            if entry.namespace is not None and entry.namespace not in mapping:
                continue
            if entry.group_resource == "namespaces":
                if item["metadata"]["name"] not in mapping:
                    continue
                item = dict(item, metadata=dict(item["metadata"], name=mapping[item["metadata"]["name"]]))
            by_group_resource.setdefault(entry.group_resource, []).append(
                (item_path(entry, item, mapping), plain_item(item, mapping)))
    finally:
        tarball.close()
    return [[spec for group_resource in tier for spec in by_group_resource[group_resource]]
            for tier in restore_tiers(list(by_group_resource))]


def post_all(raw, location, backup_name, mapping, concurrency):
    """Post the backup's items through ``raw`` (bench.RawClient): (posted, created, seconds)."""
    tiers = backup_posts(location, backup_name, mapping)
    created = []

    def post(spec):
        path, body = spec
        resp = raw.request("POST", path, body)  # encoded there, as bench.py's raw CREATE encodes its objects
        if resp.status not in (200, 201, 409):
            raise RuntimeError("POST %s: %s %s" % (path, resp.status, resp.data[:300]))
        created.append(resp.status != 409)

    started = time.time()
    with ThreadPoolExecutor(concurrency) as pool:
        for tier in tiers:
            list(pool.map(post, tier, chunksize=16))
    return len(created), sum(created), time.time() - started


if __name__ == "__main__":
    raise SystemExit("used by bench.py; see its BENCH_ROUNDS")
