//! The service's configuration: a TOML file, environment variables and flags.
//!
//! Each setting is taken from the first of: a command-line flag, an environment variable,
//! the file, the built-in default; [`Config`] remembers which, so `check-config` can say
//! where a value came from. The file is `--config FILE`, else `$BREAKWATER_CONFIG`, else
//! `breakwater.toml` in the current directory if there is one. Unknown keys are errors
//! (a misspelt key silently ignored is a setting silently not applied). Relative paths
//! are relative to the current directory. `breakwater.example.toml` lists every key.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file read when neither `--config` nor `$BREAKWATER_CONFIG` names one.
pub const DEFAULT_FILE: &str = "breakwater.toml";
pub const CONFIG_ENV: &str = "BREAKWATER_CONFIG";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("in {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{key} (from {origin}): {message}")]
    Invalid {
        key: &'static str,
        origin: Source,
        message: String,
    },
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(name) => write!(f, "environment {name}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file read, if any.
    pub file: Option<PathBuf>,
    pub listen: Setting<String>,
    /// `postgres://…`, or a SQLite file (default: `database.dir/breakwater.db`).
    pub database_url: Setting<String>,
    /// Where the embedded SQLite database lives.
    pub database_dir: Setting<PathBuf>,
    /// The detection data (lexicons, model); `None` searches the usual places.
    pub data_dir: Setting<Option<PathBuf>>,
    pub webhooks_enabled: Setting<bool>,
    pub webhook_poll_interval: Setting<Duration>,
    pub webhook_timeout: Setting<Duration>,
    pub webhook_max_attempts: Setting<i64>,
    /// A PEM bundle of certificate authorities trusted for `https://` webhooks besides
    /// the Mozilla roots (a private CA).
    pub webhook_ca_file: Setting<Option<PathBuf>>,
    pub log_quiet: Setting<bool>,
    pub log_json: Setting<bool>,
    pub max_body_bytes: Setting<usize>,
    pub request_timeout: Setting<Duration>,
}

/// Values given on the command line; `None` when the flag was not given.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub database_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

// ----- the file -----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct File {
    server: ServerSection,
    database: DatabaseSection,
    data: DataSection,
    webhooks: WebhooksSection,
    log: LogSection,
    limits: LimitsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ServerSection {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct DatabaseSection {
    url: Option<String>,
    dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct DataSection {
    dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct WebhooksSection {
    enabled: Option<bool>,
    poll_interval_ms: Option<u64>,
    timeout_seconds: Option<u64>,
    max_attempts: Option<u64>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LogSection {
    quiet: Option<bool>,
    json: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LimitsSection {
    max_body_bytes: Option<u64>,
    request_timeout_seconds: Option<u64>,
}

// ----- layering -----

/// A type that can be read from an environment variable.
trait FromEnv: Sized {
    fn from_env(s: &str) -> Result<Self, String>;
}

impl FromEnv for String {
    fn from_env(s: &str) -> Result<Self, String> {
        Ok(s.to_string())
    }
}

impl FromEnv for PathBuf {
    fn from_env(s: &str) -> Result<Self, String> {
        Ok(PathBuf::from(s))
    }
}

impl FromEnv for bool {
    fn from_env(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" | "" => Ok(false),
            _ => Err(format!("expected true or false, not `{s}`")),
        }
    }
}

impl FromEnv for u64 {
    fn from_env(s: &str) -> Result<Self, String> {
        s.trim()
            .parse()
            .map_err(|_| format!("expected a whole number, not `{s}`"))
    }
}

/// Reads the layers of one setting.
struct Layers<'a> {
    file: Option<&'a Path>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Layers<'_> {
    fn pick<T: FromEnv>(
        &self,
        key: &'static str,
        flag: Option<(&'static str, T)>,
        env_name: &'static str,
        file: Option<T>,
        default: T,
    ) -> Result<Setting<T>, ConfigError> {
        if let Some((name, value)) = flag {
            return Ok(Setting {
                value,
                source: Source::Flag(name),
            });
        }
        if let Some(raw) = (self.env)(env_name) {
            let value = T::from_env(&raw).map_err(|message| ConfigError::Invalid {
                key,
                origin: Source::Env(env_name),
                message,
            })?;
            return Ok(Setting {
                value,
                source: Source::Env(env_name),
            });
        }
        match (file, self.file) {
            (Some(value), Some(path)) => Ok(Setting {
                value,
                source: Source::File(path.to_path_buf()),
            }),
            _ => Ok(Setting {
                value: default,
                source: Source::Default,
            }),
        }
    }
}

/// Checks that a whole-number setting lies in `range`, and converts it.
fn bounded<T>(
    key: &'static str,
    s: Setting<u64>,
    range: std::ops::RangeInclusive<u64>,
    convert: impl Fn(u64) -> T,
) -> Result<Setting<T>, ConfigError> {
    if !range.contains(&s.value) {
        return Err(ConfigError::Invalid {
            key,
            origin: s.source,
            message: format!(
                "{} is out of range ({} to {})",
                s.value,
                range.start(),
                range.end()
            ),
        });
    }
    Ok(Setting {
        value: convert(s.value),
        source: s.source,
    })
}

/// Which file to read: the flag, the environment, or `breakwater.toml` if it exists in `cwd`.
fn config_path(flags: &Flags, env: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Option<PathBuf> {
    if let Some(p) = &flags.config {
        return Some(p.clone());
    }
    if let Some(p) = env(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let default = cwd.join(DEFAULT_FILE);
    default.is_file().then(|| PathBuf::from(DEFAULT_FILE))
}

fn read_file(path: &Path) -> Result<File, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_file(path, &text)
}

fn parse_file(path: &Path, text: &str) -> Result<File, ConfigError> {
    // toml's message names the line, column and key, and quotes the line.
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })
}

impl Config {
    /// Loads the configuration from the process's environment and current directory.
    pub fn load(flags: &Flags) -> Result<Config, ConfigError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Self::load_with(flags, &|name| std::env::var(name).ok(), &cwd)
    }

    /// Loads the configuration with `env` for the environment and `cwd` as the place to
    /// look for `breakwater.toml`.
    pub fn load_with(
        flags: &Flags,
        env: &dyn Fn(&str) -> Option<String>,
        cwd: &Path,
    ) -> Result<Config, ConfigError> {
        let path = config_path(flags, env, cwd);
        let file = match &path {
            Some(p) => read_file(&if p.is_relative() {
                cwd.join(p)
            } else {
                p.clone()
            })?,
            None => File::default(),
        };
        let layers = Layers {
            file: path.as_deref(),
            env,
        };
        let listen = layers.pick(
            "server.listen",
            flags.listen.clone().map(|v| ("--listen", v)),
            "BREAKWATER_LISTEN",
            file.server.listen,
            "127.0.0.1:8080".to_string(),
        )?;
        check_listen(&listen)?;
        let database_dir = layers.pick(
            "database.dir",
            flags.database_dir.clone().map(|v| ("--data-dir", v)),
            "BREAKWATER_DATA_DIR",
            file.database.dir,
            PathBuf::from("breakwater-data"),
        )?;
        let default_url = database_dir
            .value
            .join("breakwater.db")
            .display()
            .to_string();
        let database_url = layers.pick(
            "database.url",
            flags.database_url.clone().map(|v| ("--database-url", v)),
            "BREAKWATER_DATABASE_URL",
            file.database.url,
            default_url,
        )?;
        if database_url.value.trim().is_empty() {
            return Err(ConfigError::Invalid {
                key: "database.url",
                origin: database_url.source,
                message: "must not be empty".into(),
            });
        }
        let data_dir = layers.pick(
            "data.dir",
            flags.data_dir.clone().map(|v| ("--data", v)),
            "BREAKWATER_DATA",
            file.data.dir,
            PathBuf::new(),
        )?;
        let data_dir = Setting {
            value: (!data_dir.value.as_os_str().is_empty()).then_some(data_dir.value),
            source: data_dir.source,
        };
        let w = file.webhooks;
        let webhooks_enabled = layers.pick(
            "webhooks.enabled",
            None,
            "BREAKWATER_WEBHOOKS_ENABLED",
            w.enabled,
            true,
        )?;
        let poll = layers.pick(
            "webhooks.poll_interval_ms",
            None,
            "BREAKWATER_WEBHOOKS_POLL_INTERVAL_MS",
            w.poll_interval_ms,
            1000,
        )?;
        let webhook_poll_interval = bounded(
            "webhooks.poll_interval_ms",
            poll,
            10..=3_600_000,
            Duration::from_millis,
        )?;
        let timeout = layers.pick(
            "webhooks.timeout_seconds",
            None,
            "BREAKWATER_WEBHOOKS_TIMEOUT_SECONDS",
            w.timeout_seconds,
            10,
        )?;
        let webhook_timeout = bounded(
            "webhooks.timeout_seconds",
            timeout,
            1..=300,
            Duration::from_secs,
        )?;
        let attempts = layers.pick(
            "webhooks.max_attempts",
            None,
            "BREAKWATER_WEBHOOKS_MAX_ATTEMPTS",
            w.max_attempts,
            breakwater_server::webhooks::MAX_ATTEMPTS as u64,
        )?;
        let webhook_max_attempts =
            bounded("webhooks.max_attempts", attempts, 1..=100, |n| n as i64)?;
        let ca_file = layers.pick(
            "webhooks.ca_file",
            None,
            "BREAKWATER_WEBHOOKS_CA_FILE",
            w.ca_file,
            PathBuf::new(),
        )?;
        let webhook_ca_file = Setting {
            value: (!ca_file.value.as_os_str().is_empty()).then_some(ca_file.value),
            source: ca_file.source,
        };
        let log_quiet =
            layers.pick("log.quiet", None, "BREAKWATER_QUIET", file.log.quiet, false)?;
        let log_json = layers.pick("log.json", None, "BREAKWATER_LOG_JSON", file.log.json, true)?;
        let body = layers.pick(
            "limits.max_body_bytes",
            None,
            "BREAKWATER_LIMITS_MAX_BODY_BYTES",
            file.limits.max_body_bytes,
            breakwater_server::MAX_BODY_BYTES as u64,
        )?;
        let max_body_bytes = bounded("limits.max_body_bytes", body, 1024..=(256 << 20), |n| {
            n as usize
        })?;
        let request = layers.pick(
            "limits.request_timeout_seconds",
            None,
            "BREAKWATER_LIMITS_REQUEST_TIMEOUT_SECONDS",
            file.limits.request_timeout_seconds,
            60,
        )?;
        let request_timeout = bounded(
            "limits.request_timeout_seconds",
            request,
            1..=3600,
            Duration::from_secs,
        )?;
        Ok(Config {
            file: path,
            listen,
            database_url,
            database_dir,
            data_dir,
            webhooks_enabled,
            webhook_poll_interval,
            webhook_timeout,
            webhook_max_attempts,
            webhook_ca_file,
            log_quiet,
            log_json,
            max_body_bytes,
            request_timeout,
        })
    }

    /// Whether the database is PostgreSQL (otherwise SQLite).
    pub fn is_postgres(&self) -> bool {
        let url = &self.database_url.value;
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// The options of the HTTP layer.
    pub fn server_options(&self) -> breakwater_server::Options {
        use breakwater_server::LogFormat;
        breakwater_server::Options {
            max_body_bytes: self.max_body_bytes.value,
            request_timeout: self.request_timeout.value,
            log: match (self.log_quiet.value, self.log_json.value) {
                (true, _) => LogFormat::Quiet,
                (false, true) => LogFormat::Json,
                (false, false) => LogFormat::Text,
            },
        }
    }

    /// The webhook sender's settings, with the certificates of `webhooks.ca_file` read.
    pub fn sender_settings(
        &self,
    ) -> Result<breakwater_server::webhooks::SenderSettings, ConfigError> {
        let timeout = self.webhook_timeout.value;
        let extra_roots = match &self.webhook_ca_file.value {
            None => Vec::new(),
            Some(path) => {
                let invalid = |message: String| ConfigError::Invalid {
                    key: "webhooks.ca_file",
                    origin: self.webhook_ca_file.source.clone(),
                    message: format!("{}: {message}", path.display()),
                };
                let pem = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
                breakwater_server::webhooks::certificates_from_pem(&pem)
                    .map_err(|e| invalid(e.to_string()))?
            }
        };
        Ok(breakwater_server::webhooks::SenderSettings {
            attempt_timeout: timeout,
            max_attempts: self.webhook_max_attempts.value,
            // A lease outlives an attempt, so no other sender picks the delivery up
            // while it is being sent.
            lease: (timeout * 2).max(Duration::from_secs(60)),
            extra_roots,
        })
    }

    /// The configuration as TOML, every key with where it came from, secrets redacted.
    pub fn render(&self) -> String {
        fn s(v: &str) -> String {
            // A JSON string is a valid TOML basic string.
            serde_json::Value::String(v.to_string()).to_string()
        }
        fn p(v: &Path) -> String {
            s(&v.display().to_string())
        }
        let secs = |d: Duration| d.as_secs().to_string();
        let mut out = String::new();
        let mut section = |name: &str, rows: Vec<(&str, String, &Source)>| {
            out.push_str(&format!("[{name}]\n"));
            for (key, value, source) in rows {
                out.push_str(&format!("{key} = {value}  # {source}\n"));
            }
            out.push('\n');
        };
        section(
            "server",
            vec![("listen", s(&self.listen.value), &self.listen.source)],
        );
        section(
            "database",
            vec![
                (
                    "url",
                    s(&redact_url(&self.database_url.value)),
                    &self.database_url.source,
                ),
                (
                    "dir",
                    p(&self.database_dir.value),
                    &self.database_dir.source,
                ),
            ],
        );
        let data = match &self.data_dir.value {
            Some(d) => p(d),
            // TOML has no null: an empty string means "search".
            None => s(""),
        };
        section("data", vec![("dir", data, &self.data_dir.source)]);
        section(
            "webhooks",
            vec![
                (
                    "enabled",
                    self.webhooks_enabled.value.to_string(),
                    &self.webhooks_enabled.source,
                ),
                (
                    "poll_interval_ms",
                    self.webhook_poll_interval.value.as_millis().to_string(),
                    &self.webhook_poll_interval.source,
                ),
                (
                    "timeout_seconds",
                    secs(self.webhook_timeout.value),
                    &self.webhook_timeout.source,
                ),
                (
                    "max_attempts",
                    self.webhook_max_attempts.value.to_string(),
                    &self.webhook_max_attempts.source,
                ),
                (
                    "ca_file",
                    self.webhook_ca_file
                        .value
                        .as_deref()
                        .map_or_else(|| s(""), p),
                    &self.webhook_ca_file.source,
                ),
            ],
        );
        section(
            "log",
            vec![
                (
                    "quiet",
                    self.log_quiet.value.to_string(),
                    &self.log_quiet.source,
                ),
                (
                    "json",
                    self.log_json.value.to_string(),
                    &self.log_json.source,
                ),
            ],
        );
        section(
            "limits",
            vec![
                (
                    "max_body_bytes",
                    self.max_body_bytes.value.to_string(),
                    &self.max_body_bytes.source,
                ),
                (
                    "request_timeout_seconds",
                    secs(self.request_timeout.value),
                    &self.request_timeout.source,
                ),
            ],
        );
        out.trim_end().to_string() + "\n"
    }
}

/// `host:port` (or `[v6]:port`) with a numeric port; whether the host resolves is left to
/// binding (and to `check-config`).
fn check_listen(listen: &Setting<String>) -> Result<(), ConfigError> {
    let invalid = |message: &str| ConfigError::Invalid {
        key: "server.listen",
        origin: listen.source.clone(),
        message: format!("`{}` {message}", listen.value),
    };
    let (host, port) = listen
        .value
        .rsplit_once(':')
        .ok_or_else(|| invalid("is not host:port"))?;
    if host.is_empty() {
        return Err(invalid("has no host (use 0.0.0.0 for every interface)"));
    }
    port.parse::<u16>()
        .map_err(|_| invalid("does not end in a port number (0 to 65535)"))?;
    Ok(())
}

/// Hides the password of a database URL (`postgres://user:***@host/db`), including one
/// given as a `password=` parameter.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest_start = scheme_end + 3;
    let authority_end = url[rest_start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| rest_start + i);
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..rest_start]);
    let authority = &url[rest_start..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &url[authority_end..];
    match tail.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let params: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(
        flags: &Flags,
        env: &[(&str, &str)],
        file: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = file {
            std::fs::write(dir.path().join(DEFAULT_FILE), text).unwrap();
        }
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_with(flags, &|k| env.get(k).cloned(), dir.path())
    }

    #[test]
    fn defaults_without_a_file() {
        let c = load(&Flags::default(), &[], None).unwrap();
        assert_eq!(c.file, None);
        assert_eq!(c.listen.value, "127.0.0.1:8080");
        assert_eq!(c.listen.source, Source::Default);
        assert_eq!(
            c.database_url.value,
            Path::new("breakwater-data")
                .join("breakwater.db")
                .display()
                .to_string()
        );
        assert_eq!(c.data_dir.value, None);
        assert_eq!(c.webhook_max_attempts.value, 10);
        assert_eq!(c.max_body_bytes.value, 4 << 20);
        assert!(!c.is_postgres());
    }

    #[test]
    fn flag_beats_environment_beats_file_beats_default() {
        let file = "[server]\nlisten = \"0.0.0.0:7000\"\n[webhooks]\nmax_attempts = 3\n\
                    timeout_seconds = 4\n[database]\ndir = \"/srv/bw\"\n";
        let env = [
            ("BREAKWATER_LISTEN", "127.0.0.1:7001"),
            ("BREAKWATER_WEBHOOKS_MAX_ATTEMPTS", "5"),
        ];
        let flags = Flags {
            listen: Some("127.0.0.1:7002".into()),
            ..Flags::default()
        };
        let c = load(&flags, &env, Some(file)).unwrap();
        assert_eq!(c.file.as_deref(), Some(Path::new(DEFAULT_FILE)));
        assert_eq!(c.listen.value, "127.0.0.1:7002");
        assert_eq!(c.listen.source, Source::Flag("--listen"));
        assert_eq!(c.webhook_max_attempts.value, 5);
        assert_eq!(
            c.webhook_max_attempts.source,
            Source::Env("BREAKWATER_WEBHOOKS_MAX_ATTEMPTS")
        );
        assert_eq!(c.webhook_timeout.value, Duration::from_secs(4));
        assert!(matches!(c.webhook_timeout.source, Source::File(_)));
        assert_eq!(c.request_timeout.source, Source::Default);
        // The default database follows the configured directory.
        assert_eq!(
            c.database_url.value,
            Path::new("/srv/bw")
                .join("breakwater.db")
                .display()
                .to_string()
        );
        // Without the flag the environment wins; without either, the file.
        let c = load(&Flags::default(), &env, Some(file)).unwrap();
        assert_eq!(c.listen.value, "127.0.0.1:7001");
        let c = load(&Flags::default(), &[], Some(file)).unwrap();
        assert_eq!(c.listen.value, "0.0.0.0:7000");
        assert_eq!(c.webhook_max_attempts.value, 3);
    }

    #[test]
    fn unknown_keys_are_errors_naming_key_and_line() {
        let file = "[server]\nlisten = \"127.0.0.1:1\"\n\n[webhooks]\nmax_atempts = 3\n";
        let e = load(&Flags::default(), &[], Some(file)).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ConfigError::Parse { .. }), "{msg}");
        assert!(msg.contains("line 5"), "{msg}");
        assert!(msg.contains("`max_atempts`"), "{msg}");
        let e = load(&Flags::default(), &[], Some("[sever]\nlisten = \"x:1\"\n")).unwrap_err();
        assert!(e.to_string().contains("`sever`"), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key_and_where_they_came_from() {
        let e = load(
            &Flags::default(),
            &[],
            Some("[webhooks]\nmax_attempts = \"ten\"\n"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = load(
            &Flags::default(),
            &[],
            Some("[limits]\nmax_body_bytes = 10\n"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("limits.max_body_bytes") && e.to_string().contains("range"),
            "{e}"
        );
        let e = load(
            &Flags::default(),
            &[("BREAKWATER_WEBHOOKS_TIMEOUT_SECONDS", "soon")],
            None,
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("BREAKWATER_WEBHOOKS_TIMEOUT_SECONDS"), "{msg}");
        assert!(msg.contains("whole number"), "{msg}");
        let e = load(&Flags::default(), &[("BREAKWATER_LISTEN", "8080")], None).unwrap_err();
        assert!(e.to_string().contains("server.listen"), "{e}");
        assert!(load(
            &Flags::default(),
            &[("BREAKWATER_LISTEN", "[::1]:8080")],
            None
        )
        .is_ok());
    }

    #[test]
    fn the_file_is_chosen_by_flag_then_environment_then_current_directory() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("named.toml");
        std::fs::write(&named, "[server]\nlisten = \"127.0.0.1:1111\"\n").unwrap();
        std::fs::write(
            dir.path().join(DEFAULT_FILE),
            "[server]\nlisten = \"127.0.0.1:2222\"\n",
        )
        .unwrap();
        let named_str = named.display().to_string();
        let env = |k: &str| (k == CONFIG_ENV).then(|| named_str.clone());
        let c = Config::load_with(&Flags::default(), &env, dir.path()).unwrap();
        assert_eq!(c.listen.value, "127.0.0.1:1111");
        let c = Config::load_with(&Flags::default(), &|_| None, dir.path()).unwrap();
        assert_eq!(c.listen.value, "127.0.0.1:2222");
        let missing = Flags {
            config: Some(dir.path().join("missing.toml")),
            ..Flags::default()
        };
        let e = Config::load_with(&missing, &|_| None, dir.path()).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }), "{e}");
    }

    #[test]
    fn rendering_redacts_passwords_and_says_where_values_came_from() {
        let c = load(
            &Flags {
                database_url: Some("postgres://bw:hunter2@db:5432/bw?sslmode=require".into()),
                ..Flags::default()
            },
            &[("BREAKWATER_LOG_JSON", "false")],
            Some("[log]\nquiet = true\n"),
        )
        .unwrap();
        let out = c.render();
        assert!(!out.contains("hunter2"), "{out}");
        assert!(
            out.contains(
                "url = \"postgres://bw:***@db:5432/bw?sslmode=require\"  # flag --database-url"
            ),
            "{out}"
        );
        assert!(
            out.contains("json = false  # environment BREAKWATER_LOG_JSON"),
            "{out}"
        );
        assert!(
            out.contains("quiet = true  # file breakwater.toml"),
            "{out}"
        );
        // What is printed is a configuration file that loads back to the same values.
        let again = load(&Flags::default(), &[], Some(&out)).unwrap();
        assert!(!again.log_json.value);
        assert_eq!(again.listen.value, c.listen.value);
        assert_eq!(again.max_body_bytes.value, c.max_body_bytes.value);
        assert_eq!(c.server_options().log, breakwater_server::LogFormat::Quiet);
    }

    #[test]
    fn the_example_file_loads_and_shows_the_defaults() {
        let example = include_str!("../../../breakwater.example.toml");
        let from_file = load(&Flags::default(), &[], Some(example)).unwrap();
        let defaults = load(&Flags::default(), &[], None).unwrap();
        assert!(matches!(from_file.listen.source, Source::File(_)));
        // Everything the example sets is the default, so it documents the truth.
        let without_sources = |c: &Config| {
            let mut out = String::new();
            for line in c.render().lines() {
                out.push_str(line.split("  #").next().unwrap());
                out.push('\n');
            }
            out
        };
        assert_eq!(without_sources(&from_file), without_sources(&defaults));
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let not_pem = not_pem.display().to_string();
        let c = load(
            &Flags::default(),
            &[("BREAKWATER_WEBHOOKS_CA_FILE", &not_pem)],
            None,
        )
        .unwrap();
        let e = c.sender_settings().unwrap_err().to_string();
        assert!(
            e.contains("webhooks.ca_file") && e.contains("not.pem"),
            "{e}"
        );
        let c = load(
            &Flags::default(),
            &[],
            Some("[webhooks]\nca_file = \"/no/such.pem\"\n"),
        )
        .unwrap();
        assert!(c.sender_settings().is_err());
        let c = load(&Flags::default(), &[], None).unwrap();
        assert!(c.sender_settings().unwrap().extra_roots.is_empty());
    }

    #[test]
    fn redacts_database_urls() {
        assert_eq!(redact_url("postgres://u:p@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgresql://h/db?user=u&password=p&x=1"),
            "postgresql://h/db?user=u&password=***&x=1"
        );
        assert_eq!(
            redact_url("breakwater-data/breakwater.db"),
            "breakwater-data/breakwater.db"
        );
        assert_eq!(redact_url("postgres://u:p@w@h/db"), "postgres://u:***@h/db");
    }
}
