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
    /// Azure OpenAI at the resource `endpoint` (no `/openai` path), `api-key` header.
    Azure {
        endpoint: String,
        deployment: String,
        api: AzureApi,
    },
    /// `POST {base_url}/chat/completions`, `Authorization: Bearer …` (when a key is set).
    OpenAi { base_url: String, model: String },
}

/// The two request shapes Azure OpenAI serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AzureApi {
    /// `POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…`.
    Deployments { api_version: String },
    /// The v1 API: `POST {endpoint}/openai/v1/chat/completions`, the
    /// deployment named as `model` in the body, no api-version.
    V1,
}

/// What an `AZURE_OPENAI_ENDPOINT` says. Besides the resource URL the
/// portal shows, users paste the v1 base URL (`…/openai/v1/`) or a
/// deployment's whole target URI (`…/openai/deployments/NAME/chat/completions?api-version=V`):
/// each is understood rather than sent on with `/openai/deployments/…`
/// appended (a 404).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureEndpoint {
    /// Scheme, host and any path before `/openai`.
    pub resource: String,
    pub v1: bool,
    pub deployment: Option<String>,
    pub api_version: Option<String>,
}

impl AzureEndpoint {
    pub fn parse(raw: &str) -> Self {
        let raw = raw.trim();
        let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
        let api_version = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("api-version="))
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let path = path.trim_end_matches('/');
        // The first "/openai" segment after the host.
        let host_end = path.find("://").map_or(0, |i| i + 3);
        let openai = path[host_end..]
            .match_indices("/openai")
            .map(|(i, _)| host_end + i)
            .find(|&i| matches!(path.as_bytes().get(i + 7), None | Some(b'/')));
        let Some(at) = openai else {
            return AzureEndpoint {
                resource: path.to_string(),
                v1: false,
                deployment: None,
                api_version,
            };
        };
        let mut rest = path[at + 7..].trim_start_matches('/').split('/');
        let (v1, deployment) = match (rest.next(), rest.next()) {
            (Some("v1"), _) => (true, None),
            (Some("deployments"), Some(name)) if !name.is_empty() => {
                (false, Some(name.to_string()))
            }
            _ => (false, None),
        };
        AzureEndpoint {
            resource: path[..at].to_string(),
            v1,
            deployment,
            api_version,
        }
    }
}

/// `OPENAI_BASE_URL` without a pasted `/chat/completions` (the path is
/// appended to the base).
fn openai_base(raw: &str) -> String {
    let b = raw.trim().trim_end_matches('/');
    b.strip_suffix("/chat/completions").unwrap_or(b).to_string()
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
                api: AzureApi::Deployments { api_version },
            } => format!(
                "{}/openai/deployments/{}/chat/completions?api-version={}",
                endpoint.trim_end_matches('/'),
                deployment,
                api_version
            ),
            Provider::Azure {
                endpoint,
                api: AzureApi::V1,
                ..
            } => format!(
                "{}/openai/v1/chat/completions",
                endpoint.trim_end_matches('/')
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
            let endpoint = AzureEndpoint::parse(&endpoint);
            let Some(deployment) = model
                .map(str::to_string)
                .or_else(|| var("AZURE_OPENAI_DEPLOYMENT"))
                .or(endpoint.deployment)
            else {
                bail!("Azure OpenAI: no deployment name: pass --model DEPLOYMENT or set AZURE_OPENAI_DEPLOYMENT");
            };
            let Some(key) = var("AZURE_OPENAI_API_KEY") else {
                bail!("Azure OpenAI: AZURE_OPENAI_API_KEY is not set (in the environment or .env)");
            };
            let api = if endpoint.v1 {
                AzureApi::V1
            } else {
                AzureApi::Deployments {
                    api_version: var("AZURE_OPENAI_API_VERSION")
                        .or(endpoint.api_version)
                        .unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.to_string()),
                }
            };
            provider = Provider::Azure {
                endpoint: endpoint.resource,
                deployment,
                api,
            };
            api_key = Some(Secret::new(key));
        } else if var("OPENAI_BASE_URL").is_some() || var("OPENAI_API_KEY").is_some() {
            let base_url = var("OPENAI_BASE_URL")
                .map(|b| openai_base(&b))
                .unwrap_or_else(|| DEFAULT_OPENAI_BASE_URL.to_string());
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
    fn azure_endpoints_as_users_paste_them() {
        let p = AzureEndpoint::parse;
        let plain = p("https://contoso.openai.azure.com/");
        assert_eq!(plain.resource, "https://contoso.openai.azure.com");
        assert!(!plain.v1 && plain.deployment.is_none() && plain.api_version.is_none());
        assert_eq!(
            p("https://contoso.openai.azure.com/openai").resource,
            plain.resource
        );
        let v1 = p("https://contoso.openai.azure.com/openai/v1/");
        assert_eq!(
            (v1.resource.as_str(), v1.v1),
            (plain.resource.as_str(), true)
        );
        let full = p("https://contoso.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version=2025-01-01-preview");
        assert_eq!(full.resource, plain.resource);
        assert_eq!(full.deployment.as_deref(), Some("gpt-4o-prod"));
        assert_eq!(full.api_version.as_deref(), Some("2025-01-01-preview"));
        assert!(!full.v1);
        // A proxy path before /openai stays; "openai" inside a host name is no path.
        let proxied = p("http://127.0.0.1:8080/gateway/openai/v1");
        assert_eq!(
            (proxied.resource.as_str(), proxied.v1),
            ("http://127.0.0.1:8080/gateway", true)
        );
        assert_eq!(
            p("https://openai.example.net").resource,
            "https://openai.example.net"
        );
        assert_eq!(
            p("https://x.example/openaiproxy").resource,
            "https://x.example/openaiproxy"
        );
    }

    #[test]
    fn an_openai_base_url_with_the_path_pasted_in() {
        assert_eq!(
            openai_base("http://localhost:11434/v1/"),
            "http://localhost:11434/v1"
        );
        assert_eq!(
            openai_base("http://localhost:8000/v1/chat/completions"),
            "http://localhost:8000/v1"
        );
    }

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
