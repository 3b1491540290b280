#!/usr/bin/env python3
"""Helpers of tests/packaging/run.sh: read rendered manifests and policy files, check them.

Every subcommand prints what it found and exits non-zero with a message on a problem.

  manifests.py deployment FILE [--image-tag T] [--help-text FILE] [--lease NAME]
  manifests.py expect-kinds FILE Kind=count ...      (count of each kind; absent kinds: 0)
  manifests.py rules FILE KIND NAME-SUFFIX           normalized rule tuples, one a line
                                                     (KIND: Kind or Kind@namespace)
  manifests.py same-rules A-FILE A-KIND A-SUFFIX B-FILE B-KIND B-SUFFIX
  manifests.py namespaced FILE NS...                 Role+RoleBinding per namespace, no ClusterRole
  manifests.py nondefault FILE                       values-nondefault.yaml rendered as asked
  manifests.py drop-kind FILE KIND OUT               copy without the documents of KIND
  manifests.py argocd-embedded CM-FILE DIR           the cm snippet embeds DIR/*.lua unchanged
  manifests.py argocd-cm DIR                         print the cm snippet generated from DIR
  manifests.py iam POLICY GUARD-RS                   policy actions == guard.rs actions + allow-list
  manifests.py args FILE                             the operator container's args, one a line
  manifests.py expect-args FILE [--has ARG]... [--lacks FLAG]...
                                                     args include ARG exactly / no FLAG or FLAG=...
  manifests.py bound FILE BINDING-KIND SUFFIX ROLE-KIND SUFFIX
                                                     the binding refers to that role and binds
                                                     the Deployment's ServiceAccount
  manifests.py expect-rules FILE KIND NAME-SUFFIX GROUP:RESOURCE:NAME:VERB...
                                                     exactly these grants (GROUP empty: core;
                                                     NAME *: any)
  manifests.py rule-spec FILE OUT                    the PrometheusRule's spec as a Prometheus
                                                     rules file (for promtool)
  manifests.py dashboard FILE [--namespace NS] [--label K=V]... [--same-as JSON-FILE]
                                                     the Grafana dashboard ConfigMap: labels,
                                                     namespace, its JSON parses and is a
                                                     dashboard whose panels query our metrics
  manifests.py exposed METRICS SOURCE...             every metric name of ours that SOURCE
                                                     files mention is in the scraped METRICS
"""

import json
import os
import re
import sys

import yaml


def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def of_kind(ds, kind):
    return [d for d in ds if d.get("kind") == kind]


def one(ds, kind, name_suffix=""):
    """The one document of `kind` ("Kind" or "Kind@namespace") named *name_suffix."""
    kind, _, ns = kind.partition("@")
    found = [d for d in of_kind(ds, kind) if d["metadata"]["name"].endswith(name_suffix)
             and (not ns or d["metadata"].get("namespace") == ns)]
    if len(found) != 1:
        where = f" in {ns}" if ns else ""
        die(f"expected one {kind} named *{name_suffix}{where}, found {[d['metadata']['name'] for d in found]}")
    return found[0]


def rule_set(rules):
    """Rules as a set of (apiGroup, resource, resourceName, verb): order, grouping and
    duplicates do not matter; resourceName '*' means any."""
    out = set()
    for r in rules or []:
        for g in r.get("apiGroups", [""]):
            for res in r.get("resources", []):
                for name in r.get("resourceNames") or ["*"]:
                    for v in r.get("verbs", []):
                        out.add((g, res, name, v))
    return out


# ---------------------------------------------------------------- deployment


def operator_container(dep):
    cs = dep["spec"]["template"]["spec"]["containers"]
    if len(cs) != 1:
        die(f"expected one container in Deployment {dep['metadata']['name']}, found {len(cs)}")
    return cs[0]


def check_deployment(path, image_tag=None, help_text=None, lease=None):
    ds = docs(path)
    dep = one(ds, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = operator_container(dep)
    problems = []

    def want(cond, what):
        if not cond:
            problems.append(what)

    psc = pod.get("securityContext") or {}
    sc = c.get("securityContext") or {}
    want(psc.get("runAsNonRoot") is True or sc.get("runAsNonRoot") is True, "runAsNonRoot: true")
    want(psc.get("runAsUser", sc.get("runAsUser")) not in (None, 0), "a non-zero runAsUser")
    want(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
    want(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem: true")
    want((sc.get("capabilities") or {}).get("drop") == ["ALL"], "capabilities.drop: [ALL]")
    want(sc.get("privileged") in (None, False), "not privileged")
    seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    want(seccomp == "RuntimeDefault", "seccompProfile RuntimeDefault")
    want(bool((c.get("resources") or {}).get("requests")), "resource requests")
    want(bool((c.get("resources") or {}).get("limits")), "resource limits")

    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    want("metrics" in ports and "health" in ports, "container ports named metrics and health")
    for probe, path_ in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        want(get.get("path") == path_ and get.get("port") in ("health", ports.get("health")),
             f"{probe} GET {path_} on the health port")

    env = {e["name"]: e for e in c.get("env", [])}
    for name, field in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
        ref = ((env.get(name) or {}).get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
        want(ref == field, f"env {name} from the downward API ({field})")

    args = c.get("args") or []
    want(args[:1] == ["run"], "args starting with the subcommand run")
    # Several replicas coordinate through Leases either way: one leader, or shards.
    want("--leader-election" in args or any(a.startswith("--shards=") for a in args),
         "--leader-election or --shards=N in args")
    flag = {}
    for a in args[1:]:
        if not a.startswith("--"):
            problems.append(f"argument {a!r} is not a --flag")
            continue
        k, _, v = a.partition("=")
        flag[k] = v
    want(flag.get("--metrics-addr", "").endswith(f":{ports.get('metrics')}"),
         "--metrics-addr on the metrics container port")
    want(flag.get("--health-addr", "").endswith(f":{ports.get('health')}"),
         "--health-addr on the health container port")
    if lease is not None:
        want(flag.get("--leader-election-id") == lease, f"--leader-election-id={lease}")
    if image_tag is not None:
        want(c["image"].endswith(":" + image_tag), f"image tag {image_tag} (got {c['image']})")
    if help_text is not None:
        with open(help_text) as f:
            known = set(re.findall(r"(--[a-z0-9-]+)", f.read()))
        for k in flag:
            want(k in known, f"{k} is a flag of `ecs-operator run` (not in its --help)")
    sa = pod.get("serviceAccountName")
    want(bool(sa), "serviceAccountName")
    if problems:
        die(f"{path}: Deployment {dep['metadata']['name']} lacks: " + "; ".join(problems))
    print(f"Deployment {dep['metadata']['name']}: image {c['image']}, args {' '.join(args)}")


def print_args(path):
    c = operator_container(one(docs(path), "Deployment"))
    for a in c.get("args") or []:
        print(a)


def expect_args(path, opts):
    args = operator_container(one(docs(path), "Deployment")).get("args") or []
    problems = []
    if len(opts) % 2:
        die("expect-args: options come in pairs: --has ARG / --lacks FLAG")
    for how, what in zip(opts[0::2], opts[1::2]):
        if how == "--has":
            if what not in args:
                problems.append(f"no argument {what}")
        elif how == "--lacks":
            found = [a for a in args if a == what or a.startswith(what + "=")]
            if found:
                problems.append(f"unexpected argument {found[0]}")
        else:
            die(f"expect-args: unknown option {how}")
    if problems:
        die(f"{path}: " + "; ".join(problems) + f" (args: {' '.join(args)})")
    print(" ".join(f"{h[2:]} {w}" for h, w in zip(opts[0::2], opts[1::2])))


# ---------------------------------------------------------------- kinds / rbac


def expect_kinds(path, specs):
    ds = docs(path)
    problems = []
    for spec in specs:
        kind, _, count = spec.partition("=")
        n = len(of_kind(ds, kind))
        if n != int(count):
            problems.append(f"{kind}: {n}, want {count}")
    if problems:
        die(f"{path}: " + "; ".join(problems))
    print(", ".join(specs))


def rules_of(path, kind, suffix):
    return rule_set(one(docs(path), kind, suffix).get("rules"))


def print_rules(path, kind, suffix):
    for t in sorted(rules_of(path, kind, suffix)):
        print(" ".join(t))


def expect_rules(path, kind, suffix, grants):
    got = rules_of(path, kind, suffix)
    want = set()
    for g in grants:
        parts = g.split(":")
        if len(parts) != 4:
            die(f"expect-rules: {g!r} is not GROUP:RESOURCE:NAME:VERB")
        want.add(tuple(parts))
    if got != want:
        lines = [f"{kind} *{suffix} in {path}: grants differ from the expected ones:"]
        lines += [f"  unexpected: {':'.join(t)}" for t in sorted(got - want)]
        lines += [f"  missing:    {':'.join(t)}" for t in sorted(want - got)]
        die("\n".join(lines))
    print(f"{kind} *{suffix}: exactly {', '.join(sorted(grants))}")


def bound(path, binding_kind, binding_suffix, role_kind, role_suffix):
    ds = docs(path)
    b = one(ds, binding_kind, binding_suffix)
    r = one(ds, role_kind, role_suffix)
    dep = one(ds, "Deployment")
    sa = dep["spec"]["template"]["spec"].get("serviceAccountName")
    ns = dep["metadata"].get("namespace")
    problems = []
    ref = b.get("roleRef") or {}
    if (ref.get("apiGroup"), ref.get("kind"), ref.get("name")) != (
            "rbac.authorization.k8s.io", r["kind"], r["metadata"]["name"]):
        problems.append(f"roleRef {ref} is not {r['kind']} {r['metadata']['name']}")
    if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa and s.get("namespace") == ns
               for s in b.get("subjects") or []):
        problems.append(f"no subject ServiceAccount {ns}/{sa} (the Deployment's)")
    if problems:
        die(f"{path}: {binding_kind} {b['metadata']['name']}: " + "; ".join(problems))
    print(f"{binding_kind} {b['metadata']['name']} binds {r['kind']} {r['metadata']['name']} to {ns}/{sa}")


def same_rules(a, b):
    ra, rb = rules_of(*a), rules_of(*b)
    if ra != rb:
        lines = [f"{a[1]} *{a[2]} in {a[0]} and {b[1]} *{b[2]} in {b[0]} differ:"]
        lines += [f"  only in the first:  {' '.join(t)}" for t in sorted(ra - rb)]
        lines += [f"  only in the second: {' '.join(t)}" for t in sorted(rb - ra)]
        die("\n".join(lines))
    print(f"{len(ra)} (apiGroup, resource, name, verb) grants, equal")


def namespaced(path, namespaces):
    ds = docs(path)
    if of_kind(ds, "ClusterRole") or of_kind(ds, "ClusterRoleBinding"):
        die("watchNamespaces is set but the chart renders a ClusterRole/ClusterRoleBinding")
    manager = [d for d in of_kind(ds, "Role") if d["metadata"]["name"].endswith("-manager")]
    bindings = [d for d in of_kind(ds, "RoleBinding") if d["metadata"]["name"].endswith("-manager")]
    got = sorted(d["metadata"]["namespace"] for d in manager)
    if got != sorted(namespaces) or sorted(d["metadata"]["namespace"] for d in bindings) != sorted(namespaces):
        die(f"manager Roles/RoleBindings in {got}, want one each in {sorted(namespaces)}")
    rules = {frozenset(rule_set(d["rules"])) for d in manager}
    if len(rules) != 1:
        die("the per-namespace Roles do not all have the same rules")
    print(f"Role + RoleBinding in {', '.join(got)}")


def nondefault(path):
    ds = docs(path)
    dep = one(ds, "Deployment")
    c = operator_container(dep)
    problems = []
    if dep["spec"]["replicas"] != 2:
        problems.append("replicas 2")
    if "strategy" in dep["spec"]:
        problems.append("no Recreate strategy with leader election")
    pdb = one(ds, "PodDisruptionBudget")
    if pdb["spec"]["selector"]["matchLabels"] != dep["spec"]["selector"]["matchLabels"]:
        problems.append("PDB selecting the Deployment's pods")
    sm = one(ds, "ServiceMonitor")
    if sm["apiVersion"] != "monitoring.coreos.com/v1" or sm["spec"]["endpoints"][0]["port"] != "metrics":
        problems.append("ServiceMonitor monitoring.coreos.com/v1 on port metrics")
    svc = one(ds, "Service", "-metrics")
    if svc["spec"]["selector"] != dep["spec"]["selector"]["matchLabels"]:
        problems.append("metrics Service selecting the Deployment's pods")
    sa = one(ds, "ServiceAccount")
    if (sa["metadata"].get("annotations") or {}).get("eks.amazonaws.com/role-arn") is None:
        problems.append("ServiceAccount annotation eks.amazonaws.com/role-arn")
    if dep["spec"]["template"]["spec"]["serviceAccountName"] != sa["metadata"]["name"]:
        problems.append("Deployment using the ServiceAccount")
    if not any(e["name"] == "AWS_STS_REGIONAL_ENDPOINTS" for e in c.get("env", [])):
        problems.append("extraEnv")
    if (dep["spec"]["template"]["metadata"].get("annotations") or {}).get("example.com/scrape") != "true":
        problems.append("podAnnotations")
    for a in ("--region=eu-west-1", "--aws-endpoint-url=http://moto.test.svc:5000",
              "--cluster-id=mgmt-eu-1", "--log-format=text", "--resync-period=90s",
              "--concurrency=8", "--leader-election-id=ecs-operator-eu-1",
              "--lease-duration=30s", "--renew-deadline=20s", "--retry-period=4s"):
        if a not in c["args"]:
            problems.append(a)
    if c["image"] != "registry.example.com/platform/ecs-operator:0.1.0-test":
        problems.append("image repository:tag from values")
    lease = one(ds, "Role", "-leader-election")
    if ("coordination.k8s.io", "leases", "ecs-operator-eu-1", "update") not in rule_set(lease["rules"]):
        problems.append("leader election Role on the Lease ecs-operator-eu-1")
    pr = one(ds, "PrometheusRule")
    if pr["metadata"]["labels"].get("release") != "prometheus":
        problems.append("PrometheusRule label release: prometheus")
    rules = {r["alert"]: r for g in pr["spec"]["groups"] for r in g["rules"]}
    selector = 'job="ecs-operator-eu",namespace="platform"'
    for name, r in rules.items():
        if selector not in r["expr"] or "-metrics" in r["expr"]:
            problems.append(f"{name}: the selector {selector} in every query")
        if r.get("labels") != {"severity": "critical", "team": "platform"}:
            problems.append(f"{name}: alertLabels severity critical, team platform")
    for name, text, want_for in (
        ("EcsOperatorReconcileQueueGrowing", "> 100", "30m"),
        ("EcsOperatorReconcileErrorsHigh", "> 0.25", "1h"),
        ("EcsOperatorDriftCorrectedRepeatedly", "> 12", "0m"),
        ("EcsOperatorObjectsStalled", "> 0", "5m"),
        ("EcsOperatorAwsThrottling", "> 0", "30m"),
    ):
        r = rules.get(name)
        if r is None or text not in r["expr"] or r.get("for") != want_for:
            problems.append(f"{name}: {text!r} and for {want_for} from values")
    cm = one(ds, "ConfigMap", "-dashboard")
    if cm["metadata"]["labels"].get("grafana_dashboard") != "1" or cm["metadata"]["labels"].get("team") != "platform":
        problems.append("dashboard ConfigMap labels grafana_dashboard: 1, team: platform")
    if (cm["metadata"].get("annotations") or {}).get("grafana_folder") != "Operators":
        problems.append("dashboard ConfigMap annotation grafana_folder")
    if problems:
        die(f"{path}: missing: " + "; ".join(problems))
    print("replicas 2 + PDB, ServiceMonitor, PrometheusRule, dashboard, IRSA annotation, extraEnv, flags from values")


# ---------------------------------------------------------------- monitoring

# Our metric names: the operator's own, and controller-runtime's it exposes too.
METRIC_NAME = re.compile(r"\b(?:ecs_operator|controller_runtime|workqueue)_[a-z0-9_]*[a-z0-9]")


def rule_spec(path, out):
    pr = one(docs(path), "PrometheusRule")
    if pr["apiVersion"] != "monitoring.coreos.com/v1":
        die(f"PrometheusRule apiVersion {pr['apiVersion']}, want monitoring.coreos.com/v1")
    spec = pr["spec"]
    with open(out, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
    alerts = [r["alert"] for g in spec["groups"] for r in g["rules"] if "alert" in r]
    print(f"{len(spec['groups'])} group(s), alerts: {', '.join(alerts)}")


DASHBOARD_KEY = "ecs-operator.json"


def dashboard(path, namespace=None, labels=(), same_as=None):
    cm = one(docs(path), "ConfigMap", "-dashboard")
    meta = cm["metadata"]
    problems = []
    for kv in labels:
        k, _, v = kv.partition("=")
        if (meta.get("labels") or {}).get(k) != v:
            problems.append(f"label {k}={v!r} (has {meta.get('labels')})")
    if namespace and meta.get("namespace") != namespace:
        problems.append(f"namespace {namespace} (has {meta.get('namespace')})")
    text = (cm.get("data") or {}).get(DASHBOARD_KEY)
    if text is None:
        die(f"ConfigMap {meta['name']} has no data key {DASHBOARD_KEY}")
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        die(f"{DASHBOARD_KEY} in ConfigMap {meta['name']} is not JSON: {e}")
    if same_as:
        with open(same_as) as f:
            if json.load(f) != d:
                problems.append(f"the JSON of {same_as} unchanged")
    for key in ("uid", "title", "panels", "schemaVersion"):
        if key not in d:
            problems.append(f"dashboard key {key}")
    ids, exprs = set(), []
    panels = [p for p in d.get("panels", []) if p.get("type") != "row"]
    for p in d.get("panels", []):
        if p.get("id") in ids:
            problems.append(f"duplicate panel id {p.get('id')}")
        ids.add(p.get("id"))
        g = p.get("gridPos") or {}
        if g.get("x", 0) + g.get("w", 0) > 24:
            problems.append(f"panel {p.get('title')!r} wider than the grid")
    for p in panels:
        targets = p.get("targets") or []
        if not targets or not all(t.get("expr") for t in targets):
            problems.append(f"panel {p.get('title')!r} without a query")
        if (p.get("datasource") or {}).get("uid") != "${datasource}":
            problems.append(f"panel {p.get('title')!r} not on the $datasource variable")
        exprs += [t.get("expr", "") for t in targets]
    variables = {v.get("name") for v in d.get("templating", {}).get("list", [])}
    for v in ("datasource", "job"):
        if v not in variables:
            problems.append(f"variable ${v}")
    names = sorted({n for e in exprs for n in METRIC_NAME.findall(e)})
    if len(names) < 5:
        problems.append(f"queries of our metrics (found {names})")
    if problems:
        die(f"{path}: dashboard: " + "; ".join(problems))
    print(f"{len(panels)} panels, {len(exprs)} queries of {len(names)} metrics: {' '.join(names)}")


# Families whose series are created by their first event (the label values are not known
# before), so a scrape of a fresh operator cannot show them; the Rust unit test
# `every_family_is_exposed_under_its_name` checks their names instead.
APPEAR_WITH_FIRST_EVENT = {
    "ecs_operator_drift_corrections_total": "one series per kind, resource and field, from the first correction",
}


def exposed_names(metrics_text):
    """Names a scrape exposes: sample names, and histogram family names."""
    names = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            if kind.strip() == "histogram":
                names.add(name)
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def exposed(metrics_path, sources):
    with open(metrics_path) as f:
        have = exposed_names(f.read()) | set(APPEAR_WITH_FIRST_EVENT)
    problems, total = [], set()
    for src in sources:
        with open(src) as f:
            text = f.read()
        if src.endswith((".yaml", ".yml")) and "kind: ConfigMap" in text:
            # A rendered dashboard ConfigMap: its JSON.
            text = "\n".join(
                d["data"][DASHBOARD_KEY] for d in yaml.safe_load_all(text)
                if d and d.get("kind") == "ConfigMap" and DASHBOARD_KEY in (d.get("data") or {}))
        want = set(METRIC_NAME.findall(text))
        total |= want
        missing = sorted(want - have)
        if missing:
            problems.append(f"{src}: {' '.join(missing)}")
    if problems:
        die("queried but not exposed by the operator:\n  " + "\n  ".join(problems))
    print(f"{len(total)} metric names queried, all exposed")


def drop_kind(path, kind, out):
    kept = [d for d in docs(path) if d.get("kind") != kind]
    with open(out, "w") as f:
        yaml.safe_dump_all(kept, f, sort_keys=False)
    print(f"{len(kept)} documents kept")


# ---------------------------------------------------------------- argo cd

KINDS = ("EcsCluster", "EcsTaskDef", "EcsService")
CM_HEADER = """\
# Argo CD health checks of the ecs-operator kinds. Merge into argocd-cm, e.g.
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file config/argocd/argocd-cm-patch.yaml
# or list it under `patches:` of the kustomization that installs Argo CD.
# The scripts are the .lua files next to this one (tests/packaging/run.sh checks that
# they are embedded unchanged and runs them with lua5.1 against sample objects;
# `tests/packaging/run.sh --sync` rewrites this file from them).
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
"""


def argocd_cm(d):
    out = CM_HEADER
    for k in KINDS:
        out += f"  resource.customizations.health.ecsoperator.io_{k}: |\n"
        with open(os.path.join(d, f"ecsoperator.io_{k}.lua")) as f:
            for line in f.read().splitlines():
                out += ("    " + line).rstrip() + "\n"
    return out


def argocd_embedded(cm_file, d):
    cm = docs(cm_file)
    if len(cm) != 1 or cm[0].get("kind") != "ConfigMap" or cm[0]["metadata"]["name"] != "argocd-cm":
        die(f"{cm_file}: expected one ConfigMap argocd-cm")
    data = cm[0].get("data") or {}
    want = {f"resource.customizations.health.ecsoperator.io_{k}" for k in KINDS}
    if set(data) != want:
        die(f"{cm_file}: keys {sorted(data)}, want {sorted(want)}")
    for k in KINDS:
        with open(os.path.join(d, f"ecsoperator.io_{k}.lua")) as f:
            if data[f"resource.customizations.health.ecsoperator.io_{k}"] != f.read():
                die(f"{cm_file}: the script for {k} differs from ecsoperator.io_{k}.lua "
                    "(run tests/packaging/run.sh --sync)")
    print(f"{len(KINDS)} scripts embedded unchanged")


# ---------------------------------------------------------------- iam

# Actions the policy may hold beyond the operations in src/aws/guard.rs: permissions AWS
# checks on the operator's calls (not calls of their own). Each with its reason.
IAM_ALLOWED_EXTRA = {
    # CreateService/UpdateService with `role` (the ECS service role for a classic ELB),
    # RegisterTaskDefinition with taskRoleArn/executionRoleArn, and CreateAutoScalingGroup
    # with a launch template whose instance profile carries a role: all pass a role.
    "iam:PassRole": "pass the ECS service role, task/execution roles and the instance profile's role",
    # CreateAutoScalingGroup/UpdateAutoScalingGroup with a launch template are authorized
    # as if the caller launched the instances itself.
    "ec2:RunInstances": "checked by Auto Scaling when a group is created/updated with a launch template",
    # The default imageId is resolve:ssm:/aws/service/ecs/optimized-ami/...: whoever
    # creates a launch template version or an Auto Scaling group with it must be able
    # to read the parameter.
    "ssm:GetParameters": "resolve:ssm: AMI ids in launch templates",
    # The first ECS cluster, Auto Scaling group or ELB of an account creates the service's
    # service-linked role (AWSServiceRoleForECS / ...AutoScaling / ...ElasticLoadBalancing).
    "iam:CreateServiceLinkedRole": "service-linked roles of ECS, Auto Scaling, ELB and Application Auto Scaling on first use",
    # PutScalingPolicy of a target tracking policy creates (and DeleteScalingPolicy /
    # DeregisterScalableTarget delete) its CloudWatch alarms as the caller: Application
    # Auto Scaling's documented permissions for target tracking.
    "cloudwatch:PutMetricAlarm": "alarms of target tracking policies, created as the caller",
    "cloudwatch:DescribeAlarms": "alarms of target tracking policies, checked as the caller",
    "cloudwatch:DeleteAlarms": "alarms of target tracking policies, deleted as the caller",
}


def iam(policy_file, guard_rs):
    with open(policy_file) as f:
        policy = json.load(f)
    problems = []
    if policy.get("Version") != "2012-10-17":
        problems.append('Version must be "2012-10-17"')
    actions = set()
    sids = set()
    for st in policy.get("Statement", []):
        if st.get("Effect") != "Allow":
            problems.append(f"statement {st.get('Sid')}: Effect must be Allow")
        if st.get("Sid") in sids:
            problems.append(f"duplicate Sid {st.get('Sid')}")
        sids.add(st.get("Sid"))
        a = st.get("Action", [])
        for x in [a] if isinstance(a, str) else a:
            if "*" in x or "?" in x:
                problems.append(f"wildcard action {x}")
            actions.add(x)
        if "NotAction" in st or "NotResource" in st:
            problems.append(f"statement {st.get('Sid')}: NotAction/NotResource")
    with open(guard_rs) as f:
        called = set(re.findall(r'"([a-z][a-z0-9-]*:[A-Z][A-Za-z0-9]+)"', f.read()))
    if not called:
        problems.append(f"no \"service:Operation\" strings found in {guard_rs}")
    missing = called - actions
    extra = actions - called - set(IAM_ALLOWED_EXTRA)
    for x in sorted(missing):
        problems.append(f"{x} is called (src/aws/guard.rs) but not allowed by the policy")
    for x in sorted(extra):
        problems.append(f"{x} is allowed but never called and not in the allow-list of manifests.py")
    if problems:
        die(f"{policy_file}:\n  " + "\n  ".join(problems))
    used_extra = sorted(actions & set(IAM_ALLOWED_EXTRA))
    print(f"{len(called)} called actions allowed; extras: {', '.join(used_extra)}")


def main(argv):
    if len(argv) < 2:
        die(__doc__)
    cmd, a = argv[1], argv[2:]
    if cmd == "deployment":
        path, opts = a[0], dict(zip(a[1::2], a[2::2]))
        check_deployment(path, opts.get("--image-tag"), opts.get("--help-text"), opts.get("--lease"))
    elif cmd == "args":
        print_args(a[0])
    elif cmd == "expect-args":
        expect_args(a[0], a[1:])
    elif cmd == "bound":
        bound(*a)
    elif cmd == "expect-rules":
        expect_rules(a[0], a[1], a[2], a[3:])
    elif cmd == "expect-kinds":
        expect_kinds(a[0], a[1:])
    elif cmd == "rules":
        print_rules(*a)
    elif cmd == "same-rules":
        same_rules(a[0:3], a[3:6])
    elif cmd == "namespaced":
        namespaced(a[0], a[1:])
    elif cmd == "nondefault":
        nondefault(a[0])
    elif cmd == "drop-kind":
        drop_kind(*a)
    elif cmd == "argocd-embedded":
        argocd_embedded(*a)
    elif cmd == "argocd-cm":
        sys.stdout.write(argocd_cm(a[0]))
    elif cmd == "iam":
        iam(*a)
    elif cmd == "rule-spec":
        rule_spec(*a)
    elif cmd == "dashboard":
        opts = a[1:]
        ns = same_as = None
        labels = []
        while opts:
            flag, value, opts = opts[0], opts[1], opts[2:]
            if flag == "--namespace":
                ns = value
            elif flag == "--label":
                labels.append(value)
            elif flag == "--same-as":
                same_as = value
            else:
                die(f"dashboard: unknown option {flag}")
        dashboard(a[0], ns, labels, same_as)
    elif cmd == "exposed":
        exposed(a[0], a[1:])
    else:
        die(f"unknown command {cmd}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv)
