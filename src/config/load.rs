//! Layering: built-in defaults, then a TOML file, then the environment.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use super::{credentials, env, validate, Settings};

/// The file read when `--config` is not given, relative to the working directory. Its
/// absence is fine: the built-in defaults are complete.
pub const DEFAULT_CONFIG_FILE: &str = "config/default.toml";

/// What the command line says about loading.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config FILE`: must exist when given.
    pub config_file: Option<PathBuf>,
    /// `--sandbox`: credentials are not needed.
    pub sandbox: bool,
}

/// Why the service refused to start. Each message names the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variables: {}", .0.join(", "))]
    MissingCredentials(Vec<&'static str>),
    #[error("cannot read config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Env(String),
    #[error("cannot read {variable} {path}: {source}")]
    SecretFile {
        variable: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// Builds validated settings from the layers. `env` is passed in (rather than read from the
/// process) so the layering can be tested without touching global state.
pub fn load(options: &LoadOptions, env: &HashMap<String, String>) -> Result<Settings, ConfigError> {
    let mut settings = match &options.config_file {
        Some(path) => read_file(path)?,
        None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
            read_file(Path::new(DEFAULT_CONFIG_FILE))?
        }
        None => Settings::default(),
    };
    env::apply(&mut settings, env).map_err(ConfigError::Env)?;
    settings.sandbox.enabled |= options.sandbox;
    if settings.auth.api_keys.is_empty() {
        if let Some(path) = settings.auth.api_keys_file.clone() {
            settings.auth.api_keys = credentials::read_api_keys(&path)?;
        }
    }

    if !settings.sandbox.enabled {
        credentials::read_secret_files(&mut settings.tenant)?;
        let missing = credentials::missing(&settings.tenant);
        if !missing.is_empty() {
            return Err(ConfigError::MissingCredentials(missing));
        }
    }
    validate::validate(&settings).map_err(ConfigError::Invalid)?;
    Ok(settings)
}

fn read_file(path: &Path) -> Result<Settings, ConfigError> {
    let file_error = |message: String| ConfigError::File {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    toml::from_str(&text).map_err(|e| file_error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn credentials() -> Vec<(&'static str, &'static str)> {
        vec![
            ("CXONE_TENANT_URL", "https://tenant.example.com"),
            ("CXONE_CLIENT_ID", "client"),
            ("CXONE_CLIENT_SECRET", "s3cret"),
        ]
    }

    #[test]
    fn names_every_missing_credential() {
        let err = load(&LoadOptions::default(), &env(&[("CXONE_CLIENT_ID", "x")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing environment variables: CXONE_TENANT_URL, \
             CXONE_CLIENT_SECRET (or CXONE_CLIENT_SECRET_FILE)"
        );
    }

    #[test]
    fn the_cxone_dialect_names_its_own_missing_credentials() {
        let err = load(
            &LoadOptions::default(),
            &env(&[("CXONE_API", "cxone"), ("CXONE_ACCESS_KEY_ID", "AKID")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing environment variables: CXONE_CLIENT_ID, \
             CXONE_CLIENT_SECRET (or CXONE_CLIENT_SECRET_FILE), \
             CXONE_ACCESS_KEY_SECRET (or CXONE_ACCESS_KEY_SECRET_FILE)"
        );
    }

    #[test]
    fn sandbox_needs_no_credentials() {
        let options = LoadOptions {
            sandbox: true,
            ..Default::default()
        };
        assert!(load(&options, &env(&[])).unwrap().sandbox.enabled);
    }

    #[test]
    fn secret_file_has_its_trailing_newline_trimmed() {
        let dir = std::env::temp_dir().join(format!("cxone-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "from-file\n").unwrap();
        let mut vars = credentials();
        vars.retain(|(k, _)| *k != "CXONE_CLIENT_SECRET");
        let path_str = path.to_string_lossy().into_owned();
        vars.push(("CXONE_CLIENT_SECRET_FILE", &path_str));
        let settings = load(&LoadOptions::default(), &env(&vars)).unwrap();
        let secret = settings.tenant.client_secret.unwrap();
        assert_eq!(secret.expose_secret(), "from-file");
    }

    #[test]
    fn an_empty_secret_file_counts_as_missing() {
        let dir = std::env::temp_dir().join(format!("cxone-empty-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "\n").unwrap();
        let mut vars = credentials();
        vars.retain(|(k, _)| *k != "CXONE_CLIENT_SECRET");
        let path_str = path.to_string_lossy().into_owned();
        vars.push(("CXONE_CLIENT_SECRET_FILE", &path_str));
        let err = load(&LoadOptions::default(), &env(&vars)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing environment variables: CXONE_CLIENT_SECRET (or CXONE_CLIENT_SECRET_FILE)"
        );
    }

    #[test]
    fn api_keys_file_skips_blank_lines_and_comments() {
        let dir = std::env::temp_dir().join(format!("cxone-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys");
        std::fs::write(
            &path,
            "# rotated 2026-11\n\nkey-one-0123456789\n  key-two-0123456789  \n",
        )
        .unwrap();
        let mut vars = credentials();
        let path_str = path.to_string_lossy().into_owned();
        vars.push(("INBOUND_API_KEYS_FILE", &path_str));
        let settings = load(&LoadOptions::default(), &env(&vars)).unwrap();
        let keys: Vec<&str> = settings
            .auth
            .api_keys
            .iter()
            .map(|k| k.expose_secret())
            .collect();
        assert_eq!(keys, ["key-one-0123456789", "key-two-0123456789"]);
    }

    #[test]
    fn file_layer_sits_between_defaults_and_env() {
        let dir = std::env::temp_dir().join(format!("cxone-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            "[rate_limit]\nburst = 3\nper_second = 9.0\n[eligibility.agents]\nagt_1 = [\"fraud\"]\n",
        )
        .unwrap();
        let mut vars = credentials();
        vars.push(("RATE_LIMIT_PER_SECOND", "4"));
        let options = LoadOptions {
            config_file: Some(path),
            sandbox: false,
        };
        let settings = load(&options, &env(&vars)).unwrap();
        assert_eq!(settings.rate_limit.burst, 3, "file beats default");
        assert_eq!(settings.rate_limit.per_second, 4.0, "env beats file");
        assert_eq!(settings.eligibility.agents["agt_1"], ["fraud"]);
        assert_eq!(settings.server.request_timeout_ms, 10_000, "default kept");
    }

    #[test]
    fn the_shipped_config_file_matches_the_built_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_FILE);
        let from_file = read_file(&path).unwrap();
        assert_eq!(
            format!("{from_file:?}"),
            format!("{:?}", Settings::default()),
            "config/default.toml documents every default; keep the two in step"
        );
    }

    #[test]
    fn the_ledger_table_is_the_store_table() {
        let settings: Settings =
            toml::from_str("[ledger]\nstore_content = false\nretention_days = 7\n").unwrap();
        assert!(!settings.store.store_content);
        assert_eq!(settings.store.retention_days, 7);
        let both = "[store]\nretention_days = 7\n[ledger]\nstore_content = false\n";
        assert!(
            toml::from_str::<Settings>(both).is_err(),
            "one table, one name"
        );
    }

    #[test]
    fn unknown_file_keys_are_rejected_with_the_file_named() {
        let dir = std::env::temp_dir().join(format!("cxone-typo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, "[rate_limit]\nburts = 3\n").unwrap();
        let options = LoadOptions {
            config_file: Some(path),
            sandbox: true,
        };
        let err = load(&options, &env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("config.toml") && err.contains("burts"),
            "{err}"
        );
    }
}
