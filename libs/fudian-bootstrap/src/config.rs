//! Layered configuration: the embedded, commented defaults, then an optional TOML file,
//! then `FUDIAN_...` environment variables (`__` separates nested keys, so
//! `FUDIAN_BUS__PREFETCH=500` sets `bus.prefetch`).
//!
//! The result is validated by deserializing into the caller's type: a bad value is
//! reported with its key and its source, e.g. `invalid type: found string "x", expected
//! u16 for key "default.bus.prefetch" in FUDIAN_BUS__PREFETCH environment variable`.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::de::DeserializeOwned;

use crate::BootstrapError;

/// Environment variable prefix for every fudian setting.
pub const ENV_PREFIX: &str = "FUDIAN_";

/// Loads `T` from the embedded defaults, an optional file and the environment.
///
/// A file that was asked for but does not exist is an error (a typo in a path must not
/// silently fall back to defaults).
pub fn load<T: DeserializeOwned>(
    defaults_toml: &str,
    file: Option<&Path>,
) -> Result<T, BootstrapError> {
    load_from(defaults_toml, file, Env::prefixed(ENV_PREFIX).split("__"))
}

fn load_from<T: DeserializeOwned>(
    defaults_toml: &str,
    file: Option<&Path>,
    env: Env,
) -> Result<T, BootstrapError> {
    let mut figment = Figment::from(Toml::string(defaults_toml));
    if let Some(path) = file {
        if !path.is_file() {
            return Err(BootstrapError::Config(format!(
                "configuration file {} does not exist",
                path.display()
            )));
        }
        figment = figment.merge(Toml::file(path));
    }
    figment
        .merge(env)
        .extract()
        .map_err(|e| BootstrapError::Config(describe(e)))
}

/// Figment's error lists every problem; join them so none is hidden.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail closures must return figment::Error"
)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Sample {
        http_addr: String,
        bus: Bus,
    }

    #[derive(Debug, Deserialize)]
    struct Bus {
        prefetch: u16,
    }

    const DEFAULTS: &str = "http_addr = \"127.0.0.1:8080\"\n[bus]\nprefetch = 200\n";

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("fudian.toml", "http_addr = \"0.0.0.0:9000\"\n")?;
            jail.set_env("FUDIAN_BUS__PREFETCH", "500");
            let cfg: Sample = load(DEFAULTS, Some(Path::new("fudian.toml")))
                .map_err(|e| figment::Error::from(e.to_string()))?;
            assert_eq!(cfg.http_addr, "0.0.0.0:9000");
            assert_eq!(cfg.bus.prefetch, 500);
            Ok(())
        });
    }

    #[test]
    fn a_bad_environment_value_is_reported_with_its_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FUDIAN_BUS__PREFETCH", "lots");
            let err = load::<Sample>(DEFAULTS, None).expect_err("must fail");
            let text = err.to_string().to_lowercase();
            assert!(text.contains("bus.prefetch"), "{text}");
            assert!(text.contains("fudian_"), "{text}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_configuration_file_is_an_error() {
        let err = load::<Sample>(DEFAULTS, Some(Path::new("/nonexistent/fudian.toml")))
            .expect_err("must fail");
        assert!(err.to_string().contains("/nonexistent/fudian.toml"));
    }
}
