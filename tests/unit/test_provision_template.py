"""The template kind: sandboxed Jinja2, opaque user values, clear template errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from berth.api import Environment, Workload
from berth.provision import (
    FromSecret,
    FromValue,
    ProvisionError,
    ResourcePlan,
    check_provisioners,
    outputs_from,
    plan,
)
from berth.render import SecretRef
from tests.unit.builders import environment_dict, workload

# Strings that would break out of their place if they went through Jinja or YAML as text.
EVIL = [
    "a: b",
    "x\ny: z",
    "{{ 7 * 7 }}",
    "{% if true %}injected{% endif %}",
    "{# comment #}",
    "---\napiVersion: v1\nkind: Secret",
    "- a\n- b",
    "!!python/object/apply:os.system ['echo pwned']",
    "!!binary aGVsbG8=",
    "'single' \"double\" `back`",
    "value # comment",
    "{a: b, c: [d]}",
    "[1, 2, {x: y}]",
    "&anchor *alias <<: *x",
    "| block\n  more",
    "> folded",
    "?complex key",
    "%YAML 1.2",
    "BerthValue0X",
    "berthvalue1x BerthValue99X",
    "\\n \\u0041 \\\\",
    "\t tab and  spaces ",
    "",
    "null",
    "~",
    "true",
    "0x1F",
    "2024-01-01",
    "é ü 日本 🚀",
    "${resources.db.password}",
    "}}{{",
    "%}",
    "]]>",
]

MANIFESTS = """\
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: {{ identity }}
    annotations:
      owner: {{ workload.annotations.owner }}
  data:
    plain: {{ resource.params.value }}
    double: "<{{ resource.params.value }}>"
    single: '<{{ resource.params.value }}>'
    flow: {inner: {{ resource.params.value }}}
    list: [{{ resource.params.value }}, second]
    block: |
      line: {{ resource.params.value }}
    folded: >
      {{ resource.params.value }}
    workload: {{ workload.name }}
    environment: {{ environment.name }}
    {% for key, value in resource.params.nested.items() %}
    k-{{ key }}: {{ value }}
    {% endfor %}
"""
OUTPUTS = """\
host: {{ identity }}.{{ environment.namespace }}
value: {{ resource.params.value }}
joined: "{{ workload.name }}/{{ resource.params.value }}"
"""


def env_with(provisioner: dict[str, Any], name: str = "team-a-dev") -> Environment:
    body = environment_dict(
        routes={"domain": "dev.apps.acme.dev"}, provisioners=[copy.deepcopy(provisioner)]
    )
    body["metadata"]["name"] = name
    return Environment.model_validate(body)


def template(**fields: Any) -> dict[str, Any]:
    return {"name": "tpl", "type": "redis", "template": fields}


def cache_workload(
    params: dict[str, Any] | None = None, name: str = "checkout", **extra: Any
) -> Workload:
    resource: dict[str, Any] = {"type": "redis", **extra}
    if params is not None:
        resource["params"] = params
    return workload(name, resources={"cache": resource})


def plan_for(
    provisioner: dict[str, Any],
    params: dict[str, Any] | None = None,
    wl: Workload | None = None,
    env: Environment | None = None,
) -> ResourcePlan:
    wl = wl or cache_workload(params)
    return plan(wl, env or env_with(provisioner), "cache", params or {})


def failure(provisioner: dict[str, Any], params: dict[str, Any] | None = None, **kw: Any) -> Any:
    with pytest.raises(ProvisionError) as caught:
        plan_for(provisioner, params, **kw)
    return caught.value


# -- user values never add keys or objects -----------------------------------------------


@pytest.mark.parametrize("evil", EVIL)
def test_user_values_only_ever_become_strings(evil: str) -> None:
    provisioner = template(allowedParams=["value", "nested"], manifests=MANIFESTS, outputs=OUTPUTS)
    params = {"value": evil, "nested": {evil: evil, "plain": "x"}}
    wl = workload(
        evil,
        metadata={"annotations": {"owner": evil}},
        resources={"cache": {"type": "redis", "params": params}},
    )
    result = plan(wl, env_with(provisioner, name=evil), "cache", params)
    assert len(result.manifests) == 1
    config_map = result.manifests[0]
    assert set(config_map) == {"apiVersion", "kind", "metadata", "data"}
    assert config_map["kind"] == "ConfigMap"
    assert set(config_map["metadata"]) == {"name", "namespace", "annotations", "labels"}
    assert config_map["metadata"]["annotations"] == {"owner": evil}
    assert config_map["metadata"]["name"] == result.identity
    assert config_map["data"] == {
        "plain": evil,
        "double": f"<{evil}>",
        "single": f"<{evil}>",
        "flow": {"inner": evil},
        "list": [evil, "second"],
        "block": f"line: {evil}\n",
        "folded": f"{evil}\n",
        "workload": evil,
        "environment": evil,
        f"k-{evil}": evil,
        "k-plain": "x",
    }
    assert [(o.name, o.source) for o in result.outputs] == [
        ("host", FromValue(f"{result.identity}.team-a-dev")),
        ("joined", FromValue(f"{evil}/{evil}")),
        ("value", FromValue(evil)),
    ]


def test_a_structured_param_printed_whole_is_a_string() -> None:
    provisioner = template(
        allowedParams=["config", "list"],
        outputs="config: {{ resource.params.config }}\nlist: {{ resource.params['list'] }}\n",
    )
    params = {"config": {"b": "x: y", "a": [1, True]}, "list": ["- z", 2]}
    result = plan_for(provisioner, params)
    assert result.output("config") == result.outputs[0]
    assert [o.source for o in result.outputs] == [
        FromValue('{"a":[1,true],"b":"x: y"}'),
        FromValue('["- z",2]'),
    ]


def test_a_user_value_cannot_forge_a_secret_output() -> None:
    provisioner = template(allowedParams=["value"], outputs="password: {{ resource.params.value }}")
    forged = {"secretKeyRef": {"name": "someone-elses", "key": "password"}}
    result = plan_for(provisioner, {"value": forged})
    (output,) = result.outputs
    assert not output.secret
    assert isinstance(output.source, FromValue)


def test_numbers_and_booleans_are_real() -> None:
    provisioner = template(
        allowedParams=["replicas", "ha", "ratio"],
        manifests=(
            "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: x}\n  data:\n"
            "    next: {{ resource.params.replicas + 1 }}\n"
            "    ha: {{ resource.params.ha }}\n"
            "    ratio: {{ resource.params.ratio * 2 }}\n"
            "    big: {{ 'yes' if resource.params.replicas > 2 else 'no' }}\n"
        ),
        outputs="port: {{ resource.params.replicas }}\nha: {{ resource.params.ha }}\n",
    )
    result = plan_for(provisioner, {"replicas": 3, "ha": True, "ratio": 0.25})
    assert result.manifests[0]["data"] == {"next": 4, "ha": True, "ratio": 0.5, "big": True}
    assert [(o.name, o.source) for o in result.outputs] == [
        ("ha", FromValue("true")),
        ("port", FromValue("3")),
    ]


# -- what templates can do with opaque strings --------------------------------------------


def outputs_of(text: str, params: dict[str, Any], **fields: Any) -> dict[str, str]:
    provisioner = template(allowedParams=list(params), outputs=text, **fields)
    result = plan_for(provisioner, params)
    return {o.name: o.source.value for o in result.outputs if isinstance(o.source, FromValue)}


def test_opaque_strings_compare_by_their_real_value() -> None:
    text = (
        "eq: {{ 'gold' if resource.params.tier == 'gold' else 'other' }}\n"
        "ne: {{ resource.params.tier != 'silver' }}\n"
        "in: {{ resource.params.tier in ['gold', 'silver'] }}\n"
        "sub: {{ 'ol' in resource.params.tier }}\n"
        "lt: {{ resource.params.tier < 'h' }}\n"
        "truthy: {{ 'full' if resource.params.tier else 'blank' }}\n"
        "empty: {{ 'full' if resource.params.empty else 'blank' }}\n"
        "length: {{ resource.params.tier | length }}\n"
        "string: {{ resource.params.tier is string }}\n"
        "concat: {{ resource.params.tier == 'go' ~ 'ld' }}\n"
    )
    assert outputs_of(text, {"tier": "gold", "empty": ""}) == {
        "eq": "gold",
        "ne": "true",
        "in": "true",
        "sub": "true",
        "lt": "true",
        "truthy": "full",
        "empty": "blank",
        "length": "4",
        "string": "true",
        "concat": "true",
    }


def test_opaque_strings_transform_on_their_real_value() -> None:
    text = (
        "upper: {{ resource.params.name | upper }}\n"
        "lower: {{ resource.params.name.lower() }}\n"
        "trim: '{{ resource.params.padded | trim }}'\n"
        "replace: {{ resource.params.name.replace('_', '-') | lower }}\n"
        "starts: {{ resource.params.name.startswith('My') }}\n"
        "ends: {{ resource.params.host.endswith('.' ~ environment.domain) }}\n"
    )
    params = {"name": "My_App: x", "padded": "  a: b  ", "host": "x.dev.apps.acme.dev"}
    assert outputs_of(text, params) == {
        "upper": "MY_APP: X",
        "lower": "my_app: x",
        "trim": "a: b",
        "replace": "my-app: x",
        "starts": "true",
        "ends": "true",
    }


def test_tojson_works_on_real_values() -> None:
    text = (
        "quoted: {{ resource.params.v | tojson }}\n"
        'embedded: "cfg={{ resource.params.v | tojson }}"\n'
        "whole: {{ resource.params | tojson }}\n"
        'built: {{ {"k": resource.params.v} | tojson }}\n'
        "plain: {{ 'no user value' | tojson }}\n"
    )
    value = 'he said "hi": x\n- y'
    assert outputs_of(text, {"v": value}) == {
        "quoted": value,
        "embedded": 'cfg="he said \\"hi\\": x\\n- y"',
        "whole": '{"v": "he said \\"hi\\": x\\n- y"}',
        "built": '{"k": "he said \\"hi\\": x\\n- y"}',
        "plain": "no user value",
    }


@pytest.mark.parametrize(
    ("expression", "refused"),
    [
        ("resource.params.value | truncate(3)", "pass it to the filter 'truncate'"),
        ("resource.params.value | title", "pass it to the filter 'title'"),
        ("resource.params.value | replace('a', 'b')", "pass it to the filter 'replace'"),
        ("resource.params.value | int", "pass it to the filter 'int'"),
        ("resource.params.value | list", "pass it to the filter 'list'"),
        ("resource.params.value is iterable", "pass it to the test 'iterable'"),
        ("resource.params.value is lower", "pass it to the test 'lower'"),
        ("resource.params.value[0:2]", "index or slice it"),
        ("resource.params.value[0]", "index or slice it"),
        ("resource.params.value.split(',')", "use its attribute 'split'"),
        ("resource.params.value.__class__", "use its attribute '__class__'"),
        ("resource.params.value % 1", "use it as a format string"),
    ],
)
def test_operations_that_would_see_the_token_are_refused(expression: str, refused: str) -> None:
    error = failure(
        template(allowedParams=["value"], outputs=f"x: {{{{ {expression} }}}}"),
        {"value": "a,b"},
    )
    assert error.reason == "TemplateError"
    assert "outputs template, line 1: resource.params.value is a value a user controls" in (
        error.message
    )
    assert refused in error.message


def test_iterating_an_opaque_string_is_refused() -> None:
    error = failure(
        template(
            allowedParams=["value"],
            outputs="x: {% for c in resource.params.value %}{{ c }}{% endfor %}",
        ),
        {"value": "abc"},
    )
    assert "not iterate over it" in error.message


def test_a_token_transformed_anyway_is_caught() -> None:
    # concatenation makes a plain string; title() then changes the token's case
    error = failure(
        template(allowedParams=["value"], outputs="x: {{ (resource.params.value ~ '') | title }}"),
        {"value": "abc"},
    )
    assert error.reason == "TemplateError"
    assert "a user value the template transformed" in error.message


# -- context ---------------------------------------------------------------------------------


def test_the_context() -> None:
    text = (
        "workload: {{ workload.name }}/{{ workload.namespace }}/{{ workload.annotations.team }}\n"
        "resource: {{ resource.name }}/{{ resource.type }}/{{ resource['class'] }}/"
        "{{ resource.class }}/{{ resource.id }}/{{ resource.annotations.note }}\n"
        "environment: {{ environment.name }}/{{ environment.type }}/"
        "{{ environment.namespace }}/{{ environment.domain }}\n"
        "identity: {{ identity }}\n"
        "shared: {{ shared }}\n"
    )
    wl = workload(
        metadata={"annotations": {"team": "payments"}},
        resources={
            "cache": {
                "type": "redis",
                "class": "dev",
                "metadata": {"annotations": {"note": "hi"}},
            }
        },
    )
    provisioner = template(outputs=text)
    result = plan(wl, env_with(provisioner), "cache", {})
    values = {o.name: o.source.value for o in result.outputs if isinstance(o.source, FromValue)}
    assert values == {
        "workload": "checkout/team-a-dev/payments",
        "resource": "cache/redis/dev/dev/None/hi",
        "environment": "team-a-dev/development/team-a-dev/dev.apps.acme.dev",
        "identity": result.identity,
        "shared": "false",
    }


def test_environment_without_domain() -> None:
    body = environment_dict(provisioners=[template(outputs="host: x.{{ environment.domain }}")])
    error = failure(
        template(outputs="host: x.{{ environment.domain }}"),
        env=Environment.model_validate(body),
    )
    assert error.reason == "TemplateError"
    assert error.message == (
        "provisioner tpl (type redis) cannot provision resource 'cache': outputs template, "
        "line 1: Environment team-a-dev sets no spec.routes.domain"
    )
    tested = template(
        outputs="host: {{ environment.domain if environment.domain is defined else 'local' }}"
    )
    no_domain = Environment.model_validate(environment_dict(provisioners=[tested]))
    assert plan_for(tested, env=no_domain).outputs[0].source == FromValue("local")


def test_a_shared_resource_cannot_depend_on_the_workload() -> None:
    provisioner = template(outputs="host: {{ workload.name }}")
    wl = cache_workload(id="main")
    error = failure(provisioner, wl=wl)
    assert error.message == (
        "provisioner tpl (type redis) cannot provision resource 'cache': outputs template, "
        "line 1: resource 'cache' has an id (main), so it is shared by the Environment's "
        "Workloads and its templates cannot depend on one of them: use resource.id or "
        "identity instead of workload"
    )
    named = failure(template(outputs="host: {{ resource.name }}"), wl=wl)
    assert named.message.endswith(
        "line 1: resource 'cache' has an id (main), so it is shared by the Environment's "
        "Workloads, each of which may call it differently: use resource.id or identity "
        "instead of resource.name"
    )
    ok = template(outputs="host: {{ identity }}\nshared: {{ shared }}\nid: {{ resource.id }}")
    result = plan_for(ok, wl=wl)
    assert result.shared
    assert [o.source for o in result.outputs] == [
        FromValue(result.identity),
        FromValue("main"),
        FromValue("true"),
    ]
    assert result.identity.startswith("redis-main-")


# -- manifests -------------------------------------------------------------------------------


def test_objects_get_the_namespace_and_berth_labels() -> None:
    manifests = """\
apiVersion: v1
kind: Service
metadata:
  name: {{ identity }}
  labels: {app.kubernetes.io/managed-by: someone-else, tier: cache}
---
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: "{{ identity }}-config", namespace: team-a-dev}
---
"""
    result = plan_for(template(manifests=manifests))
    assert [(m["kind"], m["metadata"]["name"]) for m in result.manifests] == [
        ("Service", result.identity),
        ("ConfigMap", f"{result.identity}-config"),
    ]
    service, config = result.manifests
    assert service["metadata"]["namespace"] == config["metadata"]["namespace"] == "team-a-dev"
    assert service["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "berth",
        "tier": "cache",
        "berth.dev/resource": result.identity,
        "berth.dev/resource-type": "redis",
        "berth.dev/workload": "checkout",
    }
    assert result.outputs == ()
    assert result.claim is None
    assert result.secret_name is None


def test_yaml_dates_stay_strings() -> None:
    result = plan_for(template(outputs="since: 2024-01-01\nat: 2024-01-01T10:00:00Z\n"))
    assert [o.source for o in result.outputs] == [
        FromValue("2024-01-01T10:00:00Z"),
        FromValue("2024-01-01"),
    ]


def test_template_secret_outputs() -> None:
    outputs = (
        "host: {{ identity }}\n"
        "password: {secretKeyRef: {name: '{{ identity }}-auth', key: password}}\n"
    )
    result = plan_for(template(outputs=outputs))
    assert [(o.name, o.secret) for o in result.outputs] == [("host", False), ("password", True)]
    assert result.output("password") is not None
    assert result.outputs[1].source == FromSecret(f"{result.identity}-auth", "password")
    values, state = outputs_from(result, None, None)
    assert state.ready
    assert values == {
        "host": result.identity,
        "password": SecretRef(f"{result.identity}-auth", "password"),
    }


def test_promised_outputs_must_be_rendered() -> None:
    provisioner = template(outputs="host: x\n")
    provisioner["outputs"] = ["host", "port", "password"]
    error = failure(provisioner)
    assert error.reason == "MissingOutput"
    assert error.message == (
        "provisioner tpl (type redis) promises outputs port, password for resource 'cache', "
        "but its outputs template did not render them (it rendered: host)"
    )


def test_promised_outputs_come_first() -> None:
    provisioner = template(outputs="b: 1\na: 2\nc: 3\n")
    provisioner["outputs"] = ["c"]
    assert [o.name for o in plan_for(provisioner).outputs] == ["c", "a", "b"]


def test_reject_refuses_params_in_the_templates_words() -> None:
    provisioner = template(
        allowedParams=["size"],
        outputs=(
            "{% if resource.params.size not in ['small', 'large'] %}"
            "{{ reject('size must be small or large, not ' ~ resource.params.size) }}"
            "{% endif %}size: {{ resource.params.size }}"
        ),
    )
    error = failure(provisioner, {"size": "huge: {{ x }}"})
    assert error.reason == "ParamInvalid"
    assert error.message == (
        "resource 'cache': provisioner tpl (type redis) rejects its params: size must be "
        "small or large, not huge: {{ x }}"
    )
    assert plan_for(provisioner, {"size": "small"}).outputs[0].source == FromValue("small")


def test_defaults_and_allowed_params() -> None:
    provisioner = template(defaults={"size": "1Gi"}, outputs="size: {{ resource.params.size }}")
    assert plan_for(provisioner).outputs[0].source == FromValue("1Gi")
    assert plan_for(provisioner, {"size": "5Gi"}).outputs[0].source == FromValue("5Gi")
    error = failure(provisioner, {"mode": "rw"})
    assert error.reason == "ParamNotAllowed"
    assert error.message == (
        "resource 'cache' sets params.mode, which provisioner tpl does not accept "
        "(it accepts: size)"
    )


# -- template errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"outputs": "a: 1\nb: {% if %}\n"},
            "outputs template, line 2: Expected an expression, got 'end of statement block'",
        ),
        (
            {"outputs": "a: 1\nb: {{ resource.params.size }}\n"},
            "outputs template, line 2: resource.params has no 'size' (it has: none)",
        ),
        (
            {"outputs": "a: {{ nothing }}\n"},
            "outputs template, line 1: 'nothing' is undefined",
        ),
        (
            {"outputs": "a: {{ workload.labels }}\n"},
            "outputs template, line 1: workload has no 'labels' (it has: annotations, name, "
            "namespace, service)",
        ),
        (
            {"outputs": "a: [1\n"},
            "outputs template rendered invalid YAML: line 2 of the rendered text: expected "
            "',' or ']', but got '<stream end>'",
        ),
        (
            {"outputs": "a: !!python/object/apply:os.system [echo]\n"},
            "outputs template rendered invalid YAML: line 1 of the rendered text: could not "
            "determine a constructor for the tag",
        ),
        ({"outputs": "- a\n"}, "outputs template must render one YAML map of output names"),
        ({"outputs": "a: 1\n---\nb: 2\n"}, "outputs template must render one YAML map"),
        (
            {"outputs": "a:\n"},
            "outputs: a is empty (null); an output is a string or a secretKeyRef",
        ),
        ({"outputs": "a: [1]\n"}, "outputs: a is a list; an output is a string or a secretKeyRef"),
        (
            {"outputs": "a: {name: x}\n"},
            "outputs: a must be a string or {secretKeyRef: {name, key}}, not a map",
        ),
        ({"outputs": "a: .nan\n"}, "outputs: a is a float"),
        ({"outputs": "80: x\n"}, "outputs: the output name 80 is not a string"),
        ({"manifests": "- just text\n"}, "manifests: object 1 is not a map"),
        ({"manifests": "- {apiVersion: v1}\n"}, "manifests: object 1 has no kind"),
        (
            {"manifests": "- {apiVersion: v1, kind: ConfigMap}\n"},
            "manifests: ConfigMap (object 1) has no metadata.name",
        ),
        (
            {"manifests": "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: x}}"},
            "manifests: ConfigMap a names namespace 'x'; objects are created in the "
            "Environment's namespace 'team-a-dev' (leave metadata.namespace out)",
        ),
        (
            {"manifests": "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a, labels: [x]}}"},
            "manifests: ConfigMap a has metadata.labels that are not a map",
        ),
        (
            {"manifests": "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {1: x}}"},
            "manifests: object 1.data has the key 1, which is not a string",
        ),
        (
            {"manifests": "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, x: .inf}"},
            "manifests: object 1.x is inf, which JSON cannot hold",
        ),
    ],
)
def test_template_errors_name_the_provisioner_and_the_line(
    fields: dict[str, Any], expected: str
) -> None:
    error = failure(template(**fields))
    assert error.reason == "TemplateError"
    assert error.problems[0].resource == "cache"
    prefix = "provisioner tpl (type redis) cannot provision resource 'cache': "
    assert error.message.startswith(prefix + expected), error.message


def test_duplicate_keys_after_substitution() -> None:
    provisioner = template(
        allowedParams=["a", "b"],
        manifests=(
            "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: x}\n"
            "  data:\n    {{ resource.params.a }}: 1\n    {{ resource.params.b }}: 2\n"
        ),
    )
    error = failure(provisioner, {"a": "same", "b": "same"})
    assert error.reason == "TemplateError"
    assert error.message.endswith("manifests: object 1.data has the key 'same' twice")
    out = failure(
        template(allowedParams=["a"], outputs="{{ resource.params.a }}: 1\nhost: 2\n"),
        {"a": "host"},
    )
    assert out.message.endswith("outputs: 'host' is given twice")


def test_sandbox_blocks_python_internals() -> None:
    error = failure(template(outputs="a: {{ ''.__class__.__mro__ }}\n"))
    assert error.reason == "TemplateError"
    assert "__class__" in error.message


def test_same_inputs_same_plan() -> None:
    provisioner = template(allowedParams=["value", "nested"], manifests=MANIFESTS, outputs=OUTPUTS)
    params = {"value": "v", "nested": {"k": "v"}}
    wl = workload(
        metadata={"annotations": {"owner": "o"}},
        resources={"cache": {"type": "redis", "params": params}},
    )
    first = plan(wl, env_with(provisioner), "cache", params)
    second = plan(wl, env_with(provisioner), "cache", params)
    assert first == second


# -- checking an Environment's provisioners ----------------------------------------------


def test_check_provisioners() -> None:
    provisioners = environment_dict(
        provisioners=[
            {"type": "redis", "template": {"outputs": "a: {% if %}"}},
            {"type": "redis", "name": "again", "template": {"outputs": "a: 1"}},
            {"type": "postgres", "crossplane": {"kind": "X"}},
            {"type": "redis", "class": "dev", "template": {"manifests": "{{ x }"}},
            {"type": "s3", "secret": {"name": "creds"}},
        ]
    )
    env = Environment.model_validate(provisioners)
    problems = check_provisioners(env.spec.provisioners)
    assert [(p.reason, p.message) for p in problems] == [
        (
            "TemplateError",
            "provisioner provisioners[0] (type redis): outputs template, line 1: Expected an "
            "expression, got 'end of statement block'",
        ),
        (
            "InvalidProvisioner",
            "provisioner again serves the same type, class and id as provisioners[0], which is "
            "listed first, so it is never used",
        ),
        (
            "InvalidProvisioner",
            "provisioner provisioners[2] (type postgres) is invalid: crossplane.apiVersion: "
            "Field required; the platform team must fix the Environment",
        ),
        (
            "TemplateError",
            "provisioner provisioners[3] (type redis): manifests template, line 1: unexpected '}'",
        ),
    ]
    assert check_provisioners(None) == []


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("v1", "Secret"), ("v1", "Namespace"), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")],
)
def test_a_template_may_not_render_secrets_or_rights(api_version: str, kind: str) -> None:
    from berth.provision.errors import TemplateFailure
    from berth.provision.template import REFUSED_KINDS, _finish_object

    assert any(k[1] == kind for k in REFUSED_KINDS)
    with pytest.raises(TemplateFailure, match=f"may not create a {kind}"):
        _finish_object(
            {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}, 0, None
        )  # type: ignore[arg-type]
