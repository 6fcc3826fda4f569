"""Offline checks of the Kubernetes / Strimzi manifests in deploy/ (CTest: deploy_manifests).

Every variant (deploy/base, deploy/overlays/{dev,external,admin}) is rendered with kustomize,
then:
- Strimzi resources are validated against ../shared/schemas/strimzi-v1 with check-jsonschema,
- core Kubernetes objects with kubernetes-validate (strict, pinned Kubernetes versions),
- the policy checks a reviewer would otherwise do by eye (check_* below).

Each check_* returns a list of problems. The test_*_catches_* tests feed them broken copies of
the rendered manifests and require a problem to be found, so that no check passes vacuously.
"""

import copy
import inspect
import ipaddress
import json
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from conftest import (CLUSTER, MONITORING_LABEL, NAMESPACE, REPO, STRIMZI_API,
                      STRIMZI_SCHEMA_FILES, VARIANTS, broker_ids, containers, profile,
                      deployment_container, env_of, file_in_volume, flag_values, is_broker_pod,
                      is_strimzi, mount_for, of_kind, one, parse_node_ids, pod_specs,
                      pool_node_ids, quantity, render, seconds, strimzi_pod_labels,
                      strimzi_schema_dir)

# Kubernetes versions the core objects must be valid for: a widely deployed one and the
# newest kubernetes-validate 1.37.0 knows.
K8S_VERSIONS = ["1.33.0", "1.37.0"]

EXTERNAL_LISTENER_TYPES = {"nodeport", "loadbalancer", "route", "tlsroute", "ingress"}
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
KAFKA_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
PRODUCER = "speedlayer-producer"
SERVE = "speedlayer-serve"
# speedlayer serve's defaults (speedlayer serve --help).
# The output and changelog topics default to <group>.views and <group>.changelog; --listen
# defaults to loopback (unreachable from outside the pod); without --probe-listen the probes
# answer on --listen.
SERVE_DEFAULTS = {"--group": "speedlayer-serve", "--listen": "127.0.0.1:8080"}
# speedlayer produce's default --flush-timeout.
DEFAULT_FLUSH_TIMEOUT = "10s"

variants = pytest.mark.parametrize("variant", sorted(VARIANTS))


# ----------------------------------------------------------------------------------------
# Rendering and schemas


@variants
def test_renders_into_namespace_kafka(variant):
    docs = render(variant)
    kinds = {d["kind"] for d in docs}
    for kind in ("Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Deployment", "Service",
                 "PodDisruptionBudget", "ConfigMap", "NetworkPolicy"):
        assert kind in kinds, "%s: no %s rendered" % (variant, kind)
    for d in docs:
        assert d["metadata"].get("namespace") == NAMESPACE, \
            "%s: %s/%s is not in namespace %s" % (variant, d["kind"], d["metadata"]["name"], NAMESPACE)


def strimzi_schema_problems(docs, tmp_path):
    """check-jsonschema each Strimzi resource against its v1 schema; plus the apiVersion."""
    problems = []
    schema_dir = strimzi_schema_dir()
    by_kind = {}
    for i, d in enumerate(docs):
        if not is_strimzi(d):
            continue
        if d.get("apiVersion") != STRIMZI_API:
            problems.append("%s/%s: apiVersion %s, Strimzi 1.x serves only %s"
                            % (d["kind"], d["metadata"]["name"], d.get("apiVersion"), STRIMZI_API))
        if d["kind"] not in STRIMZI_SCHEMA_FILES:
            problems.append("%s/%s: no schema for this Strimzi kind" % (d["kind"], d["metadata"]["name"]))
            continue
        f = tmp_path / ("%03d-%s-%s.json" % (i, d["kind"], d["metadata"]["name"]))
        f.write_text(json.dumps(d))
        by_kind.setdefault(d["kind"], []).append(f)
    for kind, files in sorted(by_kind.items()):
        proc = subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--schemafile",
             str(schema_dir / STRIMZI_SCHEMA_FILES[kind])] + [str(f) for f in files],
            capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            problems.append("check-jsonschema %s:\n%s%s" % (kind, proc.stdout, proc.stderr))
    return problems


@variants
def test_strimzi_resources_match_v1_schemas(variant, tmp_path):
    docs = render(variant)
    assert any(is_strimzi(d) for d in docs)
    problems = strimzi_schema_problems(docs, tmp_path)
    assert not problems, "\n".join(problems)


def test_schema_check_catches_the_founding_documents_listener(tmp_path):
    # The founding document's external listener, mis-indented as it was: `port`, `type` and
    # `configuration` ended up beside the list item, and `advertisedHost` beside `broker`.
    docs = render("base")
    kafka = one(docs, "Kafka")
    kafka["spec"]["kafka"]["listeners"].append(yaml.safe_load("""
        name: external
        port: 9094
        type: nodeport
        tls: false
        configuration:
          bootstrap:
            alternativeNames: ["3.10.139.221"]
          brokers:
          - broker: 0
          advertisedHost: "3.10.139.221"
        """))
    assert strimzi_schema_problems([kafka], tmp_path)
    # and the v1beta2 API that Strimzi 1.x no longer serves
    docs = render("base")
    topic = of_kind(docs, "KafkaTopic")[0]
    topic["apiVersion"] = "kafka.strimzi.io/v1beta2"
    assert strimzi_schema_problems([topic], tmp_path)


def core_problems(docs, version):
    problems = []
    for d in docs:
        if is_strimzi(d):
            continue
        try:
            kubernetes_validate.validate(d, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append("%s/%s (Kubernetes %s): %s at %s" % (
                d["kind"], d["metadata"]["name"], version, e.message,
                "/".join(str(p) for p in e.path)))
        except Exception as e:  # unknown kind or version: a failure too, with its reason
            problems.append("%s/%s (Kubernetes %s): %s" % (d["kind"], d["metadata"]["name"],
                                                           version, e))
    return problems


@variants
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_objects_valid_for_kubernetes(variant, version):
    docs = render(variant)
    problems = core_problems(docs, version)
    assert not problems, "\n".join(problems)


def test_core_check_catches_a_misspelled_field():
    docs = render("base")
    dep = one(docs, "Deployment", PRODUCER)
    res = dep["spec"]["template"]["spec"]["containers"][0]["resources"]
    res["limit"] = res.pop("limits")
    assert core_problems([dep], K8S_VERSIONS[0])


# ----------------------------------------------------------------------------------------
# Policy checks


def check_resources(docs):
    """Every container, and every Strimzi component we run, has cpu and memory requests and
    limits, with limits >= requests; the producer has the founding document's numbers."""
    problems = []

    def check(where, res):
        res = res or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(kind) or {}):
                    problems.append("%s: no %s.%s" % (where, kind, r))
        for r in ("cpu", "memory"):
            try:
                if quantity(res["limits"][r]) < quantity(res["requests"][r]):
                    problems.append("%s: %s limit below its request" % (where, r))
            except (KeyError, TypeError):
                pass

    for name, spec in pod_specs(docs):
        for c in containers(spec):
            check("%s container %s" % (name, c["name"]), c.get("resources"))
    for pool in of_kind(docs, "KafkaNodePool"):
        check("KafkaNodePool %s" % pool["metadata"]["name"], pool["spec"].get("resources"))
    for kafka in of_kind(docs, "Kafka"):
        eo = kafka["spec"].get("entityOperator") or {}
        for op in ("topicOperator", "userOperator"):
            if op in eo:
                check("Kafka entityOperator.%s" % op, (eo[op] or {}).get("resources"))
        for comp in ("cruiseControl", "kafkaExporter"):
            if comp in kafka["spec"]:
                check("Kafka %s" % comp, (kafka["spec"][comp] or {}).get("resources"))
    for dep in of_kind(docs, "Deployment"):
        if dep["metadata"]["name"] == PRODUCER:
            res = dep["spec"]["template"]["spec"]["containers"][0].get("resources") or {}
            want = {"requests": {"memory": "64Mi", "cpu": "250m"},
                    "limits": {"memory": "128Mi", "cpu": "500m"}}
            for kind, vals in want.items():
                for r, v in vals.items():
                    got = (res.get(kind) or {}).get(r)
                    if got is None or quantity(got) != quantity(v):
                        problems.append("%s: %s.%s is %s, the founding document's is %s"
                                        % (PRODUCER, kind, r, got, v))
    return problems


def check_probes(docs):
    """A container that listens (declares ports) serves HTTP here: liveness and readiness
    probes on a declared port; serve's on /healthz and /readyz."""
    problems = []
    for name, spec in pod_specs(docs):
        for c in spec.get("containers") or []:
            ports = c.get("ports") or []
            if not ports:
                continue
            declared = {p.get("name") for p in ports} | {p["containerPort"] for p in ports}
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                p = c.get(probe)
                if not p or "httpGet" not in p:
                    problems.append("%s/%s: no HTTP %s" % (name, c["name"], probe))
                    continue
                if p["httpGet"].get("port") not in declared:
                    problems.append("%s/%s: %s on port %r, which the container does not declare"
                                    % (name, c["name"], probe, p["httpGet"].get("port")))
                if name == SERVE and p["httpGet"].get("path") != path:
                    problems.append("%s: %s on %s, not %s" % (name, probe,
                                                              p["httpGet"].get("path"), path))
    return problems


def check_security_context(docs):
    """Non-root, read-only root filesystem, no privilege escalation, all capabilities
    dropped, for every container; no service account token; numeric user = the image's."""
    problems = []
    image_uid = dockerfile_user()[0]
    for name, spec in pod_specs(docs):
        psc = spec.get("securityContext") or {}
        if spec.get("automountServiceAccountToken") is not False:
            problems.append("%s: automountServiceAccountToken is not false" % name)
        if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
            problems.append("%s: uses host namespaces" % name)
        for c in containers(spec):
            where = "%s container %s" % (name, c["name"])
            sc = c.get("securityContext") or {}
            if not sc.get("runAsNonRoot", psc.get("runAsNonRoot")):
                problems.append("%s: runAsNonRoot is not true" % where)
            uid = sc.get("runAsUser", psc.get("runAsUser"))
            if uid is not None and (uid == 0 or uid != image_uid):
                problems.append("%s: runAsUser %s, the image's user is %s" % (where, uid, image_uid))
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append("%s: readOnlyRootFilesystem is not true" % where)
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append("%s: allowPrivilegeEscalation is not false" % where)
            if sc.get("privileged"):
                problems.append("%s: privileged" % where)
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                problems.append("%s: capabilities.drop does not contain ALL" % where)
            if caps.get("add"):
                problems.append("%s: adds capabilities %s" % (where, caps["add"]))
    return problems


def check_no_plaintext_secrets(docs):
    """No password, token or key anywhere in the manifests: no Secret objects, no secret-ish
    env var with a literal value, no --sasl-password flag, no password in a ConfigMap; the
    SASL password is a file from the KafkaUser's Secret (named after the SASL user)."""
    problems = []
    secretish = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY", re.I)
    for d in docs:
        if d["kind"] == "Secret":
            problems.append("Secret/%s is in the manifests: credentials belong in Secrets "
                            "made by the User Operator or by hand, not in git" % d["metadata"]["name"])
        if d["kind"] == "ConfigMap":
            for k, v in (d.get("data") or {}).items():
                if re.search(r"(?i)(password|secret|sasl\.jaas)\s*[:=]", str(v)) or secretish.search(k):
                    problems.append("ConfigMap/%s key %s looks like a credential"
                                    % (d["metadata"]["name"], k))
    text = yaml.safe_dump_all(docs)
    if re.search(r"(?i)sasl\.jaas\.config\s*[:=]", text) or "BEGIN PRIVATE KEY" in text \
            or "BEGIN RSA PRIVATE KEY" in text:
        problems.append("a JAAS config or a private key is written in the manifests")
    for name, spec in pod_specs(docs):
        for c in containers(spec):
            where = "%s container %s" % (name, c["name"])
            for e in c.get("env") or []:
                if secretish.search(e["name"]) and not e["name"].endswith("_FILE") and "value" in e:
                    problems.append("%s: env %s has a literal value" % (where, e["name"]))
            args = [str(a) for a in (c.get("args") or []) + (c.get("command") or [])]
            for a in args:
                flag = a.split("=", 1)[0]
                if flag.startswith("--") and re.search(r"(?i)password|token|secret", flag) \
                        and not flag.endswith("-file"):
                    problems.append("%s: %s on the command line (use the -file flag and a "
                                    "mounted Secret)" % (where, flag))
            xp = xprops(args)
            for k in xp:
                if "password" in k or k in ("ssl.key.pem", "ssl_key", "ssl.keystore.location"):
                    problems.append("%s: -X %s: a secret on the command line" % (where, k))
            for k in ("ssl.key.location", "ssl.certificate.location"):
                if k in xp:
                    vm, vol = mount_for(c, spec, xp[k])
                    if not vol or "secret" not in vol:
                        problems.append("%s: %s %s is not in a mounted Secret" % (where, k, xp[k]))
            env = env_of(c)
            pw_file = env.get("KAFKA_SASL_PASSWORD_FILE")
            if env.get("KAFKA_SASL_USERNAME") and not pw_file:
                problems.append("%s: SASL user without KAFKA_SASL_PASSWORD_FILE" % where)
            if pw_file:
                vm, vol = mount_for(c, spec, pw_file)
                if not vol or "secret" not in vol:
                    problems.append("%s: KAFKA_SASL_PASSWORD_FILE %s is not in a mounted Secret"
                                    % (where, pw_file))
                elif vol["secret"].get("secretName") != env.get("KAFKA_SASL_USERNAME"):
                    problems.append("%s: password from Secret %s, but the SASL user is %s (the User "
                                    "Operator names the Secret after the KafkaUser)"
                                    % (where, vol["secret"].get("secretName"),
                                       env.get("KAFKA_SASL_USERNAME")))
                elif file_in_volume(vol, vm, pw_file) != "password":
                    problems.append("%s: %s is not the Secret's `password` key" % (where, pw_file))
    return problems


def check_kafka_cluster(docs, variant="base"):
    """my-cluster: KRaft node pools (controllers, the profile's brokers: 3, or 1 in the dev
    overlay), internal plain 9092 and an internal TLS listener, replication defaults of the
    profile (3 and min ISR 2; 1 and 1 in dev) for topics, offsets and transactions, ACLs
    enforced, no anonymous listener."""
    problems = []
    prof = profile(variant)
    kafka = one(docs, "Kafka")
    if kafka["metadata"]["name"] != CLUSTER:
        problems.append("Kafka is named %s, not %s" % (kafka["metadata"]["name"], CLUSTER))
    spec = kafka["spec"]
    if "zookeeper" in spec or "replicas" in spec["kafka"] or "storage" in spec["kafka"]:
        problems.append("Kafka has ZooKeeper, replicas or storage: these live in KafkaNodePools")
    listeners = spec["kafka"]["listeners"]
    plain = [l for l in listeners if l.get("type") == "internal" and l.get("port") == 9092]
    if not plain or plain[0].get("tls") is not False:
        problems.append("no internal plain listener on 9092 (my-cluster-kafka-bootstrap:9092)")
    if not [l for l in listeners if l.get("type") == "internal" and l.get("tls") is True]:
        problems.append("no internal TLS listener")
    for l in listeners:
        if not (l.get("authentication") or {}).get("type"):
            problems.append("listener %s accepts anonymous clients" % l.get("name"))
    if (spec["kafka"].get("authorization") or {}).get("type") != "simple":
        problems.append("authorization is not `simple`: KafkaUser ACLs would not be enforced")
    if (spec["kafka"].get("authorization") or {}).get("superUsers"):
        problems.append("super users defined: they bypass every ACL")
    config = spec["kafka"].get("config") or {}
    rf, isr = prof["replication"], prof["min_isr"]
    for key, want in (("default.replication.factor", rf), ("min.insync.replicas", isr),
                      ("offsets.topic.replication.factor", rf),
                      ("transaction.state.log.replication.factor", rf),
                      ("transaction.state.log.min.isr", isr)):
        if str(config.get(key)) != str(want):
            problems.append("config %s is %s, want %s" % (key, config.get(key), want))
    pools = of_kind(docs, "KafkaNodePool")
    for p in pools:
        if (p["metadata"].get("labels") or {}).get("strimzi.io/cluster") != CLUSTER:
            problems.append("KafkaNodePool %s lacks label strimzi.io/cluster: %s"
                            % (p["metadata"]["name"], CLUSTER))
    controllers = [p for p in pools if "controller" in p["spec"]["roles"]]
    brokers = [p for p in pools if "broker" in p["spec"]["roles"]]
    if not controllers:
        problems.append("no controller node pool (KRaft)")
    if sum(p["spec"]["replicas"] for p in brokers) != prof["brokers"]:
        problems.append("broker pools have %d replicas, want %d"
                        % (sum(p["spec"]["replicas"] for p in brokers), prof["brokers"]))
    if sum(p["spec"]["replicas"] for p in controllers) % 2 == 0:
        problems.append("an even number of controllers: a quorum needs an odd number")
    # Node id ranges must not overlap, or which pool gets which id depends on the order the
    # operator handles them in.
    ranges = {}
    for p in pools:
        ann = (p["metadata"].get("annotations") or {}).get("strimzi.io/next-node-ids")
        if not ann:
            problems.append("KafkaNodePool %s: no strimzi.io/next-node-ids" % p["metadata"]["name"])
            continue
        ranges[p["metadata"]["name"]] = set(parse_node_ids(ann))
        if max(ranges[p["metadata"]["name"]]) > int(config.get("reserved.broker.max.id", 999)):
            problems.append("KafkaNodePool %s: ids above reserved.broker.max.id" % p["metadata"]["name"])
    names = sorted(ranges)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if ranges[a] & ranges[b]:
                problems.append("node id ranges of pools %s and %s overlap" % (a, b))
    return problems


def check_external_listeners(docs):
    """No plaintext or unauthenticated external listener; per-broker settings name the
    brokers by their KRaft node ids; every advertised host is a certificate name."""
    problems = []
    kafka = one(docs, "Kafka")
    ids = broker_ids(docs)
    for l in kafka["spec"]["kafka"]["listeners"]:
        if l.get("type") not in EXTERNAL_LISTENER_TYPES:
            continue
        name = l.get("name")
        if l.get("tls") is not True:
            problems.append("external listener %s is plaintext (tls: %s)" % (name, l.get("tls")))
        if (l.get("authentication") or {}).get("type") not in ("scram-sha-512", "tls"):
            problems.append("external listener %s: authentication %s"
                            % (name, (l.get("authentication") or {}).get("type")))
        conf = l.get("configuration") or {}
        brokers = conf.get("brokers") or []
        listed = [b.get("broker") for b in brokers]
        if sorted(listed) != ids:
            problems.append("external listener %s configures brokers %s, but the broker node ids "
                            "are %s (brokers[].broker is the KRaft node id, not an index)"
                            % (name, sorted(listed), ids))
        hosts = [b.get("advertisedHost") for b in brokers]
        if l.get("type") == "nodeport":
            if not all(hosts):
                problems.append("external listener %s: a broker without advertisedHost" % name)
            ports = [b.get("nodePort") for b in brokers]
            bport = (conf.get("bootstrap") or {}).get("nodePort")
            all_ports = [p for p in ports + [bport] if p is not None]
            if len(set(all_ports)) != len(all_ports):
                problems.append("external listener %s: node ports repeat: %s" % (name, all_ports))
            if any(not (30000 <= p <= 32767) for p in all_ports):
                problems.append("external listener %s: node port outside 30000-32767" % name)
            if not all(ports):
                problems.append("external listener %s: a broker without nodePort" % name)
        alt = (conf.get("bootstrap") or {}).get("alternativeNames") or []
        if set(h for h in hosts if h) != set(alt):
            problems.append("external listener %s: bootstrap.alternativeNames %s differ from the "
                            "advertised hosts %s (TLS hostname verification would fail)"
                            % (name, alt, hosts))
    return problems


def xprops(args):
    """librdkafka properties given with -X (`-X k=v` or `-Xk=v`) -> {k: v}."""
    out = {}
    args = [str(a) for a in args]
    for i, a in enumerate(args):
        kv = args[i + 1] if a == "-X" and i + 1 < len(args) else a[2:] if a.startswith("-X") and \
            len(a) > 2 else None
        if kv and "=" in kv:
            k, _, v = kv.partition("=")
            out[k.strip()] = v
    return out


def routes_of(docs, container, spec):
    """The producer's routing rules, from the ConfigMap file SPEEDLAYER_ROUTES names."""
    path = env_of(container).get("SPEEDLAYER_ROUTES") or (flag_values(container.get("args") or [],
                                                                      "--routes") or [None])[0]
    assert path, "the producer has no SPEEDLAYER_ROUTES"
    vm, vol = mount_for(container, spec, path)
    assert vol and "configMap" in vol, "routes file %s is not in a mounted ConfigMap" % path
    cm = one(docs, "ConfigMap", vol["configMap"]["name"])
    key = file_in_volume(vol, vm, path)
    assert key in (cm.get("data") or {}), "ConfigMap %s has no key %s" % (cm["metadata"]["name"], key)
    return yaml.safe_load(cm["data"][key])


def topic_names(docs):
    """Kafka topic name -> KafkaTopic."""
    return {(t["spec"] or {}).get("topicName") or t["metadata"]["name"]: t
            for t in of_kind(docs, "KafkaTopic")}


def acl_allows(user, rtype, name, op):
    for acl in user["spec"]["authorization"]["acls"]:
        if acl.get("type", "allow") != "allow":
            continue
        r = acl["resource"]
        if r["type"] != rtype:
            continue
        if rtype != "cluster":
            pattern = r.get("patternType", "literal")
            if pattern == "literal" and r.get("name") != name:
                continue
            if pattern == "prefix" and not name.startswith(r.get("name", "")):
                continue
        ops = acl["operations"]
        implied = {"Describe": {"Read", "Write", "Delete", "Alter"}}.get(op, set())
        if op in ops or "All" in ops or implied & set(ops):
            return True
    return False


def check_topics(docs, variant="base"):
    """KafkaTopic names: lowercase DNS metadata.name, valid and unique Kafka topic names,
    replicas within the brokers and as the profile says (3, or 1 in dev), a topic's
    min.insync.replicas below its replicas (or 1 with 1 replica)."""
    problems = []
    prof = profile(variant)
    seen = {}
    nbrokers = len(broker_ids(docs))
    for t in of_kind(docs, "KafkaTopic"):
        mname = t["metadata"]["name"]
        if not DNS1123_SUBDOMAIN.match(mname) or len(mname) > 253:
            problems.append("KafkaTopic metadata.name %r is not a lowercase DNS name" % mname)
        if (t["metadata"].get("labels") or {}).get("strimzi.io/cluster") != CLUSTER:
            problems.append("KafkaTopic %s lacks label strimzi.io/cluster: %s" % (mname, CLUSTER))
        tname = (t["spec"] or {}).get("topicName") or mname
        if not KAFKA_TOPIC_NAME.match(tname) or tname in (".", ".."):
            problems.append("KafkaTopic %s: %r is not a valid Kafka topic name" % (mname, tname))
        if tname in seen:
            problems.append("topic %s declared by KafkaTopics %s and %s" % (tname, seen[tname], mname))
        seen[tname] = mname
        replicas = (t["spec"] or {}).get("replicas")
        if replicas is not None and replicas > nbrokers:
            problems.append("KafkaTopic %s: %d replicas, %d brokers" % (mname, replicas, nbrokers))
        if replicas is not None and replicas != prof["replication"]:
            problems.append("KafkaTopic %s: %d replicas, want %d (min.insync.replicas %d)"
                            % (mname, replicas, prof["replication"], prof["min_isr"]))
        isr = ((t["spec"] or {}).get("config") or {}).get("min.insync.replicas")
        n = replicas if replicas is not None else prof["replication"]
        if isr is not None and (int(isr) > n or (n > 1 and int(isr) >= n)):
            problems.append("KafkaTopic %s: min.insync.replicas %s with %d replicas: one broker "
                            "down stops every write" % (mname, isr, n))
    return problems


def check_app_wiring(docs):
    """The Deployments' Kafka settings agree with the cluster, the topics and the ACLs: the
    bootstrap address is a listener of my-cluster and the security settings fit it; every
    topic the producer can write (routes + KAFKA_TOPIC) exists and its user may write it;
    serve may read its inputs and group, write its outputs, and use its transactional ids;
    and neither user has more (least privilege)."""
    problems = []
    kafka = one(docs, "Kafka")
    listeners = {l["port"]: l for l in kafka["spec"]["kafka"]["listeners"]}
    topics = topic_names(docs)
    users = {u["metadata"]["name"]: u for u in of_kind(docs, "KafkaUser")}

    for dep_name in (PRODUCER, SERVE):
        dep, spec, c = deployment_container(docs, dep_name)
        env = env_of(c)
        host, _, port = (env.get("KAFKA_BROKERS") or "").partition(":")
        if host not in ("%s-kafka-bootstrap" % CLUSTER,
                        "%s-kafka-bootstrap.%s.svc" % (CLUSTER, NAMESPACE),
                        "%s-kafka-bootstrap.%s.svc.cluster.local" % (CLUSTER, NAMESPACE)):
            problems.append("%s: KAFKA_BROKERS %s is not my-cluster's bootstrap service"
                            % (dep_name, env.get("KAFKA_BROKERS")))
            continue
        listener = listeners.get(int(port or 0))
        if not listener or listener["type"] != "internal":
            problems.append("%s: KAFKA_BROKERS port %s is no internal listener" % (dep_name, port))
            continue
        proto = (env.get("KAFKA_SECURITY_PROTOCOL") or "plaintext").lower()
        auth = (listener.get("authentication") or {}).get("type")
        want = {(True, "scram-sha-512"): "sasl_ssl", (False, "scram-sha-512"): "sasl_plaintext",
                (True, "tls"): "ssl", (True, None): "ssl", (False, None): "plaintext"}.get(
                    (listener["tls"], auth))
        if proto != want:
            problems.append("%s: security protocol %s on listener %s (tls %s, %s), want %s"
                            % (dep_name, proto, listener["name"], listener["tls"], auth, want))
        xp = xprops(c.get("args") or [])
        if auth == "scram-sha-512":
            if env.get("KAFKA_SASL_MECHANISM") != "SCRAM-SHA-512":
                problems.append("%s: KAFKA_SASL_MECHANISM %s, the listener wants SCRAM-SHA-512"
                                % (dep_name, env.get("KAFKA_SASL_MECHANISM")))
            user_name = env.get("KAFKA_SASL_USERNAME")
        elif auth == "tls":
            # The client certificate and key: user.crt and user.key of the Secret the User
            # Operator names after the KafkaUser; that KafkaUser is who the pod is.
            user_name = None
            for k, key in (("ssl.certificate.location", "user.crt"), ("ssl.key.location", "user.key")):
                path = xp.get(k)
                vm, vol = mount_for(c, spec, path or "")
                if not path or not vol or "secret" not in vol or file_in_volume(vol, vm, path) != key:
                    problems.append("%s: -X %s is not %s of a KafkaUser's Secret" % (dep_name, k, key))
                    continue
                if user_name not in (None, vol["secret"]["secretName"]):
                    problems.append("%s: certificate and key from different Secrets" % dep_name)
                user_name = vol["secret"]["secretName"]
            if user_name is None:
                continue
        else:
            user_name = None
        if listener["tls"]:
            ca = env.get("KAFKA_SSL_CA_LOCATION")
            vm, vol = mount_for(c, spec, ca or "")
            if not ca or not vol or (vol.get("secret") or {}).get("secretName") != \
                    "%s-cluster-ca-cert" % CLUSTER or file_in_volume(vol, vm, ca) != "ca.crt":
                problems.append("%s: KAFKA_SSL_CA_LOCATION %s is not ca.crt of Secret %s-cluster-ca-cert"
                                % (dep_name, ca, CLUSTER))
        user = users.get(user_name)
        if user is None:
            problems.append("%s: Kafka user %s has no KafkaUser" % (dep_name, user_name))
            continue
        if (user["spec"].get("authentication") or {}).get("type") != auth:
            problems.append("%s: KafkaUser %s authenticates with %s, the listener with %s"
                            % (dep_name, user["metadata"]["name"],
                               (user["spec"].get("authentication") or {}).get("type"), auth))

        args = [str(a) for a in c.get("args") or []]
        if dep_name == PRODUCER:
            routes = routes_of(docs, c, spec)
            wanted = {r["topic"] for r in routes.get("routes") or []}
            wanted.add(env.get("KAFKA_TOPIC") or routes.get("default_topic") or "my-topic")
            wanted |= set(flag_values(args, "--dead-letter-topic"))  # dead letters are written too
            writes = wanted
            reads, groups, txn = set(), set(), None
            if not acl_allows(user, "cluster", None, "IdempotentWrite"):
                problems.append("%s: KafkaUser %s lacks IdempotentWrite on the cluster (acks=all "
                                "+ idempotence)" % (dep_name, user["metadata"]["name"]))
        else:
            reads = set(flag_values(args, "--topic"))
            if not reads:
                problems.append("%s: no --topic" % dep_name)
            group = (flag_values(args, "--group") or [SERVE_DEFAULTS["--group"]])[0]
            out = (flag_values(args, "--output-topic") or [group + ".views"])[0]
            log = (flag_values(args, "--changelog-topic") or [group + ".changelog"])[0]
            writes = {out, log}
            reads = reads | {log}  # the changelog is read back to restore state
            groups = {group}
            txn = "speedlayer-serve-%s-" % group
            if log in topics and ((topics[log]["spec"].get("config") or {}).get("cleanup.policy")
                                  != "compact"):
                problems.append("changelog topic %s is not compacted" % log)
            for t in sorted(writes):
                if not acl_allows(user, "topic", t, "DescribeConfigs"):
                    problems.append("%s: no DescribeConfigs on %s (serve checks its record sizes "
                                    "against the topic's max.message.bytes)" % (dep_name, t))
            for op in ("Write", "Describe"):
                if not acl_allows(user, "transactionalId", txn + "some-pod", op):
                    problems.append("%s: no %s on transactional ids %s*" % (dep_name, op, txn))
            if not acl_allows(user, "group", group, "Read"):
                problems.append("%s: no Read on group %s" % (dep_name, group))
        for t in sorted(reads | writes):
            if t not in topics:
                problems.append("%s uses topic %s, which has no KafkaTopic" % (dep_name, t))
        for t in sorted(reads):
            if not acl_allows(user, "topic", t, "Read"):
                problems.append("%s: KafkaUser %s may not Read %s" % (dep_name, user["metadata"]["name"], t))
        for t in sorted(writes):
            if not acl_allows(user, "topic", t, "Write"):
                problems.append("%s: KafkaUser %s may not Write %s" % (dep_name, user["metadata"]["name"], t))

        # Least privilege: nothing beyond what was derived above.
        for acl in user["spec"]["authorization"]["acls"]:
            r, ops = acl["resource"], set(acl["operations"])
            what = "%s: KafkaUser %s ACL %s %s %s" % (dep_name, user["metadata"]["name"], r["type"],
                                                    r.get("name"), sorted(ops))
            if acl.get("type", "allow") != "allow":
                continue
            if "All" in ops or r.get("name") == "*":
                problems.append(what + ": All or a wildcard")
                continue
            pattern = r.get("patternType", "literal")
            if r["type"] == "topic":
                if pattern != "literal":
                    problems.append(what + ": a topic prefix grants topics nobody named")
                allowed = set()
                if r.get("name") in reads:
                    allowed |= {"Read", "Describe"}
                if r.get("name") in writes:
                    allowed |= {"Write", "Describe"}
                if dep_name == SERVE and r.get("name") in writes:
                    # serve reads its output and changelog topics' max.message.bytes at start
                    allowed |= {"DescribeConfigs"}
                if ops - allowed:
                    problems.append(what + ": more than %s" % sorted(allowed))
            elif r["type"] == "group":
                if pattern == "literal" and r.get("name") in groups:
                    extra = ops - {"Read", "Describe"}
                elif dep_name == SERVE and pattern == "prefix" and \
                        r.get("name") == "speedlayer-changelog-reader-":
                    extra = ops - {"Describe"}
                else:
                    extra = ops
                if extra:
                    problems.append(what + ": not needed")
            elif r["type"] == "cluster":
                if dep_name != PRODUCER or ops != {"IdempotentWrite"}:
                    problems.append(what + ": not needed")
            elif r["type"] == "transactionalId":
                if txn is None or not txn.startswith(r.get("name", "\0")) or \
                        ops - {"Write", "Describe"}:
                    problems.append(what + ": not needed")
    return problems


def check_shutdown(docs):
    """The producer's grace period leaves time for its flush (--flush-timeout) to finish."""
    problems = []
    dep, spec, c = deployment_container(docs, PRODUCER)
    flush = seconds((flag_values(c.get("args") or [], "--flush-timeout") or [DEFAULT_FLUSH_TIMEOUT])[0])
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if not grace > flush + 5:
        problems.append("%s: terminationGracePeriodSeconds %s does not leave the %ss flush "
                        "(plus 5 s to start and report) time" % (PRODUCER, grace, flush))
    # With a read-only root filesystem the dead-letter file must be on a writable volume.
    dl = (flag_values(c.get("args") or [], "--dead-letter") or ["speedlayer-dead-letter.jsonl"])[0]
    vm, vol = mount_for(c, spec, dl if dl.startswith("/") else "/tmp/" + dl)
    if not vol or "emptyDir" not in vol and "persistentVolumeClaim" not in vol or vm.get("readOnly"):
        problems.append("%s: dead-letter file %s is not on a writable volume" % (PRODUCER, dl))
    if "--generate" not in (c.get("args") or []):
        problems.append("%s: not running the pod's synthetic stream (--generate)" % PRODUCER)
    return problems


def check_serve(docs, variant="base"):
    """Several serve replicas (one in dev) behind a Service, a PodDisruptionBudget that lets a
    drain proceed, Prometheus scraping."""
    problems = []
    dep, spec, c = deployment_container(docs, SERVE)
    want = profile(variant)["serve_replicas"]
    if dep["spec"].get("replicas", 1) < want:
        problems.append("%s: fewer than %d replicas" % (SERVE, want))
    labels = dep["spec"]["template"]["metadata"]["labels"]
    sel = lambda s: s and all(labels.get(k) == v for k, v in s.items())  # noqa: E731
    if not [s for s in of_kind(docs, "Service") if sel(s["spec"].get("selector"))]:
        problems.append("no Service selects %s" % SERVE)
    pdbs = [p for p in of_kind(docs, "PodDisruptionBudget")
            if sel(p["spec"]["selector"].get("matchLabels"))]
    if not pdbs:
        problems.append("no PodDisruptionBudget for %s" % SERVE)
    for p in pdbs:
        if "minAvailable" in p["spec"] and int(p["spec"]["minAvailable"]) >= dep["spec"]["replicas"]:
            problems.append("PodDisruptionBudget %s blocks every voluntary disruption"
                            % p["metadata"]["name"])
    ann = dep["spec"]["template"]["metadata"].get("annotations") or {}
    args = c.get("args") or []
    # /metrics is scraped on the probe listener when there is one.
    listen = (flag_values(args, "--probe-listen") or flag_values(args, "--listen")
              or [SERVE_DEFAULTS["--listen"]])[0]
    port = listen.rsplit(":", 1)[1]
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != port or \
            ann.get("prometheus.io/path") != "/metrics":
        problems.append("%s: Prometheus annotations do not point at :%s/metrics" % (SERVE, port))
    if int(port) not in [p["containerPort"] for p in c.get("ports") or []]:
        problems.append("%s: listens on %s but declares no such port" % (SERVE, port))
    return problems


def _host_port(address):
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else None


def container_port_number(container, ref):
    """A probe's or Service's port (a number or a container port's name) -> the number."""
    if isinstance(ref, int):
        return ref
    for p in container.get("ports") or []:
        if p.get("name") == ref:
            return p["containerPort"]
    return None


def check_serve_listeners(docs):
    """serve's HTTP listeners: --listen given explicitly (its default is loopback) on a
    non-loopback address; --probe-listen on a port of its own; both ports declared; liveness
    and readiness probes on the probe port; the Service on the API port."""
    problems = []
    dep, spec, c = deployment_container(docs, SERVE)
    args = [str(a) for a in c.get("args") or []]
    declared = {p["containerPort"] for p in c.get("ports") or []}
    ports = {}
    for flag in ("--listen", "--probe-listen"):
        values = flag_values(args, flag)
        if len(values) != 1:
            problems.append("%s: %s given %d times, want once (explicitly)" % (SERVE, flag, len(values)))
            continue
        host, port = _host_port(values[0])
        if port is None:
            problems.append("%s: %s %s has no port" % (SERVE, flag, values[0]))
            continue
        if host in ("localhost", "::1") or host.startswith("127."):
            problems.append("%s: %s %s is loopback: the kubelet, the Service and Prometheus "
                            "cannot reach it" % (SERVE, flag, values[0]))
        if port not in declared:
            problems.append("%s: %s port %d is not a declared containerPort" % (SERVE, flag, port))
        ports[flag] = port
    if len(ports) < 2:
        return problems
    if ports["--listen"] == ports["--probe-listen"]:
        problems.append("%s: --listen and --probe-listen share port %d" % (SERVE, ports["--listen"]))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        p = c.get(probe)
        if not p:
            continue
        got = container_port_number(c, (p.get("httpGet") or {}).get("port"))
        if got != ports["--probe-listen"]:
            problems.append("%s: %s on port %s, not the --probe-listen port %d (API clients could "
                            "starve it)" % (SERVE, probe, (p.get("httpGet") or {}).get("port"),
                                            ports["--probe-listen"]))
    labels = dep["spec"]["template"]["metadata"]["labels"]
    for svc in of_kind(docs, "Service"):
        sel = svc["spec"].get("selector") or {}
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            continue
        for sp in svc["spec"].get("ports") or []:
            target = container_port_number(c, sp.get("targetPort", sp["port"]))
            if target != ports["--listen"]:
                problems.append("Service %s port %s goes to container port %s, not the API "
                                "(--listen %d)" % (svc["metadata"]["name"], sp["port"], target,
                                                   ports["--listen"]))
    return problems


# ----------------------------------------------------------------------------------------
# Network policies: evaluated the way a CNI does (the union of the rules of every policy that
# selects a pod; a pod no policy of a direction selects is open in that direction) for
# stand-in endpoints: the Strimzi pods of the rendered cluster, kube-dns, a pod of the
# monitoring namespace, pods elsewhere and an address outside the cluster.

ALL_PORTS = "all ports"
DNS = {("UDP", 53), ("TCP", 53)}


def selector_matches(sel, labels):
    """A Kubernetes label selector ({} matches everything)."""
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(k) not in vals or \
                op == "NotIn" and k in labels and labels[k] in vals or \
                op == "Exists" and k not in labels or op == "DoesNotExist" and k in labels:
            return False
    return True


def endpoint(desc, namespace=None, labels=None, ns_labels=None, ip="10.244.1.10"):
    """A pod (namespace given) or an address outside the cluster (namespace None)."""
    if namespace is not None:
        ns_labels = dict(ns_labels or {}, **{"kubernetes.io/metadata.name": namespace})
    return {"desc": desc, "namespace": namespace, "labels": labels or {},
            "ns_labels": ns_labels or {}, "ip": ip}


def peer_matches(peer, policy_ns, ep):
    if "ipBlock" in peer:
        net = ipaddress.ip_network(peer["ipBlock"]["cidr"])
        ip = ipaddress.ip_address(ep["ip"])
        return ip in net and not any(ip in ipaddress.ip_network(x)
                                     for x in peer["ipBlock"].get("except") or [])
    if ep["namespace"] is None:
        return False
    ns_sel = peer.get("namespaceSelector")
    if ns_sel is None:
        if ep["namespace"] != policy_ns:
            return False
    elif not selector_matches(ns_sel, ep["ns_labels"]):
        return False
    pod_sel = peer.get("podSelector")
    return pod_sel is None or selector_matches(pod_sel, ep["labels"])


def policy_types(np):
    t = np["spec"].get("policyTypes")
    if t:
        return set(t)
    return {"Ingress"} | ({"Egress"} if "egress" in np["spec"] else set())


def allowed(docs, pod, direction, ep):
    """What `pod` (an app_pods() entry) may exchange with endpoint `ep`: ingress from it or
    egress to it. A set of (protocol, port), or ALL_PORTS."""
    policies = [np for np in of_kind(docs, "NetworkPolicy")
                if np["metadata"].get("namespace") == pod["namespace"]
                and selector_matches(np["spec"].get("podSelector") or {}, pod["labels"])
                and direction in policy_types(np)]
    if not policies:
        return ALL_PORTS
    out = set()
    for np in policies:
        for rule in np["spec"].get(direction.lower()) or []:
            peers = rule.get("from" if direction == "Ingress" else "to")
            if peers and not any(peer_matches(p, np["metadata"]["namespace"], ep) for p in peers):
                continue
            if not rule.get("ports"):
                return ALL_PORTS
            for p in rule["ports"]:
                proto, port = p.get("protocol", "TCP"), p.get("port")
                if port is None:
                    return ALL_PORTS
                if direction == "Ingress" and isinstance(port, str):
                    port = container_port_number(pod["container"], port) or port
                end = p.get("endPort")
                if end and isinstance(port, int):
                    out |= {(proto, n) for n in range(port, end + 1)}
                else:
                    out.add((proto, port))
    return out


def app_pods(docs):
    """name -> a pod of each speedlayer Deployment: namespace, labels, container, and the
    Kafka ports it connects to (KAFKA_BROKERS)."""
    out = {}
    for name in (PRODUCER, SERVE):
        dep, spec, c = deployment_container(docs, name)
        brokers = env_of(c).get("KAFKA_BROKERS") or ""
        kafka_ports = {int(hp.rpartition(":")[2]) for hp in brokers.split(",")
                       if hp.rpartition(":")[2].isdigit()}
        out[name] = {"name": name, "namespace": dep["metadata"].get("namespace", NAMESPACE),
                     "labels": dep["spec"]["template"]["metadata"]["labels"], "container": c,
                     "kafka_ports": kafka_ports}
    return out


def endpoints(docs):
    """Stand-ins for everything around the speedlayer pods."""
    k, v = MONITORING_LABEL
    eps = [endpoint(desc, NAMESPACE, labels) for desc, labels in strimzi_pod_labels(docs)]
    for name, pod in app_pods(docs).items():
        eps.append(endpoint("%s pod" % name, pod["namespace"], pod["labels"]))
    eps += [
        endpoint("another pod of namespace %s" % NAMESPACE, NAMESPACE, {"app": "client"}),
        endpoint("kube-dns pod", "kube-system", {"k8s-app": "kube-dns"}),
        endpoint("another kube-system pod", "kube-system", {"k8s-app": "metrics-server"}),
        endpoint("Prometheus in the monitoring namespace", "monitoring",
                 {"app.kubernetes.io/name": "prometheus"}, {k: v}),
        endpoint("a pod of namespace default", "default", {"app": "client"}),
        endpoint("a pod labelled %s=%s in namespace default" % (k, v), "default", {k: v}),
        endpoint("an address outside the cluster", ip="203.0.113.7"),
    ]
    return eps


def _fmt(ports):
    return ports if ports == ALL_PORTS else sorted(ports, key=str) or "nothing"


def check_network_policies_isolate(docs):
    """The producer and serve are each selected by a NetworkPolicy for ingress and egress."""
    problems = []
    for name, pod in app_pods(docs).items():
        for direction in ("Ingress", "Egress"):
            if not [np for np in of_kind(docs, "NetworkPolicy")
                    if np["metadata"].get("namespace") == pod["namespace"]
                    and selector_matches(np["spec"].get("podSelector") or {}, pod["labels"])
                    and direction in policy_types(np)]:
                problems.append("%s: no NetworkPolicy restricts its %s" % (name, direction.lower()))
    return problems


def check_dns_egress(docs):
    """Both pods reach kube-dns in kube-system on UDP and TCP 53 (TCP: answers over 512 bytes)."""
    problems = []
    dns = endpoint("kube-dns", "kube-system", {"k8s-app": "kube-dns"})
    for name, pod in app_pods(docs).items():
        got = allowed(docs, pod, "Egress", dns)
        if got != ALL_PORTS and not DNS <= got:
            problems.append("%s: DNS egress to kube-dns allows %s, want UDP and TCP 53"
                            % (name, _fmt(got)))
    return problems


def check_egress_only_to_kafka(docs):
    """The producer's and serve's egress: every broker pod on the Kafka ports the pod uses
    (KAFKA_BROKERS), exactly; DNS to kube-dns; nothing to anything else (controllers, the
    operators, other pods, other namespaces, outside the cluster)."""
    problems = []
    eps = endpoints(docs)
    for name, pod in app_pods(docs).items():
        want = {("TCP", p) for p in pod["kafka_ports"]}
        brokers = 0
        for ep in eps:
            got = allowed(docs, pod, "Egress", ep)
            if is_broker_pod(ep["labels"]) and ep["namespace"] == NAMESPACE:
                brokers += 1
                if got != want:
                    problems.append("%s: egress to %s allows %s, want %s (the Kafka listener it "
                                    "uses)" % (name, ep["desc"], _fmt(got), _fmt(want)))
            elif ep["desc"] == "kube-dns pod":
                if got == ALL_PORTS or got - DNS:
                    problems.append("%s: egress to kube-dns allows %s, more than DNS" % (name, _fmt(got)))
            elif got:
                problems.append("%s: egress to %s allows %s" % (name, ep["desc"], _fmt(got)))
        if not brokers:
            problems.append("no broker pod to check: no KafkaNodePool with the broker role")
    return problems


def check_producer_no_ingress(docs):
    """Nothing may connect to the producer: it serves nothing."""
    problems = []
    pod = app_pods(docs)[PRODUCER]
    for ep in endpoints(docs):
        got = allowed(docs, pod, "Ingress", ep)
        if got:
            problems.append("%s: ingress from %s allows %s" % (PRODUCER, ep["desc"], _fmt(got)))
    return problems


def check_serve_ingress(docs):
    """serve's API port (--listen) only from pods of its namespace and of the monitoring
    namespace (labelled speedlayer.io/monitoring: "true"); its probe port (--probe-listen,
    where Prometheus scrapes) from the monitoring namespace too; nothing else from anywhere."""
    problems = []
    pod = app_pods(docs)[SERVE]
    args = [str(a) for a in pod["container"].get("args") or []]
    api = _host_port((flag_values(args, "--listen") or [SERVE_DEFAULTS["--listen"]])[0])[1]
    probe = _host_port((flag_values(args, "--probe-listen") or ["none:%d" % api])[0])[1]
    for ep in endpoints(docs):
        got = allowed(docs, pod, "Ingress", ep)
        if ep["namespace"] == NAMESPACE:
            want = {("TCP", api)}
        elif MONITORING_LABEL in ep["ns_labels"].items():
            want = {("TCP", api), ("TCP", probe)}
        else:
            want = set()
        if got != want:
            problems.append("%s: ingress from %s allows %s, want %s"
                            % (SERVE, ep["desc"], _fmt(got), _fmt(want)))
    return problems


def check_kafka_admits_apps(docs):
    """Strimzi's own NetworkPolicy for the Kafka pods admits on each listener its
    networkPolicyPeers (every pod when there are none). The listeners the pods use must admit
    them, and no pod of another namespace."""
    problems = []
    kafka = one(docs, "Kafka")
    listeners = {l["port"]: l for l in kafka["spec"]["kafka"]["listeners"]}
    ns = kafka["metadata"].get("namespace", NAMESPACE)
    stranger = endpoint("a pod of namespace default", "default", {"app": "client"})
    for name, pod in app_pods(docs).items():
        ep = endpoint("%s pod" % name, pod["namespace"], pod["labels"])
        for port in sorted(pod["kafka_ports"]):
            l = listeners.get(port)
            if l is None:
                problems.append("%s: no listener on port %d" % (name, port))
                continue
            peers = l.get("networkPolicyPeers") or []
            if peers and not any(peer_matches(p, ns, ep) for p in peers):
                problems.append("%s: listener %s (%d) admits only %s: not this pod"
                                % (name, l["name"], port, peers))
            if not peers or any(peer_matches(p, ns, stranger) for p in peers):
                problems.append("listener %s (%d), used by %s, admits pods of other namespaces "
                                "(networkPolicyPeers)" % (l["name"], port, name))
    return problems


def check_images(docs):
    problems = []
    for name, spec in pod_specs(docs):
        for c in containers(spec):
            image = c.get("image", "")
            tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
            if not tag and "@sha256:" not in image or tag == "latest":
                problems.append("%s/%s: image %r is not pinned to a version" % (name, c["name"], image))
    return problems


# ----------------------------------------------------------------------------------------
# Versions, spread, Cruise Control, quotas, certificate renewal, metrics, compaction

# The Strimzi release docs/deploy.md installs, and the Kafka versions it supports: the
# entries with `supported: true` of kafka-versions.yaml at tag 1.0.1 of
# strimzi/strimzi-kafka-operator (default 4.2.0). Strimzi 1.1.0 dropped Kafka 4.1.x.
STRIMZI_VERSION = "1.0.1"
STRIMZI_KAFKA_VERSIONS = {"4.1.0": "4.1", "4.1.1": "4.1", "4.1.2": "4.1", "4.2.0": "4.2"}
KAFKA_BROKER_SCRIPT = REPO / "scripts" / "kafka-broker.sh"


def broker_kafka_version():
    """The Kafka version the tests run (scripts/kafka-broker.sh DEFAULT_KAFKA_VERSION)."""
    m = re.search(r"^readonly DEFAULT_KAFKA_VERSION=(\S+)$", KAFKA_BROKER_SCRIPT.read_text(), re.M)
    assert m, "no DEFAULT_KAFKA_VERSION in %s" % KAFKA_BROKER_SCRIPT
    return m.group(1)


def check_versions_pinned(docs):
    """spec.kafka.version and metadataVersion are pinned (Strimzi otherwise runs its newest
    Kafka, so an operator upgrade upgrades Kafka), to a version the pinned Strimzi release
    supports, and metadataVersion is of that version's line."""
    problems = []
    kafka = one(docs, "Kafka")["spec"]["kafka"]
    version, meta = kafka.get("version"), kafka.get("metadataVersion")
    if not version:
        problems.append("Kafka spec.kafka.version is not set: it follows the operator's default")
    elif str(version) not in STRIMZI_KAFKA_VERSIONS:
        problems.append("Kafka %s is not supported by Strimzi %s (supported: %s)"
                        % (version, STRIMZI_VERSION, ", ".join(STRIMZI_KAFKA_VERSIONS)))
    if not meta:
        problems.append("Kafka spec.kafka.metadataVersion is not set")
    elif version and str(version) in STRIMZI_KAFKA_VERSIONS and \
            not str(meta).startswith(STRIMZI_KAFKA_VERSIONS[str(version)] + "-IV"):
        problems.append("metadataVersion %s does not belong to Kafka %s" % (meta, version))
    return problems


def _selects(sel, labels):
    return all(labels.get(k) == v for k, v in (sel.get("matchLabels") or {}).items()) and \
        not sel.get("matchExpressions")


def check_spread(docs):
    """Brokers and controllers on different nodes: each KafkaNodePool's pod template has a
    required pod anti-affinity on kubernetes.io/hostname that selects the pool's own pods
    (strimzi.io/cluster + strimzi.io/pool-name), and a zone topology spread constraint
    (ScheduleAnyway: clusters without zone labels still schedule). Strimzi makes the Kafka
    pods' PodDisruptionBudget (maxUnavailable 1 here); no PDB of ours selects Kafka pods.
    serve's replicas spread over nodes."""
    problems = []
    kafka = one(docs, "Kafka")
    cluster = kafka["metadata"]["name"]
    for pool in of_kind(docs, "KafkaNodePool"):
        name = pool["metadata"]["name"]
        own = {"strimzi.io/cluster": cluster, "strimzi.io/pool-name": name,
               "strimzi.io/kind": "Kafka"}
        pod = ((pool["spec"].get("template") or {}).get("pod") or {})
        terms = (((pod.get("affinity") or {}).get("podAntiAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        if not [t for t in terms if t.get("topologyKey") == "kubernetes.io/hostname"
                and _selects(t.get("labelSelector") or {}, own)
                and (t.get("labelSelector") or {}).get("matchLabels", {}).get("strimzi.io/pool-name") == name]:
            problems.append("KafkaNodePool %s: no required pod anti-affinity on "
                            "kubernetes.io/hostname for its own pods: all of them may share a node"
                            % name)
        zone = [c for c in pod.get("topologySpreadConstraints") or []
                if c.get("topologyKey") == "topology.kubernetes.io/zone"
                and _selects(c.get("labelSelector") or {}, own)]
        if not zone:
            problems.append("KafkaNodePool %s: no topology spread over zones" % name)
        elif any(c.get("whenUnsatisfiable") != "ScheduleAnyway" for c in zone):
            problems.append("KafkaNodePool %s: the zone spread is DoNotSchedule: clusters "
                            "without zone labels could not schedule it" % name)
    pdb = (((kafka["spec"]["kafka"].get("template") or {}).get("podDisruptionBudget")) or {})
    if pdb.get("maxUnavailable") is None or int(pdb["maxUnavailable"]) < 1:
        problems.append("Kafka template.podDisruptionBudget.maxUnavailable is not set to 1 or "
                        "more (0 blocks every drain)")
    for p in of_kind(docs, "PodDisruptionBudget"):
        sel = p["spec"].get("selector") or {}
        for desc, labels in strimzi_pod_labels(docs):
            if selector_matches(sel, labels):
                problems.append("PodDisruptionBudget %s selects the %s: Strimzi makes those"
                                % (p["metadata"]["name"], desc))
                break
    dep, spec, c = deployment_container(docs, SERVE)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    if not [t for t in spec.get("topologySpreadConstraints") or []
            if t.get("topologyKey") == "kubernetes.io/hostname"
            and _selects(t.get("labelSelector") or {}, labels)]:
        problems.append("%s: replicas not spread over nodes" % SERVE)
    return problems


def check_cruise_control(docs, variant="base"):
    """Cruise Control (to move partitions onto added brokers, KafkaRebalance) and Kafka
    Exporter (consumer lag) in the production layout; the dev overlay leaves them out."""
    problems = []
    spec = one(docs, "Kafka")["spec"]
    prof = profile(variant)
    for key, want in (("cruiseControl", prof["cruise_control"]),
                      ("kafkaExporter", prof["kafka_exporter"])):
        if want and key not in spec:
            problems.append("Kafka has no %s" % key)
        if not want and key in spec:
            problems.append("Kafka has %s, which this profile (%s) leaves out" % (key, variant))
    return problems


def check_kafka_metrics(docs):
    """Kafka's metricsConfig is the JMX Prometheus exporter with rules from a ConfigMap
    rendered here (name and key exist, the rules parse)."""
    problems = []
    mc = one(docs, "Kafka")["spec"]["kafka"].get("metricsConfig")
    if not mc or mc.get("type") != "jmxPrometheusExporter":
        return ["Kafka has no jmxPrometheusExporter metricsConfig"]
    ref = (mc.get("valueFrom") or {}).get("configMapKeyRef") or {}
    cms = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"] == ref.get("name")]
    if not cms:
        return ["metricsConfig names ConfigMap %s, which is not rendered" % ref.get("name")]
    text = (cms[0].get("data") or {}).get(ref.get("key"))
    if text is None:
        return ["ConfigMap %s has no key %s" % (ref.get("name"), ref.get("key"))]
    rules = (yaml.safe_load(text) or {}).get("rules")
    if not rules or not all("pattern" in r for r in rules):
        problems.append("ConfigMap %s key %s: no JMX exporter rules" % (ref.get("name"), ref.get("key")))
    return problems


def check_quotas(docs):
    """Every KafkaUser has quotas: producerByteRate when it may write, consumerByteRate when
    it may read, and requestPercentage; none is 0 (0 stops the client)."""
    problems = []
    for u in of_kind(docs, "KafkaUser"):
        name = u["metadata"]["name"]
        q = u["spec"].get("quotas") or {}
        ops = {op for a in (u["spec"].get("authorization") or {}).get("acls") or []
               if a["resource"]["type"] == "topic" for op in a["operations"]}
        want = ["requestPercentage"]
        if ops & {"Write", "All"}:
            want.append("producerByteRate")
        if ops & {"Read", "All"}:
            want.append("consumerByteRate")
        for k in want:
            if not q.get(k):
                problems.append("KafkaUser %s: no quota %s" % (name, k))
        if q.get("requestPercentage") and not 0 < q["requestPercentage"] <= 100:
            problems.append("KafkaUser %s: requestPercentage %s" % (name, q["requestPercentage"]))
    return problems


RELOAD_ANNOTATION = "secret.reloader.stakater.com/reload"


def mounted_secrets(spec):
    """Names of the Secrets a pod spec uses: secret volumes, projected sources, env."""
    names = set()
    for v in spec.get("volumes") or []:
        if "secret" in v:
            names.add(v["secret"]["secretName"])
        for src in (v.get("projected") or {}).get("sources") or []:
            if "secret" in src:
                names.add(src["secret"]["name"])
    for c in containers(spec):
        for e in c.get("env") or []:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        for ef in c.get("envFrom") or []:
            if "secretRef" in ef:
                names.add(ef["secretRef"]["name"])
    return names


def check_cert_reload(docs):
    """Certificate renewal: librdkafka reads certificates at start, Strimzi renews them in
    place. Each Deployment carries Stakater Reloader's annotation listing exactly the Secrets
    its pods use (the KafkaUser's, the cluster CA, the admin token), so that a renewed one
    rolls it; a name not used is a typo."""
    problems = []
    for dep in of_kind(docs, "Deployment"):
        name = dep["metadata"]["name"]
        used = mounted_secrets(dep["spec"]["template"]["spec"])
        ann = (dep["metadata"].get("annotations") or {}).get(RELOAD_ANNOTATION)
        listed = {s.strip() for s in (ann or "").split(",") if s.strip()}
        if used and ann is None:
            problems.append("%s: no %s annotation: renewed certificates are never picked up"
                            % (name, RELOAD_ANNOTATION))
            continue
        if used - listed:
            problems.append("%s: %s does not list %s" % (name, RELOAD_ANNOTATION,
                                                          ", ".join(sorted(used - listed))))
        if listed - used:
            problems.append("%s: %s lists %s, which the pod does not use"
                            % (name, RELOAD_ANNOTATION, ", ".join(sorted(listed - used))))
    return problems


def check_changelog_compaction(docs):
    """serve's changelog topic is compacted with settings chosen on purpose: segments rolled
    by size (at most 256 MiB) and time (at most an hour), min.cleanable.dirty.ratio below the
    0.5 default, delete.retention.ms (tombstones) set; the views topic's retention is set."""
    problems = []
    dep, spec, c = deployment_container(docs, SERVE)
    args = [str(a) for a in c.get("args") or []]
    group = (flag_values(args, "--group") or [SERVE_DEFAULTS["--group"]])[0]
    log = (flag_values(args, "--changelog-topic") or [group + ".changelog"])[0]
    out = (flag_values(args, "--output-topic") or [group + ".views"])[0]
    topics = topic_names(docs)
    if log not in topics:
        return ["no KafkaTopic for the changelog %s" % log]
    cfg = topics[log]["spec"].get("config") or {}
    if cfg.get("cleanup.policy") != "compact":
        problems.append("changelog %s: cleanup.policy %s" % (log, cfg.get("cleanup.policy")))
    if not cfg.get("segment.bytes") or int(cfg["segment.bytes"]) > 256 * 1024 ** 2:
        problems.append("changelog %s: segment.bytes %s (unset or over 256 MiB): the active "
                        "segment, never compacted, grows large" % (log, cfg.get("segment.bytes")))
    if not cfg.get("segment.ms") or int(cfg["segment.ms"]) > 3600 * 1000:
        problems.append("changelog %s: segment.ms %s (unset or over an hour)" % (log, cfg.get("segment.ms")))
    if cfg.get("min.cleanable.dirty.ratio") is None or float(cfg["min.cleanable.dirty.ratio"]) >= 0.5:
        problems.append("changelog %s: min.cleanable.dirty.ratio %s (unset or the 0.5 default)"
                        % (log, cfg.get("min.cleanable.dirty.ratio")))
    if cfg.get("delete.retention.ms") is None:
        problems.append("changelog %s: delete.retention.ms (tombstones) not set" % log)
    if out in topics and not (topics[out]["spec"].get("config") or {}).get("retention.ms"):
        problems.append("views topic %s: retention.ms not set" % out)
    return problems


def supported_versions_table():
    """Rows of the table under "## Supported versions" in docs/deploy.md: {first cell: row}."""
    text = (REPO / "docs" / "deploy.md").read_text()
    m = re.search(r"^## Supported versions\n(.*?)(?=^## )", text, re.M | re.S)
    assert m, 'docs/deploy.md has no "## Supported versions" section'
    rows = {}
    for line in m.group(1).splitlines():
        if line.startswith("|") and not re.match(r"^\|[-| :]+\|$", line):
            cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def test_pinned_versions_agree_with_tests_and_docs():
    """Every variant pins the same Kafka. The table of supported versions in docs/deploy.md
    (columns: component, pinned here, supported by the pinned release, what the tests here
    run) gives the pinned Strimzi release and the pinned Kafka in its "pinned here" cells, the
    pinned Kafka among the release's supported ones, and the test broker's version
    (scripts/kafka-broker.sh) in the last cell; when that differs from the pinned one, the
    cell says so ("differs")."""
    versions = {v: one(render(v), "Kafka")["spec"]["kafka"].get("version") for v in VARIANTS}
    assert len(set(versions.values())) == 1, "variants pin different Kafka versions: %s" % versions
    pinned = str(next(iter(versions.values())))
    rows = supported_versions_table()
    strimzi = next((r for k, r in rows.items() if k.startswith("Strimzi")), None)
    kafka = next((r for k, r in rows.items() if k.startswith("Apache Kafka")), None)
    assert strimzi and kafka, "the supported-versions table has no Strimzi or Apache Kafka row"
    assert re.findall(r"\d+\.\d+\.\d+", strimzi[1]) == [STRIMZI_VERSION], \
        "the table pins Strimzi %s, the tests know %s" % (strimzi[1], STRIMZI_VERSION)
    assert re.findall(r"\d+\.\d+\.\d+", kafka[1]) == [pinned], \
        "the table pins Kafka %s, the manifests %s" % (kafka[1], pinned)
    assert set(re.findall(r"\d+\.\d+\.\d+", kafka[2].split("(")[0])) == set(STRIMZI_KAFKA_VERSIONS), \
        "the table's supported Kafka versions %s are not Strimzi %s's %s" % (
            kafka[2], STRIMZI_VERSION, sorted(STRIMZI_KAFKA_VERSIONS))
    tested = broker_kafka_version()
    assert tested in re.findall(r"\d+\.\d+\.\d+", kafka[-1]), \
        "the test broker runs Kafka %s; the table says %r" % (tested, kafka[-1])
    if tested != pinned:
        assert "differ" in kafka[-1], ("the test broker runs Kafka %s, the manifests pin %s: the "
                                       "table must say that they differ" % (tested, pinned))


POLICY_CHECKS = [check_resources, check_probes, check_security_context, check_no_plaintext_secrets,
                 check_kafka_cluster, check_external_listeners, check_topics, check_app_wiring,
                 check_shutdown, check_serve, check_serve_listeners, check_images,
                 check_network_policies_isolate, check_dns_egress, check_egress_only_to_kafka,
                 check_producer_no_ingress, check_serve_ingress, check_kafka_admits_apps,
                 check_versions_pinned, check_spread, check_cruise_control, check_kafka_metrics,
                 check_quotas, check_cert_reload, check_changelog_compaction]


def run_check(check, docs, variant):
    """check(docs), or check(docs, variant) for checks that depend on the profile."""
    if "variant" in inspect.signature(check).parameters:
        return check(docs, variant)
    return check(docs)


@variants
@pytest.mark.parametrize("check", POLICY_CHECKS, ids=lambda f: f.__name__)
def test_policy(variant, check):
    problems = run_check(check, render(variant), variant)
    assert not problems, "\n".join(problems)


def test_base_has_no_external_listener():
    kafka = one(render("base"), "Kafka")
    assert not [l for l in kafka["spec"]["kafka"]["listeners"]
                if l["type"] in EXTERNAL_LISTENER_TYPES]


def test_external_variant_is_nodeport_9094_tls_scram():
    kafka = one(render("external"), "Kafka")
    ext = [l for l in kafka["spec"]["kafka"]["listeners"] if l["type"] in EXTERNAL_LISTENER_TYPES]
    assert len(ext) == 1
    l = ext[0]
    assert (l["type"], l["port"], l["tls"], l["authentication"]["type"]) == \
        ("nodeport", 9094, True, "scram-sha-512")
    assert [b["broker"] for b in l["configuration"]["brokers"]] == [100, 101, 102]
    # The external variant changes nothing but the listener and adds the laptop's user.
    base = render("base")
    ext_docs = render("external")
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert {key(d) for d in ext_docs} - {key(d) for d in base} == {("KafkaUser", "speedlayer-laptop")}


ADMIN_SECRET = "speedlayer-admin"


def test_admin_endpoint_off_in_base_on_in_admin_overlay():
    """The base does not pass --admin-token-file (POST /v1/expire stays off); the admin
    overlay passes it, pointing at the `token` key of Secret speedlayer-admin, mounted
    read-only with mode 0400, and changes nothing else."""
    base = render("base")
    for name, spec in pod_specs(base):
        for c in containers(spec):
            assert not flag_values(c.get("args") or [], "--admin-token-file"), \
                "%s enables the admin endpoint in the base" % name
    admin = render("admin")
    dep, spec, c = deployment_container(admin, SERVE)
    files = flag_values(c["args"], "--admin-token-file")
    assert len(files) == 1, "admin overlay: --admin-token-file given %d times" % len(files)
    vm, vol = mount_for(c, spec, files[0])
    assert vol and "secret" in vol, "%s is not in a mounted Secret" % files[0]
    assert vm.get("readOnly") is True, "the admin token's mount is not read-only"
    assert vol["secret"]["secretName"] == ADMIN_SECRET
    assert vol["secret"].get("defaultMode") == 0o400, "mode %s, want 0400" % oct(
        vol["secret"].get("defaultMode", 0o644))
    assert file_in_volume(vol, vm, files[0]) == "token"
    assert not [d for d in admin if d["kind"] == "Secret"], "the token is in the manifests"
    # Nothing else changes: the same objects, and serve differs only by the token.
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert {key(d) for d in admin} == {key(d) for d in base}
    for d in admin:
        if key(d) != ("Deployment", SERVE):
            assert d == next(b for b in base if key(b) == key(d)), "admin overlay changes %s/%s" % key(d)
    _, base_spec, base_c = deployment_container(base, SERVE)
    assert c["args"][:len(base_c["args"])] == base_c["args"]
    assert [m for m in c["volumeMounts"] if m is not vm] == base_c["volumeMounts"]
    assert [v for v in spec["volumes"] if v is not vol] == base_spec["volumes"]


def test_node_ids_from_annotations():
    assert parse_node_ids("[100-199]")[:3] == [100, 101, 102]
    assert parse_node_ids("[5, 8, 10-12]") == [5, 8, 10, 11, 12]
    assert parse_node_ids("[99-97]") == [99, 98, 97]
    pools = pool_node_ids(render("base"))
    assert pools["broker"] == (["broker"], [100, 101, 102])
    assert pools["controller"] == (["controller"], [0, 1, 2])


# ----------------------------------------------------------------------------------------
# Each check finds what it is for (mutations of the rendered manifests).


def container_of(docs, name):
    return deployment_container(docs, name)[2]


def _mut_drop_limits(docs):
    del container_of(docs, SERVE)["resources"]["limits"]


def _mut_producer_bigger(docs):
    container_of(docs, PRODUCER)["resources"]["limits"]["memory"] = "256Mi"


def _mut_pool_no_resources(docs):
    del of_kind(docs, "KafkaNodePool")[0]["spec"]["resources"]


def _mut_no_readiness(docs):
    del container_of(docs, SERVE)["readinessProbe"]


def _mut_liveness_wrong_path(docs):
    container_of(docs, SERVE)["livenessProbe"]["httpGet"]["path"] = "/"


def _mut_root(docs):
    container_of(docs, PRODUCER)["securityContext"]["runAsNonRoot"] = False
    one(docs, "Deployment", PRODUCER)["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = False


def _mut_writable_root(docs):
    container_of(docs, SERVE)["securityContext"]["readOnlyRootFilesystem"] = False


def _mut_escalation(docs):
    del container_of(docs, PRODUCER)["securityContext"]["allowPrivilegeEscalation"]


def _mut_caps(docs):
    container_of(docs, SERVE)["securityContext"]["capabilities"] = {"drop": ["NET_RAW"]}


def _mut_password_env(docs):
    container_of(docs, PRODUCER)["env"].append({"name": "KAFKA_SASL_PASSWORD", "value": "hunter2"})


def _mut_password_flag(docs):
    container_of(docs, SERVE)["args"] += ["--sasl-password", "hunter2"]


def _mut_secret_object(docs):
    docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "namespace": NAMESPACE},
                 "stringData": {"password": "hunter2"}})


def _mut_no_client_key(docs):
    c = container_of(docs, PRODUCER)
    i = next(i for i, a in enumerate(c["args"]) if str(a).startswith("ssl.key.location="))
    del c["args"][i - 1:i + 1]


def _mut_key_on_command_line(docs):
    container_of(docs, SERVE)["args"] += ["-X", "ssl.key.pem=-----BEGIN PRIVATE KEY-----MII..."]


def _mut_wrong_secret(docs):
    dep = one(docs, "Deployment", PRODUCER)
    for v in dep["spec"]["template"]["spec"]["volumes"]:
        if v["name"] == "kafka-user":
            v["secret"]["secretName"] = SERVE


def _mut_plaintext_external(docs):
    kafka = one(docs, "Kafka")
    for l in kafka["spec"]["kafka"]["listeners"]:
        if l["type"] == "nodeport":
            l["tls"] = False


def _mut_external_no_auth(docs):
    for l in one(docs, "Kafka")["spec"]["kafka"]["listeners"]:
        if l["type"] == "nodeport":
            del l["authentication"]


def _mut_broker_index(docs):
    # the founding document's mistake: brokers numbered 0, 1, 2 as list indexes
    for i, b in enumerate(next(l for l in one(docs, "Kafka")["spec"]["kafka"]["listeners"]
                               if l["type"] == "nodeport")["configuration"]["brokers"]):
        b["broker"] = i


def _mut_pool_ids_moved(docs):
    pool = one(docs, "KafkaNodePool", "broker")
    pool["metadata"]["annotations"]["strimzi.io/next-node-ids"] = "[200-299]"


def _mut_alt_names(docs):
    l = next(l for l in one(docs, "Kafka")["spec"]["kafka"]["listeners"] if l["type"] == "nodeport")
    l["configuration"]["bootstrap"]["alternativeNames"] = ["198.51.100.1"]


def _mut_topic_capital_name(docs):
    t = next(t for t in of_kind(docs, "KafkaTopic") if t["spec"].get("topicName") == "Sport")
    t["metadata"]["name"] = "Sport"
    del t["spec"]["topicName"]


def _mut_topic_bad_kafka_name(docs):
    of_kind(docs, "KafkaTopic")[0]["spec"]["topicName"] = "my topic"


def _mut_route_without_topic(docs):
    cm = next(c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].startswith("speedlayer-routes"))
    routes = yaml.safe_load(cm["data"]["routes.yaml"])
    routes["routes"].append({"topic": "Music", "keywords": ["guitar"]})
    cm["data"]["routes.yaml"] = yaml.safe_dump(routes)


def _mut_no_idempotent_write(docs):
    u = one(docs, "KafkaUser", PRODUCER)
    u["spec"]["authorization"]["acls"] = [a for a in u["spec"]["authorization"]["acls"]
                                          if a["resource"]["type"] != "cluster"]


def _mut_producer_reads(docs):
    u = one(docs, "KafkaUser", PRODUCER)
    u["spec"]["authorization"]["acls"][0]["operations"].append("Read")


def _mut_serve_all(docs):
    u = one(docs, "KafkaUser", SERVE)
    u["spec"]["authorization"]["acls"].append({"resource": {"type": "topic", "name": "*"},
                                               "operations": ["All"]})


def _mut_no_txn_acl(docs):
    u = one(docs, "KafkaUser", SERVE)
    u["spec"]["authorization"]["acls"] = [a for a in u["spec"]["authorization"]["acls"]
                                          if a["resource"]["type"] != "transactionalId"]


def _mut_serve_cannot_read_group(docs):
    c = container_of(docs, SERVE)
    i = c["args"].index("--group")
    c["args"][i + 1] = "other-group"


def _mut_plaintext_to_tls_port(docs):
    for e in container_of(docs, PRODUCER)["env"]:
        if e["name"] == "KAFKA_SECURITY_PROTOCOL":
            e["value"] = "plaintext"


def _mut_wrong_port(docs):
    for e in container_of(docs, SERVE)["env"]:
        if e["name"] == "KAFKA_BROKERS":
            e["value"] = "my-cluster-kafka-bootstrap:9094"


def _mut_changelog_not_compacted(docs):
    t = next(t for t in of_kind(docs, "KafkaTopic") if t["spec"].get("topicName") == "speedlayer.changelog")
    del t["spec"]["config"]


def _mut_short_grace(docs):
    one(docs, "Deployment", PRODUCER)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 10


def _mut_dead_letter_on_root(docs):
    c = container_of(docs, PRODUCER)
    i = c["args"].index("--dead-letter")
    c["args"][i + 1] = "/dead-letter.jsonl"


def _mut_one_replica(docs):
    one(docs, "Deployment", SERVE)["spec"]["replicas"] = 1


def _mut_no_pdb(docs):
    docs[:] = [d for d in docs if d["kind"] != "PodDisruptionBudget"]


def _mut_no_scrape(docs):
    del one(docs, "Deployment", SERVE)["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"]


def _mut_latest(docs):
    container_of(docs, SERVE)["image"] = "speedlayer:latest"


def _mut_no_authorization(docs):
    del one(docs, "Kafka")["spec"]["kafka"]["authorization"]


def _mut_replication(docs):
    one(docs, "Kafka")["spec"]["kafka"]["config"]["min.insync.replicas"] = 1


def _mut_no_plain_9092(docs):
    l = one(docs, "Kafka")["spec"]["kafka"]["listeners"]
    l[:] = [x for x in l if x["port"] != 9092]


def _mut_overlapping_ranges(docs):
    one(docs, "KafkaNodePool", "controller")["metadata"]["annotations"]["strimzi.io/next-node-ids"] = "[0-150]"


def _netpol(docs, name):
    return one(docs, "NetworkPolicy", name)


def _arg_value(docs, name, flag, value):
    c = container_of(docs, name)
    c["args"][c["args"].index(flag) + 1] = value


def _drop_flag(docs, name, flag):
    c = container_of(docs, name)
    i = c["args"].index(flag)
    del c["args"][i:i + 2]


def _mut_no_listen(docs):
    _drop_flag(docs, SERVE, "--listen")


def _mut_listen_loopback(docs):
    _arg_value(docs, SERVE, "--listen", "127.0.0.1:8080")


def _mut_no_probe_listen(docs):
    _drop_flag(docs, SERVE, "--probe-listen")


def _mut_readiness_on_api(docs):
    container_of(docs, SERVE)["readinessProbe"]["httpGet"]["port"] = "http"


def _mut_liveness_on_api_number(docs):
    container_of(docs, SERVE)["livenessProbe"]["httpGet"]["port"] = 8080


def _mut_probe_port_undeclared(docs):
    c = container_of(docs, SERVE)
    c["ports"] = [p for p in c["ports"] if p["containerPort"] != 8081]


def _mut_probe_listen_moved(docs):
    # the listener moves, the declared port and the probes stay
    _arg_value(docs, SERVE, "--probe-listen", "0.0.0.0:9090")


def _mut_service_to_probes(docs):
    one(docs, "Service", SERVE)["spec"]["ports"][0]["targetPort"] = "probes"


def _mut_scrape_on_api(docs):
    one(docs, "Deployment", SERVE)["spec"]["template"]["metadata"]["annotations"][
        "prometheus.io/port"] = "8080"


def _mut_admin_token_literal(docs):
    container_of(docs, SERVE)["args"] += ["--admin-token", "0123456789abcdef"]


def _mut_no_serve_policy(docs):
    docs[:] = [d for d in docs if not (d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == SERVE)]


def _mut_no_producer_policy(docs):
    docs[:] = [d for d in docs if not (d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == PRODUCER)]


def _mut_producer_policy_ingress_only(docs):
    np = _netpol(docs, PRODUCER)
    np["spec"]["policyTypes"] = ["Ingress"]


def _mut_producer_policy_misses_pods(docs):
    _netpol(docs, PRODUCER)["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] = "producers"


def _mut_no_dns(docs):
    np = _netpol(docs, PRODUCER)
    np["spec"]["egress"] = [r for r in np["spec"]["egress"]
                            if not any(p["port"] == 53 for p in r.get("ports") or [])]


def _mut_dns_udp_only(docs):
    for r in _netpol(docs, SERVE)["spec"]["egress"]:
        r["ports"] = [p for p in r["ports"] if p != {"protocol": "TCP", "port": 53}]


def _mut_dns_wrong_namespace(docs):
    for r in _netpol(docs, PRODUCER)["spec"]["egress"]:
        for peer in r["to"]:
            if "namespaceSelector" in peer:
                peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] = "kube-dns"


def _mut_producer_egress_anywhere(docs):
    _netpol(docs, PRODUCER)["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]})


def _mut_producer_egress_all_pods(docs):
    _netpol(docs, PRODUCER)["spec"]["egress"][0]["to"] = [{"podSelector": {}}]


def _mut_producer_egress_any_strimzi(docs):
    # every pod of the Kafka CR: controllers and the entity operator too
    sel = _netpol(docs, PRODUCER)["spec"]["egress"][0]["to"][0]["podSelector"]["matchLabels"]
    sel.pop("strimzi.io/broker-role")
    sel.pop("strimzi.io/name")


def _mut_producer_egress_wrong_port(docs):
    _netpol(docs, PRODUCER)["spec"]["egress"][0]["ports"] = [{"protocol": "TCP", "port": 9092}]


def _mut_producer_egress_all_ports(docs):
    del _netpol(docs, PRODUCER)["spec"]["egress"][0]["ports"]


def _mut_serve_egress_to_producer(docs):
    _netpol(docs, SERVE)["spec"]["egress"].append(
        {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "producer"}}}],
         "ports": [{"protocol": "TCP", "port": 8080}]})


def _mut_serve_no_kafka_egress(docs):
    np = _netpol(docs, SERVE)
    np["spec"]["egress"] = [r for r in np["spec"]["egress"]
                            if not any(p["port"] == 9093 for p in r.get("ports") or [])]


def _mut_producer_ingress_open(docs):
    _netpol(docs, PRODUCER)["spec"]["ingress"] = [{}]


def _mut_producer_ingress_from_namespace(docs):
    _netpol(docs, PRODUCER)["spec"]["ingress"] = [{"from": [{"podSelector": {}}]}]


def _mut_serve_ingress_any_namespace(docs):
    _netpol(docs, SERVE)["spec"]["ingress"][0]["from"].append({"namespaceSelector": {}})


def _mut_serve_ingress_no_from(docs):
    del _netpol(docs, SERVE)["spec"]["ingress"][0]["from"]


def _mut_serve_ingress_all_ports(docs):
    del _netpol(docs, SERVE)["spec"]["ingress"][0]["ports"]


def _mut_serve_ingress_monitoring_as_pod_label(docs):
    # the monitoring label put on a podSelector: matches pods of serve's namespace only
    for r in _netpol(docs, SERVE)["spec"]["ingress"]:
        r["from"] = [{"podSelector": p["namespaceSelector"]} if "namespaceSelector" in p else p
                     for p in r["from"]]


def _mut_serve_probe_port_from_namespace(docs):
    _netpol(docs, SERVE)["spec"]["ingress"][1]["from"].append({"podSelector": {}})


def _mut_serve_no_probe_rule(docs):
    del _netpol(docs, SERVE)["spec"]["ingress"][1]


def _mut_serve_ingress_ipblock(docs):
    _netpol(docs, SERVE)["spec"]["ingress"].append(
        {"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 8080}]})


def _mut_extra_policy_opens_serve(docs):
    # policies add up: a second one selecting serve opens it although the first is right
    docs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": "allow-all", "namespace": NAMESPACE},
                 "spec": {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]}})


def _mut_tls_listener_peers_exclude_producer(docs):
    for l in one(docs, "Kafka")["spec"]["kafka"]["listeners"]:
        if l["port"] == 9093:
            l["networkPolicyPeers"] = [{"podSelector": {"matchLabels": {
                "app.kubernetes.io/component": "serve"}}}]


def _mut_tls_listener_no_peers(docs):
    for l in one(docs, "Kafka")["spec"]["kafka"]["listeners"]:
        l.pop("networkPolicyPeers", None)


def _mut_tls_listener_peers_other_namespace(docs):
    for l in one(docs, "Kafka")["spec"]["kafka"]["listeners"]:
        if l["port"] == 9093:
            l["networkPolicyPeers"] = [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": "apps"}}}]


def _kafka_spec(docs):
    return one(docs, "Kafka")["spec"]


def _mut_no_version(docs):
    del _kafka_spec(docs)["kafka"]["version"]


def _mut_unsupported_version(docs):
    _kafka_spec(docs)["kafka"]["version"] = "4.3.1"   # Strimzi 1.1+ only
    _kafka_spec(docs)["kafka"]["metadataVersion"] = "4.3-IV0"


def _mut_metadata_of_other_line(docs):
    _kafka_spec(docs)["kafka"]["metadataVersion"] = "4.2-IV1"


def _pool_pod(docs, name):
    return one(docs, "KafkaNodePool", name)["spec"]["template"]["pod"]


def _mut_no_anti_affinity(docs):
    del _pool_pod(docs, "broker")["affinity"]


def _mut_anti_affinity_other_pool(docs):
    term = _pool_pod(docs, "broker")["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"][0]
    term["labelSelector"]["matchLabels"]["strimzi.io/pool-name"] = "controller"


def _mut_anti_affinity_preferred_only(docs):
    aa = _pool_pod(docs, "controller")["affinity"]["podAntiAffinity"]
    term = aa.pop("requiredDuringSchedulingIgnoredDuringExecution")[0]
    aa["preferredDuringSchedulingIgnoredDuringExecution"] = [{"weight": 100, "podAffinityTerm": term}]


def _mut_zone_spread_required(docs):
    _pool_pod(docs, "broker")["topologySpreadConstraints"][0]["whenUnsatisfiable"] = "DoNotSchedule"


def _mut_dev_pool_no_spread(docs):
    del one(docs, "KafkaNodePool", "dual-role")["spec"]["template"]


def _mut_our_pdb_on_kafka(docs):
    docs.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                 "metadata": {"name": "kafka", "namespace": NAMESPACE},
                 "spec": {"minAvailable": 2, "selector": {"matchLabels": {
                     "strimzi.io/cluster": CLUSTER, "strimzi.io/kind": "Kafka"}}}})


def _mut_kafka_pdb_zero(docs):
    _kafka_spec(docs)["kafka"]["template"]["podDisruptionBudget"]["maxUnavailable"] = 0


def _mut_serve_no_spread(docs):
    del one(docs, "Deployment", SERVE)["spec"]["template"]["spec"]["topologySpreadConstraints"]


def _mut_no_cruise_control(docs):
    del _kafka_spec(docs)["cruiseControl"]


def _mut_no_kafka_exporter(docs):
    del _kafka_spec(docs)["kafkaExporter"]


def _mut_dev_with_cruise_control(docs):
    _kafka_spec(docs)["cruiseControl"] = {}


def _mut_cruise_control_no_resources(docs):
    del _kafka_spec(docs)["cruiseControl"]["resources"]


def _mut_no_metrics_config(docs):
    del _kafka_spec(docs)["kafka"]["metricsConfig"]


def _mut_metrics_configmap_missing(docs):
    docs[:] = [d for d in docs if not (d["kind"] == "ConfigMap" and d["metadata"]["name"] == "kafka-metrics")]


def _mut_metrics_key_wrong(docs):
    _kafka_spec(docs)["kafka"]["metricsConfig"]["valueFrom"]["configMapKeyRef"]["key"] = "metrics.yml"


def _mut_producer_no_quota(docs):
    del one(docs, "KafkaUser", PRODUCER)["spec"]["quotas"]


def _mut_reader_no_consumer_quota(docs):
    del one(docs, "KafkaUser", "speedlayer-reader")["spec"]["quotas"]["consumerByteRate"]


def _mut_laptop_zero_quota(docs):
    one(docs, "KafkaUser", "speedlayer-laptop")["spec"]["quotas"]["requestPercentage"] = 0


def _mut_no_reload_annotation(docs):
    del one(docs, "Deployment", PRODUCER)["metadata"]["annotations"][RELOAD_ANNOTATION]


def _mut_reload_without_ca(docs):
    one(docs, "Deployment", SERVE)["metadata"]["annotations"][RELOAD_ANNOTATION] = SERVE


def _mut_reload_typo(docs):
    one(docs, "Deployment", PRODUCER)["metadata"]["annotations"][RELOAD_ANNOTATION] += ",my-cluster-clients-ca-cert"


def _mut_admin_reload_without_token(docs):
    one(docs, "Deployment", SERVE)["metadata"]["annotations"][RELOAD_ANNOTATION] = \
        "%s,%s-cluster-ca-cert" % (SERVE, CLUSTER)


def _changelog(docs):
    return next(t for t in of_kind(docs, "KafkaTopic") if t["spec"].get("topicName") == "speedlayer.changelog")


def _mut_changelog_segment_ms_default(docs):
    del _changelog(docs)["spec"]["config"]["segment.ms"]


def _mut_changelog_dirty_ratio_default(docs):
    _changelog(docs)["spec"]["config"]["min.cleanable.dirty.ratio"] = 0.5


def _mut_changelog_big_segments(docs):
    _changelog(docs)["spec"]["config"]["segment.bytes"] = 1073741824


def _mut_changelog_delete(docs):
    _changelog(docs)["spec"]["config"]["cleanup.policy"] = "delete"


def _mut_dev_replication_3(docs):
    _kafka_spec(docs)["kafka"]["config"]["default.replication.factor"] = 3


def _mut_base_offsets_rf_1(docs):
    _kafka_spec(docs)["kafka"]["config"]["offsets.topic.replication.factor"] = 1


def _mut_dev_topic_3_replicas(docs):
    of_kind(docs, "KafkaTopic")[0]["spec"]["replicas"] = 3


def _mut_base_topic_1_replica(docs):
    of_kind(docs, "KafkaTopic")[0]["spec"]["replicas"] = 1


def _mut_changelog_isr_all(docs):
    _changelog(docs)["spec"]["config"]["min.insync.replicas"] = 3


def _mut_dev_three_brokers(docs):
    one(docs, "KafkaNodePool", "dual-role")["spec"]["replicas"] = 3


def _mut_dev_no_serve(docs):
    one(docs, "Deployment", SERVE)["spec"]["replicas"] = 0


MUTATIONS = [
    ("base", _mut_drop_limits, check_resources),
    ("base", _mut_producer_bigger, check_resources),
    ("base", _mut_pool_no_resources, check_resources),
    ("base", _mut_no_readiness, check_probes),
    ("base", _mut_liveness_wrong_path, check_probes),
    ("base", _mut_root, check_security_context),
    ("base", _mut_writable_root, check_security_context),
    ("base", _mut_escalation, check_security_context),
    ("base", _mut_caps, check_security_context),
    ("base", _mut_password_env, check_no_plaintext_secrets),
    ("base", _mut_password_flag, check_no_plaintext_secrets),
    ("base", _mut_secret_object, check_no_plaintext_secrets),
    ("base", _mut_key_on_command_line, check_no_plaintext_secrets),
    ("base", _mut_wrong_secret, check_app_wiring),
    ("base", _mut_no_client_key, check_app_wiring),
    ("external", _mut_plaintext_external, check_external_listeners),
    ("external", _mut_external_no_auth, check_external_listeners),
    ("external", _mut_broker_index, check_external_listeners),
    ("external", _mut_pool_ids_moved, check_external_listeners),
    ("external", _mut_alt_names, check_external_listeners),
    ("base", _mut_topic_capital_name, check_topics),
    ("base", _mut_topic_bad_kafka_name, check_topics),
    ("base", _mut_route_without_topic, check_app_wiring),
    ("base", _mut_no_idempotent_write, check_app_wiring),
    ("base", _mut_producer_reads, check_app_wiring),
    ("base", _mut_serve_all, check_app_wiring),
    ("base", _mut_no_txn_acl, check_app_wiring),
    ("base", _mut_serve_cannot_read_group, check_app_wiring),
    ("base", _mut_plaintext_to_tls_port, check_app_wiring),
    ("base", _mut_wrong_port, check_app_wiring),
    ("base", _mut_changelog_not_compacted, check_app_wiring),
    ("base", _mut_short_grace, check_shutdown),
    ("base", _mut_dead_letter_on_root, check_shutdown),
    ("base", _mut_one_replica, check_serve),
    ("base", _mut_no_pdb, check_serve),
    ("base", _mut_no_scrape, check_serve),
    ("base", _mut_latest, check_images),
    ("base", _mut_no_authorization, check_kafka_cluster),
    ("base", _mut_replication, check_kafka_cluster),
    ("base", _mut_no_plain_9092, check_kafka_cluster),
    ("base", _mut_overlapping_ranges, check_kafka_cluster),
    ("base", _mut_no_listen, check_serve_listeners),
    ("base", _mut_listen_loopback, check_serve_listeners),
    ("base", _mut_no_probe_listen, check_serve_listeners),
    ("base", _mut_readiness_on_api, check_serve_listeners),
    ("base", _mut_liveness_on_api_number, check_serve_listeners),
    ("base", _mut_probe_port_undeclared, check_serve_listeners),
    ("base", _mut_probe_listen_moved, check_serve_listeners),
    ("base", _mut_service_to_probes, check_serve_listeners),
    ("base", _mut_scrape_on_api, check_serve),
    ("base", _mut_admin_token_literal, check_no_plaintext_secrets),
    ("base", _mut_no_serve_policy, check_network_policies_isolate),
    ("base", _mut_no_producer_policy, check_network_policies_isolate),
    ("base", _mut_producer_policy_ingress_only, check_network_policies_isolate),
    ("base", _mut_producer_policy_misses_pods, check_network_policies_isolate),
    ("base", _mut_no_dns, check_dns_egress),
    ("base", _mut_dns_udp_only, check_dns_egress),
    ("base", _mut_dns_wrong_namespace, check_dns_egress),
    ("base", _mut_producer_egress_anywhere, check_egress_only_to_kafka),
    ("base", _mut_producer_egress_all_pods, check_egress_only_to_kafka),
    ("base", _mut_producer_egress_any_strimzi, check_egress_only_to_kafka),
    ("base", _mut_producer_egress_wrong_port, check_egress_only_to_kafka),
    ("base", _mut_producer_egress_all_ports, check_egress_only_to_kafka),
    ("base", _mut_producer_policy_ingress_only, check_egress_only_to_kafka),
    ("base", _mut_serve_egress_to_producer, check_egress_only_to_kafka),
    ("base", _mut_serve_no_kafka_egress, check_egress_only_to_kafka),
    ("base", _mut_producer_ingress_open, check_producer_no_ingress),
    ("base", _mut_producer_ingress_from_namespace, check_producer_no_ingress),
    ("base", _mut_no_producer_policy, check_producer_no_ingress),
    ("base", _mut_serve_ingress_any_namespace, check_serve_ingress),
    ("base", _mut_serve_ingress_no_from, check_serve_ingress),
    ("base", _mut_serve_ingress_all_ports, check_serve_ingress),
    ("base", _mut_serve_ingress_monitoring_as_pod_label, check_serve_ingress),
    ("base", _mut_serve_probe_port_from_namespace, check_serve_ingress),
    ("base", _mut_serve_no_probe_rule, check_serve_ingress),
    ("base", _mut_serve_ingress_ipblock, check_serve_ingress),
    ("base", _mut_extra_policy_opens_serve, check_serve_ingress),
    ("base", _mut_no_serve_policy, check_serve_ingress),
    ("base", _mut_tls_listener_peers_exclude_producer, check_kafka_admits_apps),
    ("base", _mut_tls_listener_peers_other_namespace, check_kafka_admits_apps),
    ("base", _mut_tls_listener_no_peers, check_kafka_admits_apps),
    ("dev", _mut_no_serve_policy, check_serve_ingress),
    ("dev", _mut_producer_egress_any_strimzi, check_egress_only_to_kafka),
    ("base", _mut_no_version, check_versions_pinned),
    ("dev", _mut_no_version, check_versions_pinned),
    ("base", _mut_unsupported_version, check_versions_pinned),
    ("base", _mut_metadata_of_other_line, check_versions_pinned),
    ("base", _mut_no_anti_affinity, check_spread),
    ("base", _mut_anti_affinity_other_pool, check_spread),
    ("base", _mut_anti_affinity_preferred_only, check_spread),
    ("base", _mut_zone_spread_required, check_spread),
    ("dev", _mut_dev_pool_no_spread, check_spread),
    ("base", _mut_our_pdb_on_kafka, check_spread),
    ("base", _mut_kafka_pdb_zero, check_spread),
    ("base", _mut_serve_no_spread, check_spread),
    ("base", _mut_no_cruise_control, check_cruise_control),
    ("external", _mut_no_kafka_exporter, check_cruise_control),
    ("dev", _mut_dev_with_cruise_control, check_cruise_control),
    ("base", _mut_cruise_control_no_resources, check_resources),
    ("base", _mut_no_metrics_config, check_kafka_metrics),
    ("dev", _mut_metrics_configmap_missing, check_kafka_metrics),
    ("base", _mut_metrics_key_wrong, check_kafka_metrics),
    ("base", _mut_producer_no_quota, check_quotas),
    ("dev", _mut_reader_no_consumer_quota, check_quotas),
    ("external", _mut_laptop_zero_quota, check_quotas),
    ("base", _mut_no_reload_annotation, check_cert_reload),
    ("base", _mut_reload_without_ca, check_cert_reload),
    ("base", _mut_reload_typo, check_cert_reload),
    ("admin", _mut_admin_reload_without_token, check_cert_reload),
    ("base", _mut_changelog_segment_ms_default, check_changelog_compaction),
    ("base", _mut_changelog_dirty_ratio_default, check_changelog_compaction),
    ("dev", _mut_changelog_big_segments, check_changelog_compaction),
    ("base", _mut_changelog_delete, check_changelog_compaction),
    ("dev", _mut_dev_replication_3, check_kafka_cluster),
    ("base", _mut_base_offsets_rf_1, check_kafka_cluster),
    ("dev", _mut_dev_three_brokers, check_kafka_cluster),
    ("dev", _mut_dev_topic_3_replicas, check_topics),
    ("base", _mut_base_topic_1_replica, check_topics),
    ("base", _mut_changelog_isr_all, check_topics),
    ("dev", _mut_dev_no_serve, check_serve),
]


@pytest.mark.parametrize("variant,mutate,check", MUTATIONS,
                         ids=["%s-%s" % (m[1].__name__[5:], m[2].__name__[6:]) for m in MUTATIONS])
def test_check_catches(variant, mutate, check):
    docs = render(variant)
    assert not run_check(check, copy.deepcopy(docs), variant), \
        "the unmodified %s variant must pass %s" % (variant, check.__name__)
    mutate(docs)
    assert run_check(check, docs, variant), "%s did not notice %s" % (check.__name__,
                                                                     mutate.__name__)


# ----------------------------------------------------------------------------------------
# The image


DOCKERFILE = REPO / "Dockerfile"


def dockerfile_stages():
    """[(FROM line, [instructions])] of the Dockerfile, with ARG defaults substituted."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    args, stages = {}, []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip()
            continue
        rest = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), rest)
        if word == "FROM":
            stages.append((rest, []))
        elif stages:
            stages[-1][1].append((word, rest))
    return stages


def dockerfile_user():
    """(uid, gid) the runtime stage runs as."""
    user = [rest for word, rest in dockerfile_stages()[-1][1] if word == "USER"]
    assert user, "the runtime stage sets no USER"
    uid, _, gid = user[-1].partition(":")
    assert uid.isdigit(), "USER %s is not numeric: Kubernetes cannot check runAsNonRoot" % user[-1]
    return int(uid), int(gid or uid)


def test_dockerfile_multi_stage_pinned_non_root():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "not a multi-stage build"
    for frm, _ in stages:
        image = [w for w in frm.split() if not w.startswith("--")][0]
        ref = image.split("@")[0]
        assert ref.startswith("debian:bookworm"), "base image %s is not Debian bookworm" % image
        tag = ref.partition(":")[2]
        assert tag and tag not in ("latest", "bookworm", "bookworm-slim") and re.search(r"\d{8}", tag), \
            "base image %s is not pinned to a dated tag" % image
    build_runs = " ".join(rest for word, rest in stages[0][1] if word == "RUN")
    assert "scripts/build.sh" in build_runs, "the build stage does not use scripts/build.sh"
    assert "-DSPEEDLAYER_TESTS=OFF" in build_runs and "-DSPEEDLAYER_BENCH=OFF" in build_runs
    runtime_from = stages[-1][0]
    assert "slim" in runtime_from, "the runtime stage is not a slim image"
    runtime = stages[-1][1]
    runtime_runs = " ".join(rest for word, rest in runtime if word == "RUN")
    assert not re.search(r"\S+-dev\b", runtime_runs), "the runtime stage installs -dev packages"
    assert "--no-install-recommends" in runtime_runs
    assert ("ENTRYPOINT", '["speedlayer"]') in runtime
    uid, gid = dockerfile_user()
    assert uid != 0 and gid != 0


def runtime_packages(arch="amd64"):
    """The packages the runtime stage installs for TARGETARCH `arch`: the apt-get install
    words, with the Hyperscan package variable resolved as the RUN line's shell does
    (`hs=DEFAULT; if [ "$TARGETARCH" = ARCH ]; then hs=OTHER; fi`)."""
    runs = " ".join(rest for word, rest in dockerfile_stages()[-1][1] if word == "RUN")
    m = re.search(r"apt-get install ([^&;|]*)", runs)
    assert m, "the runtime stage installs no packages"
    shell_vars = {}
    for name, value in re.findall(r"(?:^|[;&\s])(\w+)=([\w.+-]+);", runs):
        shell_vars.setdefault(name, value)
    for a, name, value in re.findall(
            r'if \[ "\$TARGETARCH" = (\w+) \]; then (\w+)=([\w.+-]+); fi', runs):
        if a == arch:
            shell_vars[name] = value
    words = [w.strip('"') for w in m.group(1).split() if not w.startswith("-")]
    return [shell_vars.get(w[1:], w) if w.startswith("$") else w for w in words]


def test_runtime_image_installs_hyperscan_for_each_architecture():
    """amd64: Intel Hyperscan (libhyperscan5); arm64: Vectorscan (libvectorscan5, the same
    API and ABI; Debian builds it for arm64, Hyperscan only for amd64). The rest is the
    same for both, and no unresolved shell variable is left."""
    amd, arm = runtime_packages("amd64"), runtime_packages("arm64")
    assert "libhyperscan5" in amd and "libvectorscan5" not in amd
    assert "libvectorscan5" in arm and "libhyperscan5" not in arm
    assert [p for p in amd if p != "libhyperscan5"] == [p for p in arm if p != "libvectorscan5"]
    assert not [w for w in amd + arm if "$" in w]
    stages = dockerfile_stages()
    for frm, _ in stages:
        assert "--platform" not in frm, \
            "FROM %s: a fixed --platform makes a multi-architecture build impossible" % frm
    assert ("ARG", "TARGETARCH") in stages[-1][1], "the runtime stage does not declare TARGETARCH"


def _installed_depends(pkg):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Depends},${Pre-Depends}", pkg],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None
    deps = set()
    for alt in out.stdout.split(","):
        alt = alt.strip()
        if not alt:
            continue
        # first alternative that is installed
        for choice in alt.split("|"):
            name = choice.strip().split()[0].split(":")[0]
            if subprocess.run(["dpkg-query", "-W", name], capture_output=True).returncode == 0:
                deps.add(name)
                break
    return deps


def test_runtime_image_has_every_library_the_executable_needs():
    """Without Docker: the packages the runtime stage installs, their dependencies and the
    slim base's `required` packages provide every shared library `ldd` lists for the
    executable (the Dockerfile's own ldd check then only confirms it)."""
    import os
    binary = os.environ.get("SPEEDLAYER_BIN") or str(REPO / "build" / "src" / "app" / "speedlayer")
    if not os.access(binary, os.X_OK):
        pytest.fail("speedlayer executable not found at %s: build it or set SPEEDLAYER_BIN" % binary,
                    pytrace=False)
    pkgs = runtime_packages()
    # librdkafka is linked statically (scripts/librdkafka.sh); its libraries stay shared.
    for lib in ("libhyperscan5", "libyaml-cpp0.7", "libcpp-httplib0.11", "libsimdjson14",
                "libssl3", "libzstd1", "liblz4-1", "zlib1g"):
        assert lib in pkgs, "the runtime stage does not install %s" % lib
    # Debian's librdkafka1 (2.0.2) cannot log in with SCRAM to Kafka 4.x brokers.
    assert "librdkafka1" not in pkgs, "the runtime stage installs Debian's librdkafka1"
    # Closure over the installed packages' dependencies (this machine has the same Debian 12
    # packages: the -dev packages the build uses depend on them).
    have, todo = set(), list(pkgs)
    while todo:
        p = todo.pop()
        if p in have:
            continue
        deps = _installed_depends(p)
        assert deps is not None, "%s is not installed here: cannot check it" % p
        have.add(p)
        todo.extend(deps - have)
    required = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Priority}\n"],
                              capture_output=True, text=True, check=True).stdout
    have |= {l.split()[0].split(":")[0] for l in required.splitlines() if l.endswith(" required")}
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    missing = []
    for line in ldd.splitlines():
        m = re.search(r"=>\s*(/\S+)", line)
        if not m:
            continue
        path = m.group(1)
        if re.search(r"lib(asan|ubsan|tsan|lsan)\.so", path):
            continue  # sanitizer builds only
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        assert owner.returncode == 0, "no package owns %s" % path
        pkg = owner.stdout.split(":")[0]
        if pkg not in have:
            missing.append("%s (%s)" % (path, pkg))
    assert not missing, "the runtime image would lack: %s" % ", ".join(missing)


def test_dockerignore_keeps_build_outputs_out():
    lines = [l.strip() for l in (REPO / ".dockerignore").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    for must in (".git", "build*/"):
        assert must in lines, ".dockerignore does not exclude %s" % must
    for needed in ("scripts", "src", "cmake", "config", "CMakeLists.txt"):
        assert not any(l.rstrip("/") == needed for l in lines), ".dockerignore excludes %s" % needed


def test_deployed_routes_are_the_projects_routes():
    """deploy/base/routes.yaml (a copy: kustomize reads files only below the kustomization)
    says what config/routes.yaml says."""
    deployed = yaml.safe_load((REPO / "deploy" / "base" / "routes.yaml").read_text())
    project = yaml.safe_load((REPO / "config" / "routes.yaml").read_text())
    assert deployed == project
