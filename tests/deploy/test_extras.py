"""Offline checks of what is applied besides a variant (CTest: deploy_manifests):

- deploy/tools/*.yaml, the one-off pods and the KafkaRebalance a person applies with -f: valid,
  hardened like the Deployments, and wired to users, listeners and ACLs that exist;
- deploy/monitoring: the PodMonitors select the pods and ports that serve /metrics, and the
  Grafana dashboard queries only metric names that exist (speedlayer's from the /metrics of a
  running `speedlayer demo`, Kafka's from the JMX exporter rules and Kafka Exporter);
- the dev overlay fits a laptop cluster (4 CPU, 8 GiB) with room for Kubernetes itself;
- every `speedlayer` command line in the manifests uses only flags its --help lists.
"""

import json
import os
import py_compile
import re
import signal
import socket
import subprocess
import time
import urllib.request

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import (CLUSTER, NAMESPACE, REPO, VARIANTS, containers, env_of, file_in_volume,
                      flag_values, load_tools, mount_for, of_kind, one, pod_specs, pool_node_ids,
                      quantity, render, strimzi_pod_labels)
from test_manifests import (K8S_VERSIONS, SERVE, acl_allows, check_images,
                            check_resources, check_security_context, selector_matches,
                            topic_names, xprops)

SPEEDLAYER_SUBCOMMANDS = ("produce", "consume", "serve", "doctor", "demo")


def speedlayer_bin():
    b = os.environ.get("SPEEDLAYER_BIN") or str(REPO / "build" / "src" / "app" / "speedlayer")
    if not os.access(b, os.X_OK):
        pytest.fail("speedlayer executable not found at %s: build it or set SPEEDLAYER_BIN" % b,
                    pytrace=False)
    return b


_help = {}


def help_flags(cmd):
    """The flags `speedlayer CMD --help` lists (long and short)."""
    if cmd not in _help:
        proc = subprocess.run([speedlayer_bin(), cmd, "--help"], capture_output=True, text=True,
                              timeout=30)
        assert proc.returncode == 0, "speedlayer %s --help failed: %s" % (cmd, proc.stderr)
        flags = set()
        for line in proc.stdout.splitlines():
            m = re.match(r"^\s+((?:-\w,)?--?[\w-]+(?:,--?[\w-]+)*)", line)
            if m:
                flags.update(m.group(1).split(","))
        _help[cmd] = flags
    return _help[cmd]


def unknown_flags(args):
    """Flags of a speedlayer argument list (subcommand first) that its --help does not list."""
    args = [str(a) for a in args]
    if not args or args[0] not in SPEEDLAYER_SUBCOMMANDS:
        return ["unknown subcommand %r" % (args[0] if args else "")]
    known = help_flags(args[0])
    out = []
    for a in args[1:]:
        if a.startswith("-") and not re.match(r"^-?\d", a):
            flag = a.split("=", 1)[0]
            if flag.startswith("-X") and flag != "-X":
                flag = "-X"
            if flag not in known:
                out.append(flag)
    return out


# ----------------------------------------------------------------------------------------
# Every speedlayer command line in the manifests


def speedlayer_containers():
    """(where, args) of every container that runs the speedlayer image, in every variant and
    in deploy/tools."""
    out = []
    sources = [(v, render(v)) for v in VARIANTS] + list(load_tools().items())
    for where, docs in sources:
        for name, spec in pod_specs(docs):
            for c in containers(spec):
                if c.get("image", "").split("/")[-1].split(":")[0] == "speedlayer":
                    out.append(("%s %s/%s" % (where, name, c["name"]), c.get("args") or []))
    return out


def test_manifest_command_lines_use_only_known_flags():
    found = speedlayer_containers()
    assert len(found) >= 2 * len(VARIANTS) + 1
    problems = ["%s: %s" % (w, ", ".join(unknown_flags(a))) for w, a in found if unknown_flags(a)]
    assert not problems, "flags `speedlayer <cmd> --help` does not list:\n" + "\n".join(problems)


def test_flag_check_catches_an_unknown_flag():
    assert unknown_flags(["produce", "--generate", "--rate", "100", "-X", "a=b"]) == []
    assert unknown_flags(["produce", "--generate", "--dead-letter-topicc", "x"])
    assert unknown_flags(["serve", "--listen=0.0.0.0:1", "--no-such-flag"]) == ["--no-such-flag"]
    assert unknown_flags(["produces"])


# ----------------------------------------------------------------------------------------
# deploy/tools

def tools_docs():
    return [d for docs in load_tools().values() for d in docs]


def test_tools_exist_and_are_in_namespace_kafka():
    tools = load_tools()
    assert set(tools) >= {"consume.yaml", "python-producer.yaml", "rebalance-add-brokers.yaml"}
    for f, docs in tools.items():
        for d in docs:
            assert d["metadata"].get("namespace") == NAMESPACE, "%s: %s/%s not in namespace %s" % (
                f, d["kind"], d["metadata"]["name"], NAMESPACE)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_tools_core_objects_valid(version):
    for d in tools_docs():
        if d["apiVersion"].startswith("kafka.strimzi.io"):
            continue
        kubernetes_validate.validate(d, version, strict=True)


# KafkaRebalance has no schema in ../shared/schemas: the fields of its v1 CRD at Strimzi 1.0.1
# (049-Crd-kafkarebalance.yaml) that a rebalance of added or removed brokers uses.
KAFKA_REBALANCE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1"},
        "kind": {"const": "KafkaRebalance"},
        "metadata": {"type": "object", "required": ["name", "labels"]},
        "spec": {
            "type": "object", "additionalProperties": False, "required": ["mode"],
            "properties": {
                "mode": {"enum": ["full", "add-brokers", "remove-brokers", "remove-disks"]},
                "brokers": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
                "goals": {"type": "array", "items": {"type": "string"}},
                "skipHardGoalCheck": {"type": "boolean"},
                "excludedTopics": {"type": "string"},
                "concurrentPartitionMovementsPerBroker": {"type": "integer", "minimum": 0},
                "concurrentLeaderMovements": {"type": "integer", "minimum": 0},
                "replicationThrottle": {"type": "integer", "minimum": 0},
            },
        },
    },
}


def rebalance_problems(rb, base):
    problems = list(e.message for e in jsonschema.Draft7Validator(KAFKA_REBALANCE_SCHEMA).iter_errors(rb))
    if problems:
        return problems
    if rb["metadata"]["labels"].get("strimzi.io/cluster") != CLUSTER:
        problems.append("KafkaRebalance without label strimzi.io/cluster: %s" % CLUSTER)
    if "cruiseControl" not in one(base, "Kafka")["spec"]:
        problems.append("the base has no Cruise Control to run a KafkaRebalance")
    if rb["spec"]["mode"] in ("add-brokers", "remove-brokers"):
        if not rb["spec"].get("brokers"):
            problems.append("mode %s without brokers" % rb["spec"]["mode"])
    if rb["spec"]["mode"] == "add-brokers":
        # The broker a scale from 3 to 4 adds: the next free id of the broker pool's range.
        pools = pool_node_ids(base)
        roles, ids = pools["broker"]
        scaled = one(base, "KafkaNodePool", "broker")
        scaled["spec"]["replicas"] += 1
        new = set(pool_node_ids(base[:0] + [d for d in base if d["kind"] != "KafkaNodePool"]
                                + [p for p in of_kind(base, "KafkaNodePool")
                                   if p["metadata"]["name"] != "broker"] + [scaled])["broker"][1]) - set(ids)
        if set(rb["spec"]["brokers"]) != new:
            problems.append("add-brokers names %s, but scaling the broker pool by one adds %s"
                            % (rb["spec"]["brokers"], sorted(new)))
    return problems


def test_rebalance_adds_the_broker_scaling_adds():
    rb = load_tools()["rebalance-add-brokers.yaml"][0]
    assert not rebalance_problems(rb, render("base"))
    bad = json.loads(json.dumps(rb))
    bad["spec"]["brokers"] = [3]          # Strimzi's example's ids, not this cluster's
    assert rebalance_problems(bad, render("base"))
    bad["spec"]["mode"] = "add-broker"
    assert rebalance_problems(bad, render("base"))


def tool_pod(name):
    for d in tools_docs():
        if d["kind"] == "Pod" and d["metadata"]["name"] == name:
            return d
    raise AssertionError("no Pod %s in deploy/tools" % name)


def test_tool_pods_are_hardened_pinned_and_sized():
    docs = tools_docs()
    assert not check_security_context(docs)
    assert not check_resources(docs)
    assert not check_images(docs)
    for name, spec in pod_specs(docs):
        assert spec.get("restartPolicy") == "Never", "%s: a one-off pod that restarts" % name
        for c in containers(spec):
            assert ":" in c["image"].split("/")[-1], "%s: image %s has no tag" % (name, c["image"])


def consume_problems(pod, docs):
    """The consume pod: its KafkaUser exists, authenticates as the listener it connects to
    wants, may Read every topic it reads and use consume's throwaway group; the listener's
    networkPolicyPeers admit the pod; the certificate and CA come from the right Secrets."""
    problems = []
    spec = pod["spec"]
    c = spec["containers"][0]
    args = [str(a) for a in c["args"]]
    env = env_of(c)
    port = int(env["KAFKA_BROKERS"].rpartition(":")[2])
    listener = next((l for l in one(docs, "Kafka")["spec"]["kafka"]["listeners"] if l["port"] == port), None)
    if listener is None:
        return ["consume: no listener on %d" % port]
    peers = listener.get("networkPolicyPeers") or []
    labels = pod["metadata"]["labels"]
    if peers and not any(selector_matches(p.get("podSelector") or {}, labels) for p in peers):
        problems.append("consume: listener %d's networkPolicyPeers do not admit the pod" % port)
    xp = xprops(args)
    vm, vol = mount_for(c, spec, xp.get("ssl.certificate.location", ""))
    if not vol or "secret" not in vol:
        return problems + ["consume: no client certificate from a Secret"]
    user_name = vol["secret"]["secretName"]
    users = {u["metadata"]["name"]: u for u in of_kind(docs, "KafkaUser")}
    user = users.get(user_name)
    if user is None:
        return problems + ["consume: KafkaUser %s does not exist" % user_name]
    if user["spec"]["authentication"]["type"] != (listener.get("authentication") or {}).get("type"):
        problems.append("consume: user %s and listener %d authenticate differently" % (user_name, port))
    ca = env.get("KAFKA_SSL_CA_LOCATION", "")
    vm, vol = mount_for(c, spec, ca)
    if not vol or (vol.get("secret") or {}).get("secretName") != "%s-cluster-ca-cert" % CLUSTER:
        problems.append("consume: the CA is not from %s-cluster-ca-cert" % CLUSTER)
    topics = topic_names(docs)
    for t in flag_values(args, "--topic"):
        if t not in topics:
            problems.append("consume reads %s, which has no KafkaTopic" % t)
        if not acl_allows(user, "topic", t, "Read"):
            problems.append("consume: %s may not Read %s" % (user_name, t))
    group = (flag_values(args, "--group") or ["speedlayer-consume-somehost-1-x"])[0]
    if not acl_allows(user, "group", group, "Read"):
        problems.append("consume: %s may not use group %s" % (user_name, group))
    for acl in user["spec"]["authorization"]["acls"]:
        if set(acl["operations"]) - {"Read", "Describe"}:
            problems.append("consume: %s may %s: a reader only reads" % (user_name, acl["operations"]))
    return problems


def test_consume_pod_can_read_what_it_reads():
    base = render("base")
    pod = tool_pod("speedlayer-consume")
    assert not consume_problems(pod, base)
    assert not consume_problems(pod, render("dev"))
    bad = json.loads(json.dumps(pod))
    bad["spec"]["containers"][0]["args"] += ["--topic", "speedlayer.changelog"]
    assert consume_problems(bad, base)
    bad = json.loads(json.dumps(pod))
    bad["metadata"]["labels"]["app.kubernetes.io/name"] = "debug"
    assert consume_problems(bad, base)
    bad = json.loads(json.dumps(pod))
    bad["spec"]["volumes"][0]["secret"]["secretName"] = "speedlayer-debug"
    assert consume_problems(bad, base)


def python_producer_problems(docs_tools, docs):
    """The founding document's producer: SCRAM on the plain 9092 listener as a KafkaUser that
    exists with scram-sha-512 and may Write the topic; the password from that user's Secret
    (key `password`), never literal; kafka-python pinned as the interop tests pin it; the
    script compiles."""
    problems = []
    pod = next(d for d in docs_tools if d["kind"] == "Pod")
    cm = next(d for d in docs_tools if d["kind"] == "ConfigMap")
    c = pod["spec"]["containers"][0]
    env = env_of(c)
    port = int(env["KAFKA_BROKERS"].rpartition(":")[2])
    listener = next((l for l in one(docs, "Kafka")["spec"]["kafka"]["listeners"] if l["port"] == port), {})
    if (listener.get("authentication") or {}).get("type") != "scram-sha-512" or listener.get("tls"):
        problems.append("python producer: port %d is not the plain SCRAM listener" % port)
    user = next((u for u in of_kind(docs, "KafkaUser")
                 if u["metadata"]["name"] == env.get("KAFKA_SASL_USERNAME")), None)
    if user is None or user["spec"]["authentication"]["type"] != "scram-sha-512":
        return problems + ["python producer: no SCRAM KafkaUser %s" % env.get("KAFKA_SASL_USERNAME")]
    if not acl_allows(user, "topic", env.get("KAFKA_TOPIC"), "Write"):
        problems.append("python producer: %s may not Write %s" % (user["metadata"]["name"], env.get("KAFKA_TOPIC")))
    pw = env.get("KAFKA_SASL_PASSWORD_FILE") or ""
    vm, vol = mount_for(c, pod["spec"], pw)
    if not vol or (vol.get("secret") or {}).get("secretName") != user["metadata"]["name"] or \
            file_in_volume(vol, vm, pw) != "password":
        problems.append("python producer: the password is not the `password` key of Secret %s"
                        % user["metadata"]["name"])
    pin = re.search(r"^kafka-python==(\S+)", (REPO / "requirements-test.txt").read_text(), re.M).group(1)
    if "kafka-python==%s" % pin not in " ".join(c.get("args") or []):
        problems.append("python producer: kafka-python is not pinned to %s (requirements-test.txt)" % pin)
    script = cm["data"]["main.py"]
    for needle in ("KafkaProducer(", "json.dumps(v).encode(", "future.get(timeout=10)",
                   "producer.flush()", "producer.close()", 'sasl_mechanism="SCRAM-SHA-512"'):
        if needle not in script:
            problems.append("python producer: the script lacks %s" % needle)
    return problems


def test_python_producer_is_the_founding_documents(tmp_path):
    tools = load_tools()["python-producer.yaml"]
    assert not python_producer_problems(tools, render("base"))
    assert not python_producer_problems(tools, render("dev"))
    cm = next(d for d in tools if d["kind"] == "ConfigMap")
    f = tmp_path / "main.py"
    f.write_text(cm["data"]["main.py"])
    py_compile.compile(str(f), doraise=True)
    bad = json.loads(json.dumps(tools))
    for e in next(d for d in bad if d["kind"] == "Pod")["spec"]["containers"][0]["env"]:
        if e["name"] == "KAFKA_BROKERS":
            e["value"] = "my-cluster-kafka-bootstrap:9093"
    assert python_producer_problems(bad, render("base"))
    bad = json.loads(json.dumps(tools))
    for e in next(d for d in bad if d["kind"] == "Pod")["spec"]["containers"][0]["env"]:
        if e["name"] == "KAFKA_SASL_USERNAME":
            e["value"] = "speedlayer-producer"    # a tls user: no password
    assert python_producer_problems(bad, render("base"))


# ----------------------------------------------------------------------------------------
# deploy/monitoring

# The PodMonitor fields used here (monitoring.coreos.com/v1, Prometheus Operator); there is no
# schema for it in ../shared/schemas.
POD_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PodMonitor"},
        "spec": {
            "type": "object", "additionalProperties": False,
            "required": ["selector", "podMetricsEndpoints"],
            "properties": {
                "selector": {"type": "object", "additionalProperties": False, "properties": {
                    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "matchExpressions": {"type": "array"}}},
                "namespaceSelector": {"type": "object"},
                "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False, "required": ["port"],
                    "properties": {
                        "port": {"type": "string"}, "path": {"type": "string"},
                        "interval": {"type": "string", "pattern": r"^\d+[smh]$"},
                        "relabelings": {"type": "array"}}}},
            },
        },
    },
}


def pod_monitor_problems(mon_docs, docs):
    """Each PodMonitor is well-formed and selects pods that declare its port: serve on the
    port where --probe-listen serves /metrics, the Kafka pods on Strimzi's tcp-prometheus
    (which exists only with metricsConfig or kafkaExporter)."""
    problems = []
    monitors = of_kind(mon_docs, "PodMonitor")
    if not monitors:
        return ["no PodMonitor"]
    dep = one(docs, "Deployment", SERVE)
    serve_labels = dep["spec"]["template"]["metadata"]["labels"]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    probe_port = int((flag_values(c["args"], "--probe-listen") or ["x:0"])[0].rpartition(":")[2])
    kafka = one(docs, "Kafka")["spec"]
    strimzi_pods = strimzi_pod_labels(docs)
    covered = set()
    for m in monitors:
        name = m["metadata"]["name"]
        for e in jsonschema.Draft7Validator(POD_MONITOR_SCHEMA).iter_errors(m):
            problems.append("PodMonitor %s: %s" % (name, e.message))
        sel = m["spec"]["selector"]
        for ep in m["spec"]["podMetricsEndpoints"]:
            if selector_matches(sel, serve_labels):
                covered.add("serve")
                port = next((p["containerPort"] for p in c.get("ports") or [] if p.get("name") == ep["port"]), None)
                if port != probe_port:
                    problems.append("PodMonitor %s scrapes serve's port %s (%s), not the probe "
                                    "listener %d" % (name, ep["port"], port, probe_port))
                if ep.get("path", "/metrics") != "/metrics":
                    problems.append("PodMonitor %s: path %s" % (name, ep.get("path")))
            kafka_pods = [d for d, labels in strimzi_pods if selector_matches(sel, labels)
                          and "cluster operator" not in d and "entity operator" not in d]
            if kafka_pods:
                covered.add("kafka")
                if ep["port"] != "tcp-prometheus":
                    problems.append("PodMonitor %s: Kafka pods serve metrics on tcp-prometheus, not %s"
                                    % (name, ep["port"]))
                if "metricsConfig" not in kafka["kafka"]:
                    problems.append("PodMonitor %s: the Kafka pods export no metrics" % name)
                if "Kafka Exporter pod" in dict(strimzi_pods) and "Kafka Exporter pod" not in kafka_pods:
                    problems.append("PodMonitor %s does not select Kafka Exporter" % name)
            if not selector_matches(sel, serve_labels) and not kafka_pods:
                problems.append("PodMonitor %s selects no pod of the deployment" % name)
    for what in ("serve", "kafka"):
        if what not in covered:
            problems.append("no PodMonitor for %s" % what)
    return problems


def test_pod_monitors_select_the_metrics_ports():
    mon = render("monitoring")
    for variant in VARIANTS:
        problems = pod_monitor_problems(mon, render(variant))
        assert not problems, "%s: %s" % (variant, "\n".join(problems))
    for d in mon:
        assert d["metadata"].get("namespace") == NAMESPACE
    bad = json.loads(json.dumps(mon))
    next(m for m in of_kind(bad, "PodMonitor") if m["metadata"]["name"] == SERVE)["spec"]["podMetricsEndpoints"][0]["port"] = "http"
    assert pod_monitor_problems(bad, render("base"))
    bad = json.loads(json.dumps(mon))
    next(m for m in of_kind(bad, "PodMonitor") if m["metadata"]["name"] != SERVE)["spec"]["selector"]["matchLabels"][
        "strimzi.io/cluster"] = "other"
    assert pod_monitor_problems(bad, render("base"))
    bad = json.loads(json.dumps(mon))
    next(m for m in of_kind(bad, "PodMonitor") if m["metadata"]["name"] == SERVE)["spec"]["podMetricsEndpoints"][0]["intervall"] = "15s"
    assert pod_monitor_problems(bad, render("base"))


def dashboard():
    cm = one(render("monitoring"), "ConfigMap", "speedlayer-grafana-dashboard")
    assert cm["metadata"]["labels"].get("grafana_dashboard") == "1", \
        "the dashboard ConfigMap lacks the grafana_dashboard label Grafana's sidecar looks for"
    (key, text), = cm["data"].items()
    return json.loads(text)


def dashboard_exprs(dash):
    out = []
    for p in dash["panels"]:
        for t in p.get("targets") or []:
            out.append((p["title"], t["expr"]))
    return out


_PROMQL_WORDS = {"sum", "max", "min", "avg", "rate", "irate", "increase", "by", "without",
                 "histogram_quantile", "le", "count", "label_values", "on", "ignoring"}


def metric_names(expr):
    """Metric names of a PromQL expression: identifiers followed by { or [ or ), not
    functions, keywords, labels or strings."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "{}", expr)
    expr = re.sub(r"\((\s*[\w,\s]*)\)\s*\(", "(", expr)   # by (a, b) (
    names = set()
    for m in re.finditer(r"\b([a-zA-Z_:][\w:]*)\b\s*(\{|\[|\))", expr):
        w = m.group(1)
        if w not in _PROMQL_WORDS:
            names.add(w)
    return names


def live_metric_families():
    """Metric names on a running serve's /metrics: `speedlayer demo` on a free port for a few
    seconds (the whole pipeline in-process). Histograms add _bucket, _sum, _count."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([speedlayer_bin(), "demo", "--duration", "30s", "--rate", "200",
                             "--listen", "127.0.0.1:%d" % port],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        text, deadline = None, time.time() + 25
        while time.time() < deadline:
            try:
                text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2).read().decode()
                if "speedlayer_records_consumed_total{" in text:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert text, "speedlayer demo served no /metrics on port %d" % port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    names = set()
    for m in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(m.group(1))
        if m.group(2) == "histogram":
            names |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
    return names


def jmx_rule_names():
    """Regexes of the metric names deploy/base/kafka-metrics.yaml's rules produce
    (lowercaseOutputName; $n of an alternation becomes one of its words)."""
    cm = one(render("base"), "ConfigMap", "kafka-metrics")
    rules = yaml.safe_load(cm["data"]["kafka-metrics-config.yml"])["rules"]
    out = []
    for r in rules:
        groups = re.findall(r"\(([^()]*)\)", r["pattern"])
        name = r["name"]
        for i, g in enumerate(groups, 1):
            alt = g if re.fullmatch(r"[\w|]+", g) else r"[\w.-]+"
            name = name.replace("$%d" % i, "(?:%s)" % alt.lower())
        out.append(re.compile("^%s$" % name.lower()))
    return out


# Kafka Exporter's metric names (Strimzi runs danielqsj/kafka_exporter).
KAFKA_EXPORTER_METRICS = {"kafka_brokers", "kafka_topic_partitions",
                          "kafka_topic_partition_current_offset",
                          "kafka_topic_partition_oldest_offset",
                          "kafka_consumergroup_current_offset", "kafka_consumergroup_lag",
                          "kafka_consumergroup_lag_sum", "kafka_consumergroup_members"}


def dashboard_problems(dash, live, jmx):
    problems = []
    seen = set()
    for title, expr in dashboard_exprs(dash):
        names = metric_names(expr)
        if not names:
            problems.append("panel %r: no metric in %r" % (title, expr))
        for n in names:
            seen.add(n)
            if n.startswith("speedlayer_"):
                if n not in live:
                    problems.append("panel %r: %s is not on serve's /metrics" % (title, n))
            elif n not in KAFKA_EXPORTER_METRICS and not any(r.match(n) for r in jmx):
                problems.append("panel %r: %s comes from neither the JMX rules nor Kafka Exporter"
                                % (title, n))
    # What the issue asks the dashboard to show.
    for need in ("speedlayer_records_consumed_total", "speedlayer_consumer_lag",
                 "speedlayer_commit_duration_seconds_bucket", "speedlayer_late_records_total",
                 "speedlayer_malformed_records_total", "speedlayer_http_requests_total"):
        if need not in seen:
            problems.append("the dashboard does not show %s" % need)
    return problems


def test_dashboard_queries_real_metric_names():
    dash = dashboard()
    live = live_metric_families()
    assert "speedlayer_records_consumed_total" in live and len(live) > 20
    jmx = jmx_rule_names()
    problems = dashboard_problems(dash, live, jmx)
    assert not problems, "\n".join(problems)
    # and it notices a wrong name
    bad = json.loads(json.dumps(dash))
    bad["panels"][1]["targets"][0]["expr"] = "sum(rate(speedlayer_records_consumed[1m]))"
    assert dashboard_problems(bad, live, jmx)
    bad = json.loads(json.dumps(dash))
    bad["panels"][1]["targets"][0]["expr"] = "sum(kafka_server_brokertopicmetrics_messages_in_total)"
    assert dashboard_problems(bad, live, jmx)


def test_metric_name_extraction():
    assert metric_names('max by (topic) (rate(speedlayer_x_total{job=~"$job"}[$__rate_interval]))') == {"speedlayer_x_total"}
    assert metric_names("histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m])))") == {"a_bucket"}
    assert metric_names("sum(kafka_consumergroup_lag{consumergroup=\"x\"})") == {"kafka_consumergroup_lag"}


# ----------------------------------------------------------------------------------------
# The dev overlay fits a laptop

# The Strimzi Cluster Operator's own requests (060-Deployment-strimzi-cluster-operator.yaml of
# Strimzi 1.0.1: 200m, 384Mi), installed beside the pipeline.
OPERATOR_REQUESTS = (0.2, 384 * 1024 ** 2)
# A 4-CPU / 8 GiB kind or minikube node; Kubernetes' own pods (API server, etcd, controller
# manager, scheduler, CoreDNS, CNI, kube-proxy) request about 1 CPU and 0.5 GiB there. Half
# of the node for the pipeline leaves room for them and for bursts.
LAPTOP_BUDGET = (2.0, 4 * 1024 ** 3)


def requests_of(docs):
    """(cpu, memory) requested by everything the rendered Kafka and Deployments run."""
    cpu = mem = 0.0

    def add(res, n=1):
        nonlocal cpu, mem
        req = (res or {}).get("requests") or {}
        cpu += n * quantity(req.get("cpu", 0))
        mem += n * quantity(req.get("memory", 0))

    for p in of_kind(docs, "KafkaNodePool"):
        add(p["spec"].get("resources"), p["spec"]["replicas"])
    spec = one(docs, "Kafka")["spec"]
    for op in ("topicOperator", "userOperator"):
        add((spec.get("entityOperator") or {}).get(op, {}).get("resources"))
    for comp in ("cruiseControl", "kafkaExporter"):
        if comp in spec:
            add(spec[comp].get("resources"))
    for d in of_kind(docs, "Deployment"):
        for c in d["spec"]["template"]["spec"]["containers"]:
            add(c.get("resources"), d["spec"].get("replicas", 1))
    return cpu + OPERATOR_REQUESTS[0], mem + OPERATOR_REQUESTS[1]


def test_dev_overlay_fits_a_laptop():
    docs = render("dev")
    cpu, mem = requests_of(docs)
    assert cpu <= LAPTOP_BUDGET[0] and mem <= LAPTOP_BUDGET[1], \
        "dev requests %.2f CPU and %.2f GiB" % (cpu, mem / 1024 ** 3)
    # no volume claims: nothing left behind, no storage class needed
    for p in of_kind(docs, "KafkaNodePool"):
        vols = p["spec"]["storage"].get("volumes") or [p["spec"]["storage"]]
        assert all(v["type"] == "ephemeral" for v in vols), "dev pool %s claims volumes" % p["metadata"]["name"]
    pools = pool_node_ids(docs)
    assert list(pools.values()) == [(["controller", "broker"], [0])], pools
    # the production base does not fit: that is why the overlay exists
    cpu_b, mem_b = requests_of(render("base"))
    assert mem_b > LAPTOP_BUDGET[1]


def test_dev_overlay_changes_only_the_size():
    """The dev overlay is the base with one dual-role pool and replication 1: the same users,
    ACLs, NetworkPolicies, Deployments (but serve's replicas) and topics (but replicas)."""
    base, dev = render("base"), render("dev")
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert {key(d) for d in base} - {key(d) for d in dev} == {("KafkaNodePool", "controller"),
                                                              ("KafkaNodePool", "broker")}
    assert {key(d) for d in dev} - {key(d) for d in base} == {("KafkaNodePool", "dual-role")}
    for d in dev:
        b = next((x for x in base if key(x) == key(d)), None)
        if b is None or d["kind"] in ("Kafka", "KafkaTopic"):
            continue
        if key(d) == ("Deployment", SERVE):
            b["spec"]["replicas"] = d["spec"]["replicas"]
        assert d == b, "dev overlay changes %s/%s" % key(d)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_monitoring_core_objects_valid(version):
    """deploy/monitoring's core objects (the dashboard ConfigMap) validate strictly; the
    PodMonitors are checked against POD_MONITOR_SCHEMA above."""
    docs = [d for d in render("monitoring") if d["kind"] != "PodMonitor"]
    assert docs
    for d in docs:
        kubernetes_validate.validate(d, version, strict=True)


def volume_claims_gib(docs):
    total = 0.0
    for p in of_kind(docs, "KafkaNodePool"):
        vols = p["spec"]["storage"].get("volumes") or [p["spec"]["storage"]]
        total += p["spec"]["replicas"] * sum(quantity(v["size"]) for v in vols
                                             if v["type"] == "persistent-claim")
    return total / 1024 ** 3


def footprint_problems(text, computed):
    """docs/deploy.md's footprint sentences agree with the rendered requests: the dev
    overlay's "requests about X CPU and Y GiB", the base's "requests about X CPU, Y GiB of
    memory (...) and Z GiB of volumes" (within 0.15 CPU, 0.25 GiB)."""
    problems = []
    m = re.search(r"requests about ([\d.]+) CPU and ([\d.]+) GiB of memory in all", text)
    if not m:
        problems.append("no dev footprint sentence")
    else:
        cpu, mem = computed["dev"]
        if abs(float(m.group(1)) - cpu) > 0.15 or abs(float(m.group(2)) - mem) > 0.25:
            problems.append("docs say dev requests %s CPU, %s GiB; rendered: %.2f CPU, %.2f GiB"
                            % (m.group(1), m.group(2), cpu, mem))
    m = re.search(r"requests about ([\d.]+) CPU, ([\d.]+) GiB of memory \([^)]*\) and ([\d.]+) GiB of\s+volumes", text)
    if not m:
        problems.append("no base footprint sentence")
    else:
        cpu, mem, vol = computed["base"]
        if abs(float(m.group(1)) - cpu) > 0.15 or abs(float(m.group(2)) - mem) > 0.25 or \
                abs(float(m.group(3)) - vol) > 1:
            problems.append("docs say the base requests %s CPU, %s GiB, %s GiB of volumes; "
                            "rendered: %.2f CPU, %.2f GiB, %.0f GiB" % (m.groups() + (cpu, mem, vol)))
    return problems


def test_docs_footprint_matches_the_manifests():
    dev, base = render("dev"), render("base")
    c, m = requests_of(dev)
    cb, mb = requests_of(base)
    computed = {"dev": (c, m / 1024 ** 3), "base": (cb, mb / 1024 ** 3, volume_claims_gib(base))}
    text = (REPO / "docs" / "deploy.md").read_text()
    problems = footprint_problems(text, computed)
    assert not problems, "\n".join(problems)
    assert footprint_problems(text.replace("about 1.1 CPU", "about 0.5 CPU"), computed)
    assert footprint_problems(text.replace("and 330 GiB of", "and 30 GiB of"), computed)
