//! Cluster CA and node certificates.
//!
//! Each cluster has its own CA; each node gets an ECDSA P-256 certificate, usable for both TLS
//! server and client authentication, whose identity is the SAN DNS name `node-<id>.tw`. Peers
//! check that a certificate is signed by the cluster CA, is within its validity period, and names
//! the node they expect.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rand_core::{OsRng, RngCore};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::time::ASN1Time;
use zeroize::Zeroizing;

use crate::error::{EngineError, Result};

/// Suffix of node identity DNS names.
const NODE_DNS_SUFFIX: &str = ".tw";
/// Prefix of node identity DNS names.
const NODE_DNS_PREFIX: &str = "node-";
/// Backdating of `not_before` to tolerate clock skew between nodes.
const CLOCK_SKEW_SECS: i64 = 3600;
/// Longest accepted validity, in days (100 years).
const MAX_VALIDITY_DAYS: u32 = 36_500;

/// A cluster CA: certificate and PKCS#8 private key, both PEM.
#[derive(Clone)]
pub struct CaBundle {
    /// CA certificate (PEM).
    pub cert_pem: String,
    /// CA private key (PKCS#8 PEM). Secret.
    pub key_pem: Zeroizing<String>,
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaBundle")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &format_args!("<redacted>"))
            .finish()
    }
}

/// A node certificate and its PKCS#8 private key, both PEM.
#[derive(Clone)]
pub struct NodeCertBundle {
    /// The node id named by the certificate.
    pub node_id: u16,
    /// Node certificate (PEM).
    pub cert_pem: String,
    /// Node private key (PKCS#8 PEM). Secret.
    pub key_pem: Zeroizing<String>,
}

impl fmt::Debug for NodeCertBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeCertBundle")
            .field("node_id", &self.node_id)
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &format_args!("<redacted>"))
            .finish()
    }
}

/// What a certificate says, as far as the cluster cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// The node id from its `node-<id>.tw` SAN, if it has exactly one valid such name.
    pub node_id: Option<u16>,
    /// Subject distinguished name, e.g. `CN=node-3.tw`.
    pub subject: String,
    /// Start of validity, unix seconds.
    pub not_before_unix: i64,
    /// End of validity, unix seconds.
    pub not_after_unix: i64,
    /// Whether the certificate is a CA (basic constraints CA:TRUE).
    pub is_ca: bool,
    /// Lower-case hex SHA-256 of the certificate DER.
    pub sha256_fingerprint: String,
}

/// The SAN DNS name carrying a node's identity: `node-<id>.tw`.
pub fn node_dns_name(node_id: u16) -> String {
    format!("{NODE_DNS_PREFIX}{node_id}{NODE_DNS_SUFFIX}")
}

/// Generates a new self-signed cluster CA (ECDSA P-256), valid from an hour ago for
/// `validity_days` days. The CA may only issue end-entity certificates (path length 0).
pub fn generate_ca(common_name: &str, validity_days: u32) -> Result<CaBundle> {
    let common_name = common_name.trim();
    if common_name.is_empty() || common_name.len() > 64 {
        return Err(EngineError::bad_arg(
            "ca common name must be 1-64 characters",
        ));
    }
    let (not_before, not_after) = validity_from_now(validity_days)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(random_serial());
    set_validity(&mut params, not_before, not_after)?;
    let key = KeyPair::generate().map_err(|e| rcgen_err("cannot generate ca key", e))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| rcgen_err("cannot self-sign ca certificate", e))?;
    Ok(CaBundle {
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

/// Issues a node certificate valid from an hour ago for `validity_days` days.
///
/// The certificate names `node-<id>.tw` plus `extra_sans` (IP addresses become IP SANs, anything
/// else a DNS SAN), has EKU serverAuth + clientAuth, an ECDSA P-256 key and an authority key
/// identifier.
pub fn issue_node_cert(
    ca: &CaBundle,
    node_id: u16,
    extra_sans: &[String],
    validity_days: u32,
) -> Result<NodeCertBundle> {
    let (not_before, not_after) = validity_from_now(validity_days)?;
    issue_node_cert_with_validity(ca, node_id, extra_sans, not_before, not_after)
}

/// Like [`issue_node_cert`] with an explicit validity window (unix seconds), e.g. to make expired
/// or not-yet-valid certificates in tests.
pub fn issue_node_cert_with_validity(
    ca: &CaBundle,
    node_id: u16,
    extra_sans: &[String],
    not_before_unix: i64,
    not_after_unix: i64,
) -> Result<NodeCertBundle> {
    if node_id == 0 {
        return Err(EngineError::bad_arg("node id must be in 1..=65535, got 0"));
    }
    if not_after_unix <= not_before_unix {
        return Err(EngineError::bad_arg(
            "certificate validity must end after it starts",
        ));
    }
    let name = node_dns_name(node_id);
    let mut sans = vec![SanType::DnsName(
        name.clone()
            .try_into()
            .map_err(|e| rcgen_err("invalid node dns name", e))?,
    )];
    for extra in extra_sans {
        let extra = extra.trim();
        if let Ok(ip) = extra.parse::<IpAddr>() {
            sans.push(SanType::IpAddress(ip));
            continue;
        }
        if parse_node_dns_name(extra).is_some() {
            return Err(EngineError::bad_arg(format!(
                "extra subject alternative name '{extra}' looks like a node identity; only {name} may be used"
            )));
        }
        if extra.is_empty() || !is_valid_dns_name(extra) {
            return Err(EngineError::bad_arg(format!(
                "invalid subject alternative name '{extra}': expected a hostname or an ip address"
            )));
        }
        let dns = extra.to_string().try_into().map_err(|e| {
            EngineError::bad_arg(format!("invalid subject alternative name '{extra}': {e}"))
        })?;
        sans.push(SanType::DnsName(dns));
    }

    let issuer = load_issuer(ca)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    set_validity(&mut params, not_before_unix, not_after_unix)?;
    let key = KeyPair::generate().map_err(|e| rcgen_err("cannot generate node key", e))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| rcgen_err("cannot sign node certificate", e))?;
    Ok(NodeCertBundle {
        node_id,
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

/// The node id named by a certificate: exactly one `node-<id>.tw` SAN (id in 1..=65535) is
/// required, else [`crate::ErrorCode::BadArgument`].
pub fn node_id_from_cert_der(der: &[u8]) -> Result<u16> {
    let cert = parse_der(der)?;
    node_id_of(&cert)
}

/// Parses the first certificate of a PEM input and describes it.
pub fn inspect_cert_pem(pem: &str) -> Result<CertInfo> {
    let der = first_cert_der(pem, "certificate")?;
    let cert = parse_der(&der)?;
    Ok(cert_info(&cert, &der))
}

/// Verifies a node certificate against the cluster CA at time `now_unix`: signed by the CA, within
/// its validity period, an end-entity certificate naming exactly one node, and (if given) the
/// expected node. Failures are [`crate::ErrorCode::BadArgument`] with a message saying why.
pub fn verify_node_cert(
    ca_cert_pem: &str,
    cert_pem: &str,
    expected_node_id: Option<u16>,
    now_unix: i64,
) -> Result<CertInfo> {
    let ca_der = first_cert_der(ca_cert_pem, "cluster ca certificate")?;
    let ca = parse_der(&ca_der)?;
    if !ca.is_ca() {
        return Err(EngineError::bad_arg(
            "cluster ca certificate is not a ca certificate",
        ));
    }
    let der = first_cert_der(cert_pem, "certificate")?;
    let cert = parse_der(&der)?;
    if cert.issuer() != ca.subject() || cert.verify_signature(Some(ca.public_key())).is_err() {
        return Err(EngineError::bad_arg(
            "certificate is not signed by the cluster ca",
        ));
    }
    if cert.is_ca() {
        return Err(EngineError::bad_arg(
            "certificate is a ca certificate, not a node certificate",
        ));
    }
    let node_id = node_id_of(&cert)?;
    if let Some(expected) = expected_node_id {
        if expected != node_id {
            return Err(EngineError::bad_arg(format!(
                "certificate is for node {node_id}, expected node {expected}"
            )));
        }
    }
    let name = node_dns_name(node_id);
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    if now_unix > not_after {
        return Err(EngineError::bad_arg(format!(
            "certificate for {name} expired at {}",
            rfc3339(not_after)
        )));
    }
    if now_unix < not_before {
        return Err(EngineError::bad_arg(format!(
            "certificate not yet valid until {} ({name})",
            rfc3339(not_before)
        )));
    }
    let ca_not_before = ca.validity().not_before.timestamp();
    let ca_not_after = ca.validity().not_after.timestamp();
    if now_unix > ca_not_after {
        return Err(EngineError::bad_arg(format!(
            "cluster ca certificate expired at {}",
            rfc3339(ca_not_after)
        )));
    }
    if now_unix < ca_not_before {
        return Err(EngineError::bad_arg(format!(
            "cluster ca certificate not yet valid until {}",
            rfc3339(ca_not_before)
        )));
    }
    Ok(cert_info(&cert, &der))
}

/// The DER of every `CERTIFICATE` block in a PEM input (at least one required).
pub fn pem_to_der_certs(pem: &str) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block
            .map_err(|e| EngineError::bad_arg(format!("invalid pem certificate input: {e}")))?;
        if block.label == "CERTIFICATE" {
            parse_der(&block.contents)?;
            out.push(block.contents);
        }
    }
    if out.is_empty() {
        return Err(EngineError::bad_arg("no certificate found in pem input"));
    }
    Ok(out)
}

/// The DER of the PKCS#8 `PRIVATE KEY` block of a PEM input. Decoding buffers are zeroized.
pub fn pem_to_der_key(pem: &str) -> Result<Zeroizing<Vec<u8>>> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let Some(start) = pem.find(BEGIN) else {
        if pem.contains("-----BEGIN EC PRIVATE KEY-----")
            || pem.contains("-----BEGIN RSA PRIVATE KEY-----")
            || pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        {
            return Err(EngineError::bad_arg(
                "private key must be an unencrypted pkcs#8 key (BEGIN PRIVATE KEY)",
            ));
        }
        return Err(EngineError::bad_arg(
            "no pkcs#8 private key (BEGIN PRIVATE KEY) found in pem input",
        ));
    };
    let body_start = start + BEGIN.len();
    let Some(len) = pem[body_start..].find(END) else {
        return Err(EngineError::bad_arg(
            "pkcs#8 private key pem block is not terminated",
        ));
    };
    let der = base64_decode(&pem.as_bytes()[body_start..body_start + len])
        .ok_or_else(|| EngineError::bad_arg("pkcs#8 private key pem block is not valid base64"))?;
    if der.is_empty() {
        return Err(EngineError::bad_arg(
            "pkcs#8 private key pem block is empty",
        ));
    }
    Ok(der)
}

/// Generates a cluster: a new CA and certificates for nodes `1..=nodes`, each also valid for
/// `127.0.0.1` and `localhost`.
///
/// Writes `dir/ca.crt`, the CA key `ca.key` (in `ca_key_dir`, or `dir`; mode 0600), and
/// `dir/node-<i>.crt` and `dir/node-<i>.key` (mode 0600). Refuses to run if the CA key file
/// already exists. Returns the written paths.
pub fn write_cluster(
    dir: &Path,
    nodes: u16,
    ca_key_dir: Option<&Path>,
    validity_days: u32,
) -> Result<Vec<PathBuf>> {
    if nodes == 0 {
        return Err(EngineError::bad_arg("a cluster needs at least one node"));
    }
    let key_dir = ca_key_dir.unwrap_or(dir);
    let ca_key_path = key_dir.join("ca.key");
    if ca_key_path.exists() {
        return Err(EngineError::bad_arg(format!(
            "{} already exists; refusing to overwrite the cluster ca key",
            ca_key_path.display()
        )));
    }
    for d in [dir, key_dir] {
        fs::create_dir_all(d)
            .map_err(|e| io_err(&format!("cannot create directory {}", d.display()), e))?;
    }

    let ca = generate_ca("threshold-wallet cluster ca", validity_days)?;
    let extra = ["127.0.0.1".to_string(), "localhost".to_string()];
    let node_bundles = (1..=nodes)
        .map(|i| issue_node_cert(&ca, i, &extra, validity_days))
        .collect::<Result<Vec<_>>>()?;

    let mut written = Vec::with_capacity(2 + 2 * nodes as usize);
    // The CA key first, create-new, so a concurrent run cannot clobber it either.
    write_new_file(&ca_key_path, ca.key_pem.as_bytes(), 0o600)?;
    let ca_cert_path = dir.join("ca.crt");
    write_file_atomic(&ca_cert_path, ca.cert_pem.as_bytes(), 0o644)?;
    written.push(ca_cert_path);
    written.push(ca_key_path);
    for b in &node_bundles {
        let crt = dir.join(format!("node-{}.crt", b.node_id));
        let key = dir.join(format!("node-{}.key", b.node_id));
        write_file_atomic(&crt, b.cert_pem.as_bytes(), 0o644)?;
        write_file_atomic(&key, b.key_pem.as_bytes(), 0o600)?;
        written.push(crt);
        written.push(key);
    }
    Ok(written)
}

/// Renews node `node_id`'s certificate in `dir` (the layout of [`write_cluster`]): a fresh key
/// and certificate from the cluster CA (`dir/ca.crt` and the CA key at `ca_key_path`), each
/// written atomically (key first). A running node picks them up without a restart.
pub fn renew_node_cert(
    dir: &Path,
    node_id: u16,
    ca_key_path: &Path,
    validity_days: u32,
) -> Result<Vec<PathBuf>> {
    let ca = load_ca(&dir.join("ca.crt"), ca_key_path)?;
    let extra = ["127.0.0.1".to_string(), "localhost".to_string()];
    let b = issue_node_cert(&ca, node_id, &extra, validity_days)?;
    let crt = dir.join(format!("node-{node_id}.crt"));
    let key = dir.join(format!("node-{node_id}.key"));
    write_file_atomic(&key, b.key_pem.as_bytes(), 0o600)?;
    write_file_atomic(&crt, b.cert_pem.as_bytes(), 0o644)?;
    Ok(vec![crt, key])
}

/// The etcd user name of node `node_id` (`node-<id>`): the Common Name of its etcd client
/// certificate. With `--client-cert-auth` etcd takes the user name from the certificate CN.
pub fn etcd_node_user(node_id: u16) -> String {
    format!("{NODE_DNS_PREFIX}{node_id}")
}

/// The etcd user of the operator / bootstrap client certificate (`etcd-root.crt`).
pub const ETCD_ROOT_USER: &str = "root";
/// CN of the Prometheus scrape certificate: not an etcd user, so it can read no keys.
pub const ETCD_METRICS_CN: &str = "prometheus";
/// SANs every etcd member certificate carries: loopback plus the compose service names.
pub const ETCD_SERVER_SANS: [&str; 6] =
    ["127.0.0.1", "::1", "localhost", "etcd1", "etcd2", "etcd3"];

/// What an etcd certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdCertKind {
    /// A member: TLS server for clients and peers, and TLS client towards peers.
    Member,
    /// A client (a node, root, Prometheus): TLS client only, identity = CN, no SAN.
    Client,
}

/// An etcd certificate and its PKCS#8 key, both PEM.
#[derive(Clone)]
pub struct EtcdCertBundle {
    /// Certificate (PEM).
    pub cert_pem: String,
    /// Private key (PKCS#8 PEM). Secret.
    pub key_pem: Zeroizing<String>,
}

impl fmt::Debug for EtcdCertBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdCertBundle")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &format_args!("<redacted>"))
            .finish()
    }
}

/// Issues an etcd certificate with Common Name `common_name` from `ca` (the etcd CA).
///
/// A [`EtcdCertKind::Client`] certificate has EKU clientAuth and no SAN (etcd's user is the CN;
/// it can never pass as a `node-<id>.tw` QUIC identity). A [`EtcdCertKind::Member`] certificate
/// has EKU serverAuth + clientAuth and `sans` (IP addresses become IP SANs, else DNS SANs).
pub fn issue_etcd_cert(
    ca: &CaBundle,
    common_name: &str,
    kind: EtcdCertKind,
    sans: &[String],
    validity_days: u32,
) -> Result<EtcdCertBundle> {
    let valid_cn = !common_name.is_empty()
        && common_name.len() <= 64
        && common_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !valid_cn {
        return Err(EngineError::bad_arg(format!(
            "invalid etcd certificate common name '{common_name}': 1-64 of [A-Za-z0-9._-]"
        )));
    }
    if kind == EtcdCertKind::Client && !sans.is_empty() {
        return Err(EngineError::bad_arg(
            "an etcd client certificate carries no subject alternative names",
        ));
    }
    let (not_before, not_after) = validity_from_now(validity_days)?;
    let mut san_list = Vec::new();
    for extra in sans {
        let extra = extra.trim();
        if let Ok(ip) = extra.parse::<IpAddr>() {
            san_list.push(SanType::IpAddress(ip));
            continue;
        }
        if extra.is_empty() || !is_valid_dns_name(extra) || looks_like_node_name(extra) {
            return Err(EngineError::bad_arg(format!(
                "invalid etcd subject alternative name '{extra}': expected a hostname or an ip address"
            )));
        }
        let dns: rcgen::string::Ia5String = extra.to_string().try_into().map_err(|e| {
            EngineError::bad_arg(format!("invalid subject alternative name '{extra}': {e}"))
        })?;
        let san = SanType::DnsName(dns);
        if !san_list.contains(&san) {
            san_list.push(san);
        }
    }
    let issuer = load_issuer(ca)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.subject_alt_names = san_list;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = match kind {
        EtcdCertKind::Member => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        EtcdCertKind::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
    };
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    set_validity(&mut params, not_before, not_after)?;
    let key = KeyPair::generate().map_err(|e| rcgen_err("cannot generate etcd key", e))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| rcgen_err("cannot sign etcd certificate", e))?;
    Ok(EtcdCertBundle {
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

/// Generates the etcd PKI, a CA of its own (separate from the cluster CA of the QUIC
/// transport), into `dir`:
///
/// - `etcd-ca.crt`, and its key `etcd-ca.key` in `ca_key_dir` (or `dir`; mode 0600);
/// - `etcd-server.crt`/`.key`: every member's server and peer certificate, SANs
///   [`ETCD_SERVER_SANS`] plus `extra_server_sans`;
/// - `etcd-root.crt`/`.key`: CN `root`, the operator / bootstrap client (applies the ACL);
/// - `etcd-node-<i>.crt`/`.key` for `i` in `1..=nodes`: CN `node-<i>`, node `i`'s etcd user;
/// - `etcd-prometheus.crt`/`.key`: CN `prometheus`, for scraping `/metrics` (no etcd user).
///
/// Keys are mode 0600. Refuses to run if the etcd CA key already exists. Returns the paths.
pub fn write_etcd(
    dir: &Path,
    nodes: u16,
    ca_key_dir: Option<&Path>,
    validity_days: u32,
    extra_server_sans: &[String],
) -> Result<Vec<PathBuf>> {
    if nodes == 0 {
        return Err(EngineError::bad_arg("a cluster needs at least one node"));
    }
    let key_dir = ca_key_dir.unwrap_or(dir);
    let ca_key_path = key_dir.join("etcd-ca.key");
    if ca_key_path.exists() {
        return Err(EngineError::bad_arg(format!(
            "{} already exists; refusing to overwrite the etcd ca key",
            ca_key_path.display()
        )));
    }
    for d in [dir, key_dir] {
        fs::create_dir_all(d)
            .map_err(|e| io_err(&format!("cannot create directory {}", d.display()), e))?;
    }
    let ca = generate_ca("threshold-wallet etcd ca", validity_days)?;
    let mut server_sans: Vec<String> = ETCD_SERVER_SANS.iter().map(|s| s.to_string()).collect();
    server_sans.extend(extra_server_sans.iter().map(|s| s.trim().to_string()));
    let mut leaves = vec![(
        "etcd-server".to_string(),
        issue_etcd_cert(
            &ca,
            "etcd",
            EtcdCertKind::Member,
            &server_sans,
            validity_days,
        )?,
    )];
    leaves.push((
        "etcd-root".to_string(),
        issue_etcd_cert(
            &ca,
            ETCD_ROOT_USER,
            EtcdCertKind::Client,
            &[],
            validity_days,
        )?,
    ));
    for i in 1..=nodes {
        leaves.push((
            format!("etcd-node-{i}"),
            issue_etcd_cert(
                &ca,
                &etcd_node_user(i),
                EtcdCertKind::Client,
                &[],
                validity_days,
            )?,
        ));
    }
    leaves.push((
        "etcd-prometheus".to_string(),
        issue_etcd_cert(
            &ca,
            ETCD_METRICS_CN,
            EtcdCertKind::Client,
            &[],
            validity_days,
        )?,
    ));

    let mut written = Vec::with_capacity(2 + 2 * leaves.len());
    write_new_file(&ca_key_path, ca.key_pem.as_bytes(), 0o600)?;
    let ca_cert_path = dir.join("etcd-ca.crt");
    write_file_atomic(&ca_cert_path, ca.cert_pem.as_bytes(), 0o644)?;
    written.push(ca_cert_path);
    written.push(ca_key_path);
    for (name, b) in &leaves {
        let crt = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        write_file_atomic(&crt, b.cert_pem.as_bytes(), 0o644)?;
        write_file_atomic(&key, b.key_pem.as_bytes(), 0o600)?;
        written.push(crt);
        written.push(key);
    }
    Ok(written)
}

/// Checks that `key_pem` is the private key of `cert_pem` (a renewal must never pair a new
/// certificate with another key).
pub fn check_key_matches(cert_pem: &str, key_pem: &str) -> Result<()> {
    let der = first_cert_der(cert_pem, "node certificate")?;
    let cert = parse_der(&der)?;
    let key = key_pair_from_pem(key_pem, "node key")?;
    if key.public_key_raw() != &cert.public_key().subject_public_key.data[..] {
        return Err(EngineError::bad_arg(
            "the node key does not belong to the node certificate",
        ));
    }
    Ok(())
}

/// Loads a stored CA certificate and key, checking the key belongs to the certificate.
pub fn load_ca(cert_path: &Path, key_path: &Path) -> Result<CaBundle> {
    let cert_pem = fs::read_to_string(cert_path).map_err(|e| {
        io_err(
            &format!("cannot read ca certificate {}", cert_path.display()),
            e,
        )
    })?;
    let key_pem = Zeroizing::new(
        fs::read_to_string(key_path)
            .map_err(|e| io_err(&format!("cannot read ca key {}", key_path.display()), e))?,
    );
    let der = first_cert_der(
        &cert_pem,
        &format!("ca certificate {}", cert_path.display()),
    )?;
    let cert = parse_der(&der)?;
    if !cert.is_ca() {
        return Err(EngineError::bad_arg(format!(
            "{} is not a ca certificate",
            cert_path.display()
        )));
    }
    let key = key_pair_from_pem(&key_pem, &format!("ca key {}", key_path.display()))?;
    if key.public_key_raw() != &cert.public_key().subject_public_key.data[..] {
        return Err(EngineError::bad_arg(format!(
            "ca key {} does not match ca certificate {}",
            key_path.display(),
            cert_path.display()
        )));
    }
    Ok(CaBundle { cert_pem, key_pem })
}

// ----- helpers -----

fn rcgen_err(context: &str, e: rcgen::Error) -> EngineError {
    EngineError::bad_arg(format!("{context}: {e}"))
}

fn io_err(context: &str, e: io::Error) -> EngineError {
    EngineError::new(crate::error::ErrorCode::Io, format!("{context}: {e}"))
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn validity_from_now(validity_days: u32) -> Result<(i64, i64)> {
    if validity_days == 0 || validity_days > MAX_VALIDITY_DAYS {
        return Err(EngineError::bad_arg(format!(
            "validity must be 1..={MAX_VALIDITY_DAYS} days, got {validity_days}"
        )));
    }
    let now = now_unix();
    Ok((
        now - CLOCK_SKEW_SECS,
        now + i64::from(validity_days) * 86_400,
    ))
}

/// Sets the certificate validity window from unix seconds.
fn set_validity(params: &mut CertificateParams, not_before: i64, not_after: i64) -> Result<()> {
    let conv = |unix: i64| {
        ASN1Time::from_timestamp(unix)
            .map(|t| t.to_datetime())
            .map_err(|_| EngineError::bad_arg(format!("timestamp {unix} is out of range")))
    };
    params.not_before = conv(not_before)?;
    params.not_after = conv(not_after)?;
    Ok(())
}

fn random_serial() -> SerialNumber {
    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    serial[0] &= 0x7f; // positive
    serial[0] |= 0x01; // and no leading zero byte
    SerialNumber::from_slice(&serial)
}

fn key_pair_from_pem(pem: &str, what: &str) -> Result<KeyPair> {
    let der =
        pem_to_der_key(pem).map_err(|e| EngineError::bad_arg(format!("{what}: {}", e.message)))?;
    KeyPair::try_from(&der[..])
        .map_err(|_| EngineError::bad_arg(format!("{what} is not a supported private key")))
}

fn load_issuer(ca: &CaBundle) -> Result<Issuer<'static, KeyPair>> {
    let key = key_pair_from_pem(&ca.key_pem, "ca key")?;
    let der = first_cert_der(&ca.cert_pem, "ca certificate")?;
    let cert = parse_der(&der)?;
    if !cert.is_ca() {
        return Err(EngineError::bad_arg(
            "ca certificate is not a ca certificate",
        ));
    }
    if key.public_key_raw() != &cert.public_key().subject_public_key.data[..] {
        return Err(EngineError::bad_arg("ca key does not match ca certificate"));
    }
    Issuer::from_ca_cert_der(&der.into(), key)
        .map_err(|e| rcgen_err("cannot use ca certificate", e))
}

fn first_cert_der(pem: &str, what: &str) -> Result<Vec<u8>> {
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| EngineError::bad_arg(format!("{what}: invalid pem: {e}")))?;
        if block.label == "CERTIFICATE" {
            return Ok(block.contents);
        }
    }
    Err(EngineError::bad_arg(format!(
        "{what}: no certificate found in pem input"
    )))
}

fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(EngineError::bad_arg(
            "certificate has trailing data after its der encoding",
        )),
        Err(e) => Err(EngineError::bad_arg(format!(
            "certificate is not valid x.509 der: {e}"
        ))),
    }
}

fn cert_info(cert: &X509Certificate<'_>, der: &[u8]) -> CertInfo {
    CertInfo {
        node_id: node_id_of(cert).ok(),
        subject: cert.subject().to_string(),
        not_before_unix: cert.validity().not_before.timestamp(),
        not_after_unix: cert.validity().not_after.timestamp(),
        is_ca: cert.is_ca(),
        sha256_fingerprint: hex::encode(Sha256::digest(der)),
    }
}

/// `Some(id)` for a canonical `node-<id>.tw` (case-insensitive, id 1..=65535, no leading zeros).
fn parse_node_dns_name(name: &str) -> Option<u16> {
    let lower = name.to_ascii_lowercase();
    let digits = lower
        .strip_prefix(NODE_DNS_PREFIX)?
        .strip_suffix(NODE_DNS_SUFFIX)?;
    let id: u16 = digits.parse().ok()?;
    (id != 0 && node_dns_name(id) == lower).then_some(id)
}

/// Whether `name` has the shape of a node identity name (`node-*.tw`), valid or not.
fn looks_like_node_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with(NODE_DNS_PREFIX) && lower.ends_with(NODE_DNS_SUFFIX)
}

fn node_id_of(cert: &X509Certificate<'_>) -> Result<u16> {
    let san = cert.subject_alternative_name().map_err(|e| {
        EngineError::bad_arg(format!(
            "certificate has an invalid subject alternative name extension: {e}"
        ))
    })?;
    let mut ids = Vec::new();
    if let Some(san) = san {
        for gn in &san.value.general_names {
            if let GeneralName::DNSName(name) = gn {
                if let Some(id) = parse_node_dns_name(name) {
                    ids.push(id);
                } else if looks_like_node_name(name) {
                    return Err(EngineError::bad_arg(format!(
                        "certificate has an invalid node name '{name}'"
                    )));
                }
            }
        }
    }
    match ids.as_slice() {
        [id] => Ok(*id),
        [] => Err(EngineError::bad_arg(
            "certificate has no node-<id>.tw subject alternative name",
        )),
        _ => Err(EngineError::bad_arg(format!(
            "certificate names more than one node ({})",
            ids.iter()
                .map(|i| node_dns_name(*i))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn is_valid_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
        })
}

/// Formats unix seconds as RFC 3339 UTC, e.g. `2024-05-01T12:00:00Z`.
fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Standard base64 (with optional padding), ignoring whitespace; output zeroized on drop.
fn base64_decode(input: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    fn val(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Zeroizing::new(Vec::with_capacity(input.len() * 3 / 4));
    let mut acc = Zeroizing::new(0u32);
    let mut bits = 0u32;
    let mut padding = 0usize;
    for &c in input {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            return None; // data after padding
        }
        *acc = (*acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((*acc >> bits) as u8);
            *acc &= (1 << bits) - 1;
        }
    }
    if padding > 2 || bits >= 6 {
        return None;
    }
    Some(out)
}

fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    set_mode(&mut opts, mode);
    let res = opts.open(path).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    match res {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(EngineError::bad_arg(format!(
            "{} already exists; refusing to overwrite it",
            path.display()
        ))),
        Err(e) => Err(io_err(&format!("cannot write {}", path.display()), e)),
    }
}

/// Writes via a fresh temp file (created with `mode`) renamed over `path`, so an existing file's
/// looser permissions never apply to the new contents.
fn write_file_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut suffix = [0u8; 8];
    OsRng.fill_bytes(&mut suffix);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", hex::encode(suffix)));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    set_mode(&mut opts, mode);
    let res = opts
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    res.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(&format!("cannot write {}", path.display()), e)
    })
}

#[cfg(unix)]
fn set_mode(opts: &mut OpenOptions, mode: u32) {
    use std::os::unix::fs::OpenOptionsExt;
    opts.mode(mode);
}

#[cfg(not(unix))]
fn set_mode(_opts: &mut OpenOptions, _mode: u32) {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::error::ErrorCode;

    use crate::test_util::TempDir;

    #[test]
    fn node_cert_verifies_and_names_node() {
        let ca = generate_ca("test cluster ca", 30).unwrap();
        let extra = vec![
            "127.0.0.1".to_string(),
            "::1".to_string(),
            "localhost".to_string(),
        ];
        let node = issue_node_cert(&ca, 3, &extra, 10).unwrap();
        assert_eq!(node.node_id, 3);
        let now = now_unix();
        let info = verify_node_cert(&ca.cert_pem, &node.cert_pem, Some(3), now).unwrap();
        assert_eq!(info.node_id, Some(3));
        assert!(!info.is_ca);
        assert_eq!(info.subject, "CN=node-3.tw");
        assert!(info.not_before_unix <= now && now < info.not_after_unix);
        assert_eq!(
            verify_node_cert(&ca.cert_pem, &node.cert_pem, None, now).unwrap(),
            info
        );
        let der = pem_to_der_certs(&node.cert_pem).unwrap();
        assert_eq!(der.len(), 1);
        assert_eq!(node_id_from_cert_der(&der[0]).unwrap(), 3);
        assert_eq!(
            info.sha256_fingerprint,
            hex::encode(Sha256::digest(&der[0]))
        );

        let cert = parse_der(&der[0]).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        assert!(cert
            .get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER)
            .unwrap()
            .is_some());
        let sans = &cert
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names;
        assert!(sans.contains(&GeneralName::DNSName("node-3.tw")));
        assert!(sans.contains(&GeneralName::DNSName("localhost")));
        assert!(sans.contains(&GeneralName::IPAddress(&[127, 0, 0, 1])));
        assert_eq!(sans.len(), 4);

        let ca_info = inspect_cert_pem(&ca.cert_pem).unwrap();
        assert!(ca_info.is_ca);
        assert_eq!(ca_info.node_id, None);
        assert_eq!(ca_info.subject, "CN=test cluster ca");
        assert_eq!(node_dns_name(65535), "node-65535.tw");
        // Secrets stay out of Debug.
        let dbg = format!("{ca:?} {node:?}");
        assert!(!dbg.contains("PRIVATE KEY") && dbg.contains("<redacted>"));
    }

    #[test]
    fn etcd_certs_name_users_by_cn() {
        let dir = TempDir::new("etcd-certs");
        let keys = dir.path().join("keys");
        let files = write_etcd(
            dir.path(),
            3,
            Some(&keys),
            30,
            &["etcd-a.example".to_string()],
        )
        .unwrap();
        // ca crt + key, server, root, 3 nodes, prometheus: 2 + 2 * 6
        assert_eq!(files.len(), 14);
        assert!(keys.join("etcd-ca.key").exists());
        let ca_pem = fs::read_to_string(dir.path().join("etcd-ca.crt")).unwrap();
        let ca_der = first_cert_der(&ca_pem, "ca").unwrap();
        let ca = parse_der(&ca_der).unwrap();
        let leaf = |name: &str| fs::read_to_string(dir.path().join(name)).unwrap();
        for (file, cn, server) in [
            ("etcd-node-2.crt", "node-2", false),
            ("etcd-root.crt", "root", false),
            ("etcd-prometheus.crt", "prometheus", false),
            ("etcd-server.crt", "etcd", true),
        ] {
            let pem = leaf(file);
            let der = first_cert_der(&pem, file).unwrap();
            let cert = parse_der(&der).unwrap();
            assert!(
                cert.verify_signature(Some(ca.public_key())).is_ok(),
                "{file}"
            );
            assert_eq!(cert.subject().to_string(), format!("CN={cn}"));
            let eku = cert.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.client_auth);
            assert_eq!(eku.server_auth, server, "{file}");
            // Never a QUIC node identity.
            assert!(node_id_of(&cert).is_err());
            let sans = cert.subject_alternative_name().unwrap();
            if server {
                let names = &sans.unwrap().value.general_names;
                assert!(names.contains(&GeneralName::IPAddress(&[127, 0, 0, 1])));
                assert!(names.contains(&GeneralName::DNSName("localhost")));
                assert!(names.contains(&GeneralName::DNSName("etcd2")));
                assert!(names.contains(&GeneralName::DNSName("etcd-a.example")));
            } else {
                assert!(sans.is_none(), "{file}");
            }
            let key = leaf(&file.replace(".crt", ".key"));
            check_key_matches(&pem, &key).unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("etcd-node-1.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The etcd CA key is never overwritten.
        let e = write_etcd(dir.path(), 3, Some(&keys), 30, &[]).unwrap_err();
        assert!(e.message.contains("refusing to overwrite the etcd ca key"));
        let ca_bundle = generate_ca("x", 1).unwrap();
        assert!(issue_etcd_cert(&ca_bundle, "bad name!", EtcdCertKind::Client, &[], 1).is_err());
        assert!(issue_etcd_cert(
            &ca_bundle,
            "node-1",
            EtcdCertKind::Client,
            &["localhost".into()],
            1
        )
        .is_err());
        assert!(issue_etcd_cert(
            &ca_bundle,
            "etcd",
            EtcdCertKind::Member,
            &["node-1.tw".into()],
            1
        )
        .is_err());
        assert_eq!(etcd_node_user(7), "node-7");
    }

    #[test]
    fn other_ca_is_rejected() {
        let ca = generate_ca("cluster a", 30).unwrap();
        let other = generate_ca("cluster a", 30).unwrap();
        let node = issue_node_cert(&other, 1, &[], 10).unwrap();
        let e = verify_node_cert(&ca.cert_pem, &node.cert_pem, Some(1), now_unix()).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
        assert_eq!(e.message, "certificate is not signed by the cluster ca");
        // A node certificate is not a ca.
        let leaf = issue_node_cert(&ca, 2, &[], 10).unwrap();
        let e = verify_node_cert(&leaf.cert_pem, &leaf.cert_pem, None, now_unix()).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
        // A self-signed ca presented as a node cert fails.
        assert!(verify_node_cert(&ca.cert_pem, &other.cert_pem, None, now_unix()).is_err());
    }

    #[test]
    fn expired_and_not_yet_valid() {
        let ca = generate_ca("cluster", 3650).unwrap();
        let now = now_unix();
        // 2024-01-01T00:00:00Z .. 2024-01-02T00:00:00Z
        let expired =
            issue_node_cert_with_validity(&ca, 2, &[], 1_704_067_200, 1_704_153_600).unwrap();
        let e = verify_node_cert(&ca.cert_pem, &expired.cert_pem, Some(2), now).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
        assert_eq!(
            e.message,
            "certificate for node-2.tw expired at 2024-01-02T00:00:00Z"
        );
        // Not yet valid now; valid once its window starts.
        let future =
            issue_node_cert_with_validity(&ca, 2, &[], now + 86_400, now + 2 * 86_400).unwrap();
        let e = verify_node_cert(&ca.cert_pem, &future.cert_pem, Some(2), now).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
        assert!(
            e.message.starts_with("certificate not yet valid until "),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("(node-2.tw)"), "{}", e.message);
        assert!(
            verify_node_cert(&ca.cert_pem, &future.cert_pem, Some(2), now + 86_400 + 1).is_ok()
        );
        assert!(issue_node_cert_with_validity(&ca, 2, &[], now, now).is_err());
    }

    #[test]
    fn node_id_mismatch() {
        let ca = generate_ca("cluster", 30).unwrap();
        let node = issue_node_cert(&ca, 4, &[], 10).unwrap();
        let e = verify_node_cert(&ca.cert_pem, &node.cert_pem, Some(2), now_unix()).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
        assert_eq!(e.message, "certificate is for node 4, expected node 2");
    }

    #[test]
    fn node_identity_rules() {
        let ca = generate_ca("cluster", 30).unwrap();
        assert_eq!(
            issue_node_cert(&ca, 0, &[], 10).unwrap_err().code,
            ErrorCode::BadArgument
        );
        for bad in ["node-5.tw", "NODE-7.TW", "bad name", "", "a..b"] {
            let e = issue_node_cert(&ca, 1, &[bad.to_string()], 10).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadArgument, "{bad:?}");
        }
        assert_eq!(parse_node_dns_name("node-12.tw"), Some(12));
        assert_eq!(parse_node_dns_name("Node-12.TW"), Some(12));
        for bad in [
            "node-0.tw",
            "node-012.tw",
            "node-65536.tw",
            "node-.tw",
            "node-1.tw.evil",
            "xnode-1.tw",
        ] {
            assert_eq!(parse_node_dns_name(bad), None, "{bad}");
        }
        // A certificate with two node names, or none, has no identity.
        let key = KeyPair::generate().unwrap();
        let two = CertificateParams::new(vec!["node-1.tw".to_string(), "node-2.tw".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let e = node_id_from_cert_der(two.der()).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
        assert!(e.message.contains("more than one node"), "{}", e.message);
        let none = CertificateParams::new(vec!["example.com".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_eq!(
            node_id_from_cert_der(none.der()).unwrap_err().code,
            ErrorCode::BadArgument
        );
        let malformed = CertificateParams::new(vec!["node-0.tw".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_eq!(
            node_id_from_cert_der(malformed.der()).unwrap_err().code,
            ErrorCode::BadArgument
        );
        assert_eq!(
            node_id_from_cert_der(b"garbage").unwrap_err().code,
            ErrorCode::BadArgument
        );
    }

    #[test]
    fn pem_round_trip() {
        let ca = generate_ca("cluster", 30).unwrap();
        let node = issue_node_cert(&ca, 1, &[], 10).unwrap();
        let bundle = format!("junk before\n{}\n{}", node.cert_pem, ca.cert_pem);
        let ders = pem_to_der_certs(&bundle).unwrap();
        assert_eq!(ders.len(), 2);
        assert_eq!(ders[0], pem_to_der_certs(&node.cert_pem).unwrap()[0]);
        // Key PEM → DER → KeyPair → PEM reproduces the same key.
        let der = pem_to_der_key(&node.key_pem).unwrap();
        let kp = KeyPair::try_from(&der[..]).unwrap();
        assert_eq!(kp.serialize_der(), *der);
        assert_eq!(kp.serialize_pem(), *node.key_pem);
        // The key matches the certificate.
        let cert = parse_der(&ders[0]).unwrap();
        assert_eq!(
            kp.public_key_raw(),
            &cert.public_key().subject_public_key.data[..]
        );
        // Errors.
        assert_eq!(
            pem_to_der_certs("nothing here").unwrap_err().code,
            ErrorCode::BadArgument
        );
        assert_eq!(
            pem_to_der_certs(&node.key_pem).unwrap_err().code,
            ErrorCode::BadArgument
        );
        assert_eq!(
            pem_to_der_key(&node.cert_pem).unwrap_err().code,
            ErrorCode::BadArgument
        );
        let corrupt = node.key_pem.replacen("-----\n", "-----\n!", 1);
        let e = pem_to_der_key(&corrupt).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
        assert_eq!(
            e.message,
            "pkcs#8 private key pem block is not valid base64"
        );
        assert_eq!(
            pem_to_der_key("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
                .unwrap_err()
                .code,
            ErrorCode::BadArgument
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_704_153_599), "2024-01-01T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(&base64_decode(b"aGVsbG8=").unwrap()[..], b"hello");
        assert_eq!(&base64_decode(b"aGVsbG8h").unwrap()[..], b"hello!");
        assert!(base64_decode(b"aGVsbG8=x").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn write_cluster_and_load_ca() {
        use std::os::unix::fs::PermissionsExt;
        let t = TempDir::new("certs");
        let dir = t.0.join("certs");
        let key_dir = t.0.join("offline");
        let paths = write_cluster(&dir, 3, Some(&key_dir), 30).unwrap();
        let names: Vec<_> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "ca.crt",
                "ca.key",
                "node-1.crt",
                "node-1.key",
                "node-2.crt",
                "node-2.key",
                "node-3.crt",
                "node-3.key"
            ]
        );
        assert_eq!(paths[1], key_dir.join("ca.key"));
        assert!(!dir.join("ca.key").exists());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for p in &paths {
            let expected = if p.extension().unwrap() == "key" {
                0o600
            } else {
                0o644
            };
            assert_eq!(mode(p), expected, "{}", p.display());
        }
        let ca_pem = fs::read_to_string(dir.join("ca.crt")).unwrap();
        for i in 1..=3u16 {
            let pem = fs::read_to_string(dir.join(format!("node-{i}.crt"))).unwrap();
            let info = verify_node_cert(&ca_pem, &pem, Some(i), now_unix()).unwrap();
            assert_eq!(info.node_id, Some(i));
            let key = fs::read_to_string(dir.join(format!("node-{i}.key"))).unwrap();
            pem_to_der_key(&key).unwrap();
        }
        // No stray temp files.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 7);
        // Refuses to overwrite the ca key.
        let e = write_cluster(&dir, 3, Some(&key_dir), 30).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
        assert!(e.message.contains("already exists"), "{}", e.message);
        // The stored CA reloads and can issue certificates that verify against ca.crt.
        let ca = load_ca(&dir.join("ca.crt"), &key_dir.join("ca.key")).unwrap();
        let node = issue_node_cert(&ca, 9, &[], 5).unwrap();
        verify_node_cert(&ca_pem, &node.cert_pem, Some(9), now_unix()).unwrap();
        // Mismatched key and certificate are refused.
        let other = generate_ca("other", 30).unwrap();
        fs::write(t.0.join("other.key"), other.key_pem.as_bytes()).unwrap();
        let e = load_ca(&dir.join("ca.crt"), &t.0.join("other.key")).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
        assert!(e.message.contains("does not match"), "{}", e.message);
        let e = load_ca(&dir.join("node-1.crt"), &dir.join("node-1.key")).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
        // Default key location is the cert dir.
        let dir2 = t.0.join("certs2");
        let paths = write_cluster(&dir2, 1, None, 30).unwrap();
        assert_eq!(paths[1], dir2.join("ca.key"));
        assert_eq!(
            write_cluster(&dir2, 1, None, 30).unwrap_err().code,
            ErrorCode::BadArgument
        );
    }
}
