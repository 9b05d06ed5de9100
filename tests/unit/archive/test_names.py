"""The backup's name index without a Python object per name: the fingerprint set, the sorted
spool, and the resource list ItemIndex writes from them (the same document as before)."""
import gzip
import io
import json
import random

from ansible_collections.kubedr.backup.plugins.module_utils.archive import names
from ansible_collections.kubedr.backup.plugins.module_utils.archive.results import ItemIndex, item_counts
from ansible_collections.kubedr.backup.plugins.module_utils.kube.resources import ApiResource
from ansible_collections.kubedr.backup.plugins.module_utils.storage.layout import gzip_json

CONFIGMAPS = ApiResource("", "v1", "configmaps", "ConfigMap", True)
SECRETS = ApiResource("", "v1", "secrets", "Secret", True)
NODES = ApiResource("", "v1", "nodes", "Node", False)
WIDGETS_V1 = ApiResource("example.com", "v1", "widgets", "Widget", True)
GADGETS_SAME_KIND = ApiResource("example.com", "v1", "gadgets", "Widget", True)  # two types, one list key


def test_name_set_adds_each_string_once_and_keeps_them_all_as_it_grows():
    seen = names.NameSet()
    strings = ["ns-%d/obj-%d" % (i % 7, i) for i in range(20000)]
    assert all(seen.add(text) for text in strings)
    assert not any(seen.add(text) for text in strings[::97])
    assert len(seen) == 20000
    assert all(text in seen for text in strings)
    assert not any(("x" + text) in seen for text in strings[:500])
    assert "" not in seen and seen.add("") and "" in seen


def test_sorted_spool_reads_back_sorted_with_duplicates_across_runs_and_odd_characters():
    rng = random.Random(7)
    odd = ["a\\nb", "a\nb", "a\\\nb", "\\", "\\\\n", "é/ü", "\ud800x", "z\\"]
    strings = ["%s-%05d" % (rng.choice("abc"), rng.randrange(3000)) for _n in range(2500)] + odd + odd
    spool = names.SortedSpool(chunk=300)
    for text in strings:
        spool.add(text)
    assert len(spool) == len(strings)
    assert list(spool) == sorted(strings)
    assert list(spool) == sorted(strings)  # read again: the same
    spool.close()


def test_sorted_spool_under_one_chunk_stays_in_memory():
    spool = names.SortedSpool(chunk=10)
    for text in ["b", "a", "c"]:
        spool.add(text)
    assert list(spool) == ["a", "b", "c"] and spool._file is None


def reference(entries):
    """What the index held before: a set of names per type, merged per list key and sorted."""
    merged, seen = {}, set()
    for api_resource, namespace, name in entries:
        display = "%s/%s" % (namespace, name) if namespace else name
        if (api_resource.group_resource, display) in seen:
            continue
        seen.add((api_resource.group_resource, display))
        merged.setdefault("%s/%s" % (api_resource.group_version, api_resource.kind), []).append(display)
    return dict((key, sorted(merged[key])) for key in sorted(merged))


def test_item_index_writes_the_resource_list_document_byte_for_byte(monkeypatch):
    monkeypatch.setattr(names, "SPOOL_CHUNK", 250)
    rng = random.Random(18)
    types = [CONFIGMAPS, SECRETS, NODES, WIDGETS_V1, GADGETS_SAME_KIND]
    entries = []
    for _n in range(3000):
        api_resource = rng.choice(types)
        namespace = "ns-%d" % rng.randrange(12) if api_resource.namespaced else None
        entries.append((api_resource, namespace, "obj-%d\u00e9" % rng.randrange(900)))
    index = ItemIndex()
    added = [index.add(*entry) for entry in entries]
    expected = reference(entries)
    assert len(index._entries._spool._runs) > 5  # spilled: the merge of sorted runs is what is checked
    assert sum(added) == len(index) == sum(len(v) for v in expected.values())
    assert index.resource_list() == expected and list(index.resource_list()) == list(expected)
    out = io.BytesIO()
    index.write_resource_list(out)
    assert out.getvalue() == gzip.decompress(gzip_json(expected))
    assert index.item_counts() == item_counts(expected)
    assert all(index.contains(r.group_resource, ns, name) for r, ns, name in entries)
    assert not index.contains("configmaps", "ns-1", "missing")
    index.close()


def test_an_empty_index_writes_an_empty_document():
    index = ItemIndex()
    out = io.BytesIO()
    index.write_resource_list(out)
    assert json.loads(out.getvalue()) == {} and out.getvalue() == gzip.decompress(gzip_json({}))
    assert index.item_counts() == item_counts({})


def test_adding_a_page_of_names_records_what_adding_them_one_by_one_does():
    rng = random.Random(5)
    pages = [(rng.choice([CONFIGMAPS, NODES, WIDGETS_V1, GADGETS_SAME_KIND]), [
        ("ns-%d" % rng.randrange(3), "o-%d" % rng.randrange(60)) for _n in range(rng.randrange(0, 40))]) for _n in range(80)]
    one_by_one, by_page = ItemIndex(), ItemIndex()
    for api_resource, page in pages:
        names_of_page = [(ns if api_resource.namespaced else None, name) for ns, name in page]
        expected = [(ns, name) for ns, name in names_of_page if one_by_one.add(api_resource, ns, name)]
        assert by_page.add_names(api_resource, names_of_page) == expected
    assert by_page.add_names(CONFIGMAPS, []) == []
    assert len(by_page) == len(one_by_one) and by_page.per_namespace == one_by_one.per_namespace
    assert by_page.item_counts() == one_by_one.item_counts() == item_counts(one_by_one.resource_list())
    assert by_page.resource_list() == one_by_one.resource_list()
