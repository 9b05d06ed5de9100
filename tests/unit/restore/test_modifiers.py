# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.restore import modifiers as mod
from ansible_collections.kubedr.backup.plugins.module_utils.restore import patches
from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError


def pvc(name="mysql-data", namespace="bar", storage_class="standard", labels=None):
    return {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": "db", "test": "x"}},
        "spec": {"storageClassName": storage_class, "accessModes": ["ReadWriteOnce"]},
    }


def deployment(image="nginx:1.14", namespace="web"):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "front", "namespace": namespace},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}},
    }


# ---------------------------------------------------------------- RFC 6902

class TestJsonPatch:
    def test_add_object_member(self):
        assert patches.json_patch({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}]) == \
            {"foo": "bar", "baz": "qux"}

    def test_add_array_element(self):
        doc = {"foo": ["bar", "baz"]}
        assert patches.json_patch(doc, [{"op": "add", "path": "/foo/1", "value": "qux"}]) == {"foo": ["bar", "qux", "baz"]}

    def test_add_append_with_dash(self):
        assert patches.json_patch({"foo": [1]}, [{"op": "add", "path": "/foo/-", "value": 2}]) == {"foo": [1, 2]}

    def test_add_at_end_index(self):
        assert patches.json_patch({"foo": [1]}, [{"op": "add", "path": "/foo/1", "value": 2}]) == {"foo": [1, 2]}

    def test_add_replaces_existing_member(self):
        assert patches.json_patch({"a": 1}, [{"op": "add", "path": "/a", "value": 2}]) == {"a": 2}

    def test_add_whole_document(self):
        assert patches.json_patch({"a": 1}, [{"op": "add", "path": "", "value": [1]}]) == [1]

    def test_add_to_missing_parent_fails(self):
        with pytest.raises(patches.ModifierError, match="'missing' does not exist"):
            patches.json_patch({}, [{"op": "add", "path": "/missing/x", "value": 1}])

    def test_remove(self):
        doc = {"baz": "qux", "foo": "bar"}
        assert patches.json_patch(doc, [{"op": "remove", "path": "/baz"}]) == {"foo": "bar"}
        assert patches.json_patch({"foo": [1, 2, 3]}, [{"op": "remove", "path": "/foo/1"}]) == {"foo": [1, 3]}

    def test_remove_missing_fails(self):
        with pytest.raises(patches.ModifierError, match="does not exist"):
            patches.json_patch({"a": 1}, [{"op": "remove", "path": "/b"}])

    def test_remove_dash_is_not_an_index(self):
        with pytest.raises(patches.ModifierError, match="not an array index"):
            patches.json_patch({"a": [1]}, [{"op": "remove", "path": "/a/-"}])

    def test_replace(self):
        assert patches.json_patch({"baz": "qux"}, [{"op": "replace", "path": "/baz", "value": "boo"}]) == {"baz": "boo"}
        assert patches.json_patch({"a": [1, 2]}, [{"op": "replace", "path": "/a/0", "value": 9}]) == {"a": [9, 2]}

    def test_replace_missing_fails(self):
        with pytest.raises(patches.ModifierError):
            patches.json_patch({}, [{"op": "replace", "path": "/a", "value": 1}])

    def test_move(self):
        doc = {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}
        assert patches.json_patch(doc, [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]) == \
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}

    def test_move_array_element(self):
        doc = {"foo": ["all", "grass", "cows", "eat"]}
        assert patches.json_patch(doc, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}]) == \
            {"foo": ["all", "cows", "eat", "grass"]}

    def test_move_into_itself_fails(self):
        with pytest.raises(patches.ModifierError, match="inside"):
            patches.json_patch({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}])

    def test_move_to_same_place(self):
        assert patches.json_patch({"a": 1}, [{"op": "move", "from": "/a", "path": "/a"}]) == {"a": 1}

    def test_copy_is_deep(self):
        result = patches.json_patch({"a": {"x": [1]}}, [{"op": "copy", "from": "/a", "path": "/b"},
                                                        {"op": "add", "path": "/b/x/-", "value": 2}])
        assert result == {"a": {"x": [1]}, "b": {"x": [1, 2]}}

    def test_test_passes(self):
        doc = {"baz": "qux", "foo": ["a", 2, "c"]}
        assert patches.json_patch(doc, [{"op": "test", "path": "/baz", "value": "qux"},
                                        {"op": "test", "path": "/foo/1", "value": 2}]) == doc

    def test_test_fails(self):
        with pytest.raises(patches.PatchTestFailed):
            patches.json_patch({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}])

    def test_test_distinguishes_bool_and_number(self):
        with pytest.raises(patches.PatchTestFailed):
            patches.json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": True}])

    def test_test_number_equality(self):
        assert patches.json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}]) == {"a": 1}

    def test_pointer_escapes(self):
        doc = {"a/b": 1, "m~n": 2, "": 3}
        assert patches.json_patch(doc, [{"op": "test", "path": "/a~1b", "value": 1},
                                        {"op": "test", "path": "/m~0n", "value": 2},
                                        {"op": "test", "path": "/", "value": 3},
                                        {"op": "add", "path": "/~01", "value": 4}])["~1"] == 4

    def test_annotation_key_with_slash(self):
        doc = {"metadata": {"annotations": {"example.com/x": "1"}}}
        assert patches.json_patch(doc, [{"op": "remove", "path": "/metadata/annotations/example.com~1x"}]) == \
            {"metadata": {"annotations": {}}}

    @pytest.mark.parametrize("path", ["/a/01", "/a/5", "/a/-1", "/a/x"])
    def test_bad_indexes(self, path):
        with pytest.raises(patches.ModifierError):
            patches.json_patch({"a": [1, 2]}, [{"op": "replace", "path": path, "value": 0}])

    def test_pointer_must_start_with_slash(self):
        with pytest.raises(patches.ModifierError, match="not a JSON pointer"):
            patches.json_patch({}, [{"op": "add", "path": "a", "value": 1}])

    def test_patch_is_atomic_and_input_untouched(self):
        doc = {"a": 1}
        with pytest.raises(patches.ModifierError):
            patches.json_patch(doc, [{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/zzz"}])
        assert doc == {"a": 1}

    def test_operation_key_is_accepted(self):
        assert patches.json_patch({}, [{"operation": "add", "path": "/a", "value": 1}]) == {"a": 1}

    def test_unknown_operation(self):
        with pytest.raises(patches.ModifierError, match="unsupported patch operation"):
            patches.json_patch({}, [{"op": "frobnicate", "path": "/a"}])

    def test_missing_value(self):
        with pytest.raises(patches.ModifierError, match="needs 'value'"):
            patches.json_patch({}, [{"op": "add", "path": "/a"}])

    def test_into_scalar_fails(self):
        with pytest.raises(patches.ModifierError):
            patches.json_patch({"a": 1}, [{"op": "add", "path": "/a/b", "value": 1}])


# ---------------------------------------------------------------- RFC 7396

class TestMergePatch:
    @pytest.mark.parametrize("target, patch, expected", [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ])
    def test_rfc_7396_examples(self, target, patch, expected):
        assert patches.merge_patch(target, patch) == expected

    def test_input_untouched(self):
        target = {"a": {"b": 1}}
        patches.merge_patch(target, {"a": {"b": 2}})
        assert target == {"a": {"b": 1}}


# ---------------------------------------------------------------- values, globs, selectors

class TestVeleroValue:
    @pytest.mark.parametrize("text, value", [
        ("premium", "premium"), ("", ""), ("null", None), ("true", True), ("False", False),
        ("3", 3), ("-2.5", -2.5), ("1e3", 1000.0), ('"8080"', "8080"), ('"true"', "true"),
        ('{"name": "c"}', {"name": "c"}), ("[1, 2]", [1, 2]), ("1.14.2", "1.14.2"), ("010", "010"),
        (7, 7), ({"a": 1}, {"a": 1}), (None, None), (True, True),
    ])
    def test_values(self, text, value):
        result = mod.velero_value(text)
        assert result == value and type(result) is type(value)

    def test_bad_json(self):
        with pytest.raises(ValueError):
            mod.velero_value("{not json")


class TestGlob:
    @pytest.mark.parametrize("pattern, name, matches", [
        ("pods", "pods", True), ("pods", "pods.x", False),
        ("*", "pods", True), ("*", "deployments.apps", False),
        ("*.*", "deployments.apps", True), ("*.*", "pods", False),
        ("*.*", "storageclasses.storage.k8s.io", False),
        ("*.apps", "deployments.apps", True), ("*.apps", "deployments.apps.example.com", False),
        ("**", "x.y.z", True), ("*.k8s.io", "storageclasses.storage.k8s.io", False),
        ("*.**", "storageclasses.storage.k8s.io", True),
        ("deployment?.apps", "deployments.apps", True), ("?", ".", False),
        ("{pods,secrets}", "secrets", True), ("{pods,secrets}", "configmaps", False),
        ("[ps]ods", "pods", True), ("[!p]ods", "pods", False), (r"a\*", "a*", True), (r"a\*", "ab", False),
    ])
    def test_glob(self, pattern, name, matches):
        assert bool(mod.glob_to_regex(pattern).match(name)) is matches

    def test_unclosed(self):
        with pytest.raises(ValueError):
            mod.glob_to_regex("[ab")
        with pytest.raises(ValueError):
            mod.glob_to_regex("{a,b")


# ---------------------------------------------------------------- validation

def rule(**conditions):
    conditions.setdefault("group_resource", "persistentvolumeclaims")
    return {"conditions": conditions,
            "patches": [{"operation": "replace", "path": "/spec/storageClassName", "value": "premium"}]}


class TestValidate:
    def test_empty(self):
        assert mod.validate_modifiers(None) == ()
        assert mod.validate_modifiers([]) == ()

    def test_snake_case_rule(self):
        (validated,) = mod.validate_modifiers([rule(resource_name_regex="^mysql", namespaces=["bar"])])
        assert validated.index == 0 and validated.group_resource == "persistentvolumeclaims"
        assert validated.patches == ({"operation": "replace", "path": "/spec/storageClassName",
                                      "value": "premium"},)

    def test_velero_document_with_camel_case(self):
        document = {"version": "v1", "resourceModifierRules": [{
            "conditions": {"groupResource": "persistentvolumeclaims", "resourceNameRegex": "^mysql.*$",
                           "namespaces": ["bar", "foo"], "labelSelector": {"matchLabels": {"foo": "bar"}}},
            "patches": [{"operation": "remove", "path": "/metadata/labels/test"}]}]}
        (validated,) = mod.validate_modifiers(document)
        assert validated.label_selector.requirements == [("foo", "=", ("bar",))]

    def test_velero_document_as_yaml_text(self):
        text = ("version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: pods\n"
                "  mergePatches:\n  - patchData: |\n      metadata:\n        labels:\n          a: b\n")
        (validated,) = mod.validate_modifiers(text)
        assert validated.merge_patches == ({"metadata": {"labels": {"a": "b"}}},)

    def test_merge_patch_data_as_dict_or_json(self):
        rules = mod.validate_modifiers([
            {"conditions": {"group_resource": "pods"}, "merge_patches": [{"patch_data": {"a": 1}}]},
            {"conditions": {"group_resource": "pods"}, "merge_patches": [{"patch_data": '{"b": null}'}]},
        ])
        assert rules[0].merge_patches == ({"a": 1},) and rules[1].merge_patches == ({"b": None},)

    def test_strategic_patches_in_velero_form(self):
        (parsed,) = mod.validate_modifiers("""
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps}
  strategicPatches:
  - patchData: |
      {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "repo2/app"}]}}}}
""")
        assert parsed.strategic_patches == (
            {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "repo2/app"}]}}}},)

    @pytest.mark.parametrize("rules, message", [
        ({"version": "v2", "resource_modifier_rules": [rule()]}, r"resource_modifiers.version: only 'v1'"),
        ("{", r"resource_modifiers: is neither JSON nor YAML"),
        (42, r"resource_modifiers: must be a list"),
        ([rule(), "x"], r"resource_modifiers\[1\]: must be a dict"),
        ([{"patches": []}], r"resource_modifiers\[0\].conditions: is required"),
        ([{"conditions": {"group_resource": ""}, "patches": [{}]}],
         r"resource_modifiers\[0\].conditions.group_resource: is required"),
        ([{"conditions": {"group_resource": "pods"}}], r"resource_modifiers\[0\]: give one of patches, merge_patches or strategic_patches"),
        ([dict(rule(), merge_patches=[{"patch_data": {"a": 1}}])], "one kind per rule"),
        ([{"conditions": {"group_resource": "pods"}, "strategic_patches": [{"patch_data": "x"}]}],
         r"resource_modifiers\[0\].strategic_patches\[0\].patch_data: must be a dict"),
        ([dict(rule(), strategicPatches=[{"patchData": "{}"}])], "one kind per rule"),
        ([dict(rule(), extra=1)], r"resource_modifiers\[0\]: unknown field 'extra'"),
        ([{"conditions": {"groupResource": "a", "group_resource": "b"}, "patches": []}], "'group_resource' is given twice"),
        ([rule(conditons=1)], r"conditions: unknown field 'conditons'"),
        ([rule(group_resource="[ab")], r"conditions.group_resource: '\[ab' is not a valid glob"),
        ([rule(resource_name_regex="(")], r"conditions.resource_name_regex: '\(' is not a valid regular expression"),
        ([rule(namespaces="bar")], r"conditions.namespaces: must be a list"),
        ([rule(namespaces=[""])], r"conditions.namespaces\[0\]: must be a non-empty string"),
        ([rule(label_selector="app in (")], r"conditions.label_selector: label selector 'app in \(': missing"),
        ([rule(label_selector=["app"])], r"conditions.label_selector: must be a dict"),
        ([rule(label_selector={"match_labels": {"a": 1}})], r"match_labels: must map label names to string"),
        ([rule(label_selector={"match_expressions": [{"key": "a", "operator": "In"}]})],
         r"match_expressions\[0\].values: operator In needs at least one value"),
        ([rule(label_selector={"match_expressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})],
         "operator Exists takes no values"),
        ([rule(label_selector={"match_expressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})],
         r"operator: 'Gt' is not one of"),
        ([rule(matches=[{"value": "x"}])], r"conditions.matches\[0\].path: is required"),
        ([rule(matches=[{"path": "spec", "value": "x"}])], r"conditions.matches\[0\].path: 'spec' is not a JSON pointer"),
        ([rule(matches="spec.[")], r"conditions.matches: 'spec.\[' is not a valid JMESPath expression"),
        ([{"conditions": {"group_resource": "pods"}, "patches": [{"operation": "frob", "path": "/a"}]}],
         r"patches\[0\].operation: 'frob' is not one of"),
        ([{"conditions": {"group_resource": "pods"}, "patches": [{"operation": "add", "value": 1}]}],
         r"patches\[0\].path: is required"),
        ([{"conditions": {"group_resource": "pods"}, "patches": [{"operation": "add", "path": "/a"}]}],
         r"patches\[0\].value: is required for add"),
        ([{"conditions": {"group_resource": "pods"}, "patches": [{"operation": "copy", "path": "/a"}]}],
         r"patches\[0\].from: is required for copy"),
        ([{"conditions": {"group_resource": "pods"}, "patches": [{"operation": "add", "path": "/a", "value": "{x"}]}],
         r"patches\[0\].value: '\{x' is not valid JSON"),
        ([{"conditions": {"group_resource": "pods"}, "merge_patches": [{"patch_data": "[1]"}]}],
         r"merge_patches\[0\].patch_data: must be a dict"),
        ([{"conditions": {"group_resource": "pods"}, "merge_patches": [{}]}],
         r"merge_patches\[0\].patch_data: is required"),
    ])
    def test_errors_name_rule_and_field(self, rules, message):
        with pytest.raises(InvalidOptionError, match=message):
            mod.validate_modifiers(rules)

    def test_operation_is_case_insensitive(self):
        (validated,) = mod.validate_modifiers([{"conditions": {"group_resource": "pods"},
                                                "patches": [{"operation": "Remove", "path": "/a"}]}])
        assert validated.patches[0]["operation"] == "remove"

    def test_jmespath_missing(self, monkeypatch):
        monkeypatch.setattr(mod, "HAS_JMESPATH", False)
        with pytest.raises(InvalidOptionError, match="needs the jmespath Python package"):
            mod.validate_modifiers([rule(matches="spec")])


# ---------------------------------------------------------------- applying

STORAGE_CLASS_RULE = {
    "conditions": {"group_resource": "persistentvolumeclaims", "resource_name_regex": "^mysql.*$",
                   "namespaces": ["bar", "foo"], "label_selector": {"match_labels": {"app": "db"}}},
    "patches": [{"operation": "replace", "path": "/spec/storageClassName", "value": "premium"},
                {"operation": "remove", "path": "/metadata/labels/test"}],
}


class TestApply:
    def test_velero_doc_example(self):
        item = pvc()
        result, applied = mod.apply_modifiers(item, "persistentvolumeclaims", mod.validate_modifiers([STORAGE_CLASS_RULE]))
        assert applied == [0]
        assert result["spec"]["storageClassName"] == "premium"
        assert result["metadata"]["labels"] == {"app": "db"}
        assert item == pvc()

    def test_raw_rules_are_validated(self):
        result, applied = mod.apply_modifiers(pvc(), "persistentvolumeclaims", [STORAGE_CLASS_RULE])
        assert applied == [0] and result["spec"]["storageClassName"] == "premium"

    def test_raw_rules_invalid(self):
        with pytest.raises(InvalidOptionError):
            mod.apply_modifiers(pvc(), "persistentvolumeclaims", [{"conditions": {}}])

    @pytest.mark.parametrize("item, group_resource", [
        (pvc(name="postgres"), "persistentvolumeclaims"),
        (pvc(namespace="other"), "persistentvolumeclaims"),
        (pvc(labels={"app": "web", "test": "x"}), "persistentvolumeclaims"),
        (pvc(), "persistentvolumeclaims.example.com"),
    ])
    def test_conditions_not_met(self, item, group_resource):
        result, applied = mod.apply_modifiers(item, group_resource, [STORAGE_CLASS_RULE])
        assert applied == [] and result is item

    def test_namespace_globs(self):
        rules = [dict(STORAGE_CLASS_RULE, conditions={"group_resource": "persistentvolumeclaims",
                                                      "namespaces": ["b*"]})]
        assert mod.apply_modifiers(pvc(namespace="bar"), "persistentvolumeclaims", rules)[1] == [0]
        assert mod.apply_modifiers(pvc(namespace="foo"), "persistentvolumeclaims", rules)[1] == []

    def test_namespaces_do_not_filter_cluster_scoped_items(self):
        rules = [{"conditions": {"group_resource": "**", "namespaces": ["bar"]},
                  "merge_patches": [{"patch_data": {"metadata": {"labels": {"x": "y"}}}}]}]
        storage_class = {"metadata": {"name": "fast"}, "provisioner": "p"}
        result, applied = mod.apply_modifiers(storage_class, "storageclasses.storage.k8s.io", rules)
        assert applied == [0] and result["metadata"]["labels"] == {"x": "y"}

    @pytest.mark.parametrize("expressions, matches", [
        ([{"key": "app", "operator": "In", "values": ["db", "cache"]}], True),
        ([{"key": "app", "operator": "In", "values": ["web"]}], False),
        ([{"key": "app", "operator": "NotIn", "values": ["web"]}], True),
        ([{"key": "app", "operator": "NotIn", "values": ["db"]}], False),
        ([{"key": "zone", "operator": "NotIn", "values": ["a"]}], True),
        ([{"key": "app", "operator": "Exists"}], True),
        ([{"key": "zone", "operator": "Exists"}], False),
        ([{"key": "zone", "operator": "DoesNotExist"}], True),
        ([{"key": "app", "operator": "DoesNotExist"}], False),
        ([{"key": "app", "operator": "Exists"}, {"key": "zone", "operator": "Exists"}], False),
    ])
    def test_match_expressions(self, expressions, matches):
        rules = [rule(label_selector={"matchExpressions": expressions})]
        assert (mod.apply_modifiers(pvc(), "persistentvolumeclaims", rules)[1] == [0]) is matches

    @pytest.mark.parametrize("selector, matches", [
        ("app=db", True), ("app=db,test", True), ("app in (web,cache)", False), ("!test", False)])
    def test_kubectl_label_selector_string(self, selector, matches):
        rules = [rule(label_selector=selector)]
        assert (mod.apply_modifiers(pvc(), "persistentvolumeclaims", rules)[1] == [0]) is matches

    def test_label_selector_on_item_without_labels(self):
        item = pvc()
        del item["metadata"]["labels"]
        rules = [rule(label_selector={"match_expressions": [{"key": "a", "operator": "DoesNotExist"}]})]
        assert mod.apply_modifiers(item, "persistentvolumeclaims", rules)[1] == [0]

    def test_velero_matches_list(self):
        rules = [rule(matches=[{"path": "/spec/storageClassName", "value": "standard"},
                               {"path": "/spec/accessModes/0", "value": "ReadWriteOnce"}])]
        assert mod.apply_modifiers(pvc(), "persistentvolumeclaims", rules)[1] == [0]
        assert mod.apply_modifiers(pvc(storage_class="gold"), "persistentvolumeclaims", rules)[1] == []

    def test_velero_matches_missing_path_does_not_match(self):
        rules = [rule(matches=[{"path": "/spec/volumeName", "value": "pv1"}])]
        assert mod.apply_modifiers(pvc(), "persistentvolumeclaims", rules)[1] == []

    def test_velero_matches_value_conversion(self):
        item = pvc()
        item["spec"]["replicas"] = 3
        assert mod.apply_modifiers(item, "persistentvolumeclaims",
                                   [rule(matches=[{"path": "/spec/replicas", "value": "3"}])])[1] == [0]

    @pytest.mark.parametrize("expression, matches", [
        ("spec.storageClassName == 'standard'", True),
        ("spec.storageClassName == 'gold'", False),
        ("metadata.labels.app", True),
        ("metadata.labels.nothere", False),
        ("spec.accessModes", True),
        ("spec.missing || `[]`", False),
        ("`0`", True),
        ("contains(spec.accessModes, 'ReadWriteMany')", False),
    ])
    def test_jmespath_matches(self, expression, matches):
        rules = [rule(matches=expression)]
        assert (mod.apply_modifiers(pvc(), "persistentvolumeclaims", rules)[1] == [0]) is matches

    def test_change_image_with_jmespath_condition(self):
        rules = [{"conditions": {"group_resource": "deployments.apps",
                                 "matches": "spec.template.spec.containers[?starts_with(image, 'nginx:')]"},
                  "patches": [{"operation": "replace", "path": "/spec/template/spec/containers/0/image",
                               "value": "registry.local/nginx:1.14"}]}]
        result, applied = mod.apply_modifiers(deployment(), "deployments.apps", rules)
        assert applied == [0]
        assert result["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/nginx:1.14"
        assert mod.apply_modifiers(deployment("busybox"), "deployments.apps", rules)[1] == []

    def test_failing_test_operation_skips_the_rule_silently(self):
        rules = [{"conditions": {"group_resource": "persistentvolumeclaims"},
                  "patches": [{"operation": "test", "path": "/spec/storageClassName", "value": "premium"},
                              {"operation": "replace", "path": "/spec/storageClassName", "value": "standard"}]},
                 {"conditions": {"group_resource": "persistentvolumeclaims"},
                  "patches": [{"operation": "add", "path": "/metadata/labels/ok", "value": "yes"}]}]
        item = pvc(storage_class="gold")
        result, applied = mod.apply_modifiers(item, "persistentvolumeclaims", rules)
        assert applied == [1]
        assert result["spec"]["storageClassName"] == "gold" and result["metadata"]["labels"]["ok"] == "yes"

    def test_passing_test_operation(self):
        rules = [{"conditions": {"group_resource": "persistentvolumeclaims"},
                  "patches": [{"operation": "test", "path": "/spec/storageClassName", "value": "gold"},
                              {"operation": "replace", "path": "/spec/storageClassName", "value": "standard"}]}]
        result, applied = mod.apply_modifiers(pvc(storage_class="gold"), "persistentvolumeclaims", rules)
        assert applied == [0] and result["spec"]["storageClassName"] == "standard"

    def test_conditions_see_the_original_item_patches_accumulate(self):
        rules = [{"conditions": {"group_resource": "persistentvolumeclaims",
                                 "matches": [{"path": "/spec/storageClassName", "value": "standard"}]},
                  "patches": [{"operation": "replace", "path": "/spec/storageClassName", "value": "gold"}]},
                 {"conditions": {"group_resource": "persistentvolumeclaims",
                                 "matches": [{"path": "/spec/storageClassName", "value": "gold"}]},
                  "patches": [{"operation": "replace", "path": "/spec/storageClassName", "value": "platinum"}]},
                 {"conditions": {"group_resource": "persistentvolumeclaims"},
                  "merge_patches": [{"patch_data": {"metadata": {"labels": {"test": None}}}},
                                    {"patch_data": {"metadata": {"labels": {"new": "1"}}}}]}]
        result, applied = mod.apply_modifiers(pvc(), "persistentvolumeclaims", rules)
        assert applied == [0, 2]
        assert result["spec"]["storageClassName"] == "gold"
        assert result["metadata"]["labels"] == {"app": "db", "new": "1"}

    def test_json_values_from_velero_strings(self):
        rules = [{"conditions": {"group_resource": "deployments.apps"},
                  "patches": [{"operation": "add", "path": "/spec/template/spec/containers/0",
                               "value": '{"name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]}'},
                              {"operation": "copy", "from": "/spec/template/spec/containers/0",
                               "path": "/spec/template/spec/containers/2"},
                              {"operation": "replace", "path": "/spec/replicas", "value": "3"}]}]
        result = mod.apply_modifiers(deployment(), "deployments.apps", rules)[0]
        containers = result["spec"]["template"]["spec"]["containers"]
        assert [c["name"] for c in containers] == ["nginx", "c", "nginx"]
        assert containers[0]["ports"] == [{"containerPort": 80}]
        assert result["spec"]["replicas"] == 3

    def test_patch_error_names_rule_and_item(self):
        rules = [rule(), {"conditions": {"group_resource": "persistentvolumeclaims"},
                          "patches": [{"operation": "remove", "path": "/spec/nothere"}]}]
        with pytest.raises(patches.ModifierError, match=r"resource_modifiers\[1\] on persistentvolumeclaims bar/mysql-data"):
            mod.apply_modifiers(pvc(), "persistentvolumeclaims", rules)

    def test_input_never_modified(self):
        item = pvc()
        before = copy.deepcopy(item)
        mod.apply_modifiers(item, "persistentvolumeclaims", [STORAGE_CLASS_RULE, rule(group_resource="*")])
        assert item == before

    def test_rule_matches_direct(self):
        (validated,) = mod.validate_modifiers([rule(group_resource="*")])
        assert mod.rule_matches(validated, pvc(), "persistentvolumeclaims")
        assert not mod.rule_matches(validated, pvc(), "deployments.apps")
