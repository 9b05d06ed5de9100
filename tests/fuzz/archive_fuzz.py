"""Mutation fuzzing of the restore's reading side: a real backup made on the test bed, its archive
mutated (bytes, tar entries, item JSON) and restored in check mode through the real pipeline
(``RestoreRun``: safe extraction, index, scope, filters, item preparation, the existing-object
decision) against the test bed's own discovery, recorded once.

Every case has a seed of its own; a failure prints ``FUZZ_REPLAY=<seed>`` and what was mutated;
``make fuzz FUZZ_REPLAY=<seed>`` replays exactly that case on the archive the run used (kept in
.testbed/fuzz-seed.tar.gz). The CI sample is fixed (its seed and its own backup): rerunning the test
replays it. What each case asserts (``check_case``):

- the run returns a result or raises a KubedrError with a message (a clear per-run error), never
  anything else (no crash, no traceback);
- nothing is written outside the scratch directory, and nothing is left in it;
- nothing would be created outside the selected namespace (namespaced items) and no cluster-scoped
  item but the namespace itself, the CRD and PV the backup pulled in;
- an item made invalid on purpose and in scope is that item's error, naming its archive path.

Used by ``tests/fuzz/test_fuzz_archives.py`` (``make fuzz``, FUZZ_COUNT cases, default 100,000) and by
``tests/integration/test_reliability.py`` (a seeded sample in CI).
"""
import gc
import gzip
import io
import json
import os
import posixpath
import random
import tarfile
import tempfile
import time
import traceback

import testbed

testbed.ensure_collection_path()

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import KubedrError  # noqa: E402
from ansible_collections.kubedr.backup.plugins.module_utils.kube.errors import ApiException  # noqa: E402
from ansible_collections.kubedr.backup.plugins.module_utils.restore import options as restore_options  # noqa: E402
from ansible_collections.kubedr.backup.plugins.module_utils.restore.run import RestoreRun  # noqa: E402

# Cluster-scoped group-resources a namespace-filtered restore may create: the namespace itself and
# what its items pull in (the PV of a claim, the CRD of a custom resource).
ALLOWED_CLUSTER_SCOPED = frozenset(["namespaces", "persistentvolumes", "customresourcedefinitions.apiextensions.k8s.io"])
OTHER_NAMESPACES = ("kube-system", "default", "victim")


# ---------------------------------------------------------------- the seed backup

def make_seed_backup(bed, api_client, namespace, location, name, volume=True, bulk=0):
    """A backup of a namespace holding one object of most kinds (with ``volume``, a claim and the PV
    it pulls in; ``bulk`` more ConfigMaps): returns the module's result."""
    from kubernetes import client
    core = client.CoreV1Api(api_client)
    suffix = namespace[-5:]
    for index in range(3):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm-%d" % index, "labels": {"app": "a"}},
                                                      "data": {"key": "value %d" % index, "n": "1"}})
    for index in range(bulk):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "bulk-%d" % index}, "data": {"i": str(index)}})
    core.create_namespaced_secret(namespace, {"metadata": {"name": "creds"}, "stringData": {"password": "p"}})
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "robot"}})
    core.create_namespaced_service(namespace, {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "a"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    client.AppsV1Api(api_client).create_namespaced_deployment(namespace, {
        "metadata": {"name": "web", "labels": {"app": "a"}}, "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app": "a"}}, "template": {
                "metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{
                    "name": "c", "image": "busybox", "env": [{"name": "A", "value": "1"}],
                    "resources": {"limits": {"cpu": "100m"}}}]}}}})
    if volume:
        core.create_persistent_volume({"metadata": {"name": "fuzz-pv-" + suffix}, "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/fuzz"},
            "storageClassName": "", "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": namespace, "name": "data"}}})
        core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "",
            "volumeName": "fuzz-pv-" + suffix}})
    client.RbacAuthorizationV1Api(api_client).create_namespaced_role(namespace, {
        "metadata": {"name": "reader"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    try:
        result = testbed.run_module("k8s_backup", {
            "name": name, "storage_location": location, "kubeconfig": bed["KUBECONFIG"],
            "included_namespaces": [namespace]})
    finally:
        if volume:
            core.delete_persistent_volume("fuzz-pv-" + suffix)
    assert not result.failed and result["phase"] == "Completed", result
    return result


def recorded_discovery(bed):
    """The test bed's discovery, read once through the collection's own client."""
    from ansible_collections.kubedr.backup.plugins.module_utils.kube.client import KubeClient
    return KubeClient({"kubeconfig": bed["KUBECONFIG"]}).discover()


def read_entries(tarball):
    """[(path, bytes)] of an archive, in order."""
    entries = []
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member in tar:
            if member.isfile():
                entries.append((member.name, tar.extractfile(member).read()))
    return entries


# ---------------------------------------------------------------- the pipeline, without a cluster

class RecordedCluster(object):
    """The test bed's discovery, recorded; every object is absent (404), nothing can be written:
    a check-mode restore plans to create every item it selects."""

    host = "https://recorded.invalid"

    def __init__(self, discovery):
        self.discovery = discovery

    def discover(self, refresh=False):
        return self.discovery

    def get(self, path, query=None):
        raise ApiException(404, "Not Found", b'{"reason": "NotFound"}')

    def request(self, method, path, query=None, body=None, **kwargs):
        if method == "GET":
            return self.get(path)
        raise AssertionError("a check-mode restore sent %s %s" % (method, path))

    @property
    def exec_client(self):
        raise AssertionError("a check-mode restore opened a pod exec")


class NoStore(object):
    """A storage location holding only the backup's archive (read elsewhere): nothing else."""

    read_only = True

    def get_json_gz(self, key):
        return None

    def url(self, key):
        return "memory://" + key


def restore_options_for(namespace):
    return restore_options.validate_options({
        "name": "fuzz", "backup_name": "seed", "included_namespaces": [namespace], "workers": 2,
        "existing_resource_policy": "none", "max_archive_size": "64Mi"})


def restore_in_check_mode(archive, discovery, namespace):
    """The module result of a check-mode restore of ``archive`` (bytes) selecting ``namespace``."""
    options = restore_options_for(namespace)
    run = RestoreRun(RecordedCluster(discovery), NoStore(), options,
                     {"metadata": {"name": "seed"}, "status": {"phase": "Completed"}}, check_mode=True)
    try:
        return run.execute(io.BytesIO(archive))
    finally:
        gc.unfreeze()  # the run freezes what is alive for its own speed; a fuzzer runs thousands


# ---------------------------------------------------------------- mutations

def _random_value(rng, depth=0):
    kind = rng.randrange(8 if depth < 2 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 7, 2 ** 53, 1.5, -0.0])
    if kind == 3:
        return rng.choice(["", "x", "kube-system", "../..", "a" * 300, "\u00e9\u4e2d", "v1", "Secret"])
    if kind == 4:
        return rng.choice([[], {}])
    if kind == 5:
        return [_random_value(rng, depth + 1) for _index in range(rng.randrange(3))]
    return dict(("k%d" % i, _random_value(rng, depth + 1)) for i in range(rng.randrange(3)))


def _nodes(value, path=()):
    """(path, value) of every node of a parsed JSON value."""
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _nodes(child, path + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _nodes(child, path + (index,))


def _set(value, path, new):
    for key in path[:-1]:
        value = value[key]
    value[path[-1]] = new


def _delete(value, path):
    for key in path[:-1]:
        value = value[key]
    del value[path[-1]]


def _nest(depth):
    return b"[" * depth + b"]" * depth


# Each JSON mutation returns (new bytes, whether the item is now invalid for sure).
def json_type_confusion(rng, item):
    nodes = [p for p, _v in _nodes(item) if p]
    if not nodes:
        return json.dumps(item).encode(), False
    path = rng.choice(nodes)
    _set(item, path, _random_value(rng))
    return json.dumps(item).encode(), False


def json_delete_field(rng, item):
    nodes = [p for p, _v in _nodes(item) if p]
    if nodes:
        _delete(item, rng.choice(nodes))
    return json.dumps(item).encode(), False


def json_deep_nesting(rng, item):
    depth = rng.choice([201, 250, 1000, 5000, 200000])
    text = json.dumps(dict(item, deep="@@")).encode()
    return text.replace(b'"@@"', _nest(depth)), True


def json_deep_but_allowed(rng, item):
    text = json.dumps(dict(item, deep="@@")).encode()
    return text.replace(b'"@@"', _nest(rng.randrange(100, 190))), False


def json_huge_string(rng, item):
    size = rng.choice([9 * 1024 * 1024, 8 * 1024 * 1024 + 1])
    return json.dumps(dict(item, huge="x" * size)).encode(), True


def json_invalid_utf8(rng, item):
    text = json.dumps(item, ensure_ascii=False).encode("utf-8", "surrogatepass")
    position = rng.randrange(len(text) + 1)  # these bytes are never UTF-8, wherever they are
    return text[:position] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"]) + text[position:], True


def json_duplicate_key(rng, item):
    text = json.dumps(item).encode()
    key = rng.choice([b"kind", b"metadata", b"apiVersion"])
    return text[:-1] + b', "' + key + b'": ' + json.dumps(item.get(key.decode())).encode() + b"}", True


def json_number_out_of_range(rng, item):
    number = rng.choice([b"1e999", b"-1e999", b"9223372036854775808", b"-9223372036854775809", b"NaN",
                         b"Infinity", b"-Infinity", b"1" * 5000])
    return json.dumps(dict(item, number="@@")).encode().replace(b'"@@"', number), True


def json_not_an_object(rng, item):
    return rng.choice([b"[]", b'"text"', b"5", b"null", b"true", json.dumps([item]).encode()]), True


KIND_RESOURCES = [(("v1", "Secret"), "secrets"), (("v1", "Namespace"), "namespaces"),
                  (("rbac.authorization.k8s.io/v1", "ClusterRole"), "clusterroles.rbac.authorization.k8s.io"),
                  (("apps/v1", "Deployment"), "deployments.apps"), (("v1", "Pod"), "pods"),
                  (("v1", "PersistentVolume"), "persistentvolumes")]


def json_wrong_kind(rng, item):
    (api_version, kind), resource = rng.choice(KIND_RESOURCES)
    # A kind of another resource than its path's is that item's error (another group at once, or
    # once discovery names its resource); whether it is another is for mutate_json to say.
    return json.dumps(dict(item, apiVersion=api_version, kind=kind)).encode(), resource


def _metadata(item):
    metadata = item.get("metadata")
    return dict(metadata) if isinstance(metadata, dict) else {}


def json_metadata_namespace(rng, item):
    metadata = dict(_metadata(item), namespace=rng.choice(OTHER_NAMESPACES))
    return json.dumps(dict(item, metadata=metadata)).encode(), False


def json_bad_metadata(rng, item):
    metadata = _metadata(item)
    field, value = rng.choice([("labels", ["a"]), ("labels", {"a": 1}), ("annotations", "x"), ("name", 5),
                               ("name", ""), ("name", "other"), ("ownerReferences", {}), ("namespace", [])])
    metadata[field] = value
    return json.dumps(dict(item, metadata=metadata)).encode(), True


def json_surrogate(rng, item):
    return json.dumps(dict(item, text="@@")).encode().replace(b'"@@"', b'"\\udc80 lone"'), True


JSON_MUTATIONS = [json_type_confusion, json_type_confusion, json_type_confusion, json_delete_field,
                  json_deep_nesting, json_deep_but_allowed, json_invalid_utf8, json_duplicate_key,
                  json_number_out_of_range, json_not_an_object, json_wrong_kind, json_metadata_namespace,
                  json_bad_metadata, json_surrogate]


def _item_entries(entries):
    return [index for index, (path, _data) in enumerate(entries) if path.startswith("resources/")]


def mutate_json(rng, entries, expected):
    index = rng.choice(_item_entries(entries))
    path, data = entries[index]
    mutation = rng.choice(JSON_MUTATIONS if rng.randrange(50) else [json_huge_string])
    try:
        item = json.loads(data)
    except (ValueError, RecursionError):
        return "nothing (%s is no JSON any more)" % path
    if not isinstance(item, dict):
        return "nothing (%s is no object any more)" % path
    new, invalid = mutation(rng, item)
    if isinstance(invalid, str):  # the resource of the new kind: invalid at another resource's path
        invalid = invalid != path.split("/")[1]
    entries[index] = (path, new)
    while path in expected:  # written anew: what an earlier mutation broke may be whole again
        expected.remove(path)
    if invalid and "-preferredversion/" not in path:  # a preferred copy beside its plain one is never read
        expected.append(path)
    return "%s on %s" % (mutation.__name__, path)


def mutate_entry(rng, entries, expected):
    index = rng.choice(_item_entries(entries))
    path, data = entries[index]
    parts = path.split("/")
    choice = rng.randrange(9)
    if choice == 0 and "namespaces" in parts:  # another namespace: the filters decide on the path
        parts[parts.index("namespaces") + 1] = rng.choice(OTHER_NAMESPACES)
    elif choice == 1:  # another resource, maybe another scope
        parts[1] = rng.choice(["secrets", "configmaps", "clusterroles.rbac.authorization.k8s.io", "namespaces",
                               "pods", "widgets.example.com", "persistentvolumes"])
    elif choice == 2 and "namespaces" in parts:  # cluster-scoped path
        at = parts.index("namespaces")
        parts[at:at + 2] = ["cluster"]
    elif choice == 3:
        parts = rng.choice([["resources", "x.json"], ["resources", "a", "b", "c", "d", "e.json"],
                            parts[:-1] + [".json"], ["resources", parts[1], "namespaces", "x", "y", "z.json"]])
    elif choice == 4:
        entries.insert(index, (path, data))  # the same entry twice
        return "duplicated %s" % path
    elif choice == 5:
        del entries[index]
        return "dropped %s" % path
    elif choice == 6:
        entries.append((rng.choice(["metadata/version"]), rng.choice([b"2.0.0\n", b"", b"\xff\xfe", b"1.1.0"])))
        return "another metadata/version"
    elif choice == 7:
        entries[index] = (path, data[:rng.randrange(len(data))])  # truncated JSON
        if "-preferredversion/" not in path:
            expected.append(path)
        return "cut %s" % path
    else:
        parts[-1] = rng.choice(["..", ".", "%2e%2e.json", "a\u00e9.json", "x" * 300 + ".json", "n\\m.json"])
    entries[index] = ("/".join(parts), data)
    return "moved %s to %s" % (path, entries[index][0])


def build_archive(entries, rng=None, special=None):
    """A gzipped tar of entries (``special``: a tarfile member added with no data, a link or a device)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in entries:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if special is not None:
            tar.addfile(special)
    return gzip.compress(buffer.getvalue(), compresslevel=1)


def mutate_special(rng, entries):
    info = tarfile.TarInfo(rng.choice(["resources/configmaps/namespaces/x/l.json", "/etc/evil.json",
                                       "resources/configmaps/namespaces/x/../../../../evil.json"]))
    info.type = rng.choice([tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE, tarfile.DIRTYPE])
    info.linkname = rng.choice(["/etc/passwd", "metadata/version", "../../x"])
    return info


def mutate_bytes(rng, archive, compressed):
    data = bytearray(archive if compressed else gzip.decompress(archive))
    for _flip in range(rng.randrange(1, 8)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    if rng.randrange(4) == 0:
        del data[rng.randrange(len(data)):]
    return bytes(data) if compressed else gzip.compress(bytes(data), compresslevel=1)


def mutated_archive(seed_entries, case_seed):
    """(archive bytes, description, archive paths that must each be reported as an item's error)."""
    rng = random.Random(case_seed)
    entries = list(seed_entries)
    expected = []
    kind = rng.randrange(10)
    if kind < 5:
        described = [mutate_json(rng, entries, expected) for _round in range(rng.randrange(1, 4))]
        return build_archive(entries), "; ".join(described), expected
    if kind < 8:
        described = [mutate_entry(rng, entries, expected) for _round in range(rng.randrange(1, 3))]
        # an entry invalid on purpose and then moved or dropped is no longer expected at its path
        present = set(path for path, _data in entries)
        return build_archive(entries), "; ".join(described), [p for p in expected if p in present]
    if kind == 8:
        return build_archive(entries, special=mutate_special(rng, entries)), "special member", []
    archive = build_archive(entries)
    compressed = rng.randrange(3) == 0
    return mutate_bytes(rng, archive, compressed), "bytes flipped (%s)" % ("gzip" if compressed else "tar"), []


# ---------------------------------------------------------------- one case

class FuzzFailure(AssertionError):
    pass


def check_case(seed_entries, discovery, namespace, case_seed, scratch):
    """Run one mutated archive; raises FuzzFailure naming the seed that replays it."""
    archive, described, expected = mutated_archive(seed_entries, case_seed)
    started = time.monotonic()
    try:
        try:
            result = restore_in_check_mode(archive, discovery, namespace)
        except KubedrError as error:
            if not str(error).strip():
                raise FuzzFailure("a run-level error without a message")
            return "error", str(error)
        except Exception:  # anything else is a crash: the case fails with its traceback
            raise FuzzFailure("crashed:\n%s" % traceback.format_exc())
        _check_result(result, namespace, [p for p in expected if _expected_error(discovery, p)])
        return "result", result
    except FuzzFailure as failure:
        raise FuzzFailure("FUZZ_REPLAY=%d (%s): %s" % (case_seed, described, failure))
    finally:
        if os.listdir(scratch):
            raise FuzzFailure("FUZZ_REPLAY=%d (%s): left %s in the scratch directory"
                              % (case_seed, described, os.listdir(scratch)))
        if os.listdir(os.getcwd()):  # run_cases works in an empty private directory
            raise FuzzFailure("FUZZ_REPLAY=%d (%s): wrote into the working directory" % (case_seed, described))
        if time.monotonic() - started > 20:
            raise FuzzFailure("FUZZ_REPLAY=%d (%s): took %.0f s" % (case_seed, described, time.monotonic() - started))


def _expected_error(discovery, path):
    """Whether a bad entry must be reported: its path names a namespaced resource the cluster serves
    (one the filters select; at a path of the wrong scope, or of an unknown resource, they may not)."""
    parts = posixpath.normpath(path).split("/")
    if len(parts) != 5 or parts[2] != "namespaces":
        return "resources/namespaces/cluster/" in path
    found = discovery.find(parts[1])
    return found is not None and found.namespaced


def _check_result(result, namespace, expected):
    for entry in result.get("plan") or []:
        if entry["action"] not in ("create", "update", "recreate"):
            continue
        if entry["namespace"] not in (None, namespace):
            raise FuzzFailure("would create %s %s in namespace %s" % (entry["group_resource"], entry["name"],
                                                                      entry["namespace"]))
        if entry["namespace"] is None and (entry["group_resource"] not in ALLOWED_CLUSTER_SCOPED or (
                entry["group_resource"] == "namespaces" and entry["name"] != namespace)):
            raise FuzzFailure("would create the cluster-scoped %s %s" % (entry["group_resource"], entry["name"]))
    errors = json.dumps(result.get("restore_errors"), ensure_ascii=False)
    for path in expected:
        in_scope = "/namespaces/%s/" % namespace in path or path == "resources/namespaces/cluster/%s.json" % namespace
        if in_scope and path not in errors:
            raise FuzzFailure("the invalid entry %s is not reported as an error: %s" % (path, errors[:2000]))


class Sandbox(object):
    """Two empty private directories for the runs: the temporary directory (every temporary file
    of a run goes there, so leftovers are seen) and the working directory (nothing may appear)."""

    def __enter__(self):
        self.saved = tempfile.tempdir, os.getcwd()
        self.scratch = tempfile.mkdtemp(prefix="kubedr-fuzz-")
        self.workdir = tempfile.mkdtemp(prefix="kubedr-fuzz-cwd-")
        tempfile.tempdir = self.scratch
        os.chdir(self.workdir)
        return self.scratch

    def __exit__(self, *exc):
        tempfile.tempdir = self.saved[0]
        os.chdir(self.saved[1])
        os.rmdir(self.scratch)
        os.rmdir(self.workdir)


def run_cases(seed_entries, discovery, namespace, fuzz_seed, count, report=print):
    """Run ``count`` cases from ``fuzz_seed``; returns (outcome counts, [failure messages])."""
    outcomes = {"result": 0, "error": 0}
    failures = []
    master = random.Random(fuzz_seed)
    started = time.monotonic()
    with Sandbox() as scratch:
        for index in range(count):
            case_seed = master.randrange(2 ** 63)
            try:
                outcome, _detail = check_case(seed_entries, discovery, namespace, case_seed, scratch)
                outcomes[outcome] += 1
            except FuzzFailure as failure:
                failures.append(str(failure))
                report("FAIL " + str(failure)[:4000])
            if index and index % 5000 == 0:
                report("%d cases, %.0f s, %s, %d failures" % (index, time.monotonic() - started, outcomes,
                                                              len(failures)))
    return outcomes, failures


def replay(seed_entries, discovery, namespace, case_seed):
    with Sandbox() as scratch:
        return check_case(seed_entries, discovery, namespace, case_seed, scratch)
