//! Talking to a language model: endpoint configuration (Azure OpenAI or any
//! OpenAI-compatible server), prices, the real tokenizer, the HTTP client.
//!
//! The API key lives in [`Secret`], whose `Debug`/`Display` never show it,
//! and every server message is scrubbed of it before it is printed.

pub mod client;
pub mod pricing;

use anyhow::{bail, Result};
use std::time::Duration;

/// A credential: never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Remove the secret from a message (servers sometimes echo keys).
    pub fn scrub(&self, msg: &str) -> String {
        if self.0.len() < 4 {
            return msg.to_string();
        }
        msg.replace(&self.0, "<redacted>")
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provider {
    /// `POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…`, `api-key` header.
    Azure {
        endpoint: String,
        deployment: String,
        api_version: String,
    },
    /// `POST {base_url}/chat/completions`, `Authorization: Bearer …` (when a key is set).
    OpenAi { base_url: String, model: String },
}

#[derive(Clone, Debug)]
pub struct LlmConfig {
    pub provider: Provider,
    pub api_key: Option<Secret>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response.
    pub read_timeout: Duration,
    /// Retries after the first attempt (429, 5xx, connection failures).
    pub max_retries: u32,
    pub max_output_tokens: u32,
    pub stream: bool,
}

pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";
pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o-mini";

impl LlmConfig {
    /// The model (OpenAI) or deployment (Azure) name.
    pub fn model(&self) -> &str {
        match &self.provider {
            Provider::Azure { deployment, .. } => deployment,
            Provider::OpenAi { model, .. } => model,
        }
    }

    pub fn url(&self) -> String {
        match &self.provider {
            Provider::Azure {
                endpoint,
                deployment,
                api_version,
            } => format!(
                "{}/openai/deployments/{}/chat/completions?api-version={}",
                endpoint.trim_end_matches('/'),
                deployment,
                api_version
            ),
            Provider::OpenAi { base_url, .. } => {
                format!("{}/chat/completions", base_url.trim_end_matches('/'))
            }
        }
    }

    /// Resolve from the environment (after reading `.env`, which never
    /// overrides variables already set). Azure wins when its endpoint is set.
    pub fn from_env(model: Option<&str>) -> Result<Self> {
        // A missing .env is normal; a malformed one is worth a warning.
        if let Err(e) = dotenvy::dotenv() {
            if !e.not_found() {
                eprintln!("pcaplens: warning: ignoring .env: {e}");
            }
        }
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let provider;
        let api_key;
        if let Some(endpoint) = var("AZURE_OPENAI_ENDPOINT") {
            let Some(deployment) = model
                .map(str::to_string)
                .or_else(|| var("AZURE_OPENAI_DEPLOYMENT"))
            else {
                bail!("Azure OpenAI: no deployment name: pass --model DEPLOYMENT or set AZURE_OPENAI_DEPLOYMENT");
            };
            let Some(key) = var("AZURE_OPENAI_API_KEY") else {
                bail!("Azure OpenAI: AZURE_OPENAI_API_KEY is not set (in the environment or .env)");
            };
            provider = Provider::Azure {
                endpoint,
                deployment,
                api_version: var("AZURE_OPENAI_API_VERSION")
                    .unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.to_string()),
            };
            api_key = Some(Secret::new(key));
        } else if var("OPENAI_BASE_URL").is_some() || var("OPENAI_API_KEY").is_some() {
            let base_url =
                var("OPENAI_BASE_URL").unwrap_or_else(|| DEFAULT_OPENAI_BASE_URL.to_string());
            api_key = var("OPENAI_API_KEY").map(Secret::new);
            if api_key.is_none() && base_url.contains("api.openai.com") {
                bail!("OpenAI: OPENAI_API_KEY is not set (in the environment or .env)");
            }
            provider = Provider::OpenAi {
                base_url,
                model: model
                    .map(str::to_string)
                    .or_else(|| var("OPENAI_MODEL"))
                    .unwrap_or_else(|| DEFAULT_OPENAI_MODEL.to_string()),
            };
        } else {
            bail!(
                "no model endpoint configured: set AZURE_OPENAI_ENDPOINT + AZURE_OPENAI_API_KEY \
                 (+ AZURE_OPENAI_DEPLOYMENT or --model), or OPENAI_BASE_URL / OPENAI_API_KEY \
                 (OpenAI, Ollama, vLLM, llama.cpp server); or use --offline"
            );
        }
        let secs = |k: &str, d: u64| var(k).and_then(|v| v.parse().ok()).unwrap_or(d);
        Ok(LlmConfig {
            provider,
            api_key,
            connect_timeout: Duration::from_secs(secs("PCAPLENS_LLM_CONNECT_TIMEOUT", 10)),
            read_timeout: Duration::from_secs(secs("PCAPLENS_LLM_READ_TIMEOUT", 120)),
            max_retries: secs("PCAPLENS_LLM_RETRIES", 3) as u32,
            max_output_tokens: secs("PCAPLENS_LLM_MAX_OUTPUT_TOKENS", 2000) as u32,
            stream: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let cfg = LlmConfig {
            provider: Provider::OpenAi {
                base_url: "http://x".into(),
                model: "m".into(),
            },
            api_key: Some(Secret::new("sk-very-secret-123".into())),
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            max_retries: 0,
            max_output_tokens: 1,
            stream: true,
        };
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("very-secret"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
        assert_eq!(
            Secret::new("sk-very-secret-123".into()).scrub("bad key sk-very-secret-123!"),
            "bad key <redacted>!"
        );
    }
}
