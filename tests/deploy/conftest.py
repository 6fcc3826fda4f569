"""Shared helpers of the deployment tests: rendering deploy/ and reading what was rendered.

Rendering runs the command in $SPEEDLAYER_KUSTOMIZE_CMD (tests/deploy/run.sh sets it to the
pinned kustomize, or `kubectl kustomize`) on each variant's directory.
"""

import copy
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

# Every variant a user can apply: name -> kustomization directory.
VARIANTS = {
    "base": REPO / "deploy" / "base",
    "external": REPO / "deploy" / "overlays" / "external",
    "admin": REPO / "deploy" / "overlays" / "admin",
    "dev": REPO / "deploy" / "overlays" / "dev",
}
# Kustomizations applied besides a variant (not a whole pipeline): name -> directory.
EXTRAS = {
    "monitoring": REPO / "deploy" / "monitoring",
}
# One-off manifests applied with `kubectl apply -f` (deploy/tools).
TOOLS_DIR = REPO / "deploy" / "tools"

# What each variant is sized for. The laptop profile (deploy/overlays/dev) has one dual-role
# KRaft node, so replication 1; every other variant is the production layout of the base.
PRODUCTION = {"brokers": 3, "replication": 3, "min_isr": 2, "serve_replicas": 2,
              "cruise_control": True, "kafka_exporter": True}
PROFILES = {"dev": {"brokers": 1, "replication": 1, "min_isr": 1, "serve_replicas": 1,
                    "cruise_control": False, "kafka_exporter": False}}


def profile(variant):
    return PROFILES.get(variant, PRODUCTION)

STRIMZI_GROUP = "kafka.strimzi.io"
STRIMZI_API = "kafka.strimzi.io/v1"
STRIMZI_SCHEMA_FILES = {
    "Kafka": "kafka_v1.json",
    "KafkaNodePool": "kafkanodepool_v1.json",
    "KafkaTopic": "kafkatopic_v1.json",
    "KafkaUser": "kafkauser_v1.json",
}
NAMESPACE = "kafka"
CLUSTER = "my-cluster"
# The label of the namespace whose pods (Prometheus) may reach serve (network-policies.yaml).
MONITORING_LABEL = ("speedlayer.io/monitoring", "true")

_rendered = {}


def kustomize_cmd():
    cmd = os.environ.get("SPEEDLAYER_KUSTOMIZE_CMD")
    if not cmd:
        pytest.fail("SPEEDLAYER_KUSTOMIZE_CMD is not set: run these tests with tests/deploy/run.sh "
                    "(or ctest -R deploy_), which installs kustomize and sets it", pytrace=False)
    return shlex.split(cmd)


def render_dir(path):
    """kustomize build PATH -> list of documents (dicts)."""
    proc = subprocess.run(kustomize_cmd() + [str(path)], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        raise AssertionError("rendering %s failed (exit %d):\n%s"
                             % (path, proc.returncode, proc.stderr[-4000:]))
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d is not None]
    if not docs:
        raise AssertionError("rendering %s produced no objects" % path)
    return docs


def render(variant):
    """The rendered documents of a variant or of an extra kustomization (EXTRAS), rendered
    once per session; callers get a copy."""
    if variant not in _rendered:
        _rendered[variant] = render_dir(VARIANTS.get(variant) or EXTRAS[variant])
    return copy.deepcopy(_rendered[variant])


def load_tools():
    """file name -> documents of each deploy/tools/*.yaml (applied as written, with -f)."""
    out = {}
    for f in sorted(TOOLS_DIR.glob("*.yaml")):
        out[f.name] = [d for d in yaml.safe_load_all(f.read_text()) if d is not None]
    return out


def strimzi_schema_dir():
    """../shared/schemas/strimzi-v1 beside the repository, or $SPEEDLAYER_STRIMZI_SCHEMAS."""
    d = Path(os.environ.get("SPEEDLAYER_STRIMZI_SCHEMAS")
             or REPO.parent / "shared" / "schemas" / "strimzi-v1")
    missing = [f for f in STRIMZI_SCHEMA_FILES.values() if not (d / f).is_file()]
    if missing:
        pytest.fail("Strimzi v1 JSON schemas not found in %s (missing %s): put shared/ beside the "
                    "repository or set SPEEDLAYER_STRIMZI_SCHEMAS" % (d, ", ".join(missing)),
                    pytrace=False)
    return d


# ----------------------------------------------------------------------------------------
# Reading rendered objects


def is_strimzi(doc):
    return str(doc.get("apiVersion", "")).split("/")[0] == STRIMZI_GROUP


def of_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind, name=None):
    found = [d for d in of_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, "expected one %s%s, found %d" % (
        kind, " named " + name if name else "", len(found))
    return found[0]


def pod_specs(docs):
    """(workload name, pod spec) of every object that runs pods."""
    out = []
    for d in docs:
        kind = d.get("kind")
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            out.append((d["metadata"]["name"], d["spec"]["template"]["spec"]))
        elif kind == "CronJob":
            out.append((d["metadata"]["name"], d["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
        elif kind == "Pod":
            out.append((d["metadata"]["name"], d["spec"]))
    return out


def containers(spec):
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def env_of(container):
    """name -> value of the literal env entries (valueFrom entries map to None)."""
    return {e["name"]: e.get("value") for e in container.get("env") or []}


def deployment_container(docs, name):
    dep = one(docs, "Deployment", name)
    spec = dep["spec"]["template"]["spec"]
    assert len(spec["containers"]) == 1, "%s: expected one container" % name
    return dep, spec, spec["containers"][0]


def flag_values(args, flag):
    """Every value of --flag in an argument list (both `--flag v` and `--flag=v`)."""
    out = []
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            out.append(args[i + 1])
        elif a.startswith(flag + "="):
            out.append(a.split("=", 1)[1])
    return out


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")


def seconds(text):
    m = _DURATION.match(str(text).strip())
    assert m, "cannot read duration %r" % text
    return float(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")


def quantity(text):
    """A Kubernetes quantity (cpu or memory) as a number (cores or bytes)."""
    m = _QUANTITY.match(str(text).strip())
    assert m, "cannot read quantity %r" % text
    mult = {None: 1, "m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}[m.group(2)]
    return float(m.group(1)) * mult


def mount_for(container, spec, path):
    """(volumeMount, volume) whose mountPath contains path, or (None, None)."""
    best = (None, None)
    for vm in container.get("volumeMounts") or []:
        mp = vm["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best[0] is None or len(mp) > len(best[0]["mountPath"].rstrip("/")):
                vol = next((v for v in spec.get("volumes") or [] if v["name"] == vm["name"]), None)
                best = (vm, vol)
    return best


def file_in_volume(volume, mount, path):
    """The key of a configMap/secret volume that `path` (under mount) names, or None."""
    rel = path[len(mount["mountPath"].rstrip("/")) + 1:]
    src = volume.get("configMap") or volume.get("secret") or {}
    items = src.get("items")
    if items:
        for it in items:
            if it["path"] == rel:
                return it["key"]
        return None
    return rel


# ----------------------------------------------------------------------------------------
# Node pools


def parse_node_ids(annotation):
    """strimzi.io/next-node-ids value ("[0-99]", "[5, 8, 10-15]") -> list of ids, in order."""
    text = annotation.strip()
    assert text.startswith("[") and text.endswith("]"), "bad node id list %r" % annotation
    ids = []
    for part in text[1:-1].split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            ids.extend(range(a, b + 1) if a <= b else range(a, b - 1, -1))
        else:
            assert part.isdigit(), "bad node id %r in %r" % (part, annotation)
            ids.append(int(part))
    return ids


def pool_node_ids(docs):
    """pool name -> (roles, the node ids a new cluster gives it): the first `replicas` ids of
    its strimzi.io/next-node-ids, as Strimzi assigns the lowest free id of the range."""
    out = {}
    taken = set()
    for pool in of_kind(docs, "KafkaNodePool"):
        ann = (pool["metadata"].get("annotations") or {}).get("strimzi.io/next-node-ids")
        assert ann, "KafkaNodePool %s has no strimzi.io/next-node-ids annotation: its node ids " \
                    "cannot be known in advance" % pool["metadata"]["name"]
        free = [i for i in parse_node_ids(ann) if i not in taken]
        n = pool["spec"]["replicas"]
        assert len(free) >= n, "KafkaNodePool %s: range %s has fewer than %d free ids" % (
            pool["metadata"]["name"], ann, n)
        ids = free[:n]
        taken.update(ids)
        out[pool["metadata"]["name"]] = (list(pool["spec"]["roles"]), ids)
    return out


def broker_ids(docs):
    return sorted(i for roles, ids in pool_node_ids(docs).values() if "broker" in roles for i in ids)


# ----------------------------------------------------------------------------------------
# Pods Strimzi runs (to evaluate NetworkPolicies against)


def strimzi_pod_labels(docs):
    """(description, labels) of the pods the Cluster Operator makes for the rendered Kafka:
    one per KafkaNodePool (its brokers or controllers; the labels of KafkaPool.java and
    KafkaCluster.java at strimzi-kafka-operator 8541da1: strimzi.io/cluster, kind, name
    <cluster>-kafka, pool-name, broker-role, controller-role), the entity operator and the
    Cluster Operator itself. Strimzi's bootstrap Service selects cluster, name, kind and
    broker-role "true"."""
    kafka = one(docs, "Kafka")
    cluster = kafka["metadata"]["name"]
    out = []
    for pool in of_kind(docs, "KafkaNodePool"):
        roles = pool["spec"]["roles"]
        out.append(("KafkaNodePool %s pod (%s)" % (pool["metadata"]["name"], ", ".join(roles)), {
            "strimzi.io/cluster": cluster,
            "strimzi.io/kind": "Kafka",
            "strimzi.io/name": "%s-kafka" % cluster,
            "strimzi.io/component-type": "kafka",
            "strimzi.io/pool-name": pool["metadata"]["name"],
            "strimzi.io/broker-role": "true" if "broker" in roles else "false",
            "strimzi.io/controller-role": "true" if "controller" in roles else "false",
            "app.kubernetes.io/name": "kafka",
            "app.kubernetes.io/instance": cluster,
        }))
    spec = kafka["spec"]
    if "cruiseControl" in spec:
        out.append(("Cruise Control pod", {
            "strimzi.io/cluster": cluster, "strimzi.io/kind": "Kafka",
            "strimzi.io/name": "%s-cruise-control" % cluster,
            "strimzi.io/component-type": "cruise-control"}))
    if "kafkaExporter" in spec:
        out.append(("Kafka Exporter pod", {
            "strimzi.io/cluster": cluster, "strimzi.io/kind": "Kafka",
            "strimzi.io/name": "%s-kafka-exporter" % cluster,
            "strimzi.io/component-type": "kafka-exporter"}))
    out.append(("entity operator pod", {
        "strimzi.io/cluster": cluster, "strimzi.io/kind": "Kafka",
        "strimzi.io/name": "%s-entity-operator" % cluster,
        "strimzi.io/component-type": "entity-operator"}))
    out.append(("Strimzi cluster operator pod", {
        "strimzi.io/kind": "cluster-operator", "name": "strimzi-cluster-operator"}))
    return out


def is_broker_pod(labels):
    return labels.get("strimzi.io/component-type") == "kafka" and \
        labels.get("strimzi.io/broker-role") == "true"
