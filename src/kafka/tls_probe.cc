#include "kafka/tls_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX sigset_t, pthread_sigmask
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "kafka/endpoint.h"  // connect_ip

namespace speedlayer::kafka {
namespace {

using Clock = std::chrono::steady_clock;

struct SslCtxFree {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};
struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct NamesFree {
  void operator()(GENERAL_NAMES* n) const noexcept { GENERAL_NAMES_free(n); }
};
// OpenSSL writes to the socket with write(): a peer that already closed it raises SIGPIPE,
// which would end the process. Blocked for the calling thread while a guard lives; a SIGPIPE
// raised meanwhile is consumed.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) && !sigismember(&old_, SIGPIPE)) {
      timespec zero{0, 0};
      sigtimedwait(&pipe_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
};

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string name_text(const X509_NAME* name) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  return bio_text(bio.get());
}

std::string time_text(const ASN1_TIME* t) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(bio.get(), t);
  return bio_text(bio.get());
}

std::vector<std::string> alt_names(X509* cert) {
  std::vector<std::string> out;
  std::unique_ptr<GENERAL_NAMES, NamesFree> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
    if (n->type == GEN_DNS) {
      const unsigned char* s = ASN1_STRING_get0_data(n->d.dNSName);
      out.push_back("DNS:" +
                    std::string(reinterpret_cast<const char*>(s),
                                static_cast<std::size_t>(ASN1_STRING_length(n->d.dNSName))));
    } else if (n->type == GEN_IPADD) {
      const unsigned char* s = ASN1_STRING_get0_data(n->d.iPAddress);
      int len = ASN1_STRING_length(n->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = {};
      if (len == 4)
        inet_ntop(AF_INET, s, text, sizeof text);
      else if (len == 16)
        inet_ntop(AF_INET6, s, text, sizeof text);
      out.push_back(std::string("IP:") + (text[0] ? text : "?"));
    }
  }
  return out;
}

int password_cb(char* buf, int size, int, void* userdata) {
  const auto* pw = static_cast<const std::string*>(userdata);
  if (!pw || size <= 0) return 0;
  int n = static_cast<int>(std::min<std::size_t>(pw->size(), static_cast<std::size_t>(size)));
  std::memcpy(buf, pw->data(), static_cast<std::size_t>(n));
  return n;
}

// Loads the CA the client would use; "" on success, else what went wrong.
std::string load_ca(SSL_CTX* ctx, const TlsSettings& s) {
  if (!s.ca_pem.empty()) {
    std::unique_ptr<BIO, BioFree> bio(
        BIO_new_mem_buf(s.ca_pem.data(), static_cast<int>(s.ca_pem.size())));
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int count = 0;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, cert);
      X509_free(cert);
      ++count;
    }
    ERR_clear_error();  // the read that ends the loop leaves "no start line"
    if (count == 0) return "ssl.ca.pem holds no PEM certificate (-----BEGIN CERTIFICATE-----)";
    return "";
  }
  if (s.ca_location.empty() || s.ca_location == "probe") {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return "cannot load the system's CA store: " + openssl_errors();
    }
    return "";
  }
  struct stat st{};
  if (::stat(s.ca_location.c_str(), &st) != 0) {
    return "cannot read CA file " + s.ca_location + ": " + std::strerror(errno);
  }
  bool dir = S_ISDIR(st.st_mode);
  if (SSL_CTX_load_verify_locations(ctx, dir ? nullptr : s.ca_location.c_str(),
                                    dir ? s.ca_location.c_str() : nullptr) != 1) {
    return "cannot load CA " + s.ca_location + " (not PEM certificates?): " + openssl_errors();
  }
  return "";
}

std::string handshake_hint(const std::string& error) {
  auto has = [&](const char* s) { return error.find(s) != std::string::npos; };
  if (has("wrong version number") || has("packet length too long") || has("record layer") ||
      has("unexpected eof") || has("closed the connection")) {
    return "this port does not seem to speak TLS (a plaintext listener?): use "
           "--security-protocol plaintext or sasl_plaintext for it, or the listener's TLS port";
  }
  if (has("certificate required") || has("alert handshake failure") ||
      has("alert bad certificate")) {
    return "the broker may require a client certificate (mutual TLS; Strimzi authentication "
           "type tls): pass ssl.certificate.location and ssl.key.location with -X";
  }
  if (has("unsupported protocol") || has("no protocols available")) {
    return "client and broker share no TLS version: check ssl.enabled.protocols on both sides";
  }
  return "check that the port is the listener's TLS port and that the broker's TLS setup works";
}

}  // namespace

std::string TlsSettings::ca_source() const {
  if (!ca_pem.empty()) return "the CA in ssl.ca.pem";
  if (ca_location.empty() || ca_location == "probe") return "the system's default CA store";
  return "CA " + ca_location;
}

TlsSettings tls_settings_of(const Properties& props) {
  TlsSettings s;
  s.ca_location = props.get("ssl.ca.location").value_or("");
  s.ca_pem = props.get("ssl.ca.pem").value_or("");
  s.verify_chain = props.get("enable.ssl.certificate.verification").value_or("true") != "false";
  auto algo = props.get("ssl.endpoint.identification.algorithm").value_or("https");
  s.verify_hostname = algo != "none";
  s.certificate_location = props.get("ssl.certificate.location").value_or("");
  s.key_location = props.get("ssl.key.location").value_or("");
  s.key_password = props.get("ssl.key.password").value_or("");
  return s;
}

TlsSettings tls_settings_of(rd_kafka_t* rk) {
  TlsSettings s;
  s.ca_location = conf_value(rk, "ssl.ca.location");
  s.ca_pem = conf_value(rk, "ssl.ca.pem");
  s.verify_chain = conf_value(rk, "enable.ssl.certificate.verification") != "false";
  s.verify_hostname = conf_value(rk, "ssl.endpoint.identification.algorithm") != "none";
  s.certificate_location = conf_value(rk, "ssl.certificate.location");
  s.key_location = conf_value(rk, "ssl.key.location");
  s.key_password = conf_value(rk, "ssl.key.password");
  return s;
}

TlsCheck check_tls(const std::string& ip, int port, const std::string& host,
                   const TlsSettings& settings, std::chrono::milliseconds timeout) {
  SigpipeGuard no_sigpipe;
  TlsCheck c;
  auto started = Clock::now();
  auto deadline = started + timeout;
  auto finish = [&] {
    c.ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    return c;
  };
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    c.error = "cannot create a TLS context: " + openssl_errors();
    return finish();
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (auto err = load_ca(ctx.get(), settings); !err.empty()) {
    c.error = err;
    c.hint =
        "pass the cluster's CA certificate (PEM) with --ssl-ca FILE, KAFKA_SSL_CA_LOCATION "
        "or KAFKA_SSL_CA_PEM";
    return finish();
  }
  if (!settings.certificate_location.empty() && !settings.key_location.empty()) {
    SSL_CTX_set_default_passwd_cb(ctx.get(), &password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx.get(),
                                           const_cast<std::string*>(&settings.key_password));
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), settings.certificate_location.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), settings.key_location.c_str(), SSL_FILETYPE_PEM) !=
            1) {
      c.error = "cannot load the client certificate " + settings.certificate_location +
                " or its key: " + openssl_errors();
      c.hint = "check ssl.certificate.location, ssl.key.location and ssl.key.password";
      return finish();
    }
  }

  auto fd_result = connect_ip(ip, port, timeout);
  if (!fd_result) {
    c.error = fd_result.error().what;
    return finish();
  }
  Fd fd{*fd_result};
  c.connected = true;
  ::fcntl(fd.fd, F_SETFL, ::fcntl(fd.fd, F_GETFL) | O_NONBLOCK);

  std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd.fd);
  SSL_set_verify(ssl.get(), SSL_VERIFY_NONE, nullptr);  // verified below, step by step
  if (!is_ip_literal(host)) SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  while (true) {
    ERR_clear_error();
    int r = SSL_connect(ssl.get());
    if (r == 1) break;
    int e = SSL_get_error(ssl.get(), r);
    short events = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0) {
      std::string detail = openssl_errors();
      if (detail.empty()) {
        detail = e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN
                     ? "the broker closed the connection during the handshake"
                     : "TLS error " + std::to_string(e);
      }
      c.error = "TLS handshake failed: " + detail;
      c.hint = handshake_hint(detail);
      return finish();
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      c.error = "TLS handshake did not finish within " + std::to_string(timeout.count()) + " ms";
      c.hint = handshake_hint("");
      return finish();
    }
    pollfd p{fd.fd, events, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  c.handshake = true;
  c.protocol = SSL_get_version(ssl.get());
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl.get()))
    c.cipher = SSL_CIPHER_get_name(cipher);
  std::unique_ptr<X509, X509Free> cert(SSL_get1_peer_certificate(ssl.get()));
  if (!cert) {
    c.chain_result = "the broker sent no certificate";
    return finish();
  }
  c.subject = name_text(X509_get_subject_name(cert.get()));
  c.issuer = name_text(X509_get_issuer_name(cert.get()));
  c.not_after = time_text(X509_get0_notAfter(cert.get()));
  int days = 0, secs = 0;
  if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert.get())) == 1)
    c.days_left = days;
  c.names = alt_names(cert.get());
  long verify = SSL_get_verify_result(ssl.get());
  c.chain_ok = verify == X509_V_OK;
  c.chain_result = X509_verify_cert_error_string(verify);
  c.name_ok = is_ip_literal(host) ? X509_check_ip_asc(cert.get(), host.c_str(), 0) == 1
                                  : X509_check_host(cert.get(), host.c_str(), 0, 0, nullptr) == 1;
  SSL_shutdown(ssl.get());
  return finish();
}

std::string describe(const TlsCheck& c, const std::string& host, const TlsSettings& settings) {
  if (!c.connected) return "TCP: " + c.error;
  if (!c.handshake) return c.error;
  std::string names;
  for (const auto& n : c.names) names += (names.empty() ? "" : ", ") + n;
  if (names.empty()) names = "no subjectAltName (subject " + c.subject + ")";
  std::string out = c.chain_ok
                        ? "chain verified against " + settings.ca_source()
                        : "chain NOT trusted by " + settings.ca_source() + ": " + c.chain_result;
  out += c.name_ok ? "; certificate names (" + names + ") match " + host
                   : "; certificate names (" + names + ") do NOT match " + host;
  return out;
}

std::optional<bool> broker_is_kafka4(const std::string& ip, int port, const std::string& host,
                                     bool tls, const TlsSettings& settings,
                                     std::chrono::milliseconds timeout) {
  SigpipeGuard no_sigpipe;
  auto deadline = Clock::now() + timeout;
  auto fd_result = connect_ip(ip, port, timeout);
  if (!fd_result) return std::nullopt;
  Fd fd{*fd_result};
  ::fcntl(fd.fd, F_SETFL, ::fcntl(fd.fd, F_GETFL) | O_NONBLOCK);
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx;
  std::unique_ptr<SSL, SslFree> ssl;
  if (tls) {
    ERR_clear_error();
    ctx.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx) return std::nullopt;
    if (!settings.certificate_location.empty() && !settings.key_location.empty()) {
      SSL_CTX_set_default_passwd_cb(ctx.get(), &password_cb);
      SSL_CTX_set_default_passwd_cb_userdata(ctx.get(),
                                             const_cast<std::string*>(&settings.key_password));
      SSL_CTX_use_certificate_chain_file(ctx.get(), settings.certificate_location.c_str());
      SSL_CTX_use_PrivateKey_file(ctx.get(), settings.key_location.c_str(), SSL_FILETYPE_PEM);
    }
    ssl.reset(SSL_new(ctx.get()));
    SSL_set_fd(ssl.get(), fd.fd);
    SSL_set_verify(ssl.get(), SSL_VERIFY_NONE, nullptr);
    if (!is_ip_literal(host)) SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  }
  // Waits for the socket; false on timeout.
  auto wait = [&](short events) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd.fd, events, 0};
    return ::poll(&p, 1, static_cast<int>(left.count())) > 0;
  };
  // One step of an SSL call: true to retry after waiting, false on error.
  auto ssl_retry = [&](int r) {
    int e = SSL_get_error(ssl.get(), r);
    if (e == SSL_ERROR_WANT_READ) return wait(POLLIN);
    if (e == SSL_ERROR_WANT_WRITE) return wait(POLLOUT);
    return false;
  };
  if (tls) {
    while (true) {
      int r = SSL_connect(ssl.get());
      if (r == 1) break;
      if (!ssl_retry(r)) return std::nullopt;
    }
  }
  auto send_all = [&](const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      if (tls) {
        int r = SSL_write(ssl.get(), data.data() + done, static_cast<int>(data.size() - done));
        if (r > 0)
          done += static_cast<std::size_t>(r);
        else if (!ssl_retry(r))
          return false;
      } else {
        ssize_t r = ::send(fd.fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (r > 0)
          done += static_cast<std::size_t>(r);
        else if ((r < 0 && errno != EAGAIN) || !wait(POLLOUT))
          return false;
      }
    }
    return true;
  };
  auto recv_exact = [&](std::size_t n, std::string& out) {
    out.resize(n);
    std::size_t done = 0;
    while (done < n) {
      if (tls) {
        int r = SSL_read(ssl.get(), out.data() + done, static_cast<int>(n - done));
        if (r > 0)
          done += static_cast<std::size_t>(r);
        else if (!ssl_retry(r))
          return false;
      } else {
        ssize_t r = ::recv(fd.fd, out.data() + done, n - done, 0);
        if (r > 0)
          done += static_cast<std::size_t>(r);
        else if (r == 0 || (r < 0 && errno != EAGAIN) || !wait(POLLIN))
          return false;
      }
    }
    return true;
  };
  auto be16 = [](std::string& out, std::uint16_t v) {
    out += static_cast<char>(v >> 8);
    out += static_cast<char>(v & 0xff);
  };
  auto be32 = [&](std::string& out, std::uint32_t v) {
    be16(out, static_cast<std::uint16_t>(v >> 16));
    be16(out, static_cast<std::uint16_t>(v & 0xffff));
  };
  auto rd16 = [](const std::string& in, std::size_t at) {
    return static_cast<std::int16_t>((static_cast<unsigned char>(in[at]) << 8) |
                                     static_cast<unsigned char>(in[at + 1]));
  };
  auto rd32 = [&](const std::string& in, std::size_t at) {
    return static_cast<std::int32_t>(
        (static_cast<std::uint32_t>(static_cast<std::uint16_t>(rd16(in, at))) << 16) |
        static_cast<std::uint16_t>(rd16(in, at + 2)));
  };
  // ApiVersionsRequest v0: api_key 18, version 0, correlation id, client id.
  const std::string client_id = "speedlayer-doctor";
  std::string body;
  be16(body, 18);
  be16(body, 0);
  be32(body, 7);
  be16(body, static_cast<std::uint16_t>(client_id.size()));
  body += client_id;
  std::string request;
  be32(request, static_cast<std::uint32_t>(body.size()));
  request += body;
  if (!send_all(request)) return std::nullopt;
  std::string size_bytes, response;
  if (!recv_exact(4, size_bytes)) return std::nullopt;
  std::int32_t size = rd32(size_bytes, 0);
  if (size < 10 || size > (1 << 20) || !recv_exact(static_cast<std::size_t>(size), response)) {
    return std::nullopt;
  }
  // correlation_id(4) error_code(2) [api_key(2) min(2) max(2)]
  if (rd32(response, 0) != 7 || rd16(response, 4) != 0) return std::nullopt;
  std::int32_t count = rd32(response, 6);
  for (std::int32_t i = 0; i < count; ++i) {
    std::size_t at = 10 + static_cast<std::size_t>(i) * 6;
    if (at + 6 > response.size()) return std::nullopt;
    // Fetch (api key 1): Kafka 4.0 removed v0-v3 (KIP-896) and advertises min 4; 3.x
    // advertises 0. (Produce is no marker: 4.x still advertises v0 for old clients.)
    if (rd16(response, at) == 1) return rd16(response, at + 2) >= 4;
  }
  return std::nullopt;
}

}  // namespace speedlayer::kafka
