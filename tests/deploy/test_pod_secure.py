"""The producer and serve Deployments, with their security settings unmodified, against a
broker that does what my-cluster's TLS listener (9093) does: TLS, client certificates
required, and the KafkaUsers' ACLs enforced (CTest: deploy_pod_secure, label integration).

The test plays Strimzi's part from the rendered manifests (deploy/base):
- a clients CA, and for each KafkaUser with `authentication: tls` a key and a certificate
  with CN=<user name>, as the User Operator puts in the user's Secret (user.crt, user.key);
- a one-node KRaft broker (scripts/kafka-broker.sh --secure makes the broker certificate
  for 127.0.0.1 and its CA, the my-cluster-cluster-ca-cert stand-in) whose TLS listener
  requires client certificates signed by the clients CA, with Kafka's StandardAuthorizer
  (only the PLAINTEXT admin listener's ANONYMOUS is a super user);
- the KafkaTopics, and the KafkaUsers' ACLs for principal User:CN=<name>, exactly as written.
The pods' env and args are the Deployments', with only KAFKA_BROKERS pointed at the broker
(and serve's listeners, --listen and --probe-listen, at free local ports; its probes and
metrics are fetched where the manifest points them); Secrets are files where the pods mount
them.
This checks that the settings are consistent (protocol, CA, certificate, key) and that the
least-privilege ACLs are enough for what the applications really do; a negative check shows
the authorizer denies what they do not grant.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, of_kind, render
from podrun import (SUMMARY, Pod, check_producer_stopped_cleanly, ensure_topics, http_get,
                    manifest_topics, metric, num, topic_end_offsets, wait_ready)

pytestmark = [pytest.mark.integration, pytest.mark.secure]

PRODUCER = "speedlayer-producer"
SERVE = "speedlayer-serve"
BROKER_SCRIPT = REPO / "scripts" / "kafka-broker.sh"


def openssl(*args, cwd):
    proc = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, "openssl %s failed:\n%s" % (" ".join(args[:2]), proc.stderr)


def issue_user_certificates(d, users):
    """The User Operator's part: a clients CA and a certificate CN=<name> per tls user."""
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-batch",
            "-subj", "/CN=clients-ca", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", "clients-ca.key", "-out", "clients-ca.pem", cwd=d)
    (d / "client.ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,"
                                  "keyEncipherment\nextendedKeyUsage=clientAuth\n")
    out = {}
    for name in users:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-batch", "-subj", "/CN=%s" % name,
                "-keyout", "%s.key" % name, "-out", "%s.csr" % name, cwd=d)
        openssl("x509", "-req", "-in", "%s.csr" % name, "-CA", "clients-ca.pem", "-CAkey",
                "clients-ca.key", "-CAcreateserial", "-days", "2", "-extfile", "client.ext",
                "-out", "%s.crt" % name, cwd=d)
        out[name] = {"user.crt": (d / ("%s.crt" % name)).read_text(),
                     "user.key": (d / ("%s.key" % name)).read_text()}
    return out


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A broker with a TLS listener that requires client certificates, and ACLs on."""
    docs = render("base")
    users = [u for u in of_kind(docs, "KafkaUser") if u["spec"]["authentication"]["type"] == "tls"]
    assert {u["metadata"]["name"] for u in users} >= {PRODUCER, SERVE}
    base = Path(os.environ.get("SPEEDLAYER_DEPLOY_SECURE_DIR") or tmp_path_factory.mktemp("mtls"))
    creds = issue_user_certificates(base / "users", [u["metadata"]["name"] for u in users])
    bdir = base / "broker"
    # kafka-broker.sh --secure adds a listener named SASL_SSL; map that name to the SSL
    # protocol (TLS, no SASL) and require client certificates on it.
    start = [str(BROKER_SCRIPT), "start", "--dir", str(bdir), "--brokers", "1", "--secure"]
    for kv in ("listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SSL",
               "listener.name.sasl_ssl.ssl.client.auth=required",
               "listener.name.sasl_ssl.ssl.truststore.type=PEM",
               "listener.name.sasl_ssl.ssl.truststore.location=%s" % (base / "users" / "clients-ca.pem"),
               "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
               "super.users=User:ANONYMOUS"):
        start += ["--config", kv]
    proc = subprocess.run(start, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    try:
        assert proc.returncode == 0, "starting the broker failed:\n%s" % proc.stderr[-4000:]
        info = {"plain": (bdir / "bootstrap").read_text().split()[0],
                "tls": (bdir / "bootstrap-secure").read_text().split()[0],
                "ca": (bdir / "ca.pem").read_text(), "users": creds}
        # The Topic Operator's part.
        ensure_topics(info["plain"], manifest_topics(docs))
        # The User Operator's part: the ACLs.
        apply_acls(info["plain"], of_kind(docs, "KafkaUser"))
        yield info
    finally:
        subprocess.run([str(BROKER_SCRIPT), "stop", "--dir", str(bdir), "--clean"],
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


ACL_OPERATIONS = {"Read": "READ", "Write": "WRITE", "Create": "CREATE", "Delete": "DELETE",
                  "Alter": "ALTER", "Describe": "DESCRIBE", "ClusterAction": "CLUSTER_ACTION",
                  "AlterConfigs": "ALTER_CONFIGS", "DescribeConfigs": "DESCRIBE_CONFIGS",
                  "IdempotentWrite": "IDEMPOTENT_WRITE", "All": "ALL"}
RESOURCE_TYPES = {"topic": "TOPIC", "group": "GROUP", "cluster": "CLUSTER",
                  "transactionalId": "TRANSACTIONAL_ID"}


def apply_acls(bootstrap, users):
    """Each KafkaUser's ACLs, for the principal Strimzi gives it (User:CN=<name> for tls
    users, User:<name> for SCRAM users)."""
    from kafka import KafkaAdminClient
    from kafka.admin import (ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                             ResourcePattern, ResourceType)
    acls = []
    for u in users:
        name = u["metadata"]["name"]
        principal = "User:CN=%s" % name if u["spec"]["authentication"]["type"] == "tls" \
            else "User:%s" % name
        for a in u["spec"]["authorization"]["acls"]:
            r = a["resource"]
            pattern = ResourcePattern(
                getattr(ResourceType, RESOURCE_TYPES[r["type"]]),
                "kafka-cluster" if r["type"] == "cluster" else r["name"],
                getattr(ACLResourcePatternType,
                        {"literal": "LITERAL", "prefix": "PREFIXED"}[r.get("patternType", "literal")]))
            for op in a["operations"]:
                acls.append(ACL(principal, a.get("host", "*"), getattr(ACLOperation, ACL_OPERATIONS[op]),
                                getattr(ACLPermissionType, a.get("type", "allow").upper()), pattern))
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), api_version_auto_timeout_ms=10000,
                             request_timeout_ms=30000)
    try:
        result = admin.create_acls(acls)
        assert not result["failed"], "creating ACLs failed: %s" % result["failed"]
    finally:
        admin.close()
    time.sleep(2)  # ACLs travel through the metadata log


def secrets_for(broker, user):
    return {user: broker["users"][user], "my-cluster-cluster-ca-cert": {"ca.crt": broker["ca"]}}


def pointed_at(pod, broker):
    env = dict(pod.env)
    env["KAFKA_BROKERS"] = broker["tls"]
    return env


def test_acls_are_enforced(tmp_path, broker):
    """serve's user may not write Sport: with serve's own security settings, a producer fails
    to deliver there, although it connects (so the authorizer is on, and the next test's
    success means the ACLs grant enough)."""
    pod = Pod(tmp_path, secrets_for(broker, SERVE), SERVE)
    (tmp_path / "all-to-sport.yaml").write_text("default_topic: Sport\nroutes: []\n")
    tls_args = [a for i, a in enumerate(pod.args) if a.startswith("ssl.") or
                (a == "-X" and i + 1 < len(pod.args) and pod.args[i + 1].startswith("ssl."))]
    args = ["produce", "--generate", "--count", "20", "--routes", str(tmp_path / "all-to-sport.yaml"),
            "--dead-letter", str(tmp_path / "dead-letter.jsonl"), "--flush-timeout", "5s",
            "--connect-timeout", "20s"] + tls_args
    pod.start(env=pointed_at(pod, broker), args=args)
    try:
        code = pod.proc.wait(timeout=120)
    finally:
        pod.kill()
    err = pod.stderr()
    assert "no Kafka broker answered" not in err, "could not even connect:\n%s" % err[-3000:]
    m = SUMMARY.search(err)
    assert code != 0 and m and num(m.group(2)) == 0 and num(m.group(5)) == 20, \
        "user %s wrote to Sport without an ACL for it (exit %s):\n%s" % (SERVE, code, err[-3000:])


def test_producer_and_serve_deployments_with_their_certificates_and_acls(tmp_path, broker):
    (tmp_path / "serve").mkdir()
    (tmp_path / "producer").mkdir()
    serve = Pod(tmp_path / "serve", secrets_for(broker, SERVE), SERVE)
    producer = Pod(tmp_path / "producer", secrets_for(broker, PRODUCER), PRODUCER)
    serve_args = serve.bind_locally(serve.args)   # the pod's 0.0.0.0:<port>s, on free local ports
    api = serve.service_port()
    metrics_port, metrics_path = serve.scrape()
    topics = ["Sport", "AI", "my-topic"]
    before = topic_end_offsets(broker["plain"], topics)
    try:
        serve.start(env=pointed_at(serve, broker), args=serve_args)
        wait_ready(serve)
        assert http_get(*serve.probe("livenessProbe"))[0] == 200

        producer.start(env=pointed_at(producer, broker))
        producer.run_for(6)
        code, took, _ = producer.terminate()
        delivered, per_topic = check_producer_stopped_cleanly(producer, code, took,
                                                              "producer with its certificate")
        after = topic_end_offsets(broker["plain"], topics)
        assert {t: after[t] - before[t] for t in topics} == per_topic

        # serve consumes what was produced and commits its transactions (views, changelog,
        # offsets), with only the ACLs of KafkaUser speedlayer-serve.
        deadline = time.monotonic() + 60
        while True:
            serve.assert_running()
            status, body = http_get(metrics_port, metrics_path)
            consumed = metric(body, "speedlayer_records_consumed_total")
            if status == 200 and consumed >= delivered and \
                    metric(body, "speedlayer_transactions_total") > 0:
                break
            assert time.monotonic() < deadline, "serve consumed %s of %d records in 60 s:\n%s" % (
                consumed, delivered, serve.stderr()[-3000:])
            time.sleep(0.5)
        status, body = http_get(api, "/v1/views?topic=Sport")
        assert status == 200, "/v1/views?topic=Sport: %s %s" % (status, body[:500])
        code, took, _ = serve.terminate()
        assert code == 0, "serve exit %s after SIGTERM:\n%s" % (code, serve.stderr()[-3000:])
        assert took < serve.grace, "serve took %.1fs to stop, the grace period is %ss" % (took, serve.grace)
        serve.check_workdir_untouched()
        for pod in (producer, serve):
            key = broker["users"][pod.name]["user.key"].strip().splitlines()[1]
            assert key not in pod.stdout() + pod.stderr(), "%s printed its private key" % pod.name
    finally:
        producer.kill()
        serve.kill()
