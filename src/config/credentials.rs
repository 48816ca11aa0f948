//! The tenant credentials: read from `*_FILE` paths where given, and every missing one named
//! at once, for the dialect in use.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, TenantApi, TenantSettings};

/// Fills each secret that was not given directly from its file, when one is named.
pub(super) fn read_secret_files(tenant: &mut TenantSettings) -> Result<(), ConfigError> {
    let cxone = &mut tenant.cxone;
    let slots = [
        (
            &mut tenant.client_secret,
            &tenant.client_secret_file,
            "CXONE_CLIENT_SECRET_FILE",
        ),
        (
            &mut cxone.access_key_id,
            &cxone.access_key_id_file,
            "CXONE_ACCESS_KEY_ID_FILE",
        ),
        (
            &mut cxone.access_key_secret,
            &cxone.access_key_secret_file,
            "CXONE_ACCESS_KEY_SECRET_FILE",
        ),
    ];
    for (secret, file, variable) in slots {
        if let (None, Some(path)) = (&secret, file) {
            *secret = Some(read_secret(path, variable)?);
        }
    }
    Ok(())
}

/// Every credential the dialect needs and does not have, by variable name.
pub(super) fn missing(tenant: &TenantSettings) -> Vec<&'static str> {
    let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
    // An empty secret file is as good as none: say so at start-up, not as 401s later.
    let no_secret = |v: &Option<SecretString>| {
        v.as_ref()
            .is_none_or(|s| s.expose_secret().trim().is_empty())
    };
    let mut missing = Vec::new();
    if tenant.api == TenantApi::Tutorial && blank(&tenant.url) {
        missing.push("CXONE_TENANT_URL");
    }
    if blank(&tenant.client_id) {
        missing.push("CXONE_CLIENT_ID");
    }
    if no_secret(&tenant.client_secret) {
        missing.push("CXONE_CLIENT_SECRET (or CXONE_CLIENT_SECRET_FILE)");
    }
    if tenant.api == TenantApi::Cxone {
        if no_secret(&tenant.cxone.access_key_id) {
            missing.push("CXONE_ACCESS_KEY_ID (or CXONE_ACCESS_KEY_ID_FILE)");
        }
        if no_secret(&tenant.cxone.access_key_secret) {
            missing.push("CXONE_ACCESS_KEY_SECRET (or CXONE_ACCESS_KEY_SECRET_FILE)");
        }
    }
    missing
}

fn read_secret(path: &Path, variable: &'static str) -> Result<SecretString, ConfigError> {
    let mut secret = std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
        variable,
        path: path.to_owned(),
        source,
    })?;
    // Files written by `echo` or editors end in a newline that is not part of the secret.
    if secret.ends_with('\n') {
        secret.pop();
        if secret.ends_with('\r') {
            secret.pop();
        }
    }
    Ok(SecretString::from(secret))
}

pub(super) fn read_api_keys(path: &Path) -> Result<Vec<SecretString>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
        variable: "INBOUND_API_KEYS_FILE",
        path: path.to_owned(),
        source,
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| SecretString::from(line.to_owned()))
        .collect())
}
