"""docs/deploy.md works to the letter, as far as can be checked offline (CTest:
deploy_manifests): every shell block is parsed into commands, and

- each repository path it names (deploy/..., docs/..., scripts/..., Dockerfile) exists; each
  `kubectl ... -k DIR` is a kustomization, each `-f FILE` a file;
- each object a kubectl command names (`deployment/speedlayer-serve`, `kafka/my-cluster`,
  `kubectl scale kafkanodepool broker`, kinds in `kubectl get a,b`) is one the manifests
  render or Strimzi makes for them (the operator, the CA and user Secrets), in namespace
  kafka; each `-l` selector selects something;
- each `speedlayer <cmd> ...` (also as `docker run ... speedlayer:TAG <cmd> ...`) uses a real
  subcommand and only flags `$SPEEDLAYER_BIN <cmd> --help` lists;
- images built or loaded for a laptop cluster have the name the manifests run;
- the Strimzi release installed (file or Helm chart) is the pinned one, never `latest`.

test_docs_checker_catches_* feed the checker a page with each kind of mistake.
"""

import re
import shlex
from pathlib import Path

import pytest

from conftest import (CLUSTER, EXTRAS, NAMESPACE, REPO, VARIANTS, containers, load_tools,
                      of_kind, pod_specs, render, strimzi_pod_labels)
from test_extras import SPEEDLAYER_SUBCOMMANDS, unknown_flags
from test_manifests import STRIMZI_VERSION

DOC = REPO / "docs" / "deploy.md"
PATH_ROOTS = ("deploy/", "docs/", "tests/", "scripts/", "config/", "src/", "bench/")
KIND_ALIASES = {
    "deploy": "deployment", "deployments": "deployment", "svc": "service", "services": "service",
    "po": "pod", "pods": "pod", "ns": "namespace", "namespaces": "namespace",
    "cm": "configmap", "configmaps": "configmap", "secrets": "secret",
    "pvc": "persistentvolumeclaim", "crd": "customresourcedefinition",
    "kafkas": "kafka", "kafkanodepools": "kafkanodepool", "knp": "kafkanodepool",
    "kafkatopics": "kafkatopic", "kt": "kafkatopic", "kafkausers": "kafkauser", "ku": "kafkauser",
    "kafkarebalances": "kafkarebalance", "kr": "kafkarebalance", "pdb": "poddisruptionbudget",
    "netpol": "networkpolicy", "podmonitors": "podmonitor", "nodes": "node", "no": "node",
}
# kubectl verbs whose positional arguments are objects (TYPE/NAME, or TYPE NAME).
OBJECT_VERBS = {"get", "describe", "delete", "wait", "logs", "scale", "annotate", "label",
                "port-forward", "exec", "rollout", "edit", "patch", "cp"}


def shell_blocks(text):
    """The contents of ```sh / ```bash / ```shell fenced blocks (indented ones too)."""
    out = []
    for m in re.finditer(r"^([ \t]*)```(sh|bash|shell)\n(.*?)^\1```", text, re.M | re.S):
        indent = m.group(1)
        out.append("\n".join(l[len(indent):] if l.startswith(indent) else l
                             for l in m.group(3).splitlines()))
    return out


def commands(block):
    """Simple commands of a shell block, each a token list: continuations joined, comments
    dropped, split at | && || ; &, with $(...) substitutions taken out as commands of their
    own (the substitution itself becomes the word SUBST)."""
    text = re.sub(r"\\\n", " ", block)
    out = []
    for line in text.splitlines():
        subs = []

        def take(m):
            subs.append(m.group(1))
            return "SUBST"
        while re.search(r"\$\(([^()]*)\)", line):
            line = re.sub(r"\$\(([^()]*)\)", take, line)
        line = re.sub(r"\$\(\((.*?)\)\)", "SUBST", line)
        for s in subs:
            out.extend(commands(s))
        lex = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lex.whitespace_split = True
        lex.commenters = "#"
        try:
            tokens = list(lex)
        except ValueError as e:
            out.append(["<unparsable>", line, str(e)])
            continue
        cmd = []
        for tok in tokens:
            if tok in ("|", "||", "&&", ";", "&", "|&"):
                if cmd:
                    out.append(cmd)
                cmd = []
            else:
                cmd.append(tok)
        if cmd:
            out.append(cmd)
    return out


class World:
    """What exists: repository files, rendered objects, and what Strimzi makes for them."""

    def __init__(self):
        self.objects = set()       # (kind, name) in namespace kafka
        self.kinds = set()
        self.labels = []           # label sets of pods, PVCs and objects
        self.images = set()
        docs_all = []
        for v in VARIANTS:
            docs_all += render(v)
        for e in EXTRAS:
            docs_all += render(e)
        for docs in load_tools().values():
            docs_all += docs
        for d in docs_all:
            kind = d["kind"].lower()
            self.objects.add((kind, d["metadata"]["name"]))
            self.kinds.add(kind)
            self.labels.append(d["metadata"].get("labels") or {})
        for name, spec in pod_specs(docs_all):
            for c in containers(spec):
                self.images.add(c["image"])
        for d in docs_all:
            if d["kind"] in ("Deployment",):
                self.labels.append(d["spec"]["template"]["metadata"]["labels"])
                self.objects.add(("pod", d["metadata"]["name"]))   # pods of it: name prefix
        for v in VARIANTS:
            for desc, labels in strimzi_pod_labels(render(v)):
                self.labels.append(labels)
        # What Strimzi makes: the operator, the CA and user Secrets, the pool pods, PVCs.
        self.objects |= {("deployment", "strimzi-cluster-operator"),
                         ("secret", "%s-cluster-ca-cert" % CLUSTER),
                         ("secret", "%s-clients-ca-cert" % CLUSTER),
                         ("customresourcedefinition", "kafkas.kafka.strimzi.io"),
                         ("namespace", NAMESPACE)}
        for u in of_kind(docs_all, "KafkaUser"):
            self.objects.add(("secret", u["metadata"]["name"]))
        self.kinds |= {"secret", "persistentvolumeclaim", "pod", "customresourcedefinition",
                       "namespace"}
        self.labels.append({"strimzi.io/cluster": CLUSTER})    # PVCs of the pools
        # Made by what the page itself installs or creates: the admin token's Secret
        # (kubectl create secret), kube-prometheus-stack installed as release `monitoring` in
        # namespace monitoring (its Grafana Service is <release>-grafana); the cluster's nodes.
        self.objects |= {("secret", "speedlayer-admin"), ("namespace", "monitoring"),
                         ("service", "monitoring-grafana")}
        self.kinds |= {"node"}


def kind_of(word):
    w = word.lower()
    w = KIND_ALIASES.get(w, w)
    return w.split(".")[0]


def path_problems(tok, where):
    problems = []
    for part in re.split(r"[=:,]", tok):
        part = part.strip("'\"")
        if part == "Dockerfile" or part.startswith(PATH_ROOTS):
            p = REPO / part.rstrip("/")
            if "<" in part or "*" in part:
                continue
            if not p.exists():
                problems.append("%s: %s does not exist" % (where, part))
    return problems


def kubectl_problems(cmd, world, where):
    problems = []
    args = cmd[1:]
    # options with a value
    i, positional, ns = 0, [], None
    while i < len(args):
        a = args[i]
        if a in ("-k", "--kustomize"):
            d = args[i + 1] if i + 1 < len(args) else ""
            if d.startswith(PATH_ROOTS) and not (REPO / d / "kustomization.yaml").is_file():
                problems.append("%s: -k %s is not a kustomization" % (where, d))
            i += 2
            continue
        if a in ("-f", "--filename"):
            f = args[i + 1] if i + 1 < len(args) else ""
            if f != "-" and not f.startswith("http") and f.startswith(PATH_ROOTS) and \
                    not (REPO / f).is_file():
                problems.append("%s: -f %s is not a file" % (where, f))
            if "install/latest" in f:
                problems.append("%s: installs Strimzi `latest`" % where)
            i += 2
            continue
        if a in ("-n", "--namespace"):
            ns = args[i + 1] if i + 1 < len(args) else ""
            i += 2
            continue
        if a in ("-l", "--selector"):
            sel = args[i + 1] if i + 1 < len(args) else ""
            want = dict(kv.split("=", 1) for kv in sel.split(",") if "=" in kv)
            if not any(all(lbl.get(k) == v for k, v in want.items()) for lbl in world.labels):
                problems.append("%s: selector %s selects nothing the manifests make" % (where, sel))
            i += 2
            continue
        if a in ("-o", "--output", "-c", "--container", "--timeout", "--for", "--replicas",
                 "--from-literal", "--tail", "-p") or (a.startswith("-") and "=" in a):
            i += 1 if "=" in a else 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        positional.append(a)
        i += 1
    if not positional:
        return problems
    verb = positional[0]
    if verb not in OBJECT_VERBS:
        return problems
    objs = positional[1:]
    if verb == "rollout" and objs:
        objs = objs[1:]           # rollout restart|status|undo TYPE/NAME
    if verb == "exec" or verb == "port-forward":
        objs = objs[:1]
    if verb == "cp":
        return problems
    if verb == "annotate" or verb == "label":
        objs = [o for o in objs if "=" not in o]
    if verb == "logs" and objs and "/" not in objs[0]:
        # kubectl logs POD: a pod of the page's tools, or $OLD
        name = objs[0]
        if not name.startswith("$") and name != "SUBST" and ("pod", name) not in world.objects:
            problems.append("%s: no pod %s" % (where, name))
        return problems
    # TYPE NAME form: kubectl get kafkanodepool broker
    if objs and "/" not in objs[0]:
        kinds = [kind_of(k) for k in objs[0].split(",")]
        for k in kinds:
            if k not in world.kinds:
                problems.append("%s: kind %s is nothing the manifests or Strimzi make" % (where, objs[0]))
        names = objs[1:]
        for n in names:
            if n.startswith("$") or n == "SUBST" or re.match(r"^\d+$", n):
                continue
            if len(kinds) == 1 and (kinds[0], n) not in world.objects:
                problems.append("%s: no %s %s" % (where, kinds[0], n))
        return problems
    for o in objs:
        if o.startswith("$") or o == "SUBST":
            continue
        if "/" not in o:
            continue
        k, _, n = o.partition("/")
        k = kind_of(k)
        if (k, n) not in world.objects:
            problems.append("%s: no %s/%s in the manifests or made by Strimzi" % (where, k, n))
    if ns is not None and ns not in (NAMESPACE, "monitoring", "kube-system") and verb != "get":
        problems.append("%s: namespace %s" % (where, ns))
    return problems


def speedlayer_args(cmd):
    """The speedlayer arguments (subcommand first) of a command, or None: `speedlayer ...`,
    or `docker|podman run [options] IMAGE ...` with a speedlayer image."""
    if Path(cmd[0]).name == "speedlayer":
        return cmd[1:]
    if cmd[0] in ("docker", "podman") and len(cmd) > 1 and cmd[1] == "run":
        i = 2
        with_value = {"-v", "--volume", "-e", "--env", "-p", "--publish", "--user", "-u",
                      "--name", "--userns", "--network", "-w", "--workdir", "--platform"}
        while i < len(cmd):
            a = cmd[i]
            if a in with_value:
                i += 2
            elif a.startswith("-"):
                i += 1
            else:
                break
        if i < len(cmd) and cmd[i].split("/")[-1].split(":")[0] == "speedlayer":
            return cmd[i + 1:]
    return None


LAPTOP_LOADERS = (("kind", "load", "docker-image"), ("minikube", "image", "build"),
                  ("docker", "build"), ("podman", "build"), ("podman", "save"))


def image_problems(cmd, world, where):
    """An image built or loaded for a laptop cluster is the one the pods run."""
    problems = []
    for pat in LAPTOP_LOADERS:
        if tuple(cmd[:len(pat)]) != pat:
            continue
        names = [t for t in cmd if re.match(r"^([\w.-]+/)*speedlayer:[\w.-]+$", t)]
        for n in names:
            if n.startswith(("ghcr.io/", "<")) or "/you/" in n:
                continue
            short = n.replace("docker.io/library/", "")
            if short not in world.images:
                problems.append("%s: image %s is not the one the manifests run (%s)"
                                % (where, n, ", ".join(sorted(i for i in world.images if "speedlayer" in i))))
    return problems


def strimzi_problems(cmd, where):
    problems = []
    joined = " ".join(cmd)
    if "strimzi.io/install/latest" in joined:
        problems.append("%s: installs Strimzi latest" % where)
    for m in re.finditer(r"strimzi-cluster-operator-([\d.]+)\.yaml", joined):
        if m.group(1) != STRIMZI_VERSION:
            problems.append("%s: Strimzi %s, the manifests are for %s" % (where, m.group(1), STRIMZI_VERSION))
    for m in re.finditer(r"releases/download/([\d.]+)/", joined):
        if m.group(1) != STRIMZI_VERSION:
            problems.append("%s: Strimzi release %s, the manifests are for %s" % (where, m.group(1), STRIMZI_VERSION))
    if cmd[:2] == ["helm", "install"] and "strimzi" in joined:
        v = cmd[cmd.index("--version") + 1] if "--version" in cmd else None
        if v != STRIMZI_VERSION:
            problems.append("%s: the Strimzi Helm chart %s, not pinned to %s" % (where, v, STRIMZI_VERSION))
    return problems


def doc_problems(text, world):
    problems = []
    blocks = shell_blocks(text)
    if not blocks:
        return ["no shell block"]
    for b, block in enumerate(blocks, 1):
        for cmd in commands(block):
            where = "block %d: %s" % (b, " ".join(cmd)[:100])
            if cmd[0] == "<unparsable>":
                problems.append("block %d: cannot parse %r (%s)" % (b, cmd[1], cmd[2]))
                continue
            while cmd and re.match(r"^\w+=", cmd[0]):     # VAR=value command ...
                cmd = cmd[1:]
            if not cmd:
                continue
            if cmd[0] != "kubectl":      # kubectl's paths are its -k/-f arguments (and
                for tok in cmd:           # deploy/NAME is a Deployment there)
                    problems += path_problems(tok, where)
            if cmd[0] == "kubectl":
                problems += kubectl_problems(cmd, world, where)
            sl = speedlayer_args(cmd)
            if sl is not None:
                if not sl or sl[0] not in SPEEDLAYER_SUBCOMMANDS:
                    if not (sl and sl[0] in ("--version", "--help")):
                        problems.append("%s: no speedlayer subcommand" % where)
                else:
                    bad = unknown_flags(sl)
                    if bad:
                        problems.append("%s: speedlayer %s does not accept %s" % (where, sl[0], ", ".join(bad)))
            problems += image_problems(cmd, world, where)
            problems += strimzi_problems(cmd, where)
    return problems


_world = []


def world():
    if not _world:
        _world.append(World())
    return _world[0]


def test_deploy_md_commands_name_what_exists():
    text = DOC.read_text()
    blocks = shell_blocks(text)
    assert len(blocks) >= 20, "only %d shell blocks in %s" % (len(blocks), DOC)
    problems = doc_problems(text, world())
    assert not problems, "\n".join(problems)


def test_deploy_md_covers_the_newcomers_path():
    """The first path is the laptop one, and the page has each part a newcomer needs."""
    text = DOC.read_text()
    cmds = [" ".join(c) for b in shell_blocks(text) for c in commands(b)]
    first_apply = next(c for c in cmds if c.startswith("kubectl apply -k"))
    assert first_apply == "kubectl apply -k deploy/overlays/dev", first_apply
    for needle in ("kind load docker-image speedlayer:0.1.0", "kind load image-archive",
                   "minikube image build -t speedlayer:0.1.0 .", "k3s ctr images import",
                   "kubectl delete -k", "kubectl delete pvc", "helm install strimzi-cluster-operator",
                   "--for=jsonpath={.status.observedGeneration}", "strimzi.io/rebalance=approve",
                   "kubectl apply -f deploy/tools/consume.yaml",
                   "kubectl apply -f deploy/tools/python-producer.yaml",
                   "podman build --platform linux/amd64,linux/arm64 --manifest",
                   "podman manifest push --all", "kubectl apply -k deploy/monitoring",
                   "kubectl port-forward -n kafka svc/speedlayer-serve 8080:8080",
                   "helm install reloader"):
        assert any(needle in c for c in cmds), "docs/deploy.md has no command with %r" % needle
    for heading in ("## Supported versions", "### What you will see while Kafka starts",
                    "## Teardown", "### Certificate renewal", "### Quotas",
                    "### The changelog topic", "### Metrics and dashboard"):
        assert heading in text, "docs/deploy.md has no %r" % heading
    assert "--previous" not in text.split("### Read the logs")[1].split("###")[0] or \
        "nothing" in text, "the logs recipe uses --previous after a rollout restart"


def test_commands_parsing():
    cmds = commands("A=$(kubectl get kafka/my-cluster -o jsonpath='{.x}')\n"
                    "curl -s x | sed 's/a: .*/b/' | kubectl create -f - -n kafka  # comment\n"
                    "kubectl wait \\\n  kafka/my-cluster --for=condition=Ready\n")
    assert ["kubectl", "get", "kafka/my-cluster", "-o", "jsonpath={.x}"] in cmds
    assert ["A=SUBST"] in cmds
    assert ["kubectl", "create", "-f", "-", "-n", "kafka"] in cmds
    assert ["kubectl", "wait", "kafka/my-cluster", "--for=condition=Ready"] in cmds


BROKEN = {
    "a missing file": "kubectl apply -f deploy/tools/consumer.yaml",
    "a missing overlay": "kubectl apply -k deploy/overlays/laptop",
    "a directory that is no kustomization": "kubectl apply -k deploy/tools",
    "a missing path": "cat deploy/base/kafka-metric.yaml",
    "a resource nobody makes": "kubectl logs -n kafka deploy/speedlayer-consumer -f",
    "a node pool nobody makes": "kubectl scale kafkanodepool brokers -n kafka --replicas=4",
    "an unknown kind": "kubectl get kafkaconnects -n kafka",
    "a selector that selects nothing": "kubectl logs -n kafka -l app.kubernetes.io/component=serving",
    "an unknown flag": "speedlayer produce --sync --dead-letters x",
    "an unknown flag in docker run": "docker run --rm -i speedlayer:0.1.0 doctor --timeout 5s --verbose",
    "an unknown subcommand": "speedlayer produces --sync",
    "a wrong image name": "kind load docker-image speedlayer:latest --name speedlayer",
    "podman's localhost name": "podman save -o s.tar localhost/speedlayer:0.1.0",
    "Strimzi latest": "kubectl create -f 'https://strimzi.io/install/latest?namespace=kafka' -n kafka",
    "another Strimzi release": "curl -sSfL https://github.com/strimzi/strimzi-kafka-operator/releases/download/1.1.0/strimzi-cluster-operator-1.1.0.yaml",
    "an unpinned Helm chart": "helm install strimzi-cluster-operator oci://quay.io/strimzi-helm/strimzi-kafka-operator -n kafka",
}


@pytest.mark.parametrize("what", sorted(BROKEN))
def test_docs_checker_catches(what):
    page = "# t\n\n```sh\n%s\n```\n" % BROKEN[what]
    assert doc_problems(page, world()), "the docs check did not notice %s" % what


def test_docs_checker_passes_good_lines():
    page = ("```sh\nkubectl apply -f deploy/tools/consume.yaml\nkubectl apply -k deploy/overlays/dev\n"
            "kubectl scale kafkanodepool broker -n kafka --replicas=4\n"
            "docker run --rm -i speedlayer:0.1.0 doctor --timeout 5s\n```\n")
    assert not doc_problems(page, world())


def section_table(text, heading):
    """Rows (lists of cells, backticks removed) of the first table under `heading`."""
    m = re.search(r"^%s\n(.*?)(?=^#)" % re.escape(heading), text, re.M | re.S)
    assert m, "docs/deploy.md has no %r" % heading
    rows = []
    for line in m.group(1).splitlines():
        if line.startswith("|") and not re.match(r"^\|[-| :]+\|$", line):
            rows.append([c.strip().replace("`", "") for c in line.strip("|").split("|")])
    return rows[1:]


def _rate(cell):
    m = re.match(r"^([\d.]+) (MiB|KiB)/s", cell)
    return int(float(m.group(1)) * {"MiB": 1024 ** 2, "KiB": 1024}[m.group(2)]) if m else None


def quota_table_problems(text, users):
    """The Quotas table states each KafkaUser's quotas as users.yaml sets them."""
    problems = []
    rows = {r[0].split()[0]: r for r in section_table(text, "### Quotas")}
    for name, u in sorted(users.items()):
        q = u["spec"].get("quotas") or {}
        row = rows.get(name)
        if row is None:
            problems.append("the quotas table has no row for KafkaUser %s" % name)
            continue
        got = {"producerByteRate": _rate(row[1]), "consumerByteRate": _rate(row[2]),
               "requestPercentage": int(row[3]) if row[3].isdigit() else None}
        for k, v in got.items():
            if q.get(k) != v:
                problems.append("quotas table: %s %s is %s, users.yaml says %s" % (name, k, v, q.get(k)))
    for name in rows:
        if name not in users:
            problems.append("the quotas table names %s, which is no KafkaUser" % name)
    return problems


def test_quotas_table_is_the_manifests():
    users = {}
    for v in VARIANTS:
        users.update({u["metadata"]["name"]: u for u in of_kind(render(v), "KafkaUser")})
    text = DOC.read_text()
    problems = quota_table_problems(text, users)
    assert not problems, "\n".join(problems)
    assert quota_table_problems(text.replace("| `speedlayer-serve` | 4 MiB/s", "| `speedlayer-serve` | 8 MiB/s"), users)


def test_changelog_table_names_its_settings():
    """Every setting the changelog table explains is set on the changelog KafkaTopic, and
    every setting of that topic is explained."""
    topic = next(t for t in of_kind(render("base"), "KafkaTopic")
                 if t["spec"].get("topicName") == "speedlayer.changelog")
    documented = {r[0] for r in section_table(DOC.read_text(), "### The changelog topic")}
    assert documented == set(topic["spec"]["config"]), (documented, set(topic["spec"]["config"]))
