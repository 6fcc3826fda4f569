#!/usr/bin/env bash
# Real Apache Kafka (KRaft) on 127.0.0.1 for development, tests and benchmarks.
#
#   kafka-broker.sh fetch
#   kafka-broker.sh start --dir DIR [--brokers 1|3] [--partitions N] [--config KEY=VALUE]...
#                         [--secure] [--advertise HOST[:PORT]]
#   kafka-broker.sh stop --dir DIR [--clean]
#   kafka-broker.sh status --dir DIR
#   kafka-broker.sh bootstrap --dir DIR
#   kafka-broker.sh kill-node --dir DIR --node ID        (kill -9, for fault tests)
#   kafka-broker.sh start-node --dir DIR --node ID       (restart a node, same config)
#   kafka-broker.sh create-topic --dir DIR --topic T [--partitions N] [--replication R]
#                                [--config KEY=VALUE]...
#   kafka-broker.sh run-class CLASS [ARGS...]            (any Kafka Java tool, e.g.
#                                org.apache.kafka.tools.ProducerPerformance)
#
# The broker's jars come from Maven Central (scripts/kafka/pom.xml, pinned version) and
# are cached in ${SPEEDLAYER_CACHE:-$HOME/.cache/speedlayer}/kafka-<version>/libs.
# `start` always starts a fresh cluster: it stops whatever runs from DIR and wipes the
# node data it created there before. Progress goes to stderr; the last stdout line of
# `start` is the bootstrap list (also in DIR/bootstrap). Layout of DIR:
#   bootstrap            host:port,host:port,...
#   nodes                one line per node: "node_id port pid_file"
#   cluster-id
#   node-N/server.properties, node-N/pid, node-N/broker.log (log4j, INFO),
#   node-N/console.log (JVM stdout/stderr), node-N/data/
#
# --secure adds a SASL_SSL listener on every node (TLS with a CA and a broker certificate
# made with openssl at start, SAN IP:127.0.0.1 and DNS:localhost; SASL SCRAM-SHA-512 with
# users created at format time). The PLAINTEXT listener stays (admin, readiness, inter-broker).
# It writes:
#   bootstrap-secure     host:port,... of the SASL_SSL listeners
#   ca.pem               the CA that signed the broker certificate (clients' ssl.ca.location)
#   untrusted-ca.pem     another CA, which did not sign it (for tests of TLS failures)
#   sasl-username, sasl-password   the SCRAM-SHA-512 user (alice; the password file holds
#                        only the password, like a mounted Kubernetes Secret)
#   tls/                 CA key, broker key and certificate
# --advertise HOST[:PORT] (one node only) adds a plaintext listener EXTERNAL on a free
# 127.0.0.1 port that advertises HOST:PORT instead of its own address (PORT: a free port
# when omitted), as a misconfigured nodeport listener does: bootstrap works, the broker
# address the metadata hands out does not. Writes bootstrap-external (where it listens) and
# advertised-external (what it advertises).
#
# Environment: SPEEDLAYER_CACHE, SPEEDLAYER_KAFKA_LIBS (use these jars, never fetch),
# SPEEDLAYER_KAFKA_HEAP_OPTS (replaces the -Xmx/-Xms defaults), SPEEDLAYER_KAFKA_GC_OPTS
# (replaces the garbage collector options, Kafka's own G1 defaults; e.g. -XX:+UseZGC),
# SPEEDLAYER_KAFKA_JVM_OPTS (appended), SPEEDLAYER_KAFKA_TIMEOUT (readiness timeout, seconds, default 120),
# SPEEDLAYER_KAFKA_CDS=0 (no class data sharing archive, see below), JAVA_HOME,
# SPEEDLAYER_KAFKA_VERSION (another Kafka release, e.g. 3.9.1; default the pinned one).
set -euo pipefail

readonly DEFAULT_KAFKA_VERSION=4.1.1
# SPEEDLAYER_KAFKA_VERSION picks another release of the same Maven artifacts (e.g. to try
# a client against an older broker); each version has its own jar cache.
readonly KAFKA_VERSION="${SPEEDLAYER_KAFKA_VERSION:-$DEFAULT_KAFKA_VERSION}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly POM="$SCRIPT_DIR/kafka/pom.xml"
readonly LOG4J_BROKER="$SCRIPT_DIR/kafka/log4j2-broker.properties"
readonly LOG4J_TOOLS="$SCRIPT_DIR/kafka/log4j2-tools.properties"
readonly CACHE_ROOT="${SPEEDLAYER_CACHE:-$HOME/.cache/speedlayer}"
readonly LIBS="${SPEEDLAYER_KAFKA_LIBS:-$CACHE_ROOT/kafka-$KAFKA_VERSION/libs}"
readonly READY_TIMEOUT="${SPEEDLAYER_KAFKA_TIMEOUT:-120}"
readonly STOP_TIMEOUT=20
# stop --clean throws the data away, so a clean shutdown buys nothing: shorter grace. (The
# last node of a 3-node cluster sometimes waits minutes for a controlled shutdown the
# lost quorum can no longer approve.)
readonly STOP_CLEAN_TIMEOUT=8
readonly HOST=127.0.0.1
readonly SCRAM_USER=alice
readonly SCRAM_PASSWORD=alice-secret
# Set by cmd_start: per node id, the SASL_SSL and EXTERNAL listener ports (empty: none).
declare -A SECURE_PORT=() EXTERNAL_PORT=()
SECURE=0
ADVERTISE="" # HOST:PORT advertised by the EXTERNAL listener

log() { printf 'kafka-broker: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }
now_ms() { date +%s%3N; }
since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f s", (b - a) / 1000 }'; }

# ---------------------------------------------------------------------------------------
# Java, Maven, jars

as_root() {
  if ((EUID == 0)); then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root (or sudo) to run: $*"
  fi
}

apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
  log "installing $* with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

JAVA=""
JAVA_ID="" # hash of `java -version`: keys the class data sharing archive
find_java() { # sets JAVA to the first Java >= 17
  local c out major
  for c in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java || true)" /usr/lib/jvm/java-*-openjdk-*/bin/java; do
    [[ -n "$c" && -x "$c" ]] || continue
    out=$("$c" -version 2>&1) || continue
    major=$(sed -n 's/.* version "\([0-9]*\).*/\1/p' <<<"$out" | head -n1)
    if ((${major:-0} >= 17)); then
      JAVA=$c
      JAVA_ID=$(sha256sum <<<"$out" | cut -c1-12)
      return 0
    fi
  done
  return 1
}

ensure_java() {
  [[ -n "$JAVA" ]] && return 0
  if ! find_java; then
    apt_install openjdk-17-jre-headless
    find_java || die "no Java >= 17 found after installing openjdk-17-jre-headless"
  fi
  init_cds
}

ensure_maven() {
  command -v mvn >/dev/null || apt_install maven
}

# Class data sharing: a dynamic AppCDS archive of the broker's classes halves JVM startup
# (CPU ~7 s -> ~3.5 s per broker here). It is written by node 1 the first time a cluster
# is stopped cleanly (one-off ~4 s extra stop time), kept next to the jars (a re-fetch
# drops it) and keyed by the Java build. SPEEDLAYER_KAFKA_CDS=0 turns it off.
CDS_ARCHIVE=""
CDS_ADOPT=1 # 0 while cleaning up a failed start: its archive would cover too few classes
init_cds() { # sets CDS_ARCHIVE (needs JAVA); not for a user's own jar dir
  [[ -n "$CDS_ARCHIVE" || -z "$JAVA_ID" || -n "${SPEEDLAYER_KAFKA_LIBS:-}" ]] && return 0
  CDS_ARCHIVE="$LIBS/kafka-cds-$JAVA_ID.jsa"
}
cds_opts() { # cds_opts [NODE_DIR]: JVM options; with NODE_DIR, may record a new archive
  [[ "${SPEEDLAYER_KAFKA_CDS:-1}" == 1 && -n "$CDS_ARCHIVE" ]] || return 0
  local a=$CDS_ARCHIVE
  if [[ -f "$a" ]]; then echo "-XX:SharedArchiveFile=$a -Xlog:cds=off,cds+dynamic=off"
  elif [[ -n "${1:-}" ]]; then echo "-XX:ArchiveClassesAtExit=$1/cds.jsa -Xlog:cds=off,cds+dynamic=off"
  fi
}
cds_collect() { # cds_collect CLEAN: after a stop, adopt an archive a node wrote at exit
  local clean=$1 id f a
  for id in $(node_ids); do
    f="$(node_dir "$id")/cds.jsa"
    [[ -f "$f" ]] || continue
    # A node killed while writing it leaves a truncated archive: never adopt that one.
    if ((!clean || !CDS_ADOPT)); then rm -f "$f"; continue; fi
    if [[ -z "$CDS_ARCHIVE" ]] && { [[ -n "$JAVA" ]] || find_java; }; then init_cds; fi
    a=$CDS_ARCHIVE
    if [[ -z "$a" || ! -s "$f" ]]; then rm -f "$f"; continue; fi
    if [[ ! -f "$a" ]] && cp "$f" "$a.tmp.$$" 2>/dev/null; then
      mv -f "$a.tmp.$$" "$a" && log "saved class data sharing archive $a"
    fi
    rm -f "$f" "$a.tmp.$$"
  done
}

pom_hash() { # the fetch stamp: the pom's hash (plus the version when not the default)
  local h
  h=$(sha256sum "$POM" | cut -d' ' -f1)
  if [[ "$KAFKA_VERSION" == "$DEFAULT_KAFKA_VERSION" ]]; then echo "$h"; else echo "$h $KAFKA_VERSION"; fi
}
jars_complete() {
  if [[ -n "${SPEEDLAYER_KAFKA_LIBS:-}" ]]; then # the user's own jars: use as they are
    compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null
  else
    [[ -f "$LIBS/.complete" && "$(cat "$LIBS/.complete")" == "$(pom_hash)" ]]
  fi
}

cmd_fetch() {
  ensure_java
  jars_complete && return 0
  [[ -z "${SPEEDLAYER_KAFKA_LIBS:-}" ]] || die "SPEEDLAYER_KAFKA_LIBS=$LIBS has no kafka_2.13-*.jar"
  local parent lock
  parent="$(dirname "$LIBS")"
  mkdir -p "$parent"
  lock="$parent/.fetch.lock"
  # Parallel fixtures (ctest -j) may fetch at once: one fetches, the others wait. The
  # lock fd is closed when the subshell exits, so brokers never inherit it.
  (
    flock -w 900 9 || die "timed out waiting for $lock"
    jars_complete && exit 0
    ensure_maven
    local tmp="$LIBS.tmp.$$" t0
    t0=$(now_ms)
    rm -rf "$tmp"
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
    if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
      -Dkafka.version="$KAFKA_VERSION" -DoutputDirectory="$tmp" >&2; then
      rm -rf "$tmp"
      die "mvn dependency:copy-dependencies failed (network? proxy? see output above)"
    fi
    ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka_2.13-$KAFKA_VERSION.jar missing after fetch"
    pom_hash >"$tmp/.complete"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    log "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars in $(since "$t0")"
  ) 9>"$lock"
}

# ---------------------------------------------------------------------------------------
# Ports

# pick_ports N -> N distinct free TCP ports on 127.0.0.1, space separated. Asks the kernel
# (bind to port 0); ports handed out in the last 10 minutes by any run of this script are
# not reused, so fixtures started in parallel cannot collide.
pick_ports() {
  local n=$1
  if command -v python3 >/dev/null; then
    mkdir -p "$CACHE_ROOT"
    python3 - "$n" "$CACHE_ROOT/kafka-ports.reserved" <<'PY'
import fcntl, os, socket, sys, time
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "a+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.seek(0)
    now = time.time()
    recent = {}
    for line in f:
        try:
            port, ts = line.split()
            if now - float(ts) < 600:
                recent[int(port)] = float(ts)
        except ValueError:
            pass
    socks, ports = [], []
    for _ in range(n * 20):
        if len(ports) == n:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)  # keep bound so the kernel hands out a different one next
        p = s.getsockname()[1]
        if p not in recent:
            ports.append(p)
    for s in socks:
        s.close()
    if len(ports) < n:
        sys.exit("could not find %d free ports" % n)
    for p in ports:
        recent[p] = now
    f.seek(0)
    f.truncate()
    f.writelines("%d %.0f\n" % (p, ts) for p, ts in recent.items())
print(" ".join(map(str, ports)))
PY
    return
  fi
  # Fallback without python3: random ports below the usual ephemeral range, probed.
  local ports=() p tries=0
  while ((${#ports[@]} < n)); do
    ((++tries < 1000)) || die "could not find $n free ports"
    p=$((20000 + RANDOM % 12000))
    [[ " ${ports[*]} " == *" $p "* ]] && continue
    port_open "$p" && continue
    ports+=("$p")
  done
  echo "${ports[*]}"
}

port_open() { # port_open PORT: something accepts TCP connections on 127.0.0.1:PORT
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# ---------------------------------------------------------------------------------------
# Nodes

node_dir() { echo "$DIR/node-$1"; }

# node_pid ID -> pid of the running broker of node ID, or fails. The pid is checked
# against /proc/PID/cmdline so a stale pid file never makes us signal someone else.
node_pid() {
  local nd pid
  nd=$(node_dir "$1")
  [[ -f "$nd/pid" ]] || return 1
  pid=$(cat "$nd/pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$nd/server.properties" || return 1
  echo "$pid"
}

node_port() { sed -n 's/^listeners=PLAINTEXT:\/\/[^:]*:\([0-9]*\),.*/\1/p' "$(node_dir "$1")/server.properties"; }

client_ports() { # client_ports ID: ports of every listener of node ID but the controller's
  sed -n 's/^listeners=//p' "$(node_dir "$1")/server.properties" | tr ',' '\n' |
    grep -v '^CONTROLLER:' | sed -n 's/.*:\([0-9]*\)$/\1/p'
}

node_ids() { # ids of the nodes recorded in DIR/nodes
  [[ -f "$DIR/nodes" ]] || return 0
  cut -d' ' -f1 "$DIR/nodes"
}

heap_opts() {
  if [[ -n "${SPEEDLAYER_KAFKA_HEAP_OPTS:-}" ]]; then echo "$SPEEDLAYER_KAFKA_HEAP_OPTS"
  elif (($(node_ids | wc -l) > 1)); then echo "-Xmx384m -Xms128m"
  else echo "-Xmx512m -Xms128m"
  fi
}

launch_node() { # launch_node ID: start the broker in its own session, in the background
  local id=$1 nd
  nd=$(node_dir "$id")
  rm -f "$nd/pid"
  local -a jvm
  local cds=""
  # Only node 1 records the archive (each recording costs time at stop).
  if [[ "$id" == 1 ]]; then cds=$(cds_opts "$nd"); else cds=$(cds_opts); fi
  # Word splitting wanted: the options are lists of JVM flags.
  # shellcheck disable=SC2207,SC2206
  jvm=($(heap_opts) $cds -server ${SPEEDLAYER_KAFKA_GC_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent}
    -XX:MaxInlineLevel=15 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    -Dkafka.logs.dir="$nd" -Dlog4j2.configurationFile="$LOG4J_BROKER"
    ${SPEEDLAYER_KAFKA_JVM_OPTS:-})
  echo "=== $(date -Is) starting node $id" >>"$nd/console.log"
  # setsid: a new session, so signals to the caller's process group (Ctrl-C, ctest)
  # do not reach the broker. All fds redirected: ctest waits for its pipes to close.
  # shellcheck disable=SC2016  # $$, $0 and $@ belong to the inner bash
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$nd/pid" \
    "$JAVA" "${jvm[@]}" -cp "$LIBS/*" kafka.Kafka "$nd/server.properties" \
    </dev/null >>"$nd/console.log" 2>&1 &
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s "$nd/pid" ]] && return 0
    sleep 0.05
  done
  die "node $id did not start (no pid file); see $nd/console.log"
}

write_config() { # write_config ID PORT CONTROLLER_PORT VOTERS NBROKERS PARTITIONS EXTRA...
  local id=$1 port=$2 cport=$3 voters=$4 n=$5 parts=$6
  shift 6
  local nd rf=1 isr=1
  nd=$(node_dir "$id")
  ((n > 1)) && rf=3 isr=2
  mkdir -p "$nd/data"
  {
    echo "# Written by scripts/kafka-broker.sh start (${n}-node KRaft cluster)."
    echo "process.roles=broker,controller"
    echo "node.id=$id"
    echo "controller.quorum.voters=$voters"
    local listeners="PLAINTEXT://$HOST:$port,CONTROLLER://$HOST:$cport"
    local advertised="PLAINTEXT://$HOST:$port"
    local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if [[ -n "${SECURE_PORT[$id]:-}" ]]; then
      listeners+=",SASL_SSL://$HOST:${SECURE_PORT[$id]}"
      advertised+=",SASL_SSL://$HOST:${SECURE_PORT[$id]}"
      protocols+=",SASL_SSL:SASL_SSL"
    fi
    if [[ -n "${EXTERNAL_PORT[$id]:-}" ]]; then
      listeners+=",EXTERNAL://$HOST:${EXTERNAL_PORT[$id]}"
      advertised+=",EXTERNAL://$ADVERTISE"
      protocols+=",EXTERNAL:PLAINTEXT"
    fi
    echo "listeners=$listeners"
    echo "advertised.listeners=$advertised"
    echo "listener.security.protocol.map=$protocols"
    if [[ -n "${SECURE_PORT[$id]:-}" ]]; then
      echo "sasl.enabled.mechanisms=SCRAM-SHA-512"
      echo "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512"
      echo "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
      echo "listener.name.sasl_ssl.ssl.keystore.type=PEM"
      echo "listener.name.sasl_ssl.ssl.keystore.location=$DIR/tls/broker-keystore.pem"
      echo "listener.name.sasl_ssl.ssl.client.auth=none"
    fi
    echo "controller.listener.names=CONTROLLER"
    echo "inter.broker.listener.name=PLAINTEXT"
    echo "log.dirs=$nd/data"
    echo "num.partitions=$parts"
    echo "default.replication.factor=$rf"
    echo "min.insync.replicas=$isr"
    echo "offsets.topic.replication.factor=$rf"
    echo "transaction.state.log.replication.factor=$rf"
    echo "transaction.state.log.min.isr=$isr"
    echo "share.coordinator.state.topic.replication.factor=$rf"
    echo "share.coordinator.state.topic.min.isr=$isr"
    # Fewer internal partitions than the production default (50): the first consumer
    # group / transaction on a fresh cluster becomes ready much sooner.
    echo "offsets.topic.num.partitions=10"
    echo "transaction.state.log.num.partitions=10"
    echo "group.initial.rebalance.delay.ms=0"
    echo "auto.create.topics.enable=true"
    echo "delete.topic.enable=true"
    local kv
    for kv in "$@"; do echo "$kv"; done
  } >"$nd/server.properties"
}

# metadata_brokers PORT -> number of brokers in a metadata response from that node.
metadata_brokers() {
  local out
  if command -v kcat >/dev/null; then
    out=$(kcat -L -b "$HOST:$1" -m 5 2>/dev/null) || return 1
    sed -n 's/^ *\([0-9][0-9]*\) brokers:$/\1/p' <<<"$out" | head -n1
  else
    out=$(run_java_tool org.apache.kafka.tools.BrokerApiVersionsCommand \
      --bootstrap-server "$HOST:$1" 2>/dev/null) || return 1
    grep -c '(id: [0-9]* ' <<<"$out"
  fi
}

node_ready() { # node_ready ID MIN_BROKERS
  local port n p
  port=$(node_port "$1")
  port_open "$port" || return 1
  for p in $(client_ports "$1"); do port_open "$p" || return 1; done
  n=$(metadata_brokers "$port") || return 1
  [[ -n "$n" ]] && ((n >= $2))
}

print_logs() {
  local id nd
  for id in $(node_ids); do
    nd=$(node_dir "$id")
    log "----- node $id: tail of $nd/broker.log"
    tail -n 40 "$nd/broker.log" >&2 2>/dev/null || true
    log "----- node $id: tail of $nd/console.log"
    tail -n 20 "$nd/console.log" >&2 2>/dev/null || true
  done
}

bind_failed() { # some node failed because its port was taken
  local id
  for id in $(node_ids); do
    grep -qsE 'Address already in use|BindException' "$(node_dir "$id")/broker.log" "$(node_dir "$id")/console.log" && return 0
  done
  return 1
}

# wait_ready MIN_BROKERS ID...: every listed node accepts TCP and answers metadata with at
# least MIN_BROKERS brokers. Returns 1 on timeout, 2 when a node process died.
wait_ready() {
  local min=$1
  shift
  local deadline=$((SECONDS + READY_TIMEOUT)) id pending
  while :; do
    pending=()
    for id in "$@"; do
      node_pid "$id" >/dev/null || { log "node $id exited during startup"; return 2; }
      node_ready "$id" "$min" || pending+=("$id")
    done
    ((${#pending[@]} == 0)) && return 0
    ((SECONDS < deadline)) || { log "timed out after ${READY_TIMEOUT}s waiting for node(s) ${pending[*]}"; return 1; }
    sleep 0.3
  done
}

# ---------------------------------------------------------------------------------------
# Commands

DIR=""
parse_dir() { [[ -n "$DIR" ]] || die "--dir DIR is required"; DIR=$(realpath -m "$DIR"); }

any_node_running() {
  local id
  for id in $(node_ids); do node_pid "$id" >/dev/null && return 0; done
  return 1
}

# Liveness is always node_pid (cmdline check), never kill -0: a broker that died while it
# was still our child is a zombie, which kill -0 reports as alive.
stop_nodes() { # stop_nodes [GRACE]: SIGTERM all, wait up to GRACE s (STOP_TIMEOUT), SIGKILL
  local grace=${1:-$STOP_TIMEOUT} id pid count=0 t0 deadline clean=1
  for id in $(node_ids); do
    if pid=$(node_pid "$id"); then count=$((count + 1)); kill -TERM "$pid" 2>/dev/null || true; fi
  done
  if ((count)); then
    t0=$(now_ms)
    deadline=$((SECONDS + grace))
    while any_node_running && ((SECONDS < deadline)); do sleep 0.2; done
    for id in $(node_ids); do
      if pid=$(node_pid "$id"); then
        log "node $id did not stop within ${grace}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        clean=0
      fi
    done
    while any_node_running; do sleep 0.1; done
    log "stopped $count node(s) in $DIR in $(since "$t0")"
    cds_collect "$clean"
  fi
  for id in $(node_ids); do rm -f "$(node_dir "$id")/pid"; done
}

clean_dir() { # remove only what start created
  [[ -d "$DIR" ]] || return 0
  rm -rf "$DIR"/node-[0-9]* "$DIR/bootstrap" "$DIR/nodes" "$DIR/cluster-id" \
    "$DIR/bootstrap-secure" "$DIR/ca.pem" "$DIR/untrusted-ca.pem" "$DIR/sasl-username" \
    "$DIR/sasl-password" "$DIR/tls" "$DIR/bootstrap-external" "$DIR/advertised-external"
  rmdir "$DIR" 2>/dev/null || true
}

# make_certs: DIR/tls/{ca.key,ca.pem,broker.key,broker.pem,broker-keystore.pem}, DIR/ca.pem and
# DIR/untrusted-ca.pem (a CA that signed nothing here). Fresh keys at every start.
make_certs() {
  command -v openssl >/dev/null || apt_install openssl
  local t tc
  t="$DIR/tls"
  tc=$(now_ms)
  rm -rf "$t"
  mkdir -p "$t"
  chmod 700 "$t"
  local quiet=(-batch)
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 "${quiet[@]}" -subj "/CN=speedlayer test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$t/ca.key" -out "$t/ca.pem" 2>/dev/null || die "openssl: cannot make the CA"
  openssl req -newkey rsa:2048 -nodes "${quiet[@]}" -subj "/CN=localhost" \
    -keyout "$t/broker.key" -out "$t/broker.csr" 2>/dev/null || die "openssl: cannot make the broker key"
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$t/broker.ext"
  openssl x509 -req -in "$t/broker.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
    -days 30 -extfile "$t/broker.ext" -out "$t/broker.pem" 2>/dev/null ||
    die "openssl: cannot sign the broker certificate"
  # Kafka's PEM key store: the (unencrypted PKCS#8) key, then the certificate chain.
  cat "$t/broker.key" "$t/broker.pem" "$t/ca.pem" >"$t/broker-keystore.pem"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 "${quiet[@]}" -subj "/CN=untrusted test CA" \
    -keyout "$t/untrusted-ca.key" -out "$t/untrusted-ca.pem" 2>/dev/null ||
    die "openssl: cannot make the untrusted CA"
  cp "$t/ca.pem" "$DIR/ca.pem"
  cp "$t/untrusted-ca.pem" "$DIR/untrusted-ca.pem"
  log "TLS certificates made in $(since "$tc") (CA $DIR/ca.pem, SAN IP:127.0.0.1 DNS:localhost)"
}

# Same format as `kafka.tools.StorageTool random-uuid` (base64url of 16 random bytes, not
# starting with '-'), without paying ~3 s for a JVM.
random_uuid() {
  local u
  while :; do
    u=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ ${#u} == 22 && "$u" != -* ]] && break
  done
  echo "$u"
}

start_once() { # start_once N PARTITIONS EXTRA... -> 0 ready, 1 failed, 3 port collision
  local n=$1 parts=$2
  shift 2
  # Per node: PLAINTEXT, CONTROLLER, then SASL_SSL (--secure); EXTERNAL (--advertise) and
  # the advertised port (when not given) come last.
  local per=2 extra_ports=0
  ((SECURE)) && per=3
  [[ -n "$ADVERTISE_HOST" ]] && extra_ports=1
  [[ -n "$ADVERTISE_HOST" && -z "$ADVERTISE_PORT" ]] && extra_ports=2
  local -a ports
  read -r -a ports <<<"$(pick_ports $((per * n + extra_ports)))"
  ((${#ports[@]} == per * n + extra_ports)) || die "could not pick ports"
  local id voters="" bootstrap="" secure_bootstrap="" base
  SECURE_PORT=()
  EXTERNAL_PORT=()
  for ((id = 1; id <= n; id++)); do
    base=$((per * (id - 1)))
    voters+="${voters:+,}$id@$HOST:${ports[base + 1]}"
    bootstrap+="${bootstrap:+,}$HOST:${ports[base]}"
    if ((SECURE)); then
      SECURE_PORT[$id]=${ports[base + 2]}
      secure_bootstrap+="${secure_bootstrap:+,}$HOST:${ports[base + 2]}"
    fi
  done
  if [[ -n "$ADVERTISE_HOST" ]]; then
    EXTERNAL_PORT[1]=${ports[per * n]}
    ADVERTISE="$ADVERTISE_HOST:${ADVERTISE_PORT:-${ports[per * n + 1]}}"
  fi
  mkdir -p "$DIR"
  : >"$DIR/nodes"
  for ((id = 1; id <= n; id++)); do
    base=$((per * (id - 1)))
    write_config "$id" "${ports[base]}" "${ports[base + 1]}" "$voters" "$n" "$parts" "$@"
    echo "$id ${ports[base]} $(node_dir "$id")/pid" >>"$DIR/nodes"
  done
  local -a scram=()
  ((SECURE)) && scram=(--add-scram "SCRAM-SHA-512=[name=$SCRAM_USER,password=$SCRAM_PASSWORD]")
  local cluster_id
  # NB: set -e is off in here (start_once runs under ||): check every step by hand.
  cluster_id=$(random_uuid)
  echo "$cluster_id" >"$DIR/cluster-id"
  local fail=0 tf pid fmt_pids=()
  tf=$(now_ms)
  for ((id = 1; id <= n; id++)); do
    # One JVM per node formats; run them in parallel (each takes ~1-2 s).
    # shellcheck disable=SC2046
    "$JAVA" -Xmx256m $(cds_opts) -cp "$LIBS/*" -Dlog4j2.configurationFile="$LOG4J_TOOLS" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$(node_dir "$id")/server.properties" \
      "${scram[@]}" </dev/null >"$(node_dir "$id")/format.log" 2>&1 &
    fmt_pids+=($!)
  done
  # Wait for these pids only: `wait -n` would also report brokers of a failed attempt.
  for pid in "${fmt_pids[@]}"; do wait "$pid" || fail=1; done
  log "storage formatted in $(since "$tf")"
  if ((fail)); then
    cat "$DIR"/node-*/format.log >&2
    die "kafka.tools.StorageTool format failed"
  fi
  for ((id = 1; id <= n; id++)); do launch_node "$id" || return 1; done
  log "started $n node(s) (pids $(cat "$DIR"/node-*/pid | tr '\n' ' ')), waiting for readiness"
  local rc=0
  # shellcheck disable=SC2046
  wait_ready "$n" $(node_ids) || rc=$?
  if ((rc == 0)); then
    if ((SECURE)); then
      echo "$secure_bootstrap" >"$DIR/bootstrap-secure"
      printf '%s\n' "$SCRAM_USER" >"$DIR/sasl-username"
      printf '%s\n' "$SCRAM_PASSWORD" >"$DIR/sasl-password"
    fi
    if [[ -n "$ADVERTISE" ]]; then
      echo "$HOST:${EXTERNAL_PORT[1]}" >"$DIR/bootstrap-external"
      echo "$ADVERTISE" >"$DIR/advertised-external"
    fi
    echo "$bootstrap" >"$DIR/bootstrap"
    return 0
  fi
  if ((rc == 2)) && bind_failed; then return 3; fi
  print_logs
  return 1
}

cmd_start() {
  local n=1 parts=3 extra=() advertise=""
  while (($#)); do
    case $1 in
      --dir) DIR=$2; shift 2 ;;
      --brokers) n=$2; shift 2 ;;
      --partitions) parts=$2; shift 2 ;;
      --config) extra+=("$2"); shift 2 ;;
      --secure) SECURE=1; shift ;;
      --advertise) advertise=$2; shift 2 ;;
      *) die "start: unknown argument $1" ;;
    esac
  done
  parse_dir
  [[ "$n" == 1 || "$n" == 3 ]] || die "--brokers must be 1 or 3"
  ADVERTISE_HOST="" ADVERTISE_PORT=""
  if [[ -n "$advertise" ]]; then
    ((n == 1)) || die "--advertise needs --brokers 1"
    if [[ "$advertise" =~ ^([^:]+):([0-9]+)$ ]]; then
      ADVERTISE_HOST=${BASH_REMATCH[1]} ADVERTISE_PORT=${BASH_REMATCH[2]}
    elif [[ "$advertise" =~ ^[^:]+$ ]]; then
      ADVERTISE_HOST=$advertise
    else
      die "--advertise HOST[:PORT], got '$advertise'"
    fi
  fi
  [[ "$parts" =~ ^[1-9][0-9]*$ ]] || die "--partitions must be a positive number"
  local t0 attempt rc
  t0=$(now_ms)
  cmd_fetch
  log "jars ready ($(since "$t0"))"
  # Fresh start: stop whatever runs from DIR, drop its data.
  stop_nodes "$STOP_CLEAN_TIMEOUT"
  clean_dir
  ((SECURE)) && make_certs
  # Whatever way start fails (die, Ctrl-C), no half-started broker is left behind.
  trap 'CDS_ADOPT=0; stop_nodes "$STOP_CLEAN_TIMEOUT"' EXIT
  for attempt in 1 2 3; do
    rc=0
    start_once "$n" "$parts" "${extra[@]}" || rc=$?
    ((rc == 0)) && break
    CDS_ADOPT=0
    stop_nodes "$STOP_CLEAN_TIMEOUT"
    CDS_ADOPT=1
    if ((rc == 3 && attempt < 3)); then
      log "a port was taken by someone else; retrying with new ports"
      clean_dir
      continue
    fi
    die "Kafka did not become ready; state and logs kept in $DIR"
  done
  trap - EXIT
  log "$n-node Kafka $KAFKA_VERSION ready in $(since "$t0"): $(cat "$DIR/bootstrap")"
  if ((SECURE)); then
    log "SASL_SSL (SCRAM-SHA-512, user $SCRAM_USER): $(cat "$DIR/bootstrap-secure"), CA $DIR/ca.pem"
  fi
  if [[ -n "$ADVERTISE" ]]; then
    log "EXTERNAL: listens on $(cat "$DIR/bootstrap-external"), advertises $ADVERTISE"
  fi
  cat "$DIR/bootstrap"
}

cmd_stop() {
  local clean=0
  while (($#)); do
    case $1 in
      --dir) DIR=$2; shift 2 ;;
      --clean) clean=1; shift ;;
      *) die "stop: unknown argument $1" ;;
    esac
  done
  parse_dir
  if ((clean)); then
    stop_nodes "$STOP_CLEAN_TIMEOUT"
    clean_dir
  else
    stop_nodes
  fi
  return 0
}

cmd_status() {
  while (($#)); do
    case $1 in
      --dir) DIR=$2; shift 2 ;;
      *) die "status: unknown argument $1" ;;
    esac
  done
  parse_dir
  [[ -f "$DIR/nodes" ]] || { echo "no cluster in $DIR"; return 3; }
  local id port pid down=0
  echo "bootstrap: $(cat "$DIR/bootstrap" 2>/dev/null || echo '(not ready)')"
  while read -r id port _; do
    if pid=$(node_pid "$id"); then
      if port_open "$port"; then echo "node $id: running pid $pid port $port"
      else echo "node $id: starting pid $pid port $port (not accepting yet)"; down=1
      fi
    else
      echo "node $id: stopped (port $port)"; down=1
    fi
  done <"$DIR/nodes"
  ((down == 0)) || return 3
}

parse_node_args() {
  NODE=""
  while (($#)); do
    case $1 in
      --dir) DIR=$2; shift 2 ;;
      --node) NODE=$2; shift 2 ;;
      *) die "unknown argument $1" ;;
    esac
  done
  parse_dir
  [[ -n "$NODE" ]] || die "--node ID is required"
  [[ -f "$DIR/nodes" ]] || die "no cluster in $DIR"
  node_ids | grep -qx "$NODE" || die "no node $NODE in $DIR (nodes: $(node_ids | tr '\n' ' '))"
}

cmd_kill_node() {
  parse_node_args "$@"
  local pid
  if pid=$(node_pid "$NODE"); then
    kill -KILL "$pid"
    while node_pid "$NODE" >/dev/null; do sleep 0.05; done
    log "node $NODE (pid $pid) killed"
  else
    log "node $NODE was not running"
  fi
  rm -f "$(node_dir "$NODE")/pid"
}

cmd_start_node() {
  parse_node_args "$@"
  ensure_java
  jars_complete || die "jars missing in $LIBS (run fetch)"
  if node_pid "$NODE" >/dev/null; then log "node $NODE already running"; return 0; fi
  local t0 id live=0
  t0=$(now_ms)
  launch_node "$NODE"
  for id in $(node_ids); do node_pid "$id" >/dev/null && live=$((live + 1)); done
  local rc=0
  wait_ready "$live" "$NODE" || rc=$?
  if ((rc != 0)); then print_logs; die "node $NODE did not become ready"; fi
  log "node $NODE ready in $(since "$t0")"
}

run_java_tool() { # run_java_tool CLASS ARGS...
  ensure_java
  jars_complete || cmd_fetch
  # shellcheck disable=SC2046
  "$JAVA" -Xmx512m $(cds_opts) -cp "$LIBS/*" -Dlog4j2.configurationFile="$LOG4J_TOOLS" "$@"
}

cmd_create_topic() {
  local topic="" parts="" rf="" cfg=()
  while (($#)); do
    case $1 in
      --dir) DIR=$2; shift 2 ;;
      --topic) topic=$2; shift 2 ;;
      --partitions) parts=$2; shift 2 ;;
      --replication) rf=$2; shift 2 ;;
      --config) cfg+=(--config "$2"); shift 2 ;;
      *) die "create-topic: unknown argument $1" ;;
    esac
  done
  parse_dir
  [[ -n "$topic" ]] || die "--topic T is required"
  [[ -f "$DIR/bootstrap" ]] || die "no running cluster in $DIR (no bootstrap file)"
  run_java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(cat "$DIR/bootstrap")" \
    --create --topic "$topic" ${parts:+--partitions "$parts"} ${rf:+--replication-factor "$rf"} \
    "${cfg[@]}"
}

main() {
  (($#)) || usage
  local cmd=$1
  shift
  case $cmd in
    fetch) cmd_fetch; echo "$LIBS" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    bootstrap)
      [[ "${1:-}" == --dir && -n "${2:-}" ]] || die "bootstrap --dir DIR"
      DIR=$2; parse_dir; cat "$DIR/bootstrap" ;;
    kill-node) cmd_kill_node "$@" ;;
    start-node) cmd_start_node "$@" ;;
    create-topic) cmd_create_topic "$@" ;;
    run-class) (($#)) || die "run-class CLASS [ARGS...]"; run_java_tool "$@" ;;
    -h | --help | help) usage 0 ;;
    *) log "unknown command $cmd"; usage ;;
  esac
}

main "$@"
